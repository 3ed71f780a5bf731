import { describe, expect, it } from 'vitest';
import { CameraSupervisor } from '../../src/ingest/camera-supervisor.js';
import { FRAME_TIMES_FILTER, inputOptions, letterboxFilterGraph, letterboxOutputOptions, pictureEvery, sourceKind } from '../../src/ingest/ffmpeg-args.js';
import { redactUrl } from '../../src/config/url.js';
import { classifyStderr, isFrameTimeLine, parseDecodedSize, parseFrameTime, parseFrameTimeBase } from '../../src/ingest/ffmpeg-stderr.js';
import { FrameAssembler } from '../../src/ingest/frame-assembler.js';
import { FrameClock, MAX_LEAD_MS } from '../../src/ingest/frame-clock.js';
import { FrameReader } from '../../src/ingest/frame-reader.js';
import { FlowControl } from '../../src/ingest/flow-control.js';
import { InputPool } from '../../src/ingest/input-pool.js';
import { PicturePairing } from '../../src/ingest/picture-pairing.js';
import { PicturePool } from '../../src/ingest/picture-pool.js';
import { TimeWait } from '../../src/ingest/time-wait.js';
import { isLinesightError } from '../../src/errors.js';
import type { CameraState, Frame, ModelInput } from '../../src/types.js';
import { captureLogger } from '../helpers/capture-log.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe('FrameAssembler', () => {
  const frameBytes = (n: number, size: number) => Buffer.from(Array.from({ length: n * size }, (_, i) => i % 251));

  it.each([1, 7, 12, 13, 100, 1000])('cuts frames exactly whatever the chunk size (%i bytes)', (chunk) => {
    const size = 12;
    const stream = frameBytes(5, size);
    const frames: Buffer[] = [];
    const a = new FrameAssembler(size, (f) => frames.push(f));
    for (let i = 0; i < stream.length; i += chunk) a.push(stream.subarray(i, i + chunk));
    expect(frames).toHaveLength(5);
    frames.forEach((f, i) => expect(f.equals(stream.subarray(i * size, (i + 1) * size))).toBe(true));
    expect(a.pendingBytes).toBe(0);
  });

  it('stamps each frame with the arrival of its first byte', () => {
    let t = 1000;
    const stamps: number[] = [];
    const a = new FrameAssembler(4, (_f, at) => stamps.push(at), () => t);
    a.push(Buffer.alloc(3)); // frame 1 starts at 1000
    t = 1010;
    a.push(Buffer.alloc(3)); // frame 1 ends, frame 2 starts at 1010
    t = 1020;
    a.push(Buffer.alloc(2));
    expect(stamps).toEqual([1000, 1010]);
  });

  it('keeps delivered frames intact when the next chunk arrives', () => {
    const frames: Buffer[] = [];
    const a = new FrameAssembler(2, (f) => frames.push(f));
    a.push(Buffer.from([1, 2, 3, 4]));
    a.push(Buffer.from([5, 6]));
    expect(frames.map((f) => [...f])).toEqual([[1, 2], [3, 4], [5, 6]]);
  });

  it('counts a trailing partial frame', () => {
    const a = new FrameAssembler(10, () => undefined);
    a.push(Buffer.alloc(25));
    expect(a.pendingBytes).toBe(5);
  });

  it('lets reads land in place in the frame being assembled (readTarget/received), stamped at the first byte', () => {
    const size = 10;
    const stream = frameBytes(3, size);
    let t = 500;
    const frames: Array<{ f: Buffer; at: number }> = [];
    const a = new FrameAssembler(size, (f, at) => frames.push({ f, at }), () => t);
    let offset = 0;
    const targets: Buffer[] = [];
    const reads = [4, 6, 3, 3, 4, 10]; // a read never spans two frames: the target ends where the frame does
    for (const n of reads) {
      const target = a.readTarget();
      targets.push(target);
      expect(target.length).toBeGreaterThanOrEqual(n);
      stream.copy(target, 0, offset, offset + n); // what the kernel would write
      a.received(n, target);
      offset += n;
      t += 10;
    }
    expect(frames.map((x) => x.at)).toEqual([500, 520, 550]);
    expect(frames).toHaveLength(3);
    frames.forEach(({ f }, i) => expect(f.equals(stream.subarray(i * size, (i + 1) * size))).toBe(true));
    // Each read's target was the frame's own memory (no copy): the first read of frame 1 at its start, the second 4 bytes in.
    const at = (b: Buffer) => [b.buffer, b.byteOffset];
    expect(at(targets[0] as Buffer)).toEqual(at(frames[0]?.f as Buffer));
    expect(at(targets[1] as Buffer)).toEqual([frames[0]?.f.buffer, (frames[0]?.f.byteOffset ?? 0) + 4]);
    expect(at(targets[5] as Buffer)).toEqual(at(frames[2]?.f as Buffer));
  });

  it('copies a read that landed in a scratch buffer (before the frame size was known) and goes on in place', () => {
    const frames: Buffer[] = [];
    const a = new FrameAssembler(4, (f) => frames.push(f));
    const scratch = Buffer.from([1, 2, 3, 4, 5, 6]);
    a.received(6, scratch);
    scratch.fill(0); // the scratch buffer is reused: the frames must not share it
    const target = a.readTarget();
    expect(target.length).toBe(2);
    target.set([7, 8]);
    a.received(2, target);
    expect(frames.map((f) => [...f])).toEqual([[1, 2, 3, 4], [5, 6, 7, 8]]);
    expect(a.pendingBytes).toBe(0);
  });

  it('takes frame buffers from the given allocator', () => {
    const pool = [Buffer.alloc(2), Buffer.alloc(2)];
    let i = 0;
    const frames: Buffer[] = [];
    const a = new FrameAssembler(2, (f) => frames.push(f), Date.now, () => pool[i++ % 2] as Buffer);
    a.push(Buffer.from([1, 2, 3, 4]));
    expect(frames[0]).toBe(pool[0]);
    expect(frames[1]).toBe(pool[1]);
  });
});

