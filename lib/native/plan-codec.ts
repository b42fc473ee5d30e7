/**
 * The plan codec: InitPlan → the flat buffer of native/include/tsrun_plan.h.
 * Offsets here mirror the C header; tests/unit/plan-codec.test.ts decodes
 * the output with the C loader (build/tsrun-plan-dump) to prove they agree,
 * and plan.c's static assertions pin the C side.
 */
import type { InitPlan } from '../plan/types.js';

export const PLAN_MAGIC = 0x50525354;
export const PLAN_VERSION = 2;
export const HEADER_SIZE = 376;
const MOUNT_SIZE = 56;
const RLIMIT_SIZE = 24;
const DEVICE_SIZE = 32;
const SYMLINK_SIZE = 16;
const NS_JOIN_SIZE = 8;

/** Header field offsets (struct tsrun_plan_header). */
const H = {
  magic: 0,
  version: 4,
  size: 8,
  flags: 12,
  cloneFlags: 16,
  rootfsPropagation: 24,
  caps: 32, // 5 × u64
  uid: 72,
  gid: 76,
  umask: 80,
  consoleWidth: 84,
  consoleHeight: 88,
  consoleSocketFd: 92,
  preserveFds: 96,
  // pad0: 100
  rootfs: 104,
  hostname: 112,
  domainname: 120,
  cwd: 128,
  stateDir: 136,
  keyring: 144,
  args: 152,
  env: 160,
  additionalGids: 168,
  mounts: 176,
  rlimits: 184,
  devices: 192,
  symlinks: 200,
  // issue 4: seccomp
  seccompBpf: 208,
  seccompFlags: 216,
  // seccomp_pad: 220
  // issue 3 (3proc)
  procFlags: 224,
  personality: 228,
  ioprio: 232,
  mempolicyMode: 236,
  rootPropagation: 240,
  sched: 248, // struct tsrun_sched, 48 bytes
  mempolicyNodes: 296,
  sysctls: 304,
  mountAttrs: 312,
  // issue 3 (namespaces and ids)
  unshareFlags: 320,
  nsFlags: 328,
  // pad1: 332
  nsJoins: 336,
  monotonicSecs: 344,
  boottimeSecs: 352,
  monotonicNsecs: 360,
  boottimeNsecs: 364,
  idmapMounts: 368,
} as const;
const SCHED_SIZE = 48;
const SYSCTL_SIZE = 16;
const MOUNT_ATTR_SIZE = 24;

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
  /** Writes a NUL-terminated string; returns [off, len] (off 0 = absent). */
  str(s: string | null): [number, number] {
    if (s === null) return [0, 0];
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.includes(0)) throw new Error(`plan string contains NUL: ${JSON.stringify(s)}`);
    const off = this.alloc(bytes.length + 1, 1);
    bytes.copy(this.buf, off);
    this.buf[off + bytes.length] = 0;
    return [off, bytes.length];
  }
  putStr(at: number, s: string | null): void {
    const [off, len] = this.str(s);
    this.buf.writeUInt32LE(off, at);
    this.buf.writeUInt32LE(len, at + 4);
  }
  /** Reserves `count` records of `size` bytes and points the vec at `at` to them. */
  vec(at: number, count: number, size: number): number {
    const off = count ? this.alloc(count * size, 8) : 0;
    this.buf.writeUInt32LE(off, at);
    this.buf.writeUInt32LE(count, at + 4);
    return off;
  }
}

