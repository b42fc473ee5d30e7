/** The cgroup manager's pure parts: conversions, file writes, device program, host detection. */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { blkioWeightToIoWeight, cpuMax, hugepageSizeName, parseBytes, sharesToWeight, swapToV2 } from '../../lib/cgroups/convert.js';
import { DEFAULT_DEVICE_RULES, deviceProgram, deviceRules, encodeProgram, runProgram, v1DeviceWrites } from '../../lib/cgroups/devices.js';
import { detectCgroups } from '../../lib/cgroups/host.js';
import type { DeviceRule } from '../../lib/cgroups/resources.js';
import { deviceProperties } from '../../lib/cgroups/systemd.js';
import type { CgroupHost } from '../../lib/cgroups/host.js';
import { cgroupRelPath } from '../../lib/cgroups/manager.js';
import { V1Manager, V1_NO_UNIFIED } from '../../lib/cgroups/v1.js';
import { V2Manager } from '../../lib/cgroups/v2.js';
import { v1Writes } from '../../lib/cgroups/v1-files.js';
import { v2Writes } from '../../lib/cgroups/v2-files.js';
import { parseDuration, resourcesFromFlags } from '../../lib/cli/commands/cgroups.js';
import { validateCgroups } from '../../lib/config/validate-cgroups.js';
import { ConfigError, TsrunError } from '../../lib/errors.js';
import { loadBinding } from '../../lib/native/binding.js';

const MiB = 1024 * 1024;

test("cpu shares → weight: runc's quadratic fit (runc ≥ 1.3.2, crun ≥ 1.23), the v1 default on the v2 default", (t) => {
  // runc's own cases (opencontainers/cgroups TestConvertCPUSharesToCgroupV2Value)
  const runc: [number, number][] = [
    [0, 0], // unset
    [1, 1], // below the minimum: clamped
    [2, 1],
    [3, 2],
    [1024, 100], // default to default (the linear map of runc ≤ 1.3.1 gave 39)
    [262143, 10000],
    [262144, 10000],
    [262145, 10000], // above the maximum: clamped
  ];
  for (const [shares, weight] of runc) t.is(sharesToWeight(shares), weight, `shares ${shares}`);
  // between them, as crun's C (glibc's log2 and pow) computes them
  const between: [number, number][] = [
    [512, 59],
    [1025, 101],
    [2048, 174],
    [10000, 627],
    [100000, 4340],
  ];
  for (const [shares, weight] of between) t.is(sharesToWeight(shares), weight, `shares ${shares}`);
});

test('blkio weight → io.weight', (t) => {
  t.is(blkioWeightToIoWeight(0), 0);
  t.is(blkioWeightToIoWeight(10), 1);
  t.is(blkioWeightToIoWeight(500), 4950);
  t.is(blkioWeightToIoWeight(1000), 10000);
});

test("swap v1 (memory+swap) → v2 (swap alone): runc's ConvertMemorySwapToCgroupV2Value, case for case", (t) => {
  // runc's own table (opencontainers/cgroups TestConvertMemorySwapToCgroupV2Value): [memory+swap, memory, swap or error]
  const cases: [number, number, number | RegExp][] = [
    [0, 0, 0], // all unset
    [-1, 0, -1], // unlimited memory+swap, unset memory
    [300, -1, 300], // unlimited memory: the swap as it is (runc ≥ 1.2.1; before: refused)
    [-1, -1, -1], // all unlimited
    [-2, 0, /^linux\.resources\.memory\.swap: unable to set swap limit without memory limit$/], // negative memory+swap
    [-1, 1000, -1], // unlimited memory+swap, set memory
    [1000, 1000, 0], // memory+swap = memory: no swap
    [500, 200, 300],
    [300, 400, /^linux\.resources\.memory\.swap: memory\+swap limit should be >= memory limit$/],
    [300, 0, /^linux\.resources\.memory\.swap: unable to set swap limit without memory limit$/], // unset memory
    [300, -300, /^linux\.resources\.memory\.swap: invalid memory value: -300$/], // negative memory
  ];
  for (const [swap, memory, want] of cases) {
    if (typeof want === 'number') t.is(swapToV2(swap, memory), want, `${swap}, ${memory}`);
    else t.throws(() => swapToV2(swap, memory), { instanceOf: ConfigError, message: want }, `${swap}, ${memory}`);
  }
  // memory unlimited and no swap given: swap is lifted too, as v1's -1 lifts memory+swap
  t.is(swapToV2(0, -1), -1);
  t.is(swapToV2(0, 64 * MiB), 0);
});

test('cpu.max from quota and period', (t) => {
  t.is(cpuMax(50000, 100000), '50000 100000');
  t.is(cpuMax(-1, 100000), 'max 100000');
  t.is(cpuMax(50000, 0), '50000');
  t.is(cpuMax(0, 0), null);
  t.is(cpuMax(undefined, undefined), null);
});

