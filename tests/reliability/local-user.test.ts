/**
 * Another local user against what root's tsrun keeps on disk: the compiled
 * seccomp filters (the cache, and each container's copy in its state dir),
 * the state root itself, and the temporary name of a --pid-file. The
 * attacker is a real unprivileged user (`nobody`) doing real file
 * operations with busybox/coreutils; root runs real containers. What runc
 * 1.1.5 does on the same attack is logged (docs/security.md, "Holes found
 * by attacking tsrun itself").
 */
import test, { type ExecutionContext } from 'ava';
import { createHmac, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT, RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';

const NOBODY = (() => {
  const r = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' });
  return r.status === 0 && g.status === 0 ? { uid: Number(r.stdout), gid: Number(g.stdout) } : null;
})();
const rootTest = IS_ROOT && NOBODY ? test : test.skip;

/** A filter of one instruction, BPF_RET|BPF_K SECCOMP_RET_ALLOW: what the attacker wants root to load. */
const RET_ALLOW = Buffer.from([0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f]);

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A temp dir removed at exit; `mode` 1777 makes it a shared /tmp of its own. */
function tempDir(prefix: string, mode = 0o700): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `tsrun-lu-${prefix}-`));
  fs.chmodSync(d, mode);
  dirs.push(d);
  return d;
}

/** The attacker: `sh -c script` as nobody, with positional arguments. */
function attacker(script: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', script, 'attacker', ...args], {
    uid: NOBODY!.uid,
    gid: NOBODY!.gid,
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A container under the default profile of `tsrun spec`, which refuses unshare: `busybox unshare -U true` fails there. */
function unshareBundle(): Bundle {
  const b = makeBundle((s) => {
    s.process!.args = ['/bin/busybox', 'sh', '-c', 'busybox unshare -U true && echo UNCONFINED || echo confined'];
  });
  if (!b.spec.linux?.seccomp) throw new Error('the default spec has no seccomp profile');
  return b;
}

/** Every file under `dir` owned by root (what root's tsrun wrote there). */
function rootOwned(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.uid === 0 && p !== dir) out.push(p);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

/** The cache entries of root's compiled filters, wherever this tsrun keeps them for `root`. */
function cacheEntries(root: string): string[] {
  const out: string[] = [];
  for (const dir of [path.join(root, '.cache', 'seccomp'), path.join(path.dirname(root), '.tsrun-cache', 'seccomp')])
    if (fs.existsSync(dir)) out.push(...fs.readdirSync(dir).filter((f) => f.endsWith('.json')));
  return out;
}

/** A cache entry as tsrun writes it, authenticated with `key`: the format is public, the key is the attacker's own. */
function forgedEntry(key: Buffer, name: string): string {
  const cacheKey = name.replace(/\.json$/, '');
  const bpf = RET_ALLOW.toString('base64');
  const mac = createHmac('sha256', key)
    .update(JSON.stringify([cacheKey, bpf, []]))
    .digest('hex');
  return JSON.stringify({ bpf, skipped: [], mac });
}

function logRunc(t: ExecutionContext, what: string, r: { status: number | null; stdout: string; stderr: string }): void {
  t.log(`runc 1.1.5, ${what}: exit ${r.status}; ${(r.stdout + r.stderr).trim().split('\n').slice(-2).join(' | ')}`);
}

// ---------------------------------------------------------------------------
// The seccomp cache

rootTest('seccomp cache: a local user who made the cache directory first cannot swap the filters root compiled for RET_ALLOW', (t) => {
  const shared = tempDir('tmp', 0o1777); // a /tmp of our own
  const root = path.join(shared, 'state');
  // Before root's first create: the attacker makes the cache directory
  // beside the state root (where today's tsrun kept it), open to all.
  const made = attacker('mkdir -p "$1/.tsrun-cache/seccomp" && chmod 777 "$1/.tsrun-cache" "$1/.tsrun-cache/seccomp"', shared);
  t.is(made.status, 0, made.stderr);
  const b = unshareBundle();
  const first = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('lu-cache')]);
  t.regex(first.stdout, /^confined$/m, `the first container is confined: ${first.stdout}${first.stderr}`);
  // Then it swaps every filter it can reach for a single RET_ALLOW.
  const swapped = attacker(
    [
      'find "$1" -name "*.json" -type f 2>/dev/null | while read -r f; do',
      `  printf '%s' '{"bpf":"${RET_ALLOW.toString('base64')}","skipped":[]}' > "$f.new" && mv -f "$f.new" "$f" && echo "$f"`,
      'done',
    ].join('\n'),
    shared,
  );
  t.log(`the attacker swapped: ${swapped.stdout.trim() || 'nothing it could reach'}`);
  const second = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('lu-cache')]);
  t.is(second.status, 0, second.stderr);
  t.regex(second.stdout, /^confined$/m, `root's next container must still be confined (unshare refused), got: ${second.stdout}`);
  t.deepEqual(rootOwned(path.join(shared, '.tsrun-cache')), [], 'root wrote nothing into the directory the attacker made');
  if (RUNC)
    logRunc(t, 'same bundle (it compiles every time: no cache)', runtime(RUNC, tempRoot(), ['run', '-b', b.dir, uniqueId('lu-cache')]));
  b.cleanup();
});

