/**
 * The runtime under test, driven only through its runc-compatible CLI:
 * `RUNTIME --root DIR <subcommand> ...`. Nothing here knows which runtime it is.
 */
import { execFileTimed, type ExecOptions, type ExecResult } from './exec.js';

export interface StateJson {
  ociVersion?: unknown;
  id?: unknown;
  status?: unknown;
  pid?: unknown;
  bundle?: unknown;
  annotations?: unknown;
  [k: string]: unknown;
}

export interface CreateOptions {
  pidFile?: string;
  consoleSocket?: string;
  /** Where the container's (and the runtime's) stdout/stderr go. */
  stdoutFile?: string;
  stderrFile?: string;
  extraFds?: number[];
  preserveFds?: number;
  /** Working directory for the runtime; `bundle` may then be relative. */
  cwd?: string;
  timeoutMs?: number;
  /** Extra flags of `create` / `run`, placed before the id (e.g. `['--no-pivot']`). */
  flags?: string[];
  /** A command the runtime is started under: `WRAP... RUNTIME --root ...` (e.g.
   * `['nsenter', '--mount=/proc/PID/ns/mnt', '--']` for a config without a
   * mount namespace, whose mounts would otherwise land in the harness's). */
  wrap?: string[];
}

/** How every runtime command is started when grading rootless: under a
 * prefix that becomes the unprivileged user (`setpriv ... --`), with that
 * user's environment and global flags (`--rootless true`). */
export interface RunAs {
  prefix: string[];
  env: NodeJS.ProcessEnv;
  globalFlags: string[];
}

export class RuntimeCli {
  constructor(
    readonly path: string,
    readonly root: string,
    private readonly scratchDir: string,
    private readonly defaultTimeoutMs = 15000,
    private readonly runAs?: RunAs,
  ) {}

  /** Runs `RUNTIME --root ROOT ...args`, or `WRAP... RUNTIME --root ROOT ...args`
   * (rootless: `WRAP... setpriv ... -- RUNTIME --rootless true --root ROOT ...`,
   * so a wrap such as nsenter still runs as root). */
  exec(args: string[], opts: Partial<ExecOptions> = {}, wrap: string[] = []): Promise<ExecResult> {
    const [file = this.path, ...prefix] = [...wrap, ...(this.runAs?.prefix ?? []), this.path];
    return execFileTimed(file, [...prefix, ...(this.runAs?.globalFlags ?? []), '--root', this.root, ...args], {
      timeoutMs: this.defaultTimeoutMs,
      scratchDir: this.scratchDir,
      ...(this.runAs ? { env: this.runAs.env } : {}),
      ...opts,
    });
  }

  /** Runs the runtime without any global flag (how engines call `features`). */
  bare(args: string[], opts: Partial<ExecOptions> = {}): Promise<ExecResult> {
    const [file = this.path, ...prefix] = [...(this.runAs?.prefix ?? []), this.path];
    return execFileTimed(file, [...prefix, ...args], {
      timeoutMs: this.defaultTimeoutMs,
      scratchDir: this.scratchDir,
      ...(this.runAs ? { env: this.runAs.env } : {}),
      ...opts,
    });
  }

  create(id: string, bundle: string, o: CreateOptions = {}): Promise<ExecResult> {
    const args = ['create', '--bundle', bundle];
    if (o.pidFile) args.push('--pid-file', o.pidFile);
    if (o.consoleSocket) args.push('--console-socket', o.consoleSocket);
    if (o.preserveFds !== undefined) args.push('--preserve-fds', String(o.preserveFds));
    args.push(...(o.flags ?? []), id);
    return this.exec(args, pick(o), o.wrap);
  }

  run(id: string, bundle: string, o: CreateOptions = {}): Promise<ExecResult> {
    const args = ['run', '--bundle', bundle];
    if (o.pidFile) args.push('--pid-file', o.pidFile);
    if (o.preserveFds !== undefined) args.push('--preserve-fds', String(o.preserveFds));
    args.push(...(o.flags ?? []), id);
    return this.exec(args, pick(o), o.wrap);
  }

  /** `exec [flags] ID COMMAND...`: runc's order, flags before the id and the
   * command after it. */
  execProcess(id: string, command: string[], flags: string[] = [], opts: Partial<ExecOptions> = {}): Promise<ExecResult> {
    return this.exec(['exec', ...flags, id, ...command], opts);
  }

  start(id: string): Promise<ExecResult> {
    return this.exec(['start', id]);
  }

  kill(id: string, signal?: string, all = false): Promise<ExecResult> {
    const args = ['kill'];
    if (all) args.push('--all');
    args.push(id);
    if (signal !== undefined) args.push(signal);
    return this.exec(args);
  }

  delete(id: string, force = false): Promise<ExecResult> {
    return this.exec(force ? ['delete', '--force', id] : ['delete', id]);
  }

  /** `state ID`, with the JSON parsed when the command succeeded. */
  async state(id: string): Promise<ExecResult & { json?: StateJson }> {
    const r = await this.exec(['state', id]);
    if (r.code !== 0) return r;
    try {
      const json = JSON.parse(r.stdout) as StateJson;
      return { ...r, json };
    } catch {
      return r;
    }
  }
}

function pick(o: CreateOptions): Partial<ExecOptions> {
  const e: Partial<ExecOptions> = {};
  if (o.stdoutFile) e.stdoutFile = o.stdoutFile;
  if (o.stderrFile) e.stderrFile = o.stderrFile;
  if (o.extraFds) e.extraFds = o.extraFds;
  if (o.cwd) e.cwd = o.cwd;
  if (o.timeoutMs) e.timeoutMs = o.timeoutMs;
  return e;
}