test('size and duration parsing (update flags, events --interval)', (t) => {
  t.is(parseBytes('512m'), 512 * MiB);
  t.is(parseBytes('1G'), 1024 * MiB);
  t.is(parseBytes('1000'), 1000);
  t.is(parseBytes('-1'), -1);
  t.throws(() => parseBytes('lots'));
  t.is(hugepageSizeName('2MB'), '2MB');
  t.is(hugepageSizeName('1GB'), '1GB');
  t.is(hugepageSizeName('64KB'), '64KB');
  t.is(hugepageSizeName('huge'), null);
  t.is(parseDuration('5s'), 5000);
  t.is(parseDuration('100ms'), 100);
  t.is(parseDuration('1m30s'), 90_000);
  t.throws(() => parseDuration('5'));
});

test('v2 writes: every resource to its file', (t) => {
  const w = v2Writes({
    memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 128 * MiB },
    cpu: { shares: 1024, quota: 50000, period: 100000, burst: 1000, idle: 1, cpus: '0-1', mems: '0' },
    pids: { limit: -1 },
    blockIO: {
      weight: 500,
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }],
      throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 10 }],
    },
    hugepageLimits: [{ pageSize: '2MB', limit: 8 * MiB }],
    rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 } },
    unified: { 'memory.high': '1000000' },
  });
  const m = Object.fromEntries(w.map((x) => [`${x.file}=${x.value}`, x.controller]));
  for (const k of [
    `memory.max=${64 * MiB}`,
    `memory.low=${32 * MiB}`,
    `memory.swap.max=${64 * MiB}`,
    'cpu.weight=100',
    'cpu.max=50000 100000',
    'cpu.max.burst=1000',
    'cpu.idle=1',
    'cpuset.cpus=0-1',
    'cpuset.mems=0',
    'pids.max=max',
    'io.weight=default 4950',
    'io.max=8:0 rbps=1000',
    'io.max=8:0 wiops=10',
    `hugetlb.2MB.max=${8 * MiB}`,
    'rdma.max=mlx5_1 hca_handle=3 hca_object=10000',
    'memory.high=1000000',
  ])
    t.true(k in m, k);
  t.is(m['cpuset.cpus=0-1'], 'cpuset');
  // unified comes last so it overrides the converted values
  t.is(w[w.length - 1]!.file, 'memory.high');
});

test('cpu.idle: leaving idle (0) goes before the weight, as runc writes it; entering it (1) after, since the kernel refuses a weight while idle', (t) => {
  const cpu = (r: Parameters<typeof v2Writes>[0]) => v2Writes(r).map((x) => `${x.file}=${x.value}${x.optional ? '?' : ''}`);
  t.deepEqual(cpu({ cpu: { shares: 1024, idle: 0, quota: 50000 } }), ['cpu.idle=0?', 'cpu.weight=100', 'cpu.max=50000']);
  t.deepEqual(cpu({ cpu: { shares: 1024, idle: 1, quota: 50000 } }), ['cpu.weight=100', 'cpu.idle=1', 'cpu.max=50000']);
  t.deepEqual(
    cpu({ cpu: { idle: 0 } }),
    ['cpu.idle=0?'],
    'a 0 is written (update leaves idle); only a kernel without cpu.idle may lack it',
  );
  const v1 = (r: Parameters<typeof v1Writes>[0]) => v1Writes(r, { limit: 0, memsw: false }).map((x) => `${x.file}=${x.value}`);
  t.deepEqual(v1({ cpu: { shares: 512, idle: 0, quota: 50000 } }), ['cpu.idle=0', 'cpu.shares=512', 'cpu.cfs_quota_us=50000']);
  t.deepEqual(v1({ cpu: { shares: 512, idle: 1, quota: 50000 } }), ['cpu.shares=512', 'cpu.idle=1', 'cpu.cfs_quota_us=50000']);
});

test('v2 writes: BFQ weight when the kernel has io.bfq.weight', (t) => {
  const w = v2Writes({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 200 }] } }, (f) => f === 'io.bfq.weight');
  t.deepEqual(
    w.map((x) => `${x.file}=${x.value}`),
    ['io.bfq.weight=500', 'io.bfq.weight=8:0 200'],
  );
});

test('v2 writes: an impossible swap names the field', (t) => {
  const e = t.throws(() => v2Writes({ memory: { limit: 64 * MiB, swap: 32 * MiB } }), { instanceOf: ConfigError });
  t.is(e!.path, 'linux.resources.memory.swap');
});

