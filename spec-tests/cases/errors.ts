/** runtime.md#operations: the errors create/start/kill/delete MUST generate,
 * and that an erroring operation MUST leave the container as it was. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linux } from '../harness/config.js';
import { safeRead } from '../harness/host.js';
import { check, fail, skip, type Case } from '../harness/types.js';
import { sleep } from '../harness/exec.js';
import { scaled } from '../harness/timing.js';
import { configMd, def, expectError, expectOk, expectUnchanged, linuxMd, LONG_MS, pidAlive, runtimeMd, waitUntil } from './util.js';

export const errorCases: Case[] = [
  def('errors::create-no-id', runtimeMd('#create', 'create MUST generate an error if it is not provided the container ID'), async (ctx) => {
    const b = ctx.bundle(['exit', '0']);
    b.write();
    expectError(await ctx.rt.exec(['create', '--bundle', b.dir]), 'create without an id');
  }),

  def(
    'errors::create-empty-id',
    runtimeMd(
      '#create',
      'If the ID is not valid, the implementation MUST generate an error and a new container MUST NOT be created (empty id)',
    ),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      b.write();
      expectError(await ctx.rt.exec(['create', '--bundle', b.dir, '']), 'create with an empty id');
    },
  ),

  def(
    'errors::create-no-bundle',
    runtimeMd('#create', 'create MUST generate an error if it is not provided a path to the bundle (cwd has no config.json)'),
    async (ctx) => {
      const empty = ctx.path('empty');
      fs.mkdirSync(empty);
      expectError(
        await ctx.rt.exec(['create', ctx.id('nobundle')], { cwd: empty }),
        'create with neither --bundle nor a bundle in the cwd',
      );
    },
  ),

  def(
    'errors::create-missing-bundle-dir',
    runtimeMd('#create', 'create MUST generate an error for an unusable bundle path'),
    async (ctx) => {
      expectError(
        await ctx.rt.exec(['create', '--bundle', ctx.path('no-such-bundle'), ctx.id('nodir')]),
        'create with a nonexistent bundle',
      );
    },
  ),

  def(
    'errors::create-missing-config',
    configMd('#configuration', 'the bundle MUST contain config.json; a bundle without it cannot be created'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      expectError(await ctx.rt.exec(['create', '--bundle', b.dir, ctx.id('nocfg')]), 'create of a bundle without config.json');
    },
  ),

  def(
    'errors::create-invalid-json',
    configMd('#configuration', 'a config.json that is not valid JSON MUST produce an error'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      fs.writeFileSync(path.join(b.dir, 'config.json'), '{"ociVersion": "1.0.2-dev", "process": ');
      expectError(await ctx.rt.exec(['create', '--bundle', b.dir, ctx.id('badjson')]), 'create with truncated JSON');
    },
  ),

  def(
    'errors::create-missing-rootfs',
    configMd('#root', 'root.path: A directory MUST exist at the path declared by the field'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      b.config.root = { path: 'no-such-rootfs' };
      const c = await ctx.tryCreate(b);
      expectError(c.createResult, 'create with a missing root.path');
    },
  ),

  def(
    'errors::create-duplicate-id',
    runtimeMd('#create', 'If the ID is not unique, the runtime MUST generate an error and a new container MUST NOT be created'),
    async (ctx) => {
      const first = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const pid = await first.pid();
      const again = await ctx.tryCreate(ctx.bundle(['sleep-ms', LONG_MS]), { id: first.id });
      expectError(again.createResult, 'second create with the same id');
      await expectUnchanged(first, 'created', pid);
    },
  ),

  def('errors::start-no-id', runtimeMd('#start', 'start MUST generate an error if it is not provided the container ID'), async (ctx) => {
    expectError(await ctx.rt.exec(['start']), '`start` without an id');
  }),

  def(
    'errors::start-unknown',
    runtimeMd('#start', 'Attempting to start a container that does not exist MUST generate an error'),
    async (ctx) => {
      expectError(await ctx.rt.start(ctx.id('nope')), 'start of an unknown id');
    },
  ),

  def(
    'errors::start-running',
    runtimeMd('#start', 'Attempting to start a container that is not `created` MUST have no effect and MUST generate an error (running)'),
    async (ctx) => {
      const b = ctx.bundle(['touch', '/shared/runs', ',', 'sleep-ms', LONG_MS]);
      const shared = ctx.shareDir(b);
      const c = await ctx.create(b);
      await c.startOk();
      const pid = await c.pid();
      // the first start's run, seen before it is cleared
      if (!(await waitUntil(() => fs.existsSync(path.join(shared, 'runs')), 10000))) fail('the program did not run after start');
      fs.rmSync(path.join(shared, 'runs'), { force: true });
      expectError(await c.start(), 'second start');
      await expectUnchanged(c, 'running', pid);
      await sleep(scaled(200)); // a window for what must not happen
      check(!fs.existsSync(path.join(shared, 'runs')), 'the second start ran the program again');
    },
  ),

  def(
    'errors::start-stopped',
    runtimeMd('#start', 'Attempting to start a container that is not `created` MUST have no effect and MUST generate an error (stopped)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '0']));
      await c.startOk();
      await c.waitStopped();
      expectError(await c.start(), 'start of a stopped container');
      await expectUnchanged(c, 'stopped');
    },
  ),

  def('errors::kill-no-id', runtimeMd('#kill', 'kill MUST generate an error if it is not provided the container ID'), async (ctx) => {
    expectError(await ctx.rt.exec(['kill']), '`kill` without an id');
  }),

  def('errors::kill-unknown', runtimeMd('#kill', 'kill of a container that does not exist MUST generate an error'), async (ctx) => {
    expectError(await ctx.rt.kill(ctx.id('nope'), 'KILL'), 'kill of an unknown id');
  }),

  def(
    'errors::kill-stopped',
    runtimeMd(
      '#kill',
      'Attempting to send a signal to a container that is neither created nor running MUST have no effect and MUST generate an error',
    ),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '0']));
      await c.startOk();
      await c.waitStopped();
      expectError(await c.kill('KILL'), 'kill of a stopped container');
      await expectUnchanged(c, 'stopped');
    },
  ),

  def(
    'errors::kill-invalid-signal',
    runtimeMd('#kill', 'kill with a signal that does not exist must fail and leave the container as it was'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      await c.startOk();
      const pid = await c.pid();
      expectError(await c.kill('SIGSPECTEST'), 'kill with an unknown signal name');
      await expectUnchanged(c, 'running', pid);
    },
  ),

  def('errors::delete-no-id', runtimeMd('#delete', 'delete MUST generate an error if it is not provided the container ID'), async (ctx) => {
    expectError(await ctx.rt.exec(['delete']), '`delete` without an id');
  }),

  def(
    'errors::delete-unknown',
    runtimeMd('#delete', 'Attempting to delete a container that does not exist MUST generate an error'),
    async (ctx) => {
      expectError(await ctx.rt.delete(ctx.id('nope')), 'delete of an unknown id');
    },
  ),

  def(
    'errors::delete-running',
    runtimeMd('#delete', 'Attempting to delete a container that is not `stopped` MUST have no effect and MUST generate an error (running)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      await c.startOk();
      const pid = await c.pid();
      expectError(await c.delete(), 'delete of a running container');
      await expectUnchanged(c, 'running', pid);
    },
  ),

  def(
    'errors::delete-created',
    runtimeMd('#delete', 'Attempting to delete a container that is not `stopped` MUST have no effect and MUST generate an error (created)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const pid = await c.pid();
      const r = await c.delete();
      if (r.code === 0) {
        const gone = !pidAlive(pid) || (await c.state()).code !== 0;
        fail(`delete of a created container exited 0${gone ? ' and destroyed it' : ''}`);
      }
      await expectUnchanged(c, 'created', pid);
    },
  ),

  def(
    'errors::delete-twice',
    runtimeMd('#delete', 'after delete the container does not exist, so a second delete MUST generate an error'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '0']));
      await c.startOk();
      await c.waitStopped();
      expectOk(await c.delete(), 'first delete');
      expectError(await c.delete(), 'second delete');
    },
  ),

  def(
    'errors::intel-rdt-without-resctrl',
    linuxMd(
      '#intelrdt',
      'If no mounted resctrl pseudo-filesystem is available in the runtime mount namespace, the runtime MUST generate an error',
    ),
    async (ctx) => {
      const mounts = safeRead('/proc/self/mountinfo') ?? '';
      if (mounts.split('\n').some((l) => / - resctrl /.test(l))) skip('the host has resctrl mounted');
      const b = ctx.bundle(['exit', '0']);
      linux(b.config).intelRdt = { closID: 'spec-tests' };
      const c = await ctx.tryCreate(b);
      if (c.created) expectError(await c.start(), 'start of a container with intelRdt on a host without resctrl');
      else expectError(c.createResult, 'create with intelRdt on a host without resctrl');
    },
  ),
];
