/** runtime.md#state and #query-state: the `state` operation and its JSON. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isSemver } from '../harness/version.js';
import { check, eq, fail, type Case } from '../harness/types.js';
import { cli, def, expectError, expectOk, LONG_MS, pidAlive, runtimeMd } from './util.js';

export const stateCases: Case[] = [
  def(
    'state::json-object',
    runtimeMd('#query-state', 'state MUST return the state of a container as specified in the State section (a JSON object)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const s = await c.state();
      expectOk(s, 'state');
      check(s.json && typeof s.json === 'object' && !Array.isArray(s.json), `state output is not a JSON object: ${s.stdout.slice(0, 200)}`);
    },
  ),

  def(
    'state::oci-version',
    runtimeMd('#state', 'ociVersion (string, REQUIRED) is the version of the spec the state complies with (SemVer)'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const v = (await c.state()).json?.ociVersion;
      check(typeof v === 'string' && isSemver(v), `ociVersion ${JSON.stringify(v)} is not a SemVer string`);
    },
  ),

  def('state::id', runtimeMd('#state', "id (string, REQUIRED) is the container's ID"), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
    eq((await c.state()).json?.id, c.id, 'state id');
  }),

  def(
    'state::status-created',
    runtimeMd('#state', 'status `created`: the runtime has finished create and the process has not executed the user program'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      eq((await c.state()).json?.status, 'created', 'status');
    },
  ),

  def(
    'state::status-running',
    runtimeMd('#state', 'status `running`: the process has executed the user program and has not exited'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      await c.startOk();
      eq((await c.state()).json?.status, 'running', 'status');
    },
  ),

  def('state::status-stopped', runtimeMd('#state', 'status `stopped`: the container process has exited'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['exit', '0']));
    await c.startOk();
    await c.waitStopped();
    eq((await c.state()).json?.status, 'stopped', 'status');
  }),

  def(
    'state::pid-created',
    runtimeMd('#state', 'pid (int, REQUIRED when created or running) is the ID of the container process as seen by the host'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const pid = (await c.state()).json?.pid;
      check(typeof pid === 'number' && Number.isInteger(pid) && pid > 0, `pid ${JSON.stringify(pid)} is not a positive integer`);
      check(pidAlive(pid), `pid ${pid} is not a live host process`);
    },
  ),

  def(
    'state::pid-running-is-program',
    runtimeMd('#state', 'pid is the container process, as seen by the host: after start it runs the user program'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const before = await c.pid();
      await c.startOk();
      const pid = await c.pid();
      eq(pid, before, 'pid after start (the created process must become the program)');
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      eq(cmdline.join(' '), `/bin/tsrun-probe sleep-ms ${LONG_MS}`, `/proc/${pid}/cmdline`);
    },
  ),

  def(
    'state::bundle-absolute',
    runtimeMd('#state', "bundle (string, REQUIRED) is the absolute path to the container's bundle directory"),
    async (ctx) => {
      const b = ctx.bundle(['sleep-ms', LONG_MS]);
      const c = await ctx.create(b);
      const got = (await c.state()).json?.bundle;
      check(typeof got === 'string' && path.isAbsolute(got), `bundle ${JSON.stringify(got)} is not an absolute path`);
      eq(fs.realpathSync(got), fs.realpathSync(b.dir), 'bundle');
    },
  ),

  def(
    'state::bundle-absolute-from-relative',
    runtimeMd('#state', 'bundle is the absolute path even when create was given a relative one'),
    async (ctx) => {
      const b = ctx.bundle(['sleep-ms', LONG_MS]);
      b.write();
      const id = ctx.id('rel');
      const r = await ctx.rt.create(id, path.basename(b.dir), {
        cwd: path.dirname(b.dir),
        stdoutFile: ctx.path('rel.out'),
        stderrFile: ctx.path('rel.err'),
      });
      expectOk(r, 'create with a relative --bundle');
      const got = (await ctx.rt.state(id)).json?.bundle;
      check(typeof got === 'string' && path.isAbsolute(got), `bundle ${JSON.stringify(got)} is not an absolute path`);
      eq(fs.realpathSync(got), fs.realpathSync(b.dir), 'bundle');
    },
  ),

  def(
    'state::annotations',
    runtimeMd('#state', 'annotations (map, OPTIONAL) contains the list of annotations associated with the container'),
    async (ctx) => {
      const b = ctx.bundle(['sleep-ms', LONG_MS]);
      b.config.annotations = { 'org.spec-tests.one': '1', 'org.spec-tests.empty': '' };
      const c = await ctx.create(b);
      const a = (await c.state()).json?.annotations as Record<string, unknown> | undefined;
      const sorted = (o: object | null | undefined): string => JSON.stringify(Object.entries(o ?? {}).sort());
      eq(sorted(a), sorted(b.config.annotations), 'annotations');
    },
  ),

  def(
    'state::annotations-absent',
    runtimeMd('#state', 'If no annotations were provided then annotations MAY either be absent or an empty map'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const s = (await c.state()).json ?? {};
      if (!('annotations' in s)) return;
      const a = s.annotations;
      check(a !== null && typeof a === 'object' && Object.keys(a).length === 0, `annotations is ${JSON.stringify(a)}, not absent or {}`);
    },
  ),

  def(
    'state::unknown-id',
    runtimeMd('#query-state', 'Attempting to query a container that does not exist MUST generate an error'),
    async (ctx) => {
      expectError(await ctx.rt.state(ctx.id('nope')), 'state of an unknown id');
    },
  ),

  def(
    'state::no-id',
    runtimeMd('#query-state', 'state MUST generate an error if it is not provided the ID of a container'),
    async (ctx) => {
      expectError(await ctx.rt.exec(['state']), '`state` without an id');
    },
  ),

  def('state::created-timestamp', cli('state', '`created` is an RFC 3339 timestamp (CRI-O parses it as time.Time)'), async (ctx) => {
    const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
    const v = (await c.state()).json?.created;
    check(
      typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v),
      `created ${JSON.stringify(v)} is not RFC 3339`,
    );
    const t = Date.parse(v);
    check(Math.abs(Date.now() - t) < 10 * 60 * 1000, `created ${v} is not close to now`);
  }),

  def(
    'state::pid-file',
    cli('create --pid-file', 'the pid file holds the container pid, in decimal without a trailing newline'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['sleep-ms', LONG_MS]));
      const text = fs.readFileSync(c.pidFile, 'utf8');
      check(/^\d+$/.test(text), `pid file content ${JSON.stringify(text)} is not bare decimal digits`);
      eq(Number(text), await c.pid(), 'pid file vs state pid');
    },
  ),

  def(
    'state::after-delete',
    runtimeMd('#delete', 'after delete the container no longer exists: querying it generates an error'),
    async (ctx) => {
      const c = await ctx.create(ctx.bundle(['exit', '0']));
      await c.startOk();
      await c.waitStopped();
      expectOk(await c.delete(), 'delete');
      const s = await c.state();
      if (s.code === 0) fail(`state after delete succeeded: ${s.stdout.trim()}`);
    },
  ),
];
