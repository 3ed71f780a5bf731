/**
 * A stand-in for systemd's notification socket: a real AF_UNIX SOCK_DGRAM
 * socket, bound by a tiny Python helper because Node cannot bind one
 * (nodejs/node#29339). Every datagram comes back as one JSON line. File
 * descriptors passed with a message are closed on receipt, which is how
 * `systemd-notify`'s BARRIER=1 (sd_notify_barrier) learns the message was
 * processed — exactly what systemd does — so the barrier never waits out its
 * timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const LISTENER = String.raw`
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"listening": sys.argv[1]}), flush=True)
while True:
    msg, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    fds = array.array("i")
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    for fd in fds:
        os.close(fd)
    print(json.dumps({"data": msg.decode("utf-8", "replace"), "fds": len(fds)}), flush=True)
`;

export interface Datagram {
  /** The message text, e.g. "READY=1\nSTATUS=…". */
  data: string;
  /** Arrival time (ms since epoch). */
  at: number;
}

export interface NotifyListener {
  /** The value for NOTIFY_SOCKET. */
  readonly path: string;
  /** Every datagram received so far, BARRIER=1 ones excluded. */
  readonly messages: Datagram[];
  /** Messages containing the assignment `KEY=VALUE` as one of their lines. */
  having(assignment: string): Datagram[];
  close(): Promise<void>;
}

export async function startNotifyListener(python = '/usr/bin/python3'): Promise<NotifyListener> {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-notify-'));
  const path = join(dir, 'notify.sock');
  const child: ChildProcess = spawn(python, ['-c', LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: Datagram[] = [];
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`notify listener did not start: ${why}`));
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code) => fail(`exited with ${code}`));
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as { listening?: string; data?: string };
      if (msg.listening) resolve();
      else if (msg.data !== undefined && msg.data !== 'BARRIER=1') messages.push({ data: msg.data, at: Date.now() });
    });
  });
  child.removeAllListeners('exit');
  return {
    path,
    messages,
    having: (assignment) => messages.filter((m) => m.data.split('\n').includes(assignment)),
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
