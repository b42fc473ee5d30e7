/**
 * What a hostile image or container does to tsrun itself (docs/security.md,
 * "Holes found by attacking tsrun itself"): each test is the attack that
 * worked against tsrun before its fix, performed with a real container, and
 * where runc can run the same bundle its result is logged beside ours.
 *
 * The attacking process is busybox or `tsrun-attacker` (tests/fixtures/
 * attacker.c, static): it grabs /proc/<pid>/exe of every process that
 * appears in its pid namespace and tries to reopen it for writing
 * (CVE-2019-5736), or reads a process's memory.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import { ENGINE, IS_ROOT, ROOT, RUNC, TSRUN, makeBundle, runtime, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';
import { as, chownTree, setUp } from '../helpers/rootless.js';
import { waitForSync as waitFor } from '../helpers/wait.js';

const rootTest = IS_ROOT ? test.serial : test.skip;
const ATTACKER = path.join(ROOT, 'build', 'tsrun-attacker');

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A host dir the container writes its findings to (mode 0777: any container user may). */
function outDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-hostile-'));
  fs.chmodSync(d, 0o777);
  dirs.push(d);
  return d;
}

const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
const sha256 = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

function withAttacker(b: Bundle): void {
  fs.copyFileSync(ATTACKER, path.join(b.rootfs, 'bin', 'attacker'));
  fs.chmodSync(path.join(b.rootfs, 'bin', 'attacker'), 0o755);
}

// ---------------------------------------------------------------------------
// A startContainer hook is the image's program (its path resolves in the
// container): it ran from `tsrun start` as host root with every capability.

/** What a process reports of its confinement: status lines and its cgroups. */
const REPORT = "grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; cat /proc/self/cgroup";

rootTest(
  'a startContainer hook (the image’s binary) is confined exactly as the program: user, capabilities, no_new_privs, seccomp, cgroup',
  (t) => {
    const results: Record<string, { program: string; hook: string; mknod: boolean }> = {};
    for (const [name, bin] of [
      ['tsrun', TSRUN],
      ['runc', RUNC],
    ] as const) {
      if (!bin) continue;
      const out = outDir();
      const b = makeBundle((s) => {
        s.process!.user = { uid: 1000, gid: 1000 };
        s.process!.args = ['sh', '-c', `{ ${REPORT}; } > /out/program`];
        s.mounts!.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
        s.hooks = {
          startContainer: [
            {
              path: '/bin/sh',
              args: ['sh', '-c', `{ ${REPORT}; } > /out/hook; mknod /out/kmsg c 1 11 2>/dev/null && echo yes > /out/mknod; true`],
            },
          ],
        };
      });
      // uid 1000 must reach /bin/sh (the template's dirs are mkdtemp's 0700)
      for (const d of [b.dir, b.rootfs, path.join(b.rootfs, 'bin')]) fs.chmodSync(d, 0o755);
      try {
        const r = runtime(bin, tempRoot(), ['run', '-b', b.dir, uniqueId('starthook')]);
        t.is(r.status, 0, `${name} run: ${r.stderr}`);
        // runc runs the hook after `start` has returned: wait for its report
        t.true(
          waitFor(() => read(path.join(out, 'hook')).includes('cgroup') || read(path.join(out, 'hook')).includes(':/')),
          `${name}: the hook reported`,
        );
        results[name] = {
          program: read(path.join(out, 'program')),
          hook: read(path.join(out, 'hook')),
          mknod: fs.existsSync(path.join(out, 'mknod')),
        };
      } finally {
        b.cleanup();
      }
    }
    const ours = results.tsrun!;
    t.not(ours.program, '', 'the program reported');
    t.is(ours.hook, ours.program, 'the hook has the program’s ids, capabilities, no_new_privs, seccomp mode and cgroups');
    t.false(ours.mknod, 'the hook could not make /dev/kmsg (c 1 11)');
    if (results.runc) {
      t.log(
        `runc: hook ${results.runc.hook === results.runc.program ? 'confined as the program' : 'NOT confined as the program'}, mknod ${results.runc.mknod ? 'worked' : 'refused'}`,
      );
    }
  },
);

// ---------------------------------------------------------------------------
// CVE-2019-5736 for a container granted CAP_SYS_PTRACE: non-dumpability does
// not stop it from opening /proc/<pid>/exe of a process exec'd into it (or
// of an init joining its pid namespace) before that process exec's.

function capPtrace(s: Spec): void {
  const c = s.process!.capabilities!;
  for (const set of ['bounding', 'effective', 'permitted'] as const) c[set] = [...(c[set] ?? []), 'CAP_SYS_PTRACE'];
}

interface GrabResult {
  grabbed: string[];
  writable: string[];
  done: boolean;
}