test('v1 writes: memsw before memory when the limit grows past it', (t) => {
  const grow = v1Writes({ memory: { limit: 256 * MiB, swap: 512 * MiB } }, { limit: 128 * MiB, memsw: true }).map((x) => x.file);
  t.deepEqual(grow, ['memory.memsw.limit_in_bytes', 'memory.limit_in_bytes']);
  const shrink = v1Writes({ memory: { limit: 64 * MiB, swap: 128 * MiB } }, { limit: 1024 * MiB, memsw: true }).map((x) => x.file);
  t.deepEqual(shrink, ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']);
});

test('v1 writes: -1 is unlimited; a limit of -1 lifts memsw first (runc setMemoryAndSwap)', (t) => {
  const now = { limit: 64 * MiB, memsw: true };
  const files = (r: Parameters<typeof v1Writes>[0], n = now) => v1Writes(r, n).map((x) => `${x.file}=${x.value}`);
  t.deepEqual(files({ memory: { limit: -1 } }), ['memory.memsw.limit_in_bytes=-1', 'memory.limit_in_bytes=-1']);
  t.deepEqual(files({ memory: { limit: -1, swap: 0 } }), ['memory.memsw.limit_in_bytes=-1', 'memory.limit_in_bytes=-1']);
  t.deepEqual(files({ memory: { limit: -1, swap: -1, reservation: -1 } }), [
    'memory.memsw.limit_in_bytes=-1',
    'memory.limit_in_bytes=-1',
    'memory.soft_limit_in_bytes=-1',
  ]);
  t.deepEqual(files({ memory: { limit: 32 * MiB, swap: -1 } }), ['memory.memsw.limit_in_bytes=-1', `memory.limit_in_bytes=${32 * MiB}`]);
  t.deepEqual(files({ memory: { swap: -1 } }), ['memory.memsw.limit_in_bytes=-1']);
  // no swap accounting: memsw is not there to lift
  t.deepEqual(files({ memory: { limit: -1 } }, { limit: 64 * MiB, memsw: false }), ['memory.limit_in_bytes=-1']);
  t.is(v1Writes({ memory: { limit: -1 } }, now)[0]!.field, 'linux.resources.memory.limit');
  t.deepEqual(files({ pids: { limit: -1 }, cpu: { quota: -1 } }), ['cpu.cfs_quota_us=-1', 'pids.max=max']);
});

test('v2 writes: -1 is max; a limit of -1 lifts swap; swap = limit disables swap (runc)', (t) => {
  const files = (r: Parameters<typeof v2Writes>[0]) => v2Writes(r).map((x) => `${x.file}=${x.value}${x.optional ? '?' : ''}`);
  t.deepEqual(files({ memory: { limit: -1 } }), ['memory.swap.max=max?', 'memory.max=max']);
  t.deepEqual(files({ memory: { limit: -1, swap: -1, reservation: -1 } }), ['memory.swap.max=max?', 'memory.max=max', 'memory.low=max']);
  t.deepEqual(files({ memory: { limit: 64 * MiB, swap: 64 * MiB } }), ['memory.swap.max=0?', `memory.max=${64 * MiB}`]);
  t.deepEqual(files({ memory: { limit: 64 * MiB } }), [`memory.max=${64 * MiB}`]);
  t.deepEqual(files({ pids: { limit: -1 }, cpu: { quota: -1, period: 100000 } }), ['cpu.max=max 100000', 'pids.max=max']);
});

test('v2 writes: an unlimited memory with a finite swap limits the swap alone (runc ≥ 1.2.1); an unset memory cannot', (t) => {
  const files = (r: Parameters<typeof v2Writes>[0]) => v2Writes(r).map((x) => `${x.file}=${x.value}${x.optional ? '?' : ''}`);
  t.deepEqual(files({ memory: { limit: -1, swap: 32 * MiB } }), [`memory.swap.max=${32 * MiB}`, 'memory.max=max']);
  t.is(v2Writes({ memory: { limit: -1, swap: 32 * MiB } })[0]!.field, 'linux.resources.memory.swap');
  for (const memory of [{ swap: 32 * MiB }, { limit: 0, swap: 32 * MiB }, { reservation: MiB, swap: 32 * MiB }])
    t.throws(() => v2Writes({ memory }), {
      instanceOf: ConfigError,
      message: 'linux.resources.memory.swap: unable to set swap limit without memory limit',
    });
});

test('pids.limit: 0 is a limit, written as 1 (runc ≥ 1.4, the systemd driver’s TasksMax too); any negative is max; absent leaves it', (t) => {
  for (const writes of [v1Writes, v2Writes]) {
    const pids = (limit?: number) => writes({ pids: limit === undefined ? {} : { limit } }).map((x) => `${x.file}=${x.value}`);
    t.deepEqual(pids(0), ['pids.max=1']);
    t.deepEqual(pids(7), ['pids.max=7']);
    t.deepEqual(pids(-1), ['pids.max=max']);
    t.deepEqual(pids(-5), ['pids.max=max']);
    t.deepEqual(pids(), []);
  }
  t.notThrows(() => validateCgroups({ ociVersion: '1.3.0', linux: { resources: { pids: { limit: -5 } } } }));
  t.notThrows(() => validateCgroups({ ociVersion: '1.3.0', linux: { resources: { pids: { limit: 0 } } } }));
  t.throws(() => validateCgroups({ ociVersion: '1.3.0', linux: { resources: { pids: { limit: 1.5 } } } }), { message: /pids\.limit/ });
});

test('v1 writes: cpu period before quota, controllers named', (t) => {
  const w = v1Writes({
    cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0' },
    pids: { limit: 5 },
    memory: { disableOOMKiller: true, reservation: 1 },
  });
  t.deepEqual(
    w.map((x) => `${x.controller}:${x.file}=${x.value}`),
    [
      'memory:memory.soft_limit_in_bytes=1',
      'memory:memory.oom_control=1',
      'cpu:cpu.shares=512',
      'cpu:cpu.cfs_period_us=100000',
      'cpu:cpu.cfs_quota_us=50000',
      'cpuset:cpuset.cpus=0',
      'pids:pids.max=5',
    ],
  );
});

test('device rules: config first, runc defaults after; v1 starts from deny-all', (t) => {
  const rules = deviceRules([
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 10, minor: 229, access: 'r' },
  ]);
  t.is(rules.length, 2 + DEFAULT_DEVICE_RULES.length);
  const w = v1DeviceWrites(rules);
  t.deepEqual(w.slice(0, 3), [
    ['devices.deny', 'a'],
    ['devices.deny', 'a'],
    ['devices.allow', 'c 10:229 r'],
  ]);
  t.true(w.some(([f, l]) => f === 'devices.allow' && l === 'c 136:* rwm'));
});

