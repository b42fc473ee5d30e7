import { Runtime } from '../runtime.js';
import { Timeline } from '../timeline.js';
import type { Logger } from './log.js';

/** What every command gets: parsed globals, the logger, the runtime. */
export class Context {
  private rt?: Runtime;
  /** The whole command's, from the process's start (origin 0) to its exit. */
  readonly timeline = new Timeline(0);
  constructor(
    readonly root: string,
    readonly log: Logger,
    /** --rootless, resolved; the root is runc's $XDG_RUNTIME_DIR default; --systemd-cgroup. */
    readonly opts: { rootless: boolean; xdgRoot: boolean; systemdCgroup?: boolean } = { rootless: false, xdgRoot: false },
  ) {
    if (log.debugEnabled)
      this.timeline.onMark = (e) => log.debug(`step ${e.step} done in ${e.took.toFixed(2)}ms (at ${e.at.toFixed(2)}ms)`);
  }

  runtime(): Runtime {
    this.rt ??= new Runtime({
      root: this.root,
      rootless: this.opts.rootless,
      xdgRoot: this.opts.xdgRoot,
      systemdCgroup: this.opts.systemdCgroup,
      timeline: this.timeline,
      onWarning: (m) => this.log.warn(m),
      onDebug: (m) => this.log.debug(m),
      // we exit right away: the containers' exit statuses are our caller's to collect
      reapChildren: false,
      words: 'cli',
    });
    return this.rt;
  }
}

export interface GlobalArgs {
  /** Unset: the default (native rootless(): /run/tsrun or $XDG_RUNTIME_DIR/tsrun). */
  root?: string;
  /** true, false or auto. */
  rootless: string;
  log?: string;
  'log-format': 'text' | 'json';
  debug: boolean;
  'systemd-cgroup': boolean;
}
