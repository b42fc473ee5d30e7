/**
 * Waiting in tests: for a condition, never for a time. A wait polls what it
 * stands for (a status, a file, a line of output, a process gone, a signal
 * handler installed) until it holds or a generous bound passes. On a loaded
 * 2-CPU machine a step may take many times what it takes on an idle one; the
 * bound decides only how long a real failure takes to be reported, so it is
 * far beyond any wait that ends, and well inside ava's 120 s timeout.
 * TSRUN_TEST_TIME_SCALE stretches every bound (the cgroup2 suite sets 8:
 * every process start is slow under TCG).
 *
 * What cannot be waited for is a negative ("the counter stands still",
 * "TERM was ignored"): `holdsFor` watches it for a stated time instead.
 */

export const TIME_SCALE = Number(process.env.TSRUN_TEST_TIME_SCALE ?? 1) || 1;

/** The default bound of a wait, before scaling. */
export const WAIT_MS = 30_000;

/** `ms` stretched by TSRUN_TEST_TIME_SCALE. */
export const scaled = (ms: number): number => Math.round(ms * TIME_SCALE);

let sleeper: Int32Array | undefined;

/** Blocks the thread for `ms` without spawning a process (sync tests only: no event is handled meanwhile). */
function block(ms: number): void {
  Atomics.wait((sleeper ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, ms);
}

/**
 * Polls `cond` every `stepMs` until it is true; false if it was not within
 * `ms` (scaled). The last look comes after the deadline, so a condition that
 * became true while the machine was too busy to poll still counts.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = WAIT_MS, stepMs = 50): Promise<boolean> {
  for (const end = Date.now() + scaled(ms); Date.now() < end;) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}

/** `waitFor` for synchronous tests: blocks between the polls. */
export function waitForSync(cond: () => boolean, ms = WAIT_MS, stepMs = 20): boolean {
  for (const end = Date.now() + scaled(ms); Date.now() < end;) {
    if (cond()) return true;
    block(stepMs);
  }
  return cond();
}

/** `waitFor` that throws, naming what it waited for, when the bound passes. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = WAIT_MS, stepMs = 50): Promise<void> {
  if (!(await waitFor(cond, ms, stepMs))) throw new Error(`timed out after ${scaled(ms)} ms waiting for ${what}`);
}

/**
 * True if `cond` held at every look for `ms` (not scaled: a longer look
 * proves no more). For what must not happen, where there is no event to
 * wait for; false at the first look that fails.
 */
export async function holdsFor(cond: () => boolean | Promise<boolean>, ms: number, stepMs = 50): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (!(await cond())) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}
