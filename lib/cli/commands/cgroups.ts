/** pause, resume, ps, events, update: runc's flags and output shapes. */
import * as fs from 'node:fs';

import { parseBytes } from '../../cgroups/convert.js';
import type { LinuxResources } from '../../cgroups/resources.js';
import { builtin } from '../../builtin.js';
import { TsrunError } from '../../errors.js';
import { writeFd } from '../log.js';
import type { Command } from '../args.js';

const ID = { name: 'container-id', required: true } as const;

export const pauseCommand: Command = {
  name: 'pause',
  describe: 'suspend every process of the container (cgroup freezer)',
  positionals: [ID],
  async run(ctx, a) {
    await ctx.runtime().pause(a['container-id'] as string);
    return 0;
  },
};

export const resumeCommand: Command = {
  name: 'resume',
  describe: 'resume the processes of a paused container',
  positionals: [ID],
  async run(ctx, a) {
    await ctx.runtime().resume(a['container-id'] as string);
    return 0;
  },
};

export const psCommand: Command = {
  name: 'ps',
  describe: 'list the processes of a container (table: ps(1) rows; json: host pids)',
  positionals: [ID, { name: 'ps-args', rest: true }],
  // ps(1)'s own flags (-ef) come after the id
  flagsFirst: true,
  flags: [{ name: 'format', alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table', describe: 'table or json' }],
  async run(ctx, a) {
    const pids = await ctx.runtime().ps(a['container-id'] as string);
    if (a.format === 'json') {
      writeFd(1, `${JSON.stringify(pids)}\n`);
      return 0;
    }
    const extra = ((a['ps-args'] as string[] | undefined) ?? []).map(String);
    const r = builtin('node:child_process').spawnSync('ps', extra.length ? extra : ['-ef'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.status !== 0) throw new TsrunError('ESYSTEM', `ps: ${(r.stderr || r.error?.message || 'failed').trim()}`);
    const lines = r.stdout.split('\n');
    const header = lines[0] ?? '';
    const col = header.trim().split(/\s+/).indexOf('PID');
    if (col < 0) throw new TsrunError('EUSAGE', "couldn't find PID field in ps output");
    const want = new Set(pids);
    const rows = lines.slice(1).filter((l) => l.trim() && want.has(Number(l.trim().split(/\s+/)[col])));
    writeFd(1, [header, ...rows].join('\n') + '\n');
    return 0;
  },
};

/** "5s", "100ms", "1m" (Go durations as runc takes them) → milliseconds. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (!text || consumed !== text.length || total <= 0) throw new TsrunError('EUSAGE', `invalid duration ${JSON.stringify(text)}`);
  return total;
}

export const eventsCommand: Command = {
  name: 'events',
  describe: 'print stats every --interval and OOM events as they happen, as JSON lines',
  positionals: [ID],
  flags: [
    { name: 'interval', type: 'string', default: '5s', describe: 'stats collection interval' },
    { name: 'stats', type: 'boolean', default: false, describe: "display the container's stats then exit" },
  ],
  async run(ctx, a) {
    const id = a['container-id'] as string;
    const rt = ctx.runtime();
    const statsEvent = () => JSON.stringify({ type: 'stats', id, data: rt.stats(id) }) + '\n';
    if (a.stats) {
      writeFd(1, statsEvent());
      return 0;
    }
    const interval = parseDuration(String(a.interval));
    const first = rt.oomKills(id);
    if (first.stopped) throw new TsrunError('ESTATE', 'container not running');
    let ooms = first.count;
    let next = Date.now();
    // OOM kills are polled often (memory.events); stats go out every interval
    for (;;) {
      const now = Date.now();
      let seen;
      try {
        seen = rt.oomKills(id);
      } catch {
        return 0; // deleted meanwhile
      }
      if (seen.count > ooms) writeFd(1, JSON.stringify({ type: 'oom', id }) + '\n');
      ooms = seen.count;
      if (seen.stopped) return 0;
      if (now >= next) {
        try {
          writeFd(1, statsEvent());
        } catch {
          return 0;
        }
        next = now + interval;
      }
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, next - now))));
    }
  },
};

const num = (v: unknown, flag: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new TsrunError('EUSAGE', `invalid value for --${flag}: ${JSON.stringify(v)}`);
  return n;
};

const bytes = (v: unknown, flag: string): number => {
  try {
    return parseBytes(String(v));
  } catch {
    throw new TsrunError('EUSAGE', `invalid value for --${flag}: ${JSON.stringify(v)}`);
  }
};

/** runc's individual update flags → LinuxResources (only what was given). */
export function resourcesFromFlags(a: Record<string, unknown>): LinuxResources {
  const r: LinuxResources = {};
  const has = (k: string) => a[k] !== undefined && a[k] !== '';
  const memory: NonNullable<LinuxResources['memory']> = {};
  if (has('memory')) memory.limit = bytes(a.memory, 'memory');
  if (has('memory-reservation')) memory.reservation = bytes(a['memory-reservation'], 'memory-reservation');
  if (has('memory-swap')) memory.swap = bytes(a['memory-swap'], 'memory-swap');
  if (has('kernel-memory')) memory.kernel = bytes(a['kernel-memory'], 'kernel-memory');
  if (has('kernel-memory-tcp')) memory.kernelTCP = bytes(a['kernel-memory-tcp'], 'kernel-memory-tcp');
  if (Object.keys(memory).length) r.memory = memory;
  const cpu: NonNullable<LinuxResources['cpu']> = {};
  if (has('cpu-share')) cpu.shares = num(a['cpu-share'], 'cpu-share');
  if (has('cpu-quota')) cpu.quota = num(a['cpu-quota'], 'cpu-quota');
  if (has('cpu-period')) cpu.period = num(a['cpu-period'], 'cpu-period');
  if (has('cpu-rt-period')) cpu.realtimePeriod = num(a['cpu-rt-period'], 'cpu-rt-period');
  if (has('cpu-rt-runtime')) cpu.realtimeRuntime = num(a['cpu-rt-runtime'], 'cpu-rt-runtime');
  if (has('cpu-burst')) cpu.burst = num(a['cpu-burst'], 'cpu-burst');
  if (has('cpu-idle')) cpu.idle = num(a['cpu-idle'], 'cpu-idle');
  if (has('cpuset-cpus')) cpu.cpus = String(a['cpuset-cpus']);
  if (has('cpuset-mems')) cpu.mems = String(a['cpuset-mems']);
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (has('pids-limit')) r.pids = { limit: num(a['pids-limit'], 'pids-limit') };
  if (has('blkio-weight')) r.blockIO = { weight: num(a['blkio-weight'], 'blkio-weight') };
  return r;
}

const s = { type: 'string' as const };

export const updateCommand: Command = {
  name: 'update',
  describe: 'update the resource limits of a container',
  positionals: [ID],
  flags: [
    {
      name: 'resources',
      alias: 'r',
      type: 'string',
      describe: "LinuxResources JSON file, or '-' for stdin (other flags are then ignored)",
    },
    { name: 'blkio-weight', ...s, describe: 'per-cgroup block I/O weight, 10 to 1000' },
    { name: 'cpu-period', ...s, describe: 'CPU CFS period (µs)' },
    { name: 'cpu-quota', ...s, describe: 'CPU CFS quota (µs) per period' },
    { name: 'cpu-share', ...s, describe: 'CPU shares (relative weight)' },
    { name: 'cpu-rt-period', ...s, describe: 'CPU realtime period (µs)' },
    { name: 'cpu-rt-runtime', ...s, describe: 'CPU realtime runtime (µs) per period' },
    { name: 'cpu-burst', ...s, describe: 'CPU CFS burst (µs) a period may borrow from unused quota' },
    { name: 'cpu-idle', ...s, describe: '1: the cgroup is SCHED_IDLE; 0: as usual' },
    { name: 'cpuset-cpus', ...s, describe: 'CPUs to use' },
    { name: 'cpuset-mems', ...s, describe: 'memory nodes to use' },
    { name: 'memory', ...s, describe: 'memory limit (bytes, or 512m, 1g)' },
    { name: 'memory-reservation', ...s, describe: 'memory soft limit' },
    { name: 'memory-swap', ...s, describe: "memory + swap limit; '-1' for unlimited swap" },
    { name: 'kernel-memory', ...s, hidden: true },
    { name: 'kernel-memory-tcp', ...s, hidden: true },
    { name: 'pids-limit', ...s, describe: 'maximum number of pids' },
    { name: 'l3-cache-schema', ...s, describe: 'the L3 cache schema of the Intel RDT group, e.g. "L3:0=ff"' },
    { name: 'mem-bw-schema', ...s, describe: 'the memory bandwidth schema of the Intel RDT group, e.g. "MB:0=50"' },
  ],
  async run(ctx, a) {
    let r: LinuxResources;
    if (a.resources !== undefined) {
      const file = String(a.resources);
      let text: string;
      try {
        text = fs.readFileSync(file === '-' || file === '/dev/stdin' ? 0 : file, 'utf8');
      } catch (e) {
        throw new TsrunError('EUSAGE', `--resources: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      try {
        r = JSON.parse(text) as LinuxResources;
      } catch (e) {
        throw new TsrunError('EUSAGE', `--resources: invalid JSON: ${(e as Error).message}`);
      }
      if (r === null || typeof r !== 'object' || Array.isArray(r))
        throw new TsrunError('EUSAGE', '--resources: must be a JSON object (LinuxResources)');
    } else {
      r = resourcesFromFlags(a);
    }
    // as runc, with --resources too
    const rdt = { l3CacheSchema: (a['l3-cache-schema'] as string) || undefined, memBwSchema: (a['mem-bw-schema'] as string) || undefined };
    await ctx.runtime().update(a['container-id'] as string, r, rdt);
    return 0;
  },
};
