/**
 * The cgroup manager: one interface, a v2 and a v1 backend, chosen by what
 * the host mounts (host.ts). The runtime creates the cgroup and applies
 * every limit BEFORE the container's init exists, so a missing controller or
 * a bad value fails create with nothing started; the init joins it while it
 * still waits for GO. All calls are synchronous: they touch only cgroupfs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError, TsrunError } from '../errors.js';
import { deviceRules, v1DeviceWrites, deviceProgram, encodeProgram } from './devices.js';
import { hostCgroups, type CgroupHost } from './host.js';
import type { CgroupWrite, LinuxResources } from './resources.js';
import { emptyStats, v1Stats, v2Stats, type CgroupStats } from './stats.js';
import { v1Writes } from './v1-files.js';
import { v2Writes } from './v2-files.js';

/** What state.json records: enough to find the cgroup again. */
export interface CgroupState {
  version: 1 | 2;
  /** v2: { "": dir }. v1: controller → dir; on hybrid hosts also "" → the unified dir (tracking only). */
  paths: Record<string, string>;
}

/** Loads and attaches a BPF_PROG_TYPE_CGROUP_DEVICE program (the addon). */
export type AttachDeviceProgram = (cgroupDir: string, insns: Uint8Array) => void;

export interface CgroupManager {
  readonly state: CgroupState;
  /** mkdir the cgroup (and parents; v2: enable the controllers on the way down).
   * False when it existed already (a failed create must then not destroy it). */
  create(): boolean;
  /** Writes linux.resources; errors name the config field. */
  apply(r: LinuxResources, opts?: { update?: boolean }): void;
  /** Moves a process in (the fallback when it was not born there). */
  addProcess(pid: number): void;
  freeze(): void;
  thaw(): void;
  frozen(): boolean;
  /** Host pids of every process in the cgroup and below. */
  pids(): number[];
  /** kill --all: cgroup.kill where the kernel has it, else each pid (v1: frozen meanwhile). */
  signalAll(signal: number): void;
  /** Kills what is left and removes the cgroup (retrying EBUSY briefly). */
  destroy(): void;
  stats(): CgroupStats;
  /** How many processes the OOM killer has killed in the cgroup. */
  oomKills(): number;
  /** The v2 directory (pure v2 only), for CLONE_INTO_CGROUP. */
  readonly v2Dir: string | null;
  /** The container's cgroup in each v1 hierarchy (for the cgroup mount inside). */
  v1Hierarchies(): { mountPoint: string; name: string; cgroupPath: string }[];
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readTrim(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

function writeFile(dir: string, w: CgroupWrite): void {
  const file = path.join(dir, w.file);
  try {
    // r+: a missing file is ENOENT, not the EACCES of creating one in cgroupfs
    fs.writeFileSync(file, w.value, { flag: 'r+' });
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT') {
      if (w.optional) return;
      throw new ConfigError(w.field, `${w.file} does not exist in ${dir} (not supported by this kernel or controller)`);
    }
    throw new ConfigError(w.field, `cannot write ${JSON.stringify(w.value)} to ${file}: ${code}`);
  }
}

/** Directory and every cgroup below it, deepest first. */
function subtreeDeepestFirst(dir: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  for (const e of entries) if (e.isDirectory()) out.push(...subtreeDeepestFirst(path.join(dir, e.name)));
  out.push(dir);
  return out;
}

function procsOf(dir: string): number[] {
  const out: number[] = [];
  for (const d of subtreeDeepestFirst(dir)) {
    const text = readTrim(path.join(d, 'cgroup.procs'));
    if (text) for (const l of text.split('\n')) if (l) out.push(Number(l));
  }
  return out;
}

function rmdirRetry(dirs: string[]): void {
  for (const d of dirs) {
    for (let i = 0; ; i++) {
      try {
        fs.rmdirSync(d);
        break;
      } catch (e) {
        const code = errnoOf(e);
        if (code === 'ENOENT') break;
        if (code === 'EBUSY' && i < 50) {
          sleepSync(20);
          continue;
        }
        throw new TsrunError('ESYSTEM', `cannot remove cgroup ${d}: ${code}`, { cause: e });
      }
    }
  }
}

function trySignal(pid: number, signal: number): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* exited meanwhile */
  }
}

/** Creates the directory chain; returns the directories it created (top first). */
function mkdirChain(base: string, rel: string): string[] {
  const made: string[] = [];
  let cur = base;
  for (const part of rel.split('/').filter(Boolean)) {
    cur = path.join(cur, part);
    try {
      fs.mkdirSync(cur);
      made.push(cur);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw new TsrunError('ESYSTEM', `cannot create cgroup ${cur}: ${errnoOf(e)}`, { cause: e });
    }
  }
  return made;
}

