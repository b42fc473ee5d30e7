/**
 * What the lifecycle works with, passed in (never loaded at import): the
 * addon, the host, the state store and where its words go. One context
 * serves create, exec and the commands; tests build one with a fake
 * binding and a fake host (tests/unit/create.test.ts).
 */
import type { CgroupManager } from '../cgroups/manager.js';
import type { SystemdBus } from '../cgroups/systemd-manager.js';
import type { NativeBinding } from '../native/binding.js';
import type { SeccompCache } from '../plan/seccomp.js';
import type { Timeline } from '../timeline.js';
import type { LifecycleHost } from './host.js';
import type { StateStore, StoredState } from './state.js';

export interface LifecycleMode {
  /** runc's --rootless: cgroup permission errors ignored where runc ignores them. */
  rootless: boolean;
  /** runc's --systemd-cgroup: a new container's cgroup is a systemd unit's (lib/cgroups/systemd-manager.ts). */
  systemdCgroup?: boolean;
  /** The root is the $XDG_RUNTIME_DIR default. */
  xdgRoot: boolean;
}

export interface LifecycleContext {
  readonly native: NativeBinding;
  readonly host: LifecycleHost;
  readonly store: StateStore;
  readonly mode: LifecycleMode;
  /** Compiled seccomp filters, kept (lib/container/seccomp-cache.ts). */
  readonly seccompCache: SeccompCache;
  readonly timeline?: Timeline;
  /** What is ignored rather than refused, and failed poststart/poststop hooks. */
  readonly warn: (message: string) => void;
  /** --debug detail. */
  readonly debug?: (message: string) => void;
}

/** The cgroup device program loader, where the addon has one. */
export function attachDeviceProgram(ctx: LifecycleContext) {
  return ctx.native.attachDeviceProgram?.bind(ctx.native);
}

/** The systemd driver's D-Bus calls, through the addon (native/host/systemd.c). */
export function systemdBus(ctx: LifecycleContext): SystemdBus {
  return {
    start: (ref, props) => ctx.native.systemdStart(ref, props),
    set: (ref, props) => ctx.native.systemdSet(ref, props),
  };
}

/** The container's cgroup manager (null: no cgroup recorded). */
export function cgroupOf(ctx: LifecycleContext, state: StoredState): CgroupManager | null {
  return state.cgroup ? ctx.host.loadCgroup(state.cgroup, attachDeviceProgram(ctx), systemdBus(ctx)) : null;
}

/** The container's seccomp filter as create compiled it (null: none). */
export function seccompOf(ctx: LifecycleContext, state: StoredState): { bpf: Uint8Array; flags: number } | null {
  return state.seccomp ? { bpf: ctx.store.readSeccomp(state.id), flags: state.seccomp.flags } : null;
}
