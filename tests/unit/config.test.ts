/** Loading and validation: pure, no root. */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { defaultSpec } from '../../lib/config/default-spec.js';
import { checkShape, loadBundle, specShape } from '../../lib/config/load.js';
import type { Spec } from '../../lib/config/types.js';
import { validateSpec, type ValidationHost } from '../../lib/config/validate.js';
import { ConfigError } from '../../lib/errors.js';
import { rlimitValue } from '../../lib/plan/process.js';

const host: ValidationHost = {
  kind: (p) => (p.endsWith('missing') ? null : p.endsWith('file') ? 'file' : 'dir'),
  // /bundle/link is a symlink to /, /via-link/… goes through one
  realPath: (p) => (p === '/bundle/link' ? '/' : p.startsWith('/via-link/') ? p.replace('/via-link/', '/real/') : p),
};
const opts = { rootfs: '/bundle/rootfs', detach: true, consoleSocket: false };

function spec(mutate?: (s: Spec) => void): Spec {
  const s = defaultSpec();
  s.process!.terminal = false;
  mutate?.(s);
  return s;
}

function configError(t: import('ava').ExecutionContext, fn: () => void, fieldPath: string, message: RegExp): void {
  const e = t.throws(fn, { instanceOf: ConfigError });
  t.is(e?.path, fieldPath);
  t.regex(e?.message ?? '', message);
}

test('the default spec validates', (t) => {
  t.notThrows(() => validateSpec(spec(), host, opts));
});

test('every ociVersion from 1.0.0 to 1.3.x is accepted, with suffixes', (t) => {
  for (const v of ['1.0.0', '1.0.2-dev', '1.1.0', '1.2.0-rc.1', '1.2.1', '1.3.0', '1.3.7-dev']) {
    t.notThrows(
      () =>
        validateSpec(
          spec((s) => (s.ociVersion = v)),
          host,
          opts,
        ),
      v,
    );
  }
  for (const v of ['0.9.0', '1.4.0', '2.0.0', 'latest', '', '1.0']) {
    configError(
      t,
      () =>
        validateSpec(
          spec((s) => (s.ociVersion = v)),
          host,
          opts,
        ),
      'ociVersion',
      /unsupported version/,
    );
  }
});

test('shape errors name the JSON path', (t) => {
  const bad = JSON.parse(JSON.stringify(spec())) as Record<string, any>;
  bad.process.rlimits[0].soft = 1.5;
  configError(t, () => checkShape(bad, specShape, ''), 'process.rlimits[0].soft', /must be an integer, got 1\.5/);
  const bad2 = JSON.parse(JSON.stringify(spec())) as Record<string, any>;
  bad2.mounts[2].options = 'nosuid';
  configError(t, () => checkShape(bad2, specShape, ''), 'mounts[2].options', /must be an array, got string/);
  const bad3 = JSON.parse(JSON.stringify(spec())) as Record<string, any>;
  delete bad3.process.cwd;
  configError(t, () => checkShape(bad3, specShape, ''), 'process.cwd', /is required/);
  configError(t, () => checkShape([] as never, specShape, ''), '(root)', /must be an object, got array/);
});

