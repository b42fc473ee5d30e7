/**
 * Files the runtime keeps where another local user might reach them: the
 * state root, a container's state dir and the seccomp cache (which must be
 * the runtime's user's alone), and a --pid-file (in a directory of the
 * caller's choosing).
 *
 * A private directory is opened one component at a time, each below the
 * last one's fd and without following symlinks, and checked on that fd:
 * a directory, owned by our euid, writable by nobody else. What is read or
 * written is then reached through the checked fd, so renaming something
 * into the path after the check changes nothing. Node has no openat(2):
 * `/proc/self/fd/<dir>/<name>` is the same lookup (the magic link is the
 * open directory itself, not its path), and O_NOFOLLOW still applies to
 * `<name>`. native/host/state.c checks the same way (tsrun_lock).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeBinding } from '../native/binding.js';
import { fromHost } from '../native/host.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** A directory or file another user could change, or that is not what it should be: never trusted. */
export class NotPrivateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotPrivateError';
  }
}

/** `name` in the directory open as `dirFd`, for fs calls that take a path (openat's lookup). */
export function at(dirFd: number, name: string): string {
  if (!name || name.includes('/') || name === '.' || name === '..') throw new Error(`not a file name: ${JSON.stringify(name)}`);
  return `/proc/self/fd/${dirFd}/${name}`;
}

/** An unpredictable name in a directory: `<prefix><16 hex digits>`. */
export function unpredictable(prefix: string): string {
  return `${prefix}${Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(8))).toString('hex')}`;
}

function euid(): number {
  return process.geteuid?.() ?? 0;
}

/** Throws unless fd is a `kind` owned by our euid that no group or other may write (`secret`: nor read). */
function checkOwned(fd: number, shown: string, kind: 'directory' | 'regular file', secret = false): fs.Stats {
  const st = fs.fstatSync(fd);
  if (kind === 'directory' ? !st.isDirectory() : !st.isFile()) throw new NotPrivateError(`${shown} is not a ${kind}`);
  if (st.uid !== euid()) throw new NotPrivateError(`${shown} is owned by uid ${st.uid}, not ${euid()}`);
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  if (st.mode & 0o022) throw new NotPrivateError(`${shown} is writable by other users (mode ${mode})`);
  if (secret && st.mode & 0o077) throw new NotPrivateError(`${shown} is readable by other users (mode ${mode})`);
  return st;
}

function lstatKind(p: string): 'symlink' | 'other' {
  try {
    return fs.lstatSync(p).isSymbolicLink() ? 'symlink' : 'other';
  } catch {
    return 'other';
  }
}

/** open(2) of one component, O_NOFOLLOW: a symlink says so (ELOOP); ENOENT and the rest are thrown as they are. */
function openNoFollow(p: string, flags: number, shown: string, mode?: number): number {
  try {
    return fs.openSync(p, flags | O_NOFOLLOW, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // a symlink is ELOOP, or ENOTDIR when a directory was asked for
    if (code === 'ELOOP' || (code === 'ENOTDIR' && flags & O_DIRECTORY))
      throw new NotPrivateError(`${shown} is ${lstatKind(p) === 'symlink' ? 'a symlink' : 'not a directory'}`);
    throw e;
  }
}

/**
 * The fd of `root/names…`, each checked private (see the top of this file);
 * `root` itself is the caller's path (symlinks in it are followed, then
 * its directory is checked). `create`: missing components are made 0700.
 * Throws NotPrivateError, or ENOENT when something is missing. Close it.
 */
export function openPrivateDir(root: string, names: readonly string[], opts: { create?: boolean } = {}): number {
  let shown = root;
  let fd = fs.openSync(root, O_RDONLY | O_DIRECTORY);
  try {
    checkOwned(fd, shown, 'directory');
    for (const name of names) {
      shown = path.join(shown, name);
      if (opts.create) {
        try {
          fs.mkdirSync(at(fd, name), { mode: 0o700 });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
      const next = openNoFollow(at(fd, name), O_RDONLY | O_DIRECTORY, shown);
      fs.closeSync(fd);
      fd = next;
      checkOwned(fd, shown, 'directory');
    }
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/**
 * A regular file of a private directory, not through a symlink, ours and
 * writable by no one else (`secret`: readable by no one else either), of at
 * most maxBytes; null when it does not exist.
 */
export function readPrivateFile(dirFd: number, shownDir: string, name: string, maxBytes: number, secret = false): Buffer | null {
  const shown = path.join(shownDir, name);
  let fd: number;
  try {
    fd = openNoFollow(at(dirFd, name), O_RDONLY | O_NONBLOCK, shown);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const st = checkOwned(fd, shown, 'regular file', secret);
    if (st.size > maxBytes) throw new NotPrivateError(`${shown} is larger than ${maxBytes} bytes`);
    // one byte more than it says, up to maxBytes + 1: a file that grew past the cap shows it
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let n = 0;
    for (let r; n < buf.length && (r = fs.readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > maxBytes) throw new NotPrivateError(`${shown} is larger than ${maxBytes} bytes`);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates `name` (O_EXCL|O_NOFOLLOW: never an existing file, nor a symlink's target) with `data`. */
export function createFileAt(dirFd: number, name: string, data: Uint8Array | string, mode: number): void {
  const fd = fs.openSync(at(dirFd, name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    fs.writeFileSync(fd, data);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `name` whole: written under an unpredictable name first, then renamed over it (a reader sees old or new). */
export function replaceFileAt(dirFd: number, name: string, data: Uint8Array | string, mode: number): void {
  const tmp = unpredictable(`.${name}.`);
  createFileAt(dirFd, tmp, data, mode);
  try {
    fs.renameSync(at(dirFd, tmp), at(dirFd, name));
  } catch (e) {
    fs.rmSync(at(dirFd, tmp), { force: true });
    throw e;
  }
}

/**
 * runc's pid file: the pid, no newline, replaced whole, written by
 * native/host/files.c (the front's cached exec writes it there too). Its
 * directory may be another user's to write: the temporary file is new
 * (O_EXCL|O_NOFOLLOW) at an unpredictable name, never a symlink planted at a
 * name we would use, and the rename replaces a symlink at `file` without
 * following it.
 */
export function writePidFile(native: Pick<NativeBinding, 'writePidFile'>, file: string, pid: number): void {
  try {
    native.writePidFile(file, pid);
  } catch (e) {
    throw fromHost(e);
  }
}