// runc's reading of access strings (cgroups devices Permissions and its emulator, at HEAD; the
// same in 1.1.5, compared on this host's v1 in I: cgroups › devices: access strings as runc reads them)
test('device rules: access keeps r, w and m and ignores other letters; type "a" is every device; no r/w/m is no rule', (t) => {
  const config = (rules: DeviceRule[]) => deviceRules(rules).slice(0, -DEFAULT_DEVICE_RULES.length);
  t.deepEqual(config([{ allow: true, type: 'c', major: 1, minor: 11, access: 'rwa' }]), [
    { allow: true, type: 'c', major: 1, minor: 11, access: 'rw' },
  ]);
  t.deepEqual(config([{ allow: false, type: 'b', major: 8, access: 'mmxwr' }]), [
    { allow: false, type: 'b', major: 8, minor: -1, access: 'rwm' },
  ]);
  t.deepEqual(config([{ allow: true, type: 'c', major: 1, minor: 11, access: 'a' }]), [], 'nothing to add or remove');
  t.deepEqual(config([{ allow: true, type: 'c', major: 1, minor: 11 }]), [{ allow: true, type: 'c', major: 1, minor: 11, access: 'rwm' }]);
  // runc's emulator resets to allow-all/deny-all on any "a" rule, whatever its numbers and access
  for (const r of [
    { allow: false, access: 'rw' },
    { allow: false, type: 'a', major: 10, access: 'r' },
    { allow: false, access: 'x' },
  ])
    t.deepEqual(config([r]), [{ allow: false, type: 'a', major: -1, minor: -1, access: 'rwm' }], JSON.stringify(r));
  // so every backend reads them alike: the program, v1's files, systemd's list
  const rules = deviceRules([
    { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
    { allow: false, type: 'a', major: 10, access: 'r' },
    { allow: true, type: 'c', major: 1, minor: 250, access: 'rwx' },
    { allow: false, type: 'c', major: 1, minor: 250, access: 'wa' },
  ]);
  const prog = deviceProgram(rules);
  t.false(runProgram(prog, 'c', 'w', 10, 229), 'the "a" deny reset everything before it');
  t.true(runProgram(prog, 'c', 'r', 1, 250));
  t.false(runProgram(prog, 'c', 'w', 1, 250), 'w taken back; "a" in an access string is no letter');
  t.deepEqual(v1DeviceWrites(rules).slice(0, 5), [
    ['devices.deny', 'a'],
    ['devices.allow', 'c 10:229 rw'],
    ['devices.deny', 'a'],
    ['devices.allow', 'c 1:250 rw'],
    ['devices.deny', 'c 1:250 w'],
  ]);
  const allow = deviceProperties(rules).find((p) => p.name === 'DeviceAllow')!.value as [string, string][];
  t.false(
    allow.some(([node]) => node === '/dev/char/10:229'),
    'systemd: the deny-all dropped it',
  );
  t.deepEqual(
    allow.filter(([node]) => node === '/dev/char/1:250'),
    [['/dev/char/1:250', 'r']],
    'systemd: a deny takes back only its access',
  );
});

test('validation: a device access is any non-empty string, as runc takes it', (t) => {
  const check = (access: unknown) => () =>
    validateCgroups({ ociVersion: '1.0.2', linux: { resources: { devices: [{ allow: true, type: 'c', major: 1, minor: 3, access }] } } });
  for (const ok of ['rwa', 'rwx', 'a', 'mrw', 'rrw']) t.notThrows(check(ok), ok);
  const empty = t.throws(check(''), { instanceOf: ConfigError });
  t.is(empty?.path, 'linux.resources.devices[0].access');
  t.regex(empty?.message ?? '', /cannot be empty/);
  t.is(t.throws(check(7), { instanceOf: ConfigError })?.path, 'linux.resources.devices[0].access');
});

test('device program: last matching rule wins, defaults allowed, the rest denied', (t) => {
  const prog = deviceProgram(
    deviceRules([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 10, minor: 229, access: 'r' },
    ]),
  );
  t.true(runProgram(prog, 'c', 'r', 10, 229), 'fuse read allowed');
  t.false(runProgram(prog, 'c', 'w', 10, 229), 'fuse write denied');
  t.false(runProgram(prog, 'c', 'rw', 10, 229), 'fuse rw denied');
  t.true(runProgram(prog, 'c', 'rw', 1, 3), '/dev/null');
  t.true(runProgram(prog, 'c', 'rw', 136, 7), 'a pts');
  t.true(runProgram(prog, 'b', 'm', 8, 0), 'mknod of any block device');
  t.false(runProgram(prog, 'b', 'r', 8, 0), 'reading a disk');
  t.false(runProgram(prog, 'c', 'r', 4, 1), 'a tty');
});

