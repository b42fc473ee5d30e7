/**
 * The systemd cgroup driver's planning, pure (runc's rules, docs/cgroups.md):
 * linux.cgroupsPath `[slice]:[prefix]:[name]` → the transient unit that holds
 * the container and where its cgroup is, and linux.resources plus the
 * `org.systemd.property.*` annotations → the unit's properties. The D-Bus
 * calls are native/host/systemd.c's; what systemd cannot express is then
 * written to the unit's cgroup files as the cgroupfs driver writes it.
 */
import { ConfigError } from '../errors.js';
import { pidsMax, sharesToWeight, swapToV2 } from './convert.js';
import type { Rule } from './devices.js';
import type { LinuxResources } from './resources.js';

/** A container's systemd unit. */
export interface SystemdUnit {
  /** `prefix-name.scope`, or a `name.slice` asked for by name. */
  unit: string;
  /** The slice a scope goes into (Slice=), or the one a slice wants (Wants=). */
  slice: string;
  /** The unit's cgroup, relative to the cgroup v2 mount: `/system.slice/tsrun-x.scope`. */
  path: string;
}

/** A started unit as state.json records it (cgroup.systemd): what delete stops. */
export interface SystemdUnitRef {
  unit: string;
  /** The user's manager (rootless, over the user bus), not the system's. */
  user: boolean;
}

const FIELD = 'linux.cgroupsPath';

/**
 * A slice's cgroup path: dashes nest (`a-b.slice` lives in `a.slice`), `-.slice` is the root.
 * Throws naming linux.cgroupsPath for what systemd would not take.
 */
export function expandSlice(slice: string): string {
  const bad = () =>
    new ConfigError(
      FIELD,
      `invalid slice name ${JSON.stringify(slice)}: a systemd slice is NAME.slice, NAME without "/" and its dashes single`,
    );
  if (!slice.endsWith('.slice') || slice.length <= '.slice'.length || slice.includes('/')) throw bad();
  const name = slice.slice(0, -'.slice'.length);
  if (name === '-') return '/';
  let out = '';
  let prefix = '';
  for (const component of name.split('-')) {
    if (!component) throw bad();
    out += `/${prefix}${component}.slice`;
    prefix += `${component}-`;
  }
  return out;
}

/**
 * runc's systemd unit for a container: cgroupsPath `slice:prefix:name`
 * (empty: `:tsrun:<id>`); an empty slice is system.slice (rootless:
 * user.slice); the unit is `prefix-name.scope` unless name is a slice.
 */
export function systemdUnit(cgroupsPath: string | undefined, id: string, rootless: boolean): SystemdUnit {
  const parts = (cgroupsPath || `:tsrun:${id}`).split(':');
  if (parts.length !== 3)
    throw new ConfigError(FIELD, `expected "slice:prefix:name" with the systemd cgroup driver, got ${JSON.stringify(cgroupsPath)}`);
  const [sliceArg, prefix, name] = parts as [string, string, string];
  if (!name) throw new ConfigError(FIELD, `${JSON.stringify(cgroupsPath)} names no unit: "slice:prefix:name" needs a name`);
  if (name.includes('/') || prefix.includes('/')) throw new ConfigError(FIELD, `${JSON.stringify(cgroupsPath)}: a unit name has no "/"`);
  const slice = sliceArg === '-' ? '-.slice' : sliceArg || (rootless ? 'user.slice' : 'system.slice');
  if (name.endsWith('.slice')) return { unit: name, slice, path: expandSlice(name) };
  const unit = `${prefix}-${name}.scope`;
  const parent = expandSlice(slice);
  return { unit, slice, path: `${parent === '/' ? '' : parent}/${unit}` };
}

/** A unit property as native/host/systemd.c marshals it: the D-Bus signature and a value of that shape. */
export type SystemdProperty =
  | { name: string; type: 's'; value: string }
  | { name: string; type: 'b'; value: boolean }
  | { name: string; type: 't'; value: bigint }
  | { name: string; type: 'x'; value: bigint }
  | { name: string; type: 'u'; value: number }
  | { name: string; type: 'i'; value: number }
  | { name: string; type: 'd'; value: number }
  | { name: string; type: 'au'; value: number[] }
  | { name: string; type: 'as'; value: string[] }
  | { name: string; type: 'ay'; value: Uint8Array }
  | { name: string; type: 'a(ss)'; value: [string, string][] };

