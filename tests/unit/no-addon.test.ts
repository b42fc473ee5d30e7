/**
 * Planning and encoding need no addon: lib/plan/ and lib/native/plan-codec.ts
 * take every constant from the module generated at build time, so lifecycle
 * code can be driven with an injected fake binding. Proven twice: in this
 * process (the loader never ran), and in a child whose TSRUN_ADDON points
 * nowhere (any load would throw).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { defaultSpec } from '../../lib/config/default-spec.js';
import { validateSpec, type ValidationHost } from '../../lib/config/validate.js';
import { addonId } from '../../lib/native/binding.js';
import { encodePlan } from '../../lib/native/plan-codec.js';
import { buildPlan, type PlanHost } from '../../lib/plan/build.js';
import { buildTenantPlan } from '../../lib/plan/tenant.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const host: PlanHost = { kind: () => 'dir', cgroupV2Only: () => true, cgroupV1Hierarchies: () => [], homeOf: () => '/root' };
const validationHost: ValidationHost = { kind: () => 'dir', realPath: (p) => p };

/** Plans and encodes an init and a tenant; the sha256 of both buffers. */
function planAndEncode(): string {
  const spec = defaultSpec();
  spec.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }];
  const init = buildPlan(spec, { id: 'x', bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/x' }, host).init;
  const tenant = buildTenantPlan(spec.process!, {
    id: 'x',
    joins: [],
    noNewKeyring: false,
    consoleSocketFd: -1,
    preserveFds: 0,
    extraEnv: [],
    seccomp: null,
    home: '/root',
  }).init;
  return createHash('sha256').update(encodePlan(init)).update(encodePlan(tenant)).digest('hex');
}

test('a config is validated, planned and encoded in this process without loading the addon', (t) => {
  const spec = defaultSpec();
  spec.process!.terminal = false;
  t.notThrows(() => validateSpec(spec, validationHost, { rootfs: '/b/rootfs', detach: true, consoleSocket: false }));
  t.regex(planAndEncode(), /^[0-9a-f]{64}$/);
  t.is(addonId(), undefined, 'loadBinding() never ran');
});

test('the same, in a process where the addon cannot be loaded at all', (t) => {
  const dist = (p: string) => JSON.stringify(path.join(here, '..', '..', 'lib', p));
  const script = `
    const { defaultSpec } = await import(${dist('config/default-spec.js')});
    const { encodePlan } = await import(${dist('native/plan-codec.js')});
    const { buildPlan } = await import(${dist('plan/build.js')});
    const { buildTenantPlan } = await import(${dist('plan/tenant.js')});
    const { loadBinding } = await import(${dist('native/binding.js')});
    const { createHash } = await import('node:crypto');
    const host = { kind: () => 'dir', cgroupV2Only: () => true, cgroupV1Hierarchies: () => [], homeOf: () => '/root' };
    const spec = defaultSpec();
    spec.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }];
    const init = buildPlan(spec, { id: 'x', bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/x' }, host).init;
    const tenant = buildTenantPlan(spec.process, { id: 'x', joins: [], noNewKeyring: false, consoleSocketFd: -1,
      preserveFds: 0, extraEnv: [], seccomp: null, home: '/root' }).init;
    console.log(createHash('sha256').update(encodePlan(init)).update(encodePlan(tenant)).digest('hex'));
    try { loadBinding(); console.log('loaded'); } catch { console.log('no addon'); }
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TSRUN_ADDON: '/nonexistent/tsrun.node' },
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  // the same bytes as here, and the addon really was out of reach
  t.deepEqual(r.stdout.trim().split('\n'), [planAndEncode(), 'no addon']);
});
