/**
 * A client of CRIU's RPC service: `criu swrk 3` on one end of a
 * SOCK_SEQPACKET pair, protobuf messages (lib/checkpoint/criu-rpc.proto,
 * encoded by protobufjs), one request, then CRIU's notifications, each
 * answered, until its final response.
 *
 * CRIU opens the dir fds named in the request through /proc/<our pid>/fd
 * (the socket's peer credentials): they are ours, not passed to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import protobuf from 'protobufjs';

import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import { CRIU_RPC_PROTO } from './criu-rpc.gen.js';

let root: protobuf.Root | null = null;
function types() {
  root ??= protobuf.parse(CRIU_RPC_PROTO, { keepCase: true }).root;
  return { req: root.lookupType('criu_req'), resp: root.lookupType('criu_resp'), reqType: root.lookupEnum('criu_req_type').values };
}

/** The request types by name, as criu_req_type says. */
export type CriuReqType = 'DUMP' | 'RESTORE' | 'PRE_DUMP' | 'FEATURE_CHECK' | 'VERSION' | 'NOTIFY';

/** criu_opts, by the schema's field names. */
export type CriuOpts = Record<string, unknown> & { images_dir_fd: number };

export interface CriuResponse {
  type: number;
  success: boolean;
  cr_errno?: number;
  cr_errmsg?: string;
  restore?: { pid: number };
  notify?: { script?: string; pid?: number };
  version?: { major_number: number; minor_number: number; sublevel?: number; gitid?: string };
  features?: { mem_track?: boolean; lazy_pages?: boolean };
}

/** What a notification handler gets: its name, the pid it carries, and an fd CRIU passed with it (-1: none; the handler owns it). */
export interface CriuNotification {
  script: string;
  pid: number;
  fd: number;
}

