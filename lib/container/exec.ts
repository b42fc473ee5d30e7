/**
 * exec: a new process in a running container, as `runc exec` runs it.
 *
 *   read the state (shared lock) → check the status → validate the process
 *   → open the container's namespaces (then check its init is still the one
 *   we recorded) → the cgroup to join, the compiled seccomp filter, HOME →
 *   plan a tenant (lib/plan/tenant.ts) → launch (lib/container/launch.ts)
 *
 * The tenant is the runtime's child (even after its fork into the pid
 * namespace: CLONE_PARENT), so a foreground exec waits for it like `run`
 * waits for its init. Nothing is left behind on failure: launch kills what
 * it started, and nothing else is made.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { CgroupManager } from '../cgroups/manager.js';
import { checkShape, specShape, type Shape } from '../config/load.js';
import type { Process, Spec } from '../config/types.js';
import { validateProcessSpec } from '../config/validate.js';
import { ConfigError, TsrunError } from '../errors.js';
import { fromHost } from '../native/host.js';
import { CLONE_NEWUSER } from '../plan/linux.js';
import type { RdtGroup } from '../plan/resctrl.js';
import { buildTenantPlan } from '../plan/tenant.js';
import { closeAll } from './fds.js';
import { storeExecPlan, uncacheable, type ExecCacheKey } from './exec-cache.js';
import { cgroupOf, seccompOf, type LifecycleContext } from './context.js';
import { relaysTerminal } from './foreground.js';
import { launch, SYNC_TIMEOUT_MS, type LaunchCgroup, type Launched } from './launch.js';
import { writePidFile } from './safe-files.js';
import { homeIn } from './passwd.js';
import { containerProcessState, sendToListener } from './seccomp-notify.js';
import type { StoredState } from './state.js';

export interface ExecOptions {
  /** The whole process (from --process, or config.json's with the flags applied: resolveExecProcess). */
  process: Process;
  consoleSocket?: string;
  /** AF_UNIX socket that receives a pidfd of the exec'd process (runc's --pidfd-socket). */
  pidfdSocket?: string;
  /** Nobody will relay a terminal: process.terminal then needs a console socket. */
  detach: boolean;
  pidFile?: string;
  preserveFds?: number;
  /** Appended to the environment (LISTEN_FDS/LISTEN_PID of socket activation). */
  extraEnv?: string[];
  /** Exec into a paused container too (the process stays frozen until resume). */
  ignorePaused?: boolean;
  /** runc's --cgroup: `[controller[,controller]:]path`, an existing sub-cgroup of the container's. */
  subCgroups?: readonly string[];
  /** The process's fds 0-2 (-1: ours, inherited). */
  stdio?: readonly number[];
  /** The front's key for this exec: its plan is stored under it once it runs (exec-cache.ts). */
  cacheKey?: ExecCacheKey | null;
}

