/**
 * The numbers and names TypeScript shares with the C side: plan flags and
 * kinds, the plan's byte layout, sync message types, step names, the state
 * dir's files and keys, error codes, seccomp's and the kernel's numbers.
 * None is written here: the build generates ./constants.gen.ts from the C
 * headers before tsc runs (native/host/constants.c, scripts/gen-constants.mjs),
 * so importing this module loads no addon, and a name the headers drop
 * fails to compile. tests/unit/constants.test.ts checks the generated module
 * against the C tool and the addon; loadBinding() refuses an addon of
 * another plan version.
 */
import { GENERATED as C } from './constants.gen.js';

/** A group of named numbers, widened to `number` (the names stay checked). */
type Numbers<T> = { readonly [K in keyof T]: number };

export const PLAN_MAGIC: number = C.planMagic;
/** The plan version this TypeScript was built against (TSRUN_PLAN_VERSION). */
export const PLAN_VERSION: number = C.planVersion;
export const PlanFlag: Numbers<typeof C.planFlags> = C.planFlags;
export const ProcFlag: Numbers<typeof C.procFlags> = C.procFlags;
export const NsFlag: Numbers<typeof C.nsFlags> = C.nsFlags;
/** ns_joins' nstype for the init's root, entered after the mount namespace (TSRUN_JOIN_ROOT). */
export const JOIN_ROOT: number = C.joinRoot;
export const CapSet: Numbers<typeof C.capSets> = C.capSets;
export const MountKind: Numbers<typeof C.mountKinds> = C.mountKinds;
export const TargetKind: Numbers<typeof C.targetKinds> = C.targetKinds;
export const DeviceType: Numbers<typeof C.deviceTypes> = C.deviceTypes;
export const HookKind: Numbers<typeof C.hookKinds> = C.hookKinds;
/** The sync message types, plus EOF (0: the child closed the socket without a word). */
export const SyncType: Numbers<typeof C.syncTypes & { EOF: 0 }> = { EOF: 0, ...C.syncTypes };
/** Init step names by step number (enum tsrun_step). */
export const STEP_NAMES: readonly string[] = C.stepNames;

/**
 * offsetof, sizeof and the C type of every field of the plan header and its
 * records (C names), with literal types: lib/native/plan-codec.ts writes each
 * field at the width its C type has, and does not compile when a field is
 * missing or its type changes.
 */
export const LAYOUT = C.layout;
export type PlanLayout = typeof C.layout;

/** The files of a container's state dir (TSRUN_*_FILE), and the deepest JSON nesting their C reader takes. */
export const STATE_FILES: {
  readonly state: string;
  readonly intent: string;
  readonly fifo: string;
  readonly seccomp: string;
  readonly maxDepth: number;
  /** What a user refused the state root is told to do (after "running as uid N: "). */
  readonly rootHint: string;
} = C.stateFiles;
/** The keys of state.json (TSRUN_STATE_KEYS), in the order it is written. */
export const STATE_KEYS: readonly string[] = C.stateKeys;

/** The stable error codes and what each means (TSRUN_ERROR_CODES, native/include/tsrun_errors.h). */
export const ERROR_CODES = C.errorCodes;

/** seccomp: our actions (enum tsrun_seccomp_action), libseccomp's operators, seccomp(2)'s filter flags. */
export const SECCOMP: {
  readonly actions: Numbers<typeof C.seccomp.actions>;
  readonly operators: Numbers<typeof C.seccomp.operators>;
  readonly filterFlags: Numbers<typeof C.seccomp.filterFlags>;
} = C.seccomp;

/** The kernel's numbers the planner writes into a plan, from the kernel's and libc's headers. */
export const KERNEL: {
  readonly [G in keyof typeof C.kernel]: (typeof C.kernel)[G] extends number ? number : Numbers<(typeof C.kernel)[G]>;
} = C.kernel;

/** The name of step `n` as the init reports it. */
export function stepName(n: number): string {
  return STEP_NAMES[n] ?? `step ${n}`;
}
