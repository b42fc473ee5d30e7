/**
 * The layer writer (native/host/layer.c through layerRoot/layerEntry/
 * layerFinish/layerTimes): what a tar entry becomes on disk — content,
 * owners, modes, mtimes, xattrs, links, devices, overlayfs whiteouts and
 * opaque dirs — and that no entry of a hostile layer reaches outside the
 * layer's directory (`..`, absolute paths, symlinks and hardlinks made
 * earlier in the same layer). Real files in a temp dir; root (owners,
 * devices, trusted.* xattrs).
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadBinding, type LayerEntry } from '../../lib/native/binding.js';

const native = loadBinding();
const rootTest = process.getuid?.() === 0 ? test : test.skip;

const T = 1_600_000_000;
const base = { mode: 0o644, uid: 0, gid: 0, mtime: T, chown: true, overlayXattr: 'trusted' as const };

type Spec = Partial<LayerEntry> & Pick<LayerEntry, 'path' | 'type'>;

/** A layer dir inside an outer dir (where an escape would land), its root fd; both go at the end. */
function layer(t: ExecutionContext): { outer: string; dir: string; fd: number } {
  const outer = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-layer-'));
  const dir = path.join(outer, 'layer');
  fs.mkdirSync(dir);
  const fd = native.layerRoot(dir);
  t.teardown(() => {
    fs.closeSync(fd);
    fs.rmSync(outer, { recursive: true, force: true });
  });
  return { outer, dir, fd };
}

function entry(fd: number, e: Spec): number {
  return native.layerEntry(fd, { ...base, ...e });
}

/** A file entry with its content, finished. */
function file(fd: number, p: string, content: string | Buffer, e: Partial<LayerEntry> = {}): void {
  const spec = { ...base, ...e, path: p, type: 'file' as const };
  const f = native.layerEntry(fd, spec);
  fs.writeSync(f, Buffer.from(content));
  native.layerFinish(f, spec);
}