/** The attacker container runs `grab-exe`; `act` drives the runtime meanwhile; then the attacker retries its grabs for a while. */
function grabExe(t: ExecutionContext, bin: string, act: (root: string, id: string, pid: number) => void): GrabResult {
  const out = outDir();
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', '/bin/attacker grab-exe /out/stop > /out/log'];
    s.mounts!.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
    capPtrace(s);
  });
  withAttacker(b);
  const root = tempRoot();
  const id = uniqueId('grabber');
  const log = path.join(out, 'log');
  try {
    t.is(runtime(bin, root, ['run', '-d', '-b', b.dir, id]).status, 0);
    const pid = JSON.parse(runtime(bin, root, ['state', id]).stdout).pid as number;
    act(root, id, pid);
    // Every runtime process has exited: the exploit's moment. The attacker
    // makes one more pass of reopening what it holds when told to stop.
    fs.writeFileSync(path.join(out, 'stop'), '');
    t.true(
      waitFor(() => read(log).includes('DONE')),
      'the attacker finished',
    );
  } finally {
    runtime(bin, root, ['delete', '--force', id]);
    b.cleanup();
  }
  const lines = read(log).split('\n');
  return {
    grabbed: lines.filter((l) => l.startsWith('GRABBED ')).map((l) => l.slice(8)),
    writable: lines.filter((l) => l.startsWith('WRITABLE ')).map((l) => l.slice(9)),
    done: lines.some((l) => l.startsWith('DONE')),
  };
}

rootTest(
  'CVE-2019-5736 with CAP_SYS_PTRACE in the container: the exe of an exec’d process or a joining init is a sealed copy, never writable',
  (t) => {
    const engine = fs.realpathSync(ENGINE[0]!);
    const binaries = [fs.realpathSync(TSRUN), engine, path.join(ROOT, 'build', 'Release', 'tsrun-init')].filter((f) => fs.existsSync(f));
    const before = binaries.map(sha256);
    const attack = (bin: string) =>
      grabExe(t, bin, (root, id, pid) => {
        let busy = 0;
        for (let i = 0; i < 40; i++) {
          const ex = runtime(bin, root, ['exec', id, 'true']);
          // The attacker's own doing, not the runtime's: each reopen of a
          // grabbed exe for writing (refused: the rootfs is read-only) holds
          // the inode's write count for an instant before the refusal, and an
          // execve of the same file at that instant fails with ETXTBSY (the
          // kernel's do_dentry_open takes write access before the mount's).
          if (ex.status !== 0 && /: ETXTBSY \(exec\)/.test(ex.stderr)) busy++;
          else t.is(ex.status, 0, `exec ${i}: status ${ex.status}, signal ${ex.signal}: ${ex.stderr}`);
        }
        t.true(busy <= 4, `${busy} of 40 execs met the attacker's ETXTBSY`);
        // inits set up in the attacker's pid namespace
        for (let i = 0; i < 8; i++) {
          const b = makeBundle((s) => {
            s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'pid' ? { type: 'pid', path: `/proc/${pid}/ns/pid` } : n));
          });
          const bid = uniqueId('joiner');
          t.is(runtime(bin, root, ['run', '-b', b.dir, bid]).status, 0);
          b.cleanup();
        }
      });
    const ours = attack(TSRUN);
    t.true(ours.done);
    t.true(ours.grabbed.length > 0, 'the attack reached the exe of a runtime process at least once (else it proves nothing)');
    t.deepEqual(ours.writable, [], 'no exe it grabbed could be reopened for writing');
    t.deepEqual(binaries.map(sha256), before, 'the runtime’s files are unchanged');
    t.log(`tsrun: grabbed ${ours.grabbed.join(', ')}`);
    if (RUNC) {
      const theirs = attack(RUNC);
      t.log(`runc: grabbed ${theirs.grabbed.join(', ') || 'nothing'}; writable: ${theirs.writable.join(', ') || 'none'}`);
    }
  },
);

// ---------------------------------------------------------------------------
// Rootless: the created init waits dumpable (so the user may join it); a
// process exec'd into the container may then read its memory.

const rootless = setUp();
const rootlessTest = rootless.who ? test.serial : test.skip;

/** A bundle the rootless user owns: busybox, the attacker, `image` on the rootfs, `tsrun spec --rootless` as the user, then `mutate`. */
function rootlessBundle(args: string[], mutate?: (s: Spec) => void, image?: (rootfs: string) => void): Bundle {
  const who = rootless.who!;
  const b = makeBundle();
  withAttacker(b);
  image?.(b.rootfs);
  fs.chmodSync(b.dir, 0o755);
  chownTree(b.dir, who.uid, who.gid);
  fs.rmSync(path.join(b.dir, 'config.json'));
  const made = as(who, TSRUN, ['spec', '--rootless', '-b', b.dir]);
  if (made.status !== 0) throw new Error(`tsrun spec --rootless: ${made.stderr}`);
  b.spec = JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')) as Spec;
  b.spec.ociVersion = '1.0.2-dev';
  b.spec.process!.terminal = false;
  b.spec.process!.args = args;
  b.spec.root!.readonly = false;
  mutate?.(b.spec);
  b.write();
  fs.chownSync(path.join(b.dir, 'config.json'), who.uid, who.gid);
  return b;
}

