/** Rootless rules, pure (no root): the spec template, the id-map writer, the cgroup rules. */
import test from 'ava';

import { defaultSpec, toRootless } from '../../lib/config/default-spec.js';
import { cgroupUsable, limitSet, rootlessWithoutCgroup, withoutDevices } from '../../lib/cgroups/rootless.js';
import type { LinuxResources } from '../../lib/cgroups/resources.js';
import type { Spec } from '../../lib/config/types.js';
import { checkOwnUserNs, checkUnprivileged, subIdRanges, type UnprivilegedHost } from '../../lib/config/validate-rootless.js';
import { ConfigError } from '../../lib/errors.js';
import { buildPlan } from '../../lib/plan/build.js';
import { PlanFlag } from '../../lib/plan/types.js';

const host = (over: Partial<UnprivilegedHost> = {}): UnprivilegedHost => ({
  euid: 1001,
  egid: 1002,
  userName: 'alice',
  readSubIds: (f) => (f === '/etc/subuid' ? 'bob:100000:65536\nalice:165536:65536\n' : '1001:300000:1000\n'),
  which: (p) => `/usr/bin/${p}`,
  oomScoreAdj: () => 0,
  ...over,
});

const rootless = (mutate?: (s: Spec) => void): Spec => {
  const s = toRootless(defaultSpec(), 1001, 1002);
  mutate?.(s);
  return s;
};

const fails = (t: import('ava').ExecutionContext, fn: () => unknown, path: string, re: RegExp) => {
  const e = t.throws(fn, { instanceOf: ConfigError }) as ConfigError;
  t.is(e.path, path);
  t.regex(e.message, re);
};

test('toRootless: runc’s template (own ids to 0, no network namespace, /sys bound ro, no uid=/gid=, no resources)', (t) => {
  const s = rootless();
  t.deepEqual(s.linux!.uidMappings, [{ containerID: 0, hostID: 1001, size: 1 }]);
  t.deepEqual(s.linux!.gidMappings, [{ containerID: 0, hostID: 1002, size: 1 }]);
  t.deepEqual(
    s.linux!.namespaces!.map((n) => n.type),
    ['pid', 'ipc', 'uts', 'mount', 'user'],
  );
  t.is(s.linux!.resources, undefined);
  t.deepEqual(
    s.mounts!.find((m) => m.destination === '/sys'),
    { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] },
  );
  t.false(s.mounts!.some((m) => (m.options ?? []).some((o) => o.startsWith('gid=') || o.startsWith('uid='))));
  t.truthy(defaultSpec().linux!.resources, 'the default spec is left alone');
});

test('subIdRanges: by name or by number, malformed lines ignored', (t) => {
  const text = 'alice:100:10\n1001:500:5\nbob:1:1\nalice:x:1\nalice:7\n';
  t.deepEqual(subIdRanges(text, 'alice', 1001), [
    { start: 100, count: 10 },
    { start: 500, count: 5 },
  ]);
  t.deepEqual(subIdRanges(null, 'alice', 1001), []);
});

test('checkUnprivileged: own ids are written directly, setgroups denied', (t) => {
  const w = checkUnprivileged(rootless(), host());
  t.deepEqual(w, { newuidmap: null, newgidmap: null, denySetgroups: true });
});

test('checkUnprivileged: ranges of /etc/subuid and /etc/subgid go through the helpers, setgroups allowed', (t) => {
  const s = rootless((x) => {
    x.linux!.uidMappings = [
      { containerID: 0, hostID: 1001, size: 1 },
      { containerID: 1, hostID: 165536, size: 65536 },
    ];
    x.linux!.gidMappings = [{ containerID: 0, hostID: 300000, size: 1000 }];
    x.process!.user.additionalGids = [5];
  });
  t.deepEqual(checkUnprivileged(s, host()), { newuidmap: '/usr/bin/newuidmap', newgidmap: '/usr/bin/newgidmap', denySetgroups: false });
});