rootTest('seccomp cache: a state root another user made first is refused, with its cache and a MAC under a key of the attacker', (t) => {
  const b = unshareBundle();
  // The name of the default profile's entry is no secret (a hash of the
  // addon build, the kernel and the profile): learn it from a run of our own.
  const own = path.join(tempDir('own'), 'state');
  t.is(runtime(TSRUN, own, ['run', '-b', b.dir, uniqueId('lu-learn')]).status, 0);
  const names = cacheEntries(own);
  t.is(names.length, 1, `one cache entry: ${names.join(' ')}`);
  const name = names[0]!;

  const shared = tempDir('tmp', 0o1777);
  const root = path.join(shared, 'state');
  const key = randomBytes(32);
  // The attacker makes the state root itself (and the old cache beside it),
  // with a key of its own and the entry authenticated under it.
  const made = attacker(
    [
      'set -e',
      'for d in "$1/state/.cache/seccomp" "$1/.tsrun-cache/seccomp"; do',
      '  mkdir -p "$d"; printf "%s" "$3" > "$d/$2"',
      'done',
      'printf "%s" "$4" | base64 -d > "$1/state/.cache/seccomp/key"',
      'chmod 600 "$1/state/.cache/seccomp/key"',
      'chmod 777 "$1/state" "$1/state/.cache" "$1/state/.cache/seccomp"',
    ].join('\n'),
    shared,
    name,
    forgedEntry(key, name),
    key.toString('base64'),
  );
  t.is(made.status, 0, made.stderr);
  const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('lu-root')]);
  t.notRegex(r.stdout, /UNCONFINED/, 'no container of root runs unconfined');
  t.is(r.status, 1, `refused: ${r.stdout}${r.stderr}`);
  t.regex(r.stderr, /\/state is owned by uid \d+, not 0: refusing a state root another user can change/, r.stderr);
  t.deepEqual(rootOwned(root), [], 'root wrote nothing into the state root the attacker made');
  if (RUNC) {
    const rr = runtime(RUNC, root, ['run', '-b', b.dir, uniqueId('lu-root')]);
    logRunc(t, 'the same attacker-made root (it keeps its state there)', rr);
    runtime(RUNC, root, ['delete', '--force', uniqueId('lu-root')]);
  }
  b.cleanup();
});

rootTest('seccomp cache: a cache directory inside the root that another user can write is ignored, and --debug says why', (t) => {
  const b = unshareBundle();
  const root = path.join(tempDir('dbg', 0o755), 'state');
  t.is(runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('lu-dbg')]).status, 0, 'fills the cache');
  const names = cacheEntries(root);
  t.is(names.length, 1, `one cache entry: ${names.join(' ')}`);
  const dir = path.join(root, '.cache', 'seccomp');
  t.true(fs.existsSync(dir), 'the cache is inside the state root');
  // Careless modes, but private ones: the attacker may pass through the
  // root and .cache (0711), not write them. Then the cache dir itself is
  // given to it, or opened to all.
  fs.chmodSync(root, 0o711);
  fs.chmodSync(path.dirname(dir), 0o711);
  for (const [how, prepare] of [
    ['handed to the attacker (chown)', () => fs.chownSync(dir, NOBODY!.uid, NOBODY!.gid)],
    ['opened to all (chmod 777)', () => (fs.chownSync(dir, 0, 0), fs.chmodSync(dir, 0o777))],
  ] as const) {
    prepare();
    const key = randomBytes(32);
    const planted = attacker(
      'set -e; rm -f "$1/key" "$1/$2"; printf "%s" "$3" > "$1/$2"; printf "%s" "$4" | base64 -d > "$1/key"; chmod 600 "$1/key"',
      dir,
      names[0]!,
      forgedEntry(key, names[0]!),
      key.toString('base64'),
    );
    t.is(planted.status, 0, `${how}: ${planted.stderr}`);
    const r = runtime(TSRUN, root, ['--debug', 'run', '-b', b.dir, uniqueId('lu-dbg')]);
    t.is(r.status, 0, `${how}: ${r.stderr}`);
    t.regex(r.stdout, /^confined$/m, `${how}: the forged filter is not loaded`);
    t.regex(r.stderr, /seccomp cache.*(owned by uid|writable by).*compil/, `${how}: --debug says the cache is ignored`);
  }
  b.cleanup();
});

