import { Runtime } from '../index.js';
import type { Lifecycle } from '../container/lifecycle.js';
import type { Logger } from './log.js';

/** What every command gets: parsed globals, the logger, the runtime. */
export class Context {
  private rt?: Runtime;
  constructor(
    readonly root: string,
    readonly log: Logger,
  ) {}

  runtime(): Runtime {
    if (!this.rt) {
      this.rt = new Runtime({ root: this.root, onWarning: (m) => this.log.warn(m), onDebug: (m) => this.log.debug(m) });
      if (this.log.debugEnabled)
        this.rt.timeline.onMark = (e) => this.log.debug(`step ${e.step} done in ${e.took.toFixed(2)}ms (at ${e.at.toFixed(2)}ms)`);
    }
    return this.rt;
  }

  lifecycle(): Lifecycle {
    return this.runtime().lifecycle;
  }

  get timeline() {
    return this.runtime().timeline;
  }
}

export interface GlobalArgs {
  root: string;
  log?: string;
  'log-format': 'text' | 'json';
  debug: boolean;
  'systemd-cgroup': boolean;
}
