import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FrameAssembler } from '../../src/ingest/frame-assembler.js';
import { closeChannel, openFrameChannel } from '../../src/ingest/frame-channel.js';

describe('FrameChannel: a child writes frames, they are read in place', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('delivers every byte a real child writes, in order, straight into the frames, then ends', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ls-channel-'));
    dirs.push(dir);
    const frameSize = 1_000_003; // not a multiple of any read size
    const data = randomBytes(frameSize * 3 + 12_345); // three frames and a partial one
    const file = join(dir, 'frames.raw');
    await writeFile(file, data);

    const frames: Buffer[] = [];
    const assembler = new FrameAssembler(frameSize, (f) => frames.push(f));
    let reads = 0;
    let misplaced = 0;
    let handedOut: Uint8Array | null = null;
    const channel = await openFrameChannel({
      target: () => (handedOut = assembler.readTarget()),
      received: (n, buf) => {
        reads++;
        if (buf !== handedOut) misplaced++;
        assembler.received(n, buf);
      },
    });
    const ended = new Promise<void>((resolve) => channel.near.once('end', resolve));
    const child = spawn('cat', [file], { stdio: ['ignore', channel.far, 'inherit'] });
    channel.far.destroy(); // the child has its own copy
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    await ended;
    closeChannel(channel);

    expect(code).toBe(0);
    expect(frames).toHaveLength(3);
    frames.forEach((f, i) => expect(f.equals(data.subarray(i * frameSize, (i + 1) * frameSize)), `frame ${i}`).toBe(true));
    expect(assembler.pendingBytes).toBe(12_345);
    expect(reads).toBeGreaterThan(3);
    expect(misplaced).toBe(0); // every read landed in the frame it belongs to: no chunk was copied
  });

  it('holds the data back while paused and delivers it on resume (flow control)', async () => {
    const got: number[] = [];
    const channel = await openFrameChannel({
      target: () => null,
      received: (n, buf) => {
        got.push(...buf.subarray(0, n));
      },
    });
    channel.near.pause();
    const child = spawn('printf', ['abc'], { stdio: ['ignore', channel.far, 'inherit'] });
    channel.far.destroy();
    await new Promise((resolve) => child.once('close', resolve));
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([]);
    const ended = new Promise<void>((resolve) => channel.near.once('end', resolve));
    channel.near.resume();
    await ended;
    closeChannel(channel);
    expect(Buffer.from(got).toString()).toBe('abc');
  });
});
