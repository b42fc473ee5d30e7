/**
 * Error and debug output, as engines expect it (engine-contract.md):
 * without --debug exactly one error line per failure goes to --log (json:
 * {"level","msg","time"}; text: logrus style), and the message always goes
 * to stderr too. Writes are synchronous on raw fds: process.stderr would
 * make the shared pipe non-blocking for the container.
 */
import * as fs from 'node:fs';

export type LogFormat = 'text' | 'json';

export class Logger {
  constructor(
    private readonly file: string | undefined,
    private readonly format: LogFormat,
    readonly debugEnabled: boolean,
  ) {}

  private line(level: string, msg: string): string {
    const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (this.format === 'json') return `${JSON.stringify({ level, msg, time })}\n`;
    return `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
  }

  private toFile(level: string, msg: string): void {
    if (!this.file) return;
    try {
      fs.appendFileSync(this.file, this.line(level, msg));
    } catch {
      /* the log is best effort; stderr still has it */
    }
  }

  error(msg: string): void {
    this.toFile('error', msg);
    writeFd(2, `tsrun: ${msg}\n`);
  }

  warn(msg: string): void {
    this.toFile('warning', msg);
    writeFd(2, `tsrun: warning: ${msg}\n`);
  }

  /** --debug: runc's logrus lines (`time=… level=debug msg=…`, or JSON), to --log or else stderr. */
  debug(msg: string): void {
    if (!this.debugEnabled) return;
    if (this.file) this.toFile('debug', msg);
    else writeFd(2, this.line('debug', msg));
  }
}

export function writeFd(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      return;
    }
  }
}
