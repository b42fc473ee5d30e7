/** Failure text without what changes from run to run (temp dirs, container ids,
 * log timestamps), for reports and baselines that are committed. */
export function stableReason(s: string, max = 400): string {
  return s
    .replace(/\/[\w./-]*\/spec-tests-[^/\s]+\/case-\d+/g, '…')
    .replace(/st-[a-z0-9]+-([a-z]+)-\d+(\.\d+)?/g, '<$1-id>')
    .replace(/time="[^"]*" /g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, max);
}