/** The CRIU binary: $TSRUN_CRIU, else `criu` on PATH. */
export function criuBinary(): string {
  const given = process.env.TSRUN_CRIU;
  if (given) return given;
  for (const dir of (process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir || '.', 'criu');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  throw new TsrunError('EUNSUPPORTED', 'CRIU version check failed: exec: "criu": executable file not found in $PATH');
}

/** CRIU's version as one number, as runc compares them: major*10000 + minor*100 + sublevel (a git build: the next minor). */
export function versionNumber(v: NonNullable<CriuResponse['version']>): number {
  const n = v.major_number * 10000 + v.minor_number * 100;
  return v.gitid ? n + 100 : n + (v.sublevel ?? 0);
}

export interface CriuCall {
  type: CriuReqType;
  opts?: CriuOpts;
  features?: { mem_track?: boolean; lazy_pages?: boolean };
  /** The worker's fds 0-2 (restore: the container's new stdio); default /dev/null. */
  stdio?: [number, number, number];
  /** More fds of ours for the worker, at 4, 5, … (restore: namespaces it is to use). */
  extraFds?: number[];
  /** The worker's working directory (runc's: the bundle's, on restore). */
  cwd?: string;
  /** Called with the worker's pid before the request goes (restore: into the container's cgroup). */
  onSpawn?: (pid: number) => void | Promise<void>;
  /** Each notification; a throw fails the call (CRIU is not answered, and gives up). */
  onNotify?: (n: CriuNotification) => void | Promise<void>;
  /** CRIU's log, whose error lines a failure quotes. */
  logFile?: string;
}

const MAX_MESSAGE = 40960;

/** One CRIU worker, one request: its final response (success), or a TsrunError quoting CRIU's log. */
export async function criuCall(native: NativeBinding, call: CriuCall): Promise<CriuResponse> {
  const { req, resp, reqType } = types();
  const bin = criuBinary();
  const [ours, theirs] = native.seqpacketPair();
  let child: ChildProcess | null = null;
  let exited: Promise<number | null> | null = null;
  try {
    const devNull = call.stdio ? -1 : fs.openSync('/dev/null', 'r+');
    try {
      const stdio = call.stdio ?? [devNull, devNull, devNull];
      const fds = [stdio[0], stdio[1], stdio[2], theirs, ...(call.extraFds ?? [])];
      child = spawn(bin, ['swrk', '3'], { stdio: fds, cwd: call.cwd });
    } finally {
      if (devNull >= 0) fs.closeSync(devNull);
    }
    const proc = child;
    exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => resolve(signal ? 128 : code));
      proc.on('error', () => resolve(null));
    });
    const spawnError = await new Promise<Error | null>((resolve) => {
      proc.once('spawn', () => resolve(null));
      proc.once('error', resolve);
    });
    if (spawnError) throw new TsrunError('EUNSUPPORTED', `CRIU version check failed: exec: ${JSON.stringify(bin)}: ${spawnError.message}`);
    fs.closeSync(theirs);
    await call.onSpawn?.(proc.pid!);
    const message: Record<string, unknown> = { type: reqType[call.type] };
    if (call.opts) message.opts = call.opts;
    if (call.features) message.features = call.features;
    native.sendPacket(ours, Buffer.from(req.encode(req.fromObject(message)).finish()));
    for (;;) {
      const got = await native.recvPacket(ours, MAX_MESSAGE);
      if (got.data.length === 0) throw new TsrunError('ESYSTEM', `criu failed: unexpected EOF${quoteLog(call.logFile)}`);
      const r = resp.toObject(resp.decode(got.data), { defaults: false }) as CriuResponse;
      if (r.type === reqType.NOTIFY) {
        try {
          await call.onNotify?.({ script: r.notify?.script ?? '', pid: r.notify?.pid ?? 0, fd: got.fd });
        } catch (e) {
          if (got.fd >= 0) fs.closeSync(got.fd);
          throw e;
        }
        native.sendPacket(ours, Buffer.from(req.encode(req.fromObject({ type: reqType.NOTIFY, notify_success: true })).finish()));
        continue;
      }
      if (got.fd >= 0) fs.closeSync(got.fd);
      if (!r.success) {
        const name = Object.keys(reqType).find((k) => reqType[k] === r.type) ?? String(r.type);
        // the cause is the last error CRIU logged before its summary (cr_errmsg is its first, often a harmless one)
        const cause =
          logErrors(call.logFile)
            .filter((l) => !/FAILED|failed with -1|cgroupd: recv req error/.test(l))
            .pop() ?? r.cr_errmsg;
        const why = cause ? `: ${cause.replace(/^\([\d.]+\)\s+(\d+:\s+)?/, '')}` : '';
        throw new TsrunError('ESYSTEM', `criu failed: type ${name} errno ${r.cr_errno ?? 0}${why}${quoteLog(call.logFile)}`);
      }
      return r;
    }
  } finally {
    // CRIU reads EOF and ends, whatever it was doing (a dump it had not finished resumes the tasks)
    fs.closeSync(ours);
    await exited;
  }
}

/** CRIU's error lines in its log (without the RLIMIT_NOFILE one it logs wherever CAP_SYS_RESOURCE is missing). */
function logErrors(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /Error \(/.test(l) && !/Can't setup RLIMIT_NOFILE/.test(l));
  } catch {
    return [];
  }
}

/** CRIU's last error lines, quoted (runc quotes them too). */
export function quoteLog(file: string | undefined): string {
  if (!file) return '';
  const errors = logErrors(file).slice(-5);
  return errors.length ? `\n--- ${file}:\n${errors.join('\n')}\n---` : `\n(see ${file})`;
}

/** CRIU's version (a VERSION request to a worker of its own). */
export async function criuVersion(native: NativeBinding): Promise<number> {
  const r = await criuCall(native, { type: 'VERSION' });
  if (!r.version) throw new TsrunError('ESYSTEM', 'CRIU version check failed: no version in its answer');
  return versionNumber(r.version);
}
