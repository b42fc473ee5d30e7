/**
 * Spawning with a deadline. Output goes to files, not pipes: a container
 * created by `create` inherits the runtime's stdio and keeps it open long after
 * the runtime exits, so waiting for a pipe to close would hang. We wait for
 * the process to exit and then read the files.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ExecResult {
  /** Exit code, or 128+signal when killed by a signal, or -1 when it never ran. */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  /** The command line, for failure messages. */
  argv: string[];
}

export interface ExecOptions {
  timeoutMs: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Files receiving stdout/stderr; temporary ones are used when absent. */
  stdoutFile?: string;
  stderrFile?: string;
  /** Extra fds handed to the child as fd 3, 4, ... */
  extraFds?: number[];
  /** Bytes written to the child's stdin (otherwise /dev/null). */
  input?: string;
  /** Directory for temporary output files. */
  scratchDir: string;
}

let seq = 0;

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGSYS: 31,
};

export async function execFileTimed(file: string, args: string[], opts: ExecOptions): Promise<ExecResult> {
  const n = ++seq;
  const outPath = opts.stdoutFile ?? path.join(opts.scratchDir, `.exec-${n}.out`);
  const errPath = opts.stderrFile ?? path.join(opts.scratchDir, `.exec-${n}.err`);
  const outStart = fileSize(outPath);
  const errStart = fileSize(errPath);
  const outFd = fs.openSync(outPath, 'a');
  const errFd = fs.openSync(errPath, 'a');
  let inPath: string | undefined;
  let inFd: number | 'ignore' = 'ignore';
  if (opts.input !== undefined) {
    inPath = path.join(opts.scratchDir, `.exec-${n}.in`);
    fs.writeFileSync(inPath, opts.input);
    inFd = fs.openSync(inPath, 'r');
  }
  const started = Date.now();
  const argv = [file, ...args];
  try {
    const result = await new Promise<Omit<ExecResult, 'stdout' | 'stderr'>>((resolve) => {
      let timedOut = false;
      let settled = false;
      const child = spawn(file, args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: [inFd, outFd, errFd, ...(opts.extraFds ?? [])],
        detached: false,
      });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs);
      const finish = (code: number, signal: NodeJS.Signals | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ code, signal, timedOut, durationMs: Date.now() - started, argv });
      };
      child.on('error', () => finish(-1, null));
      child.on('exit', (code, signal) => {
        finish(code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : -1), signal);
      });
    });
    return {
      ...result,
      stdout: readFrom(outPath, outStart),
      stderr: readFrom(errPath, errStart),
    };
  } finally {
    fs.closeSync(outFd);
    fs.closeSync(errFd);
    if (typeof inFd === 'number') fs.closeSync(inFd);
    if (inPath) fs.rmSync(inPath, { force: true });
    if (!opts.stdoutFile) fs.rmSync(outPath, { force: true });
    if (!opts.stderrFile) fs.rmSync(errPath, { force: true });
  }
}

export function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

export function readFrom(p: string, offset: number): string {
  try {
    const buf = fs.readFileSync(p);
    return buf.subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

export function describe(r: ExecResult): string {
  const cmd = r.argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
  const why = r.timedOut ? `timed out after ${r.durationMs} ms` : `exit ${r.code}`;
  const err = r.stderr.trim().split('\n').slice(-3).join(' | ');
  return `\`${cmd}\` → ${why}${err ? `; stderr: ${err}` : ''}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
