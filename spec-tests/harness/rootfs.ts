/**
 * Bundle root filesystems: a static busybox with its applet symlinks plus the
 * static probe. A template is prepared once per suite run; each case gets its
 * own rootfs with hard links to the template's binaries, so cases can create
 * mount points or files without disturbing each other.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROBE_IN_CONTAINER = '/bin/tsrun-probe';

/** Repository root, derived from this file's place in dist/spec-tests/harness/. */
export function repoRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', '..');
}

/** Finds the static probe: $SPEC_TESTS_PROBE, then the usual CMake output dirs. */
export function findProbe(explicit?: string): string {
  const candidates = [
    explicit,
    process.env.SPEC_TESTS_PROBE,
    path.join(repoRoot(), 'build', 'spec-tests', 'probe', 'tsrun-probe'),
    path.join(repoRoot(), 'build', 'Release', 'tsrun-probe'),
    path.join(repoRoot(), 'build', 'tsrun-probe'),
    '/tmp/probe-build/tsrun-probe',
  ].filter((c): c is string => !!c);
  for (const c of candidates) {
    if (isExecutable(c)) return c;
  }
  throw new Error(
    `tsrun-probe not found (looked in ${candidates.join(', ')}). Build it with ` +
      '`npx cmake-js compile --out build` or `cmake -S spec-tests/probe -B /tmp/probe-build && ' +
      'cmake --build /tmp/probe-build`, or set SPEC_TESTS_PROBE.',
  );
}

export function findBusybox(explicit?: string): string {
  const candidates = [explicit, process.env.SPEC_TESTS_BUSYBOX, '/bin/busybox', '/usr/bin/busybox'].filter((c): c is string => !!c);
  for (const c of candidates) if (isExecutable(c)) return c;
  throw new Error('a static busybox is needed (Debian: apt-get install busybox-static) or set SPEC_TESTS_BUSYBOX');
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export interface RootfsTemplate {
  dir: string;
  applets: string[];
}

export function prepareTemplate(dir: string, busybox: string, probe: string): RootfsTemplate {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.copyFileSync(busybox, path.join(dir, 'busybox'));
  fs.copyFileSync(probe, path.join(dir, 'tsrun-probe'));
  fs.chmodSync(path.join(dir, 'busybox'), 0o755);
  fs.chmodSync(path.join(dir, 'tsrun-probe'), 0o755);
  const list = execFileSync(busybox, ['--list'], { encoding: 'utf8' });
  const applets = list
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => /^[\w.[-]+$/.test(s) && s !== 'busybox');
  return { dir, applets };
}

/** Lays out a fresh rootfs at `dest`. Everything is world-readable so mapped
 * users (user namespaces, non-root process.user) can use it. */
export function makeRootfs(tpl: RootfsTemplate, dest: string): void {
  for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'etc', 'root', 'mnt', 'run', 'var', 'home']) {
    fs.mkdirSync(path.join(dest, d), { recursive: true, mode: 0o755 });
  }
  fs.chmodSync(path.join(dest, 'tmp'), 0o1777);
  fs.chmodSync(dest, 0o755);
  fs.linkSync(path.join(tpl.dir, 'busybox'), path.join(dest, 'bin', 'busybox'));
  fs.linkSync(path.join(tpl.dir, 'tsrun-probe'), path.join(dest, 'bin', 'tsrun-probe'));
  for (const a of tpl.applets) {
    try {
      fs.symlinkSync('busybox', path.join(dest, 'bin', a));
    } catch {
      /* duplicate applet names */
    }
  }
  fs.writeFileSync(
    path.join(dest, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nspec:x:1000:1000:spec:/home:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  );
  fs.writeFileSync(path.join(dest, 'etc', 'group'), 'root:x:0:\nspec:x:1000:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(dest, 'etc', 'spec-secret'), 'secret-content\n');
  fs.mkdirSync(path.join(dest, 'etc', 'spec-secret-dir'), { mode: 0o755 });
  fs.writeFileSync(path.join(dest, 'etc', 'spec-secret-dir', 'inner'), 'inner-secret\n');
}
