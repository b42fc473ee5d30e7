/** config.md#extensibility, #annotations, #process (optional at create), and
 * features.md (checked only when the runtime has a `features` command). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { proc } from '../harness/config.js';
import type { CaseContext } from '../harness/context.js';
import { isSemver, compareVersions } from '../harness/version.js';
import { check, eq, fail, skip, type Case } from '../harness/types.js';
import { cli, configMd, def, featuresLinuxMd, featuresMd } from './util.js';

function features(ctx: CaseContext): NonNullable<CaseContext['features']> {
  if (ctx.features) return ctx.features;
  const raw = ctx.env.featuresRaw;
  if (raw && raw.code === 0) fail(`\`features\` output is not JSON: ${raw.stdout.slice(0, 200)}`);
  skip(`runtime has no \`features\` command (exit ${raw?.code ?? '?'}: ${(raw?.stderr ?? '').trim().split('\n')[0] ?? ''})`);
}

export const configCases: Case[] = [
  def(
    'config::unknown-property',
    configMd('#extensibility', 'Runtimes MUST ignore unknown properties and not generate errors (top level)'),
    async (ctx) => {
      const b = ctx.bundle();
      b.config.spectestUnknown = { nested: [1, 2, 3] };
      const { report } = await ctx.run(b, { allowFailure: true });
      check(report.has('pid'), 'the container did not run with an unknown top-level property');
    },
  ),

  def(
    'config::unknown-nested-property',
    configMd('#extensibility', 'Runtimes MUST ignore unknown properties and not generate errors (inside process, linux, mounts)'),
    async (ctx) => {
      const b = ctx.bundle();
      proc(b.config).spectestUnknown = 'x';
      b.config.linux!.spectestUnknown = true;
      const first = b.config.mounts?.[0];
      if (first) first.spectestUnknown = 7;
      const { report } = await ctx.run(b, { allowFailure: true });
      check(report.has('pid'), 'the container did not run with unknown nested properties');
    },
  ),

  def(
    'config::annotations-accepted',
    configMd('#annotations', 'Runtimes MUST handle unknown annotation keys like any other unknown property'),
    async (ctx) => {
      const b = ctx.bundle();
      b.config.annotations = { 'com.example.spec-tests/unknown': 'v', 'org.opencontainers.image.os': 'linux', x: '' };
      const { report } = await ctx.run(b, { allowFailure: true });
      check(report.has('pid'), 'the container did not run with arbitrary annotations');
    },
  ),

  def(
    'config::process-optional-at-create',
    configMd('#process', 'process is OPTIONAL (REQUIRED only when start is called): create without it MUST create the container'),
    async (ctx) => {
      const b = ctx.bundle();
      delete b.config.process;
      const c = await ctx.tryCreate(b);
      check(c.created, `create without a process object failed: ${c.createResult.stderr.trim()}`);
    },
  ),

  def('features::document', featuresMd('#specification-version', 'ociVersionMin and ociVersionMax (string, REQUIRED)'), async (ctx) => {
    const f = features(ctx);
    check(typeof f.ociVersionMin === 'string' && isSemver(f.ociVersionMin), `ociVersionMin ${JSON.stringify(f.ociVersionMin)}`);
    check(typeof f.ociVersionMax === 'string' && isSemver(f.ociVersionMax), `ociVersionMax ${JSON.stringify(f.ociVersionMax)}`);
  }),

  def('features::version-order', featuresMd('#specification-version', 'ociVersionMax MUST NOT be less than ociVersionMin'), async (ctx) => {
    const f = features(ctx);
    check(
      compareVersions(String(f.ociVersionMax), String(f.ociVersionMin)) >= 0,
      `ociVersionMax ${f.ociVersionMax} < ociVersionMin ${f.ociVersionMin}`,
    );
  }),

  def(
    'features::accepts-min',
    featuresMd('#specification-version', 'The runtime MUST accept ociVersionMin as the ociVersion of config.json'),
    async (ctx) => {
      const f = features(ctx);
      const b = ctx.bundle();
      b.config.ociVersion = String(f.ociVersionMin);
      const { report, exec } = await ctx.run(b, { allowFailure: true });
      check(report.has('pid'), `ociVersion ${b.config.ociVersion} was refused: ${exec.stderr.trim()}`);
    },
  ),

  def(
    'features::accepts-max',
    featuresMd('#specification-version', 'The runtime MUST accept ociVersionMax as the ociVersion of config.json'),
    async (ctx) => {
      const f = features(ctx);
      const b = ctx.bundle();
      b.config.ociVersion = String(f.ociVersionMax);
      const { report, exec } = await ctx.run(b, { allowFailure: true });
      check(report.has('pid'), `ociVersion ${b.config.ociVersion} was refused: ${exec.stderr.trim()}`);
    },
  ),

  def(
    'features::hooks-supported',
    featuresMd('#hooks', 'The runtime MUST support the elements of hooks as the hooks property of config.json'),
    async (ctx) => {
      const f = features(ctx);
      const listed = f.hooks ?? [];
      if (listed.length === 0) skip('features lists no hooks');
      const b = ctx.bundle(['exit', '0']);
      const logDir = ctx.shareDir(b, '/hooklog');
      for (const name of listed) {
        const inContainer = name === 'startContainer';
        (b.config.hooks ??= {})[name as 'prestart'] = [
          {
            path: inContainer ? '/bin/tsrun-probe' : ctx.env.hostProbe,
            args: ['tsrun-probe', 'hook', name, inContainer ? '/hooklog/hooks.log' : `${logDir}/hooks.log`],
          },
        ];
      }
      const c = await ctx.create(b);
      await c.startOk();
      await c.waitStopped();
      await c.delete();
      const text = fs.existsSync(`${logDir}/hooks.log`) ? fs.readFileSync(`${logDir}/hooks.log`, 'utf8') : '';
      const seen = new Set(
        text
          .split('\n')
          .map((l) => /^name=([^\t]*)/.exec(l)?.[1])
          .filter(Boolean),
      );
      const missing = listed.filter((h) => !seen.has(h));
      check(missing.length === 0, `hooks listed in features but not invoked: ${missing.join(', ')}`);
    },
  ),

  def(
    'features::memory-policy-modes',
    featuresLinuxMd('#memorypolicy', 'The runtime MUST recognize the elements of memoryPolicy.modes as the mode of linux.memoryPolicy'),
    async (ctx) => {
      const modes = (features(ctx).linux?.memoryPolicy as { modes?: string[] } | undefined)?.modes ?? [];
      if (modes.length === 0) skip('features lists no memoryPolicy modes');
      if (!fs.existsSync('/proc/self/numa_maps')) skip('a kernel without NUMA: no /proc/self/numa_maps to read a policy from');
      const node = /^\d+/.exec(fs.readFileSync('/sys/devices/system/node/online', 'utf8'))![0];
      const [major = 0, minor = 0] = os
        .release()
        .split('.')
        .map((n) => parseInt(n, 10));
      const kernel = major * 1000 + minor;
      // what mpol_to_str (mm/mempolicy.c) prints for each mode; since: the kernel that added it
      // ("may not be supported by the host": a newer one is skipped here, not failed)
      const modeWords: Record<string, [string, number]> = {
        MPOL_DEFAULT: ['default', 0],
        MPOL_PREFERRED: ['prefer', 0],
        MPOL_BIND: ['bind', 0],
        MPOL_INTERLEAVE: ['interleave', 0],
        MPOL_LOCAL: ['local', 0],
        MPOL_PREFERRED_MANY: ['prefer (many)', 5015],
        MPOL_WEIGHTED_INTERLEAVE: ['weighted interleave', 6009],
      };
      const wrong: string[] = [];
      for (const mode of modes) {
        const known = modeWords[mode];
        if (!known) {
          wrong.push(`${mode} is not a mode of config-linux.md`);
          continue;
        }
        if (kernel < known[1]) continue;
        const b = ctx.bundle(['cat', '/proc/self/numa_maps']);
        const withNodes = mode !== 'MPOL_DEFAULT' && mode !== 'MPOL_LOCAL';
        b.config.linux!.memoryPolicy = withNodes ? { mode, nodes: node } : { mode };
        const { exec } = await ctx.run(b, { allowFailure: true });
        // the task's policy, shown for every mapping without one of its own: "bind:0 file=…"
        const want = `${known[0]}${withNodes ? `:${node}` : ''} `;
        const first = /^[0-9a-f]+ (.*)$/m.exec(exec.stdout)?.[1] ?? '';
        if (exec.code !== 0) wrong.push(`${mode}: exit ${exec.code}: ${exec.stderr.trim().split('\n')[0]}`);
        else if (!first.startsWith(want)) wrong.push(`${mode}: numa_maps says "${first.split(' file=')[0]}", not "${want.trim()}"`);
      }
      check(wrong.length === 0, `listed memoryPolicy modes not applied: ${wrong.join('; ')}`);
    },
  ),

  def(
    'features::stdout-only',
    cli('features', 'features prints JSON on stdout and nothing on stderr (CRI-O reads combined output)'),
    async (ctx) => {
      features(ctx);
      eq(ctx.env.featuresRaw?.stderr ?? '', '', '`features` stderr');
    },
  ),
];
