/** namespace planning and validation rules, pure (no root). */
import test from 'ava';

import { defaultSpec } from '../../lib/config/default-spec.js';
import { features } from '../../lib/cli/commands/features.js';
import type { Spec } from '../../lib/config/types.js';
import { sysctlNamespace, validateNamespaceRules } from '../../lib/config/validate-namespaces.js';
import { closeAll } from '../../lib/container/fds.js';
import { openNamespacePaths } from '../../lib/container/namespaces.js';
import { ConfigError } from '../../lib/errors.js';
import {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWTIME,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
} from '../../lib/plan/linux.js';
import { planNamespaces } from '../../lib/plan/namespaces.js';
import { NsFlag } from '../../lib/plan/types.js';

function spec(mutate?: (s: Spec) => void): Spec {
  const s = defaultSpec();
  mutate?.(s);
  return s;
}

const DEFAULT_FLAGS = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS;
const maps = (s: Spec) => {
  s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  s.linux!.gidMappings = [
    { containerID: 0, hostID: 200000, size: 10 },
    { containerID: 10, hostID: 300000, size: 5 },
  ];
};

test('plain new namespaces stay clone flags (no namespace step)', (t) => {
  const p = planNamespaces(spec());
  t.is(p.cloneFlags, DEFAULT_FLAGS);
  t.is(p.unshareFlags, 0n);
  t.is(p.nsFlags, 0);
  t.true(p.newPidNamespace);
  t.is(p.idMaps, null);
});

test('a new cgroup namespace is never a clone flag: the init unshares it after the host steps', (t) => {
  const p = planNamespaces(spec((s) => s.linux!.namespaces!.push({ type: 'cgroup' })));
  t.is(p.cloneFlags, DEFAULT_FLAGS);
  t.is(p.unshareFlags, CLONE_NEWCGROUP);
  t.is(p.nsFlags, 0, 'still the plain shape');
});

test('a user namespace is staged: unshared by the init, maps for the parent, a fork for the new pid namespace', (t) => {
  const p = planNamespaces(
    spec((s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      maps(s);
    }),
  );
  t.is(p.cloneFlags, 0n, 'no pid namespace in the clone flags of a staged plan');
  t.is(p.unshareFlags, DEFAULT_FLAGS | CLONE_NEWUSER);
  t.is(p.nsFlags, NsFlag.STAGE | NsFlag.FORK);
  t.deepEqual(p.idMaps, { uidMap: '0 100000 65536\n', gidMap: '0 200000 10\n10 300000 5\n' });
});

test('joins: user first, a joined pid namespace forks, fds by index', (t) => {
  const p = planNamespaces(
    spec((s) => {
      s.linux!.namespaces = [{ type: 'pid', path: '/p' }, { type: 'mount' }, { type: 'network', path: '/n' }, { type: 'user', path: '/u' }];
    }),
    [10, undefined, 11, 12],
  );
  t.deepEqual(p.nsJoins, [
    { fd: 12, nstype: Number(CLONE_NEWUSER) },
    { fd: 10, nstype: Number(CLONE_NEWPID) },
    { fd: 11, nstype: Number(CLONE_NEWNET) },
  ]);
  t.is(p.unshareFlags, CLONE_NEWNS);
  t.is(p.nsFlags, NsFlag.STAGE | NsFlag.FORK);
  t.false(p.newPidNamespace, 'a joined pid namespace is not ours: kill --all must not sweep it');
  t.is(p.idMaps, null, 'a joined user namespace keeps its maps');
});

test('a joined network namespace alone needs no fork', (t) => {
  const p = planNamespaces(
    spec((s) => (s.linux!.namespaces = [{ type: 'mount' }, { type: 'network', path: '/n' }])),
    [undefined, 3],
  );
  t.is(p.nsFlags, NsFlag.STAGE);
});

test('time namespace: staged with offsets and a fork', (t) => {
  const p = planNamespaces(
    spec((s) => {
      s.linux!.namespaces!.push({ type: 'time' }, { type: 'cgroup' });
      s.linux!.timeOffsets = { boottime: { secs: -5, nanosecs: 7 } };
    }),
  );
  t.is(p.unshareFlags, DEFAULT_FLAGS | CLONE_NEWTIME | CLONE_NEWCGROUP);
  t.is(p.nsFlags, NsFlag.STAGE | NsFlag.FORK | NsFlag.TIME_OFFSETS);
  t.deepEqual(p.timeOffsets, { monotonic: [0n, 0], boottime: [-5n, 7] });
});

function rule(t: import('ava').ExecutionContext, mutate: (s: Spec) => void, field: string, message: RegExp): void {
  const e = t.throws(() => validateNamespaceRules(spec(mutate)), { instanceOf: ConfigError });
  t.is(e?.path, field);
  t.regex(e?.message ?? '', message);
}

