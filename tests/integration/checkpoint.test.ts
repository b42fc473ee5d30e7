/**
 * checkpoint and restore (lib/checkpoint/) with a real CRIU on this kernel
 * (tests/helpers/criu.ts): a counter that goes on counting after a restore,
 * under tsrun and under runc; --leave-running; a restore into another root
 * under a new id; the API's with its stdio pipes; and what fails: no CRIU, a
 * host file as stdio, images that are not a checkpoint's, a restore killed
 * midway.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test, { type ExecutionContext } from 'ava';

import { Runtime } from '../../lib/index.js';
import { loadBinding } from '../../lib/native/binding.js';
import { IS_ROOT, makeBundle, type Bundle } from '../helpers/bundle.js';
import { testCriu } from '../helpers/criu.js';
import { CONSOLE_RECEIVER, hasPython } from '../helpers/fd-receiver.js';
import { SYSTEMD_HOST } from '../helpers/engine.js';
import { cgroupHierarchies } from '../helpers/leaks.js';
import { until } from '../helpers/wait.js';

const TSRUN = path.resolve('bin/tsrun');
const RUNC = '/usr/sbin/runc';
const criu = IS_ROOT ? testCriu() : { skip: 'needs root' };
const serial = 'bin' in criu ? test.serial : test.skip;
const env = () => ({
  ...process.env,
  TSRUN_CRIU: 'bin' in criu ? criu.bin : '',
  PATH: `${'bin' in criu ? path.dirname(criu.bin) : ''}:${process.env.PATH}`,
});

test.before((t) => t.log('bin' in criu ? `CRIU: ${criu.bin} (${criu.version})` : `skipped: ${criu.skip}`));

/** A container counting into /tmp/count ten times a second. */
function counterBundle(mutate?: Parameters<typeof makeBundle>[0]): Bundle {
  return makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'i=0; while true; do echo $i > /tmp/count; i=$((i+1)); sleep 0.1; done'];
    s.process!.terminal = false;
    s.root!.readonly = false;
    mutate?.(s);
  });
}

