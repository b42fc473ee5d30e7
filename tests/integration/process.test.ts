/**
 * process.* and the process-like linux.* fields, each
 * checked from inside the container and compared with runc where runc
 * 1.1 supports the field.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import { IS_ROOT, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';
import { runBoth } from '../helpers/both.js';

const rootTest = IS_ROOT ? test : test.skip;

/** Field n (1-based, after the comm) of /proc/self/stat as printed by the script below. */
const STAT = 'cat /proc/self/stat';
function statField(line: string, n: number): string {
  const rest = line.slice(line.lastIndexOf(')') + 2).split(' ');
  return rest[n - 3]!;
}

rootTest('user: uid, gid, additionalGids and umask, as runc', (t) => {
  const r = runBoth('id; umask; grep -E "^(Uid|Gid|Groups):" /proc/self/status', (s) => {
    s.process!.user = { uid: 1000, gid: 1001, umask: 0o027, additionalGids: [5, 7] };
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.regex(r.tsrun.stdout, /^uid=1000 gid=1001 groups=5,7\n0027\n/);
  t.regex(r.tsrun.stdout, /Groups:\s+5 7\s*\n/);
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('a missing cwd is created, as runc does', (t) => {
  const r = runBoth('pwd; stat -c %a /work/deep/dir', (s) => {
    s.process!.cwd = '/work/deep/dir';
    s.root!.readonly = false;
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.is(r.tsrun.stdout, '/work/deep/dir\n755\n');
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('args[0] is looked up in the PATH of process.env inside the container', (t) => {
  const r = runBoth(['hello-from-opt'], (s, b) => {
    s.process!.env = ['PATH=/opt/tools:/bin'];
    fs.mkdirSync(path.join(b.rootfs, 'opt', 'tools'), { recursive: true });
    fs.writeFileSync(path.join(b.rootfs, 'opt', 'tools', 'hello-from-opt'), '#!/bin/sh\necho "found via PATH as $0"\n', { mode: 0o755 });
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.is(r.tsrun.stdout, 'found via PATH as /opt/tools/hello-from-opt\n');
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('rlimits: soft and hard limits inside, as runc', (t) => {
  const r = runBoth('grep -E "^Max (open files|core file size|processes)" /proc/self/limits', (s) => {
    s.process!.rlimits = [
      { type: 'RLIMIT_NOFILE', soft: 123, hard: 456 },
      { type: 'RLIMIT_CORE', soft: 0, hard: 1024 },
      { type: 'RLIMIT_NPROC', soft: 77, hard: 88 },
    ];
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.regex(r.tsrun.stdout, /Max open files\s+123\s+456/);
  t.regex(r.tsrun.stdout, /Max core file size\s+0\s+1024/);
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('an rlimit above what the runtime may raise fails before anything starts, naming the field', (t) => {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const capEff = BigInt(`0x${/^CapEff:\s*(\w+)/m.exec(status)![1]}`);
  if ((capEff >> 24n) & 1n) return t.pass('this host grants CAP_SYS_RESOURCE: any hard limit can be raised');
  const limit = /^Max open files\s+\S+\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  if (!limit) return t.pass("the runtime's RLIMIT_NOFILE hard limit is unlimited: nothing to exceed");
  const hard = Number(limit[1]) * 2;
  const b = makeBundle((s) => {
    s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard }];
  });
  const root = tempRoot();
  const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('rl')]);
  t.is(r.status, 1);
  t.regex(r.stderr, /process\.rlimits\[0\].*RLIMIT_NOFILE hard limit .* needs CAP_SYS_RESOURCE/);
  t.deepEqual(leftIn(root), [], 'no state left behind');
  b.cleanup();
});

rootTest('capabilities: all five sets incl. ambient for a non-root user, as runc', (t) => {
  const r = runBoth('grep ^Cap /proc/self/status', (s) => {
    s.process!.user = { uid: 1000, gid: 1000 };
    s.process!.capabilities = {
      bounding: ['CAP_NET_BIND_SERVICE', 'CAP_KILL', 'CAP_CHOWN', 'CAP_NET_RAW'],
      permitted: ['CAP_NET_BIND_SERVICE', 'CAP_KILL', 'CAP_CHOWN'],
      effective: ['CAP_NET_BIND_SERVICE', 'CAP_KILL'],
      inheritable: ['CAP_NET_BIND_SERVICE', 'CAP_CHOWN'],
      ambient: ['CAP_NET_BIND_SERVICE'],
    };
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  const caps = Object.fromEntries(
    r.tsrun.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/:\s+/) as [string, string]),
  );
  const bit = (n: number) => 1n << BigInt(n);
  // CHOWN 0, KILL 5, NET_BIND_SERVICE 10, NET_RAW 13. After execve as
  // non-root, permitted and effective are what ambient carries (10); the
  // rest of the permitted set does not survive exec without file caps.
  t.is(BigInt(`0x${caps.CapBnd}`), bit(0) | bit(5) | bit(10) | bit(13));
  t.is(BigInt(`0x${caps.CapInh}`), bit(0) | bit(10));
  t.is(BigInt(`0x${caps.CapAmb}`), bit(10));
  t.is(BigInt(`0x${caps.CapPrm}`), bit(10));
  t.is(BigInt(`0x${caps.CapEff}`), bit(10));
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('noNewPrivileges and oomScoreAdj, as runc', (t) => {
  const r = runBoth('grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj', (s) => {
    s.process!.noNewPrivileges = true;
    s.process!.oomScoreAdj = 500;
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.regex(r.tsrun.stdout, /NoNewPrivs:\s+1\n500\n/);
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

rootTest('sysctl: net and ipc keys, dotted or slashed, take effect inside, the host keeps its values; as runc', (t) => {
  const hostMsgmax = fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8');
  const hostForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const r = runBoth('cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax /proc/sys/net/ipv4/ping_group_range', (s) => {
    s.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.msgmax': '4321', 'net/ipv4/ping_group_range': '0 2147483647' };
  });
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.is(r.tsrun.stdout.replace(/\s+/g, ' ').trim(), '1 4321 0 2147483647');
  t.is(fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8'), hostMsgmax);
  t.is(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostForward);
  if (r.runc) t.is(r.tsrun.stdout, r.runc.stdout);
});

/** create must fail with status 1, `pattern` on stderr, and leave nothing. */
function refused(t: import('ava').ExecutionContext, mutate: (s: Spec) => void, pattern: RegExp): void {
  const b = makeBundle(mutate);
  const root = tempRoot();
  const r = runtime(TSRUN, root, ['create', '-b', b.dir, uniqueId('bad')]);
  t.is(r.status, 1, `${pattern}: ${r.stderr}`);
  t.regex(r.stderr, pattern);
  t.deepEqual(leftIn(root), [], `${pattern}: no state left behind`);
  b.cleanup();
}

rootTest("sysctl rules (runc's): the key must belong to a namespace the container has", (t) => {
  refused(t, (s) => (s.linux!.sysctl = { 'kernel.foo': '1' }), /linux\.sysctl\["kernel\.foo"\].*not in a separate kernel namespace/);
  refused(
    t,
    (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network');
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
    },
    /linux\.sysctl\["net\.ipv4\.ip_forward"\].*host's network namespace/,
  );
  refused(
    t,
    (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'ipc');
      s.linux!.sysctl = { 'kernel.shmmax': '1' };
    },
    /linux\.sysctl\["kernel\.shmmax"\].*host's ipc namespace/,
  );
  refused(
    t,
    (s) => (s.linux!.sysctl = { 'net.ipv4.no_such_key': '1' }),
    /linux\.sysctl\["net\.ipv4\.no_such_key"\]: no such sysctl on this host/,
  );
  refused(
    t,
    (s) => (s.linux!.sysctl = { 'kernel.hostname': 'x' }),
    /linux\.sysctl\["kernel\.hostname"\]: sysctl "kernel\.hostname" is not allowed as it conflicts with the OCI "hostname" field/,
  );
});

rootTest('personality LINUX32: uname reports a 32-bit machine', (t) => {
  if (process.arch !== 'x64') return t.pass('x86_64 only (expects i686)');
  const r = runBoth(
    'uname -m; cat /proc/self/personality',
    (s) => {
      s.linux!.personality = { domain: 'LINUX32' };
    },
    { runc: false },
  ); // runc 1.1 predates the field
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.is(r.tsrun.stdout, 'i686\n00000008\n');
});

rootTest('scheduler: SCHED_BATCH with nice, SCHED_FIFO with a priority', (t) => {
  const batch = runBoth(
    STAT,
    (s) => {
      s.process!.scheduler = { policy: 'SCHED_BATCH', nice: 5 };
    },
    { runc: false },
  ); // runc 1.1 predates the field
  t.is(batch.tsrun.status, 0, batch.tsrun.stderr);
  t.is(statField(batch.tsrun.stdout, 19), '5', 'nice');
  t.is(statField(batch.tsrun.stdout, 41), '3', 'policy SCHED_BATCH');
  // with cgroup v1 real-time group scheduling the container's cgroup needs a budget
  const rtGroups = ['cpu', 'cpu,cpuacct'].some((d) => fs.existsSync(`/sys/fs/cgroup/${d}/cpu.rt_runtime_us`));
  if (rtGroups)
    refused(
      t,
      (s) => (s.process!.scheduler = { policy: 'SCHED_FIFO', priority: 10 }),
      /process\.scheduler\.policy: SCHED_FIFO needs linux\.resources\.cpu\.realtimeRuntime/,
    );
  const fifo = runBoth(
    STAT,
    (s) => {
      s.process!.scheduler = { policy: 'SCHED_FIFO', priority: 10 };
      s.process!.user = { uid: 1000, gid: 1000 }; // set while privileged, kept after the switch
      if (rtGroups) s.linux!.resources = { cpu: { realtimeRuntime: 10000, realtimePeriod: 1000000 } };
    },
    { runc: false },
  );
  t.is(fifo.tsrun.status, 0, fifo.tsrun.stderr);
  t.is(statField(fifo.tsrun.stdout, 40), '10', 'rt_priority');
  t.is(statField(fifo.tsrun.stdout, 41), '1', 'policy SCHED_FIFO');
});

rootTest('ioPriority: best-effort 6 and real-time 2 (set before dropping privileges)', (t) => {
  const be = runBoth(
    'busybox ionice -p $$',
    (s) => {
      s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
    },
    { runc: false },
  ); // runc 1.1 predates the field
  t.is(be.tsrun.status, 0, be.tsrun.stderr);
  t.is(be.tsrun.stdout.trim(), 'best-effort: prio 6');
  const rt = runBoth(
    'busybox ionice -p $$',
    (s) => {
      s.process!.ioPriority = { class: 'IOPRIO_CLASS_RT', priority: 2 };
      s.process!.user = { uid: 1000, gid: 1000 };
    },
    { runc: false },
  );
  t.is(rt.tsrun.status, 0, rt.tsrun.stderr);
  t.is(rt.tsrun.stdout.trim(), 'realtime: prio 2');
});

rootTest('memoryPolicy: MPOL_BIND to node 0 shows in numa_maps', (t) => {
  if (!fs.existsSync('/proc/self/numa_maps')) return t.pass('kernel without NUMA');
  const r = runBoth(
    'head -1 /proc/self/numa_maps',
    (s) => {
      (s.linux as Record<string, unknown>).memoryPolicy = { mode: 'MPOL_BIND', nodes: '0' };
    },
    { runc: false },
  );
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  t.regex(r.tsrun.stdout, /^\w+ bind:0 /);
});

rootTest('execCPUAffinity is accepted (it applies to exec, not to the init) and its lists are checked', (t) => {
  const r = runBoth(
    'true',
    (s) => {
      s.process!.execCPUAffinity = { initial: '0', final: '0-1' };
    },
    { runc: false },
  );
  t.is(r.tsrun.status, 0, r.tsrun.stderr);
  refused(t, (s) => (s.process!.execCPUAffinity = { final: '1-0' }), /process\.execCPUAffinity\.final: invalid CPU list/);
});

rootTest('bad process attributes fail before clone with the JSON path', (t) => {
  refused(t, (s) => (s.process!.scheduler = { policy: 'SCHED_FIFO' }), /process\.scheduler\.priority: is required for SCHED_FIFO/);
  refused(t, (s) => (s.process!.scheduler = { policy: 'SCHED_BOGUS' }), /process\.scheduler\.policy: unknown policy/);
  refused(t, (s) => (s.process!.scheduler = { policy: 'SCHED_OTHER', nice: 25 }), /process\.scheduler\.nice: must be between -20 and 19/);
  refused(
    t,
    (s) => (s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 9 }),
    /process\.ioPriority\.priority: must be between 0 and 7/,
  );
  refused(t, (s) => (s.linux!.personality = { domain: 'LINUX64' }), /linux\.personality\.domain: unknown domain/);
  refused(
    t,
    (s) => ((s.linux as Record<string, unknown>).memoryPolicy = { mode: 'MPOL_BIND', nodes: '63' }),
    /linux\.memoryPolicy\.nodes: node 63 is not online/,
  );
  refused(
    t,
    (s) => ((s.linux as Record<string, unknown>).memoryPolicy = { mode: 'MPOL_WRONG' }),
    /linux\.memoryPolicy\.mode: unknown mode/,
  );
});

rootTest(
  'linux.mountLabel on a host without SELinux: ignored, as crun does (runc fails mounting /dev: no kernel takes the context=)',
  (t) => {
    if (fs.existsSync('/sys/fs/selinux/enforce')) return t.pass('SELinux is on here: the lane tests the label (tests/vm/selinux.test.ts)');
    const b = makeBundle((s) => {
      s.linux!.mountLabel = 'system_u:object_r:container_file_t:s0:c1,c2';
      s.process!.args = ['sh', '-c', 'grep -c context= /proc/self/mountinfo; grep -c " - tmpfs " /proc/self/mountinfo'];
    });
    const root = tempRoot();
    const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('ml')]);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /^0\n[1-9]\d*\n$/, 'the tmpfs mounts are there, without a context=');
    t.deepEqual(leftIn(root), []);
    b.cleanup();
  },
);

rootTest("LSM fields and intelRdt on a host without them: runc's clear error, before anything starts", (t) => {
  if (!fs.existsSync('/sys/module/apparmor/parameters/enabled'))
    refused(t, (s) => (s.process!.apparmorProfile = 'tsrun-test'), /process\.apparmorProfile: .*AppArmor is not enabled/);
  if (!fs.existsSync('/sys/fs/selinux/enforce')) {
    refused(t, (s) => (s.process!.selinuxLabel = 'system_u:system_r:container_t:s0'), /process\.selinuxLabel: .*SELinux is disabled/);
  }
  if (!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' - resctrl '))
    refused(
      t,
      (s) => (s.linux!.intelRdt = { l3CacheSchema: 'L3:0=f' }),
      /linux\.intelRdt: intelRdt is specified in config, but Intel RDT is not enabled/,
    );
  t.pass();
});
