import * as os from 'node:os';

import { TsrunError } from '../errors.js';

/** Parses "9", "KILL", "SIGKILL" (any case) to a signal number. */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n > 0 && n <= 64) return n;
  } else {
    const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
    const n = (os.constants.signals as Record<string, number>)[name];
    if (n !== undefined) return n;
  }
  throw new TsrunError('EUSAGE', `invalid signal ${JSON.stringify(text)}`);
}
