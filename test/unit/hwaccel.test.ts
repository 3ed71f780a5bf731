import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLinesightError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { cameraFfmpegArgs } from '../../src/ingest/camera.js';
import { probeVideoCodec, StreamCodec, type CodecProbe } from '../../src/ingest/codec-probe.js';
import { inputOptions, letterboxFilterGraph, letterboxOutputOptions } from '../../src/ingest/ffmpeg-args.js';
import {
  adaptArgsToFfmpeg, DEFAULT_VAAPI_DEVICE, hwaccelInputArgs, hwaccelPreFilter, jetsonCodec, jetsonDecoder, needsCodecProbe,
  parseFfmpegVersion, probeFfmpegVersion, VAAPI_DOWNLOAD_FILTER, type HwaccelKind,
} from '../../src/ingest/hwaccel.js';
import { captureLogger } from '../helpers/capture-log.js';

const RTSP = 'rtsp://user:pw@10.0.0.7:554/Streaming/Channels/101';

describe('hwaccelInputArgs', () => {
  it('none adds nothing (software decode)', () => {
    expect(hwaccelInputArgs('none', RTSP)).toEqual([]);
    expect(hwaccelPreFilter('none')).toBeUndefined();
  });

  it('jetson selects NVIDIA’s NVDEC decoder by codec, H.264 unless told otherwise', () => {
    expect(hwaccelInputArgs('jetson', RTSP)).toEqual(['-c:v', 'h264_nvv4l2dec']);
    expect(hwaccelInputArgs('jetson', RTSP, { codec: 'hevc' })).toEqual(['-c:v', 'hevc_nvv4l2dec']);
    expect(hwaccelInputArgs('jetson', RTSP, { codec: 'H265' })).toEqual(['-c:v', 'hevc_nvv4l2dec']);
    expect(hwaccelInputArgs('jetson', RTSP, { codec: 'h264' })).toEqual(['-c:v', 'h264_nvv4l2dec']);
    // NVDEC hands back nv12 in system memory: no filter needed first.
    expect(hwaccelPreFilter('jetson')).toBeUndefined();
  });

  it('jetson takes a codec hint from a file name when nothing was probed', () => {
    expect(jetsonCodec('/clips/line3.h265')).toBe('hevc');
    expect(jetsonCodec('file:///clips/line3.HEVC')).toBe('hevc');
    expect(jetsonCodec('http://cam/stream.265?token=1')).toBe('hevc');
    expect(jetsonCodec('/clips/line3.mp4')).toBe('h264');
    expect(jetsonCodec('/clips/line3.h265', 'h264')).toBe('h264'); // a probed codec wins over the name
    expect(jetsonCodec(RTSP, 'mjpeg')).toBe('h264'); // no NVDEC decoder linesight uses: the default
    expect(jetsonDecoder('hevc')).toBe('hevc_nvv4l2dec');
    expect(jetsonDecoder('mjpeg')).toBeUndefined();
  });

  it('asks the stream for its codec only for jetson, without a configured codec, where the URL gives no hint', () => {
    expect(needsCodecProbe({ hwaccel: 'jetson', url: RTSP })).toBe(true);
    expect(needsCodecProbe({ hwaccel: 'jetson', url: '/clips/line3.mp4' })).toBe(true);
    expect(needsCodecProbe({ hwaccel: 'jetson', url: RTSP, codec: 'hevc' })).toBe(false);
    expect(needsCodecProbe({ hwaccel: 'jetson', url: '/clips/line3.h265' })).toBe(false);
    expect(needsCodecProbe({ hwaccel: 'vaapi', url: RTSP })).toBe(false);
    expect(needsCodecProbe({ hwaccel: 'none', url: RTSP })).toBe(false);
  });

  it('vaapi decodes on the render node, keeps frames on the GPU and downloads them as nv12 for the rgb24 conversion', () => {
    expect(hwaccelInputArgs('vaapi', RTSP)).toEqual([
      '-hwaccel', 'vaapi', '-hwaccel_device', '/dev/dri/renderD128', '-hwaccel_output_format', 'vaapi',
    ]);
    expect(DEFAULT_VAAPI_DEVICE).toBe('/dev/dri/renderD128');
    expect(hwaccelInputArgs('vaapi', RTSP, { vaapiDevice: '/dev/dri/renderD129' })).toContain('/dev/dri/renderD129');
    expect(hwaccelPreFilter('vaapi')).toBe('scale_vaapi=format=nv12,hwdownload,format=nv12');
  });

  it('rejects an unknown preset with E_ARGUMENT', () => {
    try {
      hwaccelInputArgs('cuda' as HwaccelKind, RTSP);
      expect.unreachable();
    } catch (err) {
      expect(isLinesightError(err, 'E_ARGUMENT')).toBe(true);
    }
  });

  it('composes with the camera arguments: decoder before -i, filter at the head of the letterbox graph', () => {
    const cam = { url: RTSP, transport: 'tcp' as const, realtime: true, loop: true, fps: 5, hwaccel: 'vaapi' as const };
    const boxed = cameraFfmpegArgs(cam, { width: 320, height: 320, pictureEvery: 1, pad: 114 });
    const i = boxed.indexOf('-i');
    expect(boxed[i + 1]).toBe(RTSP);
    expect(boxed.indexOf('-hwaccel')).toBeLessThan(i);
    expect(boxed.indexOf('-hwaccel_output_format')).toBeLessThan(i);
    expect(boxed).not.toContain('-vf');
    expect(boxed[boxed.indexOf('-filter_complex') + 1]).toMatch(/^\[0:v:0\]scale_vaapi=format=nv12,hwdownload,format=nv12,select=/);
    expect(boxed.filter((a) => a.startsWith('pipe:'))).toEqual(['pipe:1', 'pipe:3']);
    // A Jetson camera names its NVDEC decoder by the codec given (configured or probed).
    const jetson = cameraFfmpegArgs({ ...cam, hwaccel: 'jetson', codec: 'hevc' }, { width: 320, height: 320, pictureEvery: 1, pad: 114 });
    expect(jetson.slice(jetson.indexOf('-c:v'), jetson.indexOf('-c:v') + 2)).toEqual(['-c:v', 'hevc_nvv4l2dec']);
    expect(jetson.indexOf('-c:v')).toBeLessThan(jetson.indexOf('-i'));
  });

  it('sets ingest.decode_threads for the decoder and the filter graph; 0 leaves ffmpeg\'s default there', () => {
    const cam = { url: '/data/clip.mp4', transport: 'tcp' as const, realtime: false, loop: true, fps: 5, hwaccel: 'none' as const };
    const plan = { width: 320, height: 320, pictureEvery: 2, pad: 114 };
    const boxed = cameraFfmpegArgs(cam, plan, 1);
    const i = boxed.indexOf('-i');
    expect(boxed.slice(boxed.indexOf('-threads'), boxed.indexOf('-threads') + 4)).toEqual(['-threads', '1', '-filter_complex_threads', '1']);
    expect(boxed.indexOf('-threads')).toBeLessThan(i); // an input option: the decoder's
    const inputPart = (args: string[]) => args.slice(0, args.indexOf('-i'));
    expect(inputPart(cameraFfmpegArgs(cam, plan, 2)).filter((a) => a.includes('threads'))).toEqual(['-threads', '-filter_complex_threads']);
    expect(inputPart(cameraFfmpegArgs(cam, plan, 0)).some((a) => a.includes('threads'))).toBe(false);
    // Each raw output's encoder (a copy) has one thread whatever the setting: a frame-threaded one holds every frame back a frame.
    for (const threads of [0, 2]) {
      const args = cameraFfmpegArgs(cam, plan, threads);
      expect(args.slice(args.indexOf('-i')).filter((a, k, all) => a === '-threads' && all[k + 1] === '1')).toHaveLength(2);
    }
  });

  it('rewrites the letterbox outputs for NVIDIA\'s ffmpeg 4.2 (-vsync for -fps_mode)', () => {
    const boxed = cameraFfmpegArgs({ url: RTSP, transport: 'tcp', realtime: true, loop: true, fps: 5, hwaccel: 'jetson' }, { width: 320, height: 320, pictureEvery: 2, pad: 114 });
    const old = adaptArgsToFfmpeg(boxed, { major: 4, minor: 2, raw: '4.2.7' });
    expect(old).not.toContain('-fps_mode');
    expect(old.filter((a, k) => a === '-vsync' && old[k + 1] === 'passthrough')).toHaveLength(2);
    expect(old).toContain('-stimeout');
  });
});

