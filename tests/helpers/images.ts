/**
 * Images for tests, made here from a busybox-static rootfs (no network):
 * an OCI image layout written by hand (the image spec's files), and the same
 * image saved by podman as a docker-archive.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import * as tar from 'tar';

import { busyboxRootfs } from './bundle.js';

function put(layout: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(data).digest('hex');
  fs.writeFileSync(path.join(layout, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** A layer tarball of `dir`'s content (entries "./…", owners kept), gzip-compressed or not; and its diff ID. */
export async function layerOf(dir: string, gzip = true): Promise<{ blob: Buffer; diffId: string }> {
  const raw = await tarBuffer(dir);
  const diffId = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  return { blob: gzip ? zlib.gzipSync(raw) : raw, diffId };
}

async function tarBuffer(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = tar.c({ cwd: dir, portable: false }, ['.']);
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

export interface LayoutOptions {
  /** Extra layers (directories of files) above the busybox one. */
  layers?: Buffer[];
  layerDiffIds?: string[];
  config?: Record<string, unknown>;
  /** org.opencontainers.image.ref.name */
  name?: string;
}

/** An OCI image layout at `layout` with `layers` (bottom first, as blobs with their diff IDs). */
export function writeLayout(
  layout: string,
  layers: { blob: Buffer; diffId: string; gzip?: boolean }[],
  opts: { config?: Record<string, unknown>; name?: string } = {},
): { manifestDigest: string; configDigest: string } {
  fs.mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], ...opts.config },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const c = put(layout, Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c },
    layers: layers.map((l) => ({
      mediaType: l.gzip === false ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.oci.image.layer.v1.tar+gzip',
      ...put(layout, l.blob),
    })),
  };
  const m = put(layout, Buffer.from(JSON.stringify(manifest)));
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: manifest.mediaType,
        ...m,
        ...(opts.name && { annotations: { 'org.opencontainers.image.ref.name': opts.name } }),
      },
    ],
  };
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index));
  return { manifestDigest: m.digest, configDigest: c.digest };
}

/** A busybox-static image as an OCI layout in a new dir under `parent`. */
export async function busyboxLayout(parent: string, opts: { config?: Record<string, unknown>; name?: string } = {}): Promise<string> {
  const rootfs = fs.mkdtempSync(path.join(parent, 'rootfs-'));
  busyboxRootfs(rootfs);
  const layer = await layerOf(rootfs);
  fs.rmSync(rootfs, { recursive: true, force: true });
  const layout = fs.mkdtempSync(path.join(parent, 'layout-'));
  writeLayout(layout, [layer], opts);
  return layout;
}
