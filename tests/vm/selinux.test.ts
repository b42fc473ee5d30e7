/**
 * SELinux on a production host: the lane booted with SELinux as its LSM and
 * Debian's reference policy loaded (tests/vm/run-in-vm.sh --host trixie --lsm
 * selinux). tsrun and runc run the same bundles with process.selinuxLabel and
 * linux.mountLabel, and must label them the same way: the process, its session
 * keyring, the filesystems the runtime mounts (context=, the mqueue root by
 * attribute), exec'd processes with and without --process-label; then, with
 * the policy enforcing, the label must keep a container from another
 * container's files. A label the policy does not know is refused before
 * anything exists, and a file bound over the exec attribute does not take the
 * write. Anywhere else every test is skipped.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { RUNC, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId, type Bundle } from '../helpers/bundle.js';
import { inLane, labelWriteAttack, ok, run } from './lane.js';

const selinuxLane = inLane && fs.existsSync('/sys/fs/selinux/enforce');
const seTest = selinuxLane ? test.serial : test.skip;

const PROCESS = 'system_u:system_r:container_t:s0:c1,c2';
const FILES = 'system_u:object_r:container_file_t:s0:c1,c2';
const OTHER_PROCESS = 'system_u:system_r:container_t:s0:c3,c4';
const OTHER_FILES = 'system_u:object_r:container_file_t:s0:c3,c4';

const RUNTIMES = [
  ['runc', RUNC!],
  ['tsrun', TSRUN],
] as const;

function labelledBundle(args: string[], processLabel = PROCESS, mountLabel = FILES): Bundle {
  return makeBundle((s) => {
    s.process!.args = args;
    s.process!.selinuxLabel = processLabel;
    s.linux!.mountLabel = mountLabel;
  });
}

/**
 * What a distribution's container policy grants its runtime's domain (Fedora's container_runtime_t),
 * granted here to kernel_t, the domain the lane's runtimes run in (its files are unlabelled, so no
 * transition happens at boot): entering container_t, with no_new_privs or from a nosuid mount too, and
 * the container's use of the stdio the runtime hands it. Debian's reference policy has container_t and
 * container_file_t but no runtime domain. A CIL module: semodule installs it without a compiler.
 */
const RUNTIME_DOMAIN_CIL = `(allow kernel_t container_t (process (transition)))
(allow kernel_t container_t (process2 (nnp_transition nosuid_transition)))
(allow container_t kernel_t (fd (use)))
(allow container_t kernel_t (fifo_file (read write append getattr ioctl)))
(allow container_t kernel_t (unix_stream_socket (read write append getattr ioctl)))
(allow container_t kernel_t (process (sigchld)))
`;

/** A file's SELinux label (coreutils' ls -Z, built with SELinux in Debian). */
function labelOf(p: string): string {
  const r = run('ls', ['-Zd', p]);
  return r.stdout.trim().split(/\s+/)[0] ?? `(ls: ${r.stderr.trim()})`;
}

/** The super options' context= of the mounts at these container paths, from the host's view of pid's mountinfo. */
function mountContexts(pid: number, paths: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0 || !paths.includes(f[4]!)) continue;
    const ctx = /(?:^|,)context="?([^",]+(?:,c\d+)*)"?/.exec(f[sep + 3] ?? '');
    out[f[4]!] = ctx ? ctx[1]! : 'none';
  }
  return out;
}

/** The label of the session keyring the runtime made for container `id` ("_ses.<id>", as runc names it). */
function keyringLabel(id: string): string {
  const line = fs
    .readFileSync('/proc/keys', 'utf8')
    .split('\n')
    .find((l) => l.endsWith(`_ses.${id}: empty`) || l.includes(` _ses.${id}:`));
  if (!line) return '(no keyring)';
  const r = run('keyctl', ['security', String(parseInt(line.split(' ')[0]!, 16))]);
  return r.status === 0 ? r.stdout.trim() : `(keyctl: ${r.stderr.trim()})`;
}

const pidOf = (bin: string, root: string, id: string): number => JSON.parse(runtime(bin, root, ['state', id]).stdout).pid;
const current = ['sh', '-c', 'cat /proc/self/attr/current; echo'];

seTest('the lane: SELinux is the LSM, the reference policy is loaded, permissive', (t) => {
  t.regex(fs.readFileSync('/sys/kernel/security/lsm', 'utf8'), /selinux/);
  t.is(fs.readFileSync('/sys/fs/selinux/enforce', 'utf8').trim(), '0');
  t.regex(ok(t, run('sestatus', []), 'sestatus'), /Loaded policy name:\s+default/);
  const features = JSON.parse(ok(t, run(TSRUN, ['features']), 'features'));
  // features-linux.md: the runtime's support, irrelevant to the host's (runc says true for both too)
  t.deepEqual([features.linux.selinux, features.linux.apparmor], [{ enabled: true }, { enabled: true }]);
});

