/**
 * The rules for process.scheduler, ioPriority,
 * execCPUAffinity, linux.personality, memoryPolicy, sysctl, recursive mount
 * options, the LSM fields, intelRdt and rlimits the host cannot grant.
 * Called from validate.ts; host facts come through `ProcessHost`.
 */
import { ConfigError, shown } from '../errors.js';
import {
  IOPRIO_CLASSES,
  MPOL_FLAGS,
  MPOL_MODES,
  PERSONALITY_DOMAINS,
  PERSONALITY_FLAGS,
  SCHED_FLAGS,
  SCHED_POLICIES,
  parseCpuList,
  sysctlName,
  sysctlPath,
  type MemoryPolicySpec,
  type SchedulerSpec,
} from '../plan/attrs.js';
import { CAPABILITIES, RLIMITS, RLIM_INFINITY } from '../plan/linux.js';
import { rlimitValue } from '../plan/process.js';
import { findResctrl, validateIntelRdt, type Resctrl } from '../plan/resctrl.js';
import type { Process, Spec } from './types.js';
import { sysctlNamespace } from './validate-namespaces.js';

/** Optional host reads; absent means "the host has nothing there". */
export interface ProcessHost {
  /** 'dir', 'file', 'other', or null when the path does not exist. */
  kind(p: string): 'dir' | 'file' | 'other' | null;
  /** A small text file's content, or null when it cannot be read. */
  read?(p: string): string | null;
  /** Whether the loaded SELinux policy takes `label` as a context (null: cannot tell). */
  selinuxContextValid?(label: string): boolean | null;
  /** The host's resctrl filesystem (null: not mounted; absent: found through read and kind). */
  resctrl?(): Resctrl | null;
}

/** The host's resctrl filesystem, as the host says or as /proc/self/mountinfo does. */
export function resctrlOf(host: ProcessHost): Resctrl | null {
  return host.resctrl ? host.resctrl() : findResctrl(host.read?.('/proc/self/mountinfo') ?? '', host.kind);
}

const at = (field: string, what: string): never => {
  throw new ConfigError(field, what);
};

