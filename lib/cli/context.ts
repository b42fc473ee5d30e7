import { realHost } from '../container/host.js';
import { Lifecycle } from '../container/lifecycle.js';
import { loadBinding } from '../native/binding.js';
import { Timeline } from '../timeline.js';
import type { Logger } from './log.js';

/** What every command gets: parsed globals, the logger, the lifecycle. */
export class Context {
  private life?: Lifecycle;
  readonly timeline = new Timeline();
  constructor(
    readonly root: string,
    readonly log: Logger,
  ) {}

  lifecycle(): Lifecycle {
    this.life ??= new Lifecycle(this.root, loadBinding(), realHost, this.timeline);
    return this.life;
  }
}

export interface GlobalArgs {
  root: string;
  log?: string;
  'log-format': 'text' | 'json';
  debug: boolean;
  'systemd-cgroup': boolean;
}