test('semantic rules name the field', (t) => {
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts'))),
        host,
        opts,
      ),
    'hostname',
    /UTS namespace/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => s.linux!.namespaces!.push({ type: 'pid' })),
        host,
        opts,
      ),
    'linux.namespaces[5].type',
    /duplicate namespace type "pid"/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => s.linux!.namespaces!.push({ type: 'bogus' as never })),
        host,
        opts,
      ),
    'linux.namespaces[5].type',
    /unknown namespace type/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount'))),
        host,
        opts,
      ),
    'linux.maskedPaths',
    /unable to restrict sys entries without a private MNT namespace/,
  );
  // without a mount namespace and without what would change the host's mounts: accepted
  t.notThrows(() =>
    validateSpec(
      spec((s) => {
        s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
        delete s.linux!.maskedPaths;
        delete s.linux!.readonlyPaths;
        s.root!.readonly = false;
      }),
      host,
      opts,
    ),
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.process!.args = [])),
        host,
        opts,
      ),
    'process.args',
    /must name the program/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.process!.cwd = 'relative')),
        host,
        opts,
      ),
    'process.cwd',
    /absolute/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 5 }])),
        host,
        opts,
      ),
    'process.rlimits[0]',
    /soft limit 10 exceeds hard limit 5/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.process!.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }])),
        host,
        opts,
      ),
    'process.rlimits[0].type',
    /unknown rlimit/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.linux!.devices = [{ type: 'c', path: '/dev/x' }])),
        host,
        opts,
      ),
    'linux.devices[0]',
    /major and minor are required/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.linux!.devices = [{ type: 'c', path: 'dev/x', major: 1, minor: 3 }])),
        host,
        opts,
      ),
    'linux.devices[0].path',
    /absolute/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.mounts![0]!.destination = '/a/../../etc')),
        host,
        opts,
      ),
    'mounts[0].destination',
    /must not contain/,
  );
  configError(t, () => validateSpec(spec(), host, { ...opts, rootfs: '/bundle/missing' }), 'root.path', /does not exist/);
  configError(t, () => validateSpec(spec(), host, { ...opts, rootfs: '/bundle/file' }), 'root.path', /not a directory/);
  configError(
    t,
    () => validateSpec(spec(), host, { ...opts, rootfs: '/bundle/link' }),
    'root.path',
    /is a symlink or lies through one \(it resolves to \/\)/,
  );
  configError(t, () => validateSpec(spec(), host, { ...opts, rootfs: '/via-link/rootfs' }), 'root.path', /resolves to \/real\/rootfs/);
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.process!.terminal = true)),
        host,
        opts,
      ),
    'process.terminal',
    /console-socket/,
  );
});

test('unknown capabilities are ignored with a warning, as runc does', (t) => {
  const warnings = validateSpec(
    spec((s) => (s.process!.capabilities!.ambient = ['CAP_NOPE', 'CAP_KILL'])),
    host,
    opts,
  );
  t.deepEqual(warnings, ['ignoring unknown or unavailable capabilities: [CAP_NOPE]']);
});

test('rlimits: RLIM_INFINITY survives JSON doubles', (t) => {
  t.is(rlimitValue(JSON.parse('18446744073709551615') as number), 0xffffffffffffffffn);
  t.is(rlimitValue(-1), 0xffffffffffffffffn);
  t.is(rlimitValue(1024), 1024n);
  t.notThrows(() =>
    validateSpec(
      spec((s) => (s.process!.rlimits = [{ type: 'RLIMIT_CPU', soft: 1024, hard: JSON.parse('18446744073709551615') as number }])),
      host,
      opts,
    ),
  );
});

test('linux.intelRdt: found in mountinfo with its features; refused without resctrl, and CAT, MBA or monitoring the host lacks', (t) => {
  // resctrl mounted at a path with a space (mountinfo's \\040), L3 and MB but no L3_MON
  const withResctrl: ValidationHost = {
    ...host,
    read: (p) => (p === '/proc/self/mountinfo' ? '1 2 0:3 / /run/rdt\\040fs rw - resctrl resctrl rw\n' : null),
    kind: (p) =>
      p.startsWith('/run/rdt fs/') ? (p === '/run/rdt fs/info/L3' || p === '/run/rdt fs/info/MB' ? 'dir' : null) : host.kind(p),
  };
  t.deepEqual(
    validateSpec(
      spec((s) => (s.linux!.intelRdt = { closID: 'x', schemata: ['L3:0=f'] })),
      withResctrl,
      opts,
    ),
    [],
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.linux!.intelRdt = { enableMonitoring: true })),
        withResctrl,
        opts,
      ),
    'linux.intelRdt.enableMonitoring',
    /Intel RDT monitoring is not enabled/,
  );
  const noMba: ValidationHost = {
    ...withResctrl,
    kind: (p) => (p.startsWith('/run/rdt fs/') ? (p === '/run/rdt fs/info/L3' ? 'dir' : null) : host.kind(p)),
  };
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.linux!.intelRdt = { memBwSchema: 'MB:0=10' })),
        noMba,
        opts,
      ),
    'linux.intelRdt.memBwSchema',
    /: intelRdt\.memBwSchema is specified in config, but Intel RDT\/MBA is not enabled$/,
  );
  configError(
    t,
    () =>
      validateSpec(
        spec((s) => (s.linux!.intelRdt = { closID: 'x' })),
        host,
        opts,
      ),
    'linux.intelRdt',
    /^linux\.intelRdt: intelRdt is specified in config, but Intel RDT is not enabled/,
  );
});