function checkNames(field: string, values: readonly string[] | undefined, known: Record<string, unknown>): void {
  (values ?? []).forEach((v, i) => {
    if (!(v in known)) at(`${field}[${i}]`, `unknown value ${shown(v)}`);
  });
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function validateProcessAttrs(spec: Spec, host: ProcessHost): void {
  validateProcessFields(spec.process!, host, spec.linux);
  validateLinuxAttrs(spec, host);
}

/**
 * The rules of one process's attributes, for config.json's process and for
 * exec's alike. `linux`: the container's (real-time budget checks).
 */
export function validateProcessFields(p: Process, host: ProcessHost, linux: Spec['linux'] = {}): void {
  const l = linux ?? {};

  const s = p.scheduler as SchedulerSpec | undefined;
  if (s) {
    if (!(s.policy in SCHED_POLICIES)) at('process.scheduler.policy', `unknown policy ${JSON.stringify(s.policy)}`);
    const rt = s.policy === 'SCHED_FIFO' || s.policy === 'SCHED_RR';
    if (s.nice !== undefined && (!isInt(s.nice) || s.nice < -20 || s.nice > 19))
      at('process.scheduler.nice', `must be between -20 and 19, got ${s.nice}`);
    if (s.priority !== undefined) {
      if (!isInt(s.priority)) at('process.scheduler.priority', 'must be an integer');
      if (rt && (s.priority < 1 || s.priority > 99))
        at('process.scheduler.priority', `must be between 1 and 99 for ${s.policy}, got ${s.priority}`);
      if (!rt && s.priority !== 0) at('process.scheduler.priority', `must be 0 for ${s.policy}, got ${s.priority}`);
    } else if (rt) at('process.scheduler.priority', `is required for ${s.policy}`);
    // cgroup v1 with RT group scheduling: a new cpu cgroup has no real-time
    // budget, and the kernel's bare EPERM from sched_setattr names nothing
    const rtGroups = ['cpu', 'cpu,cpuacct'].some((d) => host.read?.(`/sys/fs/cgroup/${d}/cpu.rt_runtime_us`) != null);
    if (rt && rtGroups && !(l.resources?.cpu as { realtimeRuntime?: number } | undefined)?.realtimeRuntime)
      at(
        'process.scheduler.policy',
        `${s.policy} needs linux.resources.cpu.realtimeRuntime on this host: with cgroup v1 real-time group scheduling the container's new cgroup has no real-time budget`,
      );
    checkNames('process.scheduler.flags', s.flags, SCHED_FLAGS);
    for (const f of ['runtime', 'deadline', 'period'] as const) {
      const v = s[f];
      if (v !== undefined && (!isInt(v) || v < 0)) at(`process.scheduler.${f}`, `must be a non-negative integer, got ${v}`);
      if (v !== undefined && v !== 0 && s.policy !== 'SCHED_DEADLINE')
        at(`process.scheduler.${f}`, `applies only to SCHED_DEADLINE, not ${s.policy}`);
    }
    if (s.policy === 'SCHED_DEADLINE') {
      const { runtime = 0, deadline = 0, period = 0 } = s;
      if (!runtime || !deadline) at('process.scheduler', 'SCHED_DEADLINE needs runtime and deadline');
      if (runtime > deadline || (period && deadline > period))
        at('process.scheduler', 'SCHED_DEADLINE needs runtime <= deadline <= period');
    }
  }

  if (p.ioPriority) {
    if (!(p.ioPriority.class in IOPRIO_CLASSES)) at('process.ioPriority.class', `unknown class ${JSON.stringify(p.ioPriority.class)}`);
    const prio = p.ioPriority.priority ?? 0;
    if (!isInt(prio) || prio < 0 || prio > 7) at('process.ioPriority.priority', `must be between 0 and 7, got ${prio}`);
  }

  if (p.execCPUAffinity) {
    // Applies to processes joining a running container (exec), not to the
    // init (config.md); the lists must still be valid.
    for (const k of ['initial', 'final'] as const) {
      const v = p.execCPUAffinity[k];
      if (v === undefined) continue;
      try {
        parseCpuList(v);
      } catch (e) {
        at(`process.execCPUAffinity.${k}`, `invalid CPU list ${shown(v)}: ${(e as Error).message}`);
      }
    }
  }

  // LSMs: where the host has none, the error runc gives, before anything runs.
  if (p.apparmorProfile) {
    if (!lsm(host).apparmor) at('process.apparmorProfile', 'an AppArmor profile is specified, but AppArmor is not enabled on this host');
    // a profile the kernel does not have would fail the process's execve; say so now, before anything
    // exists (the list is readable where AppArmor is on; "unconfined" is no profile to load)
    const loaded = p.apparmorProfile === 'unconfined' ? null : host.read?.('/sys/kernel/security/apparmor/profiles');
    if (loaded != null && !loadedProfiles(loaded).has(p.apparmorProfile))
      at('process.apparmorProfile', `the AppArmor profile ${shown(p.apparmorProfile)} is not loaded (apparmor_parser -r loads it)`);
  }
  if (p.selinuxLabel) {
    // runc's rule: a label the host cannot apply is an error (a mount label is ignored instead, below)
    if (!lsm(host).selinux)
      at('process.selinuxLabel', 'an SELinux label is specified, but SELinux is disabled or not supported on this host');
    selinuxContext(host, 'process.selinuxLabel', p.selinuxLabel);
  }
  validateRlimitsAgainstHost(p, host);
}

/** The names in /sys/kernel/security/apparmor/profiles ("name (mode)" a line). */
function loadedProfiles(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/ \([a-z]+\)$/, '')),
  );
}