/** An xattr of a file, its symlink not followed; null when it has none. */
function xattr(file: string, name: string): string | null {
  const r = spawnSync('getfattr', ['-h', '--absolute-names', '--only-values', '-n', name, file], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.status === 0 ? r.stdout : null;
}

const sha = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

rootTest('a file: its content, owners, setuid mode set after chown, fractional mtime, xattrs', (t) => {
  const { dir, fd } = layer(t);
  file(fd, 'usr/bin/tool', 'hello', {
    mode: 0o4755,
    uid: 1000,
    gid: 1001,
    mtime: T + 0.5,
    xattrs: { 'user.foo': Buffer.from('bar') },
  });
  const f = path.join(dir, 'usr/bin/tool');
  const st = fs.statSync(f, { bigint: true }); // (before a read moves the atime)
  t.is(fs.readFileSync(f, 'utf8'), 'hello');
  t.is(Number(st.mode & 0o7777n), 0o4755, 'setuid survives: chmod comes after chown');
  t.is(st.uid, 1000n);
  t.is(st.gid, 1001n);
  t.is(st.mtimeNs, BigInt(T) * 1_000_000_000n + 500_000_000n);
  t.is(st.atimeNs, st.mtimeNs);
  t.is(xattr(f, 'user.foo'), 'bar');
  // no owners with chown false: the caller's stay
  file(fd, 'mine', 'x', { uid: 1000, gid: 1001, chown: false });
  t.is(fs.statSync(path.join(dir, 'mine')).uid, process.getuid!());
});

rootTest('missing parents are 0755 and 0:0 whatever the umask and a setgid parent say', (t) => {
  const { dir, fd } = layer(t);
  fs.chownSync(dir, 0, 4321);
  fs.chmodSync(dir, 0o2755); // new dirs would inherit gid 4321 and setgid
  const old = process.umask(0o077);
  try {
    file(fd, 'a/b/c', 'x', { uid: 7, gid: 7 });
  } finally {
    process.umask(old);
  }
  for (const p of ['a', 'a/b']) {
    const st = fs.statSync(path.join(dir, p));
    t.is(st.mode & 0o7777, 0o755, p);
    t.is(st.uid, 0, p);
    t.is(st.gid, 0, p);
  }
  t.is(fs.statSync(path.join(dir, 'a/b/c')).uid, 7);
});

rootTest('a dir: mode (sticky), owners, mtime; a dir over a dir keeps it; layerTimes after the children', (t) => {
  const { dir, fd } = layer(t);
  t.is(entry(fd, { path: 'tmp/', type: 'dir', mode: 0o1777, uid: 5, gid: 6, mtime: T + 10 }), -1);
  let st = fs.statSync(path.join(dir, 'tmp'));
  t.true(st.isDirectory());
  t.is(st.mode & 0o7777, 0o1777);
  t.is(st.uid, 5);
  t.is(st.gid, 6);
  t.is(st.mtimeMs, (T + 10) * 1000);
  file(fd, 'tmp/keep', 'k');
  t.not(fs.statSync(path.join(dir, 'tmp')).mtimeMs, (T + 10) * 1000, 'a child moved the mtime');
  entry(fd, { path: 'tmp', type: 'dir', mode: 0o755, uid: 8, gid: 9, mtime: T + 20 });
  t.is(fs.readFileSync(path.join(dir, 'tmp/keep'), 'utf8'), 'k', 'the dir was kept');
  st = fs.statSync(path.join(dir, 'tmp'));
  t.is(st.mode & 0o7777, 0o755);
  t.is(st.uid, 8);
  file(fd, 'tmp/later', 'l');
  native.layerTimes(fd, 'tmp', T + 30);
  t.is(fs.statSync(path.join(dir, 'tmp')).mtimeMs, (T + 30) * 1000);
  // a final symlink is not followed
  entry(fd, { path: 'ln', type: 'symlink', linkname: 'tmp' });
  native.layerTimes(fd, 'ln', T + 40);
  t.is(fs.lstatSync(path.join(dir, 'ln')).mtimeMs, (T + 40) * 1000);
  t.is(fs.statSync(path.join(dir, 'tmp')).mtimeMs, (T + 30) * 1000);
  t.throws(() => native.layerTimes(fd, 'ln/keep', T), { code: 'ELOOP' });
});

rootTest('a symlink to /etc is stored, never followed: evil/passwd is refused and /etc/passwd unchanged', (t) => {
  const { outer, dir, fd } = layer(t);
  // the link's own metadata, not its target's (shown on a target of ours: a bug here must not chown /etc)
  const target = path.join(outer, 'target');
  fs.mkdirSync(target);
  t.is(entry(fd, { path: 'out', type: 'symlink', linkname: target, uid: 3, gid: 4, mtime: T + 1 }), -1);
  const lst = fs.lstatSync(path.join(dir, 'out'));
  t.is(lst.uid, 3, 'owners of the link itself');
  t.is(lst.gid, 4);
  t.is(lst.mtimeMs, (T + 1) * 1000);
  const tst = fs.statSync(target);
  t.is(tst.uid, 0, 'not of its target');
  t.not(tst.mtimeMs, (T + 1) * 1000);
  const before = { sha: sha('/etc/passwd'), st: fs.statSync('/etc/passwd') };
  t.is(entry(fd, { path: 'evil', type: 'symlink', linkname: '/etc' }), -1);
  t.is(fs.readlinkSync(path.join(dir, 'evil')), '/etc');
  t.throws(() => file(fd, 'evil/passwd', 'root::0:0::/:/bin/sh\n'), {
    code: 'ELOOP',
    message: 'layer entry "evil/passwd": a parent lies through a symlink',
  });
  for (const type of ['dir', 'symlink', 'fifo', 'whiteout', 'opaque'] as const)
    t.throws(() => entry(fd, { path: 'evil/passwd', type, linkname: 'x' }), { code: 'ELOOP' }, type);
  t.throws(() => entry(fd, { path: 'evil/sub/new', type: 'dir' }), { code: 'ELOOP' });
  t.throws(() => native.layerTimes(fd, 'evil/passwd', 0), { code: 'ELOOP' });
  const after = fs.statSync('/etc/passwd');
  t.is(sha('/etc/passwd'), before.sha);
  t.is(after.mtimeMs, before.st.mtimeMs);
  t.is(after.mode, before.st.mode);
  t.false(fs.existsSync('/etc/sub'));
});

rootTest('a symlink up -> .. then up/x is refused; nothing lands outside', (t) => {
  const { outer, fd } = layer(t);
  entry(fd, { path: 'up', type: 'symlink', linkname: '..' });
  t.throws(() => file(fd, 'up/x', 'escaped'), { code: 'ELOOP', message: /up\/x": a parent lies through a symlink/ });
  t.throws(() => entry(fd, { path: 'up/layer/y', type: 'dir' }), { code: 'ELOOP' });
  t.deepEqual(fs.readdirSync(outer), ['layer']);
});

rootTest("paths that are not relative and below the layer are refused: '../x', '/abs', 'a/../../x', '', '.'", (t) => {
  const { outer, dir, fd } = layer(t);
  for (const p of ['../x', '/abs', 'a/../../x', 'a/..', '..', '', '.', './', 'a/.']) {
    t.throws(() => file(fd, p, 'x'), { code: 'EINVAL', message: /not a relative path below the layer/ }, p);
    t.throws(() => entry(fd, { path: p, type: 'dir' }), { code: 'EINVAL' }, p);
    t.throws(() => native.layerTimes(fd, p, T), { code: 'EINVAL' }, p);
  }
  t.throws(() => file(fd, 'a\0/../../x', 'x'), { code: 'EINVAL' }, 'a NUL byte');
  t.throws(() => file(fd, 'a/'.repeat(3000), 'x'), { code: 'ENAMETOOLONG' });
  t.deepEqual(fs.readdirSync(outer), ['layer']);
  t.deepEqual(fs.readdirSync(dir), []);
  t.false(fs.existsSync('/abs'));
  // './a' and 'a//b/' are fine
  file(fd, './a', '1');
  entry(fd, { path: 'b//c/', type: 'dir' });
  t.true(fs.statSync(path.join(dir, 'b/c')).isDirectory());
});

rootTest('a hardlink to a file of the layer: the same inode, with the entry metadata', (t) => {
  const { dir, fd } = layer(t);
  file(fd, 'bin/a', 'shared', { mode: 0o755 });
  t.is(entry(fd, { path: 'sbin/b', type: 'hardlink', linkname: 'bin/a', mode: 0o750, mtime: T + 5 }), -1);
  const a = fs.statSync(path.join(dir, 'bin/a'));
  const b = fs.statSync(path.join(dir, 'sbin/b'));
  t.is(a.ino, b.ino);
  t.is(a.nlink, 2);
  t.is(fs.readFileSync(path.join(dir, 'sbin/b'), 'utf8'), 'shared');
  t.is(b.mode & 0o7777, 0o750);
  t.is(b.mtimeMs, (T + 5) * 1000);
  // the same link again (an entry repeated): left as it is
  entry(fd, { path: 'sbin/b', type: 'hardlink', linkname: 'bin/a' });
  t.is(fs.statSync(path.join(dir, 'bin/a')).nlink, 2);
  t.throws(() => entry(fd, { path: 'c', type: 'hardlink', linkname: 'missing' }), { code: 'ENOENT' });
  t.throws(() => entry(fd, { path: 'c', type: 'hardlink', linkname: 'bin' }), { code: 'EPERM', message: /is a directory/ });
  t.false(fs.existsSync(path.join(dir, 'c')));
});

rootTest('a hardlink through a symlink to outside, or above the layer, is refused', (t) => {
  const { outer, dir, fd } = layer(t);
  const links = fs.statSync('/etc/passwd').nlink;
  entry(fd, { path: 'etc', type: 'symlink', linkname: '/etc' });
  t.throws(() => entry(fd, { path: 'pw', type: 'hardlink', linkname: 'etc/passwd' }), {
    code: 'ELOOP',
    message: 'layer entry "pw": hardlink target "etc/passwd": a parent lies through a symlink',
  });
  fs.writeFileSync(path.join(outer, 'secret'), 's');
  for (const linkname of ['../secret', '/etc/passwd', 'a/../../secret'])
    t.throws(() => entry(fd, { path: 'pw', type: 'hardlink', linkname }), { code: 'EINVAL' }, linkname);
  entry(fd, { path: 'up', type: 'symlink', linkname: '..' });
  t.throws(() => entry(fd, { path: 'pw', type: 'hardlink', linkname: 'up/secret' }), { code: 'ELOOP' });
  t.false(fs.existsSync(path.join(dir, 'pw')));
  t.is(fs.statSync('/etc/passwd').nlink, links);
  t.is(fs.statSync(path.join(outer, 'secret')).nlink, 1);
  // a link to the symlink itself is a link to the symlink: still not followed
  entry(fd, { path: 'etc2', type: 'hardlink', linkname: 'etc' });
  t.is(fs.readlinkSync(path.join(dir, 'etc2')), '/etc');
  t.is(fs.lstatSync(path.join(dir, 'etc2')).ino, fs.lstatSync(path.join(dir, 'etc')).ino);
});

rootTest('a file over a symlink or a hardlink replaces it and never writes through it', (t) => {
  const { outer, dir, fd } = layer(t);
  const victim = path.join(outer, 'victim');
  fs.writeFileSync(victim, 'orig');
  fs.symlinkSync(victim, path.join(dir, 's'));
  file(fd, 's', 'new');
  t.is(fs.readFileSync(victim, 'utf8'), 'orig');
  t.true(fs.lstatSync(path.join(dir, 's')).isFile());
  file(fd, 'a', 'first');
  entry(fd, { path: 'b', type: 'hardlink', linkname: 'a' });
  file(fd, 'b', 'second');
  t.is(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'first');
  t.is(fs.readFileSync(path.join(dir, 'b'), 'utf8'), 'second');
  t.is(fs.statSync(path.join(dir, 'a')).nlink, 1);
});

rootTest('replacing: a file by a dir, an empty dir by a file; a non-empty dir by a file is ENOTEMPTY', (t) => {
  const { dir, fd } = layer(t);
  file(fd, 'x', 'was a file');
  entry(fd, { path: 'x', type: 'dir', mode: 0o700 });
  t.true(fs.lstatSync(path.join(dir, 'x')).isDirectory());
  t.is(fs.statSync(path.join(dir, 'x')).mode & 0o777, 0o700);
  file(fd, 'x', 'a file again');
  t.is(fs.readFileSync(path.join(dir, 'x'), 'utf8'), 'a file again');
  file(fd, 'd/child', 'c');
  t.throws(() => file(fd, 'd', 'no'), {
    code: 'ENOTEMPTY',
    message: 'layer entry "d": a non-empty directory is in the way',
  });
  t.throws(() => entry(fd, { path: 'd', type: 'symlink', linkname: '/' }), { code: 'ENOTEMPTY' });
  t.is(fs.readFileSync(path.join(dir, 'd/child'), 'utf8'), 'c');
  t.throws(() => file(fd, 'x/under', 'no'), { code: 'ENOTDIR', message: /a parent is not a directory/ });
});

rootTest('devices and fifos: char 1/3, block 7/0, a fifo, with their modes and owners', (t) => {
  const { dir, fd } = layer(t);
  t.is(entry(fd, { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, uid: 2, gid: 3 }), -1);
  const n = fs.statSync(path.join(dir, 'dev/null'));
  t.true(n.isCharacterDevice());
  t.is(n.rdev, (1 << 8) | 3);
  t.is(n.mode & 0o7777, 0o666);
  t.is(n.uid, 2);
  t.is(n.gid, 3);
  t.is(n.mtimeMs, T * 1000);
  entry(fd, { path: 'dev/loop0', type: 'block', devmajor: 7, devminor: 0, mode: 0o660 });
  const b = fs.statSync(path.join(dir, 'dev/loop0'));
  t.true(b.isBlockDevice());
  t.is(b.rdev, 7 << 8);
  t.is(b.mode & 0o7777, 0o660);
  entry(fd, { path: 'run/fifo', type: 'fifo', mode: 0o620 });
  const f = fs.statSync(path.join(dir, 'run/fifo'));
  t.true(f.isFIFO());
  t.is(f.mode & 0o7777, 0o620);
});

rootTest('a whiteout is a 0/0 char device', (t) => {
  const { dir, fd } = layer(t);
  file(fd, 'etc/gone', 'x');
  t.is(entry(fd, { path: 'etc/gone', type: 'whiteout' }), -1);
  const st = fs.lstatSync(path.join(dir, 'etc/gone'));
  t.true(st.isCharacterDevice());
  t.is(st.rdev, 0);
  entry(fd, { path: 'new/wh', type: 'whiteout' });
  t.is(fs.lstatSync(path.join(dir, 'new/wh')).rdev, 0);
  t.true(fs.lstatSync(path.join(dir, 'new/wh')).isCharacterDevice());
});

rootTest('opaque: trusted.overlay.opaque (or user.) = y on the dir, made if missing, kept if there', (t) => {
  const { dir, fd } = layer(t);
  t.is(entry(fd, { path: 'made', type: 'opaque' }), -1);
  t.true(fs.statSync(path.join(dir, 'made')).isDirectory());
  t.is(xattr(path.join(dir, 'made'), 'trusted.overlay.opaque'), 'y');
  t.is(xattr(path.join(dir, 'made'), 'user.overlay.opaque'), null);
  file(fd, 'kept/child', 'c');
  entry(fd, { path: 'kept', type: 'dir', mode: 0o711 });
  entry(fd, { path: 'kept', type: 'opaque', overlayXattr: 'user', mode: 0o600 });
  t.is(xattr(path.join(dir, 'kept'), 'user.overlay.opaque'), 'y');
  t.is(xattr(path.join(dir, 'kept'), 'trusted.overlay.opaque'), null);
  t.is(fs.readFileSync(path.join(dir, 'kept/child'), 'utf8'), 'c');
  t.is(fs.statSync(path.join(dir, 'kept')).mode & 0o7777, 0o711, "the marker's own mode is not the dir's");
});

rootTest("overlayfs's own xattrs are refused from a layer, before anything is made", (t) => {
  const { dir, fd } = layer(t);
  for (const name of ['trusted.overlay.opaque', 'user.overlay.redirect']) {
    const xattrs = { [name]: Buffer.from('y') };
    t.throws(() => entry(fd, { path: 'd', type: 'dir', xattrs }), { code: 'EPERM', message: /overlayfs's own/ }, name);
    t.throws(() => file(fd, 'f', 'x', { xattrs }), { code: 'EPERM' }, name);
  }
  t.deepEqual(fs.readdirSync(dir), []);
  // layerFinish refuses them too, and closes the fd all the same
  const spec = { ...base, path: 'g', type: 'file' as const };
  const f = native.layerEntry(fd, spec);
  t.throws(() => native.layerFinish(f, { ...spec, xattrs: { 'trusted.overlay.x': Buffer.from('1') } }), { code: 'EPERM' });
  t.throws(() => fs.fstatSync(f), { code: 'EBADF' });
  t.is(xattr(path.join(dir, 'g'), 'trusted.overlay.x'), null);
});

rootTest('a mount below the layer is not crossed (EXDEV)', (t) => {
  const { dir, fd } = layer(t);
  fs.mkdirSync(path.join(dir, 'mnt'));
  const m = spawnSync('mount', ['-t', 'tmpfs', 'none', path.join(dir, 'mnt')]);
  if (m.status !== 0) return t.pass('cannot mount here');
  t.teardown(() => void spawnSync('umount', ['-l', path.join(dir, 'mnt')]));
  t.throws(() => file(fd, 'mnt/x', 'x'), { code: 'EXDEV', message: /a parent lies across a mount point/ });
  t.false(fs.existsSync(path.join(dir, 'mnt/x')));
});

test('layerRoot refuses a symlink and a missing dir, with the errno', (t) => {
  const outer = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-layer-'));
  t.teardown(() => fs.rmSync(outer, { recursive: true, force: true }));
  fs.symlinkSync('/', path.join(outer, 'link'));
  t.throws(() => native.layerRoot(path.join(outer, 'link')), { code: 'ENOTDIR', message: /^layer root ".*link": / });
  t.throws(() => native.layerRoot(path.join(outer, 'missing')), { code: 'ENOENT' });
  const fd = native.layerRoot(outer);
  t.true(fd > 2);
  t.throws(() => native.layerEntry(fd, { ...base, path: 'x', type: 'nonsense' as never }), { instanceOf: TypeError });
  t.throws(() => native.layerEntry(fd, { ...base, path: 'x', type: 'dir', mtime: NaN }), { instanceOf: TypeError });
  fs.closeSync(fd);
});