describe('PicturePool', () => {
  const of = (seq: number) => ({ camera: 'c', seq, captureTs: 1000 + seq, width: 2, height: 1 });

  it('lends a buffer to fill, wraps it in a picture with one share, and takes it back when the last share is released', () => {
    const pool = new PicturePool(6, 4);
    const buf = pool.acquire();
    buf.fill(7);
    const picture = pool.share(buf, of(3));
    expect(picture).toMatchObject({ camera: 'c', seq: 3, captureTs: 1003, width: 2, height: 1 });
    expect(picture.rgb).toBe(buf);
    expect(Object.isFrozen(picture)).toBe(true);
    expect(picture.hold()).toBe(picture); // a listener's share
    picture.release(); // the sender's
    expect(pool.idle).toBe(0);
    expect(pool.acquire()).not.toBe(buf); // still held: a new buffer
    picture.release(); // the listener's, the last
    expect(pool.idle).toBe(1);
    expect(pool.acquire()).toBe(buf);
  });

  it('never hands out a held picture\'s buffer again, however many pictures come after it', () => {
    const pool = new PicturePool(6, 2);
    const first = pool.share(pool.acquire().fill(1), of(1)).hold();
    first.release(); // the sender's share; the holder keeps its own
    const seen = new Set<Buffer>();
    for (let seq = 2; seq < 20; seq++) {
      const buf = pool.acquire();
      seen.add(buf);
      const p = pool.share(buf.fill(seq), of(seq));
      p.release();
    }
    expect(seen.has(first.rgb)).toBe(false);
    expect([...first.rgb]).toEqual([1, 1, 1, 1, 1, 1]); // its own pixels still
    expect(seen.size).toBe(1); // the others came round: one buffer served them all
    first.release();
    expect(pool.idle).toBe(2);
  });

  it('keeps at most depth idle buffers and allocates when none is free', () => {
    const pool = new PicturePool(6, 2);
    const pictures = [1, 2, 3, 4].map((seq) => pool.share(pool.acquire(), of(seq)));
    expect(new Set(pictures.map((p) => p.rgb)).size).toBe(4);
    for (const p of pictures) p.release();
    expect(pool.idle).toBe(2);
  });

  it('refuses a share of a picture whose shares are all back (a consumer bug); a release too many changes nothing', () => {
    const pool = new PicturePool(6, 2);
    const p = pool.share(pool.acquire(), of(5));
    p.release();
    p.release();
    expect(pool.idle).toBe(1);
    let error: unknown;
    try {
      p.hold();
    } catch (err) {
      error = err;
    }
    expect(isLinesightError(error, 'E_ARGUMENT')).toBe(true);
    expect((error as Error).message).toMatch(/^Expected a picture still held .* but picture 5 of camera c was released already/);
  });

  it('takes back a buffer that never became a picture, once; ignores buffers it did not lend', () => {
    const pool = new PicturePool(6, 2);
    const buf = pool.acquire();
    pool.giveBack(buf);
    pool.giveBack(buf);
    pool.giveBack(Buffer.alloc(6));
    expect(pool.idle).toBe(1);
    expect(() => pool.share(Buffer.alloc(6), of(1))).toThrow(/Expected a buffer this pool lent/);
  });

  it('refuses a depth below one', () => {
    expect(() => new PicturePool(6, 0)).toThrow(/picture pool depth of at least 1 but received 0/);
  });
});

