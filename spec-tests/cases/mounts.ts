/** config.md#mounts, #root, config-linux.md#rootfs-mount-propagation,
 * runtime-linux.md#dev-symbolic-links: checked from /proc/self/mountinfo,
 * statfs(2) and file access inside the container. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linux, type Mount } from '../harness/config.js';
import type { Bundle, CaseContext } from '../harness/context.js';
import { parseMountinfo, Report, topMount, type MountInfo } from '../harness/probe-output.js';
import { check, eq, fail, skip, type Case } from '../harness/types.js';
import { cli, configMd, def, expectErrno, expectError, expectOk, linuxMd, LONG_MS, runtimeLinuxMd } from './util.js';

interface Seen {
  mounts: MountInfo[];
  report: Report;
}

/** Runs the probe printing mountinfo, then `extra` probe commands. */
async function inspect(ctx: CaseContext, b: Bundle, extra: string[] = []): Promise<Seen> {
  b.config.process!.args = ['/bin/tsrun-probe', 'cat', '/proc/self/mountinfo', ...(extra.length ? [',', ...extra] : [])];
  const { exec, report } = await ctx.run(b);
  return { mounts: parseMountinfo(exec.stdout), report };
}

function addMount(b: Bundle, m: Mount): void {
  (b.config.mounts ??= []).push(m);
}

function mountAt(seen: Seen, p: string): MountInfo {
  const m = topMount(seen.mounts, p);
  if (!m) fail(`nothing is mounted at ${p}; mountinfo mount points: ${seen.mounts.map((x) => x.mountPoint).join(' ')}`);
  return m;
}

function statfsFlags(r: Report, p: string): string[] {
  return (r.attrs(`statfs.${p}`).flags ?? '').split(',').filter(Boolean);
}

const tmpfs = (destination: string, options: string[] = []): Mount => ({ destination, type: 'tmpfs', source: 'tmpfs', options });

/** One case per mount flag: the option must show in statfs(2) flags. */
const flagCase = (opt: string, flag: string, level: 'MUST' | 'SHOULD' = 'MUST'): Case =>
  def(
    `mounts::option-${opt}`,
    configMd('#linux-mount-options', `Runtimes ${level} implement the "${opt}" mount option`, level),
    async (ctx) => {
      const b = ctx.bundle();
      addMount(b, tmpfs('/mnt/opt', [opt]));
      const seen = await inspect(ctx, b, ['statfs', '/mnt/opt']);
      mountAt(seen, '/mnt/opt');
      const flags = statfsFlags(seen.report, '/mnt/opt');
      check(flags.includes(flag), `"${opt}" not in effect: statfs flags are [${flags.join(',')}]`);
    },
  );

/** A host directory `src` with a tmpfs mounted at src/sub holding a file. */
function hostTreeWithSubmount(ctx: CaseContext): string {
  const src = ctx.path('tree');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(src, 'top-file'), 'top');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'spec-tests', path.join(src, 'sub')], { stdio: 'ignore' });
  } catch {
    skip('cannot mount a tmpfs on the host to build a nested tree (needs CAP_SYS_ADMIN in the harness)');
  }
  ctx.defer(() => execFileSync('umount', ['-l', path.join(src, 'sub')], { stdio: 'ignore' }));
  fs.writeFileSync(path.join(src, 'sub', 'sub-file'), 'sub');
  return src;
}

function hostMountOf(p: string): MountInfo | undefined {
  const all = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  let best: MountInfo | undefined;
  for (const m of all) {
    if (
      (p === m.mountPoint || p.startsWith(m.mountPoint === '/' ? '/' : `${m.mountPoint}/`)) &&
      (!best || m.mountPoint.length >= best.mountPoint.length)
    )
      best = m;
  }
  return best;
}

const propagation = (value: string, expect: (m: MountInfo) => string | undefined): Case =>
  def(
    `mounts::rootfs-propagation-${value}`,
    linuxMd('#rootfs-mount-propagation', `rootfsPropagation "${value}" sets the rootfs's mount propagation`),
    async (ctx) => {
      const b = ctx.bundle();
      linux(b.config).rootfsPropagation = value;
      const seen = await inspect(ctx, b);
      const problem = expect(mountAt(seen, '/'));
      if (problem) fail(problem);
    },
  );

const has = (m: MountInfo, prefix: string): boolean => m.optional.some((o) => o.startsWith(prefix));

/**
 * A host directory that is a shared mount (a peer group of its own, as a kubelet's pod volume dir) bound
 * at /vol with `options`, in a container with `rootfsPropagation` (none: unset). Once the container runs,
 * the host mounts a tmpfs at <dir>/h2c and the container one at /vol/c2h (exec, with CAP_SYS_ADMIN):
 * which of the two the other side sees.
 */
