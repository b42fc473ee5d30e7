/**
 * the process-attribute rules and planners, without root:
 * the host comes in as plain functions.
 */
import test from 'ava';

import { features } from '../../lib/cli/commands/features.js';
import { listenFdOptions } from '../../lib/cli/listen-fds.js';
import { defaultSpec } from '../../lib/config/default-spec.js';
import type { Spec } from '../../lib/config/types.js';
import { parseLimits } from '../../lib/config/validate-process.js';
import { sysctlNamespace } from '../../lib/config/validate-namespaces.js';
import { validateSpec, type ValidationHost } from '../../lib/config/validate.js';
import { ConfigError } from '../../lib/errors.js';
import { MOUNT_ATTR, listMask, planProcAttrs, recursiveAttrs, rootPropagationPlan, sysctlName, sysctlPath } from '../../lib/plan/attrs.js';
import { MS } from '../../lib/plan/linux.js';
import { parseMountOptions } from '../../lib/plan/mounts.js';

const files: Record<string, string> = {
  '/sys/devices/system/node/online': '0-1\n',
  '/proc/self/status': 'CapEff:\t000001fffeffffff\n', // no CAP_SYS_RESOURCE (24)
  '/proc/self/limits':
    'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\nMax core file size        unlimited            unlimited            bytes\n',
};
const host: ValidationHost = {
  kind: (p) => (p.startsWith('/proc/sys/') ? (p.includes('missing') ? null : 'file') : 'dir'),
  read: (p) => files[p] ?? null,
  realPath: (p) => p,
};
const opts = { rootfs: '/bundle/rootfs', detach: true, consoleSocket: false };

function spec(mutate: (s: Spec) => void): Spec {
  const s = defaultSpec();
  s.process!.terminal = false;
  mutate(s);
  return s;
}

function fails(t: import('ava').ExecutionContext, mutate: (s: Spec) => void, field: string, message: RegExp): void {
  const e = t.throws(() => validateSpec(spec(mutate), host, opts), { instanceOf: ConfigError });
  t.true(e?.message.startsWith(`${field}: `), e?.message);
  t.regex(e?.message ?? '', message);
}

test('sysctl keys map to the namespace runc requires', (t) => {
  t.is(sysctlNamespace('net.ipv4.ip_forward'), 'network');
  t.is(sysctlNamespace('kernel.msgmax'), 'ipc');
  t.is(sysctlNamespace('fs.mqueue.queues_max'), 'ipc');
  t.is(sysctlNamespace('kernel.domainname'), 'uts');
  t.is(sysctlNamespace('kernel.pid_max'), null);
  t.is(sysctlNamespace('vm.swappiness'), null);
  // runc ≥ 1.4 (validator.go at HEAD; 1.1.5 here refuses them): the ucounts limits are per user namespace
  t.is(sysctlNamespace('user.max_user_namespaces'), 'user');
  t.is(sysctlNamespace('user/max_inotify_watches'), 'user');
});