describe('InputPool', () => {
  it('lends buffers in shared memory as leases of the model size, and reuses one only once its lease is released', () => {
    const pool = new InputPool(2, 2, 2);
    const a = pool.acquire();
    const b = pool.acquire();
    expect(a).toMatchObject({ width: 2, height: 2 });
    expect(a.rgb.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.rgb.length).toBe(12);
    expect(Object.isFrozen(a)).toBe(true);
    expect(b.rgb).not.toBe(a.rgb); // nothing came back yet: a new one
    a.release();
    a.release(); // twice is harmless
    expect(pool.idle).toBe(1);
    const c = pool.acquire();
    expect(c.rgb).toBe(a.rgb); // reused, under a lease of its own
    a.release(); // a stale lease cannot give back the buffer lent again since
    expect(pool.idle).toBe(0);
    expect(pool.acquire().rgb).not.toBe(b.rgb); // b is still lent
  });

  it('keeps no more idle buffers than it was told', () => {
    const pool = new InputPool(2, 2, 1);
    const [x, y] = [pool.acquire(), pool.acquire()];
    x.release();
    y.release();
    expect(pool.idle).toBe(1);
  });
});

describe('FrameClock', () => {
  const T0 = 1_700_000_000_000;
  /** Frames arriving at `arrivals` (ms after T0) with stream times `pts`, each time reported before its frame. */
  const run = (clock: FrameClock, arrivals: number[], pts: number[], from = 0) => arrivals.map((at, i) => {
    clock.time(from + i, pts[i]);
    expect(clock.reported(from + i)).toBe(true);
    return clock.place(from + i, T0 + at);
  });
  const steps = (ts: number[]) => ts.slice(1).map((t, i) => t - ts[i]);

  it('times frames by the stream, not by when a busy CPU let them through', () => {
    const clock = new FrameClock(5, true);
    // 200 ms apart in the stream; the 4th and 5th arrive late and together.
    const media = run(clock, [0, 200, 400, 950, 955, 1000], [8533, 8733, 8933, 9133, 9333, 9533]);
    expect(media[0]).toBe(T0); // anchored at the first frame's capture time
    expect(steps(media)).toEqual([200, 200, 200, 200, 200]);
  });

  it('says whether a frame\'s time came, and places one without it by estimate, for good', () => {
    const clock = new FrameClock(5, true);
    run(clock, [0], [0]);
    expect(clock.reported(1)).toBe(false);
    expect(clock.place(1, T0 + 260)).toBe(T0 + 260); // the wall clock since frame 0
    clock.time(1, 200); // too late: that frame is placed
    expect(clock.reported(1)).toBe(false);
    // A report without a time (NOPTS) is a report: the frame goes by estimate (170 ms after frame 1 came, from frame 1's time).
    clock.time(2, NaN);
    expect(clock.reported(2)).toBe(true);
    expect(clock.place(2, T0 + 430)).toBe(T0 + 430);
    // The next one is timed by the stream again.
    expect(run(clock, [600], [600], 3)).toEqual([T0 + 600]);
  });

  it('never places a frame before the one before it, when an estimate ran ahead of the stream', () => {
    const clock = new FrameClock(5, true);
    run(clock, [0], [0]);
    expect(clock.place(1, T0 + 500)).toBe(T0 + 500); // its time never came; the CPU was busy
    expect(run(clock, [520, 600], [400, 600], 2)).toEqual([T0 + 500, T0 + 600]);
  });

  it('re-anchors where the stream\'s clock jumps, and never goes back', () => {
    const clock = new FrameClock(5, true);
    const media = run(clock, [0, 200, 400, 600, 800], [1000, 1200, 1400, 200, 400]); // back to 200: the camera restarted its encoder
    expect(steps(media)).toEqual([200, 200, 200, 200]);
    const leap = run(clock, [1000, 1200], [400 + MAX_LEAD_MS + 1000, 400 + MAX_LEAD_MS + 1200], 5); // a leap far ahead of the wall clock
    expect(leap[0] - media[4]).toBe(200);
    expect(leap[1] - leap[0]).toBe(200);
  });

  it('starts a new decoder run after the last time given: by the wall clock when live, a frame on when replayed as fast as possible', () => {
    const live = new FrameClock(5, true);
    const before = run(live, [0, 200], [5000, 5200]);
    live.newRun();
    const after = run(live, [3200, 3400], [0, 200]); // restarted 3 s later, the stream's clock from 0
    expect(after[0] - before[1]).toBe(3000);
    expect(after[1] - after[0]).toBe(200);

    const file = new FrameClock(10, false);
    const first = run(file, [0, 5, 10], [0, 100, 200]); // ten times faster than filmed
    expect(steps(first)).toEqual([100, 100]);
    file.newRun();
    const second = run(file, [20, 25], [0, 100]);
    expect(second[0] - first[2]).toBe(100);
  });
});

