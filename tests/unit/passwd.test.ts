/** HOME from a container's /etc/passwd: the lookup, and a file too large to read (lib/container/passwd.ts). */
import test from 'ava';

import { PASSWD_MAX, homeIn, homeInPasswd } from '../../lib/container/passwd.js';
import { TsrunError } from '../../lib/errors.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'nohome:x:5:5::',
  'empty:x:7:7:gecos::/bin/sh',
  'seven:x:7:7:gecos:/home/seven:/bin/sh',
  '',
].join('\n');

test('the first entry of the uid with a home, as before', (t) => {
  t.is(homeInPasswd(PASSWD, 0), '/root');
  t.is(homeInPasswd(PASSWD, 7), '/home/seven', 'an entry with an empty home is skipped');
  t.is(homeInPasswd(PASSWD, 5), null, 'too few fields');
  t.is(homeInPasswd(PASSWD, 1000), null);
});

test('an entry whose uid field is empty or not decimal is no entry of uid 0', (t) => {
  t.is(homeInPasswd('bad:x::0::/evil:/bin/sh\nroot:x:0:0::/root:/bin/sh\n', 0), '/root');
  t.is(homeInPasswd('bad:x: 0:0::/evil:/bin/sh\n', 0), null);
  t.is(homeInPasswd('bad:x:0x0:0::/evil:/bin/sh\n', 0), null);
});

test('the file is read inside the root given, capped; a larger one fails in runc-like words', (t) => {
  const asked: unknown[] = [];
  const native = (out: () => string | null) => ({
    readInRoot: (root: string, file: string, max: number) => (asked.push([root, file, max]), out()),
  });
  t.is(
    homeIn(
      native(() => PASSWD),
      '/rootfs',
      0,
    ),
    '/root',
  );
  t.deepEqual(asked, [['/rootfs', '/etc/passwd', PASSWD_MAX]]);
  t.is(
    homeIn(
      native(() => null),
      '/rootfs',
      0,
    ),
    null,
    'no file: no home',
  );
  const big = Object.assign(new Error('read: File too large'), { code: 'EFBIG' });
  const e = t.throws(
    () =>
      homeIn(
        native(() => {
          throw big;
        }),
        '/proc/1/root',
        0,
      ),
    { instanceOf: TsrunError },
  );
  t.is(e?.message, `unable to find user 0: /etc/passwd is larger than ${PASSWD_MAX} bytes`);
  t.is(e?.cause, big);
  const other = Object.assign(new Error('x'), { code: 'EIO' });
  t.throws(
    () =>
      homeIn(
        native(() => {
          throw other;
        }),
        '/r',
        0,
      ),
    { is: other },
  );
});