test('sysctl validation names the key', (t) => {
  t.notThrows(() =>
    validateSpec(
      spec((s) => (s.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1' })),
      host,
      opts,
    ),
  );
  fails(t, (s) => (s.linux!.sysctl = { 'vm.swappiness': '1' }), 'linux.sysctl["vm.swappiness"]', /not in a separate kernel namespace/);
  fails(
    t,
    (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'ipc');
      s.linux!.sysctl = { 'fs.mqueue.msg_max': '1' };
    },
    'linux.sysctl["fs.mqueue.msg_max"]',
    /host's ipc namespace/,
  );
  fails(t, (s) => (s.linux!.sysctl = { 'net.ipv4.missing': '1' }), 'linux.sysctl["net.ipv4.missing"]', /no such sysctl/);
  // user.*: any key, with a user namespace of the container's (new or joined), as runc ≥ 1.4
  const userNs = (s: Spec) => {
    s.linux!.namespaces!.push({ type: 'user' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  };
  t.notThrows(() =>
    validateSpec(
      spec((s) => {
        userNs(s);
        s.linux!.sysctl = { 'user.max_user_namespaces': '7', 'user.max_inotify_watches': '100' };
      }),
      host,
      opts,
    ),
  );
  fails(
    t,
    (s) => (s.linux!.sysctl = { 'user.max_user_namespaces': '7' }),
    'linux.sysctl["user.max_user_namespaces"]',
    /host's user namespace \(linux\.namespaces has no user\)/,
  );
  fails(t, (s) => (s.linux!.sysctl = { 'net/../../x': '1' }), 'linux.sysctl["net/../../x"]', /invalid sysctl name/);
  fails(t, (s) => (s.linux!.sysctl = { 'net.ipv4..x': '1' }), 'linux.sysctl["net.ipv4..x"]', /invalid sysctl name/);
});

test('sysctl keys written with slashes are accepted and written where sysctl(8) would, as runc accepts them', (t) => {
  const slashed = spec((s) => (s.linux!.sysctl = { 'net/ipv4/ip_forward': '1', 'kernel/msgmax': '4321' }));
  t.notThrows(() => validateSpec(slashed, host, opts));
  t.deepEqual(
    planProcAttrs(slashed, 0n).sysctls.map((x) => x.path),
    ['net/ipv4/ip_forward', 'kernel/msgmax'],
  );
  // the character that is not the separator belongs to a component (a VLAN interface eno2.100)
  t.is(sysctlPath('net.ipv4.conf.eno2/100.rp_filter'), 'net/ipv4/conf/eno2.100/rp_filter');
  t.is(sysctlPath('net/ipv4/conf/eno2.100/rp_filter'), 'net/ipv4/conf/eno2.100/rp_filter');
  t.is(sysctlName('net/ipv4/conf/eno2.100/rp_filter'), 'net.ipv4.conf.eno2/100.rp_filter');
  t.is(sysctlNamespace('net/ipv4/conf/eno2.100/rp_filter'), 'network');
  t.is(sysctlNamespace('kernel/shm_rmid_forced'), 'ipc');
  // the namespace rule reads the dotted name, as runc's does
  fails(
    t,
    (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network');
      s.linux!.sysctl = { 'net/ipv4/ip_forward': '1' };
    },
    'linux.sysctl["net/ipv4/ip_forward"]',
    /sysctl "net\.ipv4\.ip_forward" is not allowed in the host's network namespace/,
  );
  fails(t, (s) => (s.linux!.sysctl = { 'vm/swappiness': '1' }), 'linux.sysctl["vm/swappiness"]', /"vm\.swappiness" is not in a separate/);
});

test("kernel.hostname is refused as runc does (the hostname field owns it); kernel.domainname is the UTS namespace's", (t) => {
  for (const key of ['kernel.hostname', 'kernel/hostname'])
    fails(
      t,
      (s) => (s.linux!.sysctl = { [key]: 'x' }),
      `linux.sysctl[${JSON.stringify(key)}]`,
      /^[^:]+: sysctl "kernel\.hostname" is not allowed as it conflicts with the OCI "hostname" field$/,
    );
  t.notThrows(() =>
    validateSpec(
      spec((s) => (s.linux!.sysctl = { 'kernel.domainname': 'example.org' })),
      host,
      opts,
    ),
  );
  // without a UTS namespace both are the host's
  for (const key of ['kernel.hostname', 'kernel.domainname'])
    fails(
      t,
      (s) => {
        s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts');
        delete s.hostname;
        s.linux!.sysctl = { [key]: 'x' };
      },
      `linux.sysctl[${JSON.stringify(key)}]`,
      /host's UTS namespace/,
    );
});

test('features: every memoryPolicy mode and flag it lists is one validation accepts (features-linux.md: MUST recognize)', (t) => {
  const { modes, flags } = (features() as { linux: { memoryPolicy: { modes: string[]; flags: string[] } } }).linux.memoryPolicy;
  for (const mode of modes) {
    const nodes = ['MPOL_DEFAULT', 'MPOL_LOCAL'].includes(mode) ? undefined : '0';
    t.notThrows(
      () =>
        validateSpec(
          spec((s) => ((s.linux as Record<string, unknown>).memoryPolicy = { mode, nodes })),
          host,
          opts,
        ),
      mode,
    );
  }
  for (const flag of flags)
    t.notThrows(
      () =>
        validateSpec(
          spec((s) => ((s.linux as Record<string, unknown>).memoryPolicy = { mode: 'MPOL_BIND', nodes: '0', flags: [flag] })),
          host,
          opts,
        ),
      flag,
    );
});

test('scheduler, ioPriority, personality and memoryPolicy rules', (t) => {
  t.notThrows(() =>
    validateSpec(
      spec((s) => (s.process!.scheduler = { policy: 'SCHED_DEADLINE', runtime: 10, deadline: 20, period: 30 })),
      host,
      opts,
    ),
  );
  fails(
    t,
    (s) => (s.process!.scheduler = { policy: 'SCHED_DEADLINE', runtime: 30, deadline: 20 }),
    'process.scheduler',
    /runtime <= deadline <= period/,
  );
  fails(
    t,
    (s) => (s.process!.scheduler = { policy: 'SCHED_BATCH', priority: 3 }),
    'process.scheduler.priority',
    /must be 0 for SCHED_BATCH/,
  );
  fails(t, (s) => (s.process!.scheduler = { policy: 'SCHED_OTHER', runtime: 5 }), 'process.scheduler.runtime', /only to SCHED_DEADLINE/);
  fails(
    t,
    (s) => (s.process!.scheduler = { policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_NOPE'] }),
    'process.scheduler.flags[0]',
    /unknown value/,
  );
  fails(t, (s) => (s.process!.ioPriority = { class: 'IOPRIO_CLASS_NONE' }), 'process.ioPriority.class', /unknown class/);
  fails(t, (s) => (s.linux!.personality = { domain: 'LINUX', flags: ['BOGUS'] }), 'linux.personality.flags[0]', /unknown value/);
  fails(
    t,
    (s) => ((s.linux as Record<string, unknown>).memoryPolicy = { mode: 'MPOL_BIND', nodes: '0-2' }),
    'linux.memoryPolicy.nodes',
    /node 2 is not online/,
  );
  fails(
    t,
    (s) => ((s.linux as Record<string, unknown>).memoryPolicy = { mode: 'MPOL_LOCAL', nodes: '0' }),
    'linux.memoryPolicy.nodes',
    /must be empty/,
  );
});

test("an rlimit above the runtime's hard limit is refused without CAP_SYS_RESOURCE", (t) => {
  t.notThrows(() =>
    validateSpec(
      spec((s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 4096, hard: 4096 }])),
      host,
      opts,
    ),
  );
  fails(
    t,
    (s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 8192 }]),
    'process.rlimits[0]',
    /hard limit 8192 exceeds the host's hard limit 4096/,
  );
  t.deepEqual(
    parseLimits(files['/proc/self/limits']!),
    new Map([
      [7, 4096n],
      [4, 0xffffffffffffffffn],
    ]),
  );
});

test('recursive mount options fold into mount_setattr attributes and stay out of the data', (t) => {
  t.deepEqual(recursiveAttrs(['rbind', 'rro', 'rnosuid']), { set: MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOSUID, clr: 0n });
  t.deepEqual(recursiveAttrs(['rro', 'rrw']), { set: 0n, clr: MOUNT_ATTR.RDONLY });
  t.deepEqual(recursiveAttrs(['rnoatime']), { set: MOUNT_ATTR.NOATIME, clr: MOUNT_ATTR.ATIME_MASK });
  t.deepEqual(recursiveAttrs(['rstrictatime', 'rrelatime']), { set: 0n, clr: MOUNT_ATTR.ATIME_MASK });
  t.is(recursiveAttrs(['ro', 'nosuid']), null);
  t.deepEqual(parseMountOptions(['rro', 'size=1m']).data, ['size=1m']);
});

test('rootfsPropagation: as asked on "/" before any mount (unbindable: rslave), the rootfs parent never shared, shared and unbindable again after pivot_root', (t) => {
  t.deepEqual(rootPropagationPlan(undefined), { before: MS.SLAVE | MS.REC, parent: MS.PRIVATE, after: 0n });
  t.deepEqual(rootPropagationPlan('rshared'), { before: MS.SHARED | MS.REC, parent: MS.PRIVATE, after: MS.SHARED | MS.REC });
  t.deepEqual(rootPropagationPlan('shared'), { before: MS.SHARED, parent: MS.PRIVATE, after: MS.SHARED });
  t.deepEqual(rootPropagationPlan('runbindable'), { before: MS.SLAVE | MS.REC, parent: MS.PRIVATE, after: MS.UNBINDABLE | MS.REC });
  t.deepEqual(rootPropagationPlan('unbindable'), { before: MS.SLAVE | MS.REC, parent: MS.PRIVATE, after: MS.UNBINDABLE });
  t.deepEqual(rootPropagationPlan('rprivate'), { before: MS.PRIVATE | MS.REC, parent: MS.PRIVATE, after: 0n });
  t.deepEqual(rootPropagationPlan('private'), { before: MS.PRIVATE, parent: MS.PRIVATE, after: 0n });
  t.deepEqual(rootPropagationPlan('rslave'), { before: MS.SLAVE | MS.REC, parent: MS.SLAVE, after: 0n });
  t.deepEqual(rootPropagationPlan('slave'), { before: MS.SLAVE, parent: MS.SLAVE, after: 0n });
});

test('process attributes plan to kernel values', (t) => {
  const a = planProcAttrs(
    spec((s) => {
      s.linux!.personality = { domain: 'LINUX32', flags: ['ADDR_NO_RANDOMIZE'] };
      s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
      s.process!.scheduler = { policy: 'SCHED_FIFO', priority: 10 };
      (s.linux as Record<string, unknown>).memoryPolicy = { mode: 'MPOL_INTERLEAVE', nodes: '0,64', flags: ['MPOL_F_STATIC_NODES'] };
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
    }),
    0n,
  );
  t.is(a.personality, 0x0008 | 0x0040000);
  t.is(a.ioprio, (2 << 13) | 6);
  t.is(a.sched.policy, 1);
  t.is(a.sched.priority, 10);
  t.is(a.mempolicyMode, 3 | (1 << 15));
  t.deepEqual(a.mempolicyNodes, [1n, 1n]);
  t.deepEqual(a.sysctls, [{ path: 'net/ipv4/ip_forward', value: '1' }]);
  t.deepEqual(listMask('1-2'), [6n]);
});

test('socket activation: LISTEN_FDS counts only when LISTEN_PID is us', (t) => {
  t.deepEqual(listenFdOptions(2, { LISTEN_FDS: '3', LISTEN_PID: '42' }, 42), {
    preserveFds: 5,
    extraEnv: ['LISTEN_FDS=3', 'LISTEN_PID=1'],
  });
  t.deepEqual(listenFdOptions(2, { LISTEN_FDS: '3', LISTEN_PID: '41' }, 42), { preserveFds: 2, extraEnv: [] });
  t.deepEqual(listenFdOptions(0, {}, 42), { preserveFds: 0, extraEnv: [] });
});

test('tmpcopyup is accepted (a tmpfs filled from the image), never handed to tmpfs as data', (t) => {
  t.notThrows(() =>
    validateSpec(
      spec((s) => s.mounts!.push({ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] })),
      host,
      opts,
    ),
  );
});