describe('ffmpeg arguments', () => {
  const cam = { url: 'rtsp://u:p@10.0.0.5/stream1', transport: 'tcp' as const, realtime: true, loop: true, fps: 5 };
  it('uses TCP and low-delay flags for RTSP', () => {
    const args = inputOptions(cam);
    expect(args.join(' ')).toContain('-rtsp_transport tcp');
    expect(args.join(' ')).toContain('-fflags nobuffer');
    expect(args).toContain('-timeout');
    expect(args).not.toContain('-re');
  });
  it('replays files in real time and loops them', () => {
    expect(inputOptions({ ...cam, url: '/data/clip.mp4' }).join(' ')).toContain('-re -stream_loop -1');
    expect(inputOptions({ ...cam, url: '/data/clip.mp4', realtime: false, loop: false })).not.toContain('-re');
  });
  it('letterboxes in the filter graph: one rate limit before the split, pictures every k-th frame, the preset\'s filter first', () => {
    const plan = { width: 320, height: 320, pictureEvery: 2, pad: 114 };
    const graph = letterboxFilterGraph(5, plan);
    expect(graph.split(';')).toHaveLength(3);
    expect(graph).toMatch(/^\[0:v:0\]select='isnan\(prev_selected_t\)\+gt\(\(t\+if\(isnan\(prev_t\)\\,0\\,t-prev_t\)\)\*5\\,selected_n\+round\(start_t\*5\)-0\.6\)',split=2\[lb\]\[full\];/);
    expect(graph).toContain('pad=320:320:');
    expect(graph).toContain(`color=0x727272,${FRAME_TIMES_FILTER}[input]`);
    expect(graph).toContain("[full]select='not(mod(n\\,2))',scale,format=rgb24[picture]");
    expect(letterboxFilterGraph(5, { ...plan, pictureEvery: 1 })).toContain('[full]scale,format=rgb24[picture]');
    expect(letterboxFilterGraph(5, plan, 'hwdownload,format=nv12')).toMatch(/^\[0:v:0\]hwdownload,format=nv12,select=/);
    expect(letterboxOutputOptions()).toEqual(['-map', '[input]', '-fps_mode', 'passthrough', '-threads', '1', '-f', 'rawvideo', 'pipe:1',
      '-map', '[picture]', '-fps_mode', 'passthrough', '-threads', '1', '-f', 'rawvideo', 'pipe:3']);
  });
  it('sends the full-size picture as often as the preview shows one, at most every frame', () => {
    expect([pictureEvery(5, 8), pictureEvery(8, 8), pictureEvery(15, 8), pictureEvery(10, 5), pictureEvery(30, 8), pictureEvery(0.5, 8)]).toEqual([1, 1, 2, 2, 4, 1]);
  });
  it('tells sources apart', () => {
    expect([sourceKind('rtsp://a'), sourceKind('rtsps://a'), sourceKind('http://a/x.mjpg'), sourceKind('/x.mp4')]).toEqual(['rtsp', 'rtsp', 'network', 'file']);
  });
});

