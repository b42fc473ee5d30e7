/**
 * One layer tarball (gzip, zstd or plain) unpacked into a directory an
 * overlayfs can stack: whiteouts become overlay whiteouts, opaque markers
 * the opaque xattr; owners, modes, times and xattrs kept.
 *
 * A layer is hostile input. node-tar parses it; every entry is then made by
 * the addon's layer writer (native/host/layer.c), which resolves each path
 * beneath the layer's root without following a symlink or crossing a
 * mount: an entry that names `..`, or that lies through a symlink an
 * earlier entry made (`evil -> /etc`, then `evil/passwd`), fails the whole
 * layer, and nothing of it is kept.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';

import { Parser, type ReadEntry } from 'tar';

import { TsrunError } from '../errors.js';
import type { LayerEntry, NativeBinding } from '../native/binding.js';

export interface UnpackReport {
  /** sha256 of the uncompressed tar: what the image config's rootfs.diff_ids says it must be. */
  diffId: string;
  /** What was left out (device nodes unprivileged, xattrs the tar library could not hand over intact). */
  warnings: string[];
}

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];

/** The blob's bytes, uncompressed (by its magic number, not what a manifest claims). */
export async function* uncompressed(file: string): AsyncGenerator<Buffer> {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const head = Buffer.alloc(4);
  const n = fs.readSync(fd, head, 0, 4, 0);
  const is = (magic: number[]) => n >= magic.length && magic.every((b, i) => head[i] === b);
  const raw = fs.createReadStream('', { fd, highWaterMark: 1 << 20 });
  if (is(GZIP)) yield* raw.pipe(zlib.createGunzip({ chunkSize: 1 << 18 }));
  else if (is(ZSTD)) yield* zstd(raw);
  else yield* raw;
}

/** zstd: Node's own where it has one (22.15+), else fzstd (pure JavaScript). */
async function* zstd(raw: Readable): AsyncGenerator<Buffer> {
  const native = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
  if (native) {
    yield* raw.pipe(native()) as unknown as AsyncIterable<Buffer>;
    return;
  }
  const { Decompress } = await import('fzstd');
  const out: Buffer[] = [];
  const d = new Decompress((chunk) => out.push(Buffer.from(chunk)));
  for await (const c of raw) {
    d.push(c as Buffer);
    yield* out.splice(0);
  }
  d.push(new Uint8Array(0), true);
  yield* out.splice(0);
}

/** A tar path as a path below the layer's root ('' for the root); `..` is refused. */
function below(raw: string, what: string): string {
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new TsrunError('EIMAGE', `hostile layer: ${what} ${JSON.stringify(raw)} climbs out of the layer with ".."`);
  return parts.join('/');
}

/**
 * SCHILY.xattr.* records of a PAX header, as node-tar hands the header over
 * (decoded as UTF-8: a binary value that is not valid UTF-8 comes back
 * mangled, and is left out with a warning rather than written wrong).
 */
function paxXattrs(text: string, warnings: string[]): Record<string, Buffer> | undefined {
  const buf = Buffer.from(text, 'utf8');
  const out: Record<string, Buffer> = {};
  let any = false;
  for (let off = 0; off < buf.length;) {
    const sp = buf.indexOf(0x20, off);
    const len = sp > off ? Number(buf.toString('latin1', off, sp)) : NaN;
    if (!Number.isInteger(len) || len <= 0 || off + len > buf.length) break;
    const rec = buf.subarray(sp + 1, off + len - 1); // "key=value" without the newline
    off += len;
    const eq = rec.indexOf(0x3d);
    const key = rec.toString('utf8', 0, eq);
    if (eq < 0 || !key.startsWith('SCHILY.xattr.')) continue;
    const name = key.slice('SCHILY.xattr.'.length);
    const value = rec.subarray(eq + 1);
    if (value.toString('utf8').includes('\ufffd')) {
      warnings.push(`xattr ${name}: a binary value the tar reader could not keep intact, left out`);
      continue;
    }
    // overlayfs' own attributes say what a layer hides: only whiteout entries may
    if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
      throw new TsrunError('EIMAGE', `hostile layer: an entry carries the overlay attribute ${name}`);
    }
    out[name] = Buffer.from(value);
    any = true;
  }
  return any ? out : undefined;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const TYPES: Record<string, LayerEntry['type']> = {
  Directory: 'dir',
  SymbolicLink: 'symlink',
  Link: 'hardlink',
  CharacterDevice: 'char',
  BlockDevice: 'block',
  FIFO: 'fifo',
};

