/** Reading /proc for process identity and liveness. */
import * as fs from 'node:fs';

export interface ProcStat {
  state: string;
  startTime: number;
}

/** Fields of /proc/<pid>/stat, or null when the process is gone. */
export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: split after the last ")".
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '?', startTime: Number(rest[19]) };
}

/** True when `pid` is the very process we started (same start time) and not a zombie. */
export function isAlive(pid: number, startTime: number, procRoot = '/proc'): boolean {
  if (pid <= 0) return false;
  const st = readProcStat(pid, procRoot);
  if (!st || st.startTime !== startTime) return false;
  return st.state !== 'Z' && st.state !== 'X';
}
