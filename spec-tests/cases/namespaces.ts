/** config-linux.md#namespaces and #user-namespace-mappings, checked from the
 * host by comparing /proc/PID/ns links of the container process with ours. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linux, removeNamespace, setNamespace } from '../harness/config.js';
import type { CaseContext } from '../harness/context.js';
import { sleep } from '../harness/exec.js';
import { check, eq, fail, skip, type Case } from '../harness/types.js';
import { configMd, def, expectError, linuxMd, LONG_MS, nsLink, waitUntil } from './util.js';

const TYPES = ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup', 'time'] as const;
const SINCE: Record<string, string> = { time: '1.1.0' };

async function createdPid(ctx: CaseContext, mutate: (b: ReturnType<CaseContext['bundle']>) => void): Promise<number> {
  const b = ctx.bundle(['sleep-ms', LONG_MS]);
  mutate(b);
  const c = await ctx.create(b);
  return c.pid();
}

const newNs: Case[] = TYPES.map((type) =>
  def(
    `namespaces::new-${type}`,
    linuxMd('#namespaces', `If path is not specified, the runtime MUST create a new container namespace of type ${type}`),
    async (ctx) => {
      ctx.requireNamespace(type);
      const pid = await createdPid(ctx, (b) => setNamespace(b.config, type));
      const theirs = nsLink(pid, type);
      check(theirs !== nsLink('self', type), `container process is in the runtime's ${type} namespace ${theirs}`);
    },
    SINCE[type] ? { since: SINCE[type] } : {},
  ),
);

const inheritNs: Case[] = (['pid', 'network', 'ipc', 'uts', 'cgroup', 'user', 'time'] as const).map((type) =>
  def(
    `namespaces::inherit-${type}`,
    linuxMd('#namespaces', `If a namespace type is not specified, the container MUST inherit the runtime namespace of that type (${type})`),
    async (ctx) => {
      const pid = await createdPid(ctx, (b) => {
        removeNamespace(b.config, type);
        if (type === 'uts') delete b.config.hostname; // a hostname needs a private UTS namespace
        // Without a new network namespace sysfs cannot be mounted fresh; bind the host's instead.
        if (type === 'network') {
          b.config.mounts = (b.config.mounts ?? []).map((m) =>
            m.destination === '/sys'
              ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
              : m,
          );
        }
      });
      eq(nsLink(pid, type), nsLink('self', type), `${type} namespace of the container process`);
    },
    type === 'user' ? { rootless: 'skip: a rootless container needs a user namespace of its own' } : {},
  ),
);

const JOINABLE = ['network', 'ipc', 'uts', 'pid', 'cgroup'] as const;

const joinNs: Case[] = JOINABLE.map((type) =>
  def(
    `namespaces::join-${type}`,
    linuxMd('#namespaces', `The runtime MUST place the container process in the namespace associated with path (${type})`),
    async (ctx) => {
      ctx.requireNamespace(type);
      const owner = await createdPid(ctx, (b) => setNamespace(b.config, type));
      const target = nsLink(owner, type);
      const pid = await createdPid(ctx, (b) => setNamespace(b.config, type, `/proc/${owner}/ns/${type === 'network' ? 'net' : type}`));
      eq(nsLink(pid, type), target, `${type} namespace of the joining container`);
    },
  ),
);

export const namespaceCases: Case[] = [
  ...newNs,
  ...inheritNs,
  ...joinNs,

  def(
    'namespaces::join-user',
    linuxMd('#namespaces', 'The runtime MUST place the container process in the namespace associated with path (user)'),
    async (ctx) => {
      ctx.requireNamespace('user');
      const owner = await createdPid(ctx, (b) => userNs(ctx, b.config));
      // the same mappings again: runc 1.1 insists on them even when joining
      const pid = await createdPid(ctx, (b) => {
        userNs(ctx, b.config);
        setNamespace(b.config, 'user', `/proc/${owner}/ns/user`);
      });
      eq(nsLink(pid, 'user'), nsLink(owner, 'user'), 'user namespace of the joining container');
    },
  ),

  def(
    'namespaces::join-time',
    linuxMd('#namespaces', 'The runtime MUST place the container process in the namespace associated with path (time)'),
    async (ctx) => {
      ctx.requireNamespace('time');
      const owner = await createdPid(ctx, (b) => setNamespace(b.config, 'time'));
      const pid = await createdPid(ctx, (b) => setNamespace(b.config, 'time', `/proc/${owner}/ns/time`));
      eq(nsLink(pid, 'time'), nsLink(owner, 'time'), 'time namespace of the joining container');
    },
    { since: '1.1.0' },
  ),

  def(
    'namespaces::inherit-mount',
    linuxMd(
      '#namespaces',
      "If a namespace type is not specified, the container MUST inherit the runtime namespace of that type (mount): it runs in the runtime's, with root.path as its /",
    ),
    async (ctx) => {
      // The runtime then mounts (/proc, /dev… under the rootfs) in the namespace it
      // runs in: give it one of its own, so the host's mount table stays as it is.
      const { wrap, ns } = await privateMountNs(ctx);
      const b = ctx.bundle(['ns', ',', 'stat', '/spec-rootfs-marker', ctx.dir, ',', 'statf', '/dev/null']);
      removeNamespace(b.config, 'mount');
      delete linux(b.config).maskedPaths;
      delete linux(b.config).readonlyPaths;
      b.config.root = { path: 'rootfs', readonly: false };
      fs.writeFileSync(b.inRootfs('spec-rootfs-marker'), 'rootfs');
      const { report } = await ctx.run(b, { wrap });
      eq(report.need('ns.mnt'), ns, "mount namespace of the container process (the runtime's)");
      eq(
        report.attrs('stat./spec-rootfs-marker').type,
        'reg',
        "/spec-rootfs-marker (made in the rootfs) seen as the container's /spec-rootfs-marker",
      );
      const outside = report.need(`stat.${ctx.dir}`);
      check(outside.startsWith('errno:ENOENT'), `the host path ${ctx.dir} is reachable in the container: ${outside}`);
      eq(report.attrs('statf./dev/null').type, 'chr', '/dev/null in the container');
    },
    { rootless: 'skip: without a mount namespace of its own the container would mount in one the user does not own' },
  ),

  def(
    'namespaces::path-wrong-type',
    linuxMd('#namespaces', 'The runtime MUST generate an error if path is not associated with a namespace of type type'),
    async (ctx) => {
      const owner = await createdPid(ctx, () => undefined);
      const b = ctx.bundle(['exit', '0']);
      setNamespace(b.config, 'network', `/proc/${owner}/ns/ipc`);
      expectError((await ctx.tryCreate(b)).createResult, 'create with a network namespace path pointing at an ipc namespace');
    },
  ),

  def(
    'namespaces::path-not-namespace',
    linuxMd('#namespaces', 'The runtime MUST generate an error if path is not associated with a namespace (a regular file)'),
    async (ctx) => {
      const file = ctx.path('not-a-ns');
      fs.writeFileSync(file, '');
      const b = ctx.bundle(['exit', '0']);
      setNamespace(b.config, 'uts', file);
      expectError((await ctx.tryCreate(b)).createResult, 'create with a uts namespace path that is a regular file');
    },
  ),

  def(
    'namespaces::duplicate-type',
    linuxMd('#namespaces', 'If namespaces contains duplicated namespaces with same type, the runtime MUST generate an error'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      setNamespace(b.config, 'network'); // rootless configs have none
      linux(b.config).namespaces?.push({ type: 'network' });
      expectError((await ctx.tryCreate(b)).createResult, 'create with two network namespace entries');
    },
  ),

  def(
    'namespaces::unknown-type',
    linuxMd('#namespaces', 'Runtimes MUST generate an error when invalid values are encountered (namespace type)', 'MUST'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      linux(b.config).namespaces?.push({ type: 'spectest' });
      expectError((await ctx.tryCreate(b)).createResult, 'create with namespace type "spectest"');
    },
  ),

  def(
    'namespaces::pid-sees-only-container',
    linuxMd('#namespaces', 'pid: processes inside the container will only be able to see other processes inside the same container'),
    async (ctx) => {
      const { report } = await ctx.run(ctx.bundle(['procs', ',', 'info']));
      eq(report.need('procs'), report.need('pid'), 'pids visible in /proc (only the probe itself)');
    },
  ),

  def(
    'namespaces::pid-init-is-1',
    linuxMd('#namespaces', 'pid: the container process is the first process of its new pid namespace', 'SHOULD'),
    async (ctx) => {
      const { report } = await ctx.run(ctx.bundle(['info']));
      eq(report.need('pid'), '1', 'getpid() in the container');
    },
  ),

  def(
    'namespaces::network-own-stack',
    linuxMd('#namespaces', 'network: the container will have its own network stack (only loopback)', 'SHOULD'),
    async (ctx) => {
      const b = ctx.bundle(['ls', '/sys/class/net']);
      setNamespace(b.config, 'network'); // rootless configs have none, and bind the host's /sys
      b.config.mounts = (b.config.mounts ?? []).map((m) =>
        m.destination === '/sys'
          ? { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] }
          : m,
      );
      const { report } = await ctx.run(b);
      eq(report.need('ls./sys/class/net'), 'lo', 'network interfaces in the container');
    },
  ),

  def(
    'namespaces::cgroup-view',
    linuxMd('#namespaces', 'cgroup: the container will have an isolated view of the cgroup hierarchy (its cgroup is the root)', 'SHOULD'),
    async (ctx) => {
      ctx.requireNamespace('cgroup');
      const b = ctx.bundle(['cat', '/proc/self/cgroup']);
      setNamespace(b.config, 'cgroup');
      const { exec } = await ctx.run(b);
      const lines = exec.stdout.split('\n').filter((l) => /^\d+:/.test(l));
      const notRoot = lines.filter((l) => !l.endsWith(':/'));
      check(lines.length > 0, `no cgroup lines in /proc/self/cgroup: ${exec.stdout}`);
      check(notRoot.length === 0, `cgroup paths are not "/" inside a new cgroup namespace: ${notRoot.join('; ')}`);
    },
  ),

  def(
    'namespaces::user-uid-mappings',
    linuxMd('#user-namespace-mappings', 'uidMappings describes the user namespace uid mappings from the host to the container'),
    async (ctx) => {
      ctx.requireNamespace('user');
      const pid = await createdPid(ctx, (b) => userNs(ctx, b.config));
      const map = fs.readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).join(' ');
      eq(map, `0 ${hostBase(ctx)} 65536`, `/proc/${pid}/uid_map`);
    },
  ),

  def(
    'namespaces::user-gid-mappings',
    linuxMd('#user-namespace-mappings', 'gidMappings describes the user namespace gid mappings from the host to the container'),
    async (ctx) => {
      ctx.requireNamespace('user');
      const pid = await createdPid(ctx, (b) => userNs(ctx, b.config));
      const map = fs.readFileSync(`/proc/${pid}/gid_map`, 'utf8').trim().split(/\s+/).join(' ');
      eq(map, `0 ${ctx.rootless?.subgid?.start ?? 200000} 65536`, `/proc/${pid}/gid_map`);
    },
  ),

  def(
    'namespaces::user-process-ids',
    linuxMd('#user-namespace-mappings', 'container uid 0 is host uid hostID (the process runs as the mapped user)'),
    async (ctx) => {
      ctx.requireNamespace('user');
      const b = ctx.bundle(['info']);
      userNs(ctx, b.config);
      const { report } = await ctx.run(b);
      eq(report.need('uid'), '0', 'uid inside the user namespace');
      const pid = await createdPid(ctx, (bb) => userNs(ctx, bb.config));
      const uidLine = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      eq(uidLine, String(hostBase(ctx)), 'host uid of the container process');
    },
  ),

  def(
    'namespaces::user-no-chown',
    linuxMd(
      '#user-namespace-mappings',
      'The runtime SHOULD NOT modify the ownership of referenced filesystems to realize the mapping',
      'SHOULD',
    ),
    async (ctx) => {
      ctx.requireNamespace('user');
      const b = ctx.bundle(['exit', '0']);
      userNs(ctx, b.config);
      const { exec } = await ctx.run(b, { allowFailure: true });
      if (exec.code !== 0) fail(`container with a user namespace did not run: exit ${exec.code} ${exec.stderr.trim()}`);
      const st = fs.statSync(b.inRootfs('etc/passwd'));
      const owner = ctx.rootless ? `${ctx.rootless.uid}:${ctx.rootless.gid}` : '0:0'; // rootless: the user's rootfs
      eq(`${st.uid}:${st.gid}`, owner, 'owner of rootfs/etc/passwd after the run');
    },
  ),

  def(
    'namespaces::idmap-mount',
    configMd(
      '#mounts',
      'uidMappings/gidMappings: the mapping to convert ids from the source file system to the destination mount point (idmap)',
    ),
    async (ctx) => {
      const idmap = (ctx.features?.linux?.mountExtensions as { idmap?: { enabled?: boolean } } | undefined)?.idmap;
      if (!idmap?.enabled) skip("runtime's features document does not enable idmapped mounts");
      const src = ctx.path('idmap-src');
      fs.mkdirSync(src);
      fs.writeFileSync(`${src}/f`, '');
      fs.chmodSync(src, 0o755);
      const pid = await createdPid(ctx, (b) => {
        b.config.mounts = [
          ...(b.config.mounts ?? []),
          {
            destination: '/idmapped',
            type: 'bind',
            source: src,
            options: ['bind', 'idmap'],
            uidMappings: [{ containerID: 0, hostID: 5000, size: 10 }],
            gidMappings: [{ containerID: 0, hostID: 6000, size: 10 }],
          } as never,
        ];
      });
      const st = fs.statSync(`/proc/${pid}/root/idmapped/f`);
      eq(`${st.uid}:${st.gid}`, '5000:6000', 'owner of a root-owned file seen through the idmapped mount');
    },
    {
      since: '1.2.0',
      rootless: 'skip: an idmapped mount of a host directory needs CAP_SYS_ADMIN in the user namespace that owns its mount',
    },
  ),

  def(
    'namespaces::time-offsets',
    linuxMd('#offset-for-time-namespace', 'timeOffsets sets the offset for the time namespace'),
    async (ctx) => {
      ctx.requireNamespace('time');
      const pid = await createdPid(ctx, (b) => {
        setNamespace(b.config, 'time');
        linux(b.config).timeOffsets = { monotonic: { secs: 86400, nanosecs: 0 }, boottime: { secs: 172800, nanosecs: 0 } };
      });
      const offs = fs.readFileSync(`/proc/${pid}/timens_offsets`, 'utf8');
      check(/monotonic\s+86400\s+0/.test(offs), `monotonic offset not applied: ${offs.trim()}`);
      check(/boottime\s+172800\s+0/.test(offs), `boottime offset not applied: ${offs.trim()}`);
    },
    { since: '1.1.0' },
  ),
];

/** An executable of that name on $PATH (or the usual sbin dirs), else undefined. */
function onPath(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter(Boolean);
  for (const d of dirs) {
    try {
      fs.accessSync(path.join(d, name), fs.constants.X_OK);
      return path.join(d, name);
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** A private mount namespace of its own, held by a sleeping host probe under
 * `unshare -m --propagation private`; killed at cleanup, which also drops every
 * mount made in it. Returns the `nsenter` prefix that runs the runtime there
 * and the namespace's link (`mnt:[N]`). */
async function privateMountNs(ctx: CaseContext): Promise<{ wrap: string[]; ns: string }> {
  const unshare = onPath('unshare');
  const nsenter = onPath('nsenter');
  if (!unshare || !nsenter)
    skip('needs unshare and nsenter (util-linux) to keep the mounts of a container without a mount namespace off the host');
  const holder = spawn(unshare, ['-m', '--propagation', 'private', ctx.env.hostProbe, 'sleep-ms', LONG_MS], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
  ctx.defer(async () => {
    holder.kill('SIGKILL');
    await Promise.race([exited, sleep(5000)]);
  });
  const own = nsLink('self', 'mount');
  const pid = holder.pid ?? 0;
  const linkOf = (): string => {
    try {
      return nsLink(pid, 'mount');
    } catch {
      return own;
    }
  };
  // unshare execs the probe once the namespace is made
  const ready = await waitUntil(() => pid > 0 && linkOf() !== own && /sleep-ms/.test(readCmdline(pid)), 5000);
  if (!ready) fail(`\`unshare -m --propagation private\` did not make a mount namespace (pid ${pid})`);
  return { wrap: [nsenter, '-t', String(pid), '-m', '--'], ns: linkOf() };
}

function readCmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** First host id the user-namespace cases map: rootless, the user's subordinate range. */
function hostBase(ctx: CaseContext): number {
  return ctx.rootless?.subuid?.start ?? 200000;
}

function userNs(ctx: CaseContext, config: ReturnType<CaseContext['bundle']>['config']): void {
  const u = ctx.rootless;
  if (u && (!u.newidmap || !u.subuid || !u.subgid || u.subuid.count < 65536 || u.subgid.count < 65536))
    skip('rootless: mapping 65536 ids needs newuidmap/newgidmap and /etc/subuid, /etc/subgid ranges that large');
  setNamespace(config, 'user');
  const l = linux(config);
  l.uidMappings = [{ containerID: 0, hostID: hostBase(ctx), size: 65536 }];
  l.gidMappings = [{ containerID: 0, hostID: u?.subgid?.start ?? 200000, size: 65536 }];
}
