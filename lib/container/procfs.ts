/** Process identity and liveness (native/host's reading of /proc/<pid>/stat). */
import { loadBinding } from '../native/binding.js';

/** True when `pid` is the very process we started (same start time) and not a zombie. */
export function isAlive(pid: number, startTime: number): boolean {
  if (pid <= 0) return false;
  const st = loadBinding().procStartTime(pid);
  return !!st && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}

/** The start time (/proc/<pid>/stat field 22) that guards against pid reuse; 0 when it is gone. */
export function startTimeOf(pid: number): number {
  return loadBinding().procStartTime(pid)?.startTime ?? 0;
}
