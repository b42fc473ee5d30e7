/**
 * The image cache: content-addressed blobs, each layer unpacked once, and
 * the images they make up. One directory, private to its owner:
 *
 *   blobs/sha256/<hex>     manifests, configs and layer tarballs, by digest
 *   layers/<hex>/          a layer unpacked, named by its diff ID (the
 *                          sha256 of its uncompressed tar): an overlayfs
 *                          lower dir, whiteouts as overlay whiteouts
 *   images/<hex>.json      an image (by its config digest): its manifest
 *                          digest and layers, bottom first
 *   refs/<hex>.json        a name ("busybox:latest", "oci:/path") → image
 *   containers/<id>/       a clean container's writable layer and bundle
 *                          (lib/image/container.ts)
 *   tmp/                   what is being written; renamed into place
 *
 * Everything lands by rename(2) once complete and verified: a reader never
 * sees half a blob or half a layer, and two writers of the same thing
 * (two processes pulling one image) both succeed, one of them for nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import { unpackLayer, type UnpackReport } from './layer.js';
import type { BlobSink } from './registry.js';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** The hex of a sha256 digest, which is checked: it names files. */
export function digestHex(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new TsrunError('EUSAGE', `unsupported or malformed digest ${JSON.stringify(digest)} (only sha256:<64 hex> is supported)`);
  return m[1]!;
}

/** The default cache: /var/lib/tsrun/images for root, $XDG_DATA_HOME/tsrun/images (~/.local/share) for others. */
export function defaultImageDir(): string {
  if (process.env.TSRUN_IMAGES) return process.env.TSRUN_IMAGES;
  if (process.geteuid?.() === 0) return '/var/lib/tsrun/images';
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'tsrun', 'images');
}

/** An image as the store records it. */
export interface StoredImage {
  /** The config's digest: the image's ID. */
  id: string;
  manifestDigest: string;
  /** Layer blobs, bottom first, with the diff ID each must unpack to. */
  layers: { digest: string; mediaType: string; diffId: string; size?: number }[];
}

export class ImageStore implements BlobSink {
  readonly dir: string;
  /** Unpacking as an unprivileged user: owners are the caller's, overlay xattrs in user.* (overlayfs' userxattr). */
  readonly rootless: boolean;
  private readonly unpacking = new Map<string, Promise<string>>();

  constructor(
    dir: string,
    readonly native: NativeBinding,
    opts: { rootless?: boolean; warn?: (m: string) => void } = {},
  ) {
    this.dir = path.resolve(dir);
    this.rootless = opts.rootless ?? process.geteuid?.() !== 0;
    this.warn = opts.warn ?? (() => undefined);
    for (const d of ['', 'blobs/sha256', 'layers', 'images', 'refs', 'containers', 'tmp'])
      fs.mkdirSync(path.join(this.dir, d), { recursive: true, mode: 0o700 });
    fs.chmodSync(this.dir, 0o700);
  }

  private readonly warn: (m: string) => void;