seTest('process, keyring and mount labels, and exec with and without --process-label, as with runc', (t) => {
  const masked = '/sys/firmware'; // a masked directory: a tmpfs of the runtime's
  const mounts = ['/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/proc', '/sys', masked];
  const b = labelledBundle(['sleep', '600']);
  const seen: Record<string, unknown> = {};
  try {
    for (const [name, bin] of RUNTIMES) {
      const root = tempRoot();
      const id = uniqueId(`se-${name}`);
      t.is(runtime(bin, root, ['run', '-d', '-b', b.dir, id]).status, 0, name);
      try {
        const pid = pidOf(bin, root, id);
        const keyring = keyringLabel(id); // before exec: a tenant joins it with its own label in effect
        const plain = runtime(bin, root, ['exec', id, ...current]);
        const other = runtime(bin, root, ['exec', '--process-label', OTHER_PROCESS, id, ...current]);
        t.is(plain.status, 0, `${name}: ${plain.stderr}`);
        t.is(other.status, 0, `${name}: ${other.stderr}`);
        seen[name] = {
          process: fs.readFileSync(`/proc/${pid}/attr/current`, 'utf8').replace(/\0$/, ''),
          keyring,
          mounts: mountContexts(pid, mounts),
          mqueue: labelOf(`/proc/${pid}/root/dev/mqueue`),
          exec: plain.stdout.trim().replace(/\0/g, ''),
          execLabel: other.stdout.trim().replace(/\0/g, ''),
        };
      } finally {
        runtime(bin, root, ['delete', '-f', id]);
      }
    }
    t.log(seen);
    t.deepEqual(seen.tsrun, seen.runc);
    t.deepEqual(seen.tsrun, {
      process: PROCESS,
      keyring: PROCESS,
      mounts: {
        '/dev': FILES,
        '/dev/pts': FILES,
        '/dev/shm': FILES,
        '/dev/mqueue': 'none',
        '/proc': 'none',
        '/sys': 'none',
        [masked]: FILES,
      },
      mqueue: FILES,
      exec: PROCESS,
      execLabel: OTHER_PROCESS,
    });
  } finally {
    b.cleanup();
  }
});

seTest('a label the policy does not know is refused naming its field, before anything exists', (t) => {
  for (const [field, bundle] of [
    ['process.selinuxLabel', labelledBundle(['true'], 'system_u:system_r:tsrun_no_such_t:s0')],
    ['linux.mountLabel', labelledBundle(['true'], PROCESS, 'system_u:object_r:tsrun_no_such_t:s0')],
  ] as const) {
    const root = tempRoot();
    const id = uniqueId('se-bad');
    try {
      const r = runtime(TSRUN, root, ['create', '-b', bundle.dir, id]);
      t.is(r.status, 1, r.stderr);
      t.regex(r.stderr, new RegExp(`${field.replace('.', '\\.')}: "[^"]*tsrun_no_such_t[^"]*" is not a valid SELinux context`));
      t.deepEqual(leftIn(root), [], 'no state dir');
      t.is(runtime(TSRUN, root, ['delete', '--force', id]).status, 0, 'delete --force succeeds');
    } finally {
      bundle.cleanup();
    }
  }
});

seTest(
  'CVE-2025-52881: a file over the exec attribute never takes the label’s write: refused in mounts, and a fake /proc of the container’s own does not catch exec’s',
  (t) => {
    // the container labelled PROCESS (the policy is permissive here, so it may mount); exec asks for another label
    labelWriteAttack(t, {
      bundle: () => labelledBundle(['true']),
      container: () => labelledBundle(['true']),
      destinations: ['/proc/self/attr/exec'],
      execFlags: ['--process-label', OTHER_PROCESS],
      want: OTHER_PROCESS,
      prefix: 'se',
    });
  },
);

seTest('enforcing: the categories keep a container from another container’s files, as with runc', (t) => {
  // the module stays: the lane's root is a tmpfs overlay, gone at poweroff (semodule takes ~50 s a change)
  const cil = path.join(os.tmpdir(), 'tsrun_runtime_domain.cil');
  fs.writeFileSync(cil, RUNTIME_DOMAIN_CIL);
  ok(t, run('semodule', ['-i', cil], 600_000), 'semodule -i');
  // each container's rootfs and a file of the other's, labelled as an engine labels them (chcon -R)
  const b = labelledBundle([
    'sh',
    '-c',
    'cat /own/file; cat /theirs/file 2>/dev/null || echo theirs-denied; echo x > /own/new && echo own-written; (echo x > /theirs/new) 2>/dev/null || echo theirs-write-denied',
  ]);
  b.spec.root!.readonly = false;
  b.write();
  for (const dir of ['own', 'theirs']) {
    fs.mkdirSync(path.join(b.rootfs, dir));
    fs.writeFileSync(path.join(b.rootfs, dir, 'file'), `${dir} content\n`);
  }
  ok(t, run('chcon', ['-R', FILES, b.rootfs]), 'chcon rootfs');
  ok(t, run('chcon', ['-R', OTHER_FILES, path.join(b.rootfs, 'theirs')]), 'chcon theirs');
  const seen: Record<string, string> = {};
  try {
    ok(t, run('setenforce', ['1']), 'setenforce 1');
    for (const [name, bin] of RUNTIMES) {
      // stdout a pipe, not the helper's file: the container is not allowed the test's tmp_t files
      // (runc relays a foreground container's output through pipes of its own; tsrun hands the
      // caller's stdio to it, which the policy then closes at the exec into container_t)
      const r = run(bin, ['--root', tempRoot(), 'run', '-b', b.dir, uniqueId(`se-enf-${name}`)]);
      seen[name] = `exit ${r.status}: ${r.stdout}${r.status ? r.stderr : ''}`;
    }
  } finally {
    run('setenforce', ['0']);
    b.cleanup();
  }
  t.log(seen);
  t.log(run('sh', ['-c', 'journalctl -k -b --no-pager | grep "avc:  denied" | grep -v permissive=1 | tail -20']).stdout);
  t.is(seen.tsrun, seen.runc);
  t.is(seen.tsrun, 'exit 0: own content\ntheirs-denied\nown-written\ntheirs-write-denied\n');
});
