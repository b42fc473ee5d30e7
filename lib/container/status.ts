/**
 * A container's status. Which status allows which command (runc's rules and
 * words) is decided once, in native/host/status.c, for both front doors: the
 * C front and, through the addon, TypeScript (`canExec`).
 */
export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';