/** Unpacks the layer blob at `file` into the empty directory `dir`. */
export async function unpackLayer(native: NativeBinding, file: string, dir: string, opts: { rootless: boolean }): Promise<UnpackReport> {
  const warnings: string[] = [];
  const overlayXattr = opts.rootless ? 'user' : 'trusted';
  const chown = !opts.rootless;
  const rootFd = native.layerRoot(dir);
  const hash = createHash('sha256');
  const dirTimes: [string, number][] = [];
  let skippedDevices = 0;
  let failure: unknown = null;
  let pendingXattrs: Record<string, Buffer> | undefined;
  let openFd = -1;
  const parser = new Parser({ strict: true });
  parser.on('error', (e: unknown) => (failure ??= e));
  parser.on('meta', (text: string) => {
    try {
      pendingXattrs = paxXattrs(text, warnings);
    } catch (e) {
      failure ??= e;
    }
  });
  parser.on('entry', (entry: ReadEntry) => {
    const xattrs = pendingXattrs;
    pendingXattrs = undefined;
    try {
      if (failure) throw failure;
      onEntry(entry, xattrs);
    } catch (e) {
      failure ??= e;
      entry.resume();
    }
  });

  const onEntry = (entry: ReadEntry, xattrs: Record<string, Buffer> | undefined) => {
    const rel = below(entry.path, 'entry');
    const base = {
      mode: (entry.mode ?? 0o644) & 0o7777,
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      mtime: (entry.mtime?.getTime() ?? 0) / 1000,
      chown,
      overlayXattr,
    } as const;
    const slash = rel.lastIndexOf('/');
    const name = rel.slice(slash + 1);
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    if (name.startsWith('.wh.')) {
      // the image spec's whiteouts: an opaque dir, or a name removed
      if (name === '.wh..wh..opq') {
        if (parent !== '') native.layerEntry(rootFd, { ...base, path: parent, type: 'opaque', mode: 0o755 });
      } else if (!name.startsWith('.wh..wh.')) {
        native.layerEntry(rootFd, { ...base, path: `${parent ? `${parent}/` : ''}${name.slice(4)}`, type: 'whiteout', mode: 0 });
      }
      entry.resume();
      return;
    }
    if (rel === '') {
      entry.resume(); // the layer's root is the container's "/": made by us
      return;
    }
    if (FILE_TYPES.has(entry.type)) {
      const e: LayerEntry = { ...base, path: rel, type: 'file', xattrs };
      const fd = native.layerEntry(rootFd, e);
      openFd = fd;
      entry.on('data', (chunk: Buffer) => {
        if (openFd < 0) return;
        try {
          for (let off = 0; off < chunk.length;) off += fs.writeSync(fd, chunk, off);
        } catch (err) {
          failure ??= err;
        }
      });
      entry.on('end', () => {
        openFd = -1;
        try {
          native.layerFinish(fd, e);
        } catch (err) {
          failure ??= err;
        }
      });
      return;
    }
    const type = TYPES[entry.type];
    if (!type) throw new TsrunError('EIMAGE', `layer entry ${JSON.stringify(entry.path)}: unsupported tar entry type ${entry.type}`);
    entry.resume();
    if ((type === 'char' || type === 'block') && opts.rootless) {
      skippedDevices++;
      return;
    }
    const linkname = type === 'hardlink' ? below(entry.linkpath ?? '', `hard link ${entry.path} to`) : entry.linkpath;
    native.layerEntry(rootFd, {
      ...base,
      path: rel,
      type,
      linkname,
      devmajor: entry.header.devmaj,
      devminor: entry.header.devmin,
      xattrs,
    });
    if (type === 'dir') dirTimes.push([rel, base.mtime]);
  };

  try {
    for await (const chunk of uncompressed(file)) {
      hash.update(chunk);
      parser.write(chunk);
      if (failure) throw failure;
    }
    await new Promise<void>((resolve) => {
      parser.on('close', resolve);
      parser.end();
    });
    if (failure) throw failure;
    // a directory's time last: writing its children changed it
    for (const [rel, mtime] of dirTimes) native.layerTimes(rootFd, rel, mtime);
  } catch (e) {
    if (e instanceof TsrunError) throw e;
    const err = e as Error & { code?: string };
    throw new TsrunError('EIMAGE', `layer ${file}: ${err.message}`, { cause: e });
  } finally {
    if (openFd >= 0) fs.closeSync(openFd);
    fs.closeSync(rootFd);
  }
  if (skippedDevices) warnings.push(`${skippedDevices} device node(s) left out: an unprivileged user cannot make them`);
  return { diffId: `sha256:${hash.digest('hex')}`, warnings };
}