const U64_MAX = 0xffffffffffffffffn;
const DEFAULT_CPU_PERIOD = 100_000;

const t = (name: string, value: number | bigint): SystemdProperty => ({ name, type: 't', value: BigInt(value) });

/** The properties of a new unit: what it is, where, its accounting, its resources, the annotations' properties. */
export function unitProperties(
  u: SystemdUnit,
  opts: { id: string; pid: number; resources: LinuxResources; devices: Rule[] | null; annotations?: Record<string, string> },
): SystemdProperty[] {
  const scope = u.unit.endsWith('.scope');
  const props: SystemdProperty[] = [
    { name: 'Description', type: 's', value: `tsrun container ${opts.id}` },
    scope ? { name: 'Slice', type: 's', value: u.slice } : { name: 'Wants', type: 'as', value: [u.slice] },
  ];
  // a scope holds the container's own cgroup tree (cgroupns, systemd inside)
  if (scope) props.push({ name: 'Delegate', type: 'b', value: true });
  if (opts.pid > 0) props.push({ name: 'PIDs', type: 'au', value: [opts.pid] });
  props.push(
    { name: 'DefaultDependencies', type: 'b', value: false },
    // always, as runc: the same files as the cgroupfs driver's, whatever the limits
    { name: 'MemoryAccounting', type: 'b', value: true },
    { name: 'CPUAccounting', type: 'b', value: true },
    { name: 'IOAccounting', type: 'b', value: true },
    { name: 'TasksAccounting', type: 'b', value: true },
  );
  props.push(...resourceProperties(opts.resources, opts.devices));
  props.push(...annotationProperties(opts.annotations ?? {}));
  return props;
}

/**
 * linux.resources as unit properties (systemd.resource-control(5)), on
 * cgroup v2, as runc translates them; what has none is written to the
 * unit's cgroup files afterwards. Used at create and by update
 * (SetUnitProperties), which passes the memory limit in place as
 * `memoryNow` (v2.ts memoryLimitNow) for a swap limit given alone.
 */
export function resourceProperties(r: LinuxResources, devices: Rule[] | null, memoryNow = 0): SystemdProperty[] {
  const props: SystemdProperty[] = [];
  if (devices) props.push(...deviceProperties(devices));
  const m = r.memory;
  if (m?.limit) props.push(t('MemoryMax', m.limit < 0 ? U64_MAX : BigInt(m.limit)));
  if (m?.reservation) props.push(t('MemoryLow', m.reservation < 0 ? U64_MAX : BigInt(m.reservation)));
  if (m) {
    // the cgroupfs driver's conversion: an unlimited memory with no swap given lifts swap too
    const swap = swapToV2(m.swap ?? 0, m.limit ?? memoryNow);
    if (swap !== 0) props.push(t('MemorySwapMax', swap < 0 ? U64_MAX : BigInt(swap)));
  }
  const c = r.cpu;
  if (c?.idle === 1) props.push(t('CPUWeight', 0));
  else if (c?.shares) props.push(t('CPUWeight', sharesToWeight(c.shares)));
  if (c?.quota || c?.period) {
    const period = c.period || DEFAULT_CPU_PERIOD;
    if (c.period) props.push(t('CPUQuotaPeriodUSec', period));
    let perSec = U64_MAX;
    if (c.quota && c.quota > 0) {
      // systemd keeps whole percents of a CPU: round up to 10 ms a second, as runc does
      const us = Math.floor((c.quota * 1_000_000) / period);
      perSec = BigInt(us % 10_000 ? (Math.floor(us / 10_000) + 1) * 10_000 : us);
    }
    props.push(t('CPUQuotaPerSecUSec', perSec));
  }
  if (c?.cpus) props.push({ name: 'AllowedCPUs', type: 'ay', value: rangeToBits(c.cpus, 'linux.resources.cpu.cpus') });
  if (c?.mems) props.push({ name: 'AllowedMemoryNodes', type: 'ay', value: rangeToBits(c.mems, 'linux.resources.cpu.mems') });
  const pids = r.pids?.limit;
  if (typeof pids === 'number') {
    // 0 is a real limit (runtime-spec 1.3), which systemd takes as 1 only: the cgroupfs driver writes 1 too
    const max = pidsMax(pids);
    props.push(t('TasksMax', max === 'max' ? U64_MAX : BigInt(max)));
  }
  for (const [key, raw] of Object.entries(r.unified ?? {})) props.push(...unifiedProperty(key, raw.trim()));
  return props;
}