// ---------------------------------------------------------------------------
// The container's own copy of its filter (seccomp.bpf), and the state dir it is in

rootTest('a state dir another user swapped is not trusted: exec loads no forged filter, delete runs no forged hook', (t) => {
  const root = tempRoot();
  const b = makeBundle((s) => (s.process!.args = ['sleep', '1000']));
  const running = uniqueId('lu-exec');
  const created = uniqueId('lu-del');
  t.is(runtime(TSRUN, root, ['run', '-d', '-b', b.dir, running]).status, 0);
  t.is(runtime(TSRUN, root, ['create', '-b', b.dir, created]).status, 0);
  // What the forged records say is public: the init's pid and start time
  // are in /proc, the rest in the bundle. The poststop hook is the
  // attacker's own: the runtime runs it, as itself, on the host.
  const forged = (id: string, hooks?: object) => {
    const st = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as Record<string, unknown>;
    return JSON.stringify({ ...st, seccomp: { flags: 0, listenerPath: null }, ...(hooks ? { hooks } : {}) });
  };
  const proof = path.join(tempDir('proof', 0o755), 'ran-as');
  const hook = { poststop: [{ path: '/bin/sh', args: ['sh', '-c', `id -u > ${proof}`] }] };
  const records = [forged(running), forged(created, hook)];
  // A root opened to other users after the containers were made (or made by
  // a tsrun that did not check): the attacker swaps each container's dir
  // for its own, with a RET_ALLOW filter.
  fs.chmodSync(root, 0o777);
  const swap = attacker(
    [
      'set -e',
      'swap() { mv "$1/$2" "$1/$2.orig"; mkdir -m 711 "$1/$2"; printf %s "$3" > "$1/$2/state.json"; printf %s "$4" | base64 -d > "$1/$2/seccomp.bpf"; }',
      'swap "$1" "$2" "$4" "$6"',
      'swap "$1" "$3" "$5" "$6"',
    ].join('\n'),
    root,
    running,
    created,
    records[0]!,
    records[1]!,
    RET_ALLOW.toString('base64'),
  );
  t.is(swap.status, 0, swap.stderr);
  const exec = runtime(TSRUN, root, [
    'exec',
    running,
    '/bin/busybox',
    'sh',
    '-c',
    'busybox unshare -U true && echo UNCONFINED || echo confined',
  ]);
  const del = runtime(TSRUN, root, ['delete', '--force', created]);
  const hookRan = fs.existsSync(proof) ? `as uid ${fs.readFileSync(proof, 'utf8').trim()}` : null;
  t.log(`exec: exit ${exec.status} ${exec.stdout.trim()} ${exec.stderr.trim()}`);
  t.log(`delete: exit ${del.status} ${del.stderr.trim()}; the attacker's poststop hook ${hookRan ? `ran ${hookRan}` : 'did not run'}`);
  t.notRegex(exec.stdout, /UNCONFINED/, 'exec never runs under the forged filter');
  t.is(exec.status, 255, "exec refuses the swapped state dir (runc's exit code of a failed exec)");
  t.regex(exec.stderr, /(owned by uid|writable by)/);
  t.is(hookRan, null, "root never runs the attacker's hook");
  t.is(del.status, 1, 'delete refuses the swapped state dir');
  t.regex(del.stderr, /(owned by uid|writable by)/);
  // put the real dirs back, to delete the containers
  fs.chmodSync(root, 0o700);
  for (const id of [running, created]) {
    fs.rmSync(path.join(root, id), { recursive: true, force: true });
    fs.renameSync(path.join(root, `${id}.orig`), path.join(root, id));
    runtime(TSRUN, root, ['delete', '--force', id]);
  }
  t.deepEqual(leftIn(root), []);
  b.cleanup();
});

