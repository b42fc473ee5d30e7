/**
 * Shared by the engine tests (podman, containerd, docker, buildah): which
 * runtime binary the engine is told to use, whether a program is installed,
 * and what kind of host the engines run on.
 *
 * TSRUN_ENGINE_RUNTIME switches the runtime, so the same tests can be run
 * against runc to tell a tsrun bug from a test bug:
 *   TSRUN_ENGINE_RUNTIME=/usr/sbin/runc node node_modules/ava/entrypoints/cli.mjs --serial dist/tests/integration/podman.test.js
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { lsmEnabled } from '../../lib/config/validate-process.js';
import { realHost } from '../../lib/container/host.js';
import { TSRUN } from './bundle.js';

/** An absolute path: engines exec it from their own cwd and environment. */
export const ENGINE_RUNTIME = path.resolve(process.env.TSRUN_ENGINE_RUNTIME || TSRUN);

export const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

/**
 * A production host: systemd is PID 1 and cgroup v2 is the only hierarchy
 * (the production lane, tests/vm/run-in-vm.sh --host trixie). Every engine
 * defaults to the systemd cgroup driver there, and the engine tests leave
 * them on it: podman's and buildah's cgroup_manager, dockerd's driver,
 * containerd's SystemdCgroup (ctr --runc-systemd-cgroup, the CRI's runtime
 * options) with kubelet-style pod slices. Elsewhere (this hybrid build
 * machine, no systemd) they pin cgroupfs, which those engines pick there too.
 */
export const SYSTEMD_HOST = fs.existsSync('/run/systemd/system') && fs.existsSync('/sys/fs/cgroup/cgroup.controllers');

/**
 * The directory of the cgroup `pid` is in for `controller`: its cgroup v1
 * hierarchy's, or the unified hierarchy's (cgroup v2, where the driver, the
 * cgroupfs one or systemd's, chose the path).
 */
export function cgroupDir(pid: number | string, controller: string): string {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes(controller));
  if (v1) return path.join('/sys/fs/cgroup', controller, v1.split(':')[2] ?? '');
  return path.join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3));
}

/** AppArmor is on in this kernel (the runtime's own rule): the engines then give each container their default profile. */
export const APPARMOR = lsmEnabled((p) => realHost.read?.(p)).apparmor;

/** The AppArmor label process `pid` runs under ("profile (mode)"). */
export const apparmorLabel = (pid: number | string) => fs.readFileSync(`/proc/${pid}/attr/current`, 'utf8').replace(/\0/g, '').trim();
