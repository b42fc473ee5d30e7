/**
 * Idmapped mounts (mount options `idmap`/`ridmap`, mounts[].
 * uidMappings/gidMappings). The runtime prepares each as a detached tree
 * (native idmapTree: open_tree + mount_setattr MOUNT_ATTR_IDMAP) before
 * clone; the init attaches it with move_mount. Inside a user namespace the
 * init could not: idmapping needs privilege over the filesystem's (host's)
 * user namespace.
 */
import * as path from 'node:path';

import type { IdMapping, Mount, Spec } from '../config/types.js';
import { isIdmapped } from '../config/validate-namespaces.js';
import { ConfigError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import { closeAll } from './fds.js';

const lines = (maps: readonly IdMapping[]) => maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');

/**
 * Opens the trees, keyed by config.json mounts[] index (the planner matches
 * them to its mounts); on error closes what it opened and names mounts[i].
 */
export function openIdmapMounts(spec: Spec, bundle: string, native: Pick<NativeBinding, 'idmapTree'>): Map<number, number> {
  const out = new Map<number, number>();
  try {
    (spec.mounts ?? []).forEach((m: Mount, i) => {
      if (!isIdmapped(m)) return;
      const opts = m.options ?? [];
      const source = path.resolve(bundle, m.source ?? '');
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