rootlessTest('rootless: a process exec’d into a created container finds nothing of the caller’s in the waiting init’s memory', (t) => {
  const who = rootless.who!;
  const secret = `AWS_SECRET_ACCESS_KEY=tsrun-secret-${process.pid}-${Date.now()}`;
  const token = `GITHUB_TOKEN=ghp_tsrun${process.pid}x${Date.now()}`;
  const env = Object.fromEntries([secret, token].map((kv) => kv.split('=') as [string, string]));
  const b = rootlessBundle(['true']);
  const id = uniqueId('memscan');
  const tsrun = (args: string[]) => as(who, TSRUN, args, undefined, { env });
  try {
    const c = tsrun(['create', '-b', b.dir, id]);
    t.is(c.status, 0, c.stderr);
    for (const needle of [secret.split('=')[1]!, token.split('=')[1]!]) {
      const r = tsrun(['exec', id, '/bin/attacker', 'memscan', '1', needle]);
      t.is(r.status, 0, r.stderr);
      const m = /scanned=(\d+) hits=(\d+)/.exec(r.stdout);
      t.truthy(m, r.stdout);
      t.true(Number(m![1]) > 0, 'the scan read the init’s memory');
      t.is(Number(m![2]), 0, `${needle.slice(0, 12)}… is not in the waiting init’s memory`);
    }
  } finally {
    tsrun(['delete', '--force', id]);
    b.cleanup();
  }
});

// ---------------------------------------------------------------------------
// The init trusted files under the container's /proc. Without a proc mount
// (rootless), /proc is the image's.

/** A /proc/self/stat whose env_start and env_end (fields 50, 51) are lo and hi. */
function fakeStat(lo: bigint, hi: bigint): string {
  const fields = Array.from({ length: 52 }, (_, i) => (i === 50 ? lo : i === 51 ? hi : 1n).toString());
  return `1 (init) S ${fields.slice(4).join(' ')}\n`;
}

/** No procfs in the container: the image's /proc stands. */
const withoutProc = (s: Spec) => {
  s.mounts = s.mounts!.filter((m) => m.type !== 'proc');
};

/** Fake fifos where the init's fds would be, and a fake stat. */
function fakeProcImage(stat: string): (rootfs: string) => void {
  return (rootfs) => {
    const fd = path.join(rootfs, 'proc', 'self', 'fd');
    fs.mkdirSync(fd, { recursive: true });
    for (let n = 3; n <= 40; n++) spawnSync('mkfifo', ['-m', '0666', path.join(fd, String(n))]);
    fs.writeFileSync(path.join(rootfs, 'proc', 'self', 'stat'), stat);
  };
}

/** A writable address range of the runtime's engine when it is not position-independent (the compiled Bun CLI), else null. */
function engineWritableRange(): [bigint, bigint] | null {
  const engine = fs.realpathSync(ENGINE[0]!);
  const r = spawnSync('readelf', ['-lWh', engine], { encoding: 'utf8' });
  if (r.status !== 0 || !/Type:\s+EXEC/.test(r.stdout)) return null;
  const rw = r.stdout.split('\n').find((l) => /^\s*LOAD/.test(l) && /\sRW\s/.test(l));
  const f = rw?.trim().split(/\s+/);
  if (!f) return null;
  const start = BigInt(f[2]!) + 0x1000n - (BigInt(f[2]!) % 0x1000n);
  return [start, start + 0x100n];
}

rootlessTest('rootless, no /proc mount: the image’s /proc/self/stat is never read (its env_start/env_end fed a memset)', (t) => {
  const who = rootless.who!;
  const b = rootlessBundle(['sh', '-c', 'echo ran > /ran'], withoutProc, fakeProcImage(fakeStat(0x1000n, 0x2000n)));
  const id = uniqueId('fakestat');
  const tsrun = (args: string[]) => as(who, TSRUN, args);
  try {
    const c = tsrun(['create', '-b', b.dir, id]);
    t.is(c.status, 0, `create: ${c.stderr}`);
    t.is(tsrun(['start', id]).status, 0);
    t.true(
      waitFor(() => fs.existsSync(path.join(b.rootfs, 'ran'))),
      'the program ran',
    );
  } finally {
    tsrun(['delete', '--force', id]);
    b.cleanup();
  }
});

