/**
 * SCMP_ACT_NOTIFY: hand the init's seccomp notify fd to the listener at
 * linux.seccomp.listenerPath with the container process state
 * (runtime.md#state, config-linux.md#seccomp): one sendmsg on a fresh
 * connection, the fd as SCM_RIGHTS, then both are closed here. The listener
 * owns the fd from then on.
 */
import * as fs from 'node:fs';

import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import type { HookState } from './hooks.js';

export interface ContainerProcessState {
  ociVersion: string;
  fds: string[];
  pid: number;
  metadata?: string;
  state: HookState;
}

/** `metadata`: linux.seccomp.listenerMetadata; `state.pid`: the process the fd is for. */
export function containerProcessState(metadata: string | undefined, state: HookState): ContainerProcessState {
  const out: ContainerProcessState = { ociVersion: state.ociVersion, fds: ['seccompFd'], pid: state.pid, state };
  if (metadata !== undefined) out.metadata = metadata;
  return out;
}

/** Sends and closes `notifyFd` (always, even on failure). */
export function sendToListener(native: NativeBinding, listenerPath: string, payload: ContainerProcessState, notifyFd: number): void {
  let sock = -1;
  try {
    if (notifyFd < 0) throw new TsrunError('ECHILD', 'the init sent no seccomp notify fd');
    try {
      sock = native.connectUnix(listenerPath);
      native.sendWithFd(sock, JSON.stringify(payload), notifyFd);
    } catch (e) {
      throw new TsrunError(
        'ESYSTEM',
        `linux.seccomp.listenerPath: cannot send the seccomp fd to ${listenerPath}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  } finally {
    if (sock >= 0) fs.closeSync(sock);
    if (notifyFd >= 0) fs.closeSync(notifyFd);
  }
}
