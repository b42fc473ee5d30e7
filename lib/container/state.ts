/**
 * The state store: one directory per container under --root, holding
 * state.json and the exec fifo; the directory itself is the lock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Hooks } from '../config/types.js';
import { TsrunError } from '../errors.js';
import { LOCK_EX, LOCK_SH, type NativeBinding } from '../native/binding.js';
import type { Status } from './status.js';
import type { CgroupState } from '../cgroups/manager.js';
import type { RdtGroup } from '../plan/resctrl.js';
import { STATE_FILES, STATE_KEYS } from '../native/constants.js';
import { fromHost, hostCall } from '../native/host.js';
import { NotPrivateError, at, createFileAt, openPrivateDir, readPrivateFile } from './safe-files.js';

/** What tsrun records about a container (state.json). */
export interface StoredState {
  ociVersion: string;
  id: string;
  pid: number;
  /** /proc/<pid>/stat start time: guards against pid reuse. */
  pidStartTime: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  /** The init has its own pid namespace (killing it kills everything). */
  pidNamespace: boolean;
  /** config.json's poststart and poststop hooks, for start and delete (lib/container/hooks.ts recordedHooks). */
  hooks?: Hooks;
  /** The container's cgroup (absent: the host has no cgroups we manage). */
  cgroup?: CgroupState;
  /** linux.intelRdt's resctrl groups (lib/plan/resctrl.ts; native/host/resctrl.c removes what `owned` says). */
  intelRdt?: RdtGroup;
  /** No mount namespace: the container's mounts are under `rootfs` in the runtime's namespace, removed at delete. */
  hostMounts?: boolean;
  /** create had --no-new-keyring: exec'd processes keep the caller's keyring too. */
  noNewKeyring?: boolean;
  /** linux.seccomp, compiled at create into the state dir's seccomp.bpf (exec loads it); absent: none. */
  seccomp?: { flags: number; listenerPath: string | null; listenerMetadata?: string };
}

/** runc's state JSON (what `tsrun state` prints). */
export interface StateJson {
  ociVersion: string;
  id: string;
  pid: number;
  status: Status;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

/** The largest filter seccomp(2) would take from us: 65535 instructions (a sock_fprog's len is 16 bits). */
const SECCOMP_MAX = 0xffff * 8;

/**
 * What a create writes ahead of each thing it makes on the host (the
 * intent record, native/host/host.h): state.json's keys, any of them.
 * A delete of a create that died removes exactly what it lists.
 */
export type IntentRecord = Pick<StoredState, 'id'> &
  Partial<Pick<StoredState, 'pid' | 'pidStartTime' | 'rootfs' | 'cgroup' | 'hostMounts' | 'intelRdt'>>;

/** A claim being made: `<root>/.claim-<pid>-<n>-<id>` until it is renamed to `<root>/<id>`. */
const CLAIM_PREFIX = '.claim-';
let claims = 0;

export class StateStore {
  constructor(
    readonly root: string,
    private readonly native: NativeBinding,
    /** root is $XDG_RUNTIME_DIR/tsrun: sticky, so the XDG cleaner leaves it (runc does the same). */
    private readonly xdgRoot = false,
  ) {}

  /** runc's id rule (native/host/state.c: ids become directory names). */
  checkId(id: string): void {
    try {
      this.native.checkId(id);
    } catch (e) {
      throw fromHost(e);
    }
  }

  dir(id: string): string {
    return path.join(this.root, id);
  }

  /** The files of a state dir, as native/host names them. */
  private get files() {
    return STATE_FILES;
  }

  /** Claims a new container directory; throws if the id is taken. */
  claim(id: string): Lock {
    this.checkId(id);
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    if (this.xdgRoot) fs.chmodSync(this.root, 0o1700);
    // What is kept here decides what root runs later (hooks, a pid to
    // kill, a seccomp filter): never in a root another user can change.
    fs.closeSync(this.openPrivate([], 'refusing a state root another user can change'));
    const dir = this.dir(id);
    const exists = () => new TsrunError('EEXIST', `container with id exists: ${id}`);
    if (fs.existsSync(dir)) throw exists();
    this.sweepClaims();
    // Made, locked and given its intent record under a private name, then
    // renamed into place: a delete never sees a claimed dir that is not yet
    // locked (it would take it for a dead create's and remove it), and the
    // record makes it non-empty, so a second create's rename cannot replace it.
    const tmp = path.join(this.root, `${CLAIM_PREFIX}${process.pid}-${++claims}-${id}`);
    fs.mkdirSync(tmp, { mode: 0o711 });
    // mkdir's mode is filtered by the umask; the init, maybe not root,
    // must be able to traverse to the fifo
    fs.chmodSync(tmp, 0o711);
    let lock: Lock | undefined;
    try {
      fs.writeFileSync(path.join(tmp, this.files.intent), JSON.stringify({ id }), { mode: 0o600 });
      lock = this.lockDir(tmp);
      fs.renameSync(tmp, dir);
      return lock;
    } catch (e) {
      lock?.release();
      fs.rmSync(tmp, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'ENOTDIR' || code === 'EISDIR') throw exists();
      throw e;
    }
  }

  /** Claims a killed create left before its rename (their process is gone). */
  private sweepClaims(): void {
    for (const name of fs.readdirSync(this.root)) {
      if (!name.startsWith(CLAIM_PREFIX)) continue;
      const pid = Number(name.slice(CLAIM_PREFIX.length).split('-')[0]);
      if (pid === process.pid || (pid > 0 && fs.existsSync(`/proc/${pid}`))) continue;
      fs.rmSync(path.join(this.root, name), { recursive: true, force: true });
    }
  }