async function propagationBothWays(
  ctx: CaseContext,
  rootfsPropagation: string | undefined,
  options: string[],
): Promise<{ h2c: boolean; c2h: boolean }> {
  const dir = ctx.path('vol');
  fs.mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'spec-tests-vol', dir], { stdio: 'ignore' });
  } catch {
    skip('cannot mount a tmpfs on the host (needs CAP_SYS_ADMIN in the harness)');
  }
  ctx.defer(() => execFileSync('umount', ['-R', '-l', dir], { stdio: 'ignore' }));
  execFileSync('mount', ['--make-shared', dir], { stdio: 'ignore' });
  for (const sub of ['h2c', 'c2h']) fs.mkdirSync(path.join(dir, sub), { mode: 0o755 });
  const b = ctx.bundle(['sleep-ms', LONG_MS]);
  const caps = b.config.process!.capabilities!;
  for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set] = [...(caps[set] ?? []), 'CAP_SYS_ADMIN'];
  if (rootfsPropagation) linux(b.config).rootfsPropagation = rootfsPropagation;
  addMount(b, { destination: '/vol', type: 'bind', source: dir, options });
  const c = await ctx.create(b);
  await c.startOk();
  const pid = await c.pid();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'spec-tests-h2c', path.join(dir, 'h2c')], { stdio: 'ignore' });
  const inside = parseMountinfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
  const r = await c.exec(['/bin/tsrun-probe', 'syscall', 'mount:/vol/c2h']);
  expectOk(r, 'exec of mount(2) at /vol/c2h');
  eq(new Report(r.stdout).need('syscall.mount:/vol/c2h'), 'ret:0', 'mount(2) of a tmpfs at /vol/c2h in the container');
  const onHost = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  return {
    h2c: inside.some((m) => m.mountPoint === '/vol/h2c'),
    c2h: onHost.some((m) => m.mountPoint === path.join(dir, 'c2h')),
  };
}

const propagationBothWaysCase = (
  id: string,
  text: string,
  rootfsPropagation: string | undefined,
  options: string[],
  want: { h2c: boolean; c2h: boolean },
): Case =>
  def(
    `mounts::${id}`,
    cli('mount propagation', text),
    async (ctx) => {
      const seen = await propagationBothWays(ctx, rootfsPropagation, options);
      eq(seen.h2c, want.h2c, 'a mount made on the host below the volume is seen in the container');
      eq(seen.c2h, want.c2h, 'a mount made in the container below the volume is seen on the host');
    },
    {
      rootless:
        "skip: a user namespace's mount namespace gets the host's shared mounts as slaves (mount_namespaces(7)), and the harness's host mounts are root's",
    },
  );

const devLink = (name: string, target: string): Case =>
  def(
    `mounts::dev-symlink-${name}`,
    runtimeLinuxMd('#dev-symbolic-links', `runtimes MUST create the symlink /dev/${name} -> ${target}`),
    async (ctx) => {
      const { report } = await ctx.run(ctx.bundle(['stat', `/dev/${name}`]));
      const a = report.attrs(`stat./dev/${name}`);
      check(a.type === 'lnk', `/dev/${name} is ${a.type ?? report.need(`stat./dev/${name}`)}, not a symlink`);
      eq(a.target, target, `/dev/${name} target`);
    },
  );

const defaultFs = (dest: string, fstype: string): Case =>
  def(
    `mounts::default-fs-${dest.replace(/\//g, '-').replace(/^-/, '')}`,
    linuxMd('#default-filesystems', `${dest} (${fstype}) SHOULD be available in each container's filesystem`, 'SHOULD'),
    async (ctx) => {
      const seen = await inspect(ctx, ctx.bundle());
      eq(mountAt(seen, dest).fstype, fstype, `filesystem type at ${dest}`);
    },
  );

/** /proc or /sys of the rootfs replaced by a symlink to a host directory: the
 * mount must not follow it out of the rootfs. Checked from the host: create
 * fails, --root is empty again, the directory is as it was and mounts nothing. */
const pseudoFsOnSymlink = (dir: 'proc' | 'sys', fstype: string): Case =>
  def(
    `mounts::${fstype}-on-symlink`,
    configMd(
      '#mounts',
      `destination is a path inside the container: a ${fstype} mount whose target in the rootfs is a symlink out of it is refused, the link's target untouched`,
    ),
    async (ctx) => {
      if (fstype === 'sysfs') ctx.requireRoot("/sys is a bind of the host's, not a sysfs mount (there is no network namespace)");
      const target = ctx.path(`host-${dir}`);
      fs.mkdirSync(target, { mode: 0o755 });
      fs.writeFileSync(path.join(target, 'keep'), 'host');
      const b = ctx.bundle(['exit', '0']);
      fs.rmSync(b.inRootfs(dir), { recursive: true });
      fs.symlinkSync(target, b.inRootfs(dir));
      const c = await ctx.tryCreate(b);
      expectError(c.createResult, `create with the rootfs's /${dir} a symlink to ${target}`);
      // no container id starts with '.': a runtime's own entries (tsrun's .cache) are no state
      const left = fs.readdirSync(ctx.rt.root).filter((n) => !n.startsWith('.'));
      check(left.length === 0, `left under --root after the failed create: ${left.join(', ')}`);
      eq(fs.readdirSync(target).sort().join(','), 'keep', `entries of the symlink's target ${target}`);
      eq(fs.readFileSync(path.join(target, 'keep'), 'utf8'), 'host', `content of ${target}/keep`);
      const mounted = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint === target);
      check(mounted.length === 0, `${target} is a mount point on the host now (${mounted.map((m) => m.fstype).join(',')})`);
    },
  );