test('validation rules name the JSON path', (t) => {
  t.notThrows(() =>
    validateNamespaceRules(
      spec((s) => {
        s.linux!.namespaces!.push({ type: 'user' }, { type: 'time' });
        maps(s);
        s.linux!.timeOffsets = { monotonic: { secs: 1, nanosecs: 2 } };
      }),
    ),
  );
  rule(t, (s) => s.linux!.namespaces!.push({ type: 'user', path: 'rel' }), 'linux.namespaces[5].path', /absolute/);
  rule(t, (s) => (s.linux!.gidMappings = [{ containerID: 0, hostID: 1, size: 1 }]), 'linux.gidMappings', /require a user namespace/);
  rule(t, (s) => s.linux!.namespaces!.push({ type: 'user' }), 'linux.uidMappings', /requires uid mappings/);
  rule(
    t,
    (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      maps(s);
      s.linux!.uidMappings![0]!.hostID = -1;
    },
    'linux.uidMappings[0].hostID',
    /integer from 0/,
  );
  rule(t, (s) => (s.linux!.timeOffsets = { monotonic: { secs: 1 } }), 'linux.timeOffsets', /require a time namespace/);
  rule(
    t,
    (s) => {
      s.linux!.namespaces!.push({ type: 'time', path: '/t' });
      s.linux!.timeOffsets = { monotonic: { secs: 1 } };
    },
    'linux.timeOffsets',
    /existing time namespace/,
  );
  rule(
    t,
    (s) => {
      s.linux!.namespaces!.push({ type: 'time' });
      s.linux!.timeOffsets = { monotonic: { secs: 1.5 } };
    },
    'linux.timeOffsets.monotonic.secs',
    /integer/,
  );
  t.notThrows(() =>
    validateNamespaceRules(
      spec((s) => {
        s.linux!.namespaces!.push({ type: 'user', path: '/u' }); // joined: config maps optional (ignored, as runc)
      }),
    ),
  );
});

test('sysctl namespace owners', (t) => {
  t.is(sysctlNamespace('net.ipv4.ip_forward'), 'network');
  t.is(sysctlNamespace('net/core/somaxconn'), 'network');
  t.is(sysctlNamespace('fs.mqueue.msg_max'), 'ipc');
  t.is(sysctlNamespace('kernel.shm_rmid_forced'), 'ipc');
  t.is(sysctlNamespace('kernel.domainname'), 'uts');
  t.is(sysctlNamespace('kernel.pid_max'), null);
});

test('namespace paths are opened and type-checked through the binding; errors close what was opened', (t) => {
  const opened: number[] = [];
  const native = {
    nsType: (fd: number) => {
      opened.push(fd);
      return opened.length === 1 ? Number(CLONE_NEWNET) : Number(CLONE_NEWIPC);
    },
  };
  const s = spec(
    (x) => (x.linux!.namespaces = [{ type: 'mount' }, { type: 'network', path: '/dev/null' }, { type: 'uts', path: '/dev/null' }]),
  );
  const e = t.throws(() => openNamespacePaths(s, native), { instanceOf: ConfigError });
  t.is(e?.path, 'linux.namespaces[2].path');
  t.regex(e?.message ?? '', /is a ipc namespace, not a uts namespace/);
  const fds = openNamespacePaths(
    spec((x) => (x.linux!.namespaces = [{ type: 'mount' }, { type: 'network', path: '/dev/null' }])),
    { nsType: () => Number(CLONE_NEWNET) },
  );
  t.is(fds[0], undefined);
  t.true(typeof fds[1] === 'number');
  closeAll(fds);
  const missing = t.throws(
    () =>
      openNamespacePaths(
        spec((x) => (x.linux!.namespaces = [{ type: 'ipc', path: '/nonexistent' }])),
        native,
      ),
    { instanceOf: ConfigError },
  );
  t.regex(missing?.message ?? '', /cannot open \/nonexistent: ENOENT/);
});

test('features lists all eight namespaces and idmapped mounts', (t) => {
  const f = features() as { linux: { namespaces: string[]; mountExtensions: { idmap: { enabled: boolean } } } };
  t.deepEqual([...f.linux.namespaces].sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts']);
  t.true(f.linux.mountExtensions.idmap.enabled);
});

test('idmapped mount rules', (t) => {
  const bind = (extra: Record<string, unknown>) => (s: Spec) =>
    s.mounts!.push({ destination: '/data', type: 'bind', source: '/src', options: ['rbind'], ...extra } as never);
  rule(
    t,
    (s) => s.mounts!.push({ destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['idmap'] }),
    'mounts[7].options',
    /bind mounts only/,
  );
  rule(t, bind({ options: ['rbind', 'idmap'] }), 'mounts[7].options', /mappings of a new user namespace/);
  rule(t, bind({ uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }), 'mounts[7].gidMappings', /both uidMappings and gidMappings/);
  t.notThrows(() =>
    validateNamespaceRules(
      spec(bind({ uidMappings: [{ containerID: 0, hostID: 1, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1, size: 1 }] })),
    ),
  );
  t.notThrows(() =>
    validateNamespaceRules(
      spec((s) => {
        s.linux!.namespaces!.push({ type: 'user' });
        maps(s);
        bind({ options: ['rbind', 'ridmap'] })(s);
      }),
    ),
  );
});
