/**
 * Container status and the guards every operation checks, in one place.
 */
import { TsrunError } from '../errors.js';

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export function canStart(status: Status, id: string): void {
  if (status === 'created') return;
  if (status === 'stopped') throw new TsrunError('ESTATE', 'cannot start a container that has stopped');
  if (status === 'running') throw new TsrunError('ESTATE', 'cannot start an already running container');
  throw new TsrunError('ESTATE', `cannot start a container in the ${status} state (${id})`);
}

export function canKill(status: Status, all: boolean): boolean {
  if (status === 'created' || status === 'running' || status === 'paused') return true;
  if (all) return false; // runc: kill --all of a stopped container succeeds quietly
  throw new TsrunError('ESTATE', 'container not running');
}

export function canDelete(status: Status, id: string, force: boolean): void {
  if (status === 'stopped' || status === 'created' || force) return;
  throw new TsrunError('ESTATE', `cannot delete container ${id} that is not stopped: ${status}`);
}

/** runc's rules: exec into a created or running container; a paused one only when asked. */
export function canExec(status: Status, ignorePaused: boolean): void {
  if (status === 'created' || status === 'running') return;
  if (status === 'paused') {
    if (ignorePaused) return;
    throw new TsrunError('ESTATE', 'cannot exec in a paused container (use --ignore-paused to override)');
  }
  throw new TsrunError('ESTATE', `cannot exec in a ${status} container`);
}
