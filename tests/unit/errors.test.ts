/**
 * The error codes have one list (native/include/tsrun_errors.h): the codes
 * of native/host come back checked against it, and C names them only
 * through TSRUN_CODE, which does not compile for a name not in the list.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { TsrunError, isErrorCode } from '../../lib/errors.js';
import { ERROR_CODES } from '../../lib/native/constants.js';
import { fromHost } from '../../lib/native/host.js';
import { ROOT } from '../helpers/bundle.js';

/** An error as the addon throws it for a native/host failure. */
function hostError(code: string, message: string, warnings: string[] = []): Error {
  return Object.assign(new Error(message), { hostCode: code, warnings });
}

test('a native/host error becomes the TsrunError of its code, its warnings heard', (t) => {
  const heard: string[] = [];
  const e = fromHost(hostError('ESTATE', 'container not running', ['w1']), (w) => heard.push(w));
  t.true(e instanceof TsrunError);
  t.is((e as TsrunError).code, 'ESTATE');
  t.is((e as TsrunError).message, 'container not running');
  t.deepEqual(heard, ['w1']);
});

test('a code that is not ours becomes ESYSTEM naming it, never an ErrorCode it is not', (t) => {
  const e = fromHost(hostError('EINVAL', 'spawn: too many fds')) as TsrunError;
  t.is(e.code, 'ESYSTEM');
  t.is(e.message, 'spawn: too many fds (unknown error code "EINVAL" from the native addon)');
  t.is((fromHost(hostError('toString', 'x')) as TsrunError).code, 'ESYSTEM', 'an Object.prototype name is no code either');
});

test('errors that do not come from native/host pass unchanged', (t) => {
  const plain = new Error('boom');
  t.is(fromHost(plain), plain);
  t.is(fromHost(null), null);
});

test('isErrorCode knows exactly the codes of tsrun_errors.h', (t) => {
  for (const code of Object.keys(ERROR_CODES)) t.true(isErrorCode(code), code);
  t.true(isErrorCode('ECONFIG'));
  t.false(isErrorCode('EINVAL'));
  t.false(isErrorCode('hasOwnProperty'));
  t.false(isErrorCode(7));
});

test('C names error codes only through TSRUN_CODE (checked by the compiler against the list)', (t) => {
  const literal = [
    /tsrun_err_set\(\s*[^,()]+,\s*"/, // tsrun_err_set(e, "ESTATE", ...)
    /\(struct tsrun_err\)\s*\{\s*"/, // (struct tsrun_err){"ESYSTEM", ...}
    /\bcode\s*,\s*"E[A-Z]+"/, // strcmp(e->code, "ENOTFOUND")
  ];
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (/\.(c|cc|h)$/.test(entry.name))
        fs.readFileSync(p, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (literal.some((re) => re.test(line))) offenders.push(`${path.relative(ROOT, p)}:${i + 1}: ${line.trim()}`);
          });
    }
  };
  walk(path.join(ROOT, 'native'));
  t.deepEqual(offenders, [], 'use TSRUN_CODE(<name>) from tsrun_errors.h');
});