function unifiedProperty(key: string, v: string): SystemdProperty[] {
  const field = `linux.resources.unified["${key}"]`;
  const num = (s: string): bigint => {
    if (s === 'max') return U64_MAX;
    if (!/^\d+$/.test(s)) throw new ConfigError(field, `${JSON.stringify(v)} is not a number or "max"`);
    return BigInt(s);
  };
  const memory: Record<string, string> = {
    'memory.high': 'MemoryHigh',
    'memory.low': 'MemoryLow',
    'memory.min': 'MemoryMin',
    'memory.max': 'MemoryMax',
    'memory.swap.max': 'MemorySwapMax',
  };
  if (memory[key]) return [t(memory[key], num(v))];
  if (key === 'pids.max') {
    const n = num(v);
    return [t('TasksMax', n === 0n ? 1n : n)];
  }
  if (key === 'cpu.weight') return [t('CPUWeight', num(v))];
  if (key === 'cpuset.cpus') return [{ name: 'AllowedCPUs', type: 'ay', value: rangeToBits(v, field) }];
  if (key === 'cpuset.mems') return [{ name: 'AllowedMemoryNodes', type: 'ay', value: rangeToBits(v, field) }];
  if (key === 'cpu.max') {
    const [quota = 'max', period] = v.split(/\s+/);
    const p = period ? Number(period) : DEFAULT_CPU_PERIOD;
    const out: SystemdProperty[] = [];
    if (period) out.push(t('CPUQuotaPeriodUSec', p));
    out.push(t('CPUQuotaPerSecUSec', quota === 'max' ? U64_MAX : BigInt(Math.ceil((Number(quota) * 100) / p)) * 10_000n));
    return out;
  }
  return []; // written to the cgroup file only
}

/** A cpuset list ("0-3,8") as systemd's byte mask (bit n = CPU n, little-endian bytes). */
export function rangeToBits(list: string, field: string): Uint8Array {
  const bits: number[] = [];
  for (const part of list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new ConfigError(field, `${JSON.stringify(list)} is not a list of CPUs or nodes ("0-3,8")`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi > 8191) throw new ConfigError(field, `${JSON.stringify(part)} is not a range`);
    for (let i = lo; i <= hi; i++) bits.push(i);
  }
  const out = new Uint8Array(bits.length ? Math.floor(Math.max(...bits) / 8) + 1 : 0);
  for (const b of bits) out[b >> 3]! |= 1 << (b & 7);
  return out;
}

/**
 * The device rules tsrun enforces (lib/cgroups/devices.ts: a later rule
 * wins, from "deny all"), as DevicePolicy/DeviceAllow, so systemd's own
 * device program allows what ours does (both must allow an access). A
 * whitelist maps rule by rule (`c 1:3` → /dev/char/1:3, `c 136:*` →
 * char-136, `c *:*` → char-*; systemd has no `*:n`, as runc warns, so that
 * rule is left to ours alone; a deny takes its access out of the entry for
 * the same device); allow-all is DevicePolicy=auto with no list;
 * a deny rule after allow-all (a blacklist) systemd cannot say: the unit is
 * left open (auto) and tsrun's program, written after, decides alone.
 */
export function deviceProperties(rules: Rule[]): SystemdProperty[] {
  const open: SystemdProperty[] = [
    { name: 'DevicePolicy', type: 's', value: 'auto' },
    { name: 'DeviceAllow', type: 'a(ss)', value: [] },
  ];
  let allowAll = false;
  let list: Rule[] = [];
  const all = (r: Rule) => r.type === 'a' && r.major === -1 && r.minor === -1 && r.access === 'rwm';
  for (const r of rules) {
    if (all(r)) {
      allowAll = r.allow;
      list = [];
    } else if (allowAll) {
      if (!r.allow) return open; // a blacklist
    } else if (r.allow) {
      list.push(r);
    } else {
      // a deny takes back its access from the same device's entry (runc's emulator), not the entry
      list = list.flatMap((x) => {
        if (x.type !== r.type || x.major !== r.major || x.minor !== r.minor) return [x];
        const left = [...x.access].filter((c) => !r.access.includes(c)).join('');
        return left ? [{ ...x, access: left }] : [];
      });
    }
  }
  if (allowAll) return open;
  const allow: [string, string][] = [];
  for (const r of list) {
    for (const type of r.type === 'a' ? (['c', 'b'] as const) : [r.type]) {
      const group = type === 'c' ? 'char' : 'block';
      if (r.major === -1 && r.minor !== -1) continue; // "*:n": systemd cannot say it
      const node = r.major === -1 ? `${group}-*` : r.minor === -1 ? `${group}-${r.major}` : `/dev/${group}/${r.major}:${r.minor}`;
      allow.push([node, r.access]);
    }
  }
  return [
    { name: 'DevicePolicy', type: 's', value: 'strict' },
    { name: 'DeviceAllow', type: 'a(ss)', value: allow },
  ];
}

