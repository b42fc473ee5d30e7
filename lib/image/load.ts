/**
 * Images from disk into the store: an OCI image layout directory (`skopeo
 * copy … oci:DIR`, `podman save --format oci-dir`), or an archive: a
 * docker-archive (`docker save`, `podman save`; manifest.json) or an
 * oci-archive (a layout in a tar). Every blob is stored under the digest of
 * its own bytes, so what a manifest names is what it gets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Parser, type ReadEntry } from 'tar';

import { TsrunError } from '../errors.js';
import type { ImageConfig } from './config.js';
import { uncompressed } from './layer.js';
import { digestHex, type ImageStore, type StoredImage } from './store.js';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
} as const;

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

interface Index {
  mediaType?: string;
  manifests?: Descriptor[];
}

interface Manifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export const REF_NAME = 'org.opencontainers.image.ref.name';
const MAX_JSON = 4 << 20;

/** The image of manifest `digest` (in the store), recorded, with its diff IDs checked against its layers. */
export function recordImage(store: ImageStore, manifestDigest: string, what: string): StoredImage {
  const m = store.readJson<Manifest>(manifestDigest, `${what}: manifest`);
  if (!m?.config?.digest || !Array.isArray(m.layers))
    throw new TsrunError('EIMAGE', `${what}: manifest ${manifestDigest} has no config or layers`);
  const config = store.readJson<ImageConfig>(m.config.digest, `${what}: image config`);
  const diffIds = config?.rootfs?.diff_ids ?? [];
  if (diffIds.length !== m.layers.length)
    throw new TsrunError('EIMAGE', `${what}: the image config lists ${diffIds.length} diff IDs for ${m.layers.length} layers`);
  const image: StoredImage = {
    id: m.config.digest,
    manifestDigest,
    layers: m.layers.map((l, i) => ({ digest: l.digest, mediaType: l.mediaType ?? MEDIA.ociLayerTar, diffId: diffIds[i]!, size: l.size })),
  };
  for (const l of image.layers) {
    digestHex(l.digest);
    digestHex(l.diffId);
  }
  store.saveImage(image);
  return image;
}

/** The descriptor of an index for `platform` (default linux/amd64), or a clear error listing what there is. */
export function pickPlatform(manifests: Descriptor[], what: string, platform = { os: 'linux', architecture: 'amd64' }): Descriptor {
  const hit = manifests.find((d) => d.platform?.os === platform.os && d.platform?.architecture === platform.architecture);
  if (hit) return hit;
  const there = manifests.map((d) => `${d.platform?.os ?? '?'}/${d.platform?.architecture ?? '?'}`).join(', ');
  throw new TsrunError('EIMAGE', `${what}: no image for ${platform.os}/${platform.architecture} (the index has ${there || 'none'})`);
}

/** The manifest an OCI index (as stored blobs, from index.json) stands for: by ref name, else the only one; an inner index by platform. */
function resolveIndex(store: ImageStore, index: Index, ref: string | undefined, what: string): string {
  const list = index.manifests ?? [];
  let d: Descriptor | undefined;
  if (ref !== undefined) {
    d = list.find((m) => m.annotations?.[REF_NAME] === ref || m.annotations?.['io.containerd.image.name'] === ref);
    if (!d) {
      const names = list.map((m) => m.annotations?.[REF_NAME]).filter(Boolean);
      throw new TsrunError(
        'EIMAGE',
        `${what}: no image named ${JSON.stringify(ref)} (it has ${names.length ? names.join(', ') : 'no names'})`,
      );
    }
  } else if (list.length === 1) d = list[0];
  else if (list.every((m) => m.platform)) d = pickPlatform(list, what);
  else throw new TsrunError('EIMAGE', `${what}: ${list.length} images in the index: name one (oci:DIR:NAME)`);
  for (let depth = 0; d && (d.mediaType === MEDIA.ociIndex || d.mediaType === MEDIA.dockerList); depth++) {
    if (depth > 4) throw new TsrunError('EIMAGE', `${what}: indexes nested too deep`);
    d = pickPlatform(store.readJson<Index>(d.digest, `${what}: index`).manifests ?? [], what);
  }
  return d!.digest;
}

