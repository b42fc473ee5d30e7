/**
 * A clean machine to install tsrun on: Debian 12's minimal base
 * (debootstrap --variant=minbase) with man-db and bash-completion, so a man
 * page can be read and a completion loaded, and nothing that builds: no
 * compiler, cmake, Node or npm. Made once (a minute or two from Debian's
 * archive) and kept as a tarball; each test unpacks a fresh copy.
 *
 * inRoot runs a shell script chrooted into such a root, in a private mount
 * namespace with /proc, /sys (its cgroups too), /dev and a fresh /run, as
 * a machine's: nothing of it outlives the script.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { busyboxRootfs } from './bundle.js';

const CACHE_DIR = '/var/cache/tsrun-install';
const CACHE = path.join(CACHE_DIR, 'bookworm-minbase.tar');
const MIRROR = process.env.TSRUN_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

/** The programs a clean root must not have (what a build would need). */
export const BUILD_TOOLS = [
  '/usr/bin/cc',
  '/usr/bin/gcc',
  '/usr/bin/g++',
  '/usr/bin/cmake',
  '/usr/bin/make',
  '/usr/bin/node',
  '/usr/bin/npm',
];

function makeCache(): void {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const dir = fs.mkdtempSync(path.join(CACHE_DIR, 'make-'));
  try {
    const r = spawnSync('debootstrap', ['--variant=minbase', '--include=man-db,bash-completion', 'bookworm', dir, MIRROR], {
      encoding: 'utf8',
      timeout: 900_000,
    });
    if (r.status !== 0) throw new Error(`debootstrap failed (${r.status}): ${(r.stderr || r.stdout).slice(-2000)}`);
    const t = spawnSync('tar', ['-C', dir, '-cf', `${CACHE}.tmp`, '.'], { encoding: 'utf8' });
    if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
    fs.renameSync(`${CACHE}.tmp`, CACHE);
  } finally {
    removeTree(dir);
  }
}

/** rm -rf that stays on its own filesystem: a failed debootstrap may leave /proc or /dev mounted below. */
function removeTree(dir: string): void {
  spawnSync('umount', ['-R', '-l', dir], { stdio: 'ignore' });
  spawnSync('rm', ['-rf', '--one-file-system', dir], { stdio: 'ignore' });
}

/** A fresh copy of the clean root, removed when the test ends (and at exit). */
export function cleanRoot(t?: { teardown(fn: () => void): void }): string {
  if (!fs.existsSync(CACHE)) makeCache(); // (one test file uses it: no two makers)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-clean-'));
  const r = spawnSync('tar', ['-C', root, '-xf', CACHE], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -x: ${r.stderr}`);
  process.on('exit', () => removeTree(root));
  t?.teardown(() => removeTree(root));
  return root;
}

export interface RootResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** script (sh) chrooted into root, as a machine's PID-1 world would see it; env: the script's whole environment. */
export function inRoot(root: string, script: string, env: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }): RootResult {
  const setup = [
    'set -e',
    // a machine's / is a mount (a container's rootfs propagation is set from it)
    `mount --bind "${root}" "${root}"`,
    `mount -t proc proc "${root}/proc"`,
    `mount --rbind /sys "${root}/sys"`,
    `mount --rbind /dev "${root}/dev"`,
    `mount -t tmpfs tmpfs "${root}/run"`,
    `mount -t tmpfs tmpfs "${root}/tmp"`,
    // the script's own environment only, as an engine gives a runtime
    `exec chroot "${root}" /usr/bin/env -i ${Object.entries(env)
      .map(([k, v]) => `'${k}=${v.replace(/'/g, `'\\''`)}'`)
      .join(' ')} /bin/sh -c "$1"`,
  ].join('\n');
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', setup, 'sh', script], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A busybox bundle at <root><dir>: rootfs with busybox and its applets; config.json is the caller's. */
export function busyboxBundle(root: string, dir: string): string {
  const rootfs = path.join(root, dir, 'rootfs');
  busyboxRootfs(rootfs);
  fs.writeFileSync(path.join(rootfs, 'etc', 'hostname'), 'mybox\n');
  return path.join(root, dir);
}

/** npm itself, self-contained (it bundles its dependencies): a machine's own npm may not be (Debian's is spread over /usr/share/nodejs). */
const NPM_VERSION = '10.9.2';
/** Where npmTarball() keeps it (the old-cpu suite, in the VM, reads it there). */
export const NPM_TARBALL = path.join(CACHE_DIR, `npm-${NPM_VERSION}.tgz`);

/** npm's tarball, fetched from the npm registry once (npm pack) and cached. */
export function npmTarball(): string {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  if (!fs.existsSync(NPM_TARBALL)) {
    // packed aside, then renamed: an interrupted download is never taken for npm
    const tmp = fs.mkdtempSync(path.join(CACHE_DIR, 'npm-'));
    const r = spawnSync('npm', ['pack', '--silent', `npm@${NPM_VERSION}`, '--pack-destination', tmp], { encoding: 'utf8' });
    const packed = path.join(tmp, path.basename(NPM_TARBALL));
    if (r.status !== 0 || !fs.existsSync(packed)) throw new Error(`npm pack npm@${NPM_VERSION}: ${r.stderr}`);
    fs.renameSync(packed, NPM_TARBALL);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return NPM_TARBALL;
}

/** npm unpacked at dir (its bin/npm-cli.js and bin/npx-cli.js). */
export function unpackNpm(tarball: string, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('tar', ['-C', dir, '--strip-components=1', '-xzf', tarball], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -x ${tarball}: ${r.stderr}`);
}