/**
 * The `org.systemd.property.NAME` annotations: NAME=VALUE on the unit, the
 * value in GVariant text (runc's form; the basic types: `uint64 7`,
 * `int32 -1`, `true`, `'text'`, `['a', 'b']`, a plain number is int32, a
 * plain decimal a double). A `…Sec` property (a lowercase letter before
 * Sec) becomes `…USec` in microseconds, as systemd's D-Bus API names it.
 */
export function annotationProperties(annotations: Record<string, string>): SystemdProperty[] {
  const out: SystemdProperty[] = [];
  for (const [key, text] of Object.entries(annotations)) {
    if (!key.startsWith('org.systemd.property.')) continue;
    let name = key.slice('org.systemd.property.'.length);
    const field = `annotations["${key}"]`;
    if (!/^[A-Z][A-Za-z0-9]*$/.test(name)) throw new ConfigError(field, `${JSON.stringify(name)} is not a systemd property name`);
    let prop = parseGVariant(name, text.trim(), field);
    const sec = /^(.*[a-z])Sec$/.exec(name);
    if (sec) {
      name = `${sec[1]}USec`;
      prop = toUSec(name, prop, field);
    }
    out.push(prop);
  }
  return out;
}

function toUSec(name: string, p: SystemdProperty, field: string): SystemdProperty {
  const v = p.value;
  if (typeof v === 'bigint') return t(name, v * 1_000_000n);
  if (typeof v === 'number') {
    if (v < 0) throw new ConfigError(field, 'a time in seconds cannot be negative');
    return t(name, BigInt(Math.round(v * 1_000_000)));
  }
  throw new ConfigError(field, 'a ...Sec property takes a number of seconds');
}

function parseGVariant(name: string, text: string, field: string): SystemdProperty {
  const typed = /^(uint64|int64|uint32|int32|double|byte|uint16|int16)\s+(\S+)$/.exec(text);
  if (typed) {
    const [, type, n] = typed as unknown as [string, string, string];
    if (type === 'double') return { name, type: 'd', value: Number(n) };
    if (!/^-?\d+$/.test(n)) throw new ConfigError(field, `${JSON.stringify(n)} is not a ${type}`);
    if (type === 'uint64') return { name, type: 't', value: BigInt(n) };
    if (type === 'int64') return { name, type: 'x', value: BigInt(n) };
    if (type === 'int32' || type === 'int16') return { name, type: 'i', value: Number(n) };
    return { name, type: 'u', value: Number(n) };
  }
  if (text === 'true' || text === 'false') return { name, type: 'b', value: text === 'true' };
  if (/^-?\d+$/.test(text)) return { name, type: 'i', value: Number(text) };
  if (/^-?\d*\.\d+$/.test(text)) return { name, type: 'd', value: Number(text) };
  const str = /^'((?:[^'\\]|\\.)*)'$|^"((?:[^"\\]|\\.)*)"$/.exec(text);
  if (str) return { name, type: 's', value: (str[1] ?? str[2] ?? '').replace(/\\(.)/g, '$1') };
  const arr = /^\[(.*)\]$/.exec(text);
  if (arr) {
    const items = arr[1]!.trim() ? arr[1]!.split(',').map((s) => parseGVariant(name, s.trim(), field)) : [];
    if (items.every((i) => i.type === 's')) return { name, type: 'as', value: items.map((i) => i.value as string) };
    if (items.every((i) => i.type === 'u' || i.type === 'i')) return { name, type: 'au', value: items.map((i) => i.value as number) };
  }
  throw new ConfigError(
    field,
    `${JSON.stringify(text)} is not a value tsrun reads (GVariant text of a basic type: uint64 7, true, 'text', ['a'])`,
  );
}