describe('ffmpeg version differences', () => {
  it('parses the version line of the builds linesight meets', () => {
    expect(parseFfmpegVersion('ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024')).toMatchObject({ major: 5, minor: 1 });
    expect(parseFfmpegVersion('ffmpeg version 4.2.7-0ubuntu0.1 Copyright (c) 2000-2022')).toMatchObject({ major: 4, minor: 2 });
    expect(parseFfmpegVersion('ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright')).toMatchObject({ major: 4, minor: 4 });
    expect(parseFfmpegVersion('ffmpeg version n6.1 Copyright')).toMatchObject({ major: 6, minor: 1 });
    expect(parseFfmpegVersion('ffmpeg version N-113000-gabcdef Copyright')?.major).toBeGreaterThan(100);
    expect(parseFfmpegVersion('not ffmpeg')).toBeUndefined();
  });

  const rtspCam = { url: RTSP, transport: 'tcp' as const, realtime: true, loop: true, fps: 5 };
  const plan = { width: 320, height: 320, pictureEvery: 2, pad: 114 };
  const full = () => [...inputOptions(rtspCam), '-i', RTSP, '-filter_complex', letterboxFilterGraph(rtspCam.fps, plan), ...letterboxOutputOptions()];
  const graphOf = (args: string[]) => args[args.indexOf('-filter_complex') + 1];

  it('leaves the arguments alone for FFmpeg ≥ 5.1 and for an unknown version', () => {
    expect(adaptArgsToFfmpeg(full(), { major: 5, minor: 1, raw: '5.1.6' })).toEqual(full());
    expect(adaptArgsToFfmpeg(full(), { major: 7, minor: 0, raw: '7.0' })).toEqual(full());
    expect(adaptArgsToFfmpeg(full(), undefined)).toEqual(full());
  });

  it('for NVIDIA’s FFmpeg 4.2: RTSP socket timeout is -stimeout (4.x -timeout means listen), -vsync instead of -fps_mode, plain loglevel', () => {
    const out = adaptArgsToFfmpeg(full(), { major: 4, minor: 2, raw: '4.2.7' });
    expect(out).not.toContain('-timeout');
    expect(out[out.indexOf('-stimeout') + 1]).toBe('10000000');
    expect(out).not.toContain('-fps_mode');
    expect(out[out.indexOf('-vsync') + 1]).toBe('passthrough');
    expect(out[out.indexOf('-loglevel') + 1]).toBe('verbose');
    // showinfo's checksum option is not relied upon before 5.0.
    expect(graphOf(out)).toContain(',showinfo@ts[input]');
    expect(graphOf(out)).not.toContain('checksum');
    expect(out.length).toBe(full().length);
  });

  it('for FFmpeg 5.0: -timeout is already the socket timeout, only -fps_mode changes', () => {
    const out = adaptArgsToFfmpeg(full(), { major: 5, minor: 0, raw: '5.0.3' });
    expect(out).toContain('-timeout');
    expect(out).toContain('-vsync');
    expect(out[out.indexOf('-loglevel') + 1]).toBe('level+verbose');
    expect(graphOf(out)).toContain(',showinfo@ts=checksum=0[input]');
  });

  it('the local ffmpeg reports its version', () => {
    const v = probeFfmpegVersion('ffmpeg');
    expect(v?.major).toBeGreaterThanOrEqual(5);
    expect(probeFfmpegVersion('/nonexistent/ffmpeg')).toBeUndefined();
  });

  it('the local ffmpeg knows the VA-API download filter chain and its options', () => {
    // Parsing only (no GPU here): an unknown filter or option fails at graph parse time.
    const r = spawnSync('ffmpeg', ['-hide_banner', '-h', 'filter=scale_vaapi'], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/format\s+<string>/);
    for (const f of VAAPI_DOWNLOAD_FILTER.split(',').map((s) => s.split('=')[0])) {
      expect(spawnSync('ffmpeg', ['-hide_banner', '-h', `filter=${f}`], { encoding: 'utf8' }).stdout).toMatch(new RegExp(`Filter ${f}`));
    }
  });
});

