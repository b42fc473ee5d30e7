/** Linux security module labels: process.apparmorProfile, process.selinuxLabel
 * and linux.mountLabel (config.md, config-linux.md), and exec's --apparmor and
 * --process-label (runc's CLI). Each case runs only where the host has that LSM
 * on (and its tools, and a policy that knows the labels used); elsewhere it
 * skips saying which is missing. What the runtime reports in `features` is not
 * a reason to skip: features-linux.md makes it the runtime's support,
 * irrelevant to the host's. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { linux, proc } from '../harness/config.js';
import type { CaseContext } from '../harness/context.js';
import { describe } from '../harness/exec.js';
import { safeRead } from '../harness/host.js';
import { PROBE_IN_CONTAINER } from '../harness/rootfs.js';
import { check, eq, skip, type Case } from '../harness/types.js';
import { cli, configMd, def, expectError, expectOk, linuxMd, LONG_MS } from './util.js';

/** A profile of the suite's: everything a container does, and no writes below /proc/sys. */
const PROFILE = 'spec-tests-lsm';
const OTHER_PROFILE = 'spec-tests-lsm-other';
const profileText = (name: string) => `profile ${name} flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  mount,
  umount,
  pivot_root,
  deny /proc/sys/** w,
}
`;

/** SELinux labels of container_t and its files, categories c1,c2 (and c3,c4 for exec). */
const SE_PROCESS = 'system_u:system_r:container_t:s0:c1,c2';
const SE_OTHER = 'system_u:system_r:container_t:s0:c3,c4';
const SE_FILES = 'system_u:object_r:container_file_t:s0:c1,c2';

function requireAppArmor(): void {
  if (safeRead('/sys/module/apparmor/parameters/enabled')?.trim() !== 'Y') skip('the host has no AppArmor');
}

/** Loads the suite's profiles (apparmor_parser -r: replaced if there). */
function loadProfiles(): void {
  requireAppArmor();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spec-tests-aa-'));
  try {
    for (const name of [PROFILE, OTHER_PROFILE]) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, profileText(name));
      const r = spawnSync('apparmor_parser', ['-r', file], { encoding: 'utf8' });
      if (r.error) skip('apparmor_parser is not installed');
      check(r.status === 0, `apparmor_parser -r ${name}: ${r.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** SELinux is on and the loaded policy takes these labels (the kernel's check, security_check_context). */
function requireSelinux(...labels: string[]): void {
  if (!fs.existsSync('/sys/fs/selinux/enforce')) skip('the host has no SELinux');
  for (const label of labels) {
    try {
      fs.writeFileSync('/sys/fs/selinux/context', label);
    } catch {
      skip(`the loaded SELinux policy has no ${label}`);
    }
  }
}

/** The probe's `cat` of the process's own LSM label, as the kernel prints it (SELinux ends in a NUL). */
const CURRENT = ['cat', '/proc/self/attr/current'];
const label = (text: string) => text.replace(/\0/g, '').trim();

async function runningWith(ctx: CaseContext, mutate: (b: ReturnType<CaseContext['bundle']>) => void) {
  const b = ctx.bundle(['sleep-ms', LONG_MS]);
  mutate(b);
  const c = await ctx.create(b);
  await c.startOk();
  return c;
}

export const lsmCases: Case[] = [
  def(
    'lsm::apparmor-profile',
    configMd('#linux-process', 'apparmorProfile: the process runs confined by the named AppArmor profile (enforced)'),
    async (ctx) => {
      loadProfiles();
      const b = ctx.bundle(CURRENT);
      proc(b.config).apparmorProfile = PROFILE;
      const { exec } = await ctx.run(b);
      expectOk(exec, 'run');
      eq(label(exec.stdout), `${PROFILE} (enforce)`, '/proc/self/attr/current');
    },
  ),

  def(
    'lsm::apparmor-unloaded',
    cli(
      'create',
      'a profile (apparmorProfile) the kernel has not loaded is an error (of create or of start): the process never runs unconfined',
    ),
    async (ctx) => {
      requireAppArmor();
      const b = ctx.bundle(CURRENT);
      proc(b.config).apparmorProfile = 'spec-tests-no-such-profile';
      const c = await ctx.tryCreate(b);
      if (!c.created) return;
      const s = await c.start();
      expectError(s, 'start with a profile that is not loaded');
    },
  ),

  def(
    'lsm::exec-apparmor',
    cli('exec --apparmor', "an exec'd process runs in the container's profile, or in --apparmor's when given"),
    async (ctx) => {
      loadProfiles();
      const c = await runningWith(ctx, (b) => (proc(b.config).apparmorProfile = PROFILE));
      const plain = await c.exec([PROBE_IN_CONTAINER, ...CURRENT]);
      expectOk(plain, 'exec');
      const other = await c.exec([PROBE_IN_CONTAINER, ...CURRENT], ['--apparmor', OTHER_PROFILE]);
      expectOk(other, 'exec --apparmor');
      eq(`${label(plain.stdout)} | ${label(other.stdout)}`, `${PROFILE} (enforce) | ${OTHER_PROFILE} (enforce)`, 'the labels of the two');
    },
  ),

  def('lsm::selinux-label', configMd('#linux-process', 'selinuxLabel: the process runs with the SELinux label'), async (ctx) => {
    requireSelinux(SE_PROCESS);
    const b = ctx.bundle(CURRENT);
    proc(b.config).selinuxLabel = SE_PROCESS;
    const { exec } = await ctx.run(b);
    expectOk(exec, 'run');
    eq(label(exec.stdout), SE_PROCESS, '/proc/self/attr/current');
  }),

  def(
    'lsm::selinux-mount-label',
    linuxMd('#mount-label', 'mountLabel sets the SELinux context of the mounts in the container (the /dev tmpfs among them)'),
    async (ctx) => {
      requireSelinux(SE_FILES);
      const b = ctx.bundle(['cat', '/proc/self/mountinfo']);
      linux(b.config).mountLabel = SE_FILES;
      const { exec } = await ctx.run(b);
      expectOk(exec, 'run');
      const dev = exec.stdout.split('\n').find((l) => l.split(' ')[4] === '/dev');
      check(dev !== undefined, `no /dev mount in the container's mountinfo: ${describe(exec)}`);
      const ctxOpt = /(?:^|,)context="?([^",]+(?:,c\d+)*)"?/.exec(dev!.split(' - ')[1]?.split(' ')[2] ?? '');
      eq(ctxOpt?.[1] ?? '(none)', SE_FILES, 'the context= of the /dev tmpfs');
    },
  ),

  def(
    'lsm::exec-selinux',
    cli('exec --process-label', "an exec'd process runs with the container's label, or with --process-label's when given"),
    async (ctx) => {
      requireSelinux(SE_PROCESS, SE_OTHER);
      const c = await runningWith(ctx, (b) => (proc(b.config).selinuxLabel = SE_PROCESS));
      const plain = await c.exec([PROBE_IN_CONTAINER, ...CURRENT]);
      expectOk(plain, 'exec');
      const other = await c.exec([PROBE_IN_CONTAINER, ...CURRENT], ['--process-label', SE_OTHER]);
      expectOk(other, 'exec --process-label');
      eq(`${label(plain.stdout)} | ${label(other.stdout)}`, `${SE_PROCESS} | ${SE_OTHER}`, 'the labels of the two');
    },
  ),
];
