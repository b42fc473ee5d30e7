/** The systemd cgroup driver's planning (lib/cgroups/systemd.ts): runc's unit names, paths and properties. */
import test from 'ava';
import * as fs from 'node:fs';

import { DEFAULT_DEVICE_RULES, deviceRules } from '../../lib/cgroups/devices.js';
import {
  annotationProperties,
  deviceProperties,
  expandSlice,
  rangeToBits,
  resourceProperties,
  systemdUnit,
  unitProperties,
  type SystemdProperty,
} from '../../lib/cgroups/systemd.js';
import { ConfigError } from '../../lib/errors.js';

const byName = (props: SystemdProperty[]) => Object.fromEntries(props.map((p) => [p.name, p.value]));

test('slices expand by their dashes; -.slice is the root; malformed ones name linux.cgroupsPath', (t) => {
  t.is(expandSlice('system.slice'), '/system.slice');
  t.is(expandSlice('a-b-c.slice'), '/a.slice/a-b.slice/a-b-c.slice');
  t.is(expandSlice('-.slice'), '/');
  for (const bad of ['foo', '.slice', 'a/b.slice', 'a--b.slice', '-a.slice', 'a-.slice']) {
    const e = t.throws(() => expandSlice(bad), { instanceOf: ConfigError }, bad);
    t.is((e as ConfigError).path, 'linux.cgroupsPath');
  }
});

test('cgroupsPath slice:prefix:name → unit and cgroup, as runc names them', (t) => {
  t.deepEqual(systemdUnit('machine.slice:libpod:abc', 'x', false), {
    unit: 'libpod-abc.scope',
    slice: 'machine.slice',
    path: '/machine.slice/libpod-abc.scope',
  });
  t.deepEqual(systemdUnit('system.slice:docker:0123', 'x', false).path, '/system.slice/docker-0123.scope');
  t.deepEqual(
    systemdUnit('kubepods-besteffort-pod12.slice:cri-containerd:ab', 'x', false).path,
    '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-ab.scope',
  );
  t.deepEqual(systemdUnit(undefined, 'box', false), {
    unit: 'tsrun-box.scope',
    slice: 'system.slice',
    path: '/system.slice/tsrun-box.scope',
  });
  t.is(systemdUnit('', 'box', true).slice, 'user.slice', 'rootless: user.slice');
  t.is(systemdUnit(':p:n', 'box', false).slice, 'system.slice');
  t.is(systemdUnit('-:p:n', 'box', false).path, '/p-n.scope', '"-": the root slice');
  t.deepEqual(systemdUnit('system.slice:ignored:mine-x.slice', 'box', false), {
    unit: 'mine-x.slice',
    slice: 'system.slice',
    path: '/mine.slice/mine-x.slice',
  });
  for (const bad of ['/a/b', 'a:b', 'a:b:c:d', 'x.slice:p:'])
    t.throws(() => systemdUnit(bad, 'box', false), { instanceOf: ConfigError, message: /cgroupsPath/ }, bad);
});

test('a scope: Slice, Delegate, PIDs, no default dependencies, every accounting on', (t) => {
  const u = systemdUnit('machine.slice:libpod:abc', 'abc', false);
  const p = byName(unitProperties(u, { id: 'abc', pid: 4242, resources: {}, devices: null }));
  t.is(p.Slice, 'machine.slice');
  t.is(p.Delegate, true);
  t.deepEqual(p.PIDs, [4242]);
  t.is(p.DefaultDependencies, false);
  for (const a of ['MemoryAccounting', 'CPUAccounting', 'IOAccounting', 'TasksAccounting']) t.is(p[a], true, a);
  const slice = byName(
    unitProperties(systemdUnit('system.slice:x:mine.slice', 'abc', false), { id: 'abc', pid: -1, resources: {}, devices: null }),
  );
  t.deepEqual(slice.Wants, ['system.slice'], 'a slice wants its parent');
  t.false('Delegate' in slice);
});

