/**
 * The step timeline: where a create spent its time. `--debug` prints it;
 * API users read `entries`.
 */
export interface TimelineEntry {
  step: string;
  /** Milliseconds since the timeline started. */
  at: number;
  /** Milliseconds since the previous mark. */
  took: number;
}

export class Timeline {
  readonly entries: TimelineEntry[] = [];
  /** Hears each step as it ends (--debug writes a line per step). */
  onMark?: (entry: TimelineEntry) => void;
  private readonly t0 = process.hrtime.bigint();
  private last = this.t0;

  mark(step: string): void {
    const now = process.hrtime.bigint();
    const entry = { step, at: Number(now - this.t0) / 1e6, took: Number(now - this.last) / 1e6 };
    this.entries.push(entry);
    this.last = now;
    this.onMark?.(entry);
  }

  format(): string {
    return this.entries.map((e) => `${e.step.padEnd(10)} +${e.took.toFixed(2)}ms (${e.at.toFixed(2)}ms)`).join('\n');
  }
}
