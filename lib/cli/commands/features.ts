/** features: what this runtime supports (runtime-spec features.md), stdout only. */

import { OCI_VERSION_MAX, OCI_VERSION_MIN } from '../../config/validate.js';
import { MPOL_FLAGS, MPOL_MODES, RECURSIVE_OPTIONS } from '../../plan/attrs.js';
import { CAPABILITIES } from '../../plan/linux.js';
import { PROPAGATION_OPTIONS } from '../../plan/mounts.js';
import { seccompFeatures } from '../../plan/seccomp.js';
import { loadBinding } from '../../native/binding.js';
import { writeFd } from '../log.js';
import type { Command } from '../args.js';

export function features(): Record<string, unknown> {
  const flagOptions = [
    'async',
    'atime',
    'bind',
    'defaults',
    'dev',
    'diratime',
    'dirsync',
    'exec',
    'iversion',
    'lazytime',
    'loud',
    'mand',
    'noatime',
    'nodev',
    'nodiratime',
    'noexec',
    'noiversion',
    'nolazytime',
    'nomand',
    'norelatime',
    'nostrictatime',
    'nosuid',
    'nosymfollow',
    'rbind',
    'relatime',
    'remount',
    'ro',
    'rw',
    'silent',
    'strictatime',
    'suid',
    'sync',
    'idmap',
    'ridmap', // idmapped bind mounts
  ];
  return {
    ociVersionMin: OCI_VERSION_MIN,
    ociVersionMax: OCI_VERSION_MAX,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: [...flagOptions, ...Object.keys(PROPAGATION_OPTIONS), ...Object.keys(RECURSIVE_OPTIONS)].sort(),
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: true, systemdUser: true, rdma: true },
      seccomp: seccompFeatures(loadBinding()),
      // features-linux.md: the runtime's support, "irrelevant to the availability ... on the host"
      // (native/init/lsm.c applies each where the host has it on); runc says true for both too
      apparmor: { enabled: true },
      selinux: { enabled: true },
      // lib/plan/resctrl.ts: closID, the schemata fields and enableMonitoring (the runtime's
      // support, as for the LSMs: a host without resctrl refuses linux.intelRdt); runc says the same
      intelRdt: { enabled: true, schemata: true, monitoring: true },
      // the modes and flags validation accepts (the names the kernel's headers give numbers to),
      // sorted as runc lists them; like runc's, some may be newer than the host's kernel
      memoryPolicy: { modes: Object.keys(MPOL_MODES).sort(), flags: Object.keys(MPOL_FLAGS).sort() },
      mountExtensions: { idmap: { enabled: true } }, // lib/container/mount-trees.ts
      netDevices: { enabled: true }, // lib/container/netdev.ts
    },
    annotations: {
      'io.github.tsrun.version': '0.1.0',
      // runc's: checkpoint and restore are built in (lib/checkpoint/)
      'org.opencontainers.runc.checkpoint.enabled': 'true',
    },
    // The config annotations that change what the runtime does (features.md; "x." is a prefix):
    // the systemd driver's unit properties (lib/cgroups/systemd.ts) and CRIU's configuration file
    // (lib/checkpoint/). runc lists "bundle" too, for its labels; tsrun does not read it.
    potentiallyUnsafeConfigAnnotations: ['org.criu.config', 'org.systemd.property.'],
  };
}

export const featuresCommand: Command = {
  name: 'features',
  describe: 'print the features of this runtime as JSON (runtime-spec features.md)',
  run() {
    writeFd(1, `${JSON.stringify(features(), null, '    ')}\n`);
    return 0;
  },
};
