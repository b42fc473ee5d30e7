/**
 * Images for clean containers: loaded from disk or pulled from a registry
 * into one content-addressed cache (lib/image/store.ts), each layer
 * unpacked once.
 *
 * ```ts
 * const images = new Images();
 * const busybox = await images.load('docker-archive:/tmp/busybox.tar');
 * const alpine = await images.pull('127.0.0.1:5000/alpine:3');
 * ```
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { TsrunError } from '../errors.js';
import { loadBinding, type NativeBinding } from '../native/binding.js';
import type { ImageConfig } from './config.js';
import { loadArchive, loadLayout, recordImage } from './load.js';
import { parseImageRef, pullImage, type PullOptions } from './registry.js';
import { defaultImageDir, ImageStore, type StoredImage } from './store.js';

export type { ImageConfig, SpecOverrides, DeepPartial } from './config.js';
export type { PullOptions } from './registry.js';

/** An image ready to run: its config and its layers, unpacked. */
export interface Image {
  /** The digest of its config (the image ID). */
  readonly id: string;
  readonly manifestDigest: string;
  /** What it was asked for as ("busybox:latest", "oci:/path"). */
  readonly name: string;
  readonly config: ImageConfig;
  /** Its layers' directories, bottom first. */
  readonly layers: readonly string[];
  /** The cache it lives in. */
  readonly store: ImageStore;
}

export interface ImagesOptions {
  /** The cache directory (default /var/lib/tsrun/images for root, ~/.local/share/tsrun/images otherwise; $TSRUN_IMAGES). */
  dir?: string;
  /** Unpack as an unprivileged user would (default: when not root). */
  rootless?: boolean;
  native?: NativeBinding;
  onWarning?: (message: string) => void;
}

/** Where an image comes from, as a string: a transport prefix, else a registry reference. */
const TRANSPORTS = ['oci:', 'oci-archive:', 'docker-archive:', 'docker://'] as const;

export class Images {
  readonly store: ImageStore;

  constructor(opts: ImagesOptions = {}) {
    this.store = new ImageStore(opts.dir ?? defaultImageDir(), opts.native ?? loadBinding(), {
      rootless: opts.rootless,
      warn: opts.onWarning,
    });
  }

  /**
   * An image from disk: `oci:DIR[:NAME]` (an OCI layout; NAME its
   * org.opencontainers.image.ref.name), `oci-archive:FILE[:NAME]`,
   * `docker-archive:FILE[:NAME]` (`docker save`, `podman save`), or a bare
   * path (a directory: an OCI layout; a file: either archive).
   */
  async load(source: string): Promise<Image> {
    const { kind, file, name, canonical } = fromDisk(source);
    const stored = kind === 'oci:' ? await loadLayout(this.store, file, name) : await loadArchive(this.store, file, name);
    this.store.tag(canonical, stored.id);
    return this.ready(stored, canonical);
  }

  /** An image from a registry (OCI distribution API): `host[:port]/repo[:tag|@digest]`, `docker://…`, or Docker Hub's short names. */
  async pull(ref: string, opts: PullOptions = {}): Promise<Image> {
    const text = ref.startsWith('docker://') ? ref.slice('docker://'.length) : ref;
    const pulled = await pullImage(parseImageRef(text), this.store, opts);
    const stored = recordImage(this.store, pulled.manifestDigest, `image ${text}`);
    this.store.tag(text, stored.id);
    return this.ready(stored, text);
  }

  /**
   * An image by name: one loaded or pulled before under that name (no
   * network), else loaded (a transport prefix or a path) or pulled.
   */
  async get(name: string, opts: PullOptions = {}): Promise<Image> {
    const [kind] = splitTransport(name);
    const onDisk = (kind !== null && kind !== 'docker://') || (kind === null && (name.startsWith('/') || name.startsWith('.')));
    // a path names what is there now: the same text from another directory is another image
    const text = onDisk ? fromDisk(name).canonical : name.startsWith('docker://') ? name.slice('docker://'.length) : name;
    const known = this.store.lookup(text);
    if (known && known.layers.every((l) => fs.existsSync(this.store.layerDir(l.diffId)))) return this.ready(known, text);
    return onDisk ? this.load(name) : this.pull(name, opts);
  }

  private async ready(stored: StoredImage, name: string): Promise<Image> {
    const layers: string[] = [];
    for (const l of stored.layers) layers.push(await this.store.unpack(l));
    const config = this.store.readJson<ImageConfig>(stored.id, `image ${name}: config`);
    return { id: stored.id, manifestDigest: stored.manifestDigest, name, config, layers, store: this.store };
  }
}

/** A source on disk: its transport, its absolute path, the image it names in it, and the name all that makes. */
function fromDisk(source: string): {
  kind: 'oci:' | 'oci-archive:' | 'docker-archive:';
  file: string;
  name: string | undefined;
  canonical: string;
} {
  const [given, rest] = splitTransport(source);
  if (given === 'docker://') throw new TsrunError('EUSAGE', `${source}: a registry reference: use pull()`);
  const [file, name] = splitName(rest);
  const kind = given ?? (fs.statSync(file).isDirectory() ? 'oci:' : 'docker-archive:');
  const abs = path.resolve(file);
  return { kind, file: abs, name, canonical: `${kind}${abs}${name !== undefined ? `:${name}` : ''}` };
}

function splitTransport(source: string): [(typeof TRANSPORTS)[number] | null, string] {
  for (const t of TRANSPORTS) if (source.startsWith(t)) return [t, source.slice(t.length)];
  return [null, source];
}

/** "FILE:NAME" → [FILE, NAME]; a path's own colons are kept when what follows is not a name. */
function splitName(rest: string): [string, string | undefined] {
  const i = rest.lastIndexOf(':');
  if (i > 0 && !rest.slice(i + 1).includes('/') && !fs.existsSync(rest)) return [rest.slice(0, i), rest.slice(i + 1)];
  return [rest, undefined];
}
