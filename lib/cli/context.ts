import { Runtime } from '../index.js';
import { Timeline } from '../timeline.js';
import type { Lifecycle } from '../container/lifecycle.js';
import type { Logger } from './log.js';

/** What every command gets: parsed globals, the logger, the runtime. */
export class Context {
  private rt?: Runtime;
  /** The whole command's, from the process's start (origin 0) to its exit. */
  readonly timeline = new Timeline(0);
  constructor(
    readonly root: string,
    readonly log: Logger,
  ) {
    if (log.debugEnabled)
      this.timeline.onMark = (e) => log.debug(`step ${e.step} done in ${e.took.toFixed(2)}ms (at ${e.at.toFixed(2)}ms)`);
  }

  runtime(): Runtime {
    this.rt ??= new Runtime({
      root: this.root,
      timeline: this.timeline,
      onWarning: (m) => this.log.warn(m),
      onDebug: (m) => this.log.debug(m),
    });
    return this.rt;
  }

  lifecycle(): Lifecycle {
    return this.runtime().lifecycle;
  }
}

export interface GlobalArgs {
  root: string;
  log?: string;
  'log-format': 'text' | 'json';
  debug: boolean;
  'systemd-cgroup': boolean;
}
