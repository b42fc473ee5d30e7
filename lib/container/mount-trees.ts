/**
 * Mount trees the runtime prepares before clone, for the mounts an init in a
 * user namespace could not make itself; the init attaches each with
 * move_mount (the plan's prepared mounts):
 * - idmapped mounts (options `idmap`/`ridmap`, mounts[].uidMappings/
 *   gidMappings): open_tree + mount_setattr MOUNT_ATTR_IDMAP (native
 *   idmapTree); idmapping needs privilege over the filesystem's (host's)
 *   user namespace;
 * - every other bind mount of a container with a user namespace: a detached
 *   copy of the source (native bindTree), opened by the runtime with its own
 *   access. The init, root of the user namespace, is an unmapped user to
 *   the host's files: a source below a directory only the host's root may
 *   enter (podman's run root in a 0700 temp dir, for one) would be EACCES
 *   to it, and is not to runc, which opens bind sources in the parent too.
 *   A runtime that may not clone mounts (unprivileged, rootless) leaves the
 *   bind to the init, whose access is then its own.
 */
import * as path from 'node:path';

import type { IdMapping, Mount, Spec } from '../config/types.js';
import { isIdmapped } from '../config/validate-namespaces.js';
import { ConfigError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import { hasUserNamespace } from '../plan/build.js';
import { bindMount } from '../plan/mounts.js';
import { closeAll } from './fds.js';

const lines = (maps: readonly IdMapping[]) => maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');

/**
 * Opens the trees, keyed by config.json mounts[] index (the planner matches
 * them to its mounts); on error closes what it opened and names mounts[i].
 */
export function openMountTrees(spec: Spec, bundle: string, native: Pick<NativeBinding, 'idmapTree' | 'bindTree'>): Map<number, number> {
  const out = new Map<number, number>();
  const userns = hasUserNamespace(spec);
  try {
    (spec.mounts ?? []).forEach((m: Mount, i) => {
      const bind = bindMount(m);
      const source = path.resolve(bundle, m.source ?? '');
      if (!isIdmapped(m)) {
        if (!bind || !userns) return;
        try {
          out.set(i, native.bindTree(source, bind.recursive));
        } catch {
          /* not ours to clone (EPERM: an unprivileged runtime), or not there: the init binds it, and says what failed */
        }
        return;
      }
      const opts = m.options ?? [];
      const uid = m.uidMappings?.length ? m.uidMappings : spec.linux!.uidMappings!;
      const gid = m.gidMappings?.length ? m.gidMappings : spec.linux!.gidMappings!;
      try {
        out.set(i, native.idmapTree(source, opts.includes('rbind'), opts.includes('ridmap'), lines(uid), lines(gid)));
      } catch (e) {
        const err = e as NodeJS.ErrnoException & { syscall?: string };
        const hint = err.code === 'EINVAL' ? ' (the filesystem may not support idmapped mounts)' : '';
        throw new ConfigError(
          `mounts[${i}]`,
          `cannot make an idmapped mount of ${source}: ${err.syscall ?? 'idmap'}: ${err.code ?? err.message}${hint}`,
        );
      }
    });
  } catch (e) {
    closeAll([...out.values()]);
    throw e;
  }
  return out;
}