/** An OCI image layout directory: its blobs copied (and verified) into the store. */
export async function loadLayout(store: ImageStore, dir: string, ref?: string): Promise<StoredImage> {
  const what = `OCI layout ${dir}`;
  const open = (rel: string) => {
    try {
      return fs.openSync(path.join(dir, rel), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      throw new TsrunError('EIMAGE', `${what}: ${rel}: ${(e as Error).message}`);
    }
  };
  const indexFd = open('index.json');
  let index: Index;
  try {
    index = JSON.parse(fs.readFileSync(indexFd, 'utf8')) as Index;
  } finally {
    fs.closeSync(indexFd);
  }
  const copy = async (digest: string) => {
    if (store.has(digest)) return;
    await store.put(digest, fs.createReadStream('', { fd: open(`blobs/sha256/${digestHex(digest)}`) }));
  };
  // the index's manifests (and inner indexes) are small: copy them all, then choose
  for (const m of index.manifests ?? []) await copy(m.digest);
  for (const m of index.manifests ?? [])
    if (m.mediaType === MEDIA.ociIndex)
      for (const inner of store.readJson<Index>(m.digest, `${what}: index`).manifests ?? []) await copy(inner.digest);
  const manifestDigest = resolveIndex(store, index, ref, what);
  await copy(manifestDigest);
  const m = store.readJson<Manifest>(manifestDigest, `${what}: manifest`);
  await copy(m.config.digest);
  for (const l of m.layers ?? []) await copy(l.digest);
  return recordImage(store, manifestDigest, what);
}

/**
 * A docker-archive or oci-archive tarball (optionally compressed). Each
 * file in it is stored as a blob named by its content's digest; then its
 * manifest.json (docker) or index.json (OCI) says which are what.
 */
export async function loadArchive(store: ImageStore, file: string, ref?: string): Promise<StoredImage> {
  const what = `image archive ${file}`;
  const byPath = new Map<string, string>(); // archive path → digest
  const small = new Map<string, Buffer>(); // manifest.json, index.json
  let failure: unknown = null;
  const parser = new Parser({ strict: true });
  parser.on('error', (e: unknown) => (failure ??= e));
  parser.on('entry', (entry: ReadEntry) => {
    if (failure || !['File', 'OldFile', 'ContiguousFile'].includes(entry.type)) {
      entry.resume();
      return;
    }
    const name = entry.path.replace(/^(\.\/)+/, '');
    if (name === 'manifest.json' || name === 'index.json') {
      const chunks: Buffer[] = [];
      let size = 0;
      entry.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_JSON) chunks.push(c);
        else failure ??= new TsrunError('EIMAGE', `${what}: ${name} is larger than ${MAX_JSON} bytes`);
      });
      entry.on('end', () => small.set(name, Buffer.concat(chunks)));
      return;
    }
    let w: ReturnType<ImageStore['blobWriter']> | null = store.blobWriter();
    entry.on('data', (c: Buffer) => {
      try {
        w?.write(c);
      } catch (e) {
        failure ??= e;
        w?.abort();
        w = null;
      }
    });
    entry.on('end', () => {
      if (w) byPath.set(name, w.commit().digest);
    });
  });
  for await (const chunk of uncompressed(file)) {
    parser.write(chunk);
    if (failure) break;
  }
  if (!failure) await new Promise<void>((resolve) => parser.end(resolve));
  if (failure) throw new TsrunError('EIMAGE', `${what}: ${(failure as Error).message}`, { cause: failure });

  const json = <T>(name: string): T | null => {
    const b = small.get(name);
    if (!b) return null;
    try {
      return JSON.parse(b.toString('utf8')) as T;
    } catch (e) {
      throw new TsrunError('EIMAGE', `${what}: ${name}: ${(e as Error).message}`);
    }
  };
  const index = json<Index>('index.json');
  if (index) {
    // an OCI layout: its blobs/sha256/<hex> were stored under their own digests; a file whose name lies is not found
    for (const [p, digest] of byPath)
      if (p.startsWith('blobs/sha256/') && p !== `blobs/sha256/${digestHex(digest)}`)
        throw new TsrunError('EIMAGE', `${what}: ${p} holds content of digest ${digest}`);
    const manifestDigest = resolveIndex(store, index, ref, what);
    return recordImage(store, manifestDigest, what);
  }
  const manifest = json<{ Config: string; RepoTags?: string[]; Layers: string[] }[]>('manifest.json');
  if (!manifest?.length)
    throw new TsrunError('EIMAGE', `${what}: neither index.json (oci-archive) nor manifest.json (docker-archive) in it`);
  const entry = ref === undefined ? manifest[0]! : manifest.find((m) => m.RepoTags?.some((t) => t === ref || t.endsWith(`/${ref}`)));
  if (!entry) throw new TsrunError('EIMAGE', `${what}: no image tagged ${JSON.stringify(ref)}`);
  if (ref === undefined && manifest.length > 1)
    throw new TsrunError('EIMAGE', `${what}: ${manifest.length} images in it: name one (docker-archive:FILE:NAME)`);
  const blob = (p: string) => {
    const d = byPath.get(p.replace(/^(\.\/)+/, ''));
    if (!d) throw new TsrunError('EIMAGE', `${what}: manifest.json names ${p}, which is not in the archive`);
    return d;
  };
  const configDigest = blob(entry.Config);
  const m: Manifest & { schemaVersion: number } = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: configDigest,
      size: fs.statSync(store.blobPath(configDigest)).size,
    },
    layers: entry.Layers.map((p) => {
      const digest = blob(p);
      return { mediaType: MEDIA.ociLayerTar, digest, size: fs.statSync(store.blobPath(digest)).size };
    }),
  };
  const stored = await store.putUnknown(
    (async function* () {
      yield Buffer.from(JSON.stringify(m));
    })(),
  );
  return recordImage(store, stored.digest, what);
}
