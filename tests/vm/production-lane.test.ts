/**
 * The production lane (tests/vm/run-in-vm.sh --host trixie) is the host it
 * claims to be: systemd as PID 1 with the boot finished, cgroup v2 only,
 * AppArmor with trixie's profiles loaded; trixie's podman runs containers on
 * systemd cgroups with runc and with crun; and this checkout's tsrun, built
 * on the build machine, runs a container there. Runs only inside the lane
 * (hostname tsrun-vm on Debian 13); anywhere else every test is skipped.
 */
import { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';

import { TSRUN, makeBundle, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';
import { busyboxImage, laneTest, ok, run } from './lane.js';

const CGROUP2_SUPER_MAGIC = 0x63677270;

laneTest('systemd is PID 1 and the boot transaction is done', (t) => {
  t.is(fs.readFileSync('/proc/1/comm', 'utf8').trim(), 'systemd');
  t.regex(fs.readlinkSync('/proc/1/exe'), /\/lib\/systemd\/systemd$/);
  const state = run('systemctl', ['is-system-running']).stdout.trim();
  const failed = state === 'running' ? '' : run('systemctl', ['--failed', '--no-legend', '--plain']).stdout;
  t.is(state, 'running', `failed units:\n${failed}`);
});

laneTest('cgroup v2 only, every controller at the root', (t) => {
  t.is(fs.statfsSync('/sys/fs/cgroup').type, CGROUP2_SUPER_MAGIC);
  const v1 = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[2] === 'cgroup');
  t.deepEqual(v1, [], 'no cgroup v1 hierarchy is mounted');
  const controllers = fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').trim().split(' ');
  for (const c of ['cpuset', 'cpu', 'io', 'memory', 'pids']) t.true(controllers.includes(c), `controller ${c}`);
  t.log(`cgroup.controllers: ${controllers.join(' ')}`);
});

laneTest('AppArmor is on with the shipped profiles loaded', (t) => {
  t.true(fs.readFileSync('/sys/kernel/security/lsm', 'utf8').split(',').includes('apparmor'));
  ok(t, run('aa-status', ['--enabled']), 'aa-status --enabled');
  const profiles = fs.readFileSync('/sys/kernel/security/apparmor/profiles', 'utf8').trim().split('\n');
  t.true(profiles.length > 50, `${profiles.length} profiles`);
  // trixie's apparmor attaches these by path: a container that runc or crun starts without a
  // profile of its own reads "runc (unconfined)" or "crun (unconfined)", not "unconfined".
  t.true(profiles.includes('runc (unconfined)'));
  t.true(profiles.includes('crun (unconfined)'));
  t.log(`${profiles.length} profiles loaded`);
});

for (const oci of ['runc', 'crun']) {
  laneTest(`podman runs a container with ${oci} in a libpod scope on systemd cgroups`, (t) => {
    const img = busyboxImage(t);
    const name = uniqueId(`lane-${oci}`);
    // host cgroup namespace: the container's own /proc/self/cgroup names its scope
    const out = ok(
      t,
      run('podman', [
        'run',
        '--name',
        name,
        '--runtime',
        oci,
        '--cgroup-manager',
        'systemd',
        '--cgroupns',
        'host',
        // no netavark: its nftables calls fail now and then under TCG ("got invalid json: EOF")
        '--network',
        'none',
        img,
        'cat',
        '/proc/self/cgroup',
        '/proc/self/attr/apparmor/current',
      ]),
      `podman run --runtime ${oci}`,
    );
    try {
      t.regex(out, /^0::\/machine\.slice\/libpod-[0-9a-f]{64}\.scope(\/container)?$/m);
      t.regex(out, /^containers-default-[0-9.]+ \(enforce\)$/m);
      const used = ok(t, run('podman', ['inspect', '--format', '{{.OCIRuntime}}', name]), 'podman inspect').trim();
      t.is(used, oci);
      t.log(out.trim().replace(/\n/g, ' | '));
    } finally {
      run('podman', ['rm', '--force', name]);
    }
  });
}

/** `tsrun run` of a busybox bundle, its cgroup placed by `cgroupsPath`; stdout is the container's. */
function tsrunRun(t: ExecutionContext, cgroupsPath: string | undefined): string {
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'echo hello from trixie; cat /proc/self/cgroup'];
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'cgroup');
    if (cgroupsPath) s.linux!.cgroupsPath = cgroupsPath;
  });
  try {
    const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('lane')], { cwd: b.dir, timeout: 120_000 });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /^hello from trixie$/m);
    return r.stdout;
  } finally {
    b.cleanup();
  }
}

laneTest("this checkout's tsrun runs a container (cgroupfs driver)", (t) => {
  t.log(
    ok(t, run(TSRUN, ['--version']), 'tsrun --version')
      .trim()
      .replace(/\n/g, ' | '),
  );
  // an absolute path, as the engines give one
  const out = tsrunRun(t, '/tsrun-lane');
  t.regex(out, /^0::\/tsrun-lane$/m);
  t.log(out.trim().replace(/\n/g, ' | '));
});

// Without cgroupsPath the container's cgroup goes beside the caller's on cgroup v2, as runc's
// does: here the caller is a systemd service with processes in it, and a cgroup below it would
// turn the service into a thread root and refuse the container (EOPNOTSUPP).
laneTest('tsrun places a container beside the systemd service it runs in, without cgroupsPath (as runc does)', (t) => {
  const out = tsrunRun(t, undefined);
  t.regex(out, /^0::\/system\.slice\/lane-/m);
});

laneTest('versions of the host, for tests and docs to cite', (t) => {
  const tools: [string, string[]][] = [
    ['uname', ['-r']],
    ['systemctl', ['--version']],
    ['podman', ['--version']],
    ['runc', ['--version']],
    ['crun', ['--version']],
    ['containerd', ['--version']],
    ['docker', ['--version']],
    ['criu', ['--version']],
    ['apparmor_parser', ['--version']],
  ];
  for (const [cmd, args] of tools) {
    const first = ok(t, run(cmd, args), `${cmd} ${args.join(' ')}`)
      .trim()
      .split('\n')[0];
    t.log(`${cmd}: ${first}`);
  }
});
