/**
 * The container lifecycle behind the public API (lib/index.ts, which the
 * CLI drives too): create (lib/container/create.ts), exec
 * (lib/container/exec.ts), and the commands on an existing container, which
 * are native/host's (the C front serves the same ones) but for what only
 * TypeScript does: events' stats, update.
 *
 * Everything it works with comes in through one LifecycleContext (the addon,
 * the host, the state store): nothing is loaded at import.
 */
import type { CgroupManager } from '../cgroups/manager.js';
import type { LinuxResources } from '../cgroups/resources.js';
import type { CgroupStats } from '../cgroups/stats.js';
import { validateCgroups } from '../config/validate-cgroups.js';
import { resctrlOf } from '../config/validate-process.js';
import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import { hostCall, hostCallAsync } from '../native/host.js';
import type { Timeline } from '../timeline.js';
import { cgroupOf, type LifecycleContext, type LifecycleMode } from './context.js';
import { createContainer, type CreateOptions, type Created } from './create.js';
import { execProcess, type ExecOptions } from './exec.js';
import type { LifecycleHost } from './host.js';
import type { CheckpointOptions } from '../checkpoint/checkpoint.js';
import type { RestoreOptions, Restored } from '../checkpoint/restore.js';
import type { RdtGroup } from '../plan/resctrl.js';
import type { Launched } from './launch.js';
import { seccompCache } from './seccomp-cache.js';
import { StateStore, type StateJson, type StoredState } from './state.js';

export type { CreateOptions, Created } from './create.js';
export type { LifecycleMode } from './context.js';

/** update's Intel RDT schemata (runc's --l3-cache-schema and --mem-bw-schema); empty: unchanged. */
export interface RdtUpdate {
  l3CacheSchema?: string;
  memBwSchema?: string;
}

export class Lifecycle {
  readonly ctx: LifecycleContext;

  constructor(
    root: string,
    native: NativeBinding,
    host: LifecycleHost,
    opts: {
      timeline?: Timeline;
      /** What is ignored rather than refused (unknown capabilities…), and failed poststart/poststop hooks. */
      warn?: (message: string) => void;
      /** --debug detail (e.g. seccomp syscall names skipped). */
      debug?: (message: string) => void;
      mode?: LifecycleMode;
    } = {},
  ) {
    const mode = opts.mode ?? { rootless: false, xdgRoot: false };
    const warn = opts.warn;
    this.ctx = {
      native,
      host,
      store: new StateStore(root, native, mode.xdgRoot),
      mode,
      seccompCache: seccompCache(root, opts.debug),
      timeline: opts.timeline,
      warn: (m) => warn?.(m),
      debug: opts.debug,
    };
  }

  get native(): NativeBinding {
    return this.ctx.native;
  }

  get store(): StateStore {
    return this.ctx.store;
  }

  create(id: string, opts: CreateOptions): Promise<Created> {
    return createContainer(this.ctx, id, opts);
  }

  /** Release the exec fifo (the init runs the startContainer hooks, then execs), poststart hooks (native/host). */
  async start(id: string): Promise<void> {
    await this.host('start', id);
  }

  /** A new process in a created, running (or, with ignorePaused, paused) container; resolves once it has exec'd. */
  exec(id: string, opts: ExecOptions): Promise<Launched> {
    return execProcess(this.ctx, id, opts);
  }

  state(id: string): StateJson {
    return JSON.parse(hostCall(this.ctx.native, 'state', this.ctx.store.root, id).out!) as StateJson;
  }

  list(): StateJson[] {
    return JSON.parse(hostCall(this.ctx.native, 'list', this.ctx.store.root).out!) as StateJson[];
  }

  async kill(id: string, signal: number, all: boolean): Promise<void> {
    await this.host('kill', id, signal, all);
  }

  /** Host pids of the container's processes, sorted (native/host/members.c: not the other processes of a cgroup that existed before it). */
  async ps(id: string): Promise<number[]> {
    return (await this.host('ps', id)).pids!;
  }

  async pause(id: string): Promise<void> {
    await this.host('pause', id);
  }

  async resume(id: string): Promise<void> {
    await this.host('resume', id);
  }

  /** Kills what runs, removes the cgroup directories its create made and the state, runs poststop hooks; on the threadpool (it waits for the init to die). */
  async delete(id: string, force: boolean): Promise<void> {
    await this.host('delete', id, 0, force);
  }

