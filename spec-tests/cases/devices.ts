/** config-linux.md#devices, #default-devices and #allowed-device-list. */
import * as fs from 'node:fs';
import { linux } from '../harness/config.js';
import type { Bundle } from '../harness/context.js';
import { errnoOf } from '../harness/probe-output.js';
import { check, eq, fail, type Case } from '../harness/types.js';
import { def, expectErrno, expectError, linuxMd } from './util.js';

const defaultDev = (name: string, major: number, minor: number): Case =>
  def(`devices::default-${name}`, linuxMd('#default-devices', `the runtime MUST supply /dev/${name}`), async (ctx) => {
    const { report } = await ctx.run(ctx.bundle(['statf', `/dev/${name}`]));
    const a = report.attrs(`statf./dev/${name}`);
    eq(`${a.type} ${a.major}:${a.minor}`, `chr ${major}:${minor}`, `/dev/${name}`);
  });

function addDevice(b: Bundle, d: NonNullable<NonNullable<Bundle['config']['linux']>['devices']>[number]): void {
  (linux(b.config).devices ??= []).push(d);
}

/** /dev/fuse (10:229) opens without capabilities and is not among the devices
 * runtimes allow by default (runc allows 10:200 /dev/net/tun, so not that). */
const FUSE = { type: 'c', path: '/dev/spec-fuse', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 };
const OPEN_R = 'open:/dev/spec-fuse';
const OPEN_W = 'openw:/dev/spec-fuse';

function fuseRules(b: Bundle, rules: Record<string, unknown>[]): void {
  addDevice(b, FUSE);
  linux(b.config).resources = { ...(linux(b.config).resources ?? {}), devices: rules };
}

