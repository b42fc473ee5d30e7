/** Parsing of tsrun-probe's `key=value` report lines. */
import { fail } from './types.js';

export class Report {
  readonly map = new Map<string, string>();

  constructor(readonly raw: string) {
    for (const line of raw.split('\n')) {
      const i = line.indexOf('=');
      if (i <= 0) continue;
      this.map.set(line.slice(0, i), line.slice(i + 1));
    }
  }

  get(key: string): string | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** The value, or a failure naming the missing key and showing the output. */
  need(key: string): string {
    const v = this.map.get(key);
    if (v === undefined) fail(`probe did not report ${key}; output: ${excerpt(this.raw)}`);
    return v;
  }

  /** Space-separated `k:v` attributes of a value (stat / statfs reports). */
  attrs(key: string): Record<string, string> {
    return parseAttrs(this.need(key));
  }

  /** A hex-encoded value, decoded. */
  text(key: string): string {
    return Buffer.from(this.need(key), 'hex').toString('utf8');
  }

  /** Keys with a prefix, in output order. */
  withPrefix(prefix: string): [string, string][] {
    return [...this.map.entries()].filter(([k]) => k.startsWith(prefix));
  }
}

export function parseAttrs(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(' ')) {
    const i = part.indexOf(':');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export function excerpt(s: string, max = 600): string {
  const t = s.trim().replace(/\n/g, ' | ');
  return t.length > max ? `${t.slice(0, max)}…` : t || '(empty)';
}

/** `errno:EPERM` → `EPERM`; anything else → undefined. */
export function errnoOf(v: string | undefined): string | undefined {
  return v?.startsWith('errno:') ? v.slice(6) : undefined;
}

export interface MountInfo {
  id: number;
  parent: number;
  /** major:minor of the filesystem (binds of one filesystem share it) */
  device: string;
  mountPoint: string;
  root: string;
  options: string[];
  optional: string[];
  fstype: string;
  source: string;
  superOptions: string[];
}

export function parseMountinfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    if (pre.length < 6) continue;
    out.push({
      id: Number(pre[0]),
      parent: Number(pre[1]),
      device: pre[2] ?? '',
      root: unescape(pre[3] ?? ''),
      mountPoint: unescape(pre[4] ?? ''),
      options: (pre[5] ?? '').split(','),
      optional: pre.slice(6),
      fstype: post[0] ?? '',
      source: post[1] ?? '',
      superOptions: (post[2] ?? '').split(','),
    });
  }
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mount visible at a path: the last mount in mountinfo order with that mount point. */
export function topMount(mounts: MountInfo[], mountPoint: string): MountInfo | undefined {
  return mounts.filter((m) => m.mountPoint === mountPoint).pop();
}