test('device program: a later deny-all overrides an earlier allow', (t) => {
  const order = deviceProgram([
    { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
    { allow: false, type: 'a', major: -1, minor: -1, access: 'rwm' },
  ]);
  t.false(runProgram(order, 'c', 'r', 10, 229));
  const all = deviceProgram([
    { allow: true, type: 'a', major: -1, minor: -1, access: 'rwm' },
    { allow: false, type: 'c', major: 1, minor: 3, access: 'w' },
  ]);
  t.true(runProgram(all, 'b', 'rw', 8, 0));
  t.false(runProgram(all, 'c', 'w', 1, 3));
  t.true(runProgram(all, 'c', 'r', 1, 3));
});

test('device program encodes as struct bpf_insn', (t) => {
  const bytes = encodeProgram(deviceProgram([]));
  t.is(bytes.length % 8, 0);
  t.is(bytes[0], 0x61); // ldxw r2, [r1+0]
  t.is(bytes[1], 0x12); // src r1, dst r2
  t.is(bytes[bytes.length - 8], 0x95); // exit
});

const HYBRID_MOUNTS = `25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
28 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
`;

test('host detection: hybrid, v1 hierarchies with our own cgroup', (t) => {
  const h = detectCgroups(HYBRID_MOUNTS, '4:memory:/a/b\n3:cpu,cpuacct:/\n1:name=systemd:/x\n0::/\n');
  t.is(h.mode, 'hybrid');
  t.is(h.v2Mount, '/sys/fs/cgroup/unified');
  t.deepEqual(
    h.v1.map((x) => [x.name, x.controllers.join(','), x.own]),
    [
      ['systemd', 'name=systemd', '/x'],
      ['memory', 'memory', '/a/b'],
      ['cpu,cpuacct', 'cpu,cpuacct', '/'],
    ],
  );
});

test('host detection: pure v2 and legacy', (t) => {
  const v2 = detectCgroups('26 25 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n', '0::/user.slice\n');
  t.is(v2.mode, 'unified');
  t.is(v2.v2Own, '/user.slice');
  const legacy = detectCgroups('28 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n', '4:memory:/\n');
  t.is(legacy.mode, 'legacy');
  t.is(detectCgroups('', '').mode, 'none');
});

test('cgroupsPath: absolute from the mount, relative under our own, default the id', (t) => {
  t.is(cgroupRelPath('/a/b', 'id', '/own'), '/a/b');
  t.is(cgroupRelPath('a/b', 'id', '/own'), '/own/a/b');
  t.is(cgroupRelPath(undefined, 'ctr', '/own'), '/own/ctr');
  t.is(cgroupRelPath('', 'ctr', '/'), '/ctr');
  // cgroup v2: beside our own cgroup (runc's fs2), which holds processes
  t.is(cgroupRelPath(undefined, 'ctr', '/system.slice/x.service', true), '/system.slice/ctr');
  t.is(cgroupRelPath('a/b', 'ctr', '/system.slice/x.service', true), '/system.slice/a/b');
  t.is(cgroupRelPath('/a', 'ctr', '/system.slice/x.service', true), '/a');
  t.is(cgroupRelPath(undefined, 'ctr', '/', true), '/ctr');
});

test('validation names the field', (t) => {
  const bad = (r: Record<string, unknown>, p: string) => {
    const e = t.throws(() => validateCgroups({ ociVersion: '1.0.2', linux: { resources: r } }), { instanceOf: ConfigError });
    t.is(e!.path, p);
  };
  bad({ memory: { limit: 64 * MiB, swap: MiB } }, 'linux.resources.memory.swap');
  bad({ cpu: { cpus: 'all' } }, 'linux.resources.cpu.cpus');
  bad({ cpu: { shares: -5 } }, 'linux.resources.cpu.shares');
  bad({ devices: [{ allow: true, access: '' }] }, 'linux.resources.devices[0].access');
  bad({ devices: [{ allow: true, type: 'p' }] }, 'linux.resources.devices[0].type');
  bad({ blockIO: { weight: 5 } }, 'linux.resources.blockIO.weight');
  bad({ unified: { '../x': '1' } }, 'linux.resources.unified.../x');
  bad({ hugepageLimits: [{ pageSize: 'big', limit: 1 }] }, 'linux.resources.hugepageLimits[0].pageSize');
  t.throws(() => validateCgroups({ ociVersion: '1.0.2', linux: { cgroupsPath: '/a/../../b' } }), { instanceOf: ConfigError });
  t.notThrows(() => validateCgroups({ ociVersion: '1.0.2', linux: { resources: { memory: { limit: -1 }, cpu: { cpus: '0-1,3' } } } }));
});

test('validate: cgroupsPath may not name the root cgroup, nor the runtime’s own (the root where the runtime runs)', (t) => {
  for (const cgroupsPath of ['/', '//', '/./', '/.', '.', './', './.']) {
    const e = t.throws(() => validateCgroups({ ociVersion: '1.0.2', linux: { cgroupsPath } }), { instanceOf: ConfigError });
    t.is(e!.path, 'linux.cgroupsPath', cgroupsPath);
    t.regex(e!.message, cgroupsPath.startsWith('/') ? /is the root cgroup/ : /is the runtime's own cgroup/, cgroupsPath);
  }
  // empty: the container id; and anything with a name in it
  for (const cgroupsPath of ['', '/a', 'a', './a', '/./a/', 'system.slice:tsrun:x'])
    t.notThrows(() => validateCgroups({ ociVersion: '1.0.2', linux: { cgroupsPath } }), cgroupsPath);
});

test('update flags → LinuxResources (only what was given)', (t) => {
  t.deepEqual(resourcesFromFlags({ memory: '100M', 'pids-limit': '20', 'cpu-quota': '5000' }), {
    memory: { limit: 100 * MiB },
    cpu: { quota: 5000 },
    pids: { limit: 20 },
  });
  t.deepEqual(resourcesFromFlags({}), {});
  // runc 1.3's update flags for cpu.burst and cpu.idle
  t.deepEqual(resourcesFromFlags({ 'cpu-burst': '1000', 'cpu-idle': '1' }), { cpu: { burst: 1000, idle: 1 } });
});

/**
 * A cgroupfs stand-in in a temp dir: the v1 manager only reads and writes
 * files, so what the kernel would hold is written by hand (a new directory
 * starts empty, like a new v1 cpuset).
 */
function fakeV1(files: Record<string, string> = {}): { host: CgroupHost; root: string; cleanup(): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-cg-'));
  const v1 = ['cpuset', 'freezer', 'pids'].map((c) => ({ mountPoint: path.join(root, c), name: c, controllers: [c], own: '/' }));
  for (const h of v1) fs.mkdirSync(h.mountPoint);
  fs.writeFileSync(path.join(root, 'cpuset', 'cpuset.cpus'), '0-3\n');
  fs.writeFileSync(path.join(root, 'cpuset', 'cpuset.mems'), '0\n');
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  return {
    host: { mode: 'legacy', v2Mount: null, v2Own: '/', v1 },
    root,
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

const readIn = (root: string, f: string) => fs.readFileSync(path.join(root, f), 'utf8').trim();

test("v1 create: every empty cpuset on the way down, new or not, gets its parent's cpus and mems; the leaf after the config", (t) => {
  // x exists already with an empty cpuset (made by hand, not by a runtime)
  const fake = fakeV1({ 'cpuset/x/cpuset.cpus': '\n', 'cpuset/x/cpuset.mems': '\n' });
  t.teardown(fake.cleanup);
  const m = new V1Manager(fake.host, '/x/y/z', 'id');
  t.deepEqual(
    m.create(),
    ['cpuset', 'freezer', 'pids'].map((h) => path.join(fake.root, h, 'x/y/z')),
    "the container's directories (not x and x/y, made on the way)",
  );
  for (const d of ['x', 'x/y']) {
    t.is(readIn(fake.root, `cpuset/${d}/cpuset.cpus`), '0-3', d);
    t.is(readIn(fake.root, `cpuset/${d}/cpuset.mems`), '0', d);
  }
  t.false(fs.existsSync(path.join(fake.root, 'cpuset/x/y/z/cpuset.cpus')), 'the leaf waits for apply');
  // the kernel makes the files; a set cpus is the config's, mems is inherited
  fs.writeFileSync(path.join(fake.root, 'cpuset/x/y/z/cpuset.cpus'), '');
  m.apply({ cpu: { cpus: '1' } });
  t.is(readIn(fake.root, 'cpuset/x/y/z/cpuset.cpus'), '1');
  t.is(readIn(fake.root, 'cpuset/x/y/z/cpuset.mems'), '0');
});

test('v1 check: a frozen cgroup (or the frozen ancestor a new one inherits from) is refused, naming it; nothing is made', (t) => {
  const fake = fakeV1({ 'freezer/a/freezer.state': 'FROZEN\n', 'freezer/a/freezer.self_freezing': '1\n' });
  t.teardown(fake.cleanup);
  for (const p of ['/a', '/a/b/c']) {
    const m = new V1Manager(fake.host, p, 'id');
    const e = t.throws(() => m.check({}), { instanceOf: TsrunError });
    t.is(e!.code, 'ESTATE');
    t.regex(
      e!.message,
      /^container's cgroup unexpectedly frozen: .*\/freezer\/a \(freezer.state is FROZEN; thaw it first: echo THAWED > .*\/freezer\/a\/freezer.state\)$/,
    );
    t.false(fs.existsSync(path.join(fake.root, 'freezer/a/b')));
  }
  // frozen only through its parent: the parent is the one to thaw
  fs.mkdirSync(path.join(fake.root, 'freezer/a/k'));
  fs.writeFileSync(path.join(fake.root, 'freezer/a/k/freezer.state'), 'FROZEN\n');
  fs.writeFileSync(path.join(fake.root, 'freezer/a/k/freezer.self_freezing'), '0\n');
  t.throws(() => new V1Manager(fake.host, '/a/k', 'id').check({}), { message: /frozen: \S*\/freezer\/a \(/ });
  fs.writeFileSync(path.join(fake.root, 'freezer/a/freezer.state'), 'THAWED\n');
  fs.writeFileSync(path.join(fake.root, 'freezer/a/k/freezer.state'), 'THAWED\n');
  t.deepEqual(new V1Manager(fake.host, '/a/k', 'id').check({}), []);
});

test("v1 check: runc's warning for a cgroup that holds processes", (t) => {
  const fake = fakeV1({
    'pids/busy/cgroup.procs': '101\n102\n',
    'pids/busy/sub/cgroup.procs': '103\n',
    'freezer/busy/cgroup.procs': '101\n',
  });
  t.teardown(fake.cleanup);
  t.deepEqual(new V1Manager(fake.host, '/busy', 'id').check({}), ["container's cgroup is not empty: 3 process(es) found"]);
  t.deepEqual(new V1Manager(fake.host, '/new', 'id').check({}), []);
});

test('v1 made: exactly what create made, which native/host’s cgroupRemove takes away; a cgroup that existed is left alone', async (t) => {
  // "pre" exists in two hierarchies, not in freezer
  const fake = fakeV1({ 'pids/pre/cgroup.procs': '', 'cpuset/pre/cpuset.cpus': '0\n', 'cpuset/pre/cpuset.mems': '0\n' });
  t.teardown(fake.cleanup);
  const m = new V1Manager(fake.host, '/pre/c', 'id');
  t.is(m.create().length, 3);
  t.deepEqual(
    m
      .made()
      .dirs.map((d) => path.relative(fake.root, d))
      .sort(),
    ['cpuset/pre/c', 'freezer/pre', 'freezer/pre/c', 'pids/pre/c'],
  );
  const made = m.made().dirs;
  t.true(made.indexOf(path.join(fake.root, 'freezer/pre')) < made.indexOf(path.join(fake.root, 'freezer/pre/c')), 'top first');
  await loadBinding().cgroupRemove(m.made().dirs);
  t.true(fs.existsSync(path.join(fake.root, 'pids/pre')));
  t.true(fs.existsSync(path.join(fake.root, 'cpuset/pre/cpuset.cpus')));
  t.false(fs.existsSync(path.join(fake.root, 'freezer/pre')), 'made (with its parent): removed');
  for (const h of ['cpuset', 'freezer', 'pids']) t.false(fs.existsSync(path.join(fake.root, h, 'pre/c')), h);
  // nothing made: nothing to remove
  const again = new V1Manager(fake.host, '/pre', 'id');
  fs.mkdirSync(path.join(fake.root, 'freezer/pre'));
  t.deepEqual(again.create(), []);
  t.deepEqual(again.made().dirs, []);
});

test('create: the directories it made are the container’s own (state.json’s cgroup.owned); those that existed are not', (t) => {
  // v1: "pre" exists in pids only; the other hierarchies get it from create
  const fake = fakeV1({ 'pids/pre/cgroup.procs': '' });
  t.teardown(fake.cleanup);
  t.deepEqual(
    new V1Manager(fake.host, '/pre', 'id').create(),
    ['cpuset', 'freezer'].map((h) => path.join(fake.root, h, 'pre')),
  );
  t.deepEqual(new V1Manager(fake.host, '/pre', 'id').create(), [], 'a second create makes nothing');
  // v2: one directory, made or not
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-cg2-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  t.deepEqual(new V2Manager(root, 'a/b').create(), [path.join(root, 'a/b')]);
  t.deepEqual(new V2Manager(root, 'a/b').create(), []);
  t.deepEqual(new V2Manager(root, 'a').create(), [], 'a, made on the way to a/b, exists now');
});

test('v2 check: processes warn', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-cg2-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'a'));
  fs.writeFileSync(path.join(root, 'a/cgroup.procs'), '7\n');
  t.deepEqual(new V2Manager(root, 'a').check(), ["container's cgroup is not empty: 1 process(es) found"]);
  t.deepEqual(new V2Manager(root, 'a/b').check(), []);
});

test('v2 check: a cgroup frozen here or above is refused, naming it', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-cg2-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'a'));
  fs.writeFileSync(path.join(root, 'a/cgroup.freeze'), '1\n');
  for (const rel of ['a', 'a/b/c'])
    t.throws(() => new V2Manager(root, rel).check(), {
      message: /^container's cgroup unexpectedly frozen: \S*\/a \(cgroup.freeze is 1; thaw it first: echo 0 > \S*\/a\/cgroup.freeze\)$/,
    });
  t.false(fs.existsSync(path.join(root, 'a/b')), 'nothing made');
  fs.writeFileSync(path.join(root, 'a/cgroup.freeze'), '0\n');
  t.deepEqual(new V2Manager(root, 'a/b').check(), []);
});