export const deviceCases: Case[] = [
  defaultDev('null', 1, 3),
  defaultDev('zero', 1, 5),
  defaultDev('full', 1, 7),
  defaultDev('random', 1, 8),
  defaultDev('urandom', 1, 9),
  defaultDev('tty', 5, 0),

  def(
    'devices::default-ptmx',
    linuxMd('#default-devices', "the runtime MUST supply /dev/ptmx, a bind-mount or symlink of the container's /dev/pts/ptmx"),
    async (ctx) => {
      const { report } = await ctx.run(ctx.bundle(['stat', '/dev/ptmx', ',', 'statf', '/dev/ptmx', '/dev/pts/ptmx']));
      const l = report.attrs('stat./dev/ptmx');
      const f = report.attrs('statf./dev/ptmx');
      const pts = report.attrs('statf./dev/pts/ptmx');
      if (l.type === 'lnk') {
        check(['pts/ptmx', '/dev/pts/ptmx'].includes(l.target ?? ''), `/dev/ptmx links to ${l.target}, not pts/ptmx`);
      } else {
        eq(`${f.type} ${f.major}:${f.minor}`, 'chr 5:2', '/dev/ptmx');
        eq(f.dev, pts.dev, '/dev/ptmx must be the devpts instance of /dev/pts (same st_dev)');
      }
    },
  ),

  def(
    'devices::default-usable',
    linuxMd('#default-devices', 'the default devices are usable: /dev/null takes writes, /dev/zero reads zeros, /dev/full gives ENOSPC'),
    async (ctx) => {
      const { report } = await ctx.run(ctx.bundle(['write', '/dev/null', '/dev/full', ',', 'read', '/dev/zero', '/dev/urandom']));
      eq(report.need('write./dev/null'), 'ok:1', 'writing /dev/null');
      expectErrno(report.need('write./dev/full'), 'ENOSPC', 'writing /dev/full');
      check(/^0+$/.test(report.need('data./dev/zero')), 'reading /dev/zero did not give zeros');
      eq(report.need('read./dev/urandom'), 'ok:256', 'reading /dev/urandom');
    },
  ),

  def('devices::char-device', linuxMd('#devices', 'devices lists devices that MUST be available in the container (char)'), async (ctx) => {
    const b = ctx.bundle(['stat', '/dev/spec-char']);
    addDevice(b, { type: 'c', path: '/dev/spec-char', major: 1, minor: 3 });
    const { report } = await ctx.run(b);
    const a = report.attrs('stat./dev/spec-char');
    eq(`${a.type} ${a.major}:${a.minor}`, 'chr 1:3', '/dev/spec-char');
  }),

  def(
    'devices::block-device',
    linuxMd('#devices', 'devices lists devices that MUST be available in the container (block)'),
    async (ctx) => {
      const b = ctx.bundle(['stat', '/dev/spec-blk']);
      addDevice(b, { type: 'b', path: '/dev/spec-blk', major: 7, minor: 200 });
      const { report } = await ctx.run(b);
      const a = report.attrs('stat./dev/spec-blk');
      eq(`${a.type} ${a.major}:${a.minor}`, 'blk 7:200', '/dev/spec-blk');
    },
  ),

  def('devices::fifo', linuxMd('#devices', 'type p: a FIFO MUST be available in the container'), async (ctx) => {
    const b = ctx.bundle(['stat', '/dev/spec-fifo']);
    addDevice(b, { type: 'p', path: '/dev/spec-fifo' });
    const { report } = await ctx.run(b);
    eq(report.attrs('stat./dev/spec-fifo').type, 'fifo', 'type of /dev/spec-fifo');
  }),

  def('devices::unbuffered-u', linuxMd('#devices', 'type u (unbuffered char device) is a valid device type'), async (ctx) => {
    const b = ctx.bundle(['stat', '/dev/spec-u']);
    addDevice(b, { type: 'u', path: '/dev/spec-u', major: 1, minor: 3 });
    const { report } = await ctx.run(b);
    const a = report.attrs('stat./dev/spec-u');
    eq(`${a.type} ${a.major}:${a.minor}`, 'chr 1:3', '/dev/spec-u');
  }),

  def('devices::file-mode', linuxMd('#devices', 'fileMode: file mode for the device'), async (ctx) => {
    const b = ctx.bundle(['stat', '/dev/spec-mode']);
    addDevice(b, { type: 'c', path: '/dev/spec-mode', major: 1, minor: 3, fileMode: 0o640 });
    const { report } = await ctx.run(b);
    eq(report.attrs('stat./dev/spec-mode').mode, '0640', 'mode of /dev/spec-mode');
  }),

  def('devices::owner', linuxMd('#devices', 'uid/gid: id of the device owner and group in the container namespace'), async (ctx) => {
    const b = ctx.bundle(['stat', '/dev/spec-owned']);
    addDevice(b, { type: 'c', path: '/dev/spec-owned', major: 1, minor: 3, uid: 1000, gid: 1001 });
    const { report } = await ctx.run(b);
    const a = report.attrs('stat./dev/spec-owned');
    eq(`${a.uid}:${a.gid}`, '1000:1001', 'owner of /dev/spec-owned');
  }),

  def(
    'devices::outside-dev',
    linuxMd('#devices', 'The path MAY be anywhere in the container filesystem, notably outside of /dev'),
    async (ctx) => {
      const b = ctx.bundle(['stat', '/spec-devdir/null']);
      addDevice(b, { type: 'c', path: '/spec-devdir/null', major: 1, minor: 3 });
      const { report } = await ctx.run(b);
      const a = report.attrs('stat./spec-devdir/null');
      eq(`${a.type} ${a.major}:${a.minor}`, 'chr 1:3', '/spec-devdir/null');
    },
  ),

  def(
    'devices::existing-mismatch',
    linuxMd('#devices', 'If a file already exists at path that does not match the requested device, the runtime MUST generate an error'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      fs.writeFileSync(b.inRootfs('spec-devfile'), 'regular file');
      addDevice(b, { type: 'c', path: '/spec-devfile', major: 1, minor: 3 });
      const c = await ctx.tryCreate(b);
      expectError(c.createResult, 'create with a device path occupied by a regular file');
    },
  ),

  def(
    'devices::invalid-type',
    linuxMd('#devices', 'type MUST be one of c, b, u or p: an invalid type is an error', 'MUST'),
    async (ctx) => {
      const b = ctx.bundle(['exit', '0']);
      addDevice(b, { type: 'x', path: '/dev/spec-bad', major: 1, minor: 3 });
      expectError((await ctx.tryCreate(b)).createResult, 'create with device type "x"');
    },
  ),

  def(
    'devices::cgroup-deny',
    linuxMd('#allowed-device-list', 'devices configures the allowed device list (deny all: the device cannot be opened)'),
    async (ctx) => {
      const b = ctx.bundle(['syscall', OPEN_R]);
      fuseRules(b, [{ allow: false, access: 'rwm' }]);
      const { report } = await ctx.run(b);
      expectErrno(report.need(`syscall.${OPEN_R}`), 'EPERM', 'opening a denied device');
    },
    { rootless: 'skip: device rules need CAP_SYS_ADMIN on the host (a v2 device program; runtimes skip them in a user namespace)' },
  ),

  def(
    'devices::cgroup-allow',
    linuxMd('#allowed-device-list', 'devices configures the allowed device list (an allowed device can be opened)'),
    async (ctx) => {
      const b = ctx.bundle(['syscall', OPEN_R]);
      fuseRules(b, [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
      ]);
      const { report } = await ctx.run(b);
      const r = report.need(`syscall.${OPEN_R}`);
      if (errnoOf(r) === 'EPERM') fail('an explicitly allowed device cannot be opened (EPERM)');
    },
    { rootless: 'skip: device rules need CAP_SYS_ADMIN on the host (a v2 device program; runtimes skip them in a user namespace)' },
  ),

  def(
    'devices::cgroup-order',
    linuxMd('#allowed-device-list', 'The runtime MUST apply entries in the listed order (a later deny-all wins)'),
    async (ctx) => {
      const b = ctx.bundle(['syscall', OPEN_R]);
      fuseRules(b, [
        { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
        { allow: false, access: 'rwm' },
      ]);
      const { report } = await ctx.run(b);
      expectErrno(report.need(`syscall.${OPEN_R}`), 'EPERM', 'opening a device allowed before a later deny-all');
    },
    { rootless: 'skip: device rules need CAP_SYS_ADMIN on the host (a v2 device program; runtimes skip them in a user namespace)' },
  ),

  def(
    'devices::cgroup-access-r',
    linuxMd('#allowed-device-list', 'access is a composition of r, w, m: read-only access refuses writes'),
    async (ctx) => {
      const b = ctx.bundle(['syscall', OPEN_W]);
      fuseRules(b, [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 10, minor: 229, access: 'r' },
      ]);
      const { report } = await ctx.run(b);
      expectErrno(report.need(`syscall.${OPEN_W}`), 'EPERM', 'opening for write a device allowed only for reading');
    },
    { rootless: 'skip: device rules need CAP_SYS_ADMIN on the host (a v2 device program; runtimes skip them in a user namespace)' },
  ),
];