  /** CRIU dumps the container's processes (lib/checkpoint/checkpoint.ts); without leaveRunning or preDump the container is then gone. */
  async checkpoint(id: string, opts: CheckpointOptions): Promise<void> {
    const { checkpointContainer } = await import('../checkpoint/checkpoint.js');
    const lock = this.ctx.store.lock(id);
    try {
      await checkpointContainer(this.ctx, id, opts);
    } finally {
      lock.release();
    }
    // CRIU has killed what it dumped: the container goes, as runc's does (its cgroup, its state, poststop hooks)
    if (!opts.leaveRunning && !opts.preDump) await this.delete(id, true);
  }

  /** A container made again from a checkpoint's images (lib/checkpoint/restore.ts): running once it resolves. */
  async restore(id: string, opts: RestoreOptions): Promise<Restored> {
    const { restoreContainer } = await import('../checkpoint/restore.js');
    return restoreContainer(this.ctx, id, opts);
  }

  /** runc's `events --stats` data. */
  stats(id: string): CgroupStats {
    return this.withCgroup(id, (cg, state) => {
      if (this.ctx.store.status(state) === 'stopped') throw new TsrunError('ESTATE', 'container not running');
      return cg.stats();
    });
  }

  /** OOM kills so far (read before the status: the kill may be what stopped it). */
  oomKills(id: string): { count: number; stopped: boolean } {
    return this.withCgroup(id, (cg, state) => {
      const count = cg.oomKills();
      return { count, stopped: this.ctx.store.status(state) === 'stopped' };
    });
  }

  /**
   * New limits for a running (or created, or paused) container (systemd: the unit's properties too), and
   * new Intel RDT schemata for the resctrl group it has (runc's --l3-cache-schema, --mem-bw-schema).
   */
  async update(id: string, r: LinuxResources, rdt: RdtUpdate = {}): Promise<void> {
    validateCgroups({ ociVersion: '1.0.0', linux: { resources: r as Record<string, unknown> } });
    const lock = this.ctx.store.lock(id);
    try {
      // runc's checks and words, in its order, before anything is written
      const lines = [rdt.l3CacheSchema, rdt.memBwSchema].filter((l): l is string => !!l);
      let group: RdtGroup | undefined;
      if (lines.length) {
        const resctrl = resctrlOf(this.ctx.host);
        if (rdt.l3CacheSchema && !resctrl?.cat) throw new TsrunError('EUNSUPPORTED', 'Intel RDT/CAT: l3 cache schema is not enabled');
        if (rdt.memBwSchema && !resctrl?.mba) throw new TsrunError('EUNSUPPORTED', 'Intel RDT/MBA: memory bandwidth schema is not enabled');
        if (lines.some((l) => l.includes('\n'))) throw new TsrunError('EUSAGE', 'an Intel RDT schema must not contain newlines');
        const state = this.ctx.store.read(id);
        if (this.ctx.store.status(state) === 'stopped') throw new TsrunError('ESTATE', 'container not running');
        group = state.intelRdt;
        if (!group) throw new TsrunError('EUNSUPPORTED', 'updating a non-existent Intel RDT configuration is not supported');
      }
      // as runc: the cgroup first, then the schemata (a refused limit leaves them as they were)
      const schemata = () => group && this.ctx.native.rdt('schemata', group, lines.map((l) => `${l}\n`).join(''));
      if (group && !Object.keys(r).length) {
        schemata();
        return;
      }
      await this.withCgroup(
        id,
        async (cg, state) => {
          if (this.ctx.store.status(state) === 'stopped') throw new TsrunError('ESTATE', 'container not running');
          await cg.apply(r, { update: true });
          schemata();
        },
        lock,
      );
    } finally {
      lock.release();
    }
  }

  /** A native/host command on the threadpool, its warnings to warn and its steps to the timeline. */
  private host(op: 'start' | 'kill' | 'ps' | 'pause' | 'resume' | 'delete', id: string, signal = 0, flag = false) {
    const { native, store, warn, timeline } = this.ctx;
    return hostCallAsync(native, op, store.root, id, signal, flag, op === 'ps' ? undefined : warn, timeline);
  }

  /** fn with the container's cgroup, under its lock (`held`: the caller's, which it releases once fn's promise settles). */
  private withCgroup<T>(id: string, fn: (cg: CgroupManager, state: StoredState) => T, held?: { release(): void }): T {
    const lock = held ?? this.ctx.store.lock(id);
    try {
      const state = this.ctx.store.read(id);
      const cg = cgroupOf(this.ctx, state);
      if (!cg) throw new TsrunError('EUNSUPPORTED', `container ${id} has no cgroup (created without cgroup support)`);
      return fn(cg, state);
    } finally {
      if (!held) lock.release();
    }
  }
}
