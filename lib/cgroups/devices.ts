/**
 * The device cgroup: linux.resources.devices followed by runc's default
 * allowed devices, applied in order (a later rule wins). v1 writes them to
 * devices.deny/devices.allow; v2 has no files for it, so the same rules
 * become a BPF_PROG_TYPE_CGROUP_DEVICE program, generated here as plain
 * instructions (unit-tested) and only loaded and attached by the addon.
 */
import type { DeviceRule } from './resources.js';

export interface Rule {
  allow: boolean;
  /** 'a' (all), 'c', 'b' */
  type: 'a' | 'c' | 'b';
  /** -1: any */
  major: number;
  minor: number;
  /** a subset of "rwm" */
  access: string;
}

/** runc's allowed defaults, appended after the config's rules (no /dev/console: runc dropped it in 1.0, its console is a pty). */
export const DEFAULT_DEVICE_RULES: readonly Rule[] = [
  { allow: true, type: 'c', major: -1, minor: -1, access: 'm' }, // mknod any char device
  { allow: true, type: 'b', major: -1, minor: -1, access: 'm' }, // mknod any block device
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
];

/**
 * An access string as runc reads it (its devices Permissions: a set of r, w
 * and m, in any order, repeated or not): any other letter is ignored, as in
 * the "rwa" of runc's own tests. Validation has refused "" (runc does too).
 */
export function accessSet(a: string): string {
  return ['r', 'w', 'm'].filter((c) => a.includes(c)).join('');
}

/**
 * The config's rules, then runc's defaults; spec defaults: type "a", any
 * major/minor, access "rwm". As runc's device emulator reads them:
 * - type "a" is every device whatever the numbers and access say: allow-all
 *   or deny-all, from which later rules go on (the v1 kernel reads "a" so);
 * - a rule left with none of r, w, m (access "a") adds or removes nothing,
 *   and is dropped, so no backend sees an empty access (systemd would take
 *   an empty DeviceAllow access for "rwm").
 */
export function deviceRules(spec: DeviceRule[] | undefined): Rule[] {
  const out: Rule[] = [];
  for (const d of spec ?? []) {
    if (d.type !== 'c' && d.type !== 'b') {
      out.push({ allow: d.allow, type: 'a', major: -1, minor: -1, access: 'rwm' });
      continue;
    }
    const access = accessSet(d.access ?? 'rwm');
    if (access) out.push({ allow: d.allow, type: d.type, major: d.major ?? -1, minor: d.minor ?? -1, access });
  }
  return [...out, ...DEFAULT_DEVICE_RULES];
}

function isDenyOrAllowAll(r: Rule): boolean {
  return r.type === 'a' && r.major === -1 && r.minor === -1 && r.access === 'rwm';
}

const num = (n: number) => (n < 0 ? '*' : String(n));

/**
 * v1: `[file, line]` pairs. Everything starts from "deny all" (the
 * container gets nothing it is not given); "a" alone resets to all/none.
 */
export function v1DeviceWrites(rules: Rule[]): [string, string][] {
  const out: [string, string][] = [['devices.deny', 'a']];
  for (const r of rules) {
    const file = r.allow ? 'devices.allow' : 'devices.deny';
    if (isDenyOrAllowAll(r)) out.push([file, 'a']);
    else if (r.access) out.push([file, `${r.type} ${num(r.major)}:${num(r.minor)} ${r.access}`]);
  }
  return out;
}

// --- v2: eBPF --------------------------------------------------------------

// struct bpf_cgroup_dev_ctx { u32 access_type; /* (access << 16) | type */ u32 major; u32 minor; }
const BPF_DEVCG_DEV_BLOCK = 1;
const BPF_DEVCG_DEV_CHAR = 2;
const BPF_DEVCG_ACC_MKNOD = 1;
const BPF_DEVCG_ACC_READ = 2;
const BPF_DEVCG_ACC_WRITE = 4;

// opcodes (linux/bpf.h, bpf_common.h)
const LDX_W = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K = 0x54;
const ALU32_RSH_K = 0x74;
const ALU32_MOV_X = 0xbc;
const MOV64_K = 0xb7;
const JNE_K = 0x55;
const JNE_X = 0x5d;
const EXIT = 0x95;

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });

function accessBits(a: string): number {
  return (
    (a.includes('m') ? BPF_DEVCG_ACC_MKNOD : 0) | (a.includes('r') ? BPF_DEVCG_ACC_READ : 0) | (a.includes('w') ? BPF_DEVCG_ACC_WRITE : 0)
  );
}