describe('ffmpeg stderr', () => {
  it('reads the decoded size from the filter graph line', () => {
    expect(parseDecodedSize('[verbose] [graph 0 input from stream 0:0 @ 0x55d1] w:1280 h:720 pixfmt:yuv420p tb:1/90000 fr:10/1 sar:1/1'))
      .toEqual({ width: 1280, height: 720 });
    expect(parseDecodedSize('[graph 0 input from stream 0:0 @ 0x5647f73cbb40] [verbose] w:640 h:480 pixfmt:yuv420p tb:1/15360 fr:15/1 sar:1/1'))
      .toEqual({ width: 640, height: 480 });
    expect(parseDecodedSize('frame=   20 fps=0.0')).toBeUndefined();
  });
  it('names the real cause of a failure', () => {
    expect(classifyStderr(['[tcp @ 0x1] Connection to tcp://127.0.0.1:5 failed: Connection refused', 'rtsp://x: Connection refused']))
      .toMatchObject({ code: 'E_CAMERA_UNREACHABLE', summary: expect.stringContaining('refused the connection') });
    expect(classifyStderr(['[rtsp @ 0x1] method DESCRIBE failed: 401 Unauthorized'])).toMatchObject({ summary: expect.stringContaining('401') });
    expect(classifyStderr(['[rtsp @ 0x1] method DESCRIBE failed: 404 Not Found'])).toMatchObject({ summary: expect.stringContaining('404') });
    expect(classifyStderr(['rtsp://x: Invalid data found when processing input'])).toMatchObject({ code: 'E_CAMERA_STREAM' });
    expect(classifyStderr(['all good'])).toBeUndefined();
  });
  it('reads each frame\'s index and stream time from the frame-time filter, and tells its lines apart', () => {
    expect(parseFrameTimeBase('[showinfo@ts @ 0x55e719a60680] [info] config in time_base: 1/90000, frame_rate: 15/1')).toBeCloseTo(1 / 90, 12);
    expect(parseFrameTimeBase('[showinfo@ts @ 0x55e719a60680] config in time_base: 1/15360, frame_rate: 15/1')).toBeCloseTo(1000 / 15360, 12);
    const v51 = '[showinfo@ts @ 0x55e719a60680] [info] n:  12 pts:  12288 pts_time:0.8     pos:    27248 fmt:rgb24 sar:1/1 s:320x320 i:P iskey:0 type:P ';
    expect(parseFrameTime(v51, 1000 / 15360)).toEqual({ n: 12, ms: 800 });
    expect(parseFrameTime('[showinfo@ts @ 0x1f2e] n:   0 pts:      0 pts_time:0       pos:     3461', 1 / 90)).toEqual({ n: 0, ms: 0 }); // FFmpeg 4.x: no level tag
    // Exact where pts_time is not: after 30 hours of stream it says 108000 (six digits).
    const late = parseFrameTime('[showinfo@ts @ 0x1] [info] n:540000 pts:9720018000 pts_time:108000 pos: -1', 1 / 90);
    expect(late?.ms).toBeCloseTo(108_000_200, 6);
    const none = parseFrameTime('[showinfo@ts @ 0x1] [info] n:   3 pts:NOPTS pts_time:NOPTS pos: -1', 1 / 90);
    expect(none?.n).toBe(3);
    expect(none?.ms).toBeNaN();
    expect(parseFrameTime(v51, NaN)?.ms).toBeCloseTo(800, 9); // no time base printed: pts_time stands in
    expect(isFrameTimeLine('[showinfo@ts @ 0x55e719a60680] [info] color_range:unknown color_space:unknown')).toBe(true);
    expect(parseFrameTime('[showinfo@ts @ 0x55e719a60680] [info] color_range:unknown color_space:unknown', 1)).toBeUndefined();
    expect(parseFrameTime('[showinfo@ts @ 0x55e719a60680] [info] config in time_base: 1/90000, frame_rate: 15/1', 1)).toBeUndefined();
    expect(isFrameTimeLine('[Parsed_showinfo_0 @ 0x1] [info] n:   0 pts: 0 pts_time:0')).toBe(false); // someone else's showinfo
    expect(isFrameTimeLine('[rtsp @ 0x1] method DESCRIBE failed: 404 Not Found')).toBe(false);
  });
  it('hides credentials', () => {
    expect(redactUrl('rtsp://admin:secret@10.0.0.5:554/s1')).toBe('rtsp://***@10.0.0.5:554/s1');
    expect(redactUrl('/data/a.mp4')).toBe('/data/a.mp4');
    expect(redactUrl('mqtts://line:pw@broker:8883')).toBe('mqtts://***@broker:8883');
    expect(redactUrl('https://cloud/ingest?site=a&token=abc&key=k')).toBe('https://cloud/ingest?site=a&token=***&key=***');
    expect(redactUrl('rtsp://cam/s1?channel=1&subtype=0')).toBe('rtsp://cam/s1?channel=1&subtype=0');
  });
});

const lease = (rgb: Buffer, released: Buffer[] = []): ModelInput => ({ rgb, width: 2, height: 1, release: () => released.push(rgb) });
const frameNo = (seq: number): Frame => ({ camera: 'c', seq, captureTs: seq, captureMono: seq, width: 4, height: 2, input: lease(Buffer.alloc(6)), pictured: false });

