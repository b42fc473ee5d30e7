/** config.md#posix-platform-hooks and runtime.md#lifecycle steps 3-13. Every
 * hook is the probe's `hook` command, which appends a record (name, its
 * namespaces, argv, env, the state read from stdin) to a log file. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linux, type HookName } from '../harness/config.js';
import type { Bundle, CaseContext, Container } from '../harness/context.js';
import { describe, sleep } from '../harness/exec.js';
import { scaled } from '../harness/timing.js';
import { check, eq, fail, type Case } from '../harness/types.js';
import { cli, configMd, def, expectError, LONG_MS, nsLink, pidAlive, runtimeMd, waitUntil } from './util.js';

interface HookRecord {
  name: string;
  /** getcwd() of the hook. */
  cwd: string;
  ns: Record<string, string>;
  argv: string[];
  env: string[];
  stdin: string;
  /** /proc/<state.pid>/cmdline when the hook ran. */
  targetCmdline: string;
}

const CONTAINER_SIDE: HookName[] = ['startContainer'];

interface HookSetup {
  b: Bundle;
  /** Host path of the log all hooks append to. */
  log: string;
  /** Host dir bind-mounted at /shared for the program's marker file. */
  shared: string;
  add(
    name: HookName,
    label: string,
    opts?: { exit?: number; sleepMs?: number; timeout?: number; env?: string[]; extraArgs?: string[] },
  ): void;
  records(): HookRecord[];
}

function setup(ctx: CaseContext, program: string[] = ['touch', '/shared/ran', ',', 'sleep-ms', LONG_MS]): HookSetup {
  const b = ctx.bundle(program);
  const shared = ctx.shareDir(b);
  const logDir = ctx.shareDir(b, '/hooklog');
  const log = path.join(logDir, 'hooks.log');
  return {
    b,
    log,
    shared,
    add(name, label, o = {}) {
      // startContainer runs after pivot_root: its path and log resolve in the container.
      const inContainer = CONTAINER_SIDE.includes(name);
      const hookPath = inContainer ? '/bin/tsrun-probe' : ctx.env.hostProbe;
      const logPath = inContainer ? '/hooklog/hooks.log' : log;
      const args = [
        'tsrun-probe',
        'hook',
        label,
        logPath,
        String(o.exit ?? 0),
        ...(o.sleepMs ? [String(o.sleepMs)] : []),
        ...(o.extraArgs ?? []),
      ];
      const hook: { path: string; args: string[]; env?: string[]; timeout?: number } = { path: hookPath, args };
      if (o.env) hook.env = o.env;
      if (o.timeout) hook.timeout = o.timeout;
      ((b.config.hooks ??= {})[name] ??= []).push(hook);
    },
    records: () => readLog(log),
  };
}

function readLog(log: string): HookRecord[] {
  let text = '';
  try {
    text = fs.readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const kv = new Map(line.split('\t').map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)] as [string, string]));
      const hex = (k: string): string => Buffer.from(kv.get(k) ?? '', 'hex').toString();
      const argc = Number(kv.get('argc') ?? 0);
      const envc = Number(kv.get('envc') ?? 0);
      const ns: Record<string, string> = {};
      for (const [k, v] of kv) if (k.startsWith('ns.')) ns[k.slice(3)] = v;
      return {
        name: kv.get('name') ?? '',
        cwd: kv.get('cwd') ?? '',
        ns,
        argv: Array.from({ length: argc }, (_, i) => hex(`arg${i}`)),
        env: Array.from({ length: envc }, (_, i) => hex(`env${i}`)),
        stdin: hex('stdin'),
        targetCmdline: hex('target_cmdline'),
      };
    });
}

const names = (h: HookSetup): string[] => h.records().map((r) => r.name);

function ran(h: HookSetup): boolean {
  return fs.existsSync(path.join(h.shared, 'ran'));
}

async function lifecycle(ctx: CaseContext, h: HookSetup): Promise<Container> {
  return ctx.create(h.b);
}

