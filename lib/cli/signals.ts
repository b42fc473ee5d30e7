import { TsrunError } from '../errors.js';
import { loadBinding } from '../native/binding.js';

/** "9", "KILL", "SIGKILL", "RTMIN+2" (any case) to a signal number: native/host's table, the front's too. */
export function parseSignal(text: string): number {
  const n = loadBinding().parseSignal(text);
  if (n < 0) throw new TsrunError('EUSAGE', `invalid signal ${JSON.stringify(text)}`);
  return n;
}
