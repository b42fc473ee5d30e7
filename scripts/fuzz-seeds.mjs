#!/usr/bin/env node
// The fuzzers' seed corpora (native/fuzz/), written fresh by the current
// encoders so they always start from real input of the current plan version:
//   <out>/plan/   plans encoded by lib/native/plan-codec.ts from specs the way
//                 `tsrun create` and `tsrun exec` build them (an init with
//                 every section, a bare one, a tenant);
//   <out>/state/  state.json records as lib/container/state.ts writes them;
//   <out>/json/   the state records and a few other shapes the reader meets.
// Usage: node scripts/fuzz-seeds.mjs <out dir>   (after npm run build)
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2];
if (!out) {
  console.error('usage: fuzz-seeds.mjs <out dir>');
  process.exit(2);
}
const load = (p) => import(join(root, 'dist', 'lib', p));
const { defaultSpec } = await load('config/default-spec.js');
const { encodePlan } = await load('native/plan-codec.js');
const { buildPlan } = await load('plan/build.js');
const { buildTenantPlan } = await load('plan/tenant.js');

const host = { kind: () => 'dir', cgroupV2Only: () => true, cgroupV1Hierarchies: () => [], homeOf: () => '/root' };
const write = (kind, name, data) => {
  mkdirSync(join(out, kind), { recursive: true });
  writeFileSync(join(out, kind, name), data);
};
for (const kind of ['plan', 'state', 'json']) rmSync(join(out, kind), { recursive: true, force: true });

// ---- plans ------------------------------------------------------------------
const opts = { id: 'seed', bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/seed' };
write('plan', 'default', encodePlan(buildPlan(defaultSpec(), opts, host).init));

const full = defaultSpec();
full.process.user = { uid: 1000, gid: 1001, umask: 0o027, additionalGids: [5, 7] };
full.process.terminal = true;
full.process.consoleSize = { width: 120, height: 40 };
full.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }];
full.process.env = ['A=1', 'UNICODE=h\u00e9llo'];
full.process.scheduler = { policy: 'SCHED_DEADLINE', nice: -3, runtime: 1000, deadline: 2000, period: 3000 };
full.process.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 7 };
full.domainname = 'example.org';
full.linux.devices = [{ type: 'b', path: '/dev/loop9', major: 7, minor: 9, fileMode: 0o640, uid: 3, gid: 4 }];
full.linux.personality = { domain: 'LINUX32', flags: [] };
full.linux.memoryPolicy = { mode: 'MPOL_INTERLEAVE', nodes: '0,65', flags: ['MPOL_F_STATIC_NODES'] };
full.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
full.linux.rootfsPropagation = 'shared';
full.mounts.push({ destination: '/mnt', type: 'bind', source: '/tmp', options: ['rbind', 'rro'] });
full.mounts.push({ destination: '/cp', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] });
full.hooks = {
  createContainer: [{ path: '/usr/bin/cc-hook', args: ['cc-hook', '-x'], env: ['K=V'], timeout: 2 }],
  startContainer: [{ path: '/bin/sc-hook' }],
};
const fullPlan = buildPlan(full, { ...opts, consoleSocketFd: 9, preserveFds: 2 }, host).init;
fullPlan.seccomp = { bpf: Uint8Array.from([0x20, 0, 0, 0, 4, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]), flags: 2 };
fullPlan.nsJoins = [{ fd: 11, nstype: 0x10000000 }];
fullPlan.unshareFlags = 0x20000080n;
fullPlan.nsFlags = 7;
fullPlan.timeOffsets = { monotonic: [-86400n, 5], boottime: [172800n, 999999999] };
fullPlan.idmapMounts = [{ mountIndex: 1, fd: 13 }];
write('plan', 'full', encodePlan(fullPlan));

const bare = defaultSpec();
delete bare.hostname;
bare.mounts = [];
bare.linux.maskedPaths = [];
bare.linux.readonlyPaths = [];
delete bare.process.rlimits;
write('plan', 'bare', encodePlan(buildPlan(bare, { ...opts, noNewKeyring: true }, host).init));

const tenantProc = defaultSpec().process;
tenantProc.execCPUAffinity = { initial: '0', final: '0-1,64' };
const tenant = buildTenantPlan(tenantProc, {
  id: 'seed',
  joins: [
    { fd: 20, nstype: 0x10000000 },
    { fd: 21, nstype: 0x20000000 },
  ],
  noNewKeyring: false,
  consoleSocketFd: -1,
  preserveFds: 1,
  extraEnv: ['LISTEN_FDS=1'],
  seccomp: { bpf: Uint8Array.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]), flags: 0 },
  home: '/root',
}).init;
write('plan', 'tenant', encodePlan(tenant));

// ---- state records ----------------------------------------------------------
const record = {
  ociVersion: '1.2.0',
  id: 'seed',
  pid: 4242,
  pidStartTime: 123456,
  bundle: '/b',
  rootfs: '/b/rootfs',
  created: '2026-01-01T00:00:00.000000000Z',
  owner: 'root',
  annotations: { 'org.example/a': 'x "quoted" \\ \u00fc', b: '' },
  pidNamespace: true,
  hooks: { poststop: [{ path: '/bin/true', args: ['true'], env: ['A=1'], timeout: 5 }] },
  cgroup: { version: 1, paths: { '': '/sys/fs/cgroup/unified/tsrun/seed', freezer: '/sys/fs/cgroup/freezer/tsrun/seed' } },
  hostMounts: false,
  noNewKeyring: false,
  seccomp: { flags: ['SECCOMP_FILTER_FLAG_LOG'], listenerPath: '/run/l.sock', listenerMetadata: 'm' },
};
const v2 = { ...record, cgroup: { version: 2, paths: { '': '/sys/fs/cgroup/tsrun/seed' } } };
const intent = { cgroup: record.cgroup, pid: 4242, hostMounts: true };
const records = { full: JSON.stringify(record), pretty: JSON.stringify(v2, null, 2), intent: JSON.stringify(intent) };
for (const [name, text] of Object.entries(records)) {
  write('state', name, text);
  write('json', name, text);
}
write('json', 'scalars', '[null,true,false,0,-1.5e-3,1e308,"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/"]');
write('json', 'nested', '{"a":[{"b":[[{}]]}],"":{}}');
console.log(`fuzz seeds written to ${out}`);
