/**
 * A real engine drives tsrun: podman 4 + conmon, with private storage and
 * config, an image built from busybox-static by buildah. Skipped where
 * podman or buildah is not installed (scripts/setup.sh installs both).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BUSYBOX, IS_ROOT, TSRUN } from '../helpers/bundle.js';

const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const enabled = IS_ROOT && have('podman') && have('buildah') && have('conmon');
const podmanTest = enabled ? test.serial : test.skip;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-podman-'));
const env = { ...process.env, CONTAINERS_CONF: path.join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf') };
const store = ['--root', path.join(dir, 'graph'), '--runroot', path.join(dir, 'run')];
// podman's own default seccomp profile (containers-common seccomp.json) runs
// through tsrun: no --security-opt. Its default NOFILE/NPROC of 1048576
// needs CAP_SYS_RESOURCE, which hosts like this one lack for every runtime
// (default_ulimits = [] below).
const runFlags: string[] = [];
// containers/image keeps a blob-info cache in /var/lib/containers/cache for
// root whatever the storage root: remove it afterwards if we made it.
const blobCache = '/var/lib/containers';
const hadBlobCache = fs.existsSync(blobCache);

function podman(args: string[], timeout = 120_000) {
  return spawnSync('podman', ['--runtime', TSRUN, ...store, ...args], {
    env,
    encoding: 'utf8',
    timeout,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

test.before(() => {
  if (!enabled) return;
  fs.writeFileSync(
    env.CONTAINERS_CONF,
    [
      '[containers]',
      'netns = "host"',
      'default_ulimits = []',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `tmp_dir = "${path.join(dir, 'tmp')}"`,
      'runtime_supports_json = ["tsrun"]',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    env.CONTAINERS_STORAGE_CONF,
    ['[storage]', 'driver = "vfs"', `runroot = "${store[3]}"`, `graphroot = "${store[1]}"`, ''].join('\n'),
  );
  const ctx = path.join(dir, 'ctx');
  fs.mkdirSync(ctx);
  fs.copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
  fs.writeFileSync(
    path.join(ctx, 'Containerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n',
  );
  const b = spawnSync('buildah', ['--storage-driver', 'vfs', ...store, 'bud', '--isolation', 'chroot', '-t', 'localhost/tsrun-bb', ctx], {
    env,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (b.status !== 0) throw new Error(`buildah: ${b.stderr}`);
});

test.after.always(() => {
  if (enabled) podman(['rm', '-af']);
  fs.rmSync(dir, { recursive: true, force: true });
  if (!hadBlobCache) fs.rmSync(blobCache, { recursive: true, force: true });
});

podmanTest('podman run: output, exit codes, a missing program is 127', (t) => {
  const ok = podman(['run', '--rm', ...runFlags, 'localhost/tsrun-bb', 'sh', '-c', 'echo hello from podman; hostname']);
  t.is(ok.status, 0, ok.stderr);
  t.regex(ok.stdout, /^hello from podman\n/);
  const exit42 = podman(['run', '--rm', ...runFlags, 'localhost/tsrun-bb', 'sh', '-c', 'exit 42']);
  t.is(exit42.status, 42, exit42.stderr);
  const missing = podman(['run', '--rm', ...runFlags, 'localhost/tsrun-bb', 'no-such-program']);
  t.is(missing.status, 127);
  t.regex(missing.stderr, /executable file not found in \$PATH/);
});

podmanTest("podman run: the engine's default seccomp profile is applied (issue 4)", (t) => {
  const r = podman(['run', '--rm', ...runFlags, 'localhost/tsrun-bb', 'sh', '-c', 'grep ^Seccomp: /proc/self/status']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^Seccomp:\s+2\n/);
});

podmanTest('podman run -t: conmon gets the pty through --console-socket', (t) => {
  const r = spawnSync(
    'script',
    [
      '-qec',
      `podman --runtime ${TSRUN} ${store.join(' ')} run --rm -t ${runFlags.join(' ')} localhost/tsrun-bb sh -c 'tty; exit 3'`,
      '/dev/null',
    ],
    {
      env,
      encoding: 'utf8',
      timeout: 120_000,
      input: '',
    },
  );
  t.is(r.status, 3, r.stderr);
  t.regex(r.stdout, /\/dev\/pts\/0/);
});

podmanTest('podman run -d, ps, stop, rm', (t) => {
  const d = podman([
    'run',
    '-d',
    '--name',
    'tsrun-d1',
    ...runFlags,
    'localhost/tsrun-bb',
    'sh',
    '-c',
    'trap "exit 0" TERM; while true; do sleep 0.1; done',
  ]);
  t.is(d.status, 0, d.stderr);
  t.regex(podman(['ps', '--format', '{{.Names}} {{.Status}}']).stdout, /tsrun-d1 Up/);
  const stop = podman(['stop', '-t', '10', 'tsrun-d1']);
  t.is(stop.status, 0, stop.stderr);
  t.notRegex(stop.stderr, /resorting to SIGKILL/, 'SIGTERM reached the container');
  t.is(podman(['rm', 'tsrun-d1']).status, 0);
  t.is(podman(['ps', '-a', '-q']).stdout, '');
});
