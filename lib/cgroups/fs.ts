/** cgroupfs plumbing shared by the v1 and v2 backends (synchronous: cgroupfs never blocks long). Killing and
 * removing are native/host's (cgroup.c), for delete and for a failed create alike. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError, TsrunError } from '../errors.js';
import type { CgroupWrite, LinuxResources } from './resources.js';

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

/** How a value reaches a cgroup file: the kernel's, unless a test injects its refusals. */
export type PutFile = (file: string, value: string) => void;

// r+: a missing file is ENOENT, not the EACCES of creating one in cgroupfs
const putCgroupFile: PutFile = (file, value) => fs.writeFileSync(file, value, { flag: 'r+' });

/** The write, or the error it met (none for a missing optional file). */
function attempt(dir: string, w: CgroupWrite, put: PutFile): unknown {
  try {
    put(path.join(dir, w.file), w.value);
    return null;
  } catch (e) {
    return errnoOf(e) === 'ENOENT' && w.optional ? null : e;
  }
}

/** The error a refused write is, naming the config field. */
function refused(dir: string, w: CgroupWrite, e: unknown): ConfigError {
  const code = errnoOf(e);
  if (code === 'ENOENT') return new ConfigError(w.field, `${w.file} does not exist in ${dir} (not supported by this kernel or controller)`);
  return new ConfigError(w.field, `cannot write ${JSON.stringify(w.value)} to ${path.join(dir, w.file)}: ${code}`);
}

export function writeFile(dir: string, w: CgroupWrite, put: PutFile = putCgroupFile): void {
  const e = attempt(dir, w, put);
  if (e) throw refused(dir, w, e);
}

/**
 * Writes in order, each in `dirOf(w)`. A write with `retryAfter` that the
 * kernel refuses with EINVAL is held and written again right after the
 * write to that file: its value was checked against what that write
 * changes (runc's order; a second refusal is final).
 */
export function writeAll(writes: readonly CgroupWrite[], dirOf: (w: CgroupWrite) => string, put: PutFile = putCgroupFile): void {
  const held: { w: CgroupWrite; e: unknown }[] = [];
  for (const [i, w] of writes.entries()) {
    const e = attempt(dirOf(w), w, put);
    if (e) {
      if (w.retryAfter && errnoOf(e) === 'EINVAL' && writes.slice(i + 1).some((x) => x.file === w.retryAfter)) {
        held.push({ w, e });
        continue;
      }
      throw refused(dirOf(w), w, e);
    }
    for (const h of held.filter((x) => x.w.retryAfter === w.file)) {
      held.splice(held.indexOf(h), 1);
      writeFile(dirOf(h.w), h.w, put);
    }
  }
  // (held only when the file it waits for comes later: none is left here)
  if (held.length) throw refused(dirOf(held[0]!.w), held[0]!.w, held[0]!.e);
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