/** Cgroup directories called `name` in any hierarchy (a few levels down: where a container's goes). */
function cgroupDirsNamed(name: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === name) out.push(p);
      if (depth > 0) walk(p, depth - 1);
    }
  };
  for (const h of cgroupHierarchies()) walk(h, 3);
  return out;
}

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tsrun-ckpt-${prefix}-`));
}

const native = loadBinding();
const openStdin: number[] = [];
process.on('exit', () => openStdin.forEach((fd) => fs.closeSync(fd)));

/**
 * A runtime command whose stdio are pipes of ours (pipe(2): CRIU dumps
 * pipes; node's own 'pipe' stdio are socketpairs, and a host file outside
 * the container it cannot dump), drained until they close.
 */
function detached(bin: string, args: string[], cwd?: string): ChildProcess {
  const [inR, inW] = native.pipe();
  const [outR, outW] = native.pipe();
  const child = spawn(bin, args, { cwd, env: env(), stdio: [inR, outW, outW] });
  for (const fd of [inR, outW]) fs.closeSync(fd);
  const out = fs.createReadStream('', { fd: outR });
  out.on('data', (d) => process.stderr.write(`[${path.basename(bin)}] ${d}`));
  out.on('error', () => undefined);
  // the write end of stdin stays open (a container reading it would see EOF otherwise), closed at exit
  openStdin.push(inW);
  return child;
}

async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

function run(bin: string, args: string[], cwd?: string) {
  return spawnSync(bin, args, { cwd, env: env(), encoding: 'utf8' });
}

function count(bin: string, root: string, id: string): number {
  const r = run(bin, ['--root', root, 'exec', id, 'cat', '/tmp/count']);
  return r.status === 0 ? Number(r.stdout.trim()) : -1;
}

/** It counts on: a value at least `from`, then a larger one. */
async function countsOn(t: ExecutionContext, bin: string, root: string, id: string, from: number) {
  let first = -1;
  await until(`${id} counting from ${from}`, () => (first = count(bin, root, id)) >= from);
  await until(`${id} counting past ${first}`, () => count(bin, root, id) > first);
  t.pass();
}

for (const [name, bin] of [
  ['tsrun', TSRUN],
  ['runc', RUNC],
] as const) {
  serial(`${name}: a counter checkpointed and restored goes on counting from where it was`, async (t) => {
    const b = counterBundle();
    const root = tmp(`${name}-root`);
    const images = tmp(`${name}-img`);
    try {
      const runner = detached(bin, ['--root', root, 'run', '-d', 'counter'], b.dir);
      t.is(await exited(runner), 0);
      await until('counting', () => count(bin, root, 'counter') >= 10);
      const ck = run(bin, ['--root', root, 'checkpoint', '--image-path', images, 'counter']);
      t.is(ck.status, 0, ck.stderr);
      const at = Number(fs.readFileSync(path.join(b.rootfs, 'tmp', 'count'), 'utf8'));
      t.is(run(bin, ['--root', root, 'state', 'counter']).status, 1, 'checkpointed: gone, as runc leaves it');
      fs.writeFileSync(path.join(b.rootfs, 'tmp', 'count'), '0'); // a restore that started over would show it
      const restorer = detached(bin, ['--root', root, 'restore', '-d', '--image-path', images, 'counter'], b.dir);
      t.is(await exited(restorer), 0);
      t.is(JSON.parse(run(bin, ['--root', root, 'state', 'counter']).stdout).status, 'running');
      await countsOn(t, bin, root, 'counter', at + 1);
      t.is(run(bin, ['--root', root, 'delete', '-f', 'counter']).status, 0);
      t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes('criu-root'), 'no criu-root bind left');
    } finally {
      run(bin, ['--root', root, 'delete', '-f', 'counter']);
      b.cleanup();
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(images, { recursive: true, force: true });
    }
  });
}

serial('tsrun: --leave-running keeps it running; its images restore into another root under a new id', async (t) => {
  const b = counterBundle();
  const root = tmp('lr-root');
  const other = tmp('lr-other');
  const images = tmp('lr-img');
  try {
    t.is(await exited(detached(TSRUN, ['--root', root, 'run', '-d', 'orig'], b.dir)), 0);
    await until('counting', () => count(TSRUN, root, 'orig') >= 5);
    const ck = run(TSRUN, ['--root', root, 'checkpoint', '--leave-running', '--image-path', images, 'orig']);
    t.is(ck.status, 0, ck.stderr);
    t.is(JSON.parse(run(TSRUN, ['--root', root, 'state', 'orig']).stdout).status, 'running');
    await countsOn(t, TSRUN, root, 'orig', 0);
    t.is(await exited(detached(TSRUN, ['--root', other, 'restore', '-d', '--image-path', images, 'copy'], b.dir)), 0);
    t.is(JSON.parse(run(TSRUN, ['--root', other, 'state', 'copy']).stdout).status, 'running');
    t.not(
      JSON.parse(run(TSRUN, ['--root', other, 'state', 'copy']).stdout).pid,
      JSON.parse(run(TSRUN, ['--root', root, 'state', 'orig']).stdout).pid,
    );
  } finally {
    run(TSRUN, ['--root', root, 'delete', '-f', 'orig']);
    run(TSRUN, ['--root', other, 'delete', '-f', 'copy']);
    b.cleanup();
    for (const d of [root, other, images]) fs.rmSync(d, { recursive: true, force: true });
  }
});

serial('the API: Runtime.checkpoint and restore; the restored program writes to the new stdout pipe', async (t) => {
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done'];
    s.process!.terminal = false;
  });
  const root = tmp('api-root');
  const images = tmp('api-img');
  const saved = process.env.TSRUN_CRIU;
  process.env.TSRUN_CRIU = 'bin' in criu ? criu.bin : '';
  const rt = new Runtime({ root });
  try {
    // stdin a pipe too: /dev/null opened here is a file of the host's, which CRIU cannot dump
    const [inR, inW] = native.pipe();
    const c = await rt.create('api', { bundle: b.dir, stdio: [inR, 'pipe', 'pipe'] });
    fs.closeSync(inR);
    process.on('exit', () => fs.closeSync(inW));
    let before = '';
    c.stdout!.on('data', (d) => (before += d));
    await rt.start('api');
    await until('output', () => before.split('\n').length > 5);
    await rt.checkpoint('api', { imagePath: images });
    await t.throwsAsync(
      Promise.resolve().then(() => rt.state('api')),
      { message: /does not exist/ },
    );
    const last = Math.max(...before.trim().split('\n').map(Number));
    // the restored program's new stdout: a pipe of ours (what the old pipe stood for)
    const [outR, writer] = native.pipe();
    let after = '';
    const stream = fs.createReadStream('', { fd: outR });
    stream.on('data', (d) => (after += d));
    stream.on('error', () => undefined);
    const [in2R, in2W] = native.pipe();
    process.on('exit', () => fs.closeSync(in2W));
    t.is(await rt.restore('api', { bundle: b.dir, imagePath: images, detach: true, stdio: [in2R, writer, writer] }), 0);
    fs.closeSync(in2R);
    fs.closeSync(writer);
    await until('output after the restore', () => after.trim().split('\n').length > 2);
    const first = Number(after.trim().split('\n')[0]);
    t.true(first > last, `restored output starts at ${first}, after ${last}`);
    await rt.delete('api', { force: true });
    stream.destroy();
  } finally {
    process.env.TSRUN_CRIU = saved;
    await rt.delete('api', { force: true }).catch(() => undefined);
    b.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(images, { recursive: true, force: true });
  }
});

serial('failures leave the container as it was: no CRIU, a host file as stdout, images that are no checkpoint', async (t) => {
  const b = counterBundle();
  const root = tmp('fail-root');
  const images = tmp('fail-img');
  const log = path.join(root, 'out.log');
  try {
    // stdout a file of the host's: CRIU cannot dump an fd on a mount outside the container's namespace
    const out = fs.openSync(log, 'w');
    const runner = spawn(TSRUN, ['--root', root, 'run', '-d', 'f'], { cwd: b.dir, env: env(), stdio: ['ignore', out, out] });
    fs.closeSync(out);
    t.is(await exited(runner), 0);
    await until('counting', () => count(TSRUN, root, 'f') >= 3);
    const none = spawnSync(TSRUN, ['--root', root, 'checkpoint', '--image-path', images, 'f'], {
      env: { ...env(), TSRUN_CRIU: '/nonexistent/criu' },
      encoding: 'utf8',
    });
    t.is(none.status, 1);
    t.regex(none.stderr, /CRIU version check failed/);
    const hostFile = run(TSRUN, ['--root', root, 'checkpoint', '--image-path', images, 'f']);
    t.is(hostFile.status, 1);
    t.regex(hostFile.stderr, /criu failed: type DUMP/);
    t.regex(hostFile.stderr, /dump\.log/, 'the error quotes CRIU’s log');
    t.is(JSON.parse(run(TSRUN, ['--root', root, 'state', 'f']).stdout).status, 'running', 'a failed dump leaves it running');
    await countsOn(t, TSRUN, root, 'f', 0);
    const empty = tmp('fail-empty');
    const bad = run(TSRUN, ['--root', root, 'restore', '-d', '--image-path', empty, 'g'], b.dir);
    fs.rmSync(empty, { recursive: true, force: true });
    t.is(bad.status, 1);
    t.regex(bad.stderr, /descriptors\.json/);
    t.false(fs.existsSync(path.join(root, 'g')), 'no state dir');
    t.deepEqual(cgroupDirsNamed('g'), [], 'no cgroup');
    t.is(await exited(detached(TSRUN, ['--root', root, 'create', 'c'], b.dir)), 0);
    t.regex(
      run(TSRUN, ['--root', root, 'checkpoint', '--image-path', images, 'c']).stderr,
      /Container cannot be checkpointed in created state/,
    );
  } finally {
    run(TSRUN, ['--root', root, 'delete', '-f', 'f']);
    run(TSRUN, ['--root', root, 'delete', '-f', 'c']);
    b.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(images, { recursive: true, force: true });
  }
});

serial('a restore killed while CRIU runs: delete --force removes everything and the rootfs is untouched', async (t) => {
  const gate = tmp('kill-gate');
  const hook = path.join(gate, 'hook.sh');
  // prestart runs at CRIU's setup-namespaces: it says so, then waits (the restore is killed meanwhile)
  fs.writeFileSync(hook, `#!/bin/sh\ntouch ${gate}/in-hook\nwhile [ ! -e ${gate}/go ]; do sleep 0.05; done\n`, { mode: 0o755 });
  const plain = counterBundle();
  const root = tmp('kill-root');
  const images = tmp('kill-img');
  try {
    t.is(await exited(detached(TSRUN, ['--root', root, 'run', '-d', 'k'], plain.dir)), 0);
    await until('counting', () => count(TSRUN, root, 'k') >= 3);
    t.is(run(TSRUN, ['--root', root, 'checkpoint', '--image-path', images, 'k']).status, 0);
    const spec = JSON.parse(fs.readFileSync(path.join(plain.dir, 'config.json'), 'utf8'));
    spec.hooks = { prestart: [{ path: hook }] };
    fs.writeFileSync(path.join(plain.dir, 'config.json'), JSON.stringify(spec));
    const files = fs.readdirSync(plain.rootfs, { recursive: true }).length;
    const restorer = detached(TSRUN, ['--root', root, 'restore', '-d', '--image-path', images, 'k'], plain.dir);
    await until('the prestart hook running', () => fs.existsSync(path.join(gate, 'in-hook')));
    t.true(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(path.join(root, 'k', 'criu-root')), 'the rootfs is bound for CRIU');
    restorer.kill('SIGKILL');
    await exited(restorer);
    fs.writeFileSync(path.join(gate, 'go'), '');
    const del = run(TSRUN, ['--root', root, 'delete', '-f', 'k']);
    t.is(del.status, 0, del.stderr);
    t.false(fs.existsSync(path.join(root, 'k')));
    t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes('criu-root'), 'no criu-root bind left');
    t.deepEqual(cgroupDirsNamed('k'), [], 'no cgroup');
    t.is(fs.readdirSync(plain.rootfs, { recursive: true }).length, files, 'the rootfs is untouched');
  } finally {
    fs.writeFileSync(path.join(gate, 'go'), '');
    run(TSRUN, ['--root', root, 'delete', '-f', 'k']);
    plain.cleanup();
    for (const d of [root, images, gate]) fs.rmSync(d, { recursive: true, force: true });
  }
});