rootlessTest(
  'rootless, no /proc mount: a fake fifo at /proc/self/fd/N read by a process exec’d into the container does not start it',
  (t) => {
    const who = rootless.who!;
    const range = engineWritableRange() ?? [0x1000n, 0x2000n];
    const b = rootlessBundle(['sh', '-c', 'echo ran > /ran'], withoutProc, fakeProcImage(fakeStat(range[0], range[1])));
    const id = uniqueId('fakefifo');
    const tsrun = (args: string[]) => as(who, TSRUN, args);
    try {
      t.is(tsrun(['create', '-b', b.dir, id]).status, 0);
      // every fake fifo read at once: the one the init would reopen releases it
      tsrun(['exec', id, 'sh', '-c', 'for n in $(seq 3 40); do timeout 2 cat /proc/self/fd/$n > /dev/null & done; wait']);
      t.false(fs.existsSync(path.join(b.rootfs, 'ran')), 'the program did not run before start');
      t.is(JSON.parse(tsrun(['state', id]).stdout).status, 'created');
      t.is(tsrun(['start', id]).status, 0);
      t.true(
        waitFor(() => fs.existsSync(path.join(b.rootfs, 'ran'))),
        'start runs it',
      );
    } finally {
      tsrun(['delete', '--force', id]);
      b.cleanup();
    }
  },
);

rootTest(
  'a user-namespaced container without /proc: an image’s /proc/self/setgroups saying "deny" does not keep the runtime’s groups on exec',
  (t) => {
    const results: Record<string, string> = {};
    for (const [name, bin] of [
      ['tsrun', TSRUN],
      ['runc', RUNC],
    ] as const) {
      if (!bin) continue;
      const b = makeBundle((s) => {
        s.process!.args = ['sleep', '600'];
        s.linux!.namespaces!.push({ type: 'user' });
        s.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
        s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
        withoutProc(s);
      });
      fs.mkdirSync(path.join(b.rootfs, 'proc', 'self'), { recursive: true });
      fs.writeFileSync(path.join(b.rootfs, 'proc', 'self', 'setgroups'), 'deny\n');
      for (const d of [b.dir, b.rootfs, path.join(b.rootfs, 'bin')]) fs.chmodSync(d, 0o755);
      const root = tempRoot();
      const id = uniqueId('setgroups');
      try {
        const r = runtime(bin, root, ['run', '-d', '-b', b.dir, id]);
        if (name === 'runc' && r.status !== 0) {
          results.runc = `refused to run: ${r.stderr.trim()}`; // runc needs /proc/self/fd in the container
          continue;
        }
        t.is(r.status, 0, `${name}: ${r.stderr}`);
        // the runtime with supplementary groups of its own, as a login's root has (0, 6, 27)
        const ex = spawnSync('setpriv', ['--groups=0,6,27', '--', bin, '--root', root, 'exec', '--user', '1000:1000', id, 'id', '-G'], {
          encoding: 'utf8',
          timeout: 30_000,
        });
        t.is(ex.status, 0, `${name} exec: ${ex.stderr}`);
        results[name] = ex.stdout.trim();
      } finally {
        runtime(bin, root, ['delete', '--force', id]);
        b.cleanup();
      }
    }
    t.is(results.tsrun, '1000', 'only the process’s own group: none of the runtime’s');
    if (results.runc !== undefined) t.log(`runc: ${results.runc}`);
  },
);

// ---------------------------------------------------------------------------
// state.json copied a config's unknown hook kinds; the C reader refuses JSON
// nested past 64, so state, start and delete failed and the container leaked.

rootTest('a hook kind tsrun does not know, nested 70 deep, leaves state, start, list and delete --force working', (t) => {
  let deep: unknown = 'x';
  for (let i = 0; i < 70; i++) deep = [deep];
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '600'];
    (s.hooks as Record<string, unknown>) = { unknownKind: deep, poststop: [{ path: '/bin/true' }] };
  });
  const root = tempRoot();
  const id = uniqueId('deephook');
  try {
    t.is(runtime(TSRUN, root, ['create', '-b', b.dir, id]).status, 0);
    const st = runtime(TSRUN, root, ['state', id]);
    t.is(st.status, 0, st.stderr);
    t.is(runtime(TSRUN, root, ['start', id]).status, 0);
    t.regex(runtime(TSRUN, root, ['list', '-q']).stdout, new RegExp(`^${id}$`, 'm'));
    const pid = JSON.parse(st.stdout).pid as number;
    const del = runtime(TSRUN, root, ['delete', '--force', id]);
    t.is(del.status, 0, del.stderr);
    t.true(
      waitFor(() => !fs.existsSync(`/proc/${pid}`)),
      'the init is gone',
    );
    t.false(fs.existsSync(path.join(root, id)), 'the state dir is gone');
  } finally {
    runtime(TSRUN, root, ['delete', '--force', id]);
    b.cleanup();
  }
});
