/**
 * linux.netDevices — host interfaces moved into the
 * container's new network namespace while the init waits for GO, renamed
 * when `name` is set, keeping their permanent addresses and up state
 * (runtime-spec config-linux.md: the runtime MUST preserve them; moving an
 * interface across namespaces drops its addresses).
 *
 * Node has no netlink, so this drives iproute2's `ip` (and `nsenter` for
 * the addresses inside); a host without them gets a clear error.
 */
import * as fs from 'node:fs';

import { builtin } from '../builtin.js';
import { TsrunError } from '../errors.js';

export interface NetDeviceMove {
  /** The interface name on the host. */
  hostName: string;
  /** Its name inside the container. */
  name: string;
}

function tool(name: string): string {
  const found = [`/usr/sbin/${name}`, `/sbin/${name}`, `/usr/bin/${name}`, `/bin/${name}`].find((p) => fs.existsSync(p));
  if (!found)
    throw new TsrunError('ESYSTEM', `linux.netDevices: moving interfaces needs ${name} (iproute2/util-linux), which is not installed`);
  return found;
}

function run(field: string, what: string, cmd: string, args: string[]): string {
  const r = builtin('node:child_process').spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new TsrunError('ESYSTEM', `${field}: ${what}: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout;
}

interface IpAddr {
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string; dynamic?: boolean }[];
}

export function moveNetDevices(pid: number, devices: readonly NetDeviceMove[]): void {
  if (!devices.length) return;
  const ip = tool('ip');
  const nsenter = tool('nsenter');
  for (const d of devices) {
    const field = `linux.netDevices[${JSON.stringify(d.hostName)}]`;
    const [info] = JSON.parse(run(field, 'read its addresses', ip, ['-j', 'addr', 'show', 'dev', d.hostName]) || '[]') as IpAddr[];
    const addrs = (info?.addr_info ?? []).filter((a) => a.scope !== 'link' && !a.dynamic);
    run(field, `move into the container's network namespace as ${d.name}`, ip, [
      'link',
      'set',
      'dev',
      d.hostName,
      'netns',
      String(pid),
      'name',
      d.name,
    ]);
    const inNs = (args: string[], what: string) => run(field, what, nsenter, ['-t', String(pid), '-n', ip, ...args]);
    for (const a of addrs) inNs(['addr', 'add', `${a.local}/${a.prefixlen}`, 'dev', d.name], `restore address ${a.local}/${a.prefixlen}`);
    if (info?.flags?.includes('UP')) inNs(['link', 'set', 'dev', d.name, 'up'], 'set it up');
  }
}