// the production lane (systemd as PID 1, cgroup v2): the restored container's unit is made again with CRIU in it
const systemd = SYSTEMD_HOST && 'bin' in criu ? test.serial : test.skip;
systemd('--systemd-cgroup: the restored counter runs in a scope of its own again, and counts on', async (t) => {
  const b = counterBundle((s) => {
    s.linux!.cgroupsPath = 'system.slice:tsrun-ckpt:sd';
  });
  const root = tmp('sd-root');
  const images = tmp('sd-img');
  const sd = (args: string[]) => run(TSRUN, ['--systemd-cgroup', '--root', root, ...args], b.dir);
  try {
    t.is(await exited(detached(TSRUN, ['--systemd-cgroup', '--root', root, 'run', '-d', 'sd'], b.dir)), 0);
    await until('counting', () => count(TSRUN, root, 'sd') >= 5);
    t.is(sd(['checkpoint', '--image-path', images, 'sd']).status, 0);
    t.not(
      spawnSync('systemctl', ['is-active', 'tsrun-ckpt-sd.scope'], { encoding: 'utf8' }).stdout.trim(),
      'active',
      'the unit went with it',
    );
    const restorer = detached(TSRUN, ['--systemd-cgroup', '--root', root, 'restore', '-d', '--image-path', images, 'sd'], b.dir);
    t.is(await exited(restorer), 0);
    await countsOn(t, TSRUN, root, 'sd', 5);
    const pid = JSON.parse(sd(['state', 'sd']).stdout).pid as number;
    t.regex(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), /tsrun-ckpt-sd\.scope/);
    t.is(spawnSync('systemctl', ['is-active', 'tsrun-ckpt-sd.scope'], { encoding: 'utf8' }).stdout.trim(), 'active');
  } finally {
    sd(['delete', '-f', 'sd']);
    b.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(images, { recursive: true, force: true });
  }
});

