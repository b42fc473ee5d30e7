/**
 * A clean container's own directory in the image cache,
 * containers/<id>/: its bundle (config.json, and rootfs/, the empty dir
 * its overlay is mounted on inside its mount namespace), its writable layer
 * (upper/, work/), and owner.json: which process made it, in which state
 * root. Removed at delete; if that process died without deleting it (a
 * SIGKILL), the next Runtime that makes a clean container in this cache
 * finds the owner gone, deletes the container and removes the directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Spec } from '../config/types.js';
import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import { hostCall } from '../native/host.js';
import type { RootfsOverlay } from '../plan/types.js';
import { buildSpec, type SpecOverrides } from './config.js';
import type { Image } from './index.js';
import type { ImageStore } from './store.js';

export interface Scratch {
  dir: string;
  /** The bundle directory tsrun wrote (config.json). */
  bundle: string;
  spec: Spec;
  /** The overlay over the image's layers; null without an image (the config's root.path is used as is). */
  overlay: RootfsOverlay | null;
  /** The container's writable layer: what it changed, as overlayfs records it. */
  upper: string | null;
}

interface Owner {
  pid: number;
  startTime: number;
  root: string;
  id: string;
}

/** Writes the bundle (and the layer dirs) of clean container `id` in `store`. */
export function makeScratch(
  store: ImageStore,
  native: NativeBinding,
  id: string,
  opts: { image: Image | null; config?: SpecOverrides; stateRoot: string; rootless: boolean },
): Scratch {
  if (opts.image && opts.config?.root?.path !== undefined)
    throw new TsrunError('EUSAGE', 'config.root.path: an image gives the container its root (leave root.path out, or the image)');
  if (!opts.image && !opts.config?.root?.path)
    throw new TsrunError('EUSAGE', 'a container needs an image, a bundle, or config.root.path (a root filesystem directory)');
  const dir = path.join(store.dir, 'containers', id);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new TsrunError('EEXIST', `container ${id}: its directory ${dir} exists`);
    throw e;
  }
  try {
    const start = native.procStartTime(process.pid);
    const owner: Owner = { pid: process.pid, startTime: start?.startTime ?? 0, root: opts.stateRoot, id };
    fs.writeFileSync(path.join(dir, 'owner.json'), JSON.stringify(owner), { mode: 0o600 });
    let overlay: RootfsOverlay | null = null;
    let rootfs = path.resolve(opts.config?.root?.path ?? '');
    if (opts.image) {
      rootfs = path.join(dir, 'rootfs');
      for (const d of ['rootfs', 'upper', 'work']) fs.mkdirSync(path.join(dir, d), { mode: d === 'rootfs' ? 0o755 : 0o700 });
      // the upper dir is the container's "/": it takes the image's root's mode (0755), not a private dir's
      fs.chmodSync(path.join(dir, 'upper'), 0o755);
      overlay = {
        lower: [...opts.image.layers].reverse(),
        upper: path.join(dir, 'upper'),
        work: path.join(dir, 'work'),
        userxattr: opts.rootless,
      };
    }
    const spec = buildSpec(native, opts.image && { config: opts.image.config, layers: [...opts.image.layers].reverse() }, opts.config, {
      rootfs,
      hostname: id.slice(0, 63),
      rootless: opts.rootless,
      what: opts.image ? `image ${opts.image.name}` : 'config',
    });
    if (opts.image) {
      spec.root = { ...spec.root, path: rootfs };
      // what an engine gives every container: its own /etc/hostname and /etc/hosts (the container's to change)
      const hostname = spec.hostname ?? id;
      fs.writeFileSync(path.join(dir, 'hostname'), `${hostname}\n`, { mode: 0o644 });
      fs.writeFileSync(path.join(dir, 'hosts'), `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, {
        mode: 0o644,
      });
      const have = new Set((spec.mounts ?? []).map((m) => path.posix.normalize(m.destination)));
      for (const f of ['hostname', 'hosts'])
        if (!have.has(`/etc/${f}`))
          (spec.mounts ??= []).push({ destination: `/etc/${f}`, type: 'bind', source: path.join(dir, f), options: ['rbind', 'rprivate'] });
    }
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec), { mode: 0o600 });
    return { dir, bundle: dir, spec, overlay, upper: overlay?.upper ?? null };
  } catch (e) {
    removeScratch(dir);
    throw e;
  }
}

/** The directory, whatever is in it (overlayfs leaves mode-0 dirs in work/). */
export function removeScratch(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    // unprivileged: a dir overlayfs made unreadable; open it up, then again
    const open = (d: string) => {
      try {
        fs.chmodSync(d, 0o700);
        for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) open(path.join(d, e.name));
      } catch {
        // gone or not ours
      }
    };
    open(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Containers whose maker is gone (it died before deleting them): deleted
 * (killed, their state and cgroup removed), and their directories removed.
 */
export function sweepScratch(store: ImageStore, native: NativeBinding, warn: (m: string) => void): void {
  const base = path.join(store.dir, 'containers');
  for (const name of fs.readdirSync(base)) {
    const dir = path.join(base, name);
    let owner: Owner;
    try {
      owner = JSON.parse(fs.readFileSync(path.join(dir, 'owner.json'), 'utf8')) as Owner;
    } catch {
      // being written, or half made by a process that died: old enough means the latter
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs > 60_000) removeScratch(dir);
      } catch {
        // gone meanwhile
      }
      continue;
    }
    if (native.pidAlive(owner.pid, owner.startTime)) continue;
    try {
      hostCall(native, 'delete', owner.root, owner.id, 0, true);
    } catch (e) {
      // never created, or already deleted: only the directory is left
      if ((e as { code?: string }).code !== 'ENOTFOUND') warn(`container ${owner.id} of a process that is gone: ${(e as Error).message}`);
    }
    removeScratch(dir);
  }
}