export async function execProcess(ctx: LifecycleContext, id: string, opts: ExecOptions): Promise<Launched> {
  // Shared: execs run side by side. Held until the process is in the
  // container's cgroup, so a delete meanwhile waits and then kills it too;
  // not longer: a paused container keeps it frozen until `resume`, which
  // must be able to take the lock.
  ctx.native.cgroupWarm(); // v1: the join's grace period, under way while we plan (native/host/launch.c)
  const lock = ctx.store.lock(id, { shared: true });
  let fds: number[] = [];
  try {
    const state = ctx.store.read(id);
    const status = ctx.store.status(state);
    try {
      ctx.native.canExec(status, opts.ignorePaused ?? false);
    } catch (e) {
      throw fromHost(e);
    }
    ctx.timeline?.mark('state');
    if (state.hostMounts)
      throw new TsrunError('EUNSUPPORTED', 'exec into a container without a mount namespace is not supported by this tsrun yet');
    const p = opts.process;
    for (const w of validateProcessSpec(p, ctx.host, { detach: opts.detach, consoleSocket: opts.consoleSocket !== undefined })) ctx.warn(w);
    ctx.timeline?.mark('validate');
    const sub = parseSubCgroups(opts.subCgroups ?? []);
    const joins = ctx.host.openProcessNamespaces(state.pid);
    fds.push(...joins.map((j) => j.fd));
    // the namespaces are the init's only if it is still the process we recorded
    if (!ctx.native.pidAlive(state.pid, state.pidStartTime)) throw new TsrunError('ESTATE', 'cannot exec in a stopped container');
    ctx.timeline?.mark('namespaces');
    const setgroupsDenied = joins.some((j) => j.nstype === Number(CLONE_NEWUSER)) && ctx.host.setgroupsOf(state.pid) === 'deny';
    if (setgroupsDenied && (p.user.additionalGids ?? []).length)
      throw new ConfigError(
        'process.user.additionalGids',
        'cannot set any additional groups in a rootless container (its user namespace denies setgroups)',
      );
    const cg = cgroupOf(ctx, state);
    const cgroup = cg ? cgroupTarget(cg, sub) : null;
    ctx.timeline?.mark('cgroup');
    const consoleSocketFd = opts.consoleSocket !== undefined ? ctx.native.connectUnix(opts.consoleSocket) : -1;
    if (consoleSocketFd >= 0) fds.push(consoleSocketFd);
    const pidfdSocketFd = opts.pidfdSocket !== undefined ? ctx.native.connectUnix(opts.pidfdSocket) : -1;
    if (pidfdSocketFd >= 0) fds.push(pidfdSocketFd);
    const plan = buildTenantPlan(p, {
      id,
      joins,
      noNewKeyring: state.noNewKeyring ?? false,
      consoleSocketFd,
      pidfdSocketFd,
      preserveFds: opts.preserveFds ?? 0,
      extraEnv: opts.extraEnv ?? [],
      seccomp: seccompOf(ctx, state),
      setgroupsDenied,
      home: (p.env ?? []).some((e) => e.startsWith('HOME=')) ? null : homeIn(ctx.native, `/proc/${state.pid}/root`, p.user.uid),
      terminalSize: p.terminal && relaysTerminal(opts.detach, opts.consoleSocket) ? ctx.native.terminalSize(0) : null,
      // the container's resctrl group, while it is there (runc's rule: one removed meanwhile is skipped)
      rdt: rdtOf(ctx, state),
    });
    ctx.timeline?.mark('plan');
    const childFds = fds;
    fds = []; // launch closes them, whatever happens
    const listener = state.seccomp?.listenerPath;
    const launched = await launch(ctx.native, ctx.host, {
      plan,
      stdio: opts.stdio,
      cgroup,
      childFds,
      // a paused container freezes the process as soon as it joins the cgroup
      timeoutMs: status === 'paused' ? -1 : SYNC_TIMEOUT_MS,
      timeline: ctx.timeline,
      onJoined: () => lock.release(),
      onSeccomp: listener
        ? (fd, pid) =>
            sendToListener(ctx.native, listener, containerProcessState(state.seccomp!.listenerMetadata, { ...hookState(state), pid }), fd)
        : undefined,
    });
    if (opts.pidFile) writePidFile(ctx.native, opts.pidFile, launched.pid);
    if (opts.cacheKey && status === 'running') {
      const why = uncacheable(plan, {
        subCgroups: sub.size > 0,
        listener: !!listener,
        terminalRelay: p.terminal === true && relaysTerminal(opts.detach, opts.consoleSocket),
        extraEnv: (opts.extraEnv ?? []).length,
      });
      try {
        if (!why) storeExecPlan(ctx.store.dir(id), opts.cacheKey, plan, { pid: state.pid, startTime: state.pidStartTime });
      } catch (e) {
        // the exec ran: a plan that could not be kept is only a later miss
        ctx.warn(`the exec plan cache of ${id}: ${(e as Error).message}`);
      }
      ctx.timeline?.mark(why ? `cache: ${why}` : 'cache');
    }
    return launched;
  } catch (e) {
    closeAll(fds);
    throw e;
  } finally {
    lock.release();
  }
}

function hookState(state: StoredState) {
  return {
    ociVersion: state.ociVersion,
    id: state.id,
    status: 'running' as const,
    pid: state.pid,
    bundle: state.bundle,
    annotations: state.annotations ?? {},
  };
}

/** runc's --cgroup values → controller ('' = all, or the v2 tree) → path relative to the container's cgroup. */
export function parseSubCgroups(args: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const arg of args) {
    const parts = arg.split(':');
    if (parts.length > 2) throw new TsrunError('EUSAGE', `invalid --cgroup argument: ${arg}`);
    const rel = parts[parts.length - 1]!;
    if (!rel || path.posix.isAbsolute(rel) || rel.split('/').includes('..'))
      throw new TsrunError('EUSAGE', `invalid --cgroup argument: ${arg} (the path is relative to the container's cgroup, without "..")`);
    if (parts.length === 1) {
      if (args.length !== 1) throw new TsrunError('EUSAGE', `invalid --cgroup argument: ${arg} (missing <controller>: prefix)`);
      out.set('', rel);
    } else for (const c of parts[0]!.split(',')) out.set(c, rel);
  }
  return out;
}

