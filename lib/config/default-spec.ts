/**
 * The starter config `tsrun spec` writes (runc's template), and its
 * rootless form: the base the API's config objects are merged over.
 */
import * as path from 'node:path';

import { defaultSeccompProfile } from './seccomp-profile.js';
import type { Spec } from './types.js';

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

export function defaultSpec(): Spec {
  return {
    ociVersion: '1.3.0',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, permitted: DEFAULT_CAPS, ambient: DEFAULT_CAPS },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'tsrun',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      seccomp: defaultSeccompProfile(),
    },
  };
}

/**
 * runc's rootless template (libcontainer/specconv ToRootless): a new user
 * namespace mapping the caller's euid and egid to 0 (one id each: what an
 * unprivileged process may map itself, user_namespaces(7)), no network
 * namespace (the unprivileged caller could not give it a device), /sys
 * bound read-only from the host (sysfs can only be mounted by the owner of
 * the network namespace), no uid=/gid= mount options (ids such as devpts's
 * gid=5 are not mapped) and no linux.resources (the caller's cgroups are
 * not its own).
 */
export function toRootless(spec: Spec, euid: number, egid: number): Spec {
  const linux = { ...spec.linux };
  linux.namespaces = [...(linux.namespaces ?? []).filter((ns) => ns.type !== 'network' && ns.type !== 'user'), { type: 'user' }];
  linux.uidMappings = [{ containerID: 0, hostID: euid, size: 1 }];
  linux.gidMappings = [{ containerID: 0, hostID: egid, size: 1 }];
  delete linux.resources;
  const mounts = (spec.mounts ?? []).map((m) =>
    path.posix.normalize(m.destination) === '/sys'
      ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { ...m, ...(m.options && { options: m.options.filter((o) => !o.startsWith('gid=') && !o.startsWith('uid=')) }) },
  );
  return { ...spec, mounts, linux };
}
