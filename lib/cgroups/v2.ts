/** The cgroup v2 backend: one directory in the unified hierarchy. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError } from '../errors.js';
import { deviceProgram, deviceRules, encodeProgram } from './devices.js';
import { checkBeforeUpdate, errnoOf, mkdirChain, notEmpty, procsOf, readTrim, unexpectedlyFrozen, writeAll } from './fs.js';
import type { AttachDeviceProgram, CgroupManager, CgroupMade, CgroupState } from './manager.js';
import type { LinuxResources } from './resources.js';
import { v2Stats, type CgroupStats } from './stats.js';
import { v2Writes } from './v2-files.js';

/**
 * The memory limit a cgroup has now, as update reckons a swap limit given
 * alone against it: bytes, or 0 for none. "max" is none too: runc keeps the
 * limits in its state, and a container it made without one has 0 there, so
 * it refuses such a swap limit ("unable to set swap limit without memory
 * limit"); tsrun keeps no limits and reads the kernel's.
 */
export function memoryLimitNow(dir: string): number {
  const v = readTrim(path.join(dir, 'memory.max'));
  return v === null || v === 'max' ? 0 : Number(v);
}

export class V2Manager implements CgroupManager {
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

  /** What create() made, top first (null: create() has not run). */
  private madeDirs: string[] | null = null;

  create(): string[] {
    this.madeDirs = mkdirChain(this.mount, this.rel);
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
    return this.owned();
  }

  owned(): string[] {
    return this.madeDirs?.includes(this.dir) ? [this.dir] : [];
  }

  made(): CgroupMade {
    return { dirs: [...(this.madeDirs ?? [])] };
  }

  check(r: LinuxResources = {}): string[] {
    // what the config alone decides (an impossible swap) fails before anything exists, as runc's validation
    v2Writes(r);
    // a new cgroup below a frozen one is frozen too: look from the nearest existing directory up
    let d = this.dir;
    while (d !== this.mount && d.startsWith(`${this.mount}/`) && !fs.existsSync(d)) d = path.dirname(d);
    for (; d.startsWith(`${this.mount}/`); d = path.dirname(d)) {
      if (readTrim(path.join(d, 'cgroup.freeze')) === '1') throw unexpectedlyFrozen(d, 'cgroup.freeze', '1', '0');
    }
    return notEmpty(procsOf(this.dir).length);
  }

  apply(r: LinuxResources, opts: { update?: boolean } = {}): void {
    const avail = new Set((readTrim(path.join(this.dir, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean));
    if (opts.update) checkBeforeUpdate(r, readTrim(path.join(this.dir, 'memory.current')));
    const memoryNow = opts.update ? memoryLimitNow(this.dir) : 0;
    const writes = v2Writes(r, (f) => fs.existsSync(path.join(this.dir, f)), memoryNow);
    for (const w of writes) {
      if (w.controller !== 'cgroup' && !avail.has(w.controller))
        throw new ConfigError(
          w.field,
          `the ${w.controller} cgroup controller is not available (cgroup.controllers of ${this.dir}: ${[...avail].join(' ') || 'none'})`,
        );
    }
    for (const w of writes) {
      if (w.field.startsWith('linux.resources.unified.') && (w.file.includes('/') || !fs.existsSync(path.join(this.dir, w.file))))
        throw new ConfigError(w.field, `no such cgroup file ${w.file} in ${this.dir}`);
    }
    writeAll(writes, () => this.dir);
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