/** Where a tenant joins: the container's cgroup, or the sub-cgroups asked for (which must exist). */
function cgroupTarget(cg: CgroupManager, sub: ReadonlyMap<string, string>): LaunchCgroup {
  if (sub.size === 0) return { v2Dir: cg.v2Dir, join: (pid) => cg.addProcess(pid) };
  const { version, paths } = cg.state;
  const dirs = new Map<string, string>();
  const existing = (key: string, dir: string, arg: string) => {
    if (!fs.existsSync(dir)) throw new TsrunError('EUSAGE', `--cgroup ${arg}: no such sub-cgroup ${dir}`);
    dirs.set(key, dir);
  };
  if (version === 2) {
    const rels = new Set(sub.values());
    if (rels.size !== 1) throw new TsrunError('EUSAGE', '--cgroup: cgroup v2 has one hierarchy: give one path');
    const rel = [...rels][0]!;
    existing('', path.join(paths['']!, rel), rel);
  } else {
    for (const c of sub.keys()) if (c && !(c in paths)) throw new TsrunError('EUSAGE', `--cgroup ${c}:${sub.get(c)}: no such controller`);
    for (const [key, dir] of Object.entries(paths)) {
      const rel = sub.get(key) ?? sub.get('');
      if (rel === undefined || (key === '' && !sub.has(''))) dirs.set(key, dir);
      else existing(key, path.join(dir, rel), key ? `${key}:${rel}` : rel);
    }
  }
  return {
    v2Dir: version === 2 ? dirs.get('')! : null,
    join(pid) {
      for (const [key, dir] of dirs) {
        try {
          fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
        } catch (e) {
          // the hybrid's unified tree is for tracking only
          if (key !== '' || version === 2)
            throw new TsrunError('ESYSTEM', `cannot move the process into ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`, { cause: e });
        }
      }
    },
  };
}

const processShape = specShape.fields!.process as Shape;
const userShape = processShape.fields!.user!;
/**
 * runc decodes a --process file into Go's specs.Process, whose missing user,
 * uid and gid are zero: such a process runs as root (runc 1.1 and today's
 * alike), where config.json's process must name its user.
 */
const processFileShape: Shape = {
  ...processShape,
  required: processShape.required!.filter((k) => k !== 'user'),
  fields: { ...processShape.fields, user: { ...userShape, required: [] } },
};

/**
 * A `--process` file: a runtime-spec process object. Its errors name the
 * file and the field (`process.user.uid`), as config.json's do.
 */
export function loadProcessFile(file: string): Process {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new TsrunError('EUSAGE', `--process ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TsrunError('ECONFIG', `--process ${file}: invalid JSON: ${(e as Error).message}`, { cause: e });
  }
  try {
    checkShape(json as never, processFileShape, 'process');
  } catch (e) {
    throw new TsrunError('ECONFIG', `--process ${file}: ${(e as Error).message}`, { cause: e });
  }
  const p = json as Process;
  const user: Partial<Process['user']> = p.user ?? {};
  p.user = { ...user, uid: user.uid ?? 0, gid: user.gid ?? 0 };
  return p;
}

/** runc's exec flags, applied to config.json's process (when there is no --process). */
export interface ExecOverrides {
  args: string[];
  cwd?: string;
  env?: string[];
  tty?: boolean;
  user?: { uid: number; gid?: number };
  additionalGids?: number[];
  caps?: string[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  selinuxLabel?: string;
}

/**
 * The process exec runs without --process: the container's config.json
 * process with the command line's args and flags, as runc builds it (the
 * terminal is off unless asked for; --cap adds to the bounding, effective
 * and permitted sets, and to the ambient set only when config.json's process
 * has an inheritable set; --env appends).
 */
export function resolveExecProcess(spec: Spec, o: ExecOverrides): Process {
  const base = spec.process;
  if (!base) throw new TsrunError('ECONFIG', 'process: config.json has no process to exec with');
  const p: Process = structuredClone(base);
  p.args = o.args;
  if (o.cwd) p.cwd = o.cwd;
  if (o.apparmorProfile) p.apparmorProfile = o.apparmorProfile;
  if (o.selinuxLabel) p.selinuxLabel = o.selinuxLabel;
  if (o.caps?.length) {
    const c = (p.capabilities ??= {});
    for (const set of ['bounding', 'effective', 'permitted'] as const) c[set] = [...(c[set] ?? []), ...o.caps];
    // The kernel raises an ambient cap only if it is also inheritable, and
    // --cap adds none to inheritable (runc ≥ 1.2 does the same): so only a
    // config that has an inheritable set gets the caps as ambient, where
    // they can take effect.
    if (Array.isArray(c.inheritable)) c.ambient = [...(c.ambient ?? []), ...o.caps];
  }
  p.env = [...(p.env ?? []), ...(o.env ?? [])];
  p.terminal = o.tty ?? false;
  if (o.noNewPrivileges !== undefined) p.noNewPrivileges = o.noNewPrivileges;
  if (o.user) {
    p.user = { ...p.user, uid: o.user.uid };
    if (o.user.gid !== undefined) p.user.gid = o.user.gid;
  }
  if (o.additionalGids?.length) p.user.additionalGids = [...(p.user.additionalGids ?? []), ...o.additionalGids];
  return p;
}

/** The resctrl groups an exec'd process joins: the container's, unless its CTRL_MON group is gone. */
function rdtOf(ctx: LifecycleContext, state: StoredState): RdtGroup | null {
  const g = state.intelRdt;
  return g && ctx.host.exists(g.clos ? `${g.root}/${g.clos}` : g.root) ? g : null;
}