  blobPath(digest: string): string {
    return path.join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  has(digest: string): boolean {
    return fs.existsSync(this.blobPath(digest));
  }

  /** A private name under tmp/ for something being written. */
  tmpPath(what: string): string {
    return path.join(this.dir, 'tmp', `${what}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Stores a blob whose digest is known: refused (and nothing kept) when the bytes or their size say otherwise. */
  async put(digest: string, body: AsyncIterable<Uint8Array>, size?: number): Promise<void> {
    const target = this.blobPath(digest);
    if (fs.existsSync(target)) {
      for await (const chunk of body) void chunk; // drained: the caller's stream ends
      return;
    }
    const got = await this.write(body);
    try {
      if (got.digest !== digest) throw new TsrunError('EIMAGE', `blob ${digest}: its content has digest ${got.digest}`);
      if (size !== undefined && got.size !== size)
        throw new TsrunError('EIMAGE', `blob ${digest}: ${got.size} bytes where ${size} were announced`);
      fs.renameSync(got.tmp, target);
    } finally {
      fs.rmSync(got.tmp, { force: true });
    }
  }

  /** Stores a blob and names it by its digest (a docker-archive's files). */
  async putUnknown(body: AsyncIterable<Uint8Array>): Promise<{ digest: string; size: number }> {
    const got = await this.write(body);
    try {
      const target = this.blobPath(got.digest);
      if (!fs.existsSync(target)) fs.renameSync(got.tmp, target);
    } finally {
      fs.rmSync(got.tmp, { force: true });
    }
    return { digest: got.digest, size: got.size };
  }

  private async write(body: AsyncIterable<Uint8Array>): Promise<{ tmp: string; digest: string; size: number }> {
    const w = this.blobWriter();
    try {
      for await (const chunk of body) w.write(chunk);
    } catch (e) {
      w.abort();
      throw e;
    }
    return w.close();
  }

  /**
   * A blob written piece by piece, synchronously (for a tar entry's data
   * events): close() says its digest and leaves it under tmp/, commit()
   * stores it under its digest.
   */
  blobWriter() {
    const tmp = this.tmpPath('blob');
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    const hash = createHash('sha256');
    let size = 0;
    let open = true;
    const blobPath = (digest: string) => this.blobPath(digest);
    return {
      write(chunk: Uint8Array) {
        hash.update(chunk);
        size += chunk.length;
        for (let off = 0; off < chunk.length;) off += fs.writeSync(fd, chunk, off);
      },
      close() {
        if (open) fs.closeSync(fd);
        open = false;
        return { tmp, digest: `sha256:${hash.digest('hex')}`, size };
      },
      /** Stored under its digest: which it returns. */
      commit(): { digest: string; size: number } {
        const got = this.close();
        const target = blobPath(got.digest);
        if (!fs.existsSync(target)) fs.renameSync(tmp, target);
        fs.rmSync(tmp, { force: true });
        return { digest: got.digest, size };
      },
      abort() {
        if (open) fs.closeSync(fd);
        open = false;
        fs.rmSync(tmp, { force: true });
      },
    };
  }

  /** A small blob (a manifest, a config) as JSON. */
  readJson<T = unknown>(digest: string, what: string): T {
    const text = fs.readFileSync(this.blobPath(digest), 'utf8');
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new TsrunError('EIMAGE', `${what} ${digest} is not JSON: ${(e as Error).message}`);
    }
  }

  /** The unpacked layer dir for a diff ID, when there is one. */
  layerDir(diffId: string): string {
    return path.join(this.dir, 'layers', digestHex(diffId));
  }

  /**
   * The layer `blob` unpacked (once: later calls, in this process or any
   * other, find it): its dir. The uncompressed tar must hash to `diffId`.
   */
  unpack(layer: { digest: string; diffId: string }): Promise<string> {
    const dir = this.layerDir(layer.diffId);
    if (fs.existsSync(dir)) return Promise.resolve(dir);
    let p = this.unpacking.get(layer.diffId);
    if (!p) {
      p = this.unpackOnce(layer, dir).finally(() => this.unpacking.delete(layer.diffId));
      this.unpacking.set(layer.diffId, p);
    }
    return p;
  }

  private async unpackOnce(layer: { digest: string; diffId: string }, dir: string): Promise<string> {
    const tmp = this.tmpPath('layer');
    fs.mkdirSync(tmp, { mode: 0o755 });
    let report: UnpackReport;
    try {
      report = await unpackLayer(this.native, this.blobPath(layer.digest), tmp, { rootless: this.rootless });
      if (report.diffId !== layer.diffId)
        throw new TsrunError(
          'EIMAGE',
          `layer ${layer.digest}: it unpacks to diff ID ${report.diffId}, the image config says ${layer.diffId}`,
        );
      try {
        fs.renameSync(tmp, dir);
      } catch (e) {
        // another process made it meanwhile: theirs is the same content
        if (!fs.existsSync(dir)) throw e;
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    for (const w of report.warnings) this.warn(`layer ${layer.digest}: ${w}`);
    return dir;
  }

  saveImage(image: StoredImage): void {
    this.writeJson(path.join(this.dir, 'images', `${digestHex(image.id)}.json`), image);
  }

  image(id: string): StoredImage | null {
    return this.readRecord<StoredImage>(path.join(this.dir, 'images', `${digestHex(id)}.json`));
  }

  /** Remembers that `name` is image `id`. */
  tag(name: string, id: string): void {
    this.writeJson(this.refPath(name), { name, id });
  }

  /** The image `name` stands for, if it was tagged here. */
  lookup(name: string): StoredImage | null {
    const ref = this.readRecord<{ name: string; id: string }>(this.refPath(name));
    return ref && ref.name === name ? this.image(ref.id) : null;
  }

  private refPath(name: string): string {
    return path.join(this.dir, 'refs', `${createHash('sha256').update(name).digest('hex')}.json`);
  }

  private writeJson(file: string, value: unknown): void {
    const tmp = this.tmpPath('record');
    fs.writeFileSync(tmp, JSON.stringify(value), { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, file);
  }

  private readRecord<T>(file: string): T | null {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
    } catch {
      return null;
    }
  }
}