  /**
   * Locks an existing container; throws ENOTFOUND when there is none.
   * `shared`: alongside other shared holders (exec). The root and the
   * container's dir must be ours alone (native/host/state.c's tsrun_lock
   * checks the same for the front's commands): what they hold is trusted.
   */
  lock(id: string, opts: { shared?: boolean } = {}): Lock {
    this.checkId(id);
    let fd: number;
    try {
      fd = this.openPrivate([id], "another user could change this container's state; not trusted");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound();
      throw e;
    }
    if (!fs.existsSync(at(fd, this.files.state))) {
      fs.closeSync(fd);
      throw notFound();
    }
    return this.lockFd(fd, opts.shared ? LOCK_SH : LOCK_EX);
  }

  private lockDir(dir: string, op = LOCK_EX): Lock {
    return this.lockFd(fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY), op);
  }

  private lockFd(fd: number, op: number): Lock {
    try {
      this.native.flock(fd, op);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return new Lock(fd);
  }

  /** The fd of the root or a dir below it, checked private (safe-files.ts); a failed check says `consequence`. */
  private openPrivate(names: readonly string[], consequence: string): number {
    try {
      return openPrivateDir(this.root, names);
    } catch (e) {
      if (e instanceof NotPrivateError) throw new TsrunError('ESYSTEM', `${e.message}: ${consequence}`, { cause: e });
      throw e;
    }
  }

  /** Keeps the container's compiled filter in its dir (checked private; O_EXCL|O_NOFOLLOW): exec loads it. */
  keepSeccomp(id: string, bpf: Uint8Array): void {
    const fd = this.openPrivate([id], "refusing to keep the container's seccomp filter there");
    try {
      createFileAt(fd, this.files.seccomp, bpf, 0o600);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The filter keepSeccomp kept; a missing, foreign or malformed one throws: a process is never started without it. */
  readSeccomp(id: string): Uint8Array {
    const refused = "refusing the container's seccomp filter";
    const fd = this.openPrivate([id], refused);
    try {
      const shown = path.join(this.dir(id), this.files.seccomp);
      let bpf: Buffer | null;
      try {
        bpf = readPrivateFile(fd, this.dir(id), this.files.seccomp, SECCOMP_MAX);
      } catch (e) {
        if (e instanceof NotPrivateError) throw new TsrunError('ESYSTEM', `${e.message}: ${refused}`, { cause: e });
        throw e;
      }
      if (!bpf) throw new TsrunError('ESYSTEM', `${shown} is missing: ${refused}`);
      if (bpf.length === 0 || bpf.length % 8 !== 0) throw new TsrunError('ESYSTEM', `${shown} holds no whole filter: ${refused}`);
      return bpf;
    } finally {
      fs.closeSync(fd);
    }
  }

  read(id: string): StoredState {
    this.checkId(id);
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir(id), this.files.state), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound();
      throw e;
    }
    // the C reader's limit: what one front door cannot read, neither may the other
    if (jsonDepth(text) > this.files.maxDepth)
      throw new TsrunError('ESYSTEM', `${path.join(this.dir(id), this.files.state)}: nested too deeply`);
    return JSON.parse(text) as StoredState;
  }

  /** state.json, its keys in the order of native/host/host.h's TSRUN_STATE_KEYS (the front reads it). */
  write(state: StoredState): void {
    const fields = state as unknown as Record<string, unknown>;
    const keys = STATE_KEYS;
    const unknown = Object.keys(fields).filter((k) => !keys.includes(k));
    if (unknown.length) throw new Error(`state.json: ${unknown.join(', ')} not in TSRUN_STATE_KEYS (native/host/host.h)`);
    const ordered = Object.fromEntries(keys.filter((k) => fields[k] !== undefined).map((k) => [k, fields[k]]));
    this.writeAtomic(state.id, this.files.state, ordered);
  }

  /** The intent record, replaced whole (rename: a reader sees the old one or the new one). */
  writeIntent(record: IntentRecord): void {
    this.writeAtomic(record.id, this.files.intent, record);
  }

  private writeAtomic(id: string, name: string, value: unknown): void {
    const file = path.join(this.dir(id), name);
    const tmp = `${file}.tmp`;
    const text = JSON.stringify(value);
    // never a record native/host (state, start, delete) could not read back
    if (jsonDepth(text) > this.files.maxDepth) throw new Error(`${name}: nested deeper than ${this.files.maxDepth}`);
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.renameSync(tmp, file);
  }

  fifo(id: string): string {
    return path.join(this.dir(id), this.files.fifo);
  }

  /** The exec fifo `start` releases the init through: 0622, so any container user may open it. */
  makeFifo(id: string): void {
    const fifo = this.fifo(id);
    this.native.mkfifo(fifo, 0o622);
    fs.chmodSync(fifo, 0o622); // mkfifo's mode went through the umask
  }

  /** created, running, paused or stopped (native/host: pid + start time, freezer, exec fifo). */
  status(state: StoredState): Status {
    return hostCall(this.native, 'status', this.root, state.id).status!;
  }

  remove(id: string): void {
    fs.rmSync(this.dir(id), { recursive: true, force: true });
  }
}

export class Lock {
  constructor(private fd: number) {}
  release(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/**
 * How deep values nest in JSON text, as native/host/json.c counts them: an
 * array or object is one level and the values inside it one more (strings
 * skipped). An empty innermost container counts one more than the C reader
 * would: this errs on the side of what it can read.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max + 1;
}

export function notFound(): TsrunError {
  return new TsrunError('ENOTFOUND', 'container does not exist');
}

/** RFC3339 with nanoseconds, as Go's time.RFC3339Nano prints UTC, of a real-time clock reading in ns. */
export function rfc3339Nano(ns: bigint): string {
  const base = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${base}${frac ? `.${frac}` : ''}Z`;
}
