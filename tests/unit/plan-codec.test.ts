/**
 * The TS encoder and the C decoder agree: encode plans, decode them with
 * the init's own loader (build/tsrun-plan-dump), compare field by field.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { defaultSpec } from '../../lib/config/default-spec.js';
import { encodePlan, HEADER_SIZE } from '../../lib/native/plan-codec.js';
import { PLAN_VERSION } from '../../lib/native/binding.js';
import { LAYOUT } from '../../lib/native/constants.js';
import { buildPlan, type PlanHost } from '../../lib/plan/build.js';
import { buildTenantPlan } from '../../lib/plan/tenant.js';
import { HookKind, NsFlag, PlanFlag, type InitPlan } from '../../lib/plan/types.js';
import { ROOT } from '../helpers/bundle.js';

const DUMP = path.join(ROOT, 'build', 'tsrun-plan-dump');
const H = LAYOUT.plan_header.fields;
const host: PlanHost = {
  kind: () => 'dir',
  cgroupV2Only: () => true,
  cgroupV1Hierarchies: () => [],
  homeOf: () => '/root',
};

function decode(buf: Buffer): { status: number | null; json: any; stderr: string } {
  const r = spawnSync(DUMP, [], { input: buf });
  return { status: r.status, json: r.status === 0 ? JSON.parse(r.stdout.toString()) : null, stderr: r.stderr.toString() };
}

function expected(p: InitPlan) {
  const strs = (a: string[]) => a.map((s) => ({ s }));
  return {
    version: PLAN_VERSION,
    flags: p.flags,
    cloneFlags: p.cloneFlags.toString(),
    rootfsPropagation: p.rootfsPropagation.toString(),
    caps: p.caps.map(String),
    uid: p.uid,
    gid: p.gid,
    umask: p.umask,
    consoleWidth: p.consoleWidth,
    consoleHeight: p.consoleHeight,
    consoleSocketFd: p.consoleSocketFd,
    preserveFds: p.preserveFds,
    rootfsParentPropagation: p.rootfsParentPropagation,
    rootfs: p.rootfs,
    hostname: p.hostname,
    domainname: p.domainname,
    cwd: p.cwd,
    stateDir: p.stateDir,
    keyring: p.keyring,
    args: strs(p.args),
    env: strs(p.env),
    argv: p.args,
    additionalGids: p.additionalGids,
    mounts: p.mounts.map((m) => ({
      source: m.source,
      destination: m.destination,
      fstype: m.fstype,
      data: m.data,
      flags: m.flags.toString(),
      propagation: m.propagation.toString(),
      kind: m.kind,
      targetKind: m.targetKind,
    })),
    rlimits: p.rlimits.map((r) => ({ resource: r.resource, soft: r.soft.toString(), hard: r.hard.toString() })),
    devices: p.devices,
    symlinks: p.symlinks,
    seccomp: { flags: p.seccomp?.flags ?? 0, bpf: Buffer.from(p.seccomp?.bpf ?? []).toString('hex') },
    procAttrs: {
      procFlags: p.procAttrs.procFlags,
      personality: p.procAttrs.personality,
      ioprio: p.procAttrs.ioprio,
      mempolicyMode: p.procAttrs.mempolicyMode,
      rootPropagation: p.procAttrs.rootPropagation.toString(),
      sched: Object.fromEntries(Object.entries(p.procAttrs.sched).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v])),
      mempolicyNodes: p.procAttrs.mempolicyNodes.map(String),
      sysctls: p.procAttrs.sysctls,
    },
    mountAttrs: p.mountAttrs.map((m) => ({ mount: m.mount, attrSet: m.attrSet.toString(), attrClr: m.attrClr.toString() })),
    unshareFlags: p.unshareFlags.toString(),
    nsFlags: p.nsFlags,
    nsJoins: p.nsJoins,
    timeOffsets: {
      monotonic: [p.timeOffsets.monotonic[0].toString(), p.timeOffsets.monotonic[1]],
      boottime: [p.timeOffsets.boottime[0].toString(), p.timeOffsets.boottime[1]],
    },
    idmapMounts: p.idmapMounts,
    cpuAffinity: { initial: p.cpuAffinity.initial.map(String), final: p.cpuAffinity.final.map(String) },
    hooks: p.hooks.map((h) => ({
      kind: h.kind,
      path: h.path,
      argv: h.args.length ? h.args : [h.path],
      env: h.env,
      timeoutMs: h.timeoutMs,
    })),
    hookState: p.hookState,
  };
}

const haveDump = fs.existsSync(DUMP);
const dumpTest = haveDump ? test : test.skip;

dumpTest('a full plan round-trips through the C decoder', (t) => {
  const spec = defaultSpec();
  spec.process!.user = { uid: 1000, gid: 1001, umask: 0o027, additionalGids: [5, 7, 4294967294] };
  spec.process!.consoleSize = { width: 120, height: 40 };
  spec.process!.rlimits = [
    { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
    { type: 'RLIMIT_CORE', soft: -1 as never, hard: -1 as never },
  ];
  spec.domainname = 'example.org';
  spec.process!.env = ['A=1', 'UNICODE=h\u00e9llo \u2603', 'QUOTE="x"'];
  spec.linux!.devices = [{ type: 'b', path: '/dev/loop9', major: 7, minor: 9, fileMode: 0o640, uid: 3, gid: 4 }];
  // every field of the process-attribute block
  spec.linux!.personality = { domain: 'LINUX32', flags: ['ADDR_NO_RANDOMIZE'] };
  spec.process!.scheduler = {
    policy: 'SCHED_DEADLINE',
    flags: ['SCHED_FLAG_RESET_ON_FORK'],
    nice: -3,
    runtime: 1000,
    deadline: 2000,
    period: 3000,
  };
  spec.process!.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 7 };
  spec.linux!.memoryPolicy = { mode: 'MPOL_INTERLEAVE', nodes: '0,65', flags: ['MPOL_F_STATIC_NODES'] };
  spec.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.msgmax': '4321' };
  spec.linux!.rootfsPropagation = 'shared';
  spec.mounts!.push({ destination: '/mnt', type: 'bind', source: '/tmp', options: ['rbind', 'rro', 'rnoatime'] });
  // the hooks the init runs: a startContainer hook without env gets the program's
  spec.annotations = { 'org.example/a': 'b "quoted"' };
  spec.hooks = {
    prestart: [{ path: '/host/prestart' }],
    createContainer: [{ path: '/host/cc', args: ['cc', '--x'], env: ['K=V'], timeout: 2 }],
    startContainer: [{ path: '/in/sc' }, { path: '/in/sc2', args: ['sc2'], env: ['E=1'], timeout: 1.5 }],
  };
  const plan = buildPlan(
    spec,
    { id: 'x', bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/x', consoleSocketFd: 9, preserveFds: 2 },
    host,
  ).init;
  plan.rlimits[1] = { resource: 4, soft: 0xffffffffffffffffn, hard: 0xffffffffffffffffn };
  // a stand-in program (two sock_filter records) and flags
  plan.seccomp = { bpf: Uint8Array.from([0x20, 0, 0, 0, 4, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]), flags: 8 | 2 };
  // namespace joins and time offsets (fds are only numbers here)
  plan.nsJoins = [
    { fd: 11, nstype: 0x10000000 },
    { fd: 12, nstype: 0x40000000 },
  ];
  plan.unshareFlags = 0x20000080n;
  plan.nsFlags = 7;
  plan.timeOffsets = { monotonic: [-86400n, 5], boottime: [172800n, 999999999] };
  plan.idmapMounts = [{ mountIndex: 1, fd: 13 }];
  const out = decode(encodePlan(plan));
  t.is(out.status, 0, out.stderr);
  t.deepEqual(out.json, expected(plan));
  const hooks = (out.json as { hooks: { kind: number; argv: string[]; env: string[]; timeoutMs: number }[] }).hooks;
  t.deepEqual(
    hooks.map((h) => [h.kind, h.argv, h.timeoutMs]),
    [
      [HookKind.CREATE_CONTAINER, ['cc', '--x'], 2000],
      [HookKind.START_CONTAINER, ['/in/sc'], 0],
      [HookKind.START_CONTAINER, ['sc2'], 1500],
    ],
  );
  t.deepEqual(hooks[1]!.env, plan.env, 'a startContainer hook without env gets the program’s');
  t.is(plan.flags & PlanFlag.HOOK_SYNC, PlanFlag.HOOK_SYNC, 'prestart: the init stops for it');
  const state = JSON.parse(`${(out.json as { hookState: string }).hookState}4242,"status":"created"}`) as Record<string, unknown>;
  t.deepEqual(state, { ociVersion: spec.ociVersion, id: 'x', bundle: '/b', annotations: spec.annotations, pid: 4242, status: 'created' });
});

dumpTest('an empty-ish plan round-trips (absent strings stay absent)', (t) => {
  const spec = defaultSpec();
  delete spec.hostname;
  spec.mounts = [];
  spec.linux!.maskedPaths = [];
  spec.linux!.readonlyPaths = [];
  delete spec.process!.rlimits;
  const plan = buildPlan(spec, { id: 'y', bundle: '/b', rootfs: '/r', stateDir: '/s', noNewKeyring: true }, host).init;
  const out = decode(encodePlan(plan));
  t.is(out.status, 0, out.stderr);
  t.deepEqual(out.json, expected(plan));
  t.is(out.json.hostname, null);
  t.is(out.json.keyring, null);
});

dumpTest('the C loader rejects corrupt buffers', (t) => {
  const plan = buildPlan(defaultSpec(), { id: 'z', bundle: '/b', rootfs: '/r', stateDir: '/s' }, host).init;
  const good = encodePlan(plan);
  const badMagic = Buffer.from(good);
  badMagic.writeUInt32LE(0, H.magic.off);
  t.regex(decode(badMagic).stderr, /bad magic/);
  const badVersion = Buffer.from(good);
  badVersion.writeUInt32LE(99, H.version.off);
  t.regex(decode(badVersion).stderr, /plan version 99/);
  t.regex(decode(good.subarray(0, good.length - 8)).stderr, /size mismatch/);
  const badOffset = Buffer.from(good);
  badOffset.writeUInt32LE(good.length + 100, H.rootfs.off + LAYOUT.str.fields.off.off);
  t.regex(decode(badOffset).stderr, /invalid plan buffer: rootfs/);
  t.regex(decode(good.subarray(0, HEADER_SIZE - 1)).stderr, /too short/);
  // found by native/fuzz/plan_fuzz.c: this refusal once came without a message
  const noDestination = Buffer.from(good);
  const mounts = noDestination.readUInt32LE(H.mounts.off);
  noDestination.writeUInt32LE(0, mounts + LAYOUT.mount.fields.destination.off);
  const r = decode(noDestination);
  t.is(r.status, 1);
  t.is(r.stderr, 'invalid plan buffer: mount destination\n');
});

dumpTest('a tenant plan round-trips: no rootfs, state dir or mounts; joins, affinity, seccomp', (t) => {
  const spec = defaultSpec();
  spec.process!.execCPUAffinity = { initial: '0', final: '0-1,64' };
  spec.process!.user = { uid: 1000, gid: 1000, additionalGids: [5] };
  const plan = buildTenantPlan(spec.process!, {
    id: 'box',
    joins: [
      { fd: 20, nstype: 0x10000000 },
      { fd: 21, nstype: 0x20000000 },
    ],
    noNewKeyring: false,
    consoleSocketFd: -1,
    preserveFds: 1,
    extraEnv: ['LISTEN_FDS=1'],
    seccomp: { bpf: Uint8Array.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]), flags: 0 },
    home: '/home/u',
  }).init;
  t.truthy(plan.flags & PlanFlag.TENANT);
  t.is(plan.nsFlags, NsFlag.STAGE | NsFlag.FORK, 'a pid namespace join forks');
  t.deepEqual(plan.cpuAffinity, { initial: [1n], final: [3n, 1n] });
  t.true(plan.env.includes('HOME=/home/u'));
  t.is(plan.keyring, '_ses.box');
  const out = decode(encodePlan(plan));
  t.is(out.status, 0, out.stderr);
  t.deepEqual(out.json, expected(plan));
  t.is(out.json.rootfs, null);
  t.is(out.json.stateDir, null);
});

dumpTest('the C loader refuses a tenant plan that would set up a root filesystem', (t) => {
  const init = buildPlan(defaultSpec(), { id: 'z', bundle: '/b', rootfs: '/r', stateDir: '/s' }, host).init;
  t.regex(decode(encodePlan({ ...init, flags: init.flags | PlanFlag.TENANT })).stderr, /a tenant plan sets up no root filesystem/);
  t.regex(decode(encodePlan({ ...init, rootfs: null })).stderr, /rootfs and state_dir are required/);
});

dumpTest('a plan that outgrows the encoder’s first buffer round-trips (a real profile’s BPF is tens of KB)', (t) => {
  const plan = buildPlan(defaultSpec(), { id: 'big', bundle: '/b', rootfs: '/r', stateDir: '/s' }, host).init;
  const record = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]; // ret ALLOW
  plan.seccomp = { bpf: Uint8Array.from({ length: 8 * 4000 }, (_, i) => record[i % 8]!), flags: 0 };
  plan.env = Array.from({ length: 300 }, (_, i) => `VAR${i}=${'x'.repeat(i)}`);
  const buf = encodePlan(plan);
  t.true(buf.length > 32000 + 45000);
  const out = decode(buf);
  t.is(out.status, 0, out.stderr);
  t.deepEqual(out.json, expected(plan));
});

test('strings with NUL bytes cannot be encoded', (t) => {
  const plan = buildPlan(defaultSpec(), { id: 'z', bundle: '/b', rootfs: '/r', stateDir: '/s' }, host).init;
  plan.args = ['sh\0evil'];
  t.throws(() => encodePlan(plan), { message: /contains NUL/ });
});
