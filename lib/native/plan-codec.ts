/**
 * The plan codec: InitPlan → the flat buffer of native/include/tsrun_plan.h.
 *
 * encodePlan says what goes in each C field, by its C name; the writer
 * takes every offset, size and width from LAYOUT (the C compiler's offsetof,
 * sizeof and type of each field, generated at build time). The value a
 * field takes is typed from that layout: a u64 field takes a bigint, a u32
 * a number, a vector an array of its element, so a field added in C, or
 * one whose C type changes, does not compile until it is written right.
 * tests/unit/plan-codec.test.ts decodes the output with the C loader
 * (build/tsrun-plan-dump) to prove they agree.
 */
import type { InitPlan } from '../plan/types.js';
import { LAYOUT, PLAN_MAGIC, PLAN_VERSION, type PlanLayout } from './constants.js';

export const HEADER_SIZE = LAYOUT.plan_header.bytes;

// ---- what each field of the layout takes --------------------------------

type RecordName = keyof PlanLayout;
type Fields<R extends RecordName> = PlanLayout[R]['fields'];
type Int<T> = T extends 'u32' | 'i32' ? number : T extends 'u64' | 'i64' ? bigint : never;
/** A vector's element: a string, a number, or a record. */
type Element<E> = E extends 'str' ? string : E extends RecordName ? RecordValue<E> : Int<E>;
type FieldValue<F> = F extends { type: 'vec'; elem: 'sock_filter' }
  ? Uint8Array // a BPF program: its records copied as they are
  : F extends { type: 'vec'; elem: infer E }
    ? readonly Element<E>[]
    : F extends { type: 'str' }
      ? string | null
      : F extends { type: infer T; count: number }
        ? readonly Int<T>[]
        : F extends { type: infer T }
          ? T extends RecordName
            ? RecordValue<T>
            : Int<T>
          : never;
/** The value of a record: every field but padding, by its C name. */
export type RecordValue<R extends RecordName> = {
  readonly [K in keyof Fields<R> as Fields<R>[K] extends { type: 'pad' } ? never : K]: FieldValue<Fields<R>[K]>;
};

interface FieldDesc {
  readonly off: number;
  readonly size: number;
  readonly type: string;
  readonly count?: number;
  readonly elem?: string;
  readonly elemSize?: number;
}

// ---- the writer -----------------------------------------------------------