// process.terminal: CRIU hands the restored terminal's new master over (orphan-pts-master) and tsrun passes it to --console-socket

(hasPython ? serial : test.skip)(
  'a terminal container restored with --console-socket: the new pty master carries on its output',
  async (t) => {
    const b = makeBundle((s) => {
      s.process!.terminal = true;
      s.process!.args = ['sh', '-c', 'i=0; while true; do echo n$i; i=$((i+1)); sleep 0.1; done'];
    });
    const root = tmp('tty-root');
    const images = tmp('tty-img');
    const receive = (sock: string) => {
      const rx = spawn('python3', ['-c', CONSOLE_RECEIVER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
      const got = { out: '' };
      rx.stdout!.on('data', (d) => (got.out += d));
      return { rx, got, listening: new Promise<void>((resolve) => rx.stdout!.once('data', () => resolve())) };
    };
    const numbers = (text: string) => [...text.matchAll(/n(\d+)/g)].map((m) => Number(m[1]));
    try {
      const first = receive(path.join(root, 'a.sock'));
      await first.listening;
      t.is(run(TSRUN, ['--root', root, 'create', '--console-socket', path.join(root, 'a.sock'), 'tty'], b.dir).status, 0);
      t.is(run(TSRUN, ['--root', root, 'start', 'tty']).status, 0);
      await until('output on the first pty', () => numbers(first.got.out).length > 5);
      const ck = run(TSRUN, ['--root', root, 'checkpoint', '--image-path', images, 'tty']);
      t.is(ck.status, 0, ck.stderr);
      const last = Math.max(...numbers(first.got.out));
      first.rx.kill();
      const second = receive(path.join(root, 'b.sock'));
      await second.listening;
      const rs = run(
        TSRUN,
        ['--root', root, 'restore', '-d', '--console-socket', path.join(root, 'b.sock'), '--image-path', images, 'tty'],
        b.dir,
      );
      t.is(rs.status, 0, rs.stderr);
      await until('output on the new pty', () => numbers(second.got.out).length > 3);
      t.regex(second.got.out, /^listening\nfds=1 name=\/dev\/ptmx\n/, 'one fd, the master, named as runc names it');
      t.true(Math.min(...numbers(second.got.out)) > last, `the restored output goes on after n${last}: ${second.got.out.slice(0, 80)}`);
      second.rx.kill();
    } finally {
      run(TSRUN, ['--root', root, 'delete', '-f', 'tty']);
      b.cleanup();
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(images, { recursive: true, force: true });
    }
  },
);

// as tests/reliability/killpoints.test.ts does for create: a restore SIGKILLed at moments spread over an undisturbed one
const KILL_POINTS = Number(process.env.TSRUN_KILL_POINTS) || 12;
serial(`a restore killed at ${KILL_POINTS} moments of its run: delete --force leaves no state, mount, cgroup or process`, async (t) => {
  const b = counterBundle();
  const root = tmp('kp-root');
  const images = tmp('kp-img');
  const leftBehind = (id: string) => {
    const out: string[] = [];
    if (fs.existsSync(path.join(root, id))) out.push('state dir');
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(path.join(root, id))) out.push('criu-root mount');
    out.push(...cgroupDirsNamed(id).map((d) => `cgroup ${d}`));
    for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x)))
      try {
        if (fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/${id}\n`)) out.push(`process ${p}`);
      } catch {
        // gone
      }
    return out;
  };
  try {
    t.is(await exited(detached(TSRUN, ['--root', root, 'run', '-d', 'kp'], b.dir)), 0);
    await until('counting', () => count(TSRUN, root, 'kp') >= 3);
    t.is(run(TSRUN, ['--root', root, 'checkpoint', '--image-path', images, 'kp']).status, 0);
    // an undisturbed restore, timed; the images serve again (each restore makes a new process tree)
    const t0 = performance.now();
    t.is(await exited(detached(TSRUN, ['--root', root, 'restore', '-d', '--image-path', images, 'kp-0'], b.dir)), 0);
    const took = performance.now() - t0;
    t.is(run(TSRUN, ['--root', root, 'delete', '-f', 'kp-0']).status, 0);
    t.log(`an undisturbed restore: ${took.toFixed(0)} ms`);
    for (let i = 1; i <= KILL_POINTS; i++) {
      const id = `kp-${i}`;
      const restorer = detached(TSRUN, ['--root', root, 'restore', '-d', '--image-path', images, id], b.dir);
      await new Promise((r) => setTimeout(r, (took * i) / (KILL_POINTS + 1)));
      restorer.kill('SIGKILL');
      await exited(restorer);
      const del = run(TSRUN, ['--root', root, 'delete', '-f', id]);
      t.is(del.status, 0, `${id}: ${del.stderr}`);
      // CRIU may still be tearing down what it restored when delete returns: what is left must go, not stay
      await until(`${id} gone`, () => leftBehind(id).length === 0).catch(() => undefined);
      t.deepEqual(leftBehind(id), [], `killed at ${((took * i) / (KILL_POINTS + 1)).toFixed(0)} ms`);
    }
  } finally {
    for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) run(TSRUN, ['--root', root, 'delete', '-f', id]);
    b.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(images, { recursive: true, force: true });
  }
});

serial('a user-namespace container: restored once its images are readable by its root, with a message saying so before', async (t) => {
  const b = counterBundle((s) => {
    s.linux!.namespaces!.push({ type: 'user' });
    // as `tsrun spec` (and every engine) on a pure cgroup-v2 host: a cgroup namespace of its own, so the
    // cgroup mount is the container's, not a bind of the host's that CRIU finds "unreachable sharing" on
    if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) s.linux!.namespaces!.push({ type: 'cgroup' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  });
  fs.chmodSync(b.dir, 0o755);
  spawnSync('chown', ['-R', '100000:100000', b.rootfs]);
  const root = tmp('userns-root');
  const images = tmp('userns-img');
  try {
    t.is(await exited(detached(TSRUN, ['--root', root, 'run', '-d', 'u'], b.dir)), 0);
    await until('counting', () => count(TSRUN, root, 'u') >= 5);
    const ck = run(TSRUN, ['--root', root, 'checkpoint', '--image-path', images, 'u']);
    t.is(ck.status, 0, ck.stderr);
    // a failed restore holds no pipe of ours: spawnSync may wait for its output
    const denied = run(TSRUN, ['--root', root, 'restore', '-d', '--image-path', images, 'u'], b.dir);
    t.is(denied.status, 1);
    t.regex(
      denied.stderr,
      /Unable to open .*Permission denied: in a user namespace the images must be readable by the container's root \(host uid 100000\)/,
    );
    t.false(fs.existsSync(path.join(root, 'u')), 'nothing left of the refused restore');
    spawnSync('chmod', ['-R', 'a+rX', images]);
    t.is(await exited(detached(TSRUN, ['--root', root, 'restore', '-d', '--image-path', images, 'u'], b.dir)), 0);
    await countsOn(t, TSRUN, root, 'u', 5);
    t.regex(run(TSRUN, ['--root', root, 'exec', 'u', 'cat', '/proc/self/uid_map']).stdout, /^\s*0\s+100000\s+65536/);
  } finally {
    run(TSRUN, ['--root', root, 'delete', '-f', 'u']);
    b.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(images, { recursive: true, force: true });
  }
});
