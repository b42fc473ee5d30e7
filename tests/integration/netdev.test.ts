/**
 * linux.netDevices with a veth pair standing in for a host
 * interface (this kernel has no dummy driver).
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

import type { Spec } from '../../lib/config/types.js';
import { IS_ROOT, TSRUN, leftIn, makeBundle, runtime, tempRoot, uniqueId } from '../helpers/bundle.js';

const rootTest = IS_ROOT && fs.existsSync('/usr/sbin/ip') ? test : test.skip;

rootTest('a host interface moves into the container, renamed, with its address and up state', (t) => {
  const host = `tsv${process.pid % 100000}a`;
  const peer = `tsv${process.pid % 100000}b`;
  execFileSync('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
  try {
    execFileSync('ip', ['addr', 'add', '10.77.0.1/24', 'dev', host]);
    execFileSync('ip', ['link', 'set', host, 'up']);
    const b = makeBundle((s) => {
      s.process!.args = ['sh', '-c', 'busybox ip -o addr show dev eth7; busybox ip -o link show dev eth7'];
      s.linux!.netDevices = { [host]: { name: 'eth7' } };
    });
    const r = runtime(TSRUN, tempRoot(), ['run', '-b', b.dir, uniqueId('netdev')]);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /eth7\s+inet 10\.77\.0\.1\/24/);
    t.regex(r.stdout, /eth7.*[<,]UP[,>]/);
    t.false(fs.existsSync(`/sys/class/net/${host}`), 'the interface left the host (and went with the namespace)');
    b.cleanup();
  } finally {
    spawnSync('ip', ['link', 'del', host], { stdio: 'ignore' });
  }
});

rootTest('netDevices errors name the field and leave nothing behind', (t) => {
  for (const [mutate, pattern] of [
    [
      (s: Spec) => (s.linux!.netDevices = { 'tsr-missing0': {} }),
      /linux\.netDevices\["tsr-missing0"\]: no interface "tsr-missing0" on the host/,
    ],
    [
      (s: Spec) => {
        s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network');
        s.linux!.netDevices = { lo: {} };
      },
      /linux\.netDevices\["lo"\]: moving an interface needs a network namespace/,
    ],
    [(s: Spec) => (s.linux!.netDevices = { lo: { name: 'a/b' } }), /linux\.netDevices\["lo"\]\.name: invalid interface name/],
  ] as const) {
    const b = makeBundle(mutate);
    const root = tempRoot();
    const r = runtime(TSRUN, root, ['create', '-b', b.dir, uniqueId('netbad')]);
    t.is(r.status, 1);
    t.regex(r.stderr, pattern);
    t.deepEqual(leftIn(root), []);
    b.cleanup();
  }
});