test("v1 check: unified is refused in runc's words; an empty map asks for nothing (as runc)", (t) => {
  const fake = fakeV1();
  t.teardown(fake.cleanup);
  const m = new V1Manager(fake.host, '/new', 'id');
  const e = t.throws(() => m.check({ unified: { 'memory.high': '1000000' } }), { instanceOf: ConfigError });
  t.is(e!.message, 'invalid configuration: cannot use unified on cgroup v1');
  t.is(V1_NO_UNIFIED, e!.message);
  t.throws(() => m.apply({ unified: { 'pids.max': '1' } }), { message: V1_NO_UNIFIED }, 'update says the same');
  t.deepEqual(m.check({ unified: {} }), []);
  t.false(fs.existsSync(path.join(fake.root, 'pids/new')), 'nothing made');
});

/** A v2 cgroup stand-in: the files the kernel would offer, empty (apply writes only files that exist). */
function fakeV2(files: string[]): { root: string; dir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-cg2-'));
  const dir = path.join(root, 'c');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'cgroup.controllers'), 'cpu memory pids\n');
  for (const f of files) fs.writeFileSync(path.join(dir, f), '');
  return { root, dir };
}

test('v2 apply: unlimited memory with a finite swap, pids.limit 0, the default shares: the files runc ≥ 1.4 writes', (t) => {
  const { root, dir } = fakeV2(['memory.max', 'memory.swap.max', 'pids.max', 'cpu.weight']);
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const m = new V2Manager(root, 'c');
  const r = { memory: { limit: -1, swap: 64 * MiB }, pids: { limit: 0 }, cpu: { shares: 1024 } };
  t.deepEqual(m.check(r), []);
  m.apply(r);
  t.is(readIn(dir, 'memory.max'), 'max');
  t.is(readIn(dir, 'memory.swap.max'), String(64 * MiB));
  t.is(readIn(dir, 'pids.max'), '1');
  t.is(readIn(dir, 'cpu.weight'), '100');
});

