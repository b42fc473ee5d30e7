/**
 * HOME from a container's /etc/passwd, for create (the rootfs) and exec
 * (/proc/<init>/root) alike: read inside that root (RESOLVE_IN_ROOT, so an
 * image whose /etc is a symlink to a host directory gets its own file, never
 * the host's) and never more than PASSWD_MAX bytes (the image chooses the
 * file's size).
 */
import { TsrunError } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';

/** The most of an /etc/passwd tsrun reads. runc parses any size but no line over 64 KiB ("token too long"). */
export const PASSWD_MAX = 1 << 20;

/** HOME of `uid`, or null: no file, or no entry with a home. */
export function homeIn(native: Pick<NativeBinding, 'readInRoot'>, root: string, uid: number): string | null {
  let passwd: string | null;
  try {
    passwd = native.readInRoot(root, '/etc/passwd', PASSWD_MAX);
  } catch (e) {
    // runc fails the same way, in its words: "unable to setup user: unable
    // to find user 0: bufio.Scanner: token too long"
    if ((e as NodeJS.ErrnoException).code === 'EFBIG')
      throw new TsrunError('EBUNDLE', `unable to find user ${uid}: /etc/passwd is larger than ${PASSWD_MAX} bytes`, { cause: e });
    throw e;
  }
  return passwd === null ? null : homeInPasswd(passwd, uid);
}

/** The lookup itself, in passwd(5)'s name:password:uid:gid:gecos:home:shell. */
export function homeInPasswd(passwd: string, uid: number): string | null {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    // a decimal uid only: Number('') is 0, and root's entry must not be the first line with an empty uid
    if (f.length >= 7 && /^\d+$/.test(f[2]!) && Number(f[2]) === uid && f[5]) return f[5];
  }
  return null;
}