describe('PicturePairing', () => {
  /** What the camera would do: [frame, picture's first byte] shown, pictures' first bytes discarded. */
  const pairing = (pictureEvery: number) => {
    const shown: Array<[string, number]> = [];
    const discarded: number[] = [];
    const p = new PicturePairing<string>(pictureEvery, { show: (f, pic) => shown.push([f, pic[0]]), discard: (pic) => discarded.push(pic[0]) });
    return { p, shown, discarded };
  };
  const pic = (n: number) => Buffer.from([n]);

  it('says which frames get a picture, and shows each picture once its frame was delivered, whichever came first', () => {
    const { p, shown } = pairing(2);
    expect([0, 1, 2, 3, 4, 5].map((n) => p.arrived(n))).toEqual([true, false, true, false, true, false]);
    p.picture(pic(10)); // frame 0's picture, before frame 0 was sent on
    expect(shown).toEqual([]);
    p.delivered(0, 'f0');
    p.delivered(1, 'f1'); // no picture due
    p.delivered(2, 'f2'); // its picture comes after it
    p.picture(pic(12));
    p.picture(pic(14)); // frame 4's: waits for frame 4, still held back (its time, flow control)
    expect(shown).toEqual([['f0', 10], ['f2', 12]]);
    p.delivered(4, 'f4');
    expect(shown).toEqual([['f0', 10], ['f2', 12], ['f4', 14]]);
    expect(p.outOfStep).toBeUndefined();
  });

  it('discards the picture of a frame never sent on, before or after it comes, and every picture once the run is closed', () => {
    const { p, shown, discarded } = pairing(1);
    for (let n = 0; n < 4; n++) p.arrived(n);
    p.picture(pic(0));
    p.lost(0); // superseded after its picture came
    p.lost(1); // superseded before
    p.picture(pic(1));
    p.picture(pic(2));
    p.delivered(3, 'f3'); // its picture never comes before the run ends
    p.close();
    p.picture(pic(3));
    expect(shown).toEqual([]);
    expect(discarded).toEqual([0, 1, 2, 3]);
  });

  it('says when the two outputs no longer pair up', () => {
    const { p } = pairing(1);
    for (let n = 0; n < 5; n++) p.arrived(n);
    expect(p.outOfStep).toBe("ffmpeg's model inputs and full-size pictures no longer pair up (5 frames waiting for a picture, 0 pictures waiting for a frame)");
    const other = pairing(2).p;
    for (let i = 0; i < 5; i++) other.picture(pic(i));
    expect(other.outOfStep).toMatch(/0 frames waiting for a picture, 5 pictures waiting for a frame/);
    other.arrived(0);
    expect(other.outOfStep).toBeUndefined();
  });

  it('refuses a picture interval below one', () => {
    expect(() => new PicturePairing(0, { show: () => undefined, discard: () => undefined })).toThrow(/pictureEvery to be an integer ≥ 1 but received 0/);
  });
});

