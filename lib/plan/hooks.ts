/**
 * The hooks the init runs itself (native/init/hooks.c), as runc's init does:
 * createContainer (before pivot_root, in the container's namespaces) and
 * startContainer (after `start`, confined exactly as the program will be).
 * The runtime's own hooks (prestart, createRuntime, poststart, poststop) run
 * in the runtime namespace, from lib/container/hooks.ts and native/host.
 * Pure: the state they read on stdin is written here up to its pid, which
 * the init learns from the runtime at GO.
 */
import type { Hook, Spec } from '../config/types.js';
import { HookKind, type PlanHook } from './types.js';

/** A hook's timeout in ms (config: seconds); 0: none. */
export function hookTimeoutMs(seconds: number | undefined): number {
  if (seconds === undefined || !(seconds > 0)) return 0;
  return Math.min(Math.round(seconds * 1000), 0xffffffff);
}

function planHook(kind: number, h: Hook, defaultEnv: readonly string[]): PlanHook {
  return {
    kind,
    path: h.path,
    args: [...(h.args ?? [])],
    env: [...(h.env?.length ? h.env : defaultEnv)],
    timeoutMs: hookTimeoutMs(h.timeout),
  };
}

export interface InitHooks {
  hooks: PlanHook[];
  /** The state JSON up to `"pid":` (null when there are no hooks). */
  hookState: string | null;
}

/**
 * createContainer then startContainer hooks, in config order. A
 * startContainer hook without env gets the program's environment, as runc
 * gives it (a de facto behaviour engines' hooks rely on); createContainer
 * gets only its own.
 */
export function planInitHooks(spec: Spec, id: string, bundle: string, programEnv: readonly string[]): InitHooks {
  const hooks = [
    ...(spec.hooks?.createContainer ?? []).map((h) => planHook(HookKind.CREATE_CONTAINER, h, [])),
    ...(spec.hooks?.startContainer ?? []).map((h) => planHook(HookKind.START_CONTAINER, h, programEnv)),
  ];
  if (!hooks.length) return { hooks, hookState: null };
  const head = JSON.stringify({ ociVersion: spec.ociVersion, id, bundle, annotations: spec.annotations ?? {}, pid: 0 });
  return { hooks, hookState: head.slice(0, head.length - '0}'.length) };
}
