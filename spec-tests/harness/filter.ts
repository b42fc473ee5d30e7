/** `--filter` patterns: a glob (`*`, `?`) matched against the whole case id,
 * or else a prefix (`lifecycle`, `lifecycle::`, `state::pid`). Comma-separated
 * patterns are alternatives; a leading `!` excludes. */
import type { Case } from './types.js';

export function selectCases(cases: Case[], patterns: string[]): Case[] {
  const all = patterns
    .flatMap((p) => p.split(','))
    .map((p) => p.trim())
    .filter(Boolean);
  const include = all.filter((p) => !p.startsWith('!'));
  const exclude = all.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  return cases.filter((c) => (include.length === 0 || include.some((p) => matches(c.id, p))) && !exclude.some((p) => matches(c.id, p)));
}

export function matches(id: string, pattern: string): boolean {
  if (/[*?]/.test(pattern)) {
    const re = new RegExp(
      `^${pattern
        .split('')
        .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('')}$`,
    );
    return re.test(id);
  }
  return id.startsWith(pattern);
}
