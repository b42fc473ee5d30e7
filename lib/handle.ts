/**
 * A container as a disposable handle (Runtime.container): made clean from
 * an image, started, its output captured, and deleted with its writable
 * layer when the scope that holds it ends, whether it ends normally or by a
 * throw (`await using`).
 */
import type { Readable, Writable } from 'node:stream';

import type { Process } from './config/types.js';
import type { StateJson } from './container/state.js';
import { TsrunError } from './errors.js';
import type { Image, SpecOverrides } from './image/index.js';
import type { ExecWhat, Output, Runtime, RuntimeExecOptions, Stdio } from './runtime.js';

export interface ContainerOptions {
  /** Default: `t-` and 12 random hex digits. */
  id?: string;
  /** The image (an Image, or a name for Images.get: `docker-archive:FILE`, `oci:DIR`, `host:port/repo:tag`…). */
  image?: Image | string;
  /** A partial config.json merged over the default config and the image's (process.args replaces the image's command). */
  config?: SpecOverrides;
  /** A bundle directory instead of an image and a config. */
  bundle?: string;
  /** Start the program (default true); false leaves it created: call start(). */
  start?: boolean;
  /**
   * The program's stdio. Default: stdin /dev/null, stdout and stderr
   * captured by the handle (logs()); 'pipe' gives streams instead
   * (stdin/stdout/stderr), which keep this process alive while open.
   */
  stdio?: Stdio;
}

/** A promise that keeps the process alive only while something waits on it (then, catch, finally, await). */
export function heldWhileAwaited<T>(p: Promise<T>): Promise<T> {
  let held = false;
  const hold = () => {
    if (held) return;
    held = true;
    const timer = setInterval(() => undefined, 1 << 30);
    p.then(
      () => clearInterval(timer),
      () => clearInterval(timer),
    );
  };
  return {
    then(onFulfilled, onRejected) {
      hold();
      return p.then(onFulfilled, onRejected);
    },
    catch(onRejected) {
      hold();
      return p.catch(onRejected);
    },
    finally(onFinally) {
      hold();
      return p.finally(onFinally);
    },
    [Symbol.toStringTag]: 'Promise',
  } as Promise<T>;
}

function randomId(): string {
  return `t-${Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Output a stream gives, kept as it comes; the stream does not keep the process alive. */
function capture(stream: Readable | null): { text(): Buffer; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  if (!stream) return { text: () => Buffer.alloc(0), ended: Promise.resolve() };
  (stream as Readable & { unref?: () => void }).unref?.();
  const ended = new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  return { text: () => Buffer.concat(chunks), ended };
}

export class ContainerHandle implements AsyncDisposable {
  private deleted: Promise<void> | null = null;
  private readonly out: ReturnType<typeof capture>;
  private readonly err: ReturnType<typeof capture>;

  /** Streams asked for with stdio 'pipe' (else null). */
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;

  private constructor(
    private readonly rt: Runtime,
    readonly id: string,
    /** The init's host pid. */
    readonly pid: number,
    streams: { stdin: Writable | null; stdout: Readable | null; stderr: Readable | null },
    captured: boolean,
  ) {
    this.out = capture(captured ? streams.stdout : null);
    this.err = capture(captured ? streams.stderr : null);
    this.stdin = captured ? null : streams.stdin;
    this.stdout = captured ? null : streams.stdout;
    this.stderr = captured ? null : streams.stderr;
  }

  /** Creates (and, unless start is false, starts) the container. */
  static async create(rt: Runtime, opts: ContainerOptions): Promise<ContainerHandle> {
    const id = opts.id ?? randomId();
    const captured = opts.stdio === undefined;
    const stdio = opts.stdio ?? (['ignore', 'pipe', 'pipe'] as const);
    const c = await rt.create(
      id,
      opts.bundle !== undefined ? { bundle: opts.bundle, stdio } : { image: opts.image, config: opts.config, stdio },
    );
    const h = new ContainerHandle(rt, id, c.pid, c, captured);
    if (opts.start ?? true) {
      try {
        await rt.start(id);
      } catch (e) {
        await h.delete();
        throw e;
      }
    }
    return h;
  }

  /** The writable layer (overlayfs' upper dir: every file the container wrote), or null without an image. */
  get upperDir(): string | null {
    return this.rt.upperDir(this.id);
  }

  state(): StateJson {
    return this.rt.state(this.id);
  }

  start(): Promise<void> {
    return this.rt.start(this.id);
  }

  /** What the program wrote to stdout and stderr so far (captured stdio). */
  logs(): { stdout: Buffer; stderr: Buffer } {
    return { stdout: this.out.text(), stderr: this.err.text() };
  }

  /** The program's exit status (128+N for signal N), once it has exited and its output has been read to the end. */
  async wait(): Promise<number> {
    const status = await this.rt.wait(this.id);
    await heldWhileAwaited(Promise.all([this.out.ended, this.err.ended]));
    return status ?? 255;
  }

  /** wait(), with everything the program wrote. */
  async output(): Promise<Output> {
    const status = await this.wait();
    return { status, ...this.logs() };
  }

  /** A command (argv) or a process run in the container, its output captured: resolves once it has exited. */
  exec(what: string[] | ExecWhat, opts: Omit<RuntimeExecOptions, 'stdio'> = {}): Promise<Output> {
    return this.rt.execOutput(this.id, Array.isArray(what) ? { args: what } : what, opts);
  }

  /** The process exec would run for `what` (the container's process with these changes). */
  execProcess(what: ExecWhat): Process {
    return this.rt.execProcessOf(this.id, what);
  }

  kill(signal: number | string = 'TERM', opts: { all?: boolean } = {}): Promise<void> {
    return this.rt.kill(this.id, signal, opts);
  }

  /** Kills it (SIGKILL, every process) and deletes it with its writable layer; again: the same promise. */
  delete(): Promise<void> {
    this.deleted ??= (async () => {
      this.stdout?.destroy();
      this.stderr?.destroy();
      this.stdin?.destroy();
      try {
        await this.rt.delete(this.id, { force: true });
      } catch (e) {
        if (!(e instanceof TsrunError && e.code === 'ENOTFOUND')) throw e;
      }
    })();
    return this.deleted;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.delete();
  }
}
