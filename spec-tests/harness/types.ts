/**
 * The vocabulary of the conformance suite: a case, the spec clause it checks,
 * and its outcome (Passed / Skipped(reason) / Failed(details)).
 */
import type { CaseContext } from './context.js';

/** How binding the checked sentence is. `CLI` marks runc-compatible command-line
 * behaviour that engines rely on but the OCI spec does not define. */
export type Level = 'MUST' | 'SHOULD' | 'CLI';

export interface Clause {
  /** Spec document, e.g. `runtime.md`, `config-linux.md`; or `runc-cli` for CLI-level cases. */
  doc: string;
  /** Anchor or section within the document, e.g. `#start`. */
  anchor: string;
  /** The sentence checked, shortened. */
  text: string;
  level: Level;
}

export interface Case {
  /** `area::name`, unique and stable (baselines refer to it). */
  id: string;
  clause: Clause;
  /** Spec version that introduced the checked field; the case is skipped when the
   * runtime's `features` reports a lower `ociVersionMax`. */
  since?: string;
  /** Why the case cannot be graded rootless (`--rootless`): it is then
   * Skipped with `rootless: <reason>`. Cases that can decide only at run time
   * call `ctx.requireRoot(reason)`. */
  rootless?: `skip: ${string}`;
  /** Overall time budget for the case, cleanup excluded. */
  timeoutMs?: number;
  /** Returns normally to pass; throws `skip()` / `fail()` (or anything else) otherwise. */
  run(ctx: CaseContext): Promise<void>;
}

export type Status = 'pass' | 'fail' | 'skip';

export interface CaseResult {
  id: string;
  area: string;
  status: Status;
  /** Skip reason or failure details; empty on pass. */
  reason: string;
  clause: Clause;
  durationMs: number;
}

export class SkipSignal extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'Skip';
  }
}

export class FailSignal extends Error {
  constructor(details: string) {
    super(details);
    this.name = 'Fail';
  }
}

/** Ends the case as Skipped; the reason must say what the host or runtime lacks. */
export function skip(reason: string): never {
  throw new SkipSignal(reason);
}

/** Ends the case as Failed with details a runtime author can act on. */
export function fail(details: string): never {
  throw new FailSignal(details);
}

export function check(cond: unknown, details: string): asserts cond {
  if (!cond) fail(details);
}

export function eq<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

export function areaOf(id: string): string {
  const i = id.indexOf('::');
  return i < 0 ? id : id.slice(0, i);
}

export function summarize(results: CaseResult[]): { passed: number; failed: number; skipped: number } {
  return {
    passed: results.filter((r) => r.status === 'pass').length,
    failed: results.filter((r) => r.status === 'fail').length,
    skipped: results.filter((r) => r.status === 'skip').length,
  };
}