rootTest("a container dir that is a symlink, or not the runtime user's, is refused by exec and by the front's commands", (t) => {
  const root = tempRoot();
  const b = makeBundle((s) => (s.process!.args = ['sleep', '1000']));
  const id = uniqueId('lu-dir');
  t.is(runtime(TSRUN, root, ['run', '-d', '-b', b.dir, id]).status, 0);
  const dir = path.join(root, id);
  const moved = path.join(tempDir('moved'), id);
  const commands = [
    ['exec', id, 'true'],
    ['kill', id, 'KILL'],
    ['pause', id],
    ['delete', '--force', id],
  ];
  const refusals = (pattern: RegExp) => {
    for (const c of commands) {
      const r = runtime(TSRUN, root, c);
      t.not(r.status, 0, `${c[0]}: ${r.stderr}`);
      t.regex(r.stderr, pattern, c[0]!);
    }
  };
  fs.renameSync(dir, moved);
  fs.symlinkSync(moved, dir);
  refusals(/is a symlink: another user could change this container's state; not trusted/);
  fs.rmSync(dir);
  fs.renameSync(moved, dir);
  fs.chownSync(dir, NOBODY!.uid, NOBODY!.gid);
  refusals(/is owned by uid \d+, not 0: another user could change/);
  fs.chownSync(dir, 0, 0);
  t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0, 'ours again: deleted');
  t.deepEqual(leftIn(root), []);
  b.cleanup();
});

// ---------------------------------------------------------------------------
// --pid-file

rootTest(
  '--pid-file never writes through a symlink another user planted at its temporary name or at the file itself (create, run, exec)',
  (t) => {
    // A directory the user owns, where root is asked to write the pid file.
    const dir = tempDir('pid', 0o755);
    fs.chownSync(dir, NOBODY!.uid, NOBODY!.gid);
    const victims = tempDir('victim', 0o755);
    const b = makeBundle((s) => (s.process!.args = ['sleep', '1000']));
    const ids: Record<string, string> = {};
    const results: Record<string, string> = {};
    const victimsOf = (cmd: string) => [path.join(victims, `${cmd}-tmp`), path.join(victims, `${cmd}-target`)];
    const check = (bin: string, root: string, cmd: 'create' | 'run' | 'exec') => {
      for (const v of victimsOf(cmd)) fs.writeFileSync(v, 'precious\n', { mode: 0o644 });
      const pidFile = path.join(dir, `${path.basename(bin)}-${cmd}.pid`);
      // the name runc and today's tsrun write first, and the file itself
      const planted = attacker(
        'rm -f "$1/.$2" "$1/$2"; ln -s "$3" "$1/.$2" && ln -s "$4" "$1/$2"',
        dir,
        path.basename(pidFile),
        ...victimsOf(cmd),
      );
      t.is(planted.status, 0, planted.stderr);
      let r;
      if (cmd === 'exec') {
        // into a container of its own (runc's run above failed on its planted name)
        ids.exec = uniqueId('lu-pid-exec');
        t.is(runtime(bin, root, ['run', '-d', '-b', b.dir, ids.exec]).status, 0);
        r = runtime(bin, root, ['exec', '-d', '--pid-file', pidFile, ids.exec, 'sleep', '1000']);
      } else {
        ids[cmd] = uniqueId(`lu-pid-${cmd}`);
        r = runtime(bin, root, [cmd, ...(cmd === 'run' ? ['-d'] : []), '-b', b.dir, '--pid-file', pidFile, ids[cmd]!]);
      }
      for (const v of victimsOf(cmd)) t.is(fs.readFileSync(v, 'utf8'), 'precious\n', `${bin} ${cmd}: ${v} was written through a symlink`);
      results[`${path.basename(bin)} ${cmd}`] = `exit ${r.status} ${r.stderr.trim().split('\n').pop() ?? ''}`;
      return { r, pidFile };
    };
    const root = tempRoot();
    for (const cmd of ['create', 'run', 'exec'] as const) {
      const { r, pidFile } = check(TSRUN, root, cmd);
      t.is(r.status, 0, `tsrun ${cmd}: ${r.stderr}`);
      const st = fs.lstatSync(pidFile);
      t.true(st.isFile(), `tsrun ${cmd}: the pid file is a regular file now, not the planted symlink`);
      t.is(st.uid, 0);
      t.regex(fs.readFileSync(pidFile, 'utf8'), /^[1-9]\d*$/, 'the pid, no newline (runc)');
      t.deepEqual(
        fs.readdirSync(dir).filter((f) => f.startsWith(`.tsrun-${cmd}.pid.`)),
        [],
        'no temporary file left behind',
      );
    }
    for (const id of Object.values(ids)) runtime(TSRUN, root, ['delete', '--force', id]);
    if (RUNC) {
      const rroot = tempRoot();
      for (const cmd of ['create', 'run', 'exec'] as const) check(RUNC, rroot, cmd);
      for (const id of Object.values(ids)) runtime(RUNC, rroot, ['delete', '--force', id]);
    }
    t.log(
      Object.entries(results)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; '),
    );
    b.cleanup();
  },
);
