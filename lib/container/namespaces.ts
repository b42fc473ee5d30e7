/**
 * issue 3: the host side of namespaces. Before clone: open every
 * linux.namespaces[i].path and check it is a namespace of that type (the
 * child then joins by fd and never looks a path up). Between clone and GO:
 * write the id maps of a new user namespace.
 */
import * as fs from 'node:fs';

import { ConfigError, InitStepError, TsrunError } from '../errors.js';
import type { Spec } from '../config/types.js';
import { SyncType, type NativeBinding } from '../native/binding.js';
import { NAMESPACE_CLONE_FLAGS } from '../plan/linux.js';
import { closeAll } from './fds.js';

/**
 * Opens the namespace paths; returns fds by linux.namespaces index. On any
 * error the fds opened so far are closed and a ConfigError names the entry.
 */
export function openNamespacePaths(spec: Spec, native: Pick<NativeBinding, 'nsType'>): (number | undefined)[] {
  const fds: (number | undefined)[] = [];
  try {
    (spec.linux?.namespaces ?? []).forEach((ns, i) => {
      if (!ns.path) return;
      const at = `linux.namespaces[${i}].path`;
      let fd: number;
      try {
        fd = fs.openSync(ns.path, fs.constants.O_RDONLY | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
      } catch (e) {
        throw new ConfigError(at, `cannot open ${ns.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      fds[i] = fd;
      let type: number;
      try {
        type = native.nsType(fd);
      } catch {
        throw new ConfigError(at, `${ns.path} is not a namespace`);
      }
      const want = Number(NAMESPACE_CLONE_FLAGS[ns.type]);
      if (type !== want) {
        const got = Object.entries(NAMESPACE_CLONE_FLAGS).find(([, f]) => Number(f) === type)?.[0] ?? `type ${type}`;
        throw new ConfigError(at, `${ns.path} is a ${got} namespace, not a ${ns.type} namespace`);
      }
    });
  } catch (e) {
    closeAll(fds);
    throw e;
  }
  return fds;
}

/**
 * Writes /proc/<pid>/uid_map and gid_map. Each must be one write(2). A
 * runtime without CAP_SETGID over the host's groups may only map its own gid
 * after denying setgroups; as root we keep setgroups allowed (the init
 * replaces its groups with additionalGids), as runc does.
 */
export function writeIdMaps(pid: number, maps: { uidMap: string; gidMap: string }): void {
  const write = (file: string, text: string, field: string) => {
    try {
      fs.writeFileSync(`/proc/${pid}/${file}`, text);
    } catch (e) {
      throw new ConfigError(
        field,
        `cannot write ${file} ${JSON.stringify(text.trim().replace(/\n/g, ', '))}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  };
  if (process.getuid?.() !== 0) write('setgroups', 'deny', 'linux.gidMappings');
  write('uid_map', maps.uidMap, 'linux.uidMappings');
  write('gid_map', maps.gidMap, 'linux.gidMappings');
}

const SLEEP = new Int32Array(new SharedArrayBuffer(4));

/**
 * The parent's half of the init's namespace step (tsrun_sync.h, issue 3):
 * answers TSRUN_SYNC_IDMAP by writing the maps, and returns the init's pid
 * from TSRUN_SYNC_PID. When the init was forked, the intermediate (our child
 * `pid`) exits: it is reaped here, so the init is reparented before anyone
 * waits for it.
 */
export function namespaceStage(
  native: Pick<NativeBinding, 'syncRecv' | 'syncSend' | 'reap' | 'stepNames'>,
  syncFd: number,
  pid: number,
  idMaps: { uidMap: string; gidMap: string } | null,
  timeoutMs: number,
): number {
  for (;;) {
    const msg = native.syncRecv(syncFd, timeoutMs);
    if (msg.type === SyncType.IDMAP && idMaps) {
      writeIdMaps(pid, idMaps);
      native.syncSend(syncFd, SyncType.GO);
      continue;
    }
    if (msg.type === SyncType.PID) {
      if (msg.pid <= 0) return pid;
      for (let i = 0; i < 5000 && native.reap(pid) === null; i++) Atomics.wait(SLEEP, 0, 0, 1);
      return msg.pid;
    }
    if (msg.type === SyncType.ERROR)
      throw new InitStepError(native.stepNames[msg.step] ?? `step ${msg.step}`, msg.errno, msg.code, msg.message);
    if (msg.type === SyncType.EOF)
      throw new TsrunError('ECHILD', 'container init exited while setting up its namespaces without reporting an error');
    throw new TsrunError('ECHILD', `unexpected sync message ${msg.type} during the namespace step`);
  }
}
