/**
 * Bad input: a clear message, exit status 1, and nothing left behind (no
 * state dir, no process). Engines then run `delete --force`: it succeeds.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Spec } from '../../lib/config/types.js';
import { IS_ROOT, RUNC, TSRUN, leftIn, makeBundle, processesMatching, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';

const rootTest = IS_ROOT ? test : test.skip;

interface Case {
  name: string;
  /** Prepares the bundle; returns the bundle path to pass (default: the bundle). */
  setup: (dir: string, spec: Spec) => string | void;
  message: RegExp;
  id?: string;
}

const cases: Case[] = [
  { name: 'missing bundle', setup: (dir) => path.join(dir, 'nope'), message: /bundle .*nope: no such file or directory/ },
  {
    name: 'missing config.json',
    setup: (dir) => fs.rmSync(path.join(dir, 'config.json')),
    message: /config\.json: no such file or directory/,
  },
  {
    name: 'invalid JSON',
    setup: (dir) => fs.writeFileSync(path.join(dir, 'config.json'), '{"ociVersion": '),
    message: /config\.json: invalid JSON/,
  },
  {
    name: 'a field of the wrong type',
    setup: (_dir, s) => {
      (s.process!.user as unknown as Record<string, unknown>).uid = 'root';
    },
    message: /process\.user\.uid: must be an integer, got string/,
  },
  {
    name: 'args of the wrong type',
    setup: (_dir, s) => {
      (s.process as unknown as Record<string, unknown>).args = 'sh';
    },
    message: /process\.args: must be an array, got string/,
  },
  {
    name: 'an unsupported ociVersion',
    setup: (_dir, s) => {
      s.ociVersion = '2.0.0';
    },
    message: /ociVersion: unsupported version "2\.0\.0"/,
  },
  {
    name: 'missing rootfs',
    setup: (_dir, s) => {
      s.root!.path = 'no-such-rootfs';
    },
    message: /root\.path: rootfs .*no-such-rootfs does not exist/,
  },
  {
    name: 'hostname without a UTS namespace',
    setup: (_dir, s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts');
    },
    message: /hostname: setting the hostname requires a new UTS namespace/,
  },
  {
    name: 'an rlimit whose soft limit exceeds the hard one',
    setup: (_dir, s) => {
      s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }];
    },
    message: /process\.rlimits\[0\]: soft limit 2048 exceeds hard limit 1024/,
  },
  {
    name: 'a missing executable (PATH lookup)',
    setup: (_dir, s) => {
      s.process!.args = ['no-such-program'];
    },
    message: /exec: "no-such-program": executable file not found in \$PATH/,
  },
  {
    name: 'a missing executable (absolute path)',
    setup: (_dir, s) => {
      s.process!.args = ['/bin/no-such-program'];
    },
    message: /exec: "\/bin\/no-such-program": stat \/bin\/no-such-program: no such file or directory/,
  },
  {
    name: 'a mount the kernel refuses',
    setup: (_dir, s) => {
      s.mounts!.push({ destination: '/bad', type: 'no-such-fs', source: 'none' });
    },
    message: /mount none on \/bad: ENODEV \(mount\)/,
  },
  { name: 'an invalid id', setup: () => undefined, id: 'bad/../id', message: /invalid container id "bad\/\.\.\/id"/ },
];

for (const c of cases) {
  rootTest(`create with ${c.name}: clear error, exit 1, nothing left`, (t) => {
    const root = tempRoot();
    const b = makeBundle();
    const bundle = c.setup(b.dir, b.spec) ?? b.dir;
    if (fs.existsSync(path.join(b.dir, 'config.json')) && !c.name.includes('JSON')) b.write();
    const id = c.id ?? uniqueId('bad');
    const r = runtime(TSRUN, root, ['create', '--bundle', bundle, id]);
    t.is(r.status, 1);
    t.regex(r.stderr, /^tsrun: create: /);
    t.regex(r.stderr, c.message);
    t.is(r.stderr.split('\n').filter(Boolean).length, 1, 'one error line');
    t.is(r.stdout, '');
    t.deepEqual(leftIn(root), [], 'no state dir');
    t.deepEqual(processesMatching(id), [], 'no process');
    const d = runtime(TSRUN, root, ['delete', '--force', id]);
    t.is(d.status, c.id ? 1 : 0, d.stderr);
    b.cleanup();
  });
}

rootTest('a duplicate id is a clean error and leaves the first container alone', (t) => {
  const root = tempRoot();
  const id = uniqueId('dup');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
  });
  t.is(runtime(TSRUN, root, ['create', '-b', b.dir, id]).status, 0);
  const r = runtime(TSRUN, root, ['create', '-b', b.dir, id]);
  t.is(r.status, 1);
  t.is(r.stderr, `tsrun: create: container with id exists: ${id}\n`);
  t.is(JSON.parse(runtime(TSRUN, root, ['state', id]).stdout).status, 'created');
  t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0);
  b.cleanup();
});