describe('probing the codec (real ffprobe on generated clips)', () => {
  let dir: string;
  const clip = (name: string, codec: string) => {
    const path = join(dir, name);
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=5', '-t', '1',
      '-pix_fmt', 'yuv420p', '-c:v', codec, '-y', path], { stdio: 'pipe' }); // x265 logs to stderr whatever -loglevel says
    return path;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'linesight-hwaccel-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds H.264 and HEVC, which pick the matching NVDEC decoder', async () => {
    for (const [file, codec, expected] of [['a.mp4', 'libx264', 'h264'], ['b.mkv', 'libx265', 'hevc']] as const) {
      const path = clip(file, codec);
      const probed = await probeVideoCodec(path);
      expect(probed).toEqual({ codec: expected });
      expect(hwaccelInputArgs('jetson', path, { codec: probed.codec })).toEqual(['-c:v', `${expected}_nvv4l2dec`]);
    }
  });

  it('says why instead of throwing when the probe fails, is missing, takes too long or is aborted', async () => {
    expect((await probeVideoCodec(join(dir, 'missing.mp4'))).problem).toMatch(/exit code 1: .*missing\.mp4: No such file or directory/);
    expect((await probeVideoCodec(join(dir, 'a.mp4'), { ffprobe: '/nonexistent/ffprobe' })).problem).toMatch(/ENOENT/);
    // A camera that accepts the connection and never answers: killed at the timeout, or when the camera stops.
    const server = createServer(() => undefined).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      expect(await probeVideoCodec(`rtsp://127.0.0.1:${port}/stream`, { timeoutMs: 500 })).toEqual({ problem: 'no answer within 0.5 s' });
      const abort = new AbortController();
      const probing = probeVideoCodec(`rtsp://127.0.0.1:${port}/stream`, { signal: abort.signal });
      abort.abort();
      expect((await probing).problem).toMatch(/abort/i);
    } finally {
      server.close();
    }
  });
});

