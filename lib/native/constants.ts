/**
 * The numbers TypeScript shares with the C side, as the addon exports them
 * (native/binding/constants.cc) from the headers that define them: plan
 * flags and kinds, sync message types, step names and the byte layout of
 * the plan buffer. Nothing here restates a value; every name is checked to
 * be present when this module loads, so a header and this file cannot
 * drift apart silently.
 */
import { loadBinding } from './binding.js';

/** Every group and name this module promises, checked against the addon when it loads. */
const EXPECTED = {
  planFlags: [
    'NO_PIVOT',
    'NO_NEW_PRIVS',
    'ROOT_READONLY',
    'TERMINAL',
    'NEW_KEYRING',
    'SET_UMASK',
    'SET_CAPS',
    'HOOK_SYNC',
    'TENANT',
    'HOST_MOUNTS',
    'NO_SETGROUPS',
    'WAIT_DUMPABLE',
  ],
  procFlags: ['PERSONALITY', 'SCHED', 'IOPRIO', 'MEMPOLICY'],
  nsFlags: ['STAGE', 'FORK', 'TIME_OFFSETS'],
  capSets: ['BOUNDING', 'EFFECTIVE', 'INHERITABLE', 'PERMITTED', 'AMBIENT'],
  mountKinds: ['FS', 'BIND', 'MASK', 'READONLY', 'COPYUP'],
  targetKinds: ['DIR', 'FILE'],
  deviceTypes: ['CHAR', 'BLOCK', 'FIFO'],
  syncTypes: ['GO', 'READY', 'ERROR', 'PTY', 'HOOKS', 'SECCOMP', 'IDMAP', 'PID'],
  hookKinds: ['CREATE_CONTAINER', 'START_CONTAINER'],
} as const;

type Group = keyof typeof EXPECTED;
type Names<G extends Group> = Readonly<Record<(typeof EXPECTED)[G][number], number>>;

/** What the addon's `constants` export holds. */
export interface NativeConstants {
  planMagic: number;
  planVersion: number;
  planFlags: Names<'planFlags'>;
  procFlags: Names<'procFlags'>;
  nsFlags: Names<'nsFlags'>;
  capSets: Names<'capSets'>;
  mountKinds: Names<'mountKinds'>;
  targetKinds: Names<'targetKinds'>;
  deviceTypes: Names<'deviceTypes'>;
  syncTypes: Names<'syncTypes'>;
  hookKinds: Names<'hookKinds'>;
  stepNames: readonly string[];
  layout: PlanLayout;
}

type Record_<K extends string> = Readonly<Record<K | 'bytes', number>>;

/** offsetof/sizeof of struct tsrun_plan_header and its records (C names). */
export interface PlanLayout {
  plan_header: Record_<
    | 'magic'
    | 'version'
    | 'size'
    | 'flags'
    | 'clone_flags'
    | 'rootfs_propagation'
    | 'caps'
    | 'uid'
    | 'gid'
    | 'umask'
    | 'console_width'
    | 'console_height'
    | 'console_socket_fd'
    | 'preserve_fds'
    | 'rootfs'
    | 'hostname'
    | 'domainname'
    | 'cwd'
    | 'state_dir'
    | 'keyring'
    | 'args'
    | 'env'
    | 'additional_gids'
    | 'mounts'
    | 'rlimits'
    | 'devices'
    | 'symlinks'
    | 'seccomp_bpf'
    | 'seccomp_flags'
    | 'proc_flags'
    | 'personality'
    | 'ioprio'
    | 'mempolicy_mode'
    | 'root_propagation'
    | 'sched'
    | 'mempolicy_nodes'
    | 'sysctls'
    | 'mount_attrs'
    | 'unshare_flags'
    | 'ns_flags'
    | 'ns_joins'
    | 'monotonic_secs'
    | 'boottime_secs'
    | 'monotonic_nsecs'
    | 'boottime_nsecs'
    | 'idmap_mounts'
    | 'cpu_affinity_initial'
    | 'cpu_affinity_final'
    | 'hooks'
    | 'hook_state'
  >;
  mount: Record_<'source' | 'destination' | 'fstype' | 'data' | 'flags' | 'propagation' | 'kind' | 'target_kind'>;
  rlimit: Record_<'resource' | 'soft' | 'hard'>;
  device: Record_<'path' | 'type' | 'major' | 'minor' | 'mode' | 'uid' | 'gid'>;
  symlink: Record_<'target' | 'linkpath'>;
  sched: Record_<'size' | 'policy' | 'flags' | 'nice' | 'priority' | 'runtime' | 'deadline' | 'period'>;
  sysctl: Record_<'path' | 'value'>;
  mount_attr: Record_<'mount' | 'attr_set' | 'attr_clr'>;
  ns_join: Record_<'fd' | 'nstype'>;
  idmap_mount: Record_<'mount_index' | 'fd'>;
  hook: Record_<'path' | 'args' | 'env' | 'kind' | 'timeout_ms'>;
  str_size: number;
  sock_filter_size: number;
}

/** Throws naming the first group or name the addon does not export. */
export function checkConstants(c: NativeConstants): NativeConstants {
  for (const [group, names] of Object.entries(EXPECTED)) {
    const got = (c as unknown as Record<string, Record<string, unknown>>)[group];
    const missing = names.filter((n) => typeof got?.[n] !== 'number');
    if (missing.length)
      throw new Error(`tsrun: the native addon does not export ${group}.${missing.join(', ')}: rebuild it (npm run build)`);
  }
  return c;
}

const C = checkConstants(loadBinding().constants);

export const PLAN_MAGIC = C.planMagic;
export const PlanFlag = C.planFlags;
export const ProcFlag = C.procFlags;
export const NsFlag = C.nsFlags;
export const CapSet = C.capSets;
export const MountKind = C.mountKinds;
export const TargetKind = C.targetKinds;
export const DeviceType = C.deviceTypes;
export const HookKind = C.hookKinds;
/** The sync message types, plus EOF (0: the child closed the socket without a word). */
export const SyncType = { EOF: 0, ...C.syncTypes } as const;
/** Init step names by step number (enum tsrun_step). */
export const STEP_NAMES: readonly string[] = C.stepNames;
export const LAYOUT: PlanLayout = C.layout;

/** The name of step `n` as the init reports it. */
export function stepName(n: number): string {
  return STEP_NAMES[n] ?? `step ${n}`;
}