/** Which LSMs the host has on, read through `read` (null: unreadable): `features` reports the same. */
export function lsmEnabled(read: (p: string) => string | null | undefined): { apparmor: boolean; selinux: boolean } {
  return {
    apparmor: (read('/sys/module/apparmor/parameters/enabled') ?? '').trim() === 'Y',
    selinux: read('/sys/fs/selinux/enforce') != null,
  };
}

const lsm = (host: ProcessHost) => lsmEnabled((p) => host.read?.(p));

/** A label the policy does not know fails the init's write, or its mounts: say so now, before anything exists. */
function selinuxContext(host: ProcessHost, field: string, label: string): void {
  if (host.selinuxContextValid?.(label) === false) at(field, `${shown(label)} is not a valid SELinux context under the loaded policy`);
}

/** linux.* attributes of the container (not of each process). */
function validateLinuxAttrs(spec: Spec, host: ProcessHost): void {
  const l = spec.linux ?? {};
  const nsTypes = new Set((l.namespaces ?? []).map((n) => n.type));
  if (l.personality) {
    if (!(l.personality.domain in PERSONALITY_DOMAINS))
      at('linux.personality.domain', `unknown domain ${JSON.stringify(l.personality.domain)} (LINUX or LINUX32)`);
    checkNames('linux.personality.flags', l.personality.flags, PERSONALITY_FLAGS);
  }

  const mp = l.memoryPolicy as MemoryPolicySpec | undefined;
  if (mp) {
    if (!(mp.mode in MPOL_MODES)) at('linux.memoryPolicy.mode', `unknown mode ${JSON.stringify(mp.mode)}`);
    checkNames('linux.memoryPolicy.flags', mp.flags, MPOL_FLAGS);
    const needsNodes = !['MPOL_DEFAULT', 'MPOL_LOCAL'].includes(mp.mode);
    if (!needsNodes && mp.nodes) at('linux.memoryPolicy.nodes', `must be empty for ${mp.mode}`);
    if (needsNodes && !mp.nodes && mp.mode !== 'MPOL_PREFERRED') at('linux.memoryPolicy.nodes', `is required for ${mp.mode}`);
    if (mp.nodes) {
      let nodes: number[] = [];
      try {
        nodes = parseCpuList(mp.nodes);
      } catch (e) {
        at('linux.memoryPolicy.nodes', `invalid node list ${JSON.stringify(mp.nodes)}: ${(e as Error).message}`);
      }
      const online = host.read?.('/sys/devices/system/node/online');
      if (online && !mp.flags?.includes('MPOL_F_RELATIVE_NODES')) {
        const have = new Set(parseCpuList(online.trim()));
        const missing = nodes.filter((n) => !have.has(n));
        if (missing.length)
          at('linux.memoryPolicy.nodes', `node ${missing.join(',')} is not online on this host (online: ${online.trim()})`);
      }
    }
  }

  for (const [key, value] of Object.entries(l.sysctl ?? {})) {
    const field = `linux.sysctl[${JSON.stringify(key)}]`;
    // dotted or slashed (sysctl.d(5)); either way no component may step out of /proc/sys
    const parts = sysctlPath(key).split('/');
    if (parts.length < 2 || parts.some((c) => !/^[\w.@:+-]+$/.test(c) || c === '.' || c === '..'))
      at(field, `invalid sysctl name ${JSON.stringify(key)}`);
    if (typeof value !== 'string') at(field, 'the value must be a string');
    const name = JSON.stringify(sysctlName(key));
    const ns = sysctlNamespace(key);
    if (ns === null) at(field, `sysctl ${name} is not in a separate kernel namespace`);
    if (!nsTypes.has(ns!)) {
      const what = { network: 'network', ipc: 'ipc', uts: 'UTS', user: 'user' }[ns!];
      at(field, `sysctl ${name} is not allowed in the host's ${what} namespace (linux.namespaces has no ${ns})`);
    }
    // runc's rule and wording: a sysctl write would fight the field over the name
    if (sysctlName(key) === 'kernel.hostname') at(field, `sysctl ${name} is not allowed as it conflicts with the OCI "hostname" field`);
    // The same keys exist in every namespace of a type: a key the host
    // lacks is a typo (or a module not loaded), better named now than as
    // an ENOENT from the init.
    if (host.kind(`/proc/sys/${sysctlPath(key)}`) !== 'file') at(field, `no such sysctl on this host (/proc/sys/${sysctlPath(key)})`);
  }

  // ignored where SELinux is off, as crun does (no kernel takes the context= it would add; runc fails the mount)
  if (l.mountLabel && lsm(host).selinux) selinuxContext(host, 'linux.mountLabel', l.mountLabel);
  if (l.intelRdt !== undefined) {
    const resctrl = resctrlOf(host);
    validateIntelRdt(l.intelRdt, resctrl, (clos) => host.read?.(`${resctrl!.root}/${clos ? `${clos}/` : ''}schemata`) ?? null);
  }

  validateNetDevices(spec, host);
}