test('resources as properties: memory, swap as its v2 meaning, cpu weight and quota, cpusets, tasks', (t) => {
  const p = byName(
    resourceProperties(
      {
        memory: { limit: 512 * 1024 * 1024, reservation: 256 * 1024 * 1024, swap: 768 * 1024 * 1024 },
        cpu: { shares: 1024, quota: 50_000, period: 100_000, cpus: '0-1,3', mems: '0' },
        pids: { limit: 0 },
      },
      null,
    ),
  );
  t.is(p.MemoryMax, 512n * 1024n * 1024n);
  t.is(p.MemoryLow, 256n * 1024n * 1024n);
  t.is(p.MemorySwapMax, 256n * 1024n * 1024n, 'swap is memory+swap in the spec, swap alone in v2');
  t.is(p.CPUWeight, 100n, 'the default shares are the default weight, as the cgroupfs driver writes it');
  t.is(p.CPUQuotaPeriodUSec, 100_000n);
  t.is(p.CPUQuotaPerSecUSec, 500_000n);
  t.deepEqual([...(p.AllowedCPUs as Uint8Array)], [0b1011]);
  t.deepEqual([...(p.AllowedMemoryNodes as Uint8Array)], [1]);
  t.is(p.TasksMax, 1n, 'pids.limit 0 is a limit; systemd takes no TasksMax=0');
  t.is(byName(resourceProperties({ cpu: { quota: 12_345, period: 100_000 } }, null)).CPUQuotaPerSecUSec, 130_000n, 'rounded up to 10 ms');
  t.is(byName(resourceProperties({ memory: { limit: -1 } }, null)).MemoryMax, 0xffffffffffffffffn);
  // the cgroupfs driver's conversion: unlimited memory lifts swap too, or takes a finite swap as it is (runc)
  t.is(byName(resourceProperties({ memory: { limit: -1 } }, null)).MemorySwapMax, 0xffffffffffffffffn);
  t.is(byName(resourceProperties({ memory: { limit: -1, swap: 64 * 1024 * 1024 } }, null)).MemorySwapMax, 64n * 1024n * 1024n);
  t.throws(() => resourceProperties({ memory: { swap: 64 * 1024 * 1024 } }, null), {
    message: 'linux.resources.memory.swap: unable to set swap limit without memory limit',
  });
  // update: a swap limit alone is reckoned against the memory limit in place, as runc merges it
  t.is(byName(resourceProperties({ memory: { swap: 192 * 1024 * 1024 } }, null, 64 * 1024 * 1024)).MemorySwapMax, 128n * 1024n * 1024n);
  t.is(byName(resourceProperties({ pids: { limit: -5 } }, null)).TasksMax, 0xffffffffffffffffn, 'any negative is infinity');
  t.is(byName(resourceProperties({ cpu: { shares: 2 } }, null)).CPUWeight, 1n);
  t.deepEqual(byName(resourceProperties({ unified: { 'memory.high': '1000', 'pids.max': 'max', 'io.weight': '50' } }, null)), {
    MemoryHigh: 1000n,
    TasksMax: 0xffffffffffffffffn,
  });
});

