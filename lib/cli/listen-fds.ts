/**
 * systemd socket activation passed through, as runc does: when the caller's
 * LISTEN_PID is this process, its LISTEN_FDS fds (3 ..) go to the container
 * ahead of any --preserve-fds ones, and the container's environment gets
 * LISTEN_FDS=n and LISTEN_PID=1 (the container program is pid 1 of its pid
 * namespace, or at least the one that execs from the init).
 */
export interface FdPassing {
  preserveFds: number;
  extraEnv: string[];
}

export function listenFdOptions(preserveFds: number, env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): FdPassing {
  const n = Number(env.LISTEN_FDS);
  if (!env.LISTEN_FDS || Number(env.LISTEN_PID) !== pid || !Number.isInteger(n) || n <= 0) return { preserveFds, extraEnv: [] };
  return { preserveFds: preserveFds + n, extraEnv: [`LISTEN_FDS=${n}`, 'LISTEN_PID=1'] };
}