test('apparmorProfile: a loaded profile and "unconfined" are accepted; one the kernel does not have is refused naming it', (t) => {
  const aa = (profiles: string | null): ValidationHost => ({
    ...host,
    read: (p) =>
      ({ ...files, '/sys/module/apparmor/parameters/enabled': 'Y\n', '/sys/kernel/security/apparmor/profiles': profiles })[p] ?? null,
  });
  const loaded = 'docker-default (enforce)\ncontainers-default-0.62.2 (enforce)\nlsb_release (complain)\n';
  const named = spec((s) => (s.process!.apparmorProfile = 'containers-default-0.62.2'));
  t.notThrows(() => validateSpec(named, aa(loaded), opts));
  t.notThrows(() =>
    validateSpec(
      spec((s) => (s.process!.apparmorProfile = 'unconfined')),
      aa(loaded),
      opts,
    ),
  );
  const missing = spec((s) => (s.process!.apparmorProfile = 'docker-defaul'));
  t.throws(() => validateSpec(missing, aa(loaded), opts), {
    message: /process\.apparmorProfile: the AppArmor profile "docker-defaul" is not loaded/,
  });
  // the list unreadable: the process's execve says so instead
  t.notThrows(() => validateSpec(missing, aa(null), opts));
  // no AppArmor on the host: runc's error, naming the field
  t.throws(() => validateSpec(named, host, opts), { message: /AppArmor is not enabled on this host/ });
});

