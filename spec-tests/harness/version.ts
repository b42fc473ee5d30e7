/** SemVer ordering for spec versions such as `1.0.2-dev` or `1.1.0-rc.2`. */
export function compareVersions(a: string, b: string): number {
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (pa.nums[i] ?? 0) - (pb.nums[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  // A pre-release sorts before the release itself.
  if (pa.pre && !pb.pre) return -1;
  if (!pa.pre && pb.pre) return 1;
  return pa.pre < pb.pre ? -1 : pa.pre > pb.pre ? 1 : 0;
}

function parse(v: string): { nums: number[]; pre: string } {
  const [core = '', ...rest] = v.trim().replace(/^v/, '').split('-');
  return { nums: core.split('.').map((n) => Number.parseInt(n, 10) || 0), pre: rest.join('-') };
}

export function isSemver(v: string): boolean {
  return /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(v);
}