test('loadBundle resolves a relative root.path against the bundle, not the cwd', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec()));
  const loaded = loadBundle(path.relative(process.cwd(), dir));
  t.is(loaded.bundle, dir);
  t.is(loaded.rootfs, path.join(dir, 'rootfs'));
  fs.rmSync(dir, { recursive: true });
});

test('loadBundle takes a bundle named through a symlink by its real path (as runc records it), root.path resolved from there', (t) => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-')));
  fs.mkdirSync(path.join(dir, 'real'));
  fs.writeFileSync(path.join(dir, 'real', 'config.json'), JSON.stringify(spec()));
  fs.symlinkSync('real', path.join(dir, 'link'));
  const loaded = loadBundle(path.join(dir, 'link'));
  t.is(loaded.bundle, path.join(dir, 'real'));
  t.is(loaded.rootfs, path.join(dir, 'real', 'rootfs'));
  fs.rmSync(dir, { recursive: true });
});

test('loadBundle errors: missing bundle, missing config, bad JSON', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unit-'));
  t.throws(() => loadBundle(path.join(dir, 'nope')), { message: /no such file or directory/ });
  t.throws(() => loadBundle(dir), { message: /config\.json: no such file or directory/ });
  fs.writeFileSync(path.join(dir, 'config.json'), '{');
  t.throws(() => loadBundle(dir), { message: /invalid JSON/ });
  fs.rmSync(dir, { recursive: true });
});

test("below /proc only runc's allow-list may be mounted on; /proc itself takes a procfs only", (t) => {
  const withMount = (m: Spec['mounts'] extends (infer M)[] | undefined ? M : never) =>
    spec((s) => {
      s.mounts!.push(m);
    });
  const last = (s: Spec) => `mounts[${s.mounts!.length - 1}].destination`;
  // lxcfs's files, CRIU's ns_last_pid, FIPS
  for (const dest of ['/proc/cpuinfo', '/proc/meminfo', '/proc/uptime', '/proc/sys/kernel/ns_last_pid', 'proc/loadavg', '/proc/stat/']) {
    t.notThrows(() =>
      validateSpec(withMount({ destination: dest, type: 'bind', source: `/var/lib/lxcfs${dest}`, options: ['bind'] }), host, opts),
    );
  }
  for (const [dest, type] of [
    ['/proc/self/attr/exec', 'bind'],
    ['/proc/self/attr/apparmor/exec', 'bind'],
    ['/proc/sys', 'bind'],
    ['/proc/sys/kernel/core_pattern', 'bind'],
    ['/proc/sys/fs/binfmt_misc', 'binfmt_misc'],
    ['/proc/acpi', 'tmpfs'],
    ['/proc/./sys', 'tmpfs'],
  ] as const) {
    const s = withMount({ destination: dest, type, source: type === 'bind' ? '/srv/x' : type, options: type === 'bind' ? ['rbind'] : [] });
    configError(t, () => validateSpec(s, host, opts), last(s), /cannot be mounted because it is inside \/proc$/);
  }
  // on /proc itself: a fresh procfs, or a bind of a procfs (the host says which)
  const procfsHost: ValidationHost = { ...host, fsType: (p) => (p === '/host/proc' ? 0x9fa0 : 0xef53) };
  t.notThrows(() => validateSpec(spec(), procfsHost, opts), 'the default proc mount');
  t.notThrows(() =>
    validateSpec(withMount({ destination: '/proc', type: 'bind', source: '/host/proc', options: ['rbind'] }), procfsHost, opts),
  );
  for (const m of [
    { destination: '/proc', type: 'bind', source: '/srv/fakeproc', options: ['rbind'] },
    { destination: '/proc/', type: 'tmpfs', source: 'tmpfs' },
    { destination: '/proc', type: 'sysfs', source: 'sysfs' },
  ]) {
    const s = withMount(m);
    configError(t, () => validateSpec(s, procfsHost, opts), last(s), /: "\/proc" cannot be mounted because it is not of type proc$/);
  }
  // a host that cannot tell: the bind is refused
  const s = withMount({ destination: '/proc', type: 'bind', source: '/host/proc', options: ['rbind'] });
  configError(t, () => validateSpec(s, host, opts), last(s), /not of type proc/);
  // outside /proc, anything
  t.notThrows(() => validateSpec(withMount({ destination: '/procx/self', type: 'tmpfs', source: 'tmpfs' }), host, opts));
  t.notThrows(() => validateSpec(withMount({ destination: '/myproc', type: 'proc', source: 'proc' }), host, opts));
});
