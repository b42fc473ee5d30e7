/**
 * The plan codec: InitPlan → the flat buffer of native/include/tsrun_plan.h.
 * Every offset and record size comes from the addon (LAYOUT, the C
 * compiler's offsetof and sizeof); tests/unit/plan-codec.test.ts decodes
 * the output with the C loader (build/tsrun-plan-dump) to prove they agree.
 */
import type { InitPlan } from '../plan/types.js';
import { PLAN_VERSION } from './binding.js';
import { LAYOUT, PLAN_MAGIC } from './constants.js';

const H = LAYOUT.plan_header;
export const HEADER_SIZE = H.bytes;

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
  const u32 = (v: number, at: number) => b().writeUInt32LE(v >>> 0, at);
  const i32 = (v: number, at: number) => b().writeInt32LE(v, at);
  const u64 = (v: bigint, at: number) => b().writeBigUInt64LE(v, at);
  u32(PLAN_MAGIC, H.magic);
  u32(PLAN_VERSION, H.version);
  u32(p.flags, H.flags);
  u64(p.cloneFlags, H.clone_flags);
  u64(p.rootfsPropagation, H.rootfs_propagation);
  p.caps.forEach((c, i) => u64(c, H.caps + 8 * i));
  u32(p.uid, H.uid);
  u32(p.gid, H.gid);
  u32(p.umask, H.umask);
  u32(p.consoleWidth, H.console_width);
  u32(p.consoleHeight, H.console_height);
  i32(p.consoleSocketFd, H.console_socket_fd);
  u32(p.preserveFds, H.preserve_fds);
  w.putStr(H.rootfs, p.rootfs);
  w.putStr(H.hostname, p.hostname);
  w.putStr(H.domainname, p.domainname);
  w.putStr(H.cwd, p.cwd);
  w.putStr(H.state_dir, p.stateDir);
  w.putStr(H.keyring, p.keyring);

  const strVec = (at: number, items: readonly string[]) => {
    const off = w.vec(at, items.length, LAYOUT.str_size);
    items.forEach((s, i) => w.putStr(off + LAYOUT.str_size * i, s));
  };
  const u64Vec = (at: number, items: readonly bigint[]) => {
    const off = w.vec(at, items.length, 8);
    items.forEach((v, i) => u64(v, off + 8 * i));
  };
  strVec(H.args, p.args);
  strVec(H.env, p.env);

  const gids = w.vec(H.additional_gids, p.additionalGids.length, 4);
  p.additionalGids.forEach((g, i) => u32(g, gids + 4 * i));

  const M = LAYOUT.mount;
  const mounts = w.vec(H.mounts, p.mounts.length, M.bytes);
  p.mounts.forEach((m, i) => {
    const at = mounts + M.bytes * i;
    w.putStr(at + M.source, m.source);
    w.putStr(at + M.destination, m.destination);
    w.putStr(at + M.fstype, m.fstype);
    w.putStr(at + M.data, m.data);
    u64(m.flags, at + M.flags);
    u64(m.propagation, at + M.propagation);
    u32(m.kind, at + M.kind);
    u32(m.targetKind, at + M.target_kind);
  });

  const R = LAYOUT.rlimit;
  const rl = w.vec(H.rlimits, p.rlimits.length, R.bytes);
  p.rlimits.forEach((r, i) => {
    const at = rl + R.bytes * i;
    u32(r.resource, at + R.resource);
    u64(r.soft, at + R.soft);
    u64(r.hard, at + R.hard);
  });

  const D = LAYOUT.device;
  const devs = w.vec(H.devices, p.devices.length, D.bytes);
  p.devices.forEach((d, i) => {
    const at = devs + D.bytes * i;
    w.putStr(at + D.path, d.path);
    u32(d.type, at + D.type);
    u32(d.major, at + D.major);
    u32(d.minor, at + D.minor);
    u32(d.mode, at + D.mode);
    u32(d.uid, at + D.uid);
    u32(d.gid, at + D.gid);
  });

  const L = LAYOUT.symlink;
  const links = w.vec(H.symlinks, p.symlinks.length, L.bytes);
  p.symlinks.forEach((l, i) => {
    w.putStr(links + L.bytes * i + L.target, l.target);
    w.putStr(links + L.bytes * i + L.linkpath, l.linkpath);
  });

  // seccomp: the BPF program as struct sock_filter records
  if (p.seccomp) {
    const bpf = p.seccomp.bpf;
    const rec = LAYOUT.sock_filter_size;
    if (bpf.length % rec !== 0) throw new Error('seccomp BPF is not a whole number of sock_filter records');
    const at = w.vec(H.seccomp_bpf, bpf.length / rec, rec);
    b().set(bpf, at);
    u32(p.seccomp.flags, H.seccomp_flags);
  }

  // process attributes, sysctls, recursive mount attributes
  const a = p.procAttrs;
  u32(a.procFlags, H.proc_flags);
  u32(a.personality, H.personality);
  u32(a.ioprio, H.ioprio);
  u32(a.mempolicyMode, H.mempolicy_mode);
  u64(a.rootPropagation, H.root_propagation);
  const S = LAYOUT.sched;
  u32(S.bytes, H.sched + S.size);
  u32(a.sched.policy, H.sched + S.policy);
  u64(a.sched.flags, H.sched + S.flags);
  i32(a.sched.nice, H.sched + S.nice);
  u32(a.sched.priority, H.sched + S.priority);
  u64(a.sched.runtime, H.sched + S.runtime);
  u64(a.sched.deadline, H.sched + S.deadline);
  u64(a.sched.period, H.sched + S.period);
  u64Vec(H.mempolicy_nodes, a.mempolicyNodes);
  const SC = LAYOUT.sysctl;
  const sysctls = w.vec(H.sysctls, a.sysctls.length, SC.bytes);
  a.sysctls.forEach((s, i) => {
    w.putStr(sysctls + SC.bytes * i + SC.path, s.path);
    w.putStr(sysctls + SC.bytes * i + SC.value, s.value);
  });
  const MA = LAYOUT.mount_attr;
  const attrs = w.vec(H.mount_attrs, p.mountAttrs.length, MA.bytes);
  p.mountAttrs.forEach((m, i) => {
    const at = attrs + MA.bytes * i;
    u32(m.mount, at + MA.mount);
    u64(m.attrSet, at + MA.attr_set);
    u64(m.attrClr, at + MA.attr_clr);
  });

  // namespaces and ids
  u64(p.unshareFlags, H.unshare_flags);
  u32(p.nsFlags, H.ns_flags);
  const J = LAYOUT.ns_join;
  const joins = w.vec(H.ns_joins, p.nsJoins.length, J.bytes);
  p.nsJoins.forEach((j, i) => {
    i32(j.fd, joins + J.bytes * i + J.fd);
    u32(j.nstype, joins + J.bytes * i + J.nstype);
  });
  b().writeBigInt64LE(p.timeOffsets.monotonic[0], H.monotonic_secs);
  b().writeBigInt64LE(p.timeOffsets.boottime[0], H.boottime_secs);
  u32(p.timeOffsets.monotonic[1], H.monotonic_nsecs);
  u32(p.timeOffsets.boottime[1], H.boottime_nsecs);
  const IM = LAYOUT.idmap_mount;
  const idm = w.vec(H.idmap_mounts, p.idmapMounts.length, IM.bytes);
  p.idmapMounts.forEach((m, i) => {
    u32(m.mountIndex, idm + IM.bytes * i + IM.mount_index);
    i32(m.fd, idm + IM.bytes * i + IM.fd);
  });
  u64Vec(H.cpu_affinity_initial, p.cpuAffinity.initial);
  u64Vec(H.cpu_affinity_final, p.cpuAffinity.final);

  const HK = LAYOUT.hook;
  const hooks = w.vec(H.hooks, p.hooks.length, HK.bytes);
  p.hooks.forEach((h, i) => {
    const at = hooks + HK.bytes * i;
    w.putStr(at + HK.path, h.path);
    strVec(at + HK.args, h.args);
    strVec(at + HK.env, h.env);
    u32(h.kind, at + HK.kind);
    u32(h.timeoutMs, at + HK.timeout_ms);
  });
  w.putStr(H.hook_state, p.hookState);

  const total = Math.ceil(w.len / 8) * 8;
  w.alloc(total - w.len, 1);
  u32(total, H.size);
  return Buffer.from(b().subarray(0, total));
}
