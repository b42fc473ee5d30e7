/** cgroupfs plumbing shared by the v1 and v2 backends (synchronous: cgroupfs never blocks long). */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError, TsrunError } from '../errors.js';
import { loadBinding, type NativeBinding } from '../native/binding.js';
import { fromHost } from '../native/host.js';
import type { CgroupState } from './manager.js';
import type { CgroupWrite, LinuxResources } from './resources.js';

function op(name: Parameters<NativeBinding['cgroupOp']>[0], cg: CgroupState): unknown {
  try {
    return loadBinding().cgroupOp(name, cg);
  } catch (e) {
    throw fromHost(e);
  }
}

/**
 * native/host/cgroup.c on a recorded cgroup (the front binary runs the same
 * code). Signalling every process and removing the cgroup are not here: they
 * depend on which directories the container owns, which native/host decides
 * in one place (members.c and cgroup.c, through kill --all and delete).
 */
export const hostCgroup = {
  freeze: (cg: CgroupState) => void op('freeze', cg),
  thaw: (cg: CgroupState) => void op('thaw', cg),
  frozen: (cg: CgroupState) => op('frozen', cg) as boolean,
  pids: (cg: CgroupState) => op('pids', cg) as number[],
};

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function readTrim(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

export function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

export function writeFile(dir: string, w: CgroupWrite): void {
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
export function subtreeDeepestFirst(dir: string): string[] {
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

export function procsOf(dir: string): number[] {
  const out: number[] = [];
  for (const d of subtreeDeepestFirst(dir)) {
    const text = readTrim(path.join(d, 'cgroup.procs'));
    if (text) for (const l of text.split('\n')) if (l) out.push(Number(l));
  }
  return out;
}

export function rmdirRetry(dirs: string[]): void {
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

export function trySignal(pid: number, signal: number): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* exited meanwhile */
  }
}

/** Creates the directory chain; returns the directories it created (top first). */
export function mkdirChain(base: string, rel: string): string[] {
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

/** memory.checkBeforeUpdate: refuse a limit below what the cgroup uses now. */
export function checkBeforeUpdate(r: LinuxResources, usage: string | null): void {
  const m = r.memory;
  if (!m?.checkBeforeUpdate || !m.limit || m.limit < 0 || usage === null) return;
  if (m.limit < Number(usage))
    throw new ConfigError('linux.resources.memory.limit', `${m.limit} is below the current usage ${usage} (checkBeforeUpdate)`);
}

/** A failed create: what it made goes, deepest first; a process in there is ours (it was made just now). */
export function removeMade(made: string[]): void {
  for (let i = 0; i < 200 && made.some((d) => procsOf(d).length); i++) {
    for (const d of made) for (const pid of procsOf(d)) trySignal(pid, 9);
    sleepSync(10);
  }
  rmdirRetry([...made].reverse());
}

/** runc's check before create: an init in a frozen cgroup could never report back. */
export function unexpectedlyFrozen(dir: string, file: string, value: string, thaw: string): TsrunError {
  return new TsrunError(
    'ESTATE',
    `container's cgroup unexpectedly frozen: ${dir} (${file} is ${value}; thaw it first: echo ${thaw} > ${path.join(dir, file)})`,
  );
}

/** runc's warning (word for word) when the container's cgroup already holds processes. */
export function notEmpty(pids: number): string[] {
  return pids ? [`container's cgroup is not empty: ${pids} process(es) found`] : [];
}
