/**
 * @packageDocumentation
 * tsrun's public API: a typed, in-process OCI runtime. The CLI is built on
 * it and on nothing below it: every command it runs is a Runtime method.
 *
 * ```ts
 * import { Runtime } from 'tsrun';
 * const rt = new Runtime({ root: '/run/tsrun' });
 * await rt.create('web', { bundle: '/srv/bundles/web' });
 * await rt.start('web');
 * console.log(rt.state('web').status); // "running"
 * await rt.delete('web', { force: true });
 *
 * const { status, stdout } = await rt.output('job', { bundle: '/srv/bundles/job' });
 * ```
 */

export { ConfigError, InitStepError, TsrunError, type ErrorCode } from './errors.js';
export type * from './config/types.js';
export type { CreateOptions, RdtUpdate } from './container/lifecycle.js';
export type { Platform } from './image/registry.js';
export type { ExecOverrides } from './container/exec.js';
export type { StateJson } from './container/state.js';
export type { Status } from './container/status.js';
export { Timeline, type TimelineEntry } from './timeline.js';
export type { LinuxResources } from './cgroups/resources.js';
export type { CgroupStats } from './cgroups/stats.js';
export { defaultSpec } from './config/default-spec.js';
export {
  Images,
  type Image,
  type ImagesOptions,
  type ImageConfig,
  type SpecOverrides,
  type DeepPartial,
  type PullOptions,
} from './image/index.js';
export { ContainerHandle, type ContainerOptions } from './handle.js';
export type { CheckpointOptions, ManageCgroupsMode } from './checkpoint/checkpoint.js';
export type { RestoreOptions } from './checkpoint/restore.js';
export * from './runtime.js';
