/**
 * linux.intelRdt (config-linux.md#intelrdt): where the host's resctrl
 * filesystem is and what it offers, the rules a config must meet on it, and
 * the groups a container gets — as data. native/host/resctrl.c makes,
 * joins and removes them; create, exec, update and delete call it.
 *
 * The group rules are the spec's: the CTRL_MON group is named by closID
 * ("/": the root, default group), else by the container's id; the schemata
 * written there are l3CacheSchema, memBwSchema, then each of schemata, one
 * line each; a closID with no schemata names a group someone configured,
 * which must exist; a closID group that exists is compared with what the
 * config asks, not written; enableMonitoring adds mon_groups/<id>. Only a
 * group the create made without a closID is removed at delete (with its
 * MON groups); else only the MON group goes.
 */
import { parseMountInfo } from '../cgroups/host.js';
import { ConfigError } from '../errors.js';

/** A container's groups as state.json records them (native/host/resctrl.c reads the same fields). */
export interface RdtGroup {
  /** The resctrl mount point. */
  root: string;
  /** The CTRL_MON group beneath it; '' is the root (default) group. */
  clos: string;
  /** The MON group under clos's mon_groups (absent: no monitoring). */
  mon?: string;
  /** delete removes clos: the create made it, and no closID named it. */
  owned?: boolean;
}

/** What the host's resctrl offers. */
export interface Resctrl {
  root: string;
  /** info/L3: cache allocation (l3CacheSchema). */
  cat: boolean;
  /** info/MB: memory bandwidth allocation (memBwSchema). */
  mba: boolean;
  /** info/L3_MON: monitoring groups (enableMonitoring). */
  monitoring: boolean;
}

/** config-linux.md's intelRdt. */
export interface IntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  schemata?: string[];
  enableMonitoring?: boolean;
}

/** What create does: make the group (write the schemata where it may), then join the init to it. */
export interface RdtPlan {
  group: RdtGroup;
  /** The schemata file's text, one line per schema (null: none to write). */
  schemata: string | null;
  /** A closID with no schemata: the group must already be there. */
  mustExist: boolean;
  /** A closID names the group: its schemata are written only if the create makes it (an existing one was compared). */
  named: boolean;
}

/** The directories of resctrl's root that are not groups. */
const NOT_GROUPS = new Set(['info', 'mon_groups', 'mon_data']);

/**
 * The first resctrl mount of a mountinfo text, as runc finds it, and the
 * features its info directory lists (null: resctrl is not mounted).
 */
export function findResctrl(mountinfo: string, kind: (p: string) => string | null): Resctrl | null {
  const root = parseMountInfo(mountinfo).find((m) => m.fstype === 'resctrl' && m.mountPoint.startsWith('/'))?.mountPoint;
  if (!root) return null;
  const has = (d: string) => kind(`${root}/info/${d}`) === 'dir';
  return { root, cat: has('L3'), mba: has('MB'), monitoring: has('L3_MON') };
}

/** The schemata lines a config asks for, in the spec's order. */
export function schemataLines(rdt: IntelRdt): string[] {
  return [rdt.l3CacheSchema, rdt.memBwSchema, ...(rdt.schemata ?? [])].filter((s): s is string => !!s);
}

const at = (field: string, what: string): never => {
  throw new ConfigError(field, what);
};

/**
 * linux.intelRdt's shape and its fit with the host's resctrl (null: none is
 * mounted), with runc's words where runc has them. `existing`: a closID
 * group's current schemata file (null: there is no such group yet).
 */
