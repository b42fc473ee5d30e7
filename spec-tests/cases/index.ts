/** Every case, in the order the suite runs them. Add a new area's file here. */
import type { Case } from '../harness/types.js';
import { capabilityCases } from './capabilities.js';
import { cgroupCases } from './cgroups.js';
import { cliCases } from './cli.js';
import { configCases } from './config.js';
import { consoleCases } from './console.js';
import { deviceCases } from './devices.js';
import { errorCases } from './errors.js';
import { execCases } from './exec.js';
import { hookCases } from './hooks.js';
import { lifecycleCases } from './lifecycle.js';
import { lsmCases } from './lsm.js';
import { mountCases } from './mounts.js';
import { namespaceCases } from './namespaces.js';
import { pathCases } from './paths.js';
import { processCases } from './process.js';
import { rlimitCases } from './rlimits.js';
import { seccompCases } from './seccomp.js';
import { stateCases } from './state.js';
import { systemdCases } from './systemd.js';

export function allCases(): Case[] {
  const cases = [
    ...lifecycleCases,
    ...stateCases,
    ...errorCases,
    ...namespaceCases,
    ...mountCases,
    ...pathCases,
    ...deviceCases,
    ...processCases,
    ...capabilityCases,
    ...rlimitCases,
    ...seccompCases,
    ...lsmCases,
    ...hookCases,
    ...cgroupCases,
    ...systemdCases,
    ...consoleCases,
    ...execCases,
    ...configCases,
    ...cliCases,
  ];
  const seen = new Set<string>();
  for (const c of cases) {
    if (!/^[a-z0-9-]+::[a-z0-9.-]+$/.test(c.id)) throw new Error(`bad case id ${c.id}`);
    if (seen.has(c.id)) throw new Error(`duplicate case id ${c.id}`);
    seen.add(c.id);
  }
  return cases;
}
