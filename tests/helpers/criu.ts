/**
 * A CRIU that works on this machine's kernel, for the checkpoint tests.
 * Debian 12's criu 3.17 fails `criu check` on the 6.x kernels of the build
 * machines (it does not know their vDSO layout); trixie's criu 4.x works.
 * So: `criu` on PATH when its check passes, else trixie's from the
 * production lane's root (tests/vm/run-in-vm.sh --host trixie builds it on
 * first use), run with trixie's own loader and libraries.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

let found: { bin: string; version: string } | { skip: string } | null = null;

function works(bin: string): string | null {
  const check = spawnSync(bin, ['check'], { encoding: 'utf8' });
  if (check.status !== 0) return null;
  return spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.trim() ?? '?';
}

/** The CRIU binary to give tsrun ($TSRUN_CRIU) and runc (PATH), or why there is none. */
export function testCriu(): { bin: string; version: string } | { skip: string } {
  if (found) return found;
  const onPath = spawnSync('sh', ['-c', 'command -v criu'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) {
    const v = works(onPath);
    if (v) return (found = { bin: onPath, version: v });
  }
  const info = spawnSync('bash', [path.resolve('tests/vm/run-in-vm.sh'), '--host', 'trixie', '--info'], {
    encoding: 'utf8',
    timeout: 900_000,
  });
  const root = /^root: (.*)$/m.exec(info.stdout)?.[1];
  if (!root) return (found = { skip: `no CRIU: criu check fails here and the trixie root could not be built: ${info.stderr.slice(-300)}` });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-criu-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'criu');
  fs.writeFileSync(
    bin,
    `#!/bin/sh\nexec ${root}/lib64/ld-linux-x86-64.so.2 --library-path ${root}/usr/lib/x86_64-linux-gnu ${root}/usr/sbin/criu "$@"\n`,
    { mode: 0o755 },
  );
  const v = works(bin);
  return (found = v ? { bin, version: v } : { skip: `trixie's criu (${root}) fails criu check here` });
}
