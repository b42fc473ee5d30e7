/**
 * The stdio relay of a foreground process without a terminal
 * (native/binding/relay.cc) over plain pipes: one set stands for the
 * process's stdio, another for our own fds 0-2. No root, no container.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';

import { loadBinding } from '../../lib/native/binding.js';
import { waitFor } from '../helpers/wait.js';

const native = loadBinding();

/** Everything read from fd until EOF (a net.Socket: no threadpool thread held); `sofar` what has come. */
function reader(fd: number): { all: Promise<Buffer>; sofar(): string } {
  const chunks: Buffer[] = [];
  const all = new Promise<Buffer>((resolve, reject) => {
    const s = new net.Socket({ fd, readable: true, writable: false });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
  return { all, sofar: () => Buffer.concat(chunks).toString() };
}

const readAll = (fd: number): Promise<Buffer> => reader(fd).all;

/** Writes `data` to fd and closes it. */
function writeAll(fd: number, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = new net.Socket({ fd, readable: false, writable: true });
    s.on('error', reject);
    s.end(data, () => resolve());
  });
}

/** A relay between "the process" (proc: its ends of its pipes) and "us" (user: the far ends of our fds 0-2). */
function relayed(opts: { closed?: [boolean, boolean, boolean]; nonBlockingStdout?: boolean } = {}) {
  const [stdin, stdout, stderr] = [native.pipe(), native.pipe(), native.pipe()];
  const [ourIn, ourOut, ourErr] = [native.pipe(), native.pipe(), native.pipe()];
  const ours: [number, number, number] = [ourIn[0], ourOut[1], ourErr[1]];
  if (opts.nonBlockingStdout) {
    // a file description of its own, non-blocking, as Node and Bun may leave our fd 1
    ours[1] = fs.openSync(`/proc/self/fd/${ourOut[1]}`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.closeSync(ourOut[1]);
  }
  const relay = native.relayPipes(
    [stdin[1], stdout[0], stderr[0]],
    ours.map((fd, i) => (opts.closed?.[i] ? -1 : fd)) as [number, number, number],
  );
  return {
    relay,
    proc: { stdin: stdin[0], stdout: stdout[1], stderr: stderr[1] },
    user: { stdin: ourIn[1], stdout: ourOut[0], stderr: ourErr[0] },
    ours,
    /** Our fds 0-2 are ours to close, never the relay's. */
    closeOurs: () => ours.forEach((fd) => fs.closeSync(fd)),
  };
}

/** The relay's pipe end is closed: a write to the process's end fails with EPIPE. */
function readerGone(fd: number): boolean {
  try {
    fs.writeSync(fd, 'x');
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPIPE';
  }
}

test('stdin reaches the process (EOF closes it); stdout and stderr arrive complete and apart', async (t) => {
  const h = relayed();
  const big = Buffer.alloc(300 * 1024, 'o');
  const out = readAll(h.user.stdout);
  const err = readAll(h.user.stderr);
  const [input] = await Promise.all([
    readAll(h.proc.stdin),
    writeAll(h.user.stdin, 'typed\n'),
    writeAll(h.proc.stdout, big),
    writeAll(h.proc.stderr, 'to stderr\n'),
  ]);
  await h.relay.done;
  h.closeOurs();
  t.is(input.toString(), 'typed\n');
  t.true((await out).equals(big));
  t.is((await err).toString(), 'to stderr\n');
});

test('a process that closed its stdin: ours is not read (the caller keeps its input)', async (t) => {
  const h = relayed();
  fs.closeSync(h.proc.stdin);
  fs.writeSync(h.user.stdin, 'for the shell\n');
  fs.closeSync(h.proc.stdout);
  fs.closeSync(h.proc.stderr);
  await h.relay.done; // without endInput: the input flow ended when its reader went
  fs.closeSync(h.user.stdin);
  t.is(fs.readFileSync(h.ours[0], 'utf8'), 'for the shell\n');
  h.closeOurs();
});

test('endInput: the process reads EOF and nothing more of ours is read', async (t) => {
  const h = relayed();
  const input = reader(h.proc.stdin);
  fs.writeSync(h.user.stdin, 'before\n');
  t.true(await waitFor(() => input.sofar() === 'before\n', 10_000, 10));
  h.relay.endInput();
  t.is((await input.all).toString(), 'before\n');
  fs.writeSync(h.user.stdin, 'after\n');
  fs.closeSync(h.proc.stdout);
  fs.closeSync(h.proc.stderr);
  await h.relay.done;
  fs.closeSync(h.user.stdin);
  t.is(fs.readFileSync(h.ours[0], 'utf8'), 'after\n');
  h.closeOurs();
});

test('stop ends the relay while the process still holds its pipes; they are closed', async (t) => {
  const h = relayed();
  h.relay.stop();
  await h.relay.done;
  t.true(readerGone(h.proc.stdout));
  t.true(readerGone(h.proc.stderr));
  t.is(fs.readFileSync(h.proc.stdin).length, 0, 'stdin: EOF');
  h.closeOurs();
  for (const fd of Object.values(h.proc)) fs.closeSync(fd);
  for (const fd of Object.values(h.user)) fs.closeSync(fd);
});

test('our stdout without a reader: the process gets EPIPE on its stdout, as it would on ours', async (t) => {
  const h = relayed();
  fs.closeSync(h.user.stdout);
  fs.closeSync(h.user.stdin); // our EOF
  t.true(await waitFor(() => readerGone(h.proc.stdout), 5000, 10));
  fs.closeSync(h.proc.stdout);
  fs.closeSync(h.proc.stderr);
  await h.relay.done;
  h.closeOurs();
  fs.closeSync(h.user.stderr);
  fs.closeSync(h.proc.stdin);
});

test('closed fds of ours (-1): no stdin is EOF at once; output to a closed fd is dropped, not left to fill the pipe', async (t) => {
  const h = relayed({ closed: [true, true, false] });
  t.is((await readAll(h.proc.stdin)).length, 0);
  const err = readAll(h.user.stderr);
  await Promise.all([writeAll(h.proc.stdout, Buffer.alloc(512 * 1024)), writeAll(h.proc.stderr, 'still here\n')]);
  await h.relay.done;
  h.closeOurs();
  t.is((await err).toString(), 'still here\n');
  fs.closeSync(h.user.stdin);
  fs.closeSync(h.user.stdout);
});

test('a non-blocking stdout of ours (EAGAIN when full) still gets every byte, in order', async (t) => {
  const h = relayed({ nonBlockingStdout: true });
  fs.closeSync(h.user.stdin);
  fs.closeSync(h.proc.stderr);
  const data = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `${i}\n`).join(''));
  const write = writeAll(h.proc.stdout, data);
  // nobody reads for a while: our pipe fills and the relay meets EAGAIN
  await new Promise((r) => setTimeout(r, 200));
  const out = readAll(h.user.stdout);
  await write;
  await h.relay.done;
  h.closeOurs();
  t.true((await out).equals(data));
  fs.closeSync(h.user.stderr);
  fs.closeSync(h.proc.stdin);
});
