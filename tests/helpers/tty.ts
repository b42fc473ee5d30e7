/**
 * What a program run under script(1) printed, less what the terminals add
 * of their own accord (the tests run ctr, podman, docker and the runtimes
 * under `script` to give them a controlling terminal).
 *
 * script's stdin is the test's input, which ends at once: script then
 * writes the EOF character (^D) into its pty. While the program's terminal
 * is still in canonical mode, n_tty queues that EOF as a NUL byte marked as
 * a line end; if the program then switches the terminal to raw mode before
 * reading it (ctr, podman and a runtime relaying a container's pty all do),
 * it reads a real NUL. It forwards it into the container's pty like any
 * typed byte, and that pty echoes it (ECHOCTL) as "^@" — before, between or
 * after the program's lines, as the copies happen to interleave; runc
 * behaves the same. The ptys' ONLCR also doubles the carriage returns
 * ("\r\r\n" through two of them). Both are dropped, and nothing else, so
 * that the program's own output can be compared exactly.
 */
export function withoutTtyEcho(out: string): string {
  return out.replace(/\^@|\0/g, '').replace(/\r/g, '');
}
