/** CLI helpers and status guards: pure, no root. */
import test from 'ava';

import { resolveRunTarget } from '../../lib/cli/commands/run.js';
import { features } from '../../lib/cli/commands/features.js';
import { rfc3339Nano } from '../../lib/container/state.js';
import { loadBinding } from '../../lib/native/binding.js';
import { Runtime } from '../../lib/index.js';
import { COMMANDS, GLOBAL_FLAGS } from '../../lib/cli/main.js';

/** native/host's id rule (what every command checks). */
const checkId = (id: string) => loadBinding().checkId(id);
/** The Runtime's signal names (native/host's table, the front's too). */
const parseSignal = (text: string) => new Runtime({ root: '/nonexistent' }).signalNumber(text);

test('signals parse as numbers, names and SIG-names', (t) => {
  t.is(parseSignal('9'), 9);
  t.is(parseSignal('KILL'), 9);
  t.is(parseSignal('SIGKILL'), 9);
  t.is(parseSignal('term'), 15);
  t.is(parseSignal('SIGRTMIN'), 34);
  t.is(parseSignal('RTMIN+2'), 36);
  t.is(parseSignal('SIGRTMAX-1'), 63);
  t.throws(() => parseSignal('NOPE'), { message: /invalid signal "NOPE"/ });
  t.is(parseSignal('0'), 0, 'signal 0: is it alive?');
  t.throws(() => parseSignal('SIG0'));
  t.throws(() => parseSignal('65'));
});

test('ids: runc charset, no slash, no ..', (t) => {
  for (const ok of ['a', 'abc-123', 'A.b_c+d', '0']) t.notThrows(() => checkId(ok), ok);
  for (const bad of ['', '-a', '.a', 'a/b', 'a..b', '..', 'a b', 'é']) t.throws(() => checkId(bad), undefined, bad);
});

test('run target: a positional with "/" is a bundle with a generated id', (t) => {
  const r = resolveRunTarget('/srv/my box/', undefined);
  t.is(r.bundle, '/srv/my box');
  t.regex(r.id, /^my-box-[0-9a-f]{6}$/);
  t.notThrows(() => checkId(r.id));
  t.deepEqual(resolveRunTarget('c1', '/b'), { id: 'c1', bundle: '/b' });
  t.deepEqual(resolveRunTarget('c1', undefined), { id: 'c1', bundle: '.' });
  t.not(resolveRunTarget('./x/', undefined).id, resolveRunTarget('./x/', undefined).id);
});

test('created timestamps are RFC3339 with nanoseconds, of one real-time reading', (t) => {
  const at = BigInt(Date.UTC(2026, 0, 2, 3, 4, 5)) * 1_000_000n;
  t.is(rfc3339Nano(at + 123456789n), '2026-01-02T03:04:05.123456789Z');
  t.is(rfc3339Nano(at), '2026-01-02T03:04:05Z');
  t.is(rfc3339Nano(at + 500n), '2026-01-02T03:04:05.0000005Z');
  // two readings in order stay in order, whatever their second
  const a = loadBinding().realtimeNs();
  const b = loadBinding().realtimeNs();
  t.true(rfc3339Nano(a) <= rfc3339Nano(b));
  t.true(Math.abs(Number(a / 1_000_000n) - Date.now()) < 5000, 'the real-time clock');
});

test('features: memoryPolicy, netDevices, intelRdt and potentiallyUnsafeConfigAnnotations, as features-linux.md and runc lay them out', (t) => {
  const f = features() as {
    linux: {
      memoryPolicy: { modes: string[]; flags: string[] };
      netDevices: { enabled: boolean };
      intelRdt: { enabled: boolean; schemata: boolean; monitoring: boolean };
    };
    potentiallyUnsafeConfigAnnotations: string[];
  };
  // features-linux.md's example lists these; runc HEAD prints them sorted
  t.deepEqual(f.linux.memoryPolicy.modes, [
    'MPOL_BIND',
    'MPOL_DEFAULT',
    'MPOL_INTERLEAVE',
    'MPOL_LOCAL',
    'MPOL_PREFERRED',
    'MPOL_PREFERRED_MANY',
    'MPOL_WEIGHTED_INTERLEAVE',
  ]);
  t.deepEqual(f.linux.memoryPolicy.flags, ['MPOL_F_NUMA_BALANCING', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES']);
  t.deepEqual(f.linux.netDevices, { enabled: true });
  t.deepEqual(f.linux.intelRdt, { enabled: true, schemata: true, monitoring: true }, 'as runc: lib/plan/resctrl.ts');
  t.deepEqual(f.potentiallyUnsafeConfigAnnotations, ['org.criu.config', 'org.systemd.property.']);
});

test('features has the required version range and no stderr noise', (t) => {
  const f = features() as { ociVersionMin: string; ociVersionMax: string; linux: { namespaces: string[] } };
  t.is(f.ociVersionMin, '1.0.0');
  t.is(f.ociVersionMax, '1.3.0');
  t.true(f.linux.namespaces.includes('pid'));
});

test('help: every flag a user can see is described, and a default is printed once', (t) => {
  const undescribed = [
    ...COMMANDS.flatMap((cmd) => (cmd.flags ?? []).filter((f) => !f.hidden && !f.describe?.trim()).map((f) => `${cmd.name} --${f.name}`)),
    ...GLOBAL_FLAGS.filter((f) => !f.hidden && !f.describe?.trim()).map((f) => `--${f.name}`),
  ];
  t.deepEqual(undescribed, []);
  // the help prints a flag's default itself: a description that says it too prints it twice
  const twice = [...COMMANDS.flatMap((c) => c.flags ?? []), ...GLOBAL_FLAGS]
    .filter((f) => f.default !== undefined && f.default !== false && /\(default/.test(f.describe ?? ''))
    .map((f) => f.name);
  t.deepEqual(twice, []);
});
