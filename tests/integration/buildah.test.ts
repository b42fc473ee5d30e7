/**
 * A real engine drives tsrun: buildah 1 builds images whose RUN steps go
 * through the runtime (`--isolation oci --runtime <it>`), with private
 * storage and config, from a base image it builds itself from busybox-static
 * (with chroot isolation, which needs no runtime), and no network. A wrapper
 * script records every runtime call, so a test can tell that RUN went through
 * the runtime under test. Skipped where buildah is not installed or not root
 * (scripts/setup.sh installs it). TSRUN_ENGINE_RUNTIME=/usr/sbin/runc runs
 * the same tests against runc.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BUSYBOX, IS_ROOT } from '../helpers/bundle.js';
import { ENGINE_RUNTIME, have } from '../helpers/engine.js';
import { containersStore, hostLeftovers } from '../helpers/podman.js';

const enabled = IS_ROOT && have('buildah');
const buildahTest = enabled ? test.serial : test.skip;

const BASE = 'localhost/tsrun-bb';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-buildah-'));
// buildah makes each RUN's bundle in TMPDIR (default /var/tmp): keep them in ours
const conf = containersStore(dir, [ENGINE_RUNTIME]);
const env = { ...conf.env, TMPDIR: path.join(dir, 'tmp') };
const store = ['--storage-driver', 'vfs', ...conf.store];
const leftovers = hostLeftovers();

/** The runtime buildah is given: ENGINE_RUNTIME behind a script that appends each call's argv to `calls`. */
const recorder = path.join(dir, 'runtime');
const calls = path.join(dir, 'runtime-calls');
/** The runtime's isolation flags for `bud` and `run`. */
const oci = ['--isolation', 'oci', '--runtime', recorder];

function buildah(args: string[], opts: { timeout?: number } = {}) {
  return spawnSync('buildah', [...store, ...args], { env, cwd: dir, encoding: 'utf8', timeout: opts.timeout ?? 300_000 });
}

/** The runtime calls recorded since the last one. */
function runtimeCalls(): string[] {
  if (!fs.existsSync(calls)) return [];
  const lines = fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean);
  fs.rmSync(calls);
  return lines;
}

/** The runtime subcommand of each call (global flags skipped): create, start, state, delete... */
const subcommands = (lines: string[]) => lines.map((l) => l.split(' ').find((w) => !w.startsWith('-')));

/** A build context with a Containerfile; returns its directory. */
function context(name: string, containerfile: string): string {
  const ctx = path.join(dir, name);
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, 'Containerfile'), containerfile);
  return ctx;
}

/** The image's root filesystem through `buildah from` + `buildah mount`; the working container goes when the test ends. */
function rootfsOf(t: ExecutionContext, image: string): string {
  const from = buildah(['from', '--pull-never', image]);
  if (from.status !== 0) throw new Error(`buildah from: ${from.stderr}`);
  const container = from.stdout.trim();
  t.teardown(() => {
    buildah(['rm', container]);
  });
  const mount = buildah(['mount', container]);
  if (mount.status !== 0) throw new Error(`buildah mount: ${mount.stderr}`);
  return mount.stdout.trim();
}

const layers = (image: string) => Number(buildah(['inspect', '--format', '{{len .OCIv1.RootFS.DiffIDs}}', image]).stdout.trim());