rootTest("an unknown capability is ignored with runc's warning", (t) => {
  const root = tempRoot();
  const b = makeBundle((s) => {
    s.process!.capabilities!.bounding = ['CAP_CHOWN', 'CAP_FLY'];
  });
  const r = runtime(TSRUN, root, ['run', '-b', b.dir, uniqueId('cap')]);
  t.is(r.status, 0);
  t.is(r.stderr, 'tsrun: warning: ignoring unknown or unavailable capabilities: [CAP_FLY]\n');
  b.cleanup();
});

rootTest('unknown ids: state, start, kill, delete all say so', (t) => {
  const root = tempRoot();
  for (const args of [['state'], ['start'], ['kill'], ['delete']]) {
    const r = runtime(TSRUN, root, [...args, 'nobody-here']);
    t.is(r.status, 1, args[0]);
    t.is(r.stderr, `tsrun: ${args[0]}: container does not exist\n`);
  }
});

rootTest('--log-format json writes one error object with an RFC3339 time', (t) => {
  const root = tempRoot();
  const b = makeBundle((s) => {
    s.process!.args = ['no-such-program'];
  });
  const log = path.join(b.dir, 'log.json');
  const r = runtime(TSRUN, root, ['--log', log, '--log-format', 'json', 'create', '-b', b.dir, uniqueId('log')]);
  t.is(r.status, 1);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  t.is(lines.length, 1);
  const entry = JSON.parse(lines[0]!) as { level: string; msg: string; time: string };
  t.is(entry.level, 'error');
  t.regex(entry.msg, /executable file not found in \$PATH/);
  t.false(Number.isNaN(Date.parse(entry.time)));
  t.regex(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.regex(r.stderr, /executable file not found in \$PATH/, 'the message is on stderr too');
  b.cleanup();
});

const runcTest = IS_ROOT && RUNC ? test : test.skip;

runcTest("missing executables fail at create with runc's wording", (t) => {
  for (const prog of ['no-such-program', '/bin/no-such-program']) {
    const b = makeBundle((s) => {
      s.process!.args = [prog];
    });
    const ours = runtime(TSRUN, tempRoot(), ['create', '-b', b.dir, uniqueId('x')]);
    const theirs = runtime(RUNC!, tempRoot(), ['create', '-b', b.dir, uniqueId('x')]);
    t.is(ours.status, 1);
    t.is(theirs.status, 1);
    const core = /exec: .*?(?:\$PATH|directory)/;
    t.is(core.exec(ours.stderr)?.[0], core.exec(theirs.stderr.replace(/\\"/g, '"'))?.[0]);
    b.cleanup();
  }
});

rootTest('works with the empty environment podman uses (no PATH at all)', (t) => {
  const root = tempRoot();
  const id = uniqueId('noenv');
  const b = makeBundle((s) => {
    s.process!.args = ['sleep', '60'];
  });
  const noEnv = (args: string[]) =>
    spawnSync(TSRUN, ['--root', root, ...args], { env: { XDG_RUNTIME_DIR: '' }, stdio: 'ignore', timeout: 30_000, cwd: '/' }).status;
  t.is(noEnv(['create', '-b', b.dir, id]), 0);
  t.is(noEnv(['kill', id, '9']), 0);
  t.is(noEnv(['delete', '--force', id]), 0);
  t.is(noEnv(['delete', '--force', id]), 0, 'and again, for a missing id');
  b.cleanup();
});

rootTest('a runtime that cannot start (its addon missing) fails in one line, exit 1, no engine stack trace', (t) => {
  const b = makeBundle();
  t.teardown(() => b.cleanup());
  const r = spawnSync(TSRUN, ['--root', tempRoot(), 'run', '-b', b.dir, uniqueId('noaddon')], {
    encoding: 'utf8',
    env: { ...process.env, TSRUN_ADDON: '/nonexistent/tsrun.node' },
  });
  t.is(r.status, 1, r.stderr);
  t.regex(r.stderr, /^tsrun: run: Cannot find module '\/nonexistent\/tsrun\.node'\n$/);
});

rootTest('as a user who may not use /run/tsrun (no XDG_RUNTIME_DIR): the error says what to set, from the front and from the CLI', (t) => {
  const b = makeBundle();
  t.teardown(() => b.cleanup());
  fs.chmodSync(b.dir, 0o755);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'XDG_RUNTIME_DIR'));
  const hint = /\(running as uid 65534: set XDG_RUNTIME_DIR, or pass --root a directory of yours\)\n$/;
  // list and state are the front's (C), run the CLI's (TypeScript)
  for (const args of [['list'], ['state', 'x'], ['run', '-b', b.dir, 'x']]) {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', TSRUN, ...args], { encoding: 'utf8', env });
    t.is(r.status, 1, `${args[0]}: ${r.stderr}`);
    t.regex(r.stderr, hint, args[0]);
  }
});