test('checkUnprivileged: refusals name the field', (t) => {
  fails(
    t,
    () =>
      checkUnprivileged(
        rootless((s) => (s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 10 }])),
        host(),
      ),
    'linux.uidMappings[0]',
    /host uids 100000-100009 are not yours to map: \/etc\/subuid gives alice 165536-231071/,
  );
  fails(
    t,
    () =>
      checkUnprivileged(
        rootless((s) => (s.linux!.uidMappings = [{ containerID: 0, hostID: 165536, size: 2 }])),
        host({ which: () => null }),
      ),
    'linux.uidMappings',
    /needs newuidmap \(package uidmap\)/,
  );
  fails(
    t,
    () =>
      checkUnprivileged(
        rootless((s) => (s.process!.user.additionalGids = [1])),
        host(),
      ),
    'process.user.additionalGids',
    /cannot set any additional groups in a rootless container/,
  );
  fails(t, () => checkUnprivileged(defaultSpec(), host()), 'linux.namespaces', /rootless container requires user namespaces/);
  fails(
    t,
    () =>
      checkUnprivileged(
        rootless((s) => (s.process!.oomScoreAdj = 10)),
        host({ oomScoreAdj: () => 100 }),
      ),
    'process.oomScoreAdj',
    /only upwards/,
  );
  t.notThrows(() =>
    checkUnprivileged(
      rootless((s) => (s.process!.oomScoreAdj = 200)),
      host({ oomScoreAdj: () => 100 }),
    ),
  );
  fails(
    t,
    () =>
      checkUnprivileged(
        rootless((s) => (s.linux!.netDevices = { eth0: {} })),
        host(),
      ),
    'linux.netDevices',
    /CAP_NET_ADMIN/,
  );
  fails(
    t,
    () =>
      checkUnprivileged(
        rootless((s) => s.mounts!.push({ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['uid=5'] })),
        host(),
      ),
    `mounts[${rootless().mounts!.length}].options`,
    /uid 5 is not mapped/,
  );
});

test('checkUnprivileged: a joined user namespace has its maps', (t) => {
  const s = rootless((x) => {
    x.linux!.namespaces = x.linux!.namespaces!.map((n) => (n.type === 'user' ? { type: 'user', path: '/proc/1/ns/user' } : n));
    x.linux!.uidMappings = [{ containerID: 0, hostID: 5, size: 100 }];
  });
  t.deepEqual(checkUnprivileged(s, host()), { newuidmap: null, newgidmap: null, denySetgroups: false });
});

test('cgroups: usable when every directory or its nearest existing ancestor is writable', (t) => {
  const existing = new Set(['/sys/fs/cgroup', '/sys/fs/cgroup/user.slice', '/']);
  const access = (writable: string[]) => ({ exists: (p: string) => existing.has(p), writable: (d: string) => writable.includes(d) });
  t.true(cgroupUsable(['/sys/fs/cgroup/user.slice/a/b'], access(['/sys/fs/cgroup/user.slice'])));
  t.false(cgroupUsable(['/sys/fs/cgroup/user.slice/a/b'], access(['/sys/fs/cgroup'])));
  t.false(cgroupUsable(['/sys/fs/cgroup/x', '/sys/fs/cgroup/user.slice/y'], access(['/sys/fs/cgroup/user.slice'])));
});