describe('FlowControl', () => {
  const outlet = () => {
    const log: string[] = [];
    return {
      log,
      outlet: {
        send: (f: Frame) => log.push(`send ${f.seq}`),
        supersede: (f: Frame) => log.push(`supersede ${f.seq}`),
        pause: () => log.push('pause'),
        resume: () => log.push('resume'),
      },
    };
  };

  it('sends a frame per credit (one to start), holds the newest decoded without one, and pauses the decoder until the next', () => {
    const { log, outlet: o } = outlet();
    const flow = new FlowControl(true, o);
    expect(flow.offer(frameNo(1))).toBe(true); // the first credit
    expect(flow.offer(frameNo(2))).toBe(false);
    expect(flow.offer(frameNo(3))).toBe(false); // replaces 2
    expect(flow.grant()).toBe(true); // 3 goes on the credit, the decoder is read again
    expect(flow.grant()).toBe(false); // nothing held or paused: the credit waits
    expect(flow.offer(frameNo(4))).toBe(true); // …for 4
    expect(flow.offer(frameNo(5))).toBe(false);
    expect(log).toEqual(['send 1', 'pause', 'supersede 2', 'send 3', 'resume', 'send 4', 'pause']);
  });

  it('takes several credits at once, and a credit granted while a frame is being sent', () => {
    const { log, outlet: o } = outlet();
    const flow = new FlowControl(true, o);
    flow.offer(frameNo(1));
    flow.offer(frameNo(2));
    expect(flow.grant(3)).toBe(true); // 2 goes, two credits left
    expect([flow.offer(frameNo(3)), flow.offer(frameNo(4)), flow.offer(frameNo(5))]).toEqual([true, true, false]);
    // A consumer that takes the frame and grants at once, inside the send.
    const eager = new FlowControl(true, { ...o, send: (f) => { log.push(`eager ${f.seq}`); eager.grant(); } });
    expect([1, 2, 3].map((seq) => eager.offer(frameNo(seq)))).toEqual([true, true, true]);
    expect(log).toEqual(['send 1', 'pause', 'send 2', 'resume', 'send 3', 'send 4', 'pause', 'eager 1', 'eager 2', 'eager 3']);
  });

  it('starts a new decoder run with one credit, not paused, and gives back the frame it held', () => {
    const { log, outlet: o } = outlet();
    const flow = new FlowControl(true, o);
    flow.offer(frameNo(1));
    flow.offer(frameNo(2));
    expect(flow.reset()?.seq).toBe(2);
    expect(flow.reset()).toBeNull();
    expect(flow.offer(frameNo(3))).toBe(true);
    expect(flow.offer(frameNo(4))).toBe(false);
    expect(log).toEqual(['send 1', 'pause', 'send 3', 'pause']);
  });

  it('refuses a credit count that is not a positive integer', () => {
    const flow = new FlowControl(true, outlet().outlet);
    for (const n of [0, -1, 1.5, NaN]) expect(() => flow.grant(n)).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });

  it('passes every frame straight on when off (live cameras), whatever the credits', () => {
    const { log, outlet: o } = outlet();
    const flow = new FlowControl(false, o);
    expect([flow.offer(frameNo(1)), flow.offer(frameNo(2))]).toEqual([true, true]);
    expect(flow.grant()).toBe(false);
    expect(log).toEqual(['send 1', 'send 2']);
  });
});

describe('TimeWait', () => {
  let clock: FakeClock;

  /** Frames by index; `known` holds the indexes whose time was reported. */
  const waiting = (waitMs = 20) => {
    clock = new FakeClock(0);
    const known = new Set<number>();
    const sent: number[] = [];
    const wait = new TimeWait<{ n: number }>((n) => known.has(n), waitMs, (a) => sent.push(a.n), clock);
    const time = (n: number) => {
      known.add(n);
      wait.reported(n);
    };
    return { wait, known, sent, time };
  };

  it('sends a frame at once when its time is known, else keeps it and those behind it until its time comes, in order', () => {
    const { wait, known, sent, time } = waiting();
    known.add(0);
    wait.add({ n: 0 });
    wait.add({ n: 1 }); // its time is late
    known.add(2);
    wait.add({ n: 2 }); // known, but behind frame 1
    expect(sent).toEqual([0]);
    time(1);
    expect(sent).toEqual([0, 1, 2]);
    expect(wait.size).toBe(0);
  });

  it('sends a frame on once a later frame\'s time came (ffmpeg reports in order: its own will not come)', () => {
    const { wait, sent, time } = waiting();
    wait.add({ n: 0 });
    wait.add({ n: 1 });
    wait.add({ n: 2 });
    time(1);
    expect(sent).toEqual([0, 1]);
  });

  it('waits no longer than waitMs for a frame, each from its own arrival', async () => {
    const { wait, sent } = waiting(20);
    wait.add({ n: 0 });
    clock.advance(10);
    wait.add({ n: 1 });
    clock.advance(9);
    expect(sent).toEqual([]);
    clock.advance(1);
    expect(sent).toEqual([0]);
    clock.advance(10);
    expect(sent).toEqual([0, 1]);
    expect(clock.pending).toBe(0);
  });

  it('keeps at most eight frames waiting: the oldest goes on first', () => {
    const { wait, sent } = waiting();
    for (let n = 0; n < 10; n++) wait.add({ n });
    expect(sent).toEqual([0, 1]);
    expect(wait.size).toBe(8);
  });

  it('sends every waiting frame on a flush, none on a clear (they come back to the caller)', () => {
    const { wait, sent } = waiting();
    wait.add({ n: 0 });
    wait.add({ n: 1 });
    wait.flush();
    expect(sent).toEqual([0, 1]);
    wait.add({ n: 2 });
    expect(wait.clear()).toEqual([{ n: 2 }]);
    expect(sent).toEqual([0, 1]);
    expect(clock.pending).toBe(0);
  });
});

