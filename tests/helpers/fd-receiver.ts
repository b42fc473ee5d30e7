/** A unix socket that receives an fd, as an engine's end of --console-socket or --pidfd-socket is. */
import { spawnSync } from 'node:child_process';

/** python3 with socket.recv_fds (3.9+), which fdReceiver's programs need. */
export const hasPython = spawnSync('python3', ['-c', 'import socket; socket.recv_fds'], { stdio: 'ignore' }).status === 0;

/**
 * A python3 program that listens on argv[1], prints "listening" once it does, accepts one
 * connection and takes one message with its SCM_RIGHTS fds into `msg` and `fds`; `rest` (python at
 * column 0) then does what the caller wants with them.
 */
export const fdReceiver = (rest: string): string => `
import os, signal, socket, sys
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1]); srv.listen(1)
print("listening", flush=True)
conn, _ = srv.accept()
msg, fds, flags, addr = socket.recv_fds(conn, 4096, 2)
${rest}`;

/**
 * An engine's end of --console-socket: one connection, one SCM_RIGHTS fd
 * ("fds=N name=NAME" first), then the pty's output to stdout as it comes,
 * until the last slave closes.
 */
export const CONSOLE_RECEIVER = fdReceiver(`sys.stdout.write("fds=%d name=%s\\n" % (len(fds), msg.decode())); sys.stdout.flush()
while True:
    try:
        chunk = os.read(fds[0], 4096)
    except OSError:
        break
    if not chunk:
        break
    sys.stdout.write(chunk.decode(errors="replace")); sys.stdout.flush()
`);