/** linux.netDevices: a new network namespace, existing host interfaces, valid distinct names. */
function validateNetDevices(spec: Spec, host: ProcessHost): void {
  const devices = spec.linux?.netDevices ?? {};
  const names = new Set<string>();
  const validName = (n: string) => n.length > 0 && n.length <= 15 && n !== '.' && n !== '..' && !/[/:\s]/.test(n);
  for (const [hostName, d] of Object.entries(devices)) {
    const field = `linux.netDevices[${JSON.stringify(hostName)}]`;
    if (!(spec.linux?.namespaces ?? []).some((n) => n.type === 'network'))
      at(field, 'moving an interface needs a network namespace of the container (linux.namespaces has no network)');
    if (!validName(hostName)) at(field, `invalid interface name ${JSON.stringify(hostName)}`);
    const name = d?.name || hostName;
    if (!validName(name)) at(`${field}.name`, `invalid interface name ${JSON.stringify(name)}`);
    if (names.has(name)) at(`${field}.name`, `two devices would be named ${JSON.stringify(name)} in the container`);
    names.add(name);
    if (host.kind(`/sys/class/net/${hostName}`) === null) at(field, `no interface ${JSON.stringify(hostName)} on the host`);
  }
}

const CAP_SYS_RESOURCE = BigInt(CAPABILITIES.indexOf('CAP_SYS_RESOURCE'));

/**
 * A hard limit above the runtime's own needs CAP_SYS_RESOURCE; without it
 * the init's setrlimit would fail with a bare EPERM after clone. Say which
 * limit and why before anything starts.
 */
function validateRlimitsAgainstHost(p: Process, host: ProcessHost): void {
  const rl = p.rlimits ?? [];
  if (!rl.length || !host.read) return;
  const status = host.read('/proc/self/status') ?? '';
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status);
  if (!capEff || (BigInt(`0x${capEff[1]}`) >> CAP_SYS_RESOURCE) & 1n) return;
  const limits = parseLimits(host.read('/proc/self/limits') ?? '');
  rl.forEach((r, i) => {
    const current = limits.get(RLIMITS[r.type]!);
    if (current === undefined) return;
    if (rlimitValue(r.hard) > current)
      at(
        `process.rlimits[${i}]`,
        `${r.type} hard limit ${r.hard} exceeds the host's hard limit ${current === RLIM_INFINITY ? 'unlimited' : current}, and raising it needs CAP_SYS_RESOURCE, which this runtime does not have`,
      );
  });
}

const LIMIT_ROWS: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** /proc/self/limits → resource number → hard limit. */
export function parseLimits(text: string): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (const line of text.split('\n')) {
    const name = Object.keys(LIMIT_ROWS).find((k) => line.startsWith(k));
    if (!name) continue;
    const cols = line.slice(name.length).trim().split(/\s+/);
    const hard = cols[1];
    if (hard === undefined) continue;
    out.set(RLIMITS[LIMIT_ROWS[name]!]!, hard === 'unlimited' ? RLIM_INFINITY : BigInt(hard));
  }
  return out;
}