describe('FrameReader', () => {
  /** What a channel does: each read fills at most the target it was given (the channel's scratch buffer when there is none). */
  const read = (sink: FrameReader['out'], bytes: number[]) => {
    while (bytes.length > 0) {
      const target = sink.target() ?? Buffer.alloc(64);
      const n = Math.min(target.length, bytes.length);
      target.set(bytes.splice(0, n));
      sink.received(n, target);
    }
  };

  it('keeps the bytes that come before the decoded size, then cuts both channels into frames in place, inputs in leased buffers', () => {
    const inputs: ModelInput[] = [];
    const pictures: number[][] = [];
    const reader = new FrameReader(2, { input: (input) => inputs.push(input), picture: (rgb) => pictures.push([...rgb]) });
    read(reader.out, [1, 2, 3]);
    read(reader.pictures, [9, 9]);
    expect(reader.out.target()).toBeNull();
    const leases: ModelInput[] = [];
    reader.sized(3, { input: () => leases[leases.push(lease(Buffer.alloc(2))) - 1], picture: () => Buffer.alloc(3) });
    read(reader.out, [4]);
    read(reader.pictures, [9, 8, 8, 8]);
    expect(inputs.map((i) => [...i.rgb])).toEqual([[1, 2], [3, 4]]);
    expect(inputs).toEqual(leases);
    expect(pictures).toEqual([[9, 9, 9], [8, 8, 8]]);
    read(reader.out, [5]);
    expect(reader.pendingBytes).toBe(1);
  });

  it('once closed, gives back the input it was filling and reads nothing more into frames', () => {
    const inputs: ModelInput[] = [];
    const released: Buffer[] = [];
    const reader = new FrameReader(2, { input: (input) => inputs.push(input), picture: () => undefined });
    const buffers: Buffer[] = [];
    reader.sized(3, { input: () => lease(buffers[buffers.push(Buffer.alloc(2)) - 1], released), picture: () => Buffer.alloc(3) });
    read(reader.out, [1, 2, 3]);
    reader.close();
    expect(released).toEqual([buffers[1]]);
    read(reader.out, [4, 5, 6]);
    expect(inputs).toHaveLength(1);
    expect(buffers).toHaveLength(2);
  });
});

describe('CameraSupervisor', () => {
  let clock: FakeClock;

  const supervised = () => {
    clock = new FakeClock(0);
    const { log, at } = captureLogger();
    const events: string[] = [];
    const s = new CameraSupervisor({ startMs: 3000, stallMs: 1000, stableMs: 10_000, backoffInitialMs: 500, backoffMaxMs: 500 }, {
      launch: () => events.push('launch'),
      halt: async () => {
        events.push('halt');
      },
      changed: (next: CameraState) => events.push(next),
    }, log, clock);
    return { s, events, at };
  };

  it('restarts a decoder that gives no first frame within startMs, then none within stallMs, logging each cause once', async () => {
    const { s, events, at } = supervised();
    s.start();
    await clock.advanceAsync(2999);
    expect(events).toEqual(['connecting', 'launch']);
    await clock.advanceAsync(1);
    expect(s.lastError).toMatchObject({ code: 'E_CAMERA_STALL', message: 'no first frame within 3 s (start_timeout); restarting the camera' });
    await clock.advanceAsync(500); // the backoff (≤ 500 ms) has passed: a new run
    expect(events).toEqual(['connecting', 'launch', 'reconnecting', 'halt', 'launch']);
    s.frameArrived({ width: 4, height: 2 });
    expect(s.state).toBe('online');
    await clock.advanceAsync(1000);
    expect(s.lastError?.message).toBe('no frame for 1 s (stall_timeout); restarting the camera');
    expect(s.restarts).toBe(2);
    expect(at('info').map((l) => l.msg)).toEqual(['camera recovered']);
    expect(at('warn').map((l) => l.msg)).toEqual([
      expect.stringMatching(/^no first frame within 3 s \(start_timeout\); restarting the camera; retrying in 0\.\d s/),
      expect.stringMatching(/^no frame for 1 s \(stall_timeout\); restarting the camera; retrying in/),
    ]);
    await s.stop();
    expect(s.state).toBe('stopped');
  });

  it('does not watch for a stall while the decoder is held back, and never restarts a stopped or ended camera', async () => {
    const { s, events } = supervised();
    s.start();
    s.frameArrived({});
    s.hold();
    await clock.advanceAsync(10_000);
    expect(s.restarts).toBe(0);
    s.ended();
    s.fail({ code: 'E_CAMERA_STREAM', message: 'late' });
    await clock.advanceAsync(10_000);
    expect(s.restarts).toBe(0);
    expect(events).toEqual(['connecting', 'launch', 'online', 'stopped']);
  });
});
