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
import type { Hook, Hooks } from '../config/types.js';
import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';

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

export function runHooks(native: NativeBinding, hooks: Hooks | undefined, kind: HookKind, state: HookState, opts: HookOptions = {}): void {
  const list: Hook[] = hooks?.[kind] ?? [];
  list.forEach((hook, i) => {
    const timeoutMs = hook.timeout && hook.timeout > 0 ? hook.timeout * 1000 : 0;
    let problem: string | null = null;
    try {
      const r = native.runHook(
        hook.path,
        hook.args ?? [],
        hook.env ?? [],
        JSON.stringify(state),
        timeoutMs,
        opts.nsPid ?? 0,
        opts.cwd ?? null,
        opts.seccomp?.bpf ?? null,
        opts.seccomp?.flags ?? 0,
      );
      const output = r.output.trim() ? `: ${r.output.trim()}` : '';
      if (r.timedOut) problem = `timed out after ${hook.timeout}s${output}`;
      else if (r.signal !== null) problem = `killed by signal ${r.signal}${output}`;
      else if (r.code === 127 && !output) problem = 'could not be executed';
      else if (r.code !== 0) problem = `exit status ${r.code}${output}`;
    } catch (e) {
      problem = (e as Error).message;
    }
    if (problem === null) return;
    const message = `${kind} hook #${i} (${hook.path}): ${problem}`;
    if (opts.warnOnly) opts.warnOnly(message);
    else throw new TsrunError('ECHILD', message);
  });
}
