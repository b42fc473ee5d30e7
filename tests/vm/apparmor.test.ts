/**
 * AppArmor on a production host (the lane: AppArmor enforcing; tests/vm/
 * run-in-vm.sh --host trixie): tsrun and runc run the same bundles with
 * process.apparmorProfile and must confine them the same way: the profile in
 * /proc/self/attr/current in enforce mode, what it denies denied, exec with
 * the container's profile and with --apparmor, and a profile that is not
 * loaded refused before anything exists. Anywhere else every test is skipped.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';
import { labelWriteAttack, laneTest, run } from './lane.js';

/** A profile of the test's: the container may do what a container does, but not these. */
const PROFILE = 'tsrun-lane-test';
const PROFILE_TEXT = `abi <abi/4.0>,
include <tunables/global>
profile ${PROFILE} flags=(attach_disconnected,mediate_deleted) {
  include <abstractions/base>
  file,
  network,
  capability,
  signal,
  ptrace,
  unix,
  umount,
  deny mount,
  deny /proc/sys/** w,
  deny /denied/** rw,
}
`;
/** A second profile, for exec --apparmor. */
const OTHER = 'tsrun-lane-other';

let loaded = false;
/** Loads both profiles once (apparmor_parser -r: replaced if there). */
function loadProfiles(): void {
  if (loaded) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-aa-'));
  try {
    for (const [name, text] of [
      [PROFILE, PROFILE_TEXT],
      [OTHER, PROFILE_TEXT.replace(`profile ${PROFILE} `, `profile ${OTHER} `)],
    ] as const) {
      const f = path.join(dir, name);
      fs.writeFileSync(f, text);
      const r = run('apparmor_parser', ['-r', f]);
      if (r.status !== 0) throw new Error(`apparmor_parser -r ${name}: ${r.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  loaded = true;
}

const SCRIPT = [
  'echo "$(cat /proc/self/attr/current)"',
  'echo x 2>/dev/null > /proc/sys/kernel/domainname && echo sysctl-written || echo sysctl-denied',
  'mkdir -p /mnt/t; mount -t tmpfs none /mnt/t 2>/dev/null && echo mounted || echo mount-denied',
  'cat /denied/file 2>/dev/null || echo read-denied',
  'cat /allowed/file',
].join('; ');

function confinedBundle(profile: string, script = SCRIPT) {
  const b = makeBundle((s) => {
    s.process!.args = ['sh', '-c', script];
    s.process!.apparmorProfile = profile;
    s.root!.readonly = false;
    // enough privilege that only the profile stands in the way: CAP_SYS_ADMIN for mount, /proc/sys writable
    s.process!.capabilities = Object.fromEntries(
      (['bounding', 'effective', 'permitted'] as const).map((k) => [k, ['CAP_SYS_ADMIN', 'CAP_DAC_OVERRIDE']]),
    );
    s.linux!.readonlyPaths = [];
  });
  for (const d of ['denied', 'allowed']) {
    fs.mkdirSync(path.join(b.rootfs, d), { recursive: true });
    fs.writeFileSync(path.join(b.rootfs, d, 'file'), `${d} content\n`);
  }
  return b;
}

laneTest('process.apparmorProfile: the program runs in the profile, enforcing, and what it denies is denied, as with runc', (t) => {
  loadProfiles();
  const b = confinedBundle(PROFILE);
  try {
    const seen: Record<string, string> = {};
    for (const [name, bin] of [
      ['runc', RUNC!],
      ['tsrun', TSRUN],
    ] as const) {
      const r = runtime(bin, tempRoot(), ['run', '-b', b.dir, uniqueId(`aa-${name}`)]);
      t.is(r.status, 0, `${name}: ${r.stderr}`);
      seen[name] = r.stdout;
    }
    t.log(seen);
    t.is(seen.tsrun, seen.runc);
    t.is(seen.tsrun, `${PROFILE} (enforce)\nsysctl-denied\nmount-denied\nread-denied\nallowed content\n`);
  } finally {
    b.cleanup();
  }
});

laneTest('exec: the container’s profile by default, --apparmor’s when given, as with runc', (t) => {
  loadProfiles();
  const b = confinedBundle(PROFILE, 'sleep 600');
  try {
    const seen: Record<string, string[]> = {};
    for (const [name, bin] of [
      ['runc', RUNC!],
      ['tsrun', TSRUN],
    ] as const) {
      const root = tempRoot();
      const id = uniqueId(`aax-${name}`);
      t.is(runtime(bin, root, ['run', '-d', '-b', b.dir, id]).status, 0, name);
      try {
        const current = ['sh', '-c', 'echo "$(cat /proc/self/attr/current)"'];
        const plain = runtime(bin, root, ['exec', id, ...current]);
        const other = runtime(bin, root, ['exec', '--apparmor', OTHER, id, ...current]);
        t.is(plain.status, 0, `${name}: ${plain.stderr}`);
        t.is(other.status, 0, `${name}: ${other.stderr}`);
        seen[name] = [plain.stdout.trim(), other.stdout.trim()];
      } finally {
        runtime(bin, root, ['delete', '-f', id]);
      }
    }
    t.deepEqual(seen.tsrun, seen.runc);
    t.deepEqual(seen.tsrun, [`${PROFILE} (enforce)`, `${OTHER} (enforce)`]);
  } finally {
    b.cleanup();
  }
});

laneTest('a profile that is not loaded is refused naming process.apparmorProfile, before anything exists', (t) => {
  const b = confinedBundle('tsrun-no-such-profile', 'true');
  const root = tempRoot();
  const id = uniqueId('aa-missing');
  try {
    const r = runtime(TSRUN, root, ['create', '-b', b.dir, id]);
    t.is(r.status, 1, r.stderr);
    t.regex(r.stderr, /process\.apparmorProfile/);
    t.regex(r.stderr, /tsrun-no-such-profile/);
    t.deepEqual(leftIn(root), [], 'no state dir');
    t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0, 'delete --force succeeds');
  } finally {
    b.cleanup();
  }
});

laneTest(
  'CVE-2025-52881 / CVE-2019-16884: a file over the exec attribute never takes the profile’s write: refused in mounts, and a fake /proc of the container’s own does not catch exec’s',
  (t) => {
    // the config's form binds over attr/apparmor/exec and the older attr/exec; the container that mounts
    // its fake /proc runs unconfined (the profile denies mount), exec asks for the profile
    loadProfiles();
    labelWriteAttack(t, {
      bundle: () => confinedBundle(PROFILE, 'true'),
      container: () => {
        const c = confinedBundle(PROFILE);
        delete c.spec.process!.apparmorProfile;
        return c;
      },
      destinations: ['/proc/self/attr/apparmor/exec', '/proc/self/attr/exec'],
      execFlags: ['--apparmor', PROFILE],
      want: `${PROFILE} (enforce)`,
      prefix: 'aa',
    });
  },
);
