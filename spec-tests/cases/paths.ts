/** config-linux.md#masked-paths and #readonly-paths. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linux } from '../harness/config.js';
import { parseMountinfo } from '../harness/probe-output.js';
import { check, eq, type Case } from '../harness/types.js';
import { cli, def, expectErrno, linuxMd } from './util.js';

const secretHex = Buffer.from('secret-content\n').toString('hex');

export const pathCases: Case[] = [
  def(
    'paths::masked-file',
    linuxMd('#masked-paths', 'maskedPaths will mask over the provided paths so that they cannot be read (file)'),
    async (ctx) => {
      const b = ctx.bundle(['read', '/etc/spec-secret']);
      linux(b.config).maskedPaths = ['/etc/spec-secret'];
      const { report } = await ctx.run(b);
      const r = report.need('read./etc/spec-secret');
      if (r.startsWith('ok:')) check(report.get('data./etc/spec-secret') !== secretHex, 'the masked file is still readable');
    },
  ),

  def(
    'paths::masked-dir',
    linuxMd('#masked-paths', 'maskedPaths will mask over the provided paths so that they cannot be read (directory)'),
    async (ctx) => {
      const b = ctx.bundle(['ls', '/etc/spec-secret-dir', ',', 'read', '/etc/spec-secret-dir/inner']);
      linux(b.config).maskedPaths = ['/etc/spec-secret-dir'];
      const { report } = await ctx.run(b);
      const ls = report.need('ls./etc/spec-secret-dir');
      check(!ls.split(',').includes('inner'), `the masked directory still lists its content: ${ls}`);
      check(!report.need('read./etc/spec-secret-dir/inner').startsWith('ok:'), 'a file in the masked directory is readable');
    },
  ),

  def(
    'paths::masked-dirs-one-tmpfs',
    cli(
      'maskedPaths',
      'masked directories share one read-only tmpfs (the first masked, bound on the others; one block, one inode), as runc 1.3.6, 1.4.3, 1.5 and crun do',
    ),
    async (ctx) => {
      const b = ctx.bundle(['cat', '/proc/self/mountinfo']);
      for (const d of ['m1', 'm2', 'm3']) {
        fs.mkdirSync(b.inRootfs(d));
        fs.writeFileSync(path.join(b.inRootfs(d), 'secret'), 'secret\n');
      }
      linux(b.config).maskedPaths = ['/m1', '/m2', '/m3', '/m1'];
      const { exec } = await ctx.run(b);
      const masks = parseMountinfo(exec.stdout).filter((m) => ['/m1', '/m2', '/m3'].includes(m.mountPoint));
      const shown = masks.map((m) => `${m.mountPoint} ${m.device} ${m.fstype} ${m.superOptions.join(',')}`).join('; ');
      // a path listed twice may be masked twice (runc 1.3.6 does): what counts is that each is masked
      eq([...new Set(masks.map((m) => m.mountPoint))].join(' '), '/m1 /m2 /m3', `masks in mountinfo (${shown})`);
      check(new Set(masks.map((m) => m.device)).size === 1, `the masks are not one filesystem: ${shown}`);
      check(
        masks.every((m) => m.fstype === 'tmpfs' && m.options.includes('ro') && m.superOptions.includes('nr_inodes=1')),
        `not read-only tmpfs of one inode: ${shown}`,
      );
    },
  ),

  def('paths::masked-proc-file', linuxMd('#masked-paths', 'maskedPaths: /proc/kcore cannot be read'), async (ctx) => {
    const b = ctx.bundle(['read', '/proc/kcore']);
    linux(b.config).maskedPaths = ['/proc/kcore'];
    const { report } = await ctx.run(b);
    const r = report.need('read./proc/kcore');
    check(r === 'ok:0' || r.startsWith('errno:'), `/proc/kcore is readable (${r})`);
  }),

  def('paths::masked-proc-dir', linuxMd('#masked-paths', 'maskedPaths: /proc/acpi-like directories cannot be listed'), async (ctx) => {
    const b = ctx.bundle(['ls', '/proc/sys/kernel']);
    linux(b.config).maskedPaths = ['/proc/sys/kernel'];
    const { report } = await ctx.run(b);
    const ls = report.need('ls./proc/sys/kernel');
    check(ls === '' || ls.startsWith('errno:'), `masked /proc/sys/kernel still lists entries: ${ls.slice(0, 80)}`);
  }),

  def('paths::masked-keeps-other', linuxMd('#masked-paths', 'masking one path leaves its siblings readable', 'SHOULD'), async (ctx) => {
    const b = ctx.bundle(['read', '/etc/passwd']);
    linux(b.config).maskedPaths = ['/etc/spec-secret'];
    const { report } = await ctx.run(b);
    check(report.need('read./etc/passwd').startsWith('ok:'), 'a sibling of a masked path is unreadable');
  }),

  def(
    'paths::readonly-dir',
    linuxMd('#readonly-paths', 'readonlyPaths will set the provided paths as readonly inside the container (directory)'),
    async (ctx) => {
      const b = ctx.bundle(['write', '/etc/spec-secret-dir/new']);
      linux(b.config).readonlyPaths = ['/etc/spec-secret-dir'];
      const { report } = await ctx.run(b);
      expectErrno(report.need('write./etc/spec-secret-dir/new'), 'EROFS', 'creating a file in a readonly path');
    },
  ),

  def(
    'paths::readonly-file',
    linuxMd('#readonly-paths', 'readonlyPaths will set the provided paths as readonly inside the container (file)'),
    async (ctx) => {
      const b = ctx.bundle(['write', '/etc/spec-secret']);
      linux(b.config).readonlyPaths = ['/etc/spec-secret'];
      const { report } = await ctx.run(b);
      expectErrno(report.need('write./etc/spec-secret'), 'EROFS', 'writing a readonly file');
    },
  ),

  def('paths::readonly-still-readable', linuxMd('#readonly-paths', 'readonly paths stay readable', 'SHOULD'), async (ctx) => {
    const b = ctx.bundle(['read', '/etc/spec-secret']);
    linux(b.config).readonlyPaths = ['/etc/spec-secret'];
    const { report } = await ctx.run(b);
    eq(report.get('data./etc/spec-secret'), secretHex, 'content of a readonly file');
  }),

  def(
    'paths::readonly-proc-sys',
    linuxMd('#readonly-paths', 'readonlyPaths: /proc/sys cannot be written'),
    async (ctx) => {
      const b = ctx.bundle(['writev', '/proc/sys/kernel/hostname', 'spec-ro']);
      linux(b.config).readonlyPaths = ['/proc/sys'];
      const { report } = await ctx.run(b);
      expectErrno(report.need('write./proc/sys/kernel/hostname'), 'EROFS', 'writing under a readonly /proc/sys');
    },
    { rootless: 'skip: /proc/sys files belong to the host root, so a write fails EACCES before the read-only mount is asked' },
  ),

  def(
    'paths::readonly-not-elsewhere',
    linuxMd('#readonly-paths', 'a readonly path does not make its parent read-only', 'SHOULD'),
    async (ctx) => {
      const b = ctx.bundle(['write', '/etc/other']);
      linux(b.config).readonlyPaths = ['/etc/spec-secret-dir'];
      const { report } = await ctx.run(b);
      eq(report.need('write./etc/other'), 'ok:1', 'writing next to a readonly path');
    },
  ),
];