describe('StreamCodec: the codec a Jetson camera\'s decoder is chosen by', () => {
  const never = new AbortController().signal;
  /** A probe that answers from a list and counts its calls. */
  const answers = (...list: CodecProbe[]) => {
    const asked: string[] = [];
    const probe = async (url: string) => {
      asked.push(url);
      return list.shift() ?? { problem: 'no more answers' };
    };
    return { probe, asked };
  };

  it('asks the stream once and keeps the answer across restarts; asks again after a start that delivered nothing', async () => {
    const { probe, asked } = answers({ codec: 'hevc' }, { codec: 'h264' });
    const codec = new StreamCodec({ url: RTSP, transport: 'tcp', hwaccel: 'jetson' }, silentLogger(), probe);
    expect(await codec.resolve(never)).toBe('hevc');
    expect(await codec.resolve(never)).toBe('hevc');
    expect(asked).toHaveLength(1);
    codec.forget();
    expect(await codec.resolve(never)).toBe('h264');
    expect(asked).toHaveLength(2);
  });

  it('never asks when the config or the URL says, or without hwaccel jetson', async () => {
    const { probe, asked } = answers();
    expect(await new StreamCodec({ url: RTSP, transport: 'tcp', hwaccel: 'jetson', codec: 'hevc' }, silentLogger(), probe).resolve(never)).toBe('hevc');
    expect(await new StreamCodec({ url: '/clips/a.h265', transport: 'tcp', hwaccel: 'jetson' }, silentLogger(), probe).resolve(never)).toBeUndefined();
    expect(await new StreamCodec({ url: RTSP, transport: 'tcp', hwaccel: 'none' }, silentLogger(), probe).resolve(never)).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it('without an answer decodes as H.264 for now, warns once per cause, and asks again at the next start', async () => {
    const { probe, asked } = answers({ problem: 'exit code 1: Connection refused' }, { problem: 'exit code 1: Connection refused' }, { codec: 'mjpeg' }, { codec: 'hevc' });
    const { log, at } = captureLogger();
    const codec = new StreamCodec({ url: RTSP, transport: 'tcp', hwaccel: 'jetson' }, log, probe);
    for (let i = 0; i < 3; i++) expect(await codec.resolve(never)).toBeUndefined();
    expect(at('warn').map((l) => l.msg)).toEqual([
      'ffprobe could not read the stream\'s codec (exit code 1: Connection refused); decoding as h264 for now and asking again at the next start (set cameras[].codec to skip this)',
      'the stream is mjpeg, which has no NVDEC decoder here; decoding as h264 for now and asking again at the next start (set cameras[].codec to skip this)',
    ]);
    expect(await codec.resolve(never)).toBe('hevc');
    expect(asked).toHaveLength(4);
    expect(at('info').map((l) => [l.msg, l.decoder])).toEqual([['read the stream\'s codec for the Jetson decoder', 'hevc_nvv4l2dec']]);
  });
});
