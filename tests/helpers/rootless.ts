/**
 * The unprivileged user of the rootless tests (tests/integration/rootless,
 * podman-rootless): made here with /etc/subuid and /etc/subgid ranges when
 * missing, with an $XDG_RUNTIME_DIR of its own, and a way to run programs as
 * it. Needs root; says why the suite cannot run otherwise.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DEFAULT_ROOTLESS_USER, setUpRootlessUser, type RootlessUser } from '../../spec-tests/harness/rootless.js';
import { IS_ROOT, ROOT, RUNC, TSRUN } from './bundle.js';
import { waitForSync } from './wait.js';

export const USER = DEFAULT_ROOTLESS_USER;
/** How many subordinate ids the setup gives the user (tests map them all). */
export const SUB_COUNT = 65536;

export interface Who {
  uid: number;
  gid: number;
  home: string;
  xdg: string;
  subuid: number;
  subgid: number;
}

/** Why the suite cannot run here, or null; makes the user when it is missing
 * (spec-tests' helper, which `spec-tests --rootless` uses too). */
export function setUp(): { who: Who | null; skip: string | null } {
  if (!IS_ROOT) return { who: null, skip: 'needs root to create the unprivileged user' };
  if (!RUNC) return { who: null, skip: 'runc is not installed' };
  let user: RootlessUser;
  try {
    user = setUpRootlessUser(USER);
  } catch (e) {
    return { who: null, skip: (e as Error).message };
  }
  if (!user.subuid || !user.subgid) return { who: null, skip: `${USER} has no /etc/subuid or /etc/subgid range` };
  const { uid, gid } = user;
  const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-xdg-'));
  fs.chownSync(xdg, uid, gid);
  fs.chmodSync(xdg, 0o700);
  const who: Who = { uid, gid, home: user.home, xdg, subuid: user.subuid.start, subgid: user.subgid.start };
  process.on('exit', () => fs.rmSync(xdg, { recursive: true, force: true }));
  // the user must reach the front, the compiled CLI and the addon; we do
  // not loosen the checkout, we say what is in the way
  const probe = as(who, TSRUN, ['--version']);
  if (probe.status !== 0) return { who: null, skip: `${USER} cannot run ${TSRUN} (${probe.stderr.trim()}): make ${ROOT} readable` };
  return { who, skip: null };
}

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program as the user, with the environment a login would give it
 * (no --root: the XDG default), and `opts.env` on top. Output goes through files: a detached
 * container keeps a pipe open for as long as it lives.
 */
export function as(
  who: Who,
  bin: string,
  args: string[],
  cwd?: string,
  opts: { cgroup?: string; env?: Record<string, string> } = {},
): Result {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-io-'));
  const out = fs.openSync(path.join(dir, 'out'), 'w+');
  const err = fs.openSync(path.join(dir, 'err'), 'w+');
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: who.home, USER, XDG_RUNTIME_DIR: who.xdg, ...opts.env };
  // In a cgroup the user may not move itself into (the move needs the
  // common ancestor's cgroup.procs): root moves the shell, which then
  // becomes the user (as a login into a delegated systemd slice would).
  const [file, argv, ids] = opts.cgroup
    ? [
        'sh',
        [
          '-c',
          'echo $$ > "$1/cgroup.procs" && shift && exec setpriv --reuid="$U" --regid="$G" --clear-groups -- "$@"',
          'sh',
          opts.cgroup,
          bin,
          ...args,
        ],
        {},
      ]
    : [bin, args, { uid: who.uid, gid: who.gid }];
  try {
    const r = spawnSync(file, argv, {
      ...ids,
      cwd: cwd ?? '/',
      env: opts.cgroup ? { ...env, U: String(who.uid), G: String(who.gid) } : env,
      timeout: 30_000,
      stdio: ['ignore', out, err],
    });
    const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
    return { status: r.status, stdout: read('out'), stderr: read('err') };
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function chownTree(p: string, uid: number, gid: number): void {
  fs.lchownSync(p, uid, gid);
  if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}

/**
 * On a systemd host: `user`'s own systemd manager and session bus, made to
 * linger (as a desktop session or a CI runner has them), and the environment
 * that reaches them, as rootless podman finds them in a login. Throws with
 * what is missing.
 */
export function userManager(user: string, uid: number): Record<string, string> {
  const linger = spawnSync('loginctl', ['enable-linger', user], { encoding: 'utf8', timeout: 60_000 });
  if (linger.status !== 0) throw new Error(`loginctl enable-linger ${user}: ${linger.stderr}`);
  const xdg = `/run/user/${uid}`;
  const bus = path.join(xdg, 'bus');
  if (!waitForSync(() => fs.existsSync(bus), 60_000)) throw new Error(`${bus}: no bus of ${user}'s manager (dbus-user-session)`);
  return { XDG_RUNTIME_DIR: xdg, DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus}` };
}