test('device rules: the default whitelist maps rule by rule, allow-all and blacklists leave the unit open', (t) => {
  const deny = { allow: false, type: 'a' as const, major: -1, minor: -1, access: 'rwm' };
  const p = byName(deviceProperties([deny, ...DEFAULT_DEVICE_RULES]));
  t.is(p.DevicePolicy, 'strict');
  const allow = p.DeviceAllow as [string, string][];
  t.deepEqual(allow.slice(0, 3), [
    ['char-*', 'm'],
    ['block-*', 'm'],
    ['/dev/char/1:3', 'rwm'],
  ]);
  t.true(allow.some(([n]) => n === 'char-136'));
  t.is(
    byName(deviceProperties(deviceRules([{ allow: true, access: 'rwm' }]))).DevicePolicy,
    'auto',
    'a config that allows all, then the defaults',
  );
  t.is(byName(deviceProperties([{ ...deny, allow: true }])).DevicePolicy, 'auto', 'allow all');
  t.is(
    byName(
      deviceProperties([
        { ...deny, allow: true },
        { allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' },
      ]),
    ).DevicePolicy,
    'auto',
  );
});

test('org.systemd.property annotations: GVariant text of the basic types, …Sec as …USec', (t) => {
  const p = byName(
    annotationProperties({
      'org.systemd.property.TimeoutStopUSec': 'uint64 123456789',
      'org.systemd.property.CollectMode': "'inactive-or-failed'",
      'org.systemd.property.TimeoutStopSec': '5',
      'org.systemd.property.RuntimeMaxSec': '1.5',
      'org.systemd.property.Delegate': 'true',
      'unrelated.annotation': 'x',
    }),
  );
  t.is(p.CollectMode, 'inactive-or-failed');
  t.is(p.TimeoutStopUSec, 5_000_000n, 'the later TimeoutStopSec wins, in µs');
  t.is(p.RuntimeMaxUSec, 1_500_000n);
  t.is(p.Delegate, true);
  t.false('unrelated.annotation' in p);
  t.throws(() => annotationProperties({ 'org.systemd.property.bad-name': '1' }), { instanceOf: ConfigError });
  t.throws(() => annotationProperties({ 'org.systemd.property.X': '<(1, 2)>' }), { instanceOf: ConfigError });
});

test('cpu lists as systemd byte masks', (t) => {
  t.deepEqual([...rangeToBits('0', 'f')], [1]);
  t.deepEqual([...rangeToBits('8-9', 'f')], [0, 3]);
  t.throws(() => rangeToBits('1-a', 'f'), { instanceOf: ConfigError });
});

// The addon's door to native/host/systemd.c, on a host with no systemd bus (this one, and CI):
// every property unitProperties builds crosses into C intact (a mangled name or value is refused
// before any connection, naming it), and what cannot connect says so, naming the bus.
const noBus = !fs.existsSync('/run/dbus/system_bus_socket') && !fs.existsSync('/run/systemd/private');
(noBus ? test : test.skip)('systemdStart/Set/Stop without a bus: properties cross intact, the error names the bus', async (t) => {
  const { loadBinding } = await import('../../lib/native/binding.js');
  const native = loadBinding();
  const u = systemdUnit('system.slice:tsrun:abc', 'abc', false);
  const ref = { unit: u.unit, user: false };
  const props = unitProperties(u, {
    id: 'abc',
    pid: 4242,
    resources: {
      memory: { limit: 2 ** 30, swap: 2 ** 31 },
      cpu: { shares: 512, quota: 50_000, period: 100_000, cpus: '0-1' },
      pids: { limit: 10 },
      blockIO: { weight: 100 },
    },
    devices: deviceRules([]),
    annotations: { 'org.systemd.property.TimeoutStopUSec': 'uint64 5000000', 'org.systemd.property.CollectMode': "'inactive-or-failed'" },
  });
  t.true(new Set(props.map((p) => p.type)).size >= 5, props.map((p) => p.type).join(' '));
  for (const call of [native.systemdStart(ref, props), native.systemdSet(ref, props), native.systemdStop(ref)]) {
    const e = await t.throwsAsync(call);
    t.regex(e!.message, /^systemd: cannot connect to the system bus: E[A-Z]+$/);
  }
  const user = await t.throwsAsync(native.systemdStop({ unit: u.unit, user: true }));
  t.regex(user!.message, /cannot connect to the user bus/);
  // what C refuses before connecting: a value its D-Bus type cannot hold
  const big = await t.throwsAsync(native.systemdStart(ref, [{ name: 'CPUWeight', type: 'u', value: 2 ** 33 }]));
  t.regex(big!.message, /property CPUWeight: the value does not fit type u/);
  t.throws(() => native.systemdStart(ref, [{ name: 'X', type: 't', value: 1 } as unknown as SystemdProperty]), {
    message: /property X: a value of type t expected/,
  });
  t.throws(() => native.systemdStart(ref, [{ name: 'Y', type: 'v', value: 1 } as unknown as SystemdProperty]), {
    message: /property Y: unknown D-Bus type v/,
  });
  const bad = await t.throwsAsync(native.systemdStart({ unit: 'x.service', user: false }, []));
  t.regex(bad!.message, /"x.service" is not a unit tsrun starts/);
});