test('cgroups: runc’s rootless rules without a usable cgroup', (t) => {
  t.is(rootlessWithoutCgroup(undefined, undefined, '/c'), null);
  t.is(rootlessWithoutCgroup(undefined, { devices: [{ allow: false, access: 'rwm' }] } as LinuxResources, '/c'), null);
  t.is(rootlessWithoutCgroup(undefined, { memory: { limit: 0 }, pids: {} } as LinuxResources, '/c'), null, 'zero is no limit');
  fails(t, () => rootlessWithoutCgroup('/x', undefined, '/c'), 'linux.cgroupsPath', /no permission to create cgroup \/c/);
  fails(
    t,
    () => rootlessWithoutCgroup(undefined, { pids: { limit: 10 } } as LinuxResources, '/c'),
    'linux.resources.pids',
    /rootless needs no limits \+ no cgrouppath/,
  );
  t.is(limitSet({ cpu: { cpus: '0' } } as LinuxResources), 'cpu');
  t.is(limitSet({ pids: { limit: 0 } } as LinuxResources), 'pids', 'pids.limit 0 is a limit (runtime-spec 1.3; runc ≥ 1.4)');
  t.deepEqual(withoutDevices({ devices: [], pids: { limit: 1 } } as LinuxResources), { pids: { limit: 1 } } as LinuxResources);
});

test('plan: a denied setgroups is a plan flag and travels with the maps', (t) => {
  const s = rootless();
  s.process!.terminal = false;
  const plan = buildPlan(
    s,
    { id: 'x', bundle: '/b', rootfs: '/b/rootfs', stateDir: '/s', idMapWriter: { newuidmap: null, newgidmap: null, denySetgroups: true } },
    { kind: () => 'dir', cgroupV2Only: () => true, cgroupV1Hierarchies: () => [], homeOf: () => null },
  );
  t.true((plan.init.flags & PlanFlag.NO_SETGROUPS) !== 0);
  t.deepEqual(plan.host.idMaps, { uidMap: '0 1001 1\n', gidMap: '0 1002 1\n', newuidmap: null, newgidmap: null, denySetgroups: true });
});

test('plan: WAIT_DUMPABLE only when asked for (an unprivileged runtime)', (t) => {
  const s = rootless();
  s.process!.terminal = false;
  const flags = (waitDumpable?: boolean) =>
    buildPlan(
      s,
      { id: 'x', bundle: '/b', rootfs: '/b/rootfs', stateDir: '/s', waitDumpable },
      { kind: () => 'dir', cgroupV2Only: () => true, cgroupV1Hierarchies: () => [], homeOf: () => null },
    ).init.flags;
  t.true((flags(true) & PlanFlag.WAIT_DUMPABLE) !== 0);
  t.is(flags(false) & PlanFlag.WAIT_DUMPABLE, 0);
  t.is(flags() & PlanFlag.WAIT_DUMPABLE, 0, 'a privileged runtime: never');
});

test('checkOwnUserNs: a runtime in a user namespace maps only ids of its own, and inherits a denied setgroups', (t) => {
  const priv = { newuidmap: null, newgidmap: null, denySetgroups: false };
  const own = { uidMap: '0 1001 1\n', gidMap: '0 1002 1\n', setgroupsDenied: true };
  const s = (mutate?: (x: Spec) => void) =>
    rootless((x) => {
      x.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
      x.linux!.gidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
      mutate?.(x);
    });
  t.deepEqual(checkOwnUserNs(s(), own, priv), { ...priv, denySetgroups: true });
  t.deepEqual(checkOwnUserNs(s(), { ...own, setgroupsDenied: false }, priv), priv);
  fails(
    t,
    () =>
      checkOwnUserNs(
        s((x) => (x.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 2 }])),
        own,
        priv,
      ),
    'linux.uidMappings[0]',
    /host uids 0-1 do not exist in the runtime's own user namespace \(its uid_map: 0 1001 1\)/,
  );
  fails(
    t,
    () =>
      checkOwnUserNs(
        s((x) => (x.process!.user.additionalGids = [0])),
        own,
        priv,
      ),
    'process.user.additionalGids',
    /denies setgroups/,
  );
  const initial = { uidMap: '0 0 4294967295\n', gidMap: '0 0 4294967295\n', setgroupsDenied: false };
  t.deepEqual(
    checkOwnUserNs(
      s((x) => (x.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }])),
      initial,
      priv,
    ),
    priv,
  );
});