/** A hook type is invoked during the expected operation, not before. */
const invoked = (name: HookName, during: 'create' | 'start' | 'delete'): Case =>
  def(
    `hooks::${name.toLowerCase()}-invoked`,
    runtimeMd('#lifecycle', `The ${name} hooks MUST be invoked by the runtime (during ${during})`),
    async (ctx) => {
      const h = setup(ctx);
      h.add(name, name);
      const c = await lifecycle(ctx, h);
      const after = { create: names(h) } as Record<string, string[]>;
      if (during === 'create') {
        check(after.create?.includes(name), `${name} hook did not run during create (log: ${after.create?.join(',') || 'empty'})`);
        return;
      }
      check(!after.create?.includes(name), `${name} hook ran during create already`);
      await c.startOk();
      if (during === 'start') {
        check(names(h).includes(name), `${name} hook did not run by the time start returned (log: ${names(h).join(',') || 'empty'})`);
        return;
      }
      check(!names(h).includes(name), `${name} hook ran before delete`);
      await c.kill('KILL');
      await c.waitStopped();
      const d = await c.delete();
      if (d.code !== 0) fail(`delete failed: ${d.stderr.trim()}`);
      check(names(h).includes(name), `${name} hook did not run by the time delete returned (log: ${names(h).join(',') || 'empty'})`);
    },
  );

/** Which namespace a hook type runs in. */
const namespaceOf = (name: HookName, where: 'runtime' | 'container'): Case =>
  def(
    `hooks::${name.toLowerCase()}-namespace`,
    configMd('#posix-platform-hooks', `The ${name} hooks MUST be executed in the ${where} namespace`),
    async (ctx) => {
      const h = setup(ctx);
      h.add(name, name);
      const c = await lifecycle(ctx, h);
      const pid = await c.pid();
      const containerMnt = nsLink(pid, 'mount');
      await c.startOk();
      if (name === 'poststop') {
        await c.kill('KILL');
        await c.waitStopped();
        await c.delete();
      }
      const rec = h.records().find((r) => r.name === name);
      if (!rec) fail(`${name} hook never ran`);
      const want = where === 'runtime' ? nsLink('self', 'mount') : containerMnt;
      eq(rec.ns.mnt, want, `mount namespace of the ${name} hook (${where})`);
    },
  );

/** A failing hook of a create/start type: error, container stopped, program not run. */
const failing = (name: HookName): Case =>
  def(
    `hooks::${name.toLowerCase()}-failure`,
    runtimeMd(
      '#lifecycle',
      `If any ${name} hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12`,
    ),
    async (ctx) => {
      const h = setup(ctx);
      h.add(name, `${name}-fails`, { exit: 1 });
      h.add(name, `${name}-after`);
      const c = await ctx.tryCreate(h.b);
      let opError = c.createResult.code !== 0;
      if (!opError && name === 'startContainer') opError = (await c.start()).code !== 0;
      if (!opError) fail(`no operation reported an error though a ${name} hook exited 1`);
      await sleep(300);
      check(!ran(h), 'the user program ran although a hook failed');
      check(!names(h).includes(`${name}-after`), `the ${name} hook after the failing one still ran`);
      const st = await c.state();
      if (st.code === 0 && st.json?.status !== 'stopped')
        fail(`container is "${String(st.json?.status)}" after the failed hook, not stopped or gone`);
    },
  );