export function validateIntelRdt(rdt: unknown, resctrl: Resctrl | null, existing: (clos: string) => string | null): void {
  const f = 'linux.intelRdt';
  if (typeof rdt !== 'object' || rdt === null || Array.isArray(rdt)) return at(f, 'must be an object');
  const r = rdt as Record<string, unknown>;
  for (const k of ['closID', 'l3CacheSchema', 'memBwSchema'])
    if (r[k] !== undefined && typeof r[k] !== 'string') at(`${f}.${k}`, 'must be a string');
  if (r.enableMonitoring !== undefined && typeof r.enableMonitoring !== 'boolean') at(`${f}.enableMonitoring`, 'must be a boolean');
  if (r.schemata !== undefined && (!Array.isArray(r.schemata) || r.schemata.some((s) => typeof s !== 'string')))
    at(`${f}.schemata`, 'must be an array of strings');
  const c = r as IntelRdt;
  if (c.l3CacheSchema?.includes('\n')) at(`${f}.l3CacheSchema`, 'must not contain newlines');
  if (c.memBwSchema !== undefined && c.memBwSchema !== '') {
    if (c.memBwSchema.includes('\n')) at(`${f}.memBwSchema`, 'must not contain newlines');
    if (!c.memBwSchema.startsWith('MB:')) at(`${f}.memBwSchema`, `${JSON.stringify(c.memBwSchema)} must start with "MB:"`);
  }
  (c.schemata ?? []).forEach((s, i) => {
    if (s.includes('\n')) at(`${f}.schemata[${i}]`, 'must not contain newlines');
  });
  const clos = c.closID ?? '';
  if (clos === '.' || clos === '..' || (clos.length > 1 && clos.includes('/')) || [...clos].some((ch) => ch < ' ' || ch === '\x7f'))
    at(`${f}.closID`, `invalid intelRdt.ClosID ${JSON.stringify(clos)}`);
  if (NOT_GROUPS.has(clos)) at(`${f}.closID`, `invalid intelRdt.ClosID ${JSON.stringify(clos)}: resctrl's ${clos} is not a group`);

  if (!resctrl) return at(f, 'intelRdt is specified in config, but Intel RDT is not enabled (no resctrl filesystem is mounted)');
  if (c.l3CacheSchema && !resctrl.cat)
    at(`${f}.l3CacheSchema`, 'intelRdt.l3CacheSchema is specified in config, but Intel RDT/CAT is not enabled');
  if (c.memBwSchema && !resctrl.mba)
    at(`${f}.memBwSchema`, 'intelRdt.memBwSchema is specified in config, but Intel RDT/MBA is not enabled');
  if (c.enableMonitoring && !resctrl.monitoring)
    at(`${f}.enableMonitoring`, 'intelRdt.enableMonitoring is specified in config, but Intel RDT monitoring is not enabled');

  // a named group that is there is somebody's: what the config asks must be what it has
  const lines = schemataLines(c);
  if (!clos || !lines.length) return;
  const current = existing(clos === '/' ? '' : clos);
  if (current === null) return;
  for (const line of lines) {
    const differs = schemaDiffers(line, current);
    if (differs !== null)
      at(f, `${JSON.stringify(line)} does not match the schemata of the existing group ${JSON.stringify(clos)} (${differs})`);
  }
}

/** A schemata line's resource and its values by domain id ("L3:0=ff;1=f" → L3, {0: "ff", 1: "f"}). */
function parseLine(line: string): { name: string; domains: Map<string, string> } | null {
  const colon = line.indexOf(':');
  if (colon < 0) return null;
  const domains = new Map<string, string>();
  for (const part of line.slice(colon + 1).split(';')) {
    const [dom, value] = part.split('=').map((s) => s.trim());
    if (dom === undefined || value === undefined || dom === '') return null;
    domains.set(String(Number(dom)), value);
  }
  return { name: line.slice(0, colon).trim(), domains };
}

/**
 * Why a wanted line differs from a group's schemata file (null: it does
 * not). Values compare as numbers, as the kernel reads them: hexadecimal
 * bitmasks, decimal for the bandwidth resources (MB, SMBA).
 */
export function schemaDiffers(line: string, file: string): string | null {
  const want = parseLine(line);
  if (!want) return 'not a schema line';
  const have = file
    .split('\n')
    .map((l) => parseLine(l.trim()))
    .find((p) => p?.name === want.name);
  if (!have) return `the group has no ${want.name} resource`;
  const radix = want.name === 'MB' || want.name === 'SMBA' ? 10 : 16;
  for (const [dom, value] of want.domains) {
    const cur = have.domains.get(dom);
    if (cur === undefined) return `the group has no ${want.name} domain ${dom}`;
    if (parseInt(cur, radix) !== parseInt(value, radix)) return `${want.name} domain ${dom} is ${cur}`;
  }
  return null;
}

/** The groups and writes of a container with this intelRdt (validated) on this resctrl. */
export function planRdt(rdt: IntelRdt, id: string, resctrl: Resctrl): RdtPlan {
  const named = !!rdt.closID;
  const lines = schemataLines(rdt);
  const group: RdtGroup = { root: resctrl.root, clos: !named ? id : rdt.closID === '/' ? '' : rdt.closID! };
  if (rdt.enableMonitoring) group.mon = id;
  return {
    group,
    schemata: lines.length ? lines.map((l) => `${l}\n`).join('') : null,
    mustExist: named && group.clos !== '' && !lines.length,
    named,
  };
}