function cleanRel(p: string): string {
  return path.posix.normalize(`/${p}`);
}

/** Where the container's cgroup is, relative to a hierarchy's mount: runc's rules. */
export function cgroupRelPath(cgroupsPath: string | undefined, id: string, own: string): string {
  if (cgroupsPath && cgroupsPath.startsWith('/')) return cleanRel(cgroupsPath);
  return cleanRel(path.posix.join(own, cgroupsPath || id));
}

/** memory.checkBeforeUpdate: refuse a limit below what the cgroup uses now. */
function checkBeforeUpdate(r: LinuxResources, usage: string | null): void {
  const m = r.memory;
  if (!m?.checkBeforeUpdate || !m.limit || m.limit < 0 || usage === null) return;
  if (m.limit < Number(usage))
    throw new ConfigError('linux.resources.memory.limit', `${m.limit} is below the current usage ${usage} (checkBeforeUpdate)`);
}

// --- v2 ----------------------------------------------------------------------

class V2Manager implements CgroupManager {
  readonly state: CgroupState;
  constructor(
    readonly mount: string,
    readonly rel: string,
    private readonly attach?: AttachDeviceProgram,
    existing?: CgroupState,
  ) {
    this.state = existing ?? { version: 2, paths: { '': path.join(mount, rel) } };
  }

  get dir(): string {
    return this.state.paths['']!;
  }

  get v2Dir(): string {
    return this.dir;
  }

