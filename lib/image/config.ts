/**
 * A container's config.json from an image and what the caller asks: the
 * starter config (`tsrun spec`'s, rootless when we are), the image config's
 * Entrypoint, Cmd, Env, WorkingDir and User over it, then the caller's
 * partial config over both (objects merged key by key, arrays and values
 * replaced).
 */
import { defaultSpec, toRootless } from '../config/default-spec.js';
import type { Spec } from '../config/types.js';
import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';

/** The image config (image-spec config.md): what tsrun reads of it. */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs?: { type: string; diff_ids: string[] };
}

/** Every field optional, all the way down: a config to merge over the defaults. */
export type DeepPartial<T> = T extends (infer E)[] ? E[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type SpecOverrides = DeepPartial<Spec>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` merged into `base`: objects key by key, anything else (arrays too) replaced; `undefined` leaves a value, `null` removes it. */
export function mergeConfig<T>(base: T, over: unknown): T {
  if (!isObject(over) || !isObject(base)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    if (v === null) delete out[k];
    else out[k] = mergeConfig(out[k], v);
  }
  return out as T;
}

/** A text file's content as the image's layers show it (uppermost first), read beneath each layer's root. */
export function readInLayers(native: Pick<NativeBinding, 'readInRoot'>, layers: readonly string[], file: string): string | null {
  for (const dir of layers) {
    let text: string | null = null;
    try {
      text = native.readInRoot(dir, file, 1 << 20);
    } catch {
      text = null; // a whiteout (a device), or not there
    }
    if (text !== null) return text;
  }
  return null;
}

interface IdFiles {
  passwd: string | null;
  group: string | null;
}

/** A passwd/group field by name or number: [uid|gid, home]. */
function lookup(text: string | null, name: string, idField: number): string[] | null {
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f[0] === name || (f[idField] === name && /^\d+$/.test(name))) return f;
  }
  return null;
}

/** The image's User ("name", "uid", "name:group", "uid:gid") as ids, names looked up in its /etc/passwd and /etc/group; and the user's HOME. */
export function resolveUser(user: string, files: IdFiles, what: string): { uid: number; gid: number; home: string | null } {
  const [u = '', g] = user.split(':', 2);
  const pw = u === '' ? lookup(files.passwd, '0', 2) : lookup(files.passwd, u, 2);
  let uid: number;
  if (/^\d+$/.test(u)) uid = Number(u);
  else if (u === '') uid = 0;
  else if (pw) uid = Number(pw[2]);
  else throw new TsrunError('EIMAGE', `${what}: user ${JSON.stringify(u)} is not in the image's /etc/passwd`);
  let gid: number;
  if (g === undefined) gid = pw ? Number(pw[3]) : 0;
  else if (/^\d+$/.test(g)) gid = Number(g);
  else {
    const gr = lookup(files.group, g, 2);
    if (!gr) throw new TsrunError('EIMAGE', `${what}: group ${JSON.stringify(g)} is not in the image's /etc/group`);
    gid = Number(gr[2]);
  }
  return { uid, gid, home: pw?.[5] || null };
}

export interface SpecFromImage {
  config: ImageConfig | null;
  /** The image's layer dirs, uppermost first (for its /etc/passwd). */
  layers: readonly string[];
}

/**
 * The config.json of a clean container: `rootfs` its root, writable; no
 * terminal (the API's stdio are pipes or files; ask for `terminal: true`
 * with a console socket).
 */
export function buildSpec(
  native: Pick<NativeBinding, 'readInRoot'>,
  image: SpecFromImage | null,
  overrides: SpecOverrides | undefined,
  opts: { rootfs: string; hostname: string; rootless: boolean; what: string },
): Spec {
  let spec = defaultSpec();
  if (opts.rootless) spec = toRootless(spec, process.geteuid!(), process.getegid!());
  spec.root = { path: opts.rootfs, readonly: false };
  spec.hostname = opts.hostname;
  const proc = spec.process!;
  proc.terminal = false;
  const env = new Map((proc.env ?? []).map((e) => [e.split('=', 1)[0]!, e] as const));
  const ic = image?.config?.config;
  if (ic) {
    const args = [...(ic.Entrypoint ?? []), ...(ic.Cmd ?? [])];
    if (args.length) proc.args = args;
    for (const e of ic.Env ?? []) env.set(e.split('=', 1)[0]!, e);
    if (ic.WorkingDir) proc.cwd = ic.WorkingDir;
  }
  // the user and HOME from the image's own files, before the caller's overrides
  const files = (): IdFiles => ({
    passwd: image ? readInLayers(native, image.layers, '/etc/passwd') : null,
    group: image ? readInLayers(native, image.layers, '/etc/group') : null,
  });
  let home: string | null = null;
  if (ic?.User) {
    const u = resolveUser(ic.User, files(), opts.what);
    proc.user = { uid: u.uid, gid: u.gid };
    home = u.home;
  }
  proc.env = [...env.values()];
  spec = mergeConfig(spec, overrides);
  // HOME where neither the image nor the caller set one (the runtime's own default reads a rootfs that is not mounted yet)
  const p = spec.process;
  if (p && !(p.env ?? []).some((e) => e.startsWith('HOME='))) {
    if (p.user.uid !== (proc.user.uid ?? 0) || home === null) home = lookup(files().passwd, String(p.user.uid), 2)?.[5] || null;
    p.env = [...(p.env ?? []), `HOME=${home ?? '/'}`];
  }
  return spec;
}
