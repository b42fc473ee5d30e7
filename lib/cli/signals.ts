import * as os from 'node:os';

import { TsrunError } from '../errors.js';

/** Parses "9", "KILL", "SIGKILL" (any case) to a signal number. */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 0 && n <= 64) return n; // 0: only "is it alive?", as kill(2) and runc take it
  } else {
    const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
    const n = (os.constants.signals as Record<string, number>)[name];
    if (n !== undefined) return n;
    // real-time signals: RTMIN, RTMIN+n, RTMAX-n (glibc reserves 32 and 33)
    const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
    if (rt) {
      const base = rt[1] === 'MIN' ? 34 : 64;
      const v = base + (rt[2] === '-' ? -1 : 1) * Number(rt[3] ?? 0);
      if (v >= 34 && v <= 64) return v;
    }
  }
  throw new TsrunError('EUSAGE', `invalid signal ${JSON.stringify(text)}`);
}
