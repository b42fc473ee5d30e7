/**
 * `run` and `exec` without --detach: we are the process's parent (the init,
 * or a tenant). Forward signals, relay the pty when there is one and the
 * stdio pipes when there is none, wait, and return the exit status the way
 * runc does (the code, or 128+signal).
 */
import * as fs from 'node:fs';

import { tryClose } from './fds.js';
import type { NativeBinding } from '../native/binding.js';

const FORWARDED: NodeJS.Signals[] = [
  'SIGHUP',
  'SIGINT',
  'SIGQUIT',
  'SIGTERM',
  'SIGUSR1',
  'SIGUSR2',
  'SIGPIPE',
  'SIGALRM',
  'SIGCONT',
  'SIGWINCH',
];

/** A foreground run or exec without a console socket relays the pty to our own terminal. */
export function relaysTerminal(detach: boolean, consoleSocket: string | undefined): boolean {
  return !detach && consoleSocket === undefined;
}

/** Where forwarded signals go; exec fills it in once the process exists. */
export interface SignalTarget {
  pid: number;
  ptyMaster: number | null;
}

/**
 * Forwards our signals to the target until the returned function is called.
 * `run` installs it right after create, before start; `exec` before it
 * launches, with the target filled in afterwards: a signal that arrives
 * meanwhile must not kill us and orphan the process. (Node runs the handler
 * only once the synchronous launch has returned, so the pid is known then;
 * until it is, signals are held and sent on.)
 */
export function forwardSignals(native: NativeBinding, target: SignalTarget): { stop(): void; flush(): void } {
  const handlers = new Map<NodeJS.Signals, () => void>();
  const held: NodeJS.Signals[] = [];
  const send = (sig: NodeJS.Signals) => {
    // the pty follows our terminal's size; the container gets SIGWINCH from
    // its pty then, and from us as well for programs without a terminal
    if (sig === 'SIGWINCH' && target.ptyMaster !== null) native.copyWinsize(0, target.ptyMaster);
    try {
      process.kill(target.pid, sig);
    } catch {
      /* gone */
    }
  };
  for (const sig of FORWARDED) {
    const h = () => (target.pid > 0 ? send(sig) : held.push(sig));
    handlers.set(sig, h);
    process.on(sig, h);
  }
  return {
    stop() {
      for (const [sig, h] of handlers) process.off(sig, h);
    },
    /** Sends what arrived before the target was known. */
    flush() {
      for (const sig of held.splice(0)) send(sig);
    },
  };
}

/** Our ends of the pipes a foreground process without a terminal has for its fds 0-2. */
export interface StdioPipes {
  /** The write end of its stdin. */
  stdin: number;
  /** The read ends of its stdout and stderr. */
  stdout: number;
  stderr: number;
}

/** How long a relay waits, once the process has exited, for the last of its output. */
const DRAIN_MS = 2000;

/**
 * Which of our fds 0-2 are open (-1: closed), looked at before any pipe is
 * made: a pipe could otherwise take a closed one's number and be mistaken
 * for ours.
 */
export function ownStdio(): [number, number, number] {
  return [0, 1, 2].map((fd) => {
    try {
      fs.fstatSync(fd);
      return fd;
    } catch {
      return -1;
    }
  }) as [number, number, number];
}

/**
 * Starts copying between the pipes and our fds `ours` (ownStdio()), or, when
 * the process got a pty instead (the init put it on its fds 0-2: `pipes` are
 * unused), closes them. runc does the same for a foreground process without a
 * terminal: it never holds our fds, which may be the caller's terminal (a
 * process could TIOCSTI keystrokes into the caller's shell or read the user's
 * next ones) or a file the caller redirected to (to read back, seek or
 * truncate). The relay starts as soon as the process has the pipes: a
 * process (or a poststart hook waiting on it) must not stall on a full pipe
 * while `run` starts it.
 */
export function relayPipes(
  native: NativeBinding,
  pipes: StdioPipes,
  ours: [number, number, number],
  ptyMaster: number | null,
): Relay | null {
  if (ptyMaster !== null) {
    for (const fd of [pipes.stdin, pipes.stdout, pipes.stderr]) tryClose(fd);
    return null;
  }
  const r = native.relayPipes([pipes.stdin, pipes.stdout, pipes.stderr], ours);
  r.done.catch(() => undefined); // a relay that failed has ended; nobody else waits for it
  return {
    // nothing more of our stdin once the process has exited (it is the
    // caller's again); what the process wrote is in the pipes, and a process
    // left holding them (no pid namespace) must not keep us
    drain: () => {
      r.endInput();
      return within(r.done, DRAIN_MS);
    },
    stop: () => r.stop(),
  };
}

/**
 * Relays the pty (or `pipeRelay`, already started), waits for process `pid`
 * (our child) and stops the forwarding.
 */
export async function superviseForeground(
  native: NativeBinding,
  pid: number,
  ptyMaster: number | null,
  stopForwarding: () => void,
  pipeRelay: Relay | null = null,
): Promise<number> {
  const relay = ptyMaster !== null ? startRelay(ptyMaster) : pipeRelay;
  try {
    const status = await native.waitPid(pid);
    await relay?.drain();
    if (status.signal !== null) return 128 + status.signal;
    return status.code ?? 255;
  } finally {
    relay?.stop();
    stopForwarding();
  }
}

export interface Relay {
  /** Resolves once the process's output has all been copied, or after DRAIN_MS. */
  drain(): Promise<void>;
  stop(): void;
}

/** `p`, or nothing after `ms` (the timer does not outlive it). */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Copies our stdin to the pty master and the master to our stdout. */
function startRelay(master: number): Relay {
  const stdin = process.stdin;
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  if (stdin.isTTY) stdin.setRawMode(true);
  const onData = (chunk: Buffer) => {
    try {
      fs.writeSync(master, chunk);
    } catch {
      /* container closed its terminal */
    }
  };
  stdin.on('data', onData);
  stdin.resume();
  const out = fs.createReadStream('', { fd: master, autoClose: false, highWaterMark: 16384 });
  let ended: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    ended = resolve;
  });
  out.on('data', (chunk) => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(1, buf, off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') break;
      }
    }
  });
  // EIO once the last slave fd closes: the container is done writing.
  out.on('error', () => ended());
  out.on('end', () => ended());
  return {
    drain: () => within(done, DRAIN_MS),
    stop() {
      stdin.off('data', onData);
      stdin.pause();
      if (stdin.isTTY) stdin.setRawMode(wasRaw);
      out.destroy();
      tryClose(master);
    },
  };
}
