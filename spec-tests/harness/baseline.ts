/**
 * Baselines: the known failures of one runtime, so CI fails only on a new
 * failure. A baseline file looks like
 *   { "runtime": "runc", "knownFailures": { "errors::delete-created": "why" } }
 */
import * as fs from 'node:fs';
import { stableReason } from './reason.js';
import type { CaseResult } from './types.js';

export interface Baseline {
  runtime?: string;
  note?: string;
  knownFailures: Record<string, string>;
}

export interface BaselineVerdict {
  /** Failed and not listed: these make the run fail. */
  regressions: CaseResult[];
  /** Failed and listed. */
  known: CaseResult[];
  /** Listed but passed (or were skipped) in this run: the baseline should be updated. */
  fixed: string[];
}

export function loadBaseline(file: string): Baseline {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Baseline>;
  if (!raw || typeof raw.knownFailures !== 'object' || raw.knownFailures === null) {
    throw new Error(`${file}: expected an object with "knownFailures": { "<case id>": "<reason>" }`);
  }
  return { ...raw, knownFailures: raw.knownFailures };
}

export function judge(results: CaseResult[], baseline: Baseline | undefined): BaselineVerdict {
  const listed = baseline?.knownFailures ?? {};
  const failed = results.filter((r) => r.status === 'fail');
  const ran = new Map(results.map((r) => [r.id, r.status]));
  return {
    regressions: failed.filter((r) => !(r.id in listed)),
    known: failed.filter((r) => r.id in listed),
    fixed: Object.keys(listed).filter((id) => ran.get(id) === 'pass'),
  };
}

/** Writes the failures of a run as a new baseline (keeping old reasons when still failing). */
export function writeBaseline(file: string, runtime: string, results: CaseResult[], previous?: Baseline): void {
  const knownFailures: Record<string, string> = {};
  for (const r of results.filter((x) => x.status === 'fail')) {
    knownFailures[r.id] = previous?.knownFailures[r.id] ?? stableReason(r.reason, 300);
  }
  const out: Baseline = {
    runtime,
    note: previous?.note ?? 'Known failures; a failing case not listed here fails the run. Regenerate with --write-baseline.',
    knownFailures,
  };
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
}