export function encodePlan(p: InitPlan): Buffer {
  const w = new Writer(HEADER_SIZE);
  const b = () => w.buf; // the buffer may grow: always re-read it
  b().writeUInt32LE(PLAN_MAGIC, H.magic);
  b().writeUInt32LE(PLAN_VERSION, H.version);
  b().writeUInt32LE(p.flags >>> 0, H.flags);
  b().writeBigUInt64LE(p.cloneFlags, H.cloneFlags);
  b().writeBigUInt64LE(p.rootfsPropagation, H.rootfsPropagation);
  p.caps.forEach((c, i) => b().writeBigUInt64LE(c, H.caps + 8 * i));
  b().writeUInt32LE(p.uid >>> 0, H.uid);
  b().writeUInt32LE(p.gid >>> 0, H.gid);
  b().writeUInt32LE(p.umask >>> 0, H.umask);
  b().writeUInt32LE(p.consoleWidth >>> 0, H.consoleWidth);
  b().writeUInt32LE(p.consoleHeight >>> 0, H.consoleHeight);
  b().writeInt32LE(p.consoleSocketFd, H.consoleSocketFd);
  b().writeUInt32LE(p.preserveFds >>> 0, H.preserveFds);
  w.putStr(H.rootfs, p.rootfs);
  w.putStr(H.hostname, p.hostname);
  w.putStr(H.domainname, p.domainname);
  w.putStr(H.cwd, p.cwd);
  w.putStr(H.stateDir, p.stateDir);
  w.putStr(H.keyring, p.keyring);

  const strVec = (at: number, items: readonly string[]) => {
    const off = w.vec(at, items.length, 8);
    items.forEach((s, i) => w.putStr(off + 8 * i, s));
  };
  strVec(H.args, p.args);
  strVec(H.env, p.env);

  const gids = w.vec(H.additionalGids, p.additionalGids.length, 4);
  p.additionalGids.forEach((g, i) => b().writeUInt32LE(g >>> 0, gids + 4 * i));

  const mounts = w.vec(H.mounts, p.mounts.length, MOUNT_SIZE);
  p.mounts.forEach((m, i) => {
    const at = mounts + MOUNT_SIZE * i;
    w.putStr(at, m.source);
    w.putStr(at + 8, m.destination);
    w.putStr(at + 16, m.fstype);
    w.putStr(at + 24, m.data);
    b().writeBigUInt64LE(m.flags, at + 32);
    b().writeBigUInt64LE(m.propagation, at + 40);
    b().writeUInt32LE(m.kind, at + 48);
    b().writeUInt32LE(m.targetKind, at + 52);
  });

  const rl = w.vec(H.rlimits, p.rlimits.length, RLIMIT_SIZE);
  p.rlimits.forEach((r, i) => {
    const at = rl + RLIMIT_SIZE * i;
    b().writeUInt32LE(r.resource, at);
    b().writeBigUInt64LE(r.soft, at + 8);
    b().writeBigUInt64LE(r.hard, at + 16);
  });

  const devs = w.vec(H.devices, p.devices.length, DEVICE_SIZE);
  p.devices.forEach((d, i) => {
    const at = devs + DEVICE_SIZE * i;
    w.putStr(at, d.path);
    [d.type, d.major, d.minor, d.mode, d.uid, d.gid].forEach((v, j) => b().writeUInt32LE(v >>> 0, at + 8 + 4 * j));
  });

  const links = w.vec(H.symlinks, p.symlinks.length, SYMLINK_SIZE);
  p.symlinks.forEach((l, i) => {
    const at = links + SYMLINK_SIZE * i;
    w.putStr(at, l.target);
    w.putStr(at + 8, l.linkpath);
  });

  // issue 4: seccomp, the BPF program as struct sock_filter records
  if (p.seccomp) {
    const bpf = p.seccomp.bpf;
    if (bpf.length % 8 !== 0) throw new Error('seccomp BPF is not a whole number of sock_filter records');
    const at = w.vec(H.seccompBpf, bpf.length / 8, 8);
    b().set(bpf, at);
    b().writeUInt32LE(p.seccomp.flags >>> 0, H.seccompFlags);
  }

  // issue 3 (3proc): process attributes, sysctls, recursive mount attributes
  const a = p.procAttrs;
  b().writeUInt32LE(a.procFlags >>> 0, H.procFlags);
  b().writeUInt32LE(a.personality >>> 0, H.personality);
  b().writeUInt32LE(a.ioprio >>> 0, H.ioprio);
  b().writeUInt32LE(a.mempolicyMode >>> 0, H.mempolicyMode);
  b().writeBigUInt64LE(a.rootPropagation, H.rootPropagation);
  b().writeUInt32LE(SCHED_SIZE, H.sched);
  b().writeUInt32LE(a.sched.policy >>> 0, H.sched + 4);
  b().writeBigUInt64LE(a.sched.flags, H.sched + 8);
  b().writeInt32LE(a.sched.nice, H.sched + 16);
  b().writeUInt32LE(a.sched.priority >>> 0, H.sched + 20);
  b().writeBigUInt64LE(a.sched.runtime, H.sched + 24);
  b().writeBigUInt64LE(a.sched.deadline, H.sched + 32);
  b().writeBigUInt64LE(a.sched.period, H.sched + 40);
  const nodes = w.vec(H.mempolicyNodes, a.mempolicyNodes.length, 8);
  a.mempolicyNodes.forEach((n, i) => b().writeBigUInt64LE(n, nodes + 8 * i));
  const sysctls = w.vec(H.sysctls, a.sysctls.length, SYSCTL_SIZE);
  a.sysctls.forEach((s, i) => {
    w.putStr(sysctls + SYSCTL_SIZE * i, s.path);
    w.putStr(sysctls + SYSCTL_SIZE * i + 8, s.value);
  });
  const attrs = w.vec(H.mountAttrs, p.mountAttrs.length, MOUNT_ATTR_SIZE);
  p.mountAttrs.forEach((m, i) => {
    const at = attrs + MOUNT_ATTR_SIZE * i;
    b().writeUInt32LE(m.mount, at);
    b().writeBigUInt64LE(m.attrSet, at + 8);
    b().writeBigUInt64LE(m.attrClr, at + 16);
  });

  // issue 3 (namespaces and ids)
  b().writeBigUInt64LE(p.unshareFlags, H.unshareFlags);
  b().writeUInt32LE(p.nsFlags >>> 0, H.nsFlags);
  const joins = w.vec(H.nsJoins, p.nsJoins.length, NS_JOIN_SIZE);
  p.nsJoins.forEach((j, i) => {
    b().writeInt32LE(j.fd, joins + NS_JOIN_SIZE * i);
    b().writeUInt32LE(j.nstype >>> 0, joins + NS_JOIN_SIZE * i + 4);
  });
  b().writeBigInt64LE(p.timeOffsets.monotonic[0], H.monotonicSecs);
  b().writeBigInt64LE(p.timeOffsets.boottime[0], H.boottimeSecs);
  b().writeUInt32LE(p.timeOffsets.monotonic[1] >>> 0, H.monotonicNsecs);
  b().writeUInt32LE(p.timeOffsets.boottime[1] >>> 0, H.boottimeNsecs);
  const idm = w.vec(H.idmapMounts, p.idmapMounts.length, 8);
  p.idmapMounts.forEach((m, i) => {
    b().writeUInt32LE(m.mountIndex >>> 0, idm + 8 * i);
    b().writeInt32LE(m.fd, idm + 8 * i + 4);
  });

  const total = Math.ceil(w.len / 8) * 8;
  w.alloc(total - w.len, 1);
  b().writeUInt32LE(total, H.size);
  return Buffer.from(b().subarray(0, total));
}
