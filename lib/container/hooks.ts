/**
 * OCI hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle").
 *
 *   create:  init stops before pivot_root → prestart, createRuntime (here,
 *            in the runtime namespace) → the init runs createContainer itself
 *            (native/init/hooks.c) → goes on
 *   start:   release the init → it runs startContainer, confined as the
 *            program, then execs → poststart (here)
 *   delete:  poststop (here), after the container is gone
 * A failing prestart/createRuntime/createContainer/startContainer hook
 * fails the operation (the container is stopped, poststop still runs); a
 * failing poststart/poststop hook is a warning. The hooks that run in the
 * container are planned by lib/plan/hooks.ts.
 */
import type { Hook, Hooks } from '../config/types.js';
import type { NativeBinding } from '../native/binding.js';
import { fromHost } from '../native/host.js';

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
  /** Failures only warn (poststart, poststop). */
  warnOnly?: (message: string) => void;
}

/** The hooks that run in the runtime namespace (native/host/hooks.c: fork, timeout, the error's words). */
export type RuntimeHookKind = 'prestart' | 'createRuntime' | 'poststart' | 'poststop';

/** Runs them off the event loop (native/host/hooks.c on the addon's threadpool). */
export async function runHooks(
  native: NativeBinding,
  hooks: Hooks | undefined,
  kind: RuntimeHookKind,
  state: HookState,
  opts: HookOptions = {},
): Promise<void> {
  if (!hooks?.[kind]?.length) return;
  let warnings: string[];
  try {
    warnings = await native.runHooks(JSON.stringify({ [kind]: hooks[kind] }), kind, JSON.stringify(state), !!opts.warnOnly);
  } catch (e) {
    throw fromHost(e);
  }
  for (const w of warnings) opts.warnOnly?.(w);
}

/**
 * What state.json keeps of the hooks: the ones start and delete run
 * (poststart, poststop), each with the fields a hook has. Nothing else of
 * the config's: a reader (this one, and native/host's, which refuses JSON
 * nested past TSRUN_JSON_MAX_DEPTH) must never meet something it cannot
 * read, or the container could be neither started nor deleted.
 */
export function recordedHooks(hooks: Hooks | undefined): Hooks | undefined {
  const keep = (list: Hook[] | undefined): Hook[] | undefined =>
    list?.map((h) => {
      const out: Hook = { path: h.path };
      if (h.args) out.args = [...h.args];
      if (h.env) out.env = [...h.env];
      if (h.timeout !== undefined) out.timeout = h.timeout;
      return out;
    });
  const out: Hooks = {};
  if (hooks?.poststart?.length) out.poststart = keep(hooks.poststart);
  if (hooks?.poststop?.length) out.poststop = keep(hooks.poststop);
  return out.poststart || out.poststop ? out : undefined;
}