test.before(() => {
  if (!enabled) return;
  fs.mkdirSync(env.TMPDIR);
  fs.writeFileSync(recorder, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${calls}'\nexec '${ENGINE_RUNTIME}' "$@"\n`, { mode: 0o755 });
  const ctx = context('base', 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n');
  fs.copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
  const b = buildah(['bud', '--isolation', 'chroot', '-t', BASE, ctx]);
  if (b.status !== 0) throw new Error(`buildah: ${b.stderr}`);
});

test.after.always(() => {
  if (enabled) buildah(['rm', '--all']);
  fs.rmSync(dir, { recursive: true, force: true });
  leftovers.remove();
});

const RUN_STEPS = [
  `FROM ${BASE}`,
  'ENV GREETING=hello-from-env',
  'RUN echo "$GREETING" > /greeting && mkdir -p /opt/app && echo built > /opt/app/marker',
  'WORKDIR /opt/app',
  'RUN pwd > cwd && id -u > uid && grep ^Seccomp: /proc/self/status > seccomp',
  '',
].join('\n');

buildahTest('buildah bud --isolation oci: each RUN goes through the runtime, sees ENV and WORKDIR, and its files are in the image', (t) => {
  const b = buildah(['bud', ...oci, '-t', 'localhost/tsrun-steps', context('steps', RUN_STEPS)]);
  t.is(b.status, 0, b.stderr);
  const ran = runtimeCalls();
  // create, start, state, delete per RUN: the runtime's own lifecycle, not `run`
  t.deepEqual(subcommands(ran), ['create', 'start', 'state', 'delete', 'create', 'start', 'state', 'delete'], ran.join('\n'));
  t.regex(ran[0] ?? '', /--bundle /);
  const root = rootfsOf(t, 'localhost/tsrun-steps');
  t.is(fs.readFileSync(path.join(root, 'greeting'), 'utf8'), 'hello-from-env\n');
  t.is(fs.readFileSync(path.join(root, 'opt/app/marker'), 'utf8'), 'built\n');
  t.is(fs.readFileSync(path.join(root, 'opt/app/cwd'), 'utf8'), '/opt/app\n');
  t.is(fs.readFileSync(path.join(root, 'opt/app/uid'), 'utf8'), '0\n');
  // buildah's default seccomp profile (containers-common) went through the runtime
  t.regex(fs.readFileSync(path.join(root, 'opt/app/seccomp'), 'utf8'), /^Seccomp:\s+2\n$/);
});

buildahTest('buildah bud: a failing RUN fails the build with its exit code, and the steps after it do not run', (t) => {
  const ctx = context(
    'failing',
    [`FROM ${BASE}`, 'RUN echo before-the-failure', 'RUN echo failing >&2; exit 7', 'RUN echo after-the-failure', ''].join('\n'),
  );
  const b = buildah(['bud', ...oci, '-t', 'localhost/tsrun-failing', ctx]);
  t.is(b.status, 7, b.stderr);
  t.regex(b.stdout, /before-the-failure/);
  t.regex(b.stderr, /failing\n/);
  t.regex(b.stderr, /exit status 7/);
  t.notRegex(b.stdout, /after-the-failure/);
  t.is(subcommands(runtimeCalls()).filter((c) => c === 'create').length, 2, 'two RUN steps reached the runtime');
  t.not(buildah(['inspect', 'localhost/tsrun-failing']).status, 0, 'no image');
});

buildahTest('buildah bud --layers: a layer per RUN, and a rebuild comes from the cache without the runtime', (t) => {
  const ctx = context('layers', RUN_STEPS);
  const base = layers(BASE);
  const first = buildah(['bud', '--layers', ...oci, '-t', 'localhost/tsrun-layers', ctx]);
  t.is(first.status, 0, first.stderr);
  t.is(subcommands(runtimeCalls()).filter((c) => c === 'create').length, 2);
  t.is(layers('localhost/tsrun-layers'), base + 2);
  const again = buildah(['bud', '--layers', ...oci, '-t', 'localhost/tsrun-layers-again', ctx]);
  t.is(again.status, 0, again.stderr);
  t.regex(again.stdout, /Using cache/);
  t.deepEqual(runtimeCalls(), [], 'every step came from the cache');
  t.is(fs.readFileSync(path.join(rootfsOf(t, 'localhost/tsrun-layers-again'), 'greeting'), 'utf8'), 'hello-from-env\n');
});

buildahTest('buildah bud without --layers: one layer for the build, and a rebuild runs every RUN again', (t) => {
  const ctx = context('no-layers', RUN_STEPS);
  const base = layers(BASE);
  for (const tag of ['localhost/tsrun-squashed', 'localhost/tsrun-squashed-again']) {
    const b = buildah(['bud', ...oci, '-t', tag, ctx]);
    t.is(b.status, 0, b.stderr);
    t.notRegex(b.stdout, /Using cache/);
    t.is(subcommands(runtimeCalls()).filter((c) => c === 'create').length, 2, tag);
    t.is(layers(tag), base + 1, tag);
  }
});

buildahTest("buildah run --isolation oci: output, the exit code, the image's ENV and WORKDIR", (t) => {
  const b = buildah(['bud', ...oci, '-t', 'localhost/tsrun-for-run', context('for-run', RUN_STEPS)]);
  t.is(b.status, 0, b.stderr);
  const from = buildah(['from', '--pull-never', 'localhost/tsrun-for-run']);
  t.is(from.status, 0, from.stderr);
  const container = from.stdout.trim();
  t.teardown(() => {
    buildah(['rm', container]);
  });
  runtimeCalls();
  const r = buildah(['run', ...oci, container, 'sh', '-c', 'cat /greeting; echo "$GREETING"; pwd; echo to-stderr >&2; exit 3']);
  t.is(r.status, 3, r.stderr);
  t.is(r.stdout, 'hello-from-env\nhello-from-env\n/opt/app\n');
  t.regex(r.stderr, /to-stderr/);
  t.is(subcommands(runtimeCalls()).filter((c) => c === 'create').length, 1, 'through the runtime');
});

buildahTest('buildah bud: USER, RUN --mount=type=tmpfs and the bind-mounted /etc files reach the runtime', (t) => {
  const ctx = context(
    'user-mounts',
    [
      `FROM ${BASE}`,
      'RUN mkdir -m 1777 /out',
      'USER 1000:1001',
      'RUN id -u > /out/user; id -g >> /out/user; grep ^CapEff: /proc/self/status >> /out/user',
      'USER 0',
      'RUN --mount=type=tmpfs,target=/scratch grep " /scratch " /proc/self/mounts | cut -d" " -f3 > /out/scratch; echo x > /scratch/file',
      // buildah bind-mounts its own hostname, hosts and resolv.conf over the image's
      'RUN [ "$(hostname)" = "$(cat /etc/hostname)" ] && echo same > /out/hostname; grep -c localhost /etc/hosts > /out/hosts',
      '',
    ].join('\n'),
  );
  const b = buildah(['bud', ...oci, '-t', 'localhost/tsrun-user-mounts', ctx]);
  t.is(b.status, 0, b.stderr);
  t.is(subcommands(runtimeCalls()).filter((c) => c === 'create').length, 4);
  const root = rootfsOf(t, 'localhost/tsrun-user-mounts');
  const read = (f: string) => fs.readFileSync(path.join(root, 'out', f), 'utf8');
  t.is(read('user'), '1000\n1001\nCapEff:\t0000000000000000\n');
  t.is(read('scratch'), 'tmpfs\n');
  t.false(fs.existsSync(path.join(root, 'scratch', 'file')), "the tmpfs's contents are not in the image");
  t.is(read('hostname'), 'same\n');
  t.not(read('hosts'), '0\n');
});

buildahTest('buildah run: --terminal (the pty through --console-socket), --network none, -v :ro, --user and --hostname', (t) => {
  const from = buildah(['from', '--pull-never', BASE]);
  t.is(from.status, 0, from.stderr);
  const container = from.stdout.trim();
  t.teardown(() => {
    buildah(['rm', container]);
  });
  const run = (flags: string[], script: string) => {
    const r = buildah(['run', ...oci, ...flags, container, 'sh', '-c', script]);
    t.is(r.status, 0, `${flags.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  runtimeCalls();
  t.regex(run(['--terminal'], 'tty; test -t 0 && echo stdin-is-a-tty'), /^\/dev\/pts\/\d+\r?\nstdin-is-a-tty\r?\n$/);
  t.regex(runtimeCalls().find((c) => c.startsWith('create')) ?? '', / --console-socket /);
  t.is(run(['--network', 'none'], 'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "'), 'lo\n');
  const ro = path.join(dir, 'ro');
  fs.mkdirSync(ro, { recursive: true });
  fs.writeFileSync(path.join(ro, 'file'), 'from the host\n');
  t.is(run(['-v', `${ro}:/mnt:ro`], 'cat /mnt/file; touch /mnt/x 2>/dev/null || echo read-only'), 'from the host\nread-only\n');
  t.is(run(['--user', '1000:1000'], 'id -u; id -g'), '1000\n1000\n');
  t.is(run(['--hostname', 'tsrun-build'], 'hostname'), 'tsrun-build\n');
  t.is(subcommands(runtimeCalls()).filter((c) => c === 'create').length, 4, 'each through the runtime');
});