class Writer {
  buf: Buffer;
  len: number;
  constructor(initial: number) {
    this.buf = Buffer.alloc(Math.max(initial, 4096));
    this.len = initial;
  }
  alloc(size: number, align = 8): number {
    const off = Math.ceil(this.len / align) * align;
    const end = off + size;
    if (end > this.buf.length) {
      const next = Buffer.alloc(Math.max(end, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.len = end;
    return off;
  }

  /** A number at the width and signedness of its C type. */
  int(type: string, at: number, v: unknown, what: string): void {
    const b = this.buf;
    if (type === 'u32' && typeof v === 'number')
      b.writeUInt32LE(v < 0 ? v >>> 0 : v, at); // a bit-31 flag is negative in JS
    else if (type === 'i32' && typeof v === 'number') b.writeInt32LE(v, at);
    else if (type === 'u64' && typeof v === 'bigint') b.writeBigUInt64LE(v, at);
    else if (type === 'i64' && typeof v === 'bigint') b.writeBigInt64LE(v, at);
    else throw new Error(`plan codec: ${what} is a ${type}, not ${typeof v}`);
  }

  /** A NUL-terminated string and its tsrun_str {off, len} at `at` (off 0: absent). */
  str(at: number, s: string | null, what: string): void {
    let off = 0;
    let len = 0;
    if (s !== null) {
      const bytes = Buffer.from(s, 'utf8');
      if (bytes.includes(0)) throw new Error(`plan string contains NUL: ${JSON.stringify(s)}`);
      off = this.alloc(bytes.length + 1, 1);
      bytes.copy(this.buf, off);
      this.buf[off + bytes.length] = 0;
      len = bytes.length;
    }
    this.record('str', at, { off, len }, what);
  }

  /** `count` records of `size` bytes (8-byte aligned), and the tsrun_vec at `at` that points to them. */
  vec(at: number, count: number, size: number, what: string): number {
    const off = count ? this.alloc(count * size, 8) : 0;
    this.record('vec', at, { off, count }, what);
    return off;
  }

  field(f: FieldDesc, at: number, v: unknown, what: string): void {
    if (f.type === 'pad') return; // zero, as the buffer starts
    if (f.type === 'str') return this.str(at, v as string | null, what);
    if (f.type === 'vec') return this.vector(f.elem!, f.elemSize!, at, v as readonly unknown[] | Uint8Array, what);
    if (f.type in LAYOUT) return this.record(f.type as RecordName, at, v as object, what);
    if (f.count === undefined) return this.int(f.type, at, v, what);
    const items = v as readonly unknown[];
    if (items.length !== f.count) throw new Error(`plan codec: ${what} has ${f.count} elements, not ${items.length}`);
    const width = f.size / f.count;
    items.forEach((x, i) => this.int(f.type, at + width * i, x, `${what}[${i}]`));
  }

  vector(elem: string, size: number, at: number, items: readonly unknown[] | Uint8Array, what: string): void {
    if (items instanceof Uint8Array) {
      if (items.length % size !== 0) throw new Error(`plan codec: ${what} is not a whole number of ${size}-byte ${elem} records`);
      const off = this.vec(at, items.length / size, size, what);
      this.buf.set(items, off); // (read this.buf only now: vec() may have grown it)
      return;
    }
    const off = this.vec(at, items.length, size, what);
    const desc: FieldDesc = { off: 0, size, type: elem };
    items.forEach((x, i) => this.field(desc, off + size * i, x, `${what}[${i}]`));
  }

  /** Every field of record `name` at `at`, each from `value`'s member of the same name. */
  record(name: RecordName, at: number, value: object, what: string): void {
    const v = value as Record<string, unknown>;
    for (const [key, f] of Object.entries(LAYOUT[name].fields as Record<string, FieldDesc>)) {
      if (f.type !== 'pad' && !(key in v)) throw new Error(`plan codec: ${what} has no ${key}`);
      this.field(f, at + f.off, v[key], `${what}.${key}`);
    }
  }
}

// ---- the plan -------------------------------------------------------------

export function encodePlan(p: InitPlan): Buffer {
  const H = LAYOUT.plan_header;
  const a = p.procAttrs;
  const header: RecordValue<'plan_header'> = {
    magic: PLAN_MAGIC,
    version: PLAN_VERSION,
    size: 0, // the whole buffer's: written last
    flags: p.flags,
    clone_flags: p.cloneFlags,
    rootfs_propagation: p.rootfsPropagation,
    caps: p.caps,
    uid: p.uid,
    gid: p.gid,
    umask: p.umask,
    console_width: p.consoleWidth,
    console_height: p.consoleHeight,
    console_socket_fd: p.consoleSocketFd,
    pidfd_socket_fd: p.pidfdSocketFd,
    preserve_fds: p.preserveFds,
    rootfs_parent_propagation: p.rootfsParentPropagation,
    rootfs: p.rootfs,
    hostname: p.hostname,
    domainname: p.domainname,
    cwd: p.cwd,
    state_dir: p.stateDir,
    keyring: p.keyring,
    args: p.args,
    env: p.env,
    additional_gids: p.additionalGids,
    mounts: p.mounts.map((m) => ({
      source: m.source,
      destination: m.destination,
      fstype: m.fstype,
      data: m.data,
      flags: m.flags,
      propagation: m.propagation,
      kind: m.kind,
      target_kind: m.targetKind,
    })),
    rlimits: p.rlimits,
    devices: p.devices,
    symlinks: p.symlinks,
    // seccomp: the BPF program as struct sock_filter records
    seccomp_bpf: p.seccomp?.bpf ?? new Uint8Array(0),
    seccomp_flags: p.seccomp?.flags ?? 0,
    // process attributes, sysctls, recursive mount attributes
    proc_flags: a.procFlags,
    personality: a.personality,
    ioprio: a.ioprio,
    mempolicy_mode: a.mempolicyMode,
    root_propagation: a.rootPropagation,
    sched: { size: LAYOUT.sched.bytes, ...a.sched },
    mempolicy_nodes: a.mempolicyNodes,
    sysctls: a.sysctls,
    mount_attrs: p.mountAttrs.map((m) => ({ mount: m.mount, attr_set: m.attrSet, attr_clr: m.attrClr })),
    // namespaces and ids
    unshare_flags: p.unshareFlags,
    ns_flags: p.nsFlags,
    keyring_perms: p.keyringPerms,
    ns_joins: p.nsJoins,
    monotonic_secs: p.timeOffsets.monotonic[0],
    boottime_secs: p.timeOffsets.boottime[0],
    monotonic_nsecs: p.timeOffsets.monotonic[1],
    boottime_nsecs: p.timeOffsets.boottime[1],
    idmap_mounts: p.idmapMounts.map((m) => ({ mount_index: m.mountIndex, fd: m.fd })),
    cpu_affinity_initial: p.cpuAffinity.initial,
    cpu_affinity_final: p.cpuAffinity.final,
    hooks: p.hooks.map((h) => ({ path: h.path, args: h.args, env: h.env, kind: h.kind, timeout_ms: h.timeoutMs })),
    hook_state: p.hookState,
    apparmor_profile: p.apparmorProfile,
    selinux_label: p.selinuxLabel,
    mqueue_label: p.mqueueLabel,
    rootfs_overlay: p.rootfsOverlay,
  };
  const w = new Writer(H.bytes);
  w.record('plan_header', 0, header, 'plan');
  const total = Math.ceil(w.len / 8) * 8;
  w.alloc(total - w.len, 1);
  w.field(H.fields.size, H.fields.size.off, total, 'plan.size');
  return Buffer.from(w.buf.subarray(0, total));
}
