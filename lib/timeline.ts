/**
 * The step timeline: where a command spent its time. `--debug` prints it
 * for every command, from the process's start (the JavaScript engine's
 * start, loading the modules) to its exit; API users read `entries`, which
 * a Runtime's timeline counts from its construction.
 */
export interface TimelineEntry {
  step: string;
  /** Milliseconds since the timeline's origin. */
  at: number;
  /** Milliseconds since the previous mark. */
  took: number;
}

export class Timeline {
  readonly entries: TimelineEntry[] = [];
  private origin_: number;
  /** Hears each step as it ends (--debug writes a line per step). */
  onMark?: (entry: TimelineEntry) => void;
  private last: number;

  /** origin: a performance.now() value (0: the process's start). */
  constructor(origin = performance.now()) {
    this.origin_ = origin;
    this.last = origin;
  }

  get origin(): number {
    return this.origin_;
  }

  /** Empties it and counts from now. */
  restart(): void {
    this.entries.length = 0;
    this.origin_ = this.last = performance.now();
  }

  mark(step: string): void {
    this.markAt(step, performance.now());
  }

  /** A step that ended at `now` (a performance.now() value): one the addon timed, or the engine's start. */
  markAt(step: string, now: number): void {
    const entry = { step, at: now - this.origin_, took: now - this.last };
    this.entries.push(entry);
    this.last = now;
    this.onMark?.(entry);
  }

  /** A step whose start and end are known (the init's own steps, timed in it): `last` stays. */
  markSpan(step: string, start: number, end: number): void {
    const entry = { step, at: end - this.origin_, took: end - start };
    this.entries.push(entry);
    this.onMark?.(entry);
  }

  /** Steps the native side timed, `ms` after `since` (a performance.now() value), prefixed `prefix.`. */
  markNative(prefix: string, since: number, marks: readonly { step: string; ms: number }[]): void {
    for (const m of marks) this.markAt(`${prefix}.${m.step}`, since + m.ms);
  }

  format(): string {
    const w = Math.max(10, ...this.entries.map((e) => e.step.length + 1));
    return this.entries.map((e) => `${e.step.padEnd(w)} +${e.took.toFixed(2)}ms (${e.at.toFixed(2)}ms)`).join('\n');
  }
}
