/** Small helpers shared by the case files: clause builders and host-side checks. */
import * as fs from 'node:fs';
import type { Container } from '../harness/context.js';
import { describe, sleep, type ExecResult } from '../harness/exec.js';
import { scaled } from '../harness/timing.js';
import { fail, type Case, type Clause, type Level } from '../harness/types.js';

/** How long container programs that must outlive a case sleep (they are killed at cleanup). */
export const LONG_MS = '600000';
/** wait-signal timeout, in seconds. */
export const LONG_S = '600';

const clause =
  (doc: string) =>
  (anchor: string, text: string, level: Level = 'MUST'): Clause => ({ doc, anchor, text, level });

export const runtimeMd = clause('runtime.md');
export const configMd = clause('config.md');
export const linuxMd = clause('config-linux.md');
export const runtimeLinuxMd = clause('runtime-linux.md');
export const featuresMd = clause('features.md');
export const featuresLinuxMd = clause('features-linux.md');
/** runc-compatible CLI behaviour that engines depend on (not part of the OCI spec). */
export const cli = (anchor: string, text: string): Clause => ({ doc: 'runc-cli', anchor, text, level: 'CLI' });

export function def(id: string, c: Clause, run: Case['run'], extra: Partial<Case> = {}): Case {
  return { id, clause: c, run, ...extra };
}

/** The command must have failed (non-zero exit, not a timeout). */
export function expectError(r: ExecResult, what: string): void {
  if (r.timedOut) fail(`${what}: runtime timed out instead of reporting an error: ${describe(r)}`);
  if (r.code === 0) fail(`${what}: runtime exited 0, an error was required (${describe(r)})`);
}

export function expectOk(r: ExecResult, what: string): void {
  if (r.code !== 0) fail(`${what} failed: ${describe(r)}`);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const KERNEL_NS: Record<string, string> = { network: 'net', mount: 'mnt' };

export function nsLink(pid: number | 'self', type: string): string {
  return fs.readlinkSync(`/proc/${pid}/ns/${KERNEL_NS[type] ?? type}`);
}

export async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + scaled(timeoutMs);
  while (Date.now() < deadline) {
    if (cond()) return true;
    await sleep(20);
  }
  return cond();
}

/** The container must still be in `status`, with the same pid if it had one. */
export async function expectUnchanged(c: Container, status: string, pid?: number): Promise<void> {
  const s = await c.state();
  if (s.json?.status !== status) fail(`container changed: status is ${String(s.json?.status)} (want ${status})`);
  if (pid !== undefined) {
    if (s.json?.pid !== pid) fail(`container changed: pid is ${String(s.json?.pid)} (was ${pid})`);
    if (!pidAlive(pid)) fail(`container process ${pid} is gone`);
  }
}

export function readIf(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** A probe value must be `errno:<want>`; the failure shows what was seen instead. */
export function expectErrno(value: string, want: string, what: string): void {
  if (value !== `errno:${want}`) fail(`${what}: expected errno ${want}, got ${value.startsWith('errno:') ? value.slice(6) : value}`);
}
