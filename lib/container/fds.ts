/**
 * Closing fds the runtime opened for (or received from) the init, on paths
 * where a close error changes nothing: the fd is ours and goes either way.
 */
import * as fs from 'node:fs';

export function tryClose(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed: nothing to undo */
  }
}

/** tryClose of every entry that is an fd (undefined and negative ones are skipped). */
export function closeAll(fds: readonly (number | undefined)[]): void {
  for (const fd of fds) if (fd !== undefined && fd >= 0) tryClose(fd);
}
