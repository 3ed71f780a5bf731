import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';

/** Where a channel's reads land, and who is told how many bytes did. */
export interface ReadSink {
  /** The buffer the next read fills, or null to use the channel's scratch buffer. */
  target(): Uint8Array | null;
  /** `n` bytes were read into `buf` (a `target()`, or the scratch buffer, which is reused). */
  received(n: number, buf: Uint8Array): void;
}

/** One of a child's outputs, as a socket pair: `far` goes to the child as an stdio entry, `near` is read here. */
export interface FrameChannel {
  near: net.Socket;
  far: net.Socket;
}

const SCRATCH_BYTES = 64 * 1024;

/**
 * A byte channel from a child process, read straight into memory the sink
 * chooses. Node reads a child's `'pipe'` stdio in 64 KiB chunks that it
 * allocates for every read, and those chunks (and the frame each is then copied
 * into) are external memory that drives V8's garbage collector: with four 720p
 * cameras that was a fifth of the box (BENCHMARKS.md). A socket
 * made here can be read with `onread`, so each read lands in the frame it
 * belongs to.
 *
 * The pair is a Unix stream socket in Linux's abstract namespace (nothing on
 * the file system to clean up); the child writes to it as to a pipe.
 */
export async function openFrameChannel(sink: ReadSink): Promise<FrameChannel> {
  const server = net.createServer({ pauseOnConnect: true });
  const path = `\0linesight-${process.pid}-${randomUUID()}`;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  try {
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const near = net.connect({
      path,
      onread: {
        buffer: () => sink.target() ?? scratch,
        callback: (n, buf) => {
          sink.received(n, buf);
          return true;
        },
      },
    });
    const far = await new Promise<net.Socket>((resolve, reject) => {
      near.once('error', reject);
      accepted.then((socket) => {
        near.off('error', reject);
        resolve(socket);
      }, reject);
    });
    return { near, far };
  } finally {
    server.close();
  }
}

/**
 * Starts `command` writing to `out` as fd 1 and, if given, `pictures` as fd 3
 * (stderr stays a pipe), with `env` added to this process's environment. The
 * far ends are closed here once the child holds its own copies, so the near
 * ends see EOF when it exits.
 */
export function spawnOnChannels(command: string, args: readonly string[], out: FrameChannel, pictures?: FrameChannel | null, env: Record<string, string> = {}): ChildProcess {
  try {
    return spawn(command, args, { stdio: ['ignore', out.far, 'pipe', ...(pictures ? [pictures.far] : [])], env: { ...process.env, ...env } });
  } finally {
    out.far.destroy();
    pictures?.far.destroy();
  }
}

export function closeChannel(channel: FrameChannel): void {
  channel.near.destroy();
  channel.far.destroy();
}