/**
 * The device program: r2 = type, r3 = access, r4 = major, r5 = minor; then
 * one block per rule, LAST rule first (the last matching rule decides), each
 * ending in "return allow"; a block's checks jump past it on mismatch. A
 * deny-all/allow-all rule ends the search (nothing before it matters).
 * Falling off the end denies.
 */
export function deviceProgram(rules: Rule[]): Insn[] {
  const prog: Insn[] = [
    insn(LDX_W, 2, 1, 0, 0),
    insn(ALU32_AND_K, 2, 0, 0, 0xffff),
    insn(LDX_W, 3, 1, 0, 0),
    insn(ALU32_RSH_K, 3, 0, 0, 16),
    insn(LDX_W, 4, 1, 4, 0),
    insn(LDX_W, 5, 1, 8, 0),
  ];
  let terminal: Rule | undefined;
  const blocks: Insn[][] = [];
  for (let i = rules.length - 1; i >= 0; i--) {
    const r = rules[i]!;
    if (isDenyOrAllowAll(r)) {
      terminal = r;
      break;
    }
    if (!r.access) continue;
    const checks: Insn[] = [];
    // each check: "if (mismatch) goto end-of-block"; offsets fixed below
    if (r.type !== 'a') checks.push(insn(JNE_K, 2, 0, 0, r.type === 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
    const bits = accessBits(r.access);
    if (bits !== 7) {
      // r1 = r3 & bits; if r1 != r3 (asks for more than the rule covers) skip
      checks.push(insn(ALU32_MOV_X, 1, 3, 0, 0), insn(ALU32_AND_K, 1, 0, 0, bits), insn(JNE_X, 1, 3, 0, 0));
    }
    if (r.major >= 0) checks.push(insn(JNE_K, 4, 0, 0, r.major));
    if (r.minor >= 0) checks.push(insn(JNE_K, 5, 0, 0, r.minor));
    const tail = [insn(MOV64_K, 0, 0, 0, r.allow ? 1 : 0), insn(EXIT, 0, 0, 0, 0)];
    const block = [...checks, ...tail];
    block.forEach((x, j) => {
      if (x.code === JNE_K || x.code === JNE_X) x.off = block.length - 1 - j;
    });
    blocks.push(block);
  }
  for (const b of blocks) prog.push(...b);
  prog.push(insn(MOV64_K, 0, 0, 0, terminal?.allow ? 1 : 0), insn(EXIT, 0, 0, 0, 0));
  return prog;
}

/** struct bpf_insn[] as the kernel reads it (little-endian x86/arm64). */
export function encodeProgram(prog: Insn[]): Uint8Array {
  const buf = new Uint8Array(prog.length * 8);
  const dv = new DataView(buf.buffer);
  prog.forEach((x, i) => {
    dv.setUint8(i * 8, x.code);
    dv.setUint8(i * 8 + 1, ((x.src & 0xf) << 4) | (x.dst & 0xf));
    dv.setInt16(i * 8 + 2, x.off, true);
    dv.setInt32(i * 8 + 4, x.imm, true);
  });
  return buf;
}

/** Interprets the program for one access, as the kernel would (unit tests). */
export function runProgram(prog: Insn[], type: 'c' | 'b', access: string, major: number, minor: number): boolean {
  const ctx = [(accessBits(access) << 16) | (type === 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR), major, minor];
  const reg = new Array<number>(11).fill(0);
  for (let pc = 0; pc < prog.length; pc++) {
    const x = prog[pc]!;
    switch (x.code) {
      case LDX_W:
        reg[x.dst] = ctx[x.off / 4]!;
        break;
      case ALU32_AND_K:
        reg[x.dst] = (reg[x.dst]! & x.imm) >>> 0;
        break;
      case ALU32_RSH_K:
        reg[x.dst] = reg[x.dst]! >>> x.imm;
        break;
      case ALU32_MOV_X:
        reg[x.dst] = reg[x.src]!;
        break;
      case MOV64_K:
        reg[x.dst] = x.imm;
        break;
      case JNE_K:
        if (reg[x.dst] !== x.imm) pc += x.off;
        break;
      case JNE_X:
        if (reg[x.dst] !== reg[x.src]) pc += x.off;
        break;
      case EXIT:
        return reg[0] === 1;
      default:
        throw new Error(`unknown opcode ${x.code}`);
    }
  }
  throw new Error('fell off the program');
}
