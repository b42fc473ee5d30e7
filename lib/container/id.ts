import { TsrunError, shown } from '../errors.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

/** Container ids become directory names: no "/", no "..", nothing exotic. */
export function checkId(id: string): void {
  if (!ID.test(id) || id.includes('..') || id.length > 1024) {
    throw new TsrunError('EID', `invalid container id ${shown(id)}: must match [A-Za-z0-9][A-Za-z0-9_.+-]* without ".."`);
  }
}