test('v2 update: --memory-swap alone is reckoned against the memory limit in place, as runc merges it with the current limit', (t) => {
  // the pure part: swap.max = memory+swap − the limit now, memory.max untouched
  t.deepEqual(
    v2Writes({ memory: { swap: 192 * MiB } }, undefined, 64 * MiB).map((x) => `${x.file}=${x.value}`),
    [`memory.swap.max=${128 * MiB}`],
  );
  t.throws(() => v2Writes({ memory: { swap: 32 * MiB } }, undefined, 64 * MiB), {
    message: 'linux.resources.memory.swap: memory+swap limit should be >= memory limit',
  });
  // a limit given with it still wins over the one in place
  t.deepEqual(
    v2Writes({ memory: { limit: 96 * MiB, swap: 192 * MiB } }, undefined, 64 * MiB).map((x) => `${x.file}=${x.value}`),
    [`memory.swap.max=${96 * MiB}`, `memory.max=${96 * MiB}`],
  );
  // through the manager: memory.max read from the cgroup
  const { root, dir } = fakeV2(['memory.max', 'memory.swap.max', 'memory.current']);
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const m = new V2Manager(root, 'c');
  fs.writeFileSync(path.join(dir, 'memory.max'), `${64 * MiB}\n`);
  m.apply({ memory: { swap: 192 * MiB } }, { update: true });
  t.is(readIn(dir, 'memory.swap.max'), String(128 * MiB));
  t.is(readIn(dir, 'memory.max'), String(64 * MiB));
  // no limit in place ("max"): runc has none stored either and refuses, in its words
  fs.writeFileSync(path.join(dir, 'memory.max'), 'max\n');
  t.throws(() => m.apply({ memory: { swap: 192 * MiB } }, { update: true }), {
    message: 'linux.resources.memory.swap: unable to set swap limit without memory limit',
  });
  fs.writeFileSync(path.join(dir, 'memory.swap.max'), ''); // cgroup files take each write whole; a plain file is overwritten in place
  m.apply({ memory: { swap: -1 } }, { update: true });
  t.is(readIn(dir, 'memory.swap.max'), 'max');
});

test('v2 check: a swap limit without a memory limit is refused before the cgroup exists, in runc’s words', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-cg2-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const e = t.throws(() => new V2Manager(root, 'a/b').check({ memory: { swap: 64 * MiB } }), { instanceOf: ConfigError });
  t.is(e!.message, 'linux.resources.memory.swap: unable to set swap limit without memory limit');
  t.false(fs.existsSync(path.join(root, 'a')));
});