  create(): boolean {
    const made = mkdirChain(this.mount, this.rel).length > 0;
    // every ancestor delegates what it has to the next level (runc does the same)
    const parts = this.rel.split('/').filter(Boolean);
    let cur = this.mount;
    for (let i = 0; i < parts.length; i++) {
      const avail = (readTrim(path.join(cur, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean);
      const enabled = new Set((readTrim(path.join(cur, 'cgroup.subtree_control')) ?? '').split(/\s+/));
      for (const c of avail) {
        if (enabled.has(c)) continue;
        try {
          fs.writeFileSync(path.join(cur, 'cgroup.subtree_control'), `+${c}`);
        } catch {
          /* e.g. EBUSY: processes live here; the controller then stays unavailable and apply says so */
        }
      }
      cur = path.join(cur, parts[i]!);
    }
    return made;
  }

  apply(r: LinuxResources, opts: { update?: boolean } = {}): void {
    const avail = new Set((readTrim(path.join(this.dir, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean));
    if (opts.update) checkBeforeUpdate(r, readTrim(path.join(this.dir, 'memory.current')));
    const writes = v2Writes(r, (f) => fs.existsSync(path.join(this.dir, f)));
    for (const w of writes) {
      if (w.controller !== 'cgroup' && !avail.has(w.controller))
        throw new ConfigError(w.field, `the ${w.controller} cgroup controller is not available (cgroup.controllers of ${this.dir}: ${[...avail].join(' ') || 'none'})`);
    }
    for (const w of writes) {
      if (w.field.startsWith('linux.resources.unified.') && (w.file.includes('/') || !fs.existsSync(path.join(this.dir, w.file))))
        throw new ConfigError(w.field, `no such cgroup file ${w.file} in ${this.dir}`);
      writeFile(this.dir, w);
    }
    if (this.attach && (!opts.update || r.devices)) {
      try {
        this.attach(this.dir, encodeProgram(deviceProgram(deviceRules(r.devices))));
      } catch (e) {
        throw new ConfigError('linux.resources.devices', `cannot attach the device program to ${this.dir}: ${errnoOf(e)}`);
      }
    }
  }

  addProcess(pid: number): void {
    fs.writeFileSync(path.join(this.dir, 'cgroup.procs'), String(pid));
  }

  freeze(): void {
    fs.writeFileSync(path.join(this.dir, 'cgroup.freeze'), '1');
    for (let i = 0; i < 500; i++) {
      if (/^frozen 1$/m.test(readTrim(path.join(this.dir, 'cgroup.events')) ?? '')) return;
      sleepSync(10);
    }
    throw new TsrunError('ESYSTEM', `cgroup ${this.dir} did not freeze`);
  }

  thaw(): void {
    fs.writeFileSync(path.join(this.dir, 'cgroup.freeze'), '0');
  }

  frozen(): boolean {
    return readTrim(path.join(this.dir, 'cgroup.freeze')) === '1';
  }

  pids(): number[] {
    return procsOf(this.dir);
  }

  signalAll(signal: number): void {
    if (signal === 9 && fs.existsSync(path.join(this.dir, 'cgroup.kill'))) {
      fs.writeFileSync(path.join(this.dir, 'cgroup.kill'), '1');
      return;
    }
    for (const pid of this.pids()) trySignal(pid, signal);
  }

  destroy(): void {
    if (!fs.existsSync(this.dir)) return;
    for (let i = 0; i < 200 && this.pids().length; i++) {
      this.signalAll(9);
      sleepSync(10);
    }
    rmdirRetry(subtreeDeepestFirst(this.dir));
  }

  stats(): CgroupStats {
    return v2Stats(this.dir);
  }

  oomKills(): number {
    return Number(/^oom_kill (\d+)$/m.exec(readTrim(path.join(this.dir, 'memory.events')) ?? '')?.[1] ?? 0);
  }

  v1Hierarchies() {
    return [];
  }
}

// --- v1 ----------------------------------------------------------------------

class V1Manager implements CgroupManager {
  readonly state: CgroupState;
  readonly v2Dir = null;
  constructor(
    private readonly host: CgroupHost,
    private readonly cgroupsPath: string | undefined,
    private readonly id: string,
    existing?: CgroupState,
  ) {
    if (existing) this.state = existing;
    else {
      const paths: Record<string, string> = {};
      for (const h of host.v1) {
        const dir = path.join(h.mountPoint, cgroupRelPath(cgroupsPath, id, h.own));
        for (const c of h.controllers) paths[c] = dir;
      }
      if (host.v2Mount) paths[''] = path.join(host.v2Mount, cgroupRelPath(cgroupsPath, id, host.v2Own));
      this.state = { version: 1, paths };
    }
  }

  private dirs(): string[] {
    return [...new Set(Object.values(this.state.paths))];
  }

  private mountOf(dir: string): string {
    const h = this.host.v1.find((x) => dir === x.mountPoint || dir.startsWith(`${x.mountPoint}/`));
    return h?.mountPoint ?? (this.host.v2Mount && dir.startsWith(`${this.host.v2Mount}/`) ? this.host.v2Mount : path.dirname(dir));
  }

  create(): boolean {
    let any = false;
    for (const [key, dir] of Object.entries(this.state.paths)) {
      const mount = this.mountOf(dir);
      const made = mkdirChain(mount, path.relative(mount, dir));
      if (made.length) any = true;
      // a new cpuset cgroup starts with no cpus and mems: nothing could join it
      if (key === 'cpuset') {
        for (const d of made) {
          for (const f of ['cpuset.cpus', 'cpuset.mems']) {
            if ((readTrim(path.join(d, f)) ?? '') === '') fs.writeFileSync(path.join(d, f), readTrim(path.join(path.dirname(d), f)) ?? '');
          }
        }
      }
    }
    return any;
  }

  apply(r: LinuxResources, opts: { update?: boolean } = {}): void {
    if (r.unified && Object.keys(r.unified).length)
      throw new ConfigError('linux.resources.unified', 'cgroup v2 files cannot be set on a cgroup v1 host');
    const memDir = this.state.paths.memory;
    if (opts.update && memDir) checkBeforeUpdate(r, readTrim(path.join(memDir, 'memory.usage_in_bytes')));
    const memsw = Number(memDir ? readTrim(path.join(memDir, 'memory.memsw.limit_in_bytes')) ?? Infinity : Infinity);
    const writes = v1Writes(r, memsw);
    for (const w of writes) {
      if (!this.state.paths[w.controller])
        throw new ConfigError(w.field, `the ${w.controller} cgroup controller is not mounted on this host (cgroup v1)`);
    }
    for (const w of writes) {
      const dir = this.state.paths[w.controller]!;
      // without CFQ the weight lives in BFQ's files; with neither, runc ignores it too
      if (w.file === 'blkio.weight' || w.file === 'blkio.weight_device') {
        const bfq = w.file.replace('blkio.', 'blkio.bfq.');
        if (!fs.existsSync(path.join(dir, w.file)) && fs.existsSync(path.join(dir, bfq))) w.file = bfq;
        w.optional = true;
      }
      writeFile(dir, w);
    }
    const devDir = this.state.paths.devices;
    if (!opts.update || r.devices) {
      if (!devDir) {
        if (r.devices?.length) throw new ConfigError('linux.resources.devices', 'the devices cgroup controller is not mounted on this host (cgroup v1)');
        return;
      }
      for (const [file, line] of v1DeviceWrites(deviceRules(r.devices))) {
        writeFile(devDir, { controller: 'devices', file, value: line, field: 'linux.resources.devices' });
      }
    }
  }

  addProcess(pid: number): void {
    for (const [key, dir] of Object.entries(this.state.paths)) {
      try {
        fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
      } catch (e) {
        // the hybrid's unified tree is for tracking only
        if (key !== '') throw new TsrunError('ESYSTEM', `cannot move the init into ${dir}: ${errnoOf(e)}`, { cause: e });
      }
    }
  }

  private get freezerDir(): string | undefined {
    return this.state.paths.freezer;
  }

  freeze(): void {
    const d = this.freezerDir;
    if (!d) throw new TsrunError('EUNSUPPORTED', 'the freezer cgroup controller is not mounted on this host');
    for (let i = 0; i < 500; i++) {
      fs.writeFileSync(path.join(d, 'freezer.state'), 'FROZEN');
      if (readTrim(path.join(d, 'freezer.state')) === 'FROZEN') return;
      sleepSync(10);
    }
    fs.writeFileSync(path.join(d, 'freezer.state'), 'THAWED');
    throw new TsrunError('ESYSTEM', `cgroup ${d} did not freeze`);
  }

  thaw(): void {
    const d = this.freezerDir;
    if (!d) throw new TsrunError('EUNSUPPORTED', 'the freezer cgroup controller is not mounted on this host');
    fs.writeFileSync(path.join(d, 'freezer.state'), 'THAWED');
  }

  frozen(): boolean {
    const d = this.freezerDir;
    if (!d) return false;
    const s = readTrim(path.join(d, 'freezer.state'));
    return s === 'FROZEN' || s === 'FREEZING';
  }

  private get procsDir(): string | undefined {
    const p = this.state.paths;
    return p.pids ?? p.memory ?? p.freezer ?? p.devices ?? Object.values(p)[0];
  }

  pids(): number[] {
    const d = this.procsDir;
    return d ? procsOf(d) : [];
  }

  signalAll(signal: number): void {
    // frozen, nothing can fork away from the signal (runc does the same)
    const canFreeze = !!this.freezerDir && fs.existsSync(this.freezerDir);
    const wasFrozen = this.frozen();
    if (canFreeze && !wasFrozen) this.freeze();
    try {
      for (const pid of this.pids()) trySignal(pid, signal);
    } finally {
      if (canFreeze && !wasFrozen) this.thaw();
    }
    if (wasFrozen && signal === 9) this.thaw(); // a frozen v1 task dies only once thawed
  }

  destroy(): void {
    if (this.dirs().every((d) => !fs.existsSync(d))) return;
    for (let i = 0; i < 200 && this.pids().length; i++) {
      this.signalAll(9);
      sleepSync(10);
    }
    if (this.frozen()) this.thaw();
    for (const d of this.dirs()) rmdirRetry(subtreeDeepestFirst(d));
  }

  stats(): CgroupStats {
    return v1Stats(this.state.paths);
  }

  oomKills(): number {
    const d = this.state.paths.memory;
    return d ? Number(/^oom_kill (\d+)$/m.exec(readTrim(path.join(d, 'memory.oom_control')) ?? '')?.[1] ?? 0) : 0;
  }

  v1Hierarchies() {
    return this.host.v1.map((h) => {
      const dir = this.state.paths[h.controllers[0]!]!;
      return { mountPoint: h.mountPoint, name: h.name, cgroupPath: path.relative(h.mountPoint, dir) ? `/${path.relative(h.mountPoint, dir)}` : '/' };
    });
  }
}

/** A manager for a new container (nothing is created until create()). */
export function newCgroupManager(cgroupsPath: string | undefined, id: string, attach?: AttachDeviceProgram, host: CgroupHost = hostCgroups()): CgroupManager | null {
  if (host.mode === 'none') return null;
  if (host.mode === 'unified') return new V2Manager(host.v2Mount!, cgroupRelPath(cgroupsPath, id, host.v2Own), attach);
  return new V1Manager(host, cgroupsPath, id);
}

/** The manager of an existing container, from its state.json. */
export function loadCgroupManager(state: CgroupState, attach?: AttachDeviceProgram, host: CgroupHost = hostCgroups()): CgroupManager {
  if (state.version === 2) {
    const dir = state.paths['']!;
    const mount = host.v2Mount ?? '/sys/fs/cgroup';
    return new V2Manager(mount, path.relative(mount, dir), attach, state);
  }
  return new V1Manager(host, undefined, '', state);
}

export { emptyStats };
