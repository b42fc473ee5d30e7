/** Every case, in the order the suite runs them. Add a new area's file here. */
import type { Case } from '../harness/types.js';
import { errorCases } from './errors.js';
import { lifecycleCases } from './lifecycle.js';
import { stateCases } from './state.js';

export function allCases(): Case[] {
  const cases = [...lifecycleCases, ...stateCases, ...errorCases];
  const seen = new Set<string>();
  for (const c of cases) {
    if (!/^[a-z0-9-]+::[a-z0-9.-]+$/.test(c.id)) throw new Error(`bad case id ${c.id}`);
    if (seen.has(c.id)) throw new Error(`duplicate case id ${c.id}`);
    seen.add(c.id);
  }
  return cases;
}
