/** TAP 13 output. Known failures from a baseline are marked `# TODO`, which
 * TAP consumers treat as expected failures. */
import type { CaseResult } from './types.js';

export function tapHeader(total: number): string {
  return `TAP version 13\n1..${total}\n`;
}

export function tapLine(r: CaseResult, n: number, knownReason?: string): string {
  const desc = `${r.id}`;
  if (r.status === 'pass') return `ok ${n} - ${desc}\n`;
  if (r.status === 'skip') return `ok ${n} - ${desc} # SKIP ${oneLine(r.reason)}\n`;
  const todo = knownReason !== undefined ? ` # TODO known failure (baseline): ${oneLine(knownReason)}` : '';
  return (
    `not ok ${n} - ${desc}${todo}\n` +
    '  ---\n' +
    `  clause: ${yamlString(`${r.clause.doc}${r.clause.anchor} (${r.clause.level}) ${r.clause.text}`)}\n` +
    `  details: ${yamlString(r.reason)}\n` +
    '  ...\n'
  );
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function yamlString(s: string): string {
  return JSON.stringify(oneLine(s));
}
