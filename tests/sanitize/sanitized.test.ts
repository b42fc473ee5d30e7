/**
 * The sanitized build (npm run build:sanitize → build-san/: the front, the
 * host library, the addon and the init it clones, all with AddressSanitizer
 * and UBSan) driven through the commands engines call: the front serving
 * state, list, ps, start, pause, resume, kill and delete itself, and create,
 * run and exec handed to the JavaScript CLI over the sanitized addon. Any
 * sanitizer report from any of those processes fails the test.
 *
 * How the runtime gets in: Node is not built with ASan, so the one shared
 * ASan runtime every target links (CMakeLists.txt) is LD_PRELOADed into
 * every process, leak checks off (Node's own allocations would drown ours).
 * The CLI runs on Node here (build-san/dist/engine, written below), not on
 * the compiled Bun CLI that a normal build uses: ASan cannot follow a child
 * cloned from Bun's JavaScript thread (its no-return CHECK fails).
 *
 * Reports go to files (log_path), read after every command, and stderr is
 * searched too. The init keeps the runtime's log path after pivot_root,
 * where it names a file inside the container (san.1, pid 1 of its pid
 * namespace): the bundles carry that directory, writable, and it is read as
 * well. (Checked by hand with an out-of-bounds read planted in the init's
 * cwd step: the report arrived in <rootfs>/<logs>/san.1 and run failed.)
 *
 * Run by scripts/fuzz.mjs after the fuzzers (npm test -- fuzz-c); skipped
 * without root or without build-san/.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IS_ROOT, ROOT, makeBundle, tempRoot, uniqueId, type Bundle, type RunResult } from '../helpers/bundle.js';
import { waitForSync } from '../helpers/wait.js';

const SAN = path.join(ROOT, 'build-san');
const FRONT = path.join(SAN, 'build', 'tsrun');
const ADDON = path.join(SAN, 'Release', 'tsrun.node');
const RUNTIME_FILE = path.join(SAN, 'asan-runtime.txt');
const built = [FRONT, ADDON, RUNTIME_FILE, path.join(ROOT, 'dist', 'tsrun.mjs')].every((f) => fs.existsSync(f));
const sanTest = IS_ROOT && built ? test.serial : test.skip;
if (!built) console.log('# sanitized tests skipped: no build-san/ (npm run build:sanitize, needs clang)');

/** Where every sanitized process writes its reports: <LOGS>/san.<pid>. */
const LOGS = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-san-'));
/** Exit stats of the first test, apart: they are not reports. */
const STATS = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-san-stats-'));
const bundles: Bundle[] = [];

const SIGNS = /AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|ERROR: Can't open file/;

/** The sanitizers' settings. log_path is a common flag: UBSAN_OPTIONS must name the same, or its wins. */
function env(logs = LOGS, asanExtra = ''): NodeJS.ProcessEnv {
  const common = `log_path=${logs}/san:print_stacktrace=1`;
  return {
    ...process.env,
    LD_PRELOAD: fs.readFileSync(RUNTIME_FILE, 'utf8').trim(),
    // abort_on_error=0 + exitcode: a report ends the process with status 86,
    // not a core dump; UBSan's findings abort too (-fno-sanitize-recover)
    ASAN_OPTIONS: `${common}:detect_leaks=0:exitcode=86:abort_on_error=0${asanExtra}`,
    UBSAN_OPTIONS: `${common}:halt_on_error=1`,
    TSRUN_ADDON: ADDON,
  };
}

/** Every report written so far, on the host and inside each bundle's rootfs. */
function reports(): string {
  const dirs = [LOGS, ...bundles.map((b) => path.join(b.rootfs, LOGS))];
  let all = '';
  for (const d of dirs)
    for (const f of fs.existsSync(d) ? fs.readdirSync(d) : []) all += `--- ${path.join(d, f)}\n${fs.readFileSync(path.join(d, f), 'utf8')}`;
  return all;
}

/** A bundle whose rootfs also holds the log directory, for the init's reports after pivot_root. */
function bundle(args: string[]): Bundle {
  const b = makeBundle((s) => {
    s.process!.args = args;
    // writable, or the init's report fails to open ("Can't open file", EROFS)
    s.root!.readonly = false;
  });
  fs.mkdirSync(path.join(b.rootfs, LOGS), { recursive: true, mode: 0o777 });
  bundles.push(b);
  return b;
}