test('selinuxLabel and mountLabel: checked against the loaded policy where SELinux is on; a process label needs SELinux', (t) => {
  const valid = new Set(['system_u:system_r:container_t:s0:c1,c2', 'system_u:object_r:container_file_t:s0:c1,c2']);
  const se = (check: boolean | null = null): ValidationHost => ({
    ...host,
    read: (p) => (p === '/sys/fs/selinux/enforce' ? '1' : (files[p] ?? null)),
    selinuxContextValid: (label) => (check === null ? valid.has(label) : check),
  });
  const labelled = (proc: string, mount: string) =>
    spec((s) => {
      s.process!.selinuxLabel = proc;
      s.linux!.mountLabel = mount;
    });
  t.notThrows(() =>
    validateSpec(labelled('system_u:system_r:container_t:s0:c1,c2', 'system_u:object_r:container_file_t:s0:c1,c2'), se(), opts),
  );
  t.throws(() => validateSpec(labelled('system_u:system_r:no_such_t:s0', 'system_u:object_r:container_file_t:s0:c1,c2'), se(), opts), {
    message: /process\.selinuxLabel: "system_u:system_r:no_such_t:s0" is not a valid SELinux context under the loaded policy/,
  });
  t.throws(() => validateSpec(labelled('system_u:system_r:container_t:s0:c1,c2', 'bogus'), se(), opts), {
    message: /linux\.mountLabel: "bogus" is not a valid SELinux context/,
  });
  // the policy cannot be asked: the init's write or mount says so instead
  t.notThrows(() => validateSpec(labelled('anything', 'anything'), { ...se(), selinuxContextValid: () => null }, opts));
  // no SELinux: a process label is runc's error; a mount label is ignored (crun's rule)
  t.throws(
    () =>
      validateSpec(
        spec((s) => (s.process!.selinuxLabel = 'x')),
        host,
        opts,
      ),
    { message: /SELinux is disabled or not supported/ },
  );
  t.notThrows(() =>
    validateSpec(
      spec((s) => (s.linux!.mountLabel = 'bogus')),
      host,
      opts,
    ),
  );
});
