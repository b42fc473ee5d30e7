/**
 * OCI hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle").
 *
 *   create:  init stops before pivot_root → prestart, createRuntime (runtime
 *            namespace), createContainer (the init's namespaces) → init goes on
 *   start:   startContainer (the init's namespaces, after pivot_root so its
 *            path resolves in the container) → release → poststart
 *   delete:  poststop, after the container is gone
 * A failing prestart/createRuntime/createContainer/startContainer hook
 * fails the operation (the container is stopped, poststop still runs); a
 * failing poststart/poststop hook is a warning.
 */
import type { Hooks } from '../config/types.js';
import type { NativeBinding } from '../native/binding.js';
import { fromHost } from '../native/host.js';

export type HookKind = keyof Hooks;

/** The state a hook reads on stdin. */
export interface HookState {
  ociVersion: string;
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped';
  pid: number;
  bundle: string;
  annotations: Record<string, string>;
}

export interface HookOptions {
  /** Run inside this process's namespaces (createContainer, startContainer). */
  nsPid?: number;
  /** The hook's working directory, entered after the joins (createContainer: the container's rootfs). */
  cwd?: string;
  /** The container's seccomp filter, loaded just before the hook's execve (startContainer, as runc). */
  seccomp?: { bpf: Uint8Array; flags: number } | null;
  /** Failures only warn (poststart, poststop). */
  warnOnly?: (message: string) => void;
}

export function hasCreateHooks(hooks: Hooks | undefined): boolean {
  return !!(hooks?.prestart?.length || hooks?.createRuntime?.length || hooks?.createContainer?.length);
}

/** Runs the hooks of `kind` (native/host/hooks.c: fork, joins, timeout, the error's words). */
export function runHooks(native: NativeBinding, hooks: Hooks | undefined, kind: HookKind, state: HookState, opts: HookOptions = {}): void {
  if (!hooks?.[kind]?.length) return;
  let warnings: string[];
  try {
    warnings = native.runHooks(
      JSON.stringify({ [kind]: hooks[kind] }),
      kind,
      JSON.stringify(state),
      opts.nsPid ?? 0,
      opts.cwd ?? null,
      opts.seccomp?.bpf ?? null,
      opts.seccomp?.flags ?? 0,
      !!opts.warnOnly,
    );
  } catch (e) {
    throw fromHost(e);
  }
  for (const w of warnings) opts.warnOnly?.(w);
}