export const mountCases: Case[] = [
  def('mounts::tmpfs', configMd('#mounts', 'mounts specifies additional mounts beyond root (a tmpfs)'), async (ctx) => {
    const b = ctx.bundle();
    addMount(b, tmpfs('/mnt/t'));
    eq(mountAt(await inspect(ctx, b), '/mnt/t').fstype, 'tmpfs', 'fs type at /mnt/t');
  }),

  def('mounts::bind-dir', configMd('#mounts', 'source: a directory name for bind mounts'), async (ctx) => {
    const b = ctx.bundle();
    const src = ctx.path('bindsrc');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'hello'), 'from-host');
    addMount(b, { destination: '/mnt/b', type: 'bind', source: src, options: ['bind'] });
    const { report } = await inspect(ctx, b, ['read', '/mnt/b/hello']);
    eq(Buffer.from(report.need('data./mnt/b/hello'), 'hex').toString(), 'from-host', 'content of /mnt/b/hello');
  }),

  def('mounts::bind-file', configMd('#mounts', 'source: a file name for bind mounts'), async (ctx) => {
    const b = ctx.bundle();
    const src = ctx.path('bindfile');
    fs.writeFileSync(src, 'file-content');
    fs.writeFileSync(b.inRootfs('etc/bound'), 'original');
    addMount(b, { destination: '/etc/bound', type: 'bind', source: src, options: ['bind'] });
    const { report } = await inspect(ctx, b, ['read', '/etc/bound']);
    eq(Buffer.from(report.need('data./etc/bound'), 'hex').toString(), 'file-content', 'content of /etc/bound');
  }),

  def(
    'mounts::bind-no-type',
    configMd('#posix-platform-mounts', 'type is OPTIONAL; a mount is a bind mount if it has bind or rbind in the options'),
    async (ctx) => {
      const b = ctx.bundle();
      const src = ctx.path('bindsrc');
      fs.mkdirSync(src);
      fs.writeFileSync(path.join(src, 'hello'), 'x');
      addMount(b, { destination: '/mnt/b', source: src, options: ['rbind'] });
      const { report } = await inspect(ctx, b, ['read', '/mnt/b/hello']);
      eq(report.need('read./mnt/b/hello'), 'ok:1', 'reading /mnt/b/hello');
    },
    { since: '1.1.0' },
  ),

  def(
    'mounts::bind-relative-source',
    configMd('#mounts', 'Path values for bind mounts are either absolute or relative to the bundle'),
    async (ctx) => {
      const b = ctx.bundle();
      fs.mkdirSync(path.join(b.dir, 'data'));
      fs.writeFileSync(path.join(b.dir, 'data', 'hello'), 'relative');
      addMount(b, { destination: '/mnt/rel', type: 'bind', source: 'data', options: ['rbind'] });
      const { report } = await inspect(ctx, b, ['read', '/mnt/rel/hello']);
      eq(Buffer.from(report.need('data./mnt/rel/hello'), 'hex').toString(), 'relative', 'content of /mnt/rel/hello');
    },
    { since: '1.1.0' },
  ),

  def(
    'mounts::relative-destination',
    configMd('#mounts', 'destination MAY be relative, in which case it MUST be interpreted as relative to "/"'),
    async (ctx) => {
      const b = ctx.bundle();
      addMount(b, tmpfs('mnt/reldest'));
      eq(mountAt(await inspect(ctx, b), '/mnt/reldest').fstype, 'tmpfs', 'fs type at /mnt/reldest');
    },
    { since: '1.1.0' },
  ),

  def(
    'mounts::order-nested',
    configMd('#mounts', 'The runtime MUST mount entries in the listed order (a mount inside an earlier one)'),
    async (ctx) => {
      const b = ctx.bundle();
      addMount(b, tmpfs('/mnt/a'));
      addMount(b, tmpfs('/mnt/a/b'));
      const seen = await inspect(ctx, b);
      const outer = mountAt(seen, '/mnt/a');
      const inner = mountAt(seen, '/mnt/a/b');
      eq(inner.parent, outer.id, 'parent mount of /mnt/a/b (must be the /mnt/a tmpfs)');
    },
  ),

  def(
    'mounts::order-same-destination',
    configMd('#mounts', 'The runtime MUST mount entries in the listed order (the later of two mounts on one path is visible)'),
    async (ctx) => {
      const b = ctx.bundle();
      addMount(b, tmpfs('/mnt/same', ['size=1m']));
      addMount(b, tmpfs('/mnt/same', ['size=2m']));
      const { report } = await inspect(ctx, b, ['statfs', '/mnt/same']);
      const a = report.attrs('statfs./mnt/same');
      eq(Number(a.bsize) * Number(a.blocks), 2 * 1024 * 1024, 'size of the visible tmpfs at /mnt/same');
    },
  ),

  def('mounts::option-ro', configMd('#linux-mount-options', 'Runtimes MUST implement the "ro" mount option'), async (ctx) => {
    const b = ctx.bundle();
    addMount(b, tmpfs('/mnt/ro', ['ro']));
    const seen = await inspect(ctx, b, ['write', '/mnt/ro/f']);
    check(mountAt(seen, '/mnt/ro').options.includes('ro'), 'mountinfo does not show /mnt/ro as ro');
    expectErrno(seen.report.need('write./mnt/ro/f'), 'EROFS', 'writing into the ro mount');
  }),

  def('mounts::option-rw', configMd('#linux-mount-options', 'Runtimes MUST implement the "rw" mount option'), async (ctx) => {
    const b = ctx.bundle();
    addMount(b, tmpfs('/mnt/rw', ['rw']));
    const seen = await inspect(ctx, b, ['write', '/mnt/rw/f']);
    eq(seen.report.need('write./mnt/rw/f'), 'ok:1', 'writing into the rw mount');
  }),

  flagCase('nosuid', 'nosuid'),
  flagCase('nodev', 'nodev'),
  flagCase('noexec', 'noexec'),
  flagCase('noatime', 'noatime'),
  flagCase('nodiratime', 'nodiratime'),
  flagCase('sync', 'sync'),
  flagCase('nosymfollow', 'nosymfollow', 'SHOULD'),

  def('mounts::option-relatime', configMd('#linux-mount-options', 'Runtimes MUST implement the "relatime" mount option'), async (ctx) => {
    const b = ctx.bundle();
    addMount(b, tmpfs('/mnt/opt', ['relatime']));
    check(mountAt(await inspect(ctx, b), '/mnt/opt').options.includes('relatime'), 'mountinfo does not show relatime');
  }),

  def(
    'mounts::option-strictatime',
    configMd('#linux-mount-options', 'Runtimes MUST implement the "strictatime" mount option'),
    async (ctx) => {
      const b = ctx.bundle();
      addMount(b, tmpfs('/mnt/opt', ['strictatime']));
      const m = mountAt(await inspect(ctx, b), '/mnt/opt');
      check(
        !m.options.includes('relatime') && !m.options.includes('noatime'),
        `strictatime not in effect: per-mount options ${m.options.join(',')}`,
      );
    },
  ),

  def('mounts::option-dirsync', configMd('#linux-mount-options', 'Runtimes MUST implement the "dirsync" mount option'), async (ctx) => {
    const b = ctx.bundle();
    addMount(b, tmpfs('/mnt/opt', ['dirsync']));
    const m = mountAt(await inspect(ctx, b), '/mnt/opt');
    check(
      m.superOptions.includes('dirsync') || m.options.includes('dirsync'),
      `dirsync not in effect: ${m.options.join(',')} - ${m.superOptions.join(',')}`,
    );
  }),

  def('mounts::option-rprivate', configMd('#linux-mount-options', '"rprivate": bind mount propagation'), async (ctx) => {
    const b = ctx.bundle();
    const src = ctx.path('privsrc');
    fs.mkdirSync(src);
    addMount(b, { destination: '/mnt/p', type: 'bind', source: src, options: ['rbind', 'rprivate'] });
    const m = mountAt(await inspect(ctx, b), '/mnt/p');
    check(!has(m, 'shared:') && !has(m, 'master:'), `/mnt/p is not private: [${m.optional.join(' ')}]`);
  }),

  def('mounts::option-runbindable', configMd('#linux-mount-options', '"runbindable": bind mount propagation'), async (ctx) => {
    const b = ctx.bundle();
    const src = ctx.path('unbsrc');
    fs.mkdirSync(src);
    addMount(b, { destination: '/mnt/u', type: 'bind', source: src, options: ['rbind', 'runbindable'] });
    const m = mountAt(await inspect(ctx, b), '/mnt/u');
    check(m.optional.includes('unbindable'), `/mnt/u is not unbindable: [${m.optional.join(' ')}]`);
  }),

  def('mounts::option-rslave', configMd('#linux-mount-options', '"rslave": bind mount propagation (never shared back)'), async (ctx) => {
    const b = ctx.bundle();
    const src = ctx.path('slavesrc');
    fs.mkdirSync(src);
    addMount(b, { destination: '/mnt/s', type: 'bind', source: src, options: ['rbind', 'rslave'] });
    const m = mountAt(await inspect(ctx, b), '/mnt/s');
    check(!has(m, 'shared:'), `/mnt/s is shared, not a slave: [${m.optional.join(' ')}]`);
  }),

  def(
    'mounts::option-noexec-enforced',
    configMd('#linux-mount-options', 'noexec: programs on the mount cannot be executed'),
    async (ctx) => {
      const b = ctx.bundle();
      const src = ctx.path('execsrc');
      fs.mkdirSync(src);
      fs.copyFileSync(ctx.env.hostProbe, path.join(src, 'probe'));
      addMount(b, { destination: '/mnt/x', type: 'bind', source: src, options: ['rbind', 'noexec'] });
      b.config.process!.args = ['/mnt/x/probe', 'info'];
      const { exec } = await ctx.run(b, { allowFailure: true });
      check(exec.code !== 0 && !exec.stdout.includes('pid='), 'a program on a noexec bind mount was executed');
    },
  ),

  def('mounts::bind-ro', configMd('#linux-mount-options', 'bind with "ro": the bind mount is read-only'), async (ctx) => {
    const b = ctx.bundle();
    const src = ctx.path('rosrc');
    fs.mkdirSync(src, { mode: 0o777 });
    addMount(b, { destination: '/mnt/robind', type: 'bind', source: src, options: ['rbind', 'ro'] });
    const { report } = await inspect(ctx, b, ['write', '/mnt/robind/f']);
    expectErrno(report.need('write./mnt/robind/f'), 'EROFS', 'writing into a ro bind mount');
    check(!fs.existsSync(path.join(src, 'f')), 'the file was created in the ro bind source');
  }),

  def('mounts::rbind-recursive', configMd('#linux-mount-options', '"rbind": recursive bind mount, submounts come along'), async (ctx) => {
    const src = hostTreeWithSubmount(ctx);
    const b = ctx.bundle();
    addMount(b, { destination: '/mnt/tree', type: 'bind', source: src, options: ['rbind'] });
    const { report } = await inspect(ctx, b, ['read', '/mnt/tree/sub/sub-file']);
    eq(report.need('read./mnt/tree/sub/sub-file'), 'ok:3', 'reading a file of the submount through the rbind');
  }),

  def(
    'mounts::bind-not-recursive',
    configMd('#linux-mount-options', '"bind": a plain bind mount does not carry submounts'),
    async (ctx) => {
      const src = hostTreeWithSubmount(ctx);
      const b = ctx.bundle();
      addMount(b, { destination: '/mnt/tree', type: 'bind', source: src, options: ['bind'] });
      const { report } = await inspect(ctx, b, ['read', '/mnt/tree/top-file', '/mnt/tree/sub/sub-file']);
      eq(report.need('read./mnt/tree/top-file'), 'ok:3', 'reading the top-level file');
      expectErrno(report.need('read./mnt/tree/sub/sub-file'), 'ENOENT', 'reading the submount file through a non-recursive bind');
    },
    {
      rootless:
        'skip: the kernel refuses a non-recursive bind of a tree with submounts in a user namespace (it would uncover locked mounts)',
    },
  ),

  def(
    'mounts::option-rro',
    configMd('#linux-mount-options', '"rro": recursive read-only (SHOULD, kernel >= 5.12)', 'SHOULD'),
    async (ctx) => {
      const src = hostTreeWithSubmount(ctx);
      const b = ctx.bundle();
      addMount(b, { destination: '/mnt/tree', type: 'bind', source: src, options: ['rbind', 'rro'] });
      const { report } = await inspect(ctx, b, ['write', '/mnt/tree/f', '/mnt/tree/sub/f']);
      expectErrno(report.need('write./mnt/tree/f'), 'EROFS', 'writing at the top of an rro mount');
      expectErrno(report.need('write./mnt/tree/sub/f'), 'EROFS', 'writing in a submount of an rro mount');
    },
  ),

  def('mounts::option-rshared', configMd('#linux-mount-options', '"rshared": bind mount propagation'), async (ctx) => {
    const b = ctx.bundle();
    const src = ctx.path('sharedsrc');
    fs.mkdirSync(src);
    addMount(b, { destination: '/mnt/sh', type: 'bind', source: src, options: ['rbind', 'rshared'] });
    const m = mountAt(await inspect(ctx, b), '/mnt/sh');
    check(has(m, 'shared:'), `/mnt/sh is not shared (optional fields: ${m.optional.join(' ') || 'none'})`);
  }),

  def(
    'mounts::tmpfs-data-options',
    configMd(
      '#linux-mount-options',
      'Runtimes SHOULD pass unknown options as filesystem-specific data to mount(2) (tmpfs size=, mode=)',
      'SHOULD',
    ),
    async (ctx) => {
      const b = ctx.bundle();
      addMount(b, tmpfs('/mnt/data', ['size=1m', 'mode=0710']));
      const { report } = await inspect(ctx, b, ['statfs', '/mnt/data', ',', 'stat', '/mnt/data']);
      const s = report.attrs('statfs./mnt/data');
      eq(Number(s.bsize) * Number(s.blocks), 1024 * 1024, 'tmpfs size');
      eq(report.attrs('stat./mnt/data').mode, '0710', 'tmpfs root mode');
    },
  ),

  def(
    'mounts::invalid-fs-type',
    runtimeMdLike(
      'If the runtime is unable to create the environment specified in config.json, it MUST generate an error (unknown fs type)',
    ),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      addMount(b, { destination: '/mnt/bad', type: 'spectestfs', source: 'none' });
      expectError((await ctx.tryCreate(b)).createResult, 'create with mount type "spectestfs"');
    },
  ),

  defaultFs('/proc', 'proc'),
  defaultFs('/sys', 'sysfs'),
  defaultFs('/dev/pts', 'devpts'),
  defaultFs('/dev/shm', 'tmpfs'),

  def('mounts::mqueue', configMd('#mounts', 'an mqueue mount at /dev/mqueue'), async (ctx) => {
    eq(mountAt(await inspect(ctx, ctx.bundle()), '/dev/mqueue').fstype, 'mqueue', 'fs type at /dev/mqueue');
  }),

  def(
    'mounts::cgroup-fs',
    configMd('#mounts', 'a "cgroup" mount at /sys/fs/cgroup gives the container a cgroup filesystem'),
    async (ctx) => {
      const b = ctx.bundle();
      addMount(b, {
        destination: '/sys/fs/cgroup',
        type: 'cgroup',
        source: 'cgroup',
        options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
      });
      const seen = await inspect(ctx, b);
      const under = seen.mounts.filter((m) => m.mountPoint.startsWith('/sys/fs/cgroup') && ['cgroup', 'cgroup2'].includes(m.fstype));
      check(
        under.length > 0,
        `no cgroup filesystem under /sys/fs/cgroup: ${
          seen.mounts
            .filter((m) => m.mountPoint.startsWith('/sys/fs/cgroup'))
            .map((m) => `${m.mountPoint}(${m.fstype})`)
            .join(' ') || 'nothing'
        }`,
      );
    },
  ),

  def(
    'mounts::root-readonly',
    configMd('#root', 'If root.readonly is true then the root filesystem MUST be read-only inside the container'),
    async (ctx) => {
      const b = ctx.bundle();
      b.config.root = { path: 'rootfs', readonly: true };
      const { report } = await inspect(ctx, b, ['write', '/spec-file', ',', 'statfs', '/']);
      expectErrno(report.need('write./spec-file'), 'EROFS', 'writing to the read-only rootfs');
      check(statfsFlags(report, '/').includes('ro'), 'statfs("/") does not report ro');
    },
  ),

  def('mounts::root-writable', configMd('#root', 'root.readonly defaults to false: the root filesystem is writable'), async (ctx) => {
    const b = ctx.bundle();
    b.config.root = { path: 'rootfs' };
    const { report } = await inspect(ctx, b, ['write', '/spec-file']);
    eq(report.need('write./spec-file'), 'ok:1', 'writing to the rootfs');
    check(fs.existsSync(b.inRootfs('spec-file')), 'the write did not reach the rootfs directory');
  }),

  def(
    'mounts::root-path-absolute',
    configMd('#root', 'On POSIX platforms, path is either an absolute path or a relative path to the bundle (absolute)'),
    async (ctx) => {
      const b = ctx.bundle();
      b.config.root = { path: b.rootfs };
      const { report } = await ctx.run(b);
      check(report.has('pid'), 'the container with an absolute root.path did not run the probe');
    },
  ),

  def(
    'mounts::root-path-relative',
    configMd('#root', 'path is either an absolute path or a relative path to the bundle (runtime cwd elsewhere)'),
    async (ctx) => {
      const b = ctx.bundle();
      const elsewhere = ctx.path('elsewhere');
      fs.mkdirSync(elsewhere);
      const { report } = await ctx.run(b, { cwd: elsewhere });
      check(report.has('pid'), 'the container with root.path "rootfs" did not run when the runtime cwd is not the bundle');
    },
  ),

  propagation('shared', (m) => (has(m, 'shared:') ? undefined : `"/" is not shared: optional fields [${m.optional.join(' ')}]`)),
  propagation('private', (m) =>
    has(m, 'shared:') || has(m, 'master:') ? `"/" is not private: optional fields [${m.optional.join(' ')}]` : undefined,
  ),
  propagation('unbindable', (m) =>
    m.optional.includes('unbindable') ? undefined : `"/" is not unbindable: optional fields [${m.optional.join(' ')}]`,
  ),
  def(
    'mounts::rootfs-propagation-slave',
    linuxMd('#rootfs-mount-propagation', 'rootfsPropagation "slave": receives propagation from the host but not the other way around'),
    async (ctx) => {
      const b = ctx.bundle();
      linux(b.config).rootfsPropagation = 'slave';
      const m = mountAt(await inspect(ctx, b), '/');
      check(!has(m, 'shared:'), `"/" is shared, not a slave: [${m.optional.join(' ')}]`);
      const host = hostMountOf(b.rootfs);
      if (host && has(host, 'shared:'))
        check(has(m, 'master:'), `"/" has no master peer group though the host mount is shared: [${m.optional.join(' ')}]`);
    },
  ),

  def(
    'mounts::rootfs-propagation-invalid',
    configMd('#valid-values', 'Runtimes MUST generate an error when invalid values are encountered (rootfsPropagation)'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      linux(b.config).rootfsPropagation = 'spectest';
      expectError((await ctx.tryCreate(b)).createResult, 'create with rootfsPropagation "spectest"');
    },
  ),

  propagationBothWaysCase(
    'propagation-bidirectional',
    "Kubernetes' Bidirectional (containerd): rootfsPropagation rshared and an rshared bind of a shared host mount: a mount made on either side appears on the other",
    'rshared',
    ['rbind', 'rshared'],
    { h2c: true, c2h: true },
  ),
  propagationBothWaysCase(
    'propagation-host-to-container',
    "Kubernetes' HostToContainer: rootfsPropagation unset (rslave) and an rslave bind: the host's mounts appear in the container, the container's never on the host",
    undefined,
    ['rbind', 'rslave'],
    { h2c: true, c2h: false },
  ),
  propagationBothWaysCase(
    'propagation-rshared-bind-default-root',
    'an rshared bind with rootfsPropagation unset is a slave of the host (the default rslave "/" is its source): mounts reach the container, not the host',
    undefined,
    ['rbind', 'rshared'],
    { h2c: true, c2h: false },
  ),
  propagationBothWaysCase(
    'propagation-rprivate-bind',
    'an rprivate bind (rootfsPropagation rshared) is cut from the host in both directions',
    'rshared',
    ['rbind', 'rprivate'],
    { h2c: false, c2h: false },
  ),
  def(
    'mounts::below-proc-refused',
    cli(
      'mounts below /proc',
      'a mount below /proc other than the lxcfs files is refused (runc: "cannot be mounted because it is inside /proc"): a file over /proc/self/attr/exec would take the label writes',
    ),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      const src = ctx.path('fake-attr');
      fs.writeFileSync(src, '');
      addMount(b, { destination: '/proc/self/attr/exec', type: 'bind', source: src, options: ['bind'] });
      expectError((await ctx.tryCreate(b)).createResult, 'create with a bind on /proc/self/attr/exec');
      eq(fs.readFileSync(src, 'utf8'), '', 'the bound file');
    },
  ),

  def(
    'mounts::below-proc-lxcfs-allowed',
    cli('mounts below /proc', "lxcfs's files may be bound over their /proc entries (runc's allow-list: /proc/uptime, /proc/meminfo…)"),
    async (ctx) => {
      const b = ctx.bundle(['read', '/proc/uptime']);
      const src = ctx.path('uptime');
      fs.writeFileSync(src, '1.00 2.00\n');
      addMount(b, { destination: '/proc/uptime', type: 'bind', source: src, options: ['bind'] });
      const { report } = await ctx.run(b);
      eq(report.text('data./proc/uptime'), '1.00 2.00\n', 'content of /proc/uptime');
    },
  ),

  pseudoFsOnSymlink('proc', 'proc'),
  pseudoFsOnSymlink('sys', 'sysfs'),

  def(
    'mounts::dev-readonly',
    linuxMd(
      '#default-devices',
      'the runtime MUST supply /dev/null, /dev/zero… also when /dev is a tmpfs mounted "ro" (devices and /dev/pts made, /dev read-only)',
    ),
    async (ctx) => {
      const b = ctx.bundle();
      const dev = b.config.mounts?.find((m) => m.destination === '/dev');
      if (!dev) fail('the default config has no /dev mount');
      dev.options = [...(dev.options ?? []), 'ro'];
      const seen = await inspect(ctx, b, [
        'statf',
        '/dev/null',
        '/dev/zero',
        ',',
        'stat',
        '/dev/pts',
        ',',
        'write',
        '/dev/spec-file',
        ',',
        'statfs',
        '/dev',
      ]);
      for (const [p, minor] of [
        ['/dev/null', '3'],
        ['/dev/zero', '5'],
      ] as const) {
        const a = seen.report.attrs(`statf.${p}`);
        eq(`${a.type}:${a.major}:${a.minor}`, `chr:1:${minor}`, `${p} (type:major:minor)`);
      }
      eq(seen.report.attrs('stat./dev/pts').type, 'dir', '/dev/pts');
      eq(mountAt(seen, '/dev/pts').fstype, 'devpts', 'fs type at /dev/pts');
      expectErrno(seen.report.need('write./dev/spec-file'), 'EROFS', 'creating a file in the read-only /dev');
      check(
        statfsFlags(seen.report, '/dev').includes('ro'),
        `statfs("/dev") flags [${statfsFlags(seen.report, '/dev').join(',')}] lack ro`,
      );
    },
  ),

  def(
    'mounts::dev-readonly-one-mount',
    cli('read-only /dev', 'a tmpfs /dev mounted "ro" is one mount, remounted read-only once the devices are made (no second mount on top)'),
    async (ctx) => {
      const b = ctx.bundle();
      const dev = b.config.mounts?.find((m) => m.destination === '/dev');
      if (!dev) fail('the default config has no /dev mount');
      dev.options = [...(dev.options ?? []), 'ro'];
      const devs = (await inspect(ctx, b)).mounts.filter((m) => m.mountPoint === '/dev');
      eq(devs.map((m) => `${m.fstype} ${m.options.includes('ro') ? 'ro' : 'rw'}`).join(', '), 'tmpfs ro', 'the mounts at /dev');
    },
  ),

  def(
    'mounts::tmpcopyup',
    cli(
      'tmpcopyup mount option',
      "a tmpfs with tmpcopyup starts with the image's files at its target (owners, modes, symlinks); writes stay in the tmpfs",
    ),
    async (ctx) => {
      const b = ctx.bundle();
      const data = b.inRootfs('data');
      const put = (rel: string, content: string, mode: number, uid: number, gid: number): void => {
        fs.writeFileSync(path.join(data, rel), content);
        fs.chmodSync(path.join(data, rel), mode);
        fs.chownSync(path.join(data, rel), uid, gid);
      };
      fs.mkdirSync(path.join(data, 'sub'), { recursive: true });
      fs.chmodSync(path.join(data, 'sub'), 0o711);
      put('f', 'from-image\n', 0o640, 0, 1001);
      put('o', '', 0o600, 1000, 1001);
      put('sub/g', 'g\n', 0o644, 0, 0);
      fs.symlinkSync('/etc/spec-secret', path.join(data, 'link'));
      addMount(b, tmpfs('/data', ['nosuid', 'tmpcopyup', 'mode=755']));
      const seen = await inspect(ctx, b, [
        'stat',
        '/data/f',
        '/data/o',
        '/data/sub',
        '/data/sub/g',
        '/data/link',
        ',',
        'read',
        '/data/f',
        ',',
        'writev',
        '/data/f',
        'changed',
        ',',
        'write',
        '/data/new',
      ]);
      eq(mountAt(seen, '/data').fstype, 'tmpfs', 'fs type at /data');
      for (const [p, want] of [
        ['/data/f', 'reg 0640 0:1001'],
        ['/data/o', 'reg 0600 1000:1001'],
        ['/data/sub', 'dir 0711 0:0'],
        ['/data/sub/g', 'reg 0644 0:0'],
        ['/data/link', 'lnk 0777 0:0'],
      ] as const) {
        const a = seen.report.attrs(`stat.${p}`);
        eq(`${a.type} ${a.mode} ${a.uid}:${a.gid}`, want, `${p} in the tmpfs (type mode uid:gid)`);
      }
      eq(seen.report.attrs('stat./data/link').target, '/etc/spec-secret', 'target of /data/link');
      eq(seen.report.text('data./data/f'), 'from-image\n', 'content of /data/f');
      eq(seen.report.need('write./data/f'), 'ok:7', 'writing /data/f in the container');
      eq(seen.report.need('write./data/new'), 'ok:1', 'creating /data/new in the container');
      eq(fs.readFileSync(path.join(data, 'f'), 'utf8'), 'from-image\n', "the image's data/f after the container wrote to /data/f");
      check(!fs.existsSync(path.join(data, 'new')), "the container's /data/new reached the image");
    },
    { rootless: 'skip: the case gives rootfs files host owners (gid 1001), which a rootless rootfs does not have' },
  ),

  devLink('fd', '/proc/self/fd'),
  devLink('stdin', '/proc/self/fd/0'),
  devLink('stdout', '/proc/self/fd/1'),
  devLink('stderr', '/proc/self/fd/2'),
];

function runtimeMdLike(text: string): ReturnType<typeof configMd> {
  return { doc: 'runtime.md', anchor: '#lifecycle', text, level: 'MUST' };
}