export const hookCases: Case[] = [
  invoked('prestart', 'create'),
  invoked('createRuntime', 'create'),
  invoked('createContainer', 'create'),
  invoked('startContainer', 'start'),
  invoked('poststart', 'start'),
  invoked('poststop', 'delete'),

  namespaceOf('prestart', 'runtime'),
  namespaceOf('createRuntime', 'runtime'),
  namespaceOf('createContainer', 'container'),
  namespaceOf('startContainer', 'container'),
  namespaceOf('poststart', 'runtime'),
  namespaceOf('poststop', 'runtime'),

  def(
    'hooks::order-create',
    configMd('#prestart', 'prestart MUST be called before createRuntime; createContainer MUST be called after createRuntime'),
    async (ctx) => {
      const h = setup(ctx);
      h.add('createContainer', 'createContainer');
      h.add('createRuntime', 'createRuntime');
      h.add('prestart', 'prestart');
      await lifecycle(ctx, h);
      eq(names(h).join(','), 'prestart,createRuntime,createContainer', 'order of hook invocations during create');
    },
  ),

  def(
    'hooks::order-start',
    runtimeMd('#lifecycle', 'startContainer hooks run before the program (step 7), poststart after it (step 9)'),
    async (ctx) => {
      const h = setup(ctx);
      h.add('poststart', 'poststart');
      h.add('startContainer', 'startContainer');
      const c = await lifecycle(ctx, h);
      await c.startOk();
      eq(names(h).join(','), 'startContainer,poststart', 'order of hook invocations during start');
    },
  ),

  def(
    'hooks::poststart-after-program',
    configMd('#poststart', 'poststart hooks MUST be called after the user-specified process is executed'),
    async (ctx) => {
      const h = setup(ctx);
      h.add('poststart', 'poststart');
      const c = await lifecycle(ctx, h);
      await c.startOk();
      const rec = h.records().find((r) => r.name === 'poststart');
      if (!rec) fail('poststart hook never ran');
      check(
        rec.targetCmdline.includes('tsrun-probe touch'),
        `when the poststart hook ran, the container process was running "${rec.targetCmdline.trim()}", not the user program`,
      );
    },
  ),

  def(
    'hooks::createruntime-before-program',
    runtimeMd('#lifecycle', 'createRuntime hooks run during create, before the user program (step 4, program at step 8)'),
    async (ctx) => {
      const h = setup(ctx);
      h.add('createRuntime', 'createRuntime');
      await lifecycle(ctx, h);
      const rec = h.records()[0];
      if (!rec) fail('createRuntime hook never ran');
      check(!rec.targetCmdline.includes('tsrun-probe touch'), 'the user program was already running when the createRuntime hook ran');
      check(!ran(h), 'the user program ran during create');
    },
  ),

  def('hooks::listed-order', configMd('#posix-platform-hooks', 'Hooks MUST be called in the listed order'), async (ctx) => {
    const h = setup(ctx);
    for (const l of ['first', 'second', 'third']) h.add('createRuntime', l);
    await lifecycle(ctx, h);
    eq(names(h).join(','), 'first,second,third', 'order of three createRuntime hooks');
  }),

  def(
    'hooks::state-on-stdin',
    configMd('#posix-platform-hooks', 'The state of the container MUST be passed to hooks over stdin'),
    async (ctx) => {
      const h = setup(ctx);
      h.add('createRuntime', 'createRuntime');
      const c = await lifecycle(ctx, h);
      const rec = h.records()[0];
      if (!rec) fail('the hook never ran');
      let st: Record<string, unknown>;
      try {
        st = JSON.parse(rec.stdin) as Record<string, unknown>;
      } catch {
        fail(`hook stdin is not JSON: ${JSON.stringify(rec.stdin.slice(0, 200))}`);
      }
      eq(st.id, c.id, 'state.id on hook stdin');
      check(typeof st.ociVersion === 'string', 'state.ociVersion missing');
      check(typeof st.pid === 'number' && st.pid > 0, `state.pid ${String(st.pid)}`);
      check(typeof st.bundle === 'string' && fs.realpathSync(st.bundle) === fs.realpathSync(h.b.dir), `state.bundle ${String(st.bundle)}`);
      check(['creating', 'created'].includes(String(st.status)), `state.status "${String(st.status)}" during create`);
    },
  ),

  def(
    'hooks::poststop-state',
    configMd('#posix-platform-hooks', 'The state of the container MUST be passed to hooks over stdin (poststop: stopped)'),
    async (ctx) => {
      const h = setup(ctx, ['exit', '0']);
      h.add('poststop', 'poststop');
      const c = await lifecycle(ctx, h);
      await c.startOk();
      await c.waitStopped();
      await c.delete();
      const rec = h.records()[0];
      if (!rec) fail('poststop hook never ran');
      const st = JSON.parse(rec.stdin || '{}') as Record<string, unknown>;
      eq(st.id, c.id, 'state.id');
      eq(st.status, 'stopped', 'state.status on poststop stdin');
    },
  ),

  def('hooks::args', configMd('#posix-platform-hooks', "args: with the same semantics as execv's argv"), async (ctx) => {
    const h = setup(ctx);
    h.add('createRuntime', 'args', { extraArgs: ['with space', ''] });
    await lifecycle(ctx, h);
    const rec = h.records()[0];
    if (!rec) fail('the hook never ran');
    eq(JSON.stringify(rec.argv), JSON.stringify(['tsrun-probe', 'hook', 'args', h.log, '0', 'with space', '']), 'hook argv');
  }),

  def(
    'hooks::env',
    configMd('#posix-platform-hooks', 'env: with the same semantics as environ (only the listed variables)'),
    async (ctx) => {
      const h = setup(ctx);
      const env = ['SPEC_HOOK=1', 'OTHER=two words'];
      h.add('createRuntime', 'env', { env });
      await lifecycle(ctx, h);
      const rec = h.records()[0];
      if (!rec) fail('the hook never ran');
      eq(JSON.stringify([...rec.env].sort()), JSON.stringify([...env].sort()), 'hook environment');
    },
  ),

  def(
    'hooks::startcontainer-path-in-container',
    configMd('#posix-platform-hooks', 'The value of startContainer path MUST resolve in the container namespace'),
    async (ctx) => {
      const h = setup(ctx);
      // This path exists only inside the container.
      fs.mkdirSync(h.b.inRootfs('opt/only-in-container'), { recursive: true });
      fs.linkSync(h.b.inRootfs('bin/tsrun-probe'), h.b.inRootfs('opt/only-in-container/hook'));
      ((h.b.config.hooks ??= {}).startContainer ??= []).push({
        path: '/opt/only-in-container/hook',
        args: ['hook', 'hook', 'incontainer', '/hooklog/hooks.log'],
      });
      const c = await lifecycle(ctx, h);
      await c.startOk();
      check(names(h).includes('incontainer'), 'the startContainer hook at a container-only path did not run');
    },
  ),

  def(
    'hooks::createcontainer-cwd',
    cli(
      'createContainer hooks',
      "a createContainer hook's working directory is the container's rootfs: a relative path it writes lands in the rootfs",
    ),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      // The relative path's directory exists only in the rootfs: a hook running
      // anywhere else cannot open it (and fails) instead of writing elsewhere.
      fs.mkdirSync(b.inRootfs('spec-hook'), { mode: 0o755 });
      const rel = 'spec-hook/hook.log';
      (b.config.hooks ??= {}).createContainer = [{ path: ctx.env.hostProbe, args: ['tsrun-probe', 'hook', 'relative', rel] }];
      const runtimeCwd = ctx.path('runtime-cwd');
      fs.mkdirSync(runtimeCwd);
      const c = await ctx.tryCreate(b, { cwd: runtimeCwd });
      const log = b.inRootfs(rel);
      if (!fs.existsSync(log)) {
        fail(
          `the hook did not write ${rel} relative to the rootfs (its cwd is not the rootfs, or it did not run): ${describe(c.createResult)}`,
        );
      }
      const rec = readLog(log)[0];
      if (c.createResult.code !== 0)
        fail(`create failed although the hook wrote its log (cwd ${rec?.cwd ?? '?'}): ${describe(c.createResult)}`);
      eq(rec?.name, 'relative', `record in ${rel}`);
    },
  ),

  def(
    'hooks::startcontainer-seccomp',
    cli(
      'startContainer hooks',
      "startContainer hooks run under the container's seccomp filter: a hook making a killed syscall fails, and the program does not run",
    ),
    async (ctx) => {
      // `run`, not create + start: runc runs startContainer hooks in its init after
      // `start` has returned (hooks::startcontainer-failure), so only run reports it.
      const attempt = async (hook: string[]): Promise<{ code: number; shared: string; out: string }> => {
        const b = ctx.bundle(['touch', '/shared/ran']);
        const shared = ctx.shareDir(b);
        linux(b.config).seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL' }],
        };
        b.config.hooks = { startContainer: [{ path: '/bin/tsrun-probe', args: ['tsrun-probe', ...hook] }] };
        const { exec } = await ctx.run(b, { allowFailure: true });
        if (exec.timedOut) fail(`run timed out: ${describe(exec)}`);
        return { code: exec.code, shared, out: describe(exec) };
      };
      // The same filter with a hook that makes no mkdir: hooks and program run.
      const control = await attempt(['touch', '/shared/hook-ran']);
      check(
        control.code === 0 && fs.existsSync(path.join(control.shared, 'hook-ran')) && fs.existsSync(path.join(control.shared, 'ran')),
        `control (a startContainer hook without mkdir under the same filter) did not run hook and program: ${control.out}`,
      );
      const killed = await attempt(['mkdir', '/shared/from-hook']);
      check(
        !fs.existsSync(path.join(killed.shared, 'from-hook')),
        "the startContainer hook's mkdir succeeded: the hook ran without the container's seccomp filter",
      );
      check(killed.code !== 0, `run exited 0 although the startContainer hook was killed: ${killed.out}`);
      check(!fs.existsSync(path.join(killed.shared, 'ran')), 'the program ran although its startContainer hook was killed');
    },
  ),

  failing('prestart'),
  failing('createRuntime'),
  failing('createContainer'),
  failing('startContainer'),

  def(
    'hooks::failure-runs-poststop',
    runtimeMd('#lifecycle', 'a failing createRuntime hook continues the lifecycle at step 12; step 13: poststop hooks MUST be invoked'),
    async (ctx) => {
      const h = setup(ctx);
      h.add('createRuntime', 'fails', { exit: 1 });
      h.add('poststop', 'poststop');
      const c = await ctx.tryCreate(h.b);
      expectError(c.createResult, 'create with a failing createRuntime hook');
      await waitUntil(() => names(h).includes('poststop'), 1000);
      check(names(h).includes('poststop'), `poststop hooks were not invoked after the failed create (log: ${names(h).join(',')})`);
    },
  ),

  def(
    'hooks::poststart-failure-stops',
    runtimeMd(
      '#lifecycle',
      'If any poststart hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12 (1.3.0)',
    ),
    async (ctx) => {
      const h = setup(ctx);
      h.add('poststart', 'fails', { exit: 1 });
      h.add('poststart', 'after');
      const c = await lifecycle(ctx, h);
      const pid = await c.pid();
      expectError(await c.start(), 'start with a failing poststart hook');
      check(
        !names(h).includes('after'),
        'the poststart hook after the failing one ran: the lifecycle did not go on to destroying the container',
      );
      const stopped = await waitUntil(() => !pidAlive(pid), 5000);
      check(stopped, 'the container process still runs after the failed poststart hook');
    },
    { since: '1.3.0' },
  ),

  def(
    'hooks::poststop-failure-continues',
    runtimeMd('#lifecycle', 'If any poststop hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue'),
    async (ctx) => {
      const h = setup(ctx, ['exit', '0']);
      h.add('poststop', 'fails', { exit: 1 });
      h.add('poststop', 'after');
      const c = await lifecycle(ctx, h);
      await c.startOk();
      await c.waitStopped();
      await c.delete();
      check(names(h).includes('after'), 'the poststop hook after the failing one did not run');
      check((await c.state()).code !== 0, 'the container still exists after delete with a failed poststop hook');
    },
  ),

  def(
    'hooks::timeout',
    configMd('#posix-platform-hooks', 'timeout is the number of seconds before aborting the hook'),
    async (ctx) => {
      const h = setup(ctx);
      h.add('createRuntime', 'slow', { sleepMs: scaled(20000), timeout: 1 });
      const started = Date.now();
      const c = await ctx.tryCreate(h.b);
      const took = Date.now() - started;
      check(took < scaled(10000), `create took ${took} ms: the hook was not aborted after its 1 s timeout`);
      expectError(c.createResult, 'create with a hook that timed out');
    },
    { timeoutMs: 45000 },
  ),
];
