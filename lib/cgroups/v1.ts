/** The cgroup v1 backend: one directory per hierarchy (hybrid hosts: plus the unified one, for tracking). */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError, TsrunError } from '../errors.js';
import { deviceRules, v1DeviceWrites } from './devices.js';
import { checkBeforeUpdate, errnoOf, mkdirChain, notEmpty, procsOf, readTrim, unexpectedlyFrozen, writeAll, writeFile } from './fs.js';
import { cgroupRelPath, type CgroupHost } from './host.js';
import type { CgroupManager, CgroupMade, CgroupState } from './manager.js';
import type { LinuxResources } from './resources.js';
import { v1Stats, type CgroupStats } from './stats.js';
import { v1Writes } from './v1-files.js';

/** runc's ErrV1NoUnified, word for word: it names the field itself. */
export const V1_NO_UNIFIED = 'invalid configuration: cannot use unified on cgroup v1';

/** runc's cpusetCopyIfNeeded: an empty cpuset.cpus / cpuset.mems gets the parent's. */
function inheritCpuset(dir: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const file = path.join(dir, f);
    if ((readTrim(file) ?? '') !== '') continue;
    const parent = readTrim(path.join(path.dirname(dir), f)) ?? '';
    try {
      fs.writeFileSync(file, parent);
    } catch (e) {
      throw new TsrunError('ESYSTEM', `cannot copy ${f} ${JSON.stringify(parent)} from the parent into ${dir}: ${errnoOf(e)}`, {
        cause: e,
      });
    }
  }
}

/** dir, or its nearest ancestor that exists (at most up to the mount point). */
function nearestExisting(dir: string, mount: string): string {
  let d = dir;
  while (d !== mount && d.startsWith(`${mount}/`) && !fs.existsSync(d)) d = path.dirname(d);
  return d;
}

export class V1Manager implements CgroupManager {
  readonly state: CgroupState;
  readonly v2Dir = null;
  constructor(
    private readonly host: CgroupHost,
    cgroupsPath: string | undefined,
    id: string,
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

  create(): string[] {
    this.madeDirs = [];
    const cpuset = this.state.paths.cpuset;
    for (const dir of this.dirs()) {
      const mount = this.mountOf(dir);
      // runc's cpusetEnsureParent: a cpuset cgroup with empty cpus or mems can
      // take no task and give its children nothing, so every ancestor on the
      // way down, new or not, gets its parent's (top down). The leaf is left
      // to apply(): the config's cpus/mems first, the parent's only if unset.
      if (dir === cpuset) {
        let d = mount;
        for (const part of path.relative(mount, dir).split('/').filter(Boolean).slice(0, -1)) {
          this.madeDirs.push(...mkdirChain(d, part));
          d = path.join(d, part);
          inheritCpuset(d);
        }
      }
      this.madeDirs.push(...mkdirChain(mount, path.relative(mount, dir)));
    }
    return this.owned();
  }

  /** What create() made, top first per hierarchy (null: create() has not run). */
  private madeDirs: string[] | null = null;

  owned(): string[] {
    return this.dirs().filter((d) => this.madeDirs?.includes(d));
  }

  made(): CgroupMade {
    return { dirs: [...(this.madeDirs ?? [])] };
  }

  check(r: LinuxResources): string[] {
    if (r.unified && Object.keys(r.unified).length) throw new ConfigError('', V1_NO_UNIFIED);
    const frozen = this.frozenAt();
    if (frozen) throw unexpectedlyFrozen(frozen.dir, frozen.file, frozen.value, frozen.thaw);
    return notEmpty(new Set(this.dirs().flatMap((d) => procsOf(d))).size);
  }

  /**
   * The cgroup that would hold the init frozen: the container's freezer cgroup
   * or, if it is not there yet, the nearest ancestor (a new cgroup inherits its
   * parent's FROZEN), named where it was frozen itself; on hybrid hosts also
   * the unified directory's cgroup.freeze.
   */
  private frozenAt(): { dir: string; file: string; value: string; thaw: string } | null {
    const f = this.state.paths.freezer;
    if (f) {
      const mount = this.mountOf(f);
      let d = nearestExisting(f, mount);
      const state = readTrim(path.join(d, 'freezer.state'));
      if (state === 'FROZEN' || state === 'FREEZING') {
        // freezer.self_freezing 0: frozen through an ancestor, which is the one to thaw
        while (readTrim(path.join(d, 'freezer.self_freezing')) === '0' && d !== mount) d = path.dirname(d);
        return { dir: d, file: 'freezer.state', value: readTrim(path.join(d, 'freezer.state')) ?? state, thaw: 'THAWED' };
      }
    }
    const u = this.state.paths[''];
    if (u && this.host.v2Mount) {
      for (let d = nearestExisting(u, this.host.v2Mount); ; d = path.dirname(d)) {
        if (readTrim(path.join(d, 'cgroup.freeze')) === '1') return { dir: d, file: 'cgroup.freeze', value: '1', thaw: '0' };
        if (d === this.host.v2Mount || !d.startsWith(this.host.v2Mount)) break;
      }
    }
    return null;
  }

  apply(r: LinuxResources, opts: { update?: boolean } = {}): void {
    if (r.unified && Object.keys(r.unified).length) throw new ConfigError('', V1_NO_UNIFIED);
    const memDir = this.state.paths.memory;
    if (opts.update && memDir) checkBeforeUpdate(r, readTrim(path.join(memDir, 'memory.usage_in_bytes')));
    const limitNow = memDir ? readTrim(path.join(memDir, 'memory.limit_in_bytes')) : null;
    const writes = v1Writes(r, {
      limit: limitNow === null ? Infinity : Number(limitNow),
      memsw: !memDir || fs.existsSync(path.join(memDir, 'memory.memsw.limit_in_bytes')),
    });
    for (const w of writes) {
      if (!this.state.paths[w.controller])
        throw new ConfigError(w.field, `the ${w.controller} cgroup controller is not mounted on this host (cgroup v1)`);
    }
    const dirOf = (w: { controller: string }) => this.state.paths[w.controller]!;
    for (const w of writes) {
      // without CFQ the weight lives in BFQ's files; with neither, runc ignores it too
      if (w.file === 'blkio.weight' || w.file === 'blkio.weight_device') {
        const bfq = w.file.replace('blkio.', 'blkio.bfq.');
        if (!fs.existsSync(path.join(dirOf(w), w.file)) && fs.existsSync(path.join(dirOf(w), bfq))) w.file = bfq;
        w.optional = true;
      }
    }
    writeAll(writes, dirOf);
    // a cpuset the config leaves unset inherits its parent's, after the config's were written (runc's order)
    const cpusetDir = this.state.paths.cpuset;
    if (cpusetDir && !opts.update) inheritCpuset(cpusetDir);
    const devDir = this.state.paths.devices;
    if (!opts.update || r.devices) {
      if (!devDir) {
        if (r.devices?.length)
          throw new ConfigError('linux.resources.devices', 'the devices cgroup controller is not mounted on this host (cgroup v1)');
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
      return {
        mountPoint: h.mountPoint,
        name: h.name,
        cgroupPath: path.relative(h.mountPoint, dir) ? `/${path.relative(h.mountPoint, dir)}` : '/',
      };
    });
  }
}