/** The sanitized front, as runtime() runs one (stdio through files); throws on any sanitizer report. */
function san(root: string, args: string[], environment = env()): RunResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-san-io-'));
  const out = fs.openSync(path.join(dir, 'out'), 'w+');
  const err = fs.openSync(path.join(dir, 'err'), 'w+');
  try {
    const r = spawnSync(FRONT, ['--root', root, ...args], { stdio: ['ignore', out, err], timeout: 60_000, env: environment });
    const result = {
      status: r.status,
      signal: r.signal,
      stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'),
      stderr: fs.readFileSync(path.join(dir, 'err'), 'utf8'),
    };
    // a report that could not reach its file goes to stderr
    const found = reports() + (SIGNS.test(result.stderr) ? `--- stderr\n${result.stderr}` : '');
    if (found) throw new Error(`sanitizer report after tsrun ${args.join(' ')}:\n${found}\nstderr: ${result.stderr}`);
    return result;
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function ok(root: string, args: string[]): string {
  const r = san(root, args);
  if (r.status !== 0) throw new Error(`tsrun ${args.join(' ')}: status ${r.status} ${r.signal ?? ''}\n${r.stderr}`);
  return r.stdout;
}

const status = (root: string, id: string) => (JSON.parse(ok(root, ['state', id])) as { status: string }).status;
function waitStopped(root: string, id: string): void {
  waitForSync(() => status(root, id) === 'stopped');
}

test.before(() => {
  if (!built) return;
  // the sanitized package root's CLI: Node with the bundled CLI (see above)
  fs.mkdirSync(path.join(SAN, 'dist'), { recursive: true });
  fs.writeFileSync(path.join(SAN, 'dist', 'engine'), `${process.execPath}\n${path.join(ROOT, 'dist', 'tsrun.mjs')}\n`);
});

test.after.always(() => {
  for (const b of bundles) b.cleanup();
  fs.rmSync(LOGS, { recursive: true, force: true });
  fs.rmSync(STATS, { recursive: true, force: true });
});

sanTest('the sanitized build is what runs: the front and the CLI under it carry ASan, and so does the init', (t) => {
  const root = tempRoot();
  // atexit=1: each process prints ASan's exit stats into its log file
  const stats = env(STATS, ':atexit=1');
  t.is(san(root, ['list'], stats).status, 0);
  t.is(san(root, ['--version'], stats).status, 0);
  const files = fs.readdirSync(STATS);
  t.is(files.length, 2, 'the front (list) and the Node CLI it hands --version to');
  for (const f of files) t.regex(fs.readFileSync(path.join(STATS, f), 'utf8'), /AddressSanitizer exit stats/);
  // the init is linked into the addon from an instrumented archive
  const nm = spawnSync('nm', ['-u', path.join(SAN, 'libtsrun_init.a')], { encoding: 'utf8' });
  t.regex(nm.stdout, /__asan_report_load/);
  t.regex(nm.stdout, /__ubsan_handle_/);
});

sanTest('create, start, state, list, ps, pause, resume, kill and delete under the sanitizers', (t) => {
  const root = tempRoot();
  const id = uniqueId('san');
  const b = bundle(['sleep', '60']);
  ok(root, ['create', '--bundle', b.dir, id]);
  t.is(status(root, id), 'created');
  t.regex(ok(root, ['list']), new RegExp(`^${id}\\s+\\d+\\s+created`, 'm'));
  ok(root, ['start', id]);
  t.is(status(root, id), 'running');
  t.is((JSON.parse(ok(root, ['ps', '--format', 'json', id])) as number[]).length, 1);
  ok(root, ['pause', id]);
  t.is(status(root, id), 'paused');
  ok(root, ['resume', id]);
  const r = san(root, ['delete', id]);
  t.is(r.status, 1);
  t.regex(r.stderr, /that is not stopped: running/);
  ok(root, ['kill', id, 'KILL']);
  waitStopped(root, id);
  t.is(status(root, id), 'stopped');
  t.deepEqual(JSON.parse(ok(root, ['list', '--format', 'json'])).length, 1);
  ok(root, ['delete', id]);
  t.is(san(root, ['state', id]).stderr, 'tsrun: state: container does not exist\n');
  t.false(fs.existsSync(path.join(root, id)));
});

sanTest('run and exec: the sanitized init sets up the container and execs the program', (t) => {
  const root = tempRoot();
  const b = bundle(['sh', '-c', 'echo hello from the init; exit 3']);
  const r = san(root, ['run', '--bundle', b.dir, uniqueId('san-run')]);
  t.is(r.status, 3, r.stderr);
  t.is(r.stdout, 'hello from the init\n');

  const id = uniqueId('san-exec');
  const box = bundle(['sleep', '60']);
  ok(root, ['run', '--detach', '--bundle', box.dir, id]);
  t.is(ok(root, ['exec', id, 'sh', '-c', 'echo tenant $((6 * 7))']), 'tenant 42\n');
  ok(root, ['kill', '--all', id, 'KILL']);
  waitStopped(root, id);
  ok(root, ['delete', id]);
  // delete --force of a container that never started
  const never = uniqueId('san-force');
  ok(root, ['create', '--bundle', box.dir, never]);
  ok(root, ['delete', '--force', never]);
  t.false(fs.existsSync(path.join(root, never)));
});

sanTest('bad input to the front: a hand-edited state.json, a bad id, a missing container', (t) => {
  const root = tempRoot();
  // numbers no pid holds and an annotation that is not a string: the front
  // prints valid JSON (UBSan would abort on the float conversions)
  fs.mkdirSync(path.join(root, 'edited'));
  const record = {
    ociVersion: '1.2.0',
    id: 'edited',
    pid: 1e300,
    pidStartTime: -1,
    bundle: '/b',
    rootfs: '/b/rootfs',
    created: '2026-01-01T00:00:00Z',
    owner: 'root',
    annotations: { n: 1, s: 'v' },
    cgroup: { version: 1e99, paths: { '': '/nonexistent' } },
  };
  fs.writeFileSync(path.join(root, 'edited', 'state.json'), JSON.stringify(record));
  const state = JSON.parse(ok(root, ['state', 'edited'])) as { status: string; pid: number; annotations: object };
  t.is(state.status, 'stopped');
  t.is(state.pid, 0);
  t.deepEqual(state.annotations, { s: 'v' });
  // a record cut short and one that is not JSON at all: list skips them, state says why
  fs.mkdirSync(path.join(root, 'cut'));
  fs.writeFileSync(path.join(root, 'cut', 'state.json'), JSON.stringify(record).slice(0, 50));
  t.is((JSON.parse(ok(root, ['list', '--format', 'json'])) as object[]).length, 1);
  const cut = san(root, ['state', 'cut']);
  t.is(cut.status, 1);
  t.regex(cut.stderr, /state\.json: /);
  const bad = san(root, ['state', `a${'é'.repeat(3000)}`]);
  t.is(bad.status, 1);
  t.regex(bad.stderr, /invalid container id/);
  t.is(san(root, ['kill', 'missing', 'KILL']).status, 1);
  t.is(san(root, ['delete', 'missing']).status, 1);
});
