/** runtime.md: the lifecycle, observed through create/start/kill/delete. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linux, proc } from '../harness/config.js';
import { describe, sleep } from '../harness/exec.js';
import { readCgroupPaths } from '../harness/cgroups.js';
import { check, eq, fail, skip, type Case } from '../harness/types.js';
import { def, expectOk, LONG_MS, LONG_S, nsLink, pidAlive, runtimeMd, waitUntil } from './util.js';

export const lifecycleCases: Case[] = [
  def(
    'lifecycle::create-status-created',
    runtimeMd('#create', 'Upon successful completion of create the status MUST be `created`'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      eq(await c.status(), 'created', 'status after create');
    },
  ),

  def(
    'lifecycle::create-does-not-run-program',
    runtimeMd('#lifecycle', 'step 2: the user-specified program MUST NOT be run at this time (create)'),
    async (ctx) => {
      const b = ctx.bundle(['touch', '/shared/ran', ',', 'sleep-ms', LONG_MS]);
      const shared = ctx.shareDir(b);
      await ctx.create(b);
      await sleep(300);
      check(!fs.existsSync(path.join(shared, 'ran')), 'the process ran before start: /shared/ran was created during create');
    },
  ),

  def(
    'lifecycle::create-builds-environment',
    runtimeMd('#create', 'all of the resources associated with the container MUST be created (namespaces exist after create)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const pid = await c.pid();
      check(pidAlive(pid), `state pid ${pid} does not exist after create`);
      // pid is left out: what matters there is the namespace the program will run in,
      // which namespaces::new-pid checks.
      // those the config asks for (rootless: no network namespace, as runc's spec --rootless)
      const asked = (c.bundle.config.linux?.namespaces ?? []).filter((n) => !n.path).map((n) => n.type);
      for (const ns of ['network', 'ipc', 'uts', 'mount'].filter((t) => asked.includes(t))) {
        const theirs = nsLink(pid, ns);
        check(
          nsLink('self', ns) !== theirs,
          `after create, container process ${pid} is still in the runtime's ${ns} namespace (${theirs})`,
        );
      }
    },
  ),

  def(
    'lifecycle::start-runs-program',
    runtimeMd('#start', 'start MUST run the user-specified program as specified by process'),
    async (ctx) => {
      const b = ctx.bundle(['touch', '/shared/ran', ',', 'sleep-ms', LONG_MS]);
      const shared = ctx.shareDir(b);
      const c = await ctx.create(b);
      await c.startOk();
      check(
        await waitUntil(() => fs.existsSync(path.join(shared, 'ran')), 5000),
        'after start the program did not run (/shared/ran missing)',
      );
    },
  ),

  def(
    'lifecycle::start-status-running',
    runtimeMd('#start', 'Upon successful completion of start the status MUST be `running`'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      await c.startOk();
      eq(await c.status(), 'running', 'status after start');
    },
  ),

  def(
    'lifecycle::exit-status-stopped',
    runtimeMd('#kill', 'When the container process is stopped, for any reason, the status MUST be `stopped`'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '0']));
      await c.startOk();
      await c.waitStopped();
    },
  ),

  def(
    'lifecycle::nonzero-exit-status-stopped',
    runtimeMd('#kill', 'status MUST be `stopped` after the process exits (non-zero exit code)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '3']));
      await c.startOk();
      await c.waitStopped();
    },
  ),

  def('lifecycle::kill-status-stopped', runtimeMd('#kill', 'status MUST be `stopped` after the process is killed'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
    await c.startOk();
    expectOk(await c.kill('KILL'), 'kill KILL');
    await c.waitStopped();
  }),

  def(
    'lifecycle::kill-delivers-signal',
    runtimeMd('#kill', 'kill MUST send the specified signal to the container process'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['wait-signal', LONG_S]));
      await c.startOk();
      const ready = await c.waitFor('ready');
      check(ready.has('ready'), `the probe never became ready: ${c.output()}`);
      expectOk(await c.kill('USR1'), 'kill USR1');
      await c.waitStopped();
      eq(c.report().get('signal'), 'USR1', 'signal seen by the container process');
    },
  ),

  def('lifecycle::kill-sigterm-number', runtimeMd('#kill', 'kill MUST send the specified signal (given as a number, 15)'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['wait-signal', LONG_S]));
    await c.startOk();
    await c.waitFor('ready');
    expectOk(await c.kill('15'), 'kill 15');
    await c.waitStopped();
    eq(c.report().get('signal'), 'TERM', 'signal seen by the container process');
  }),

  def(
    'lifecycle::kill-created',
    runtimeMd('#kill', 'kill applies to a `created` container (only containers neither created nor running are refused)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      expectOk(await c.kill('KILL'), 'kill KILL on a created container');
      await c.waitStopped();
    },
  ),

  def(
    'lifecycle::delete-removes-container',
    runtimeMd('#delete', 'Deleting a container MUST delete the resources created during create'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '0']));
      await c.startOk();
      await c.waitStopped();
      expectOk(await c.delete(), 'delete of a stopped container');
      const s = await c.state();
      check(s.code !== 0, `state still succeeds after delete: ${s.stdout.trim()}`);
    },
  ),

  def(
    'lifecycle::delete-removes-cgroup',
    runtimeMd('#delete', 'Deleting a container MUST delete the resources created during create (its cgroup)'),
    async (ctx) => {
      const b = ctx.bundle(['sleep-ms', LONG_MS]);
      // with the systemd driver: a unit (its cgroup /system.slice/spec-tests-ID.scope)
      linux(b.config).cgroupsPath = ctx.env.systemd ? `system.slice:spec-tests:${ctx.id('cg')}` : `/spec-tests-${ctx.id('cg')}`;
      const c = await ctx.create(b);
      const pid = await c.pid();
      const dirs = readCgroupPaths(ctx.host, pid).filter((d) => d.path.includes('spec-tests-'));
      if (dirs.length === 0) skip('could not find the container cgroup under cgroupsPath in /proc/PID/cgroup');
      expectOk(await c.kill('KILL'), 'kill');
      await c.waitStopped();
      expectOk(await c.delete(), 'delete');
      const left = dirs.filter((d) => fs.existsSync(d.dir));
      check(left.length === 0, `cgroup directories left after delete: ${left.map((d) => d.dir).join(', ')}`);
    },
  ),

  def(
    'lifecycle::delete-keeps-foreign-resources',
    runtimeMd('#delete', 'resources associated with the container, but not created by it, MUST NOT be deleted'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      const shared = ctx.shareDir(b);
      fs.writeFileSync(path.join(shared, 'keep'), 'mine');
      const c = await ctx.create(b);
      await c.startOk();
      await c.waitStopped();
      expectOk(await c.delete(), 'delete');
      eq(
        fs.existsSync(shared) ? fs.readFileSync(path.join(shared, 'keep'), 'utf8') : '(dir gone)',
        'mine',
        'bind-mount source content after delete',
      );
      check(fs.existsSync(path.join(b.dir, 'config.json')), 'the bundle config.json was removed by delete');
      check(fs.existsSync(path.join(b.rootfs, 'bin', 'tsrun-probe')), 'the rootfs was modified by delete');
    },
  ),

  def(
    'lifecycle::config-change-after-create',
    runtimeMd('#lifecycle', 'Any updates to config.json after create MUST NOT affect the container'),
    async (ctx) => {
      const b = ctx.bundle(['touch', '/shared/original', ',', 'sleep-ms', LONG_MS]);
      const shared = ctx.shareDir(b);
      const c = await ctx.create(b);
      proc(b.config).args = ['/bin/tsrun-probe', 'touch', '/shared/changed', ',', 'sleep-ms', LONG_MS];
      b.write();
      await c.startOk();
      await waitUntil(() => fs.existsSync(path.join(shared, 'original')) || fs.existsSync(path.join(shared, 'changed')), 5000);
      check(!fs.existsSync(path.join(shared, 'changed')), 'start used the args written to config.json after create');
      check(fs.existsSync(path.join(shared, 'original')), 'the original program did not run');
    },
  ),

  def(
    'lifecycle::failed-create-leaves-nothing',
    runtimeMd('#errors', 'generating an error MUST leave the state of the environment as if the operation were never attempted'),
    async (ctx) => {
      const bad = ctx.bundle(['exit', '0']);
      (bad.config.mounts ??= []).push({
        destination: '/spec-missing',
        type: 'bind',
        source: ctx.path('does-not-exist'),
        options: ['bind'],
      });
      const id = ctx.id('fail');
      const r = await ctx.tryCreate(bad, { id });
      if (r.createResult.code === 0) fail(`create with a missing bind-mount source succeeded: ${describe(r.createResult)}`);
      const s = await ctx.rt.state(id);
      check(s.code !== 0, `after a failed create, state of ${id} still succeeds: ${s.stdout.trim()}`);
      const good = await ctx.tryCreate(ctx.bundle(['exit', '0']), { id });
      check(good.created, `the id of a failed create cannot be reused: ${describe(good.createResult)}`);
    },
  ),
];
