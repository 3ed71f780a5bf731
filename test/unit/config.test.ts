import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from '../../src/config/load.js';

const minimal = { cameras: [{ id: 'cam1', url: 'rtsp://10.0.0.5/s1' }], model: { path: 'm.onnx' } };

function writeYaml(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-cfg-'));
  const file = join(dir, 'line.yaml');
  writeFileSync(file, text);
  return file;
}

describe('config schema', () => {
  it('fills every default', () => {
    const { config } = validateConfig(minimal);
    expect(config).toBeDefined();
    expect(config!.site).toBe('plant');
    expect(config!.cameras[0]).toMatchObject({ fps: 5, enabled: true, transport: 'tcp', exclude: [] });
    expect(config!.ingest).toMatchObject({ stall_timeout: 20, decode_threads: 1, decoder_scheduling: 'batch' });
    expect(config!.mqtt).toMatchObject({ topic_prefix: 'linesight', protocol_version: 5, embedded_port: 1883 });
    expect(config!.model).toMatchObject({ providers: ['cpu'], confidence: 0.25, iou: 0.45, batch_max: 4, sessions: 'auto' });
    expect(config!.events).toMatchObject({ confirm_hits: 3, confirm_window: 5, max_shift: 1, first_shift: 2.5 });
    expect(config!.store.retention_days).toBe(30);
    expect(config!.sync.schedule).toBe('0 2 * * *');
    expect(Object.isFrozen(config!.cameras[0])).toBe(true);
  });

  it('names every problem with its key path, what was expected and what was found', () => {
    const { problems } = validateConfig({
      site: 'plant/a',
      cameras: [{ id: 'cam1', url: 'rtsp://a' }, { id: 'cam2', url: 'rtsp://b', fps: 'ten', fsp: 3 }],
      model: { path: 'm.onnx', providers: ['gpu'] },
      mqtt: { protocol_version: 3 },
      events: { first_shift: 0 },
      ingest: { decoder_scheduling: 'fifo' },
      sync: { schedule: '61 2 * * *', url: 'ftp://cloud.example/upload' },
      extra: true,
    });
    const lines = problems.map((p) => `${p.path}: ${p.message}`);
    expect(lines).toContain('cameras[1].fps: expected positive number, received "ten" (string)');
    expect(lines).toContain('cameras[1].fsp: unknown key (check the spelling; unknown keys are errors)');
    expect(lines).toContain('extra: unknown key (check the spelling; unknown keys are errors)');
    expect(lines.find((l) => l.startsWith('model.providers[0]'))).toContain('"gpu"');
    expect(lines.find((l) => l.startsWith('site:'))).toContain('"plant/a"');
    expect(lines).toContain('events.first_shift: expected positive number, received 0 (number)');
    expect(lines.find((l) => l.startsWith('ingest.decoder_scheduling:'))).toContain('received "fifo"');
    expect(lines.find((l) => l.startsWith('sync.schedule:'))).toMatch(/expected a cron expression .*received "61 2 \* \* \*"/);
    expect(lines.find((l) => l.startsWith('sync.url:'))).toContain('expected a HTTPS URL (https://, http://), not ftp://, received "ftp://cloud.example/upload"');
    expect(lines.find((l) => l.startsWith('mqtt.protocol_version:'))).toContain('expected 5 (MQTT 5) or 4 (MQTT 3.1.1), received 3 (number)');
  });

  it('refuses settings that no longer exist, naming them', () => {
    const { problems } = validateConfig({ cameras: [{ id: 'a', url: 'x.mp4' }], model: { path: 'm.onnx', thread: 'main' }, ingest: { letterbox: 'sharp' } });
    expect(problems.map((p) => p.path).sort()).toEqual(['ingest.letterbox', 'model.thread']);
  });

  it('refuses a broker URL of another scheme, or none at all', () => {
    const bad = (url: string) => validateConfig({ cameras: [{ id: 'a', url: 'x.mp4' }], model: { path: 'm.onnx' }, mqtt: { url } }).problems;
    expect(bad('mqtts://broker.plant:8883')).toEqual([]);
    expect(bad('http://broker')[0]).toMatchObject({ path: 'mqtt.url', message: expect.stringContaining('not http://') });
    expect(bad('broker.plant:1883')[0]).toMatchObject({ path: 'mqtt.url', message: expect.stringContaining('expected a broker URL (mqtt://') });
  });

  it('requires cameras and a model', () => {
    const { problems } = validateConfig({});
    expect(problems.map((p) => p.path)).toEqual(expect.arrayContaining(['cameras', 'model']));
  });

  it('refuses duplicate camera ids and impossible confirmation settings', () => {
    const { problems } = validateConfig({
      cameras: [{ id: 'a', url: 'x.mp4' }, { id: 'a', url: 'y.mp4' }],
      model: { path: 'm.onnx' },
      events: { confirm_hits: 6, confirm_window: 5 },
    });
    expect(problems).toEqual(expect.arrayContaining([
      { path: 'cameras[1].id', message: expect.stringContaining('unique camera id (cameras[0] is also "a")') },
      { path: 'events.confirm_hits', message: expect.stringContaining('at most events.confirm_window (5)') },
    ]));
  });
});

describe('loadConfig', () => {
  it('resolves paths relative to the file and applies secrets from the environment', () => {
    const file = writeYaml('cameras:\n  - id: c1\n    url: clips/a.mp4\n  - id: c2\n    url: rtsp://cam/1\nmodel:\n  path: ../m.onnx\nmqtt:\n  username: line\n');
    const cfg = loadConfig(file, { LINESIGHT_MQTT_PASSWORD: 's3cret', LINESIGHT_OVERLAY_TOKEN: 'tok' }, { files: false });
    const dir = join(file, '..');
    expect(cfg.cameras[0].url).toBe(join(dir, 'clips/a.mp4'));
    expect(cfg.cameras[1].url).toBe('rtsp://cam/1');
    expect(cfg.model.path).toBe(join(dir, '../m.onnx'));
    expect(cfg.store.path).toBe(join(dir, 'data/linesight.db'));
    expect(cfg.mqtt.password).toBe('s3cret');
    expect(cfg.mqtt.username).toBe('line');
    expect(cfg.overlay.token).toBe('tok');
  });

  it('refuses a model or TLS file that does not exist, unless told not to look', () => {
    const file = writeYaml('cameras:\n  - id: c1\n    url: a.mp4\nmodel:\n  path: missing.onnx\nmqtt:\n  url: mqtts://broker\n  tls:\n    ca: ca.pem\n');
    let err: unknown;
    try {
      loadConfig(file, {});
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'E_CONFIG' });
    const problems = (err as { details: { problems: Array<{ path: string; message: string }> } }).details.problems;
    expect(problems.map((p) => p.path)).toEqual(['model.path', 'mqtt.tls.ca']);
    expect(problems[0].message).toMatch(/^expected an existing \.onnx file, received ".*missing\.onnx" \(no such file\)$/);
    expect(loadConfig(file, {}, { files: false }).model.path).toMatch(/missing\.onnx$/);
  });

  it('throws E_CONFIG with every problem', () => {
    const file = writeYaml('cameras:\n  - id: c1\n    url: a.mp4\n    fps: -1\nmodel: {}\n');
    expect(() => loadConfig(file, {})).toThrow(expect.objectContaining({
      code: 'E_CONFIG',
      message: expect.stringMatching(/cameras\[0\]\.fps: expected positive number, received -1 \(number\)[\s\S]*model\.path: expected path to an \.onnx file, received nothing/),
    }));
  });

  it('throws E_CONFIG_READ for YAML syntax errors and missing files', () => {
    expect(() => loadConfig(writeYaml('cameras: [\n  - id: a\n'), {})).toThrow(expect.objectContaining({ code: 'E_CONFIG_READ' }));
    expect(() => loadConfig('/nonexistent/linesight.yaml', {})).toThrow(expect.objectContaining({ code: 'E_CONFIG_READ' }));
    expect(() => loadConfig(writeYaml('- just\n- a list\n'), {})).toThrow(expect.objectContaining({
      code: 'E_CONFIG_READ', message: expect.stringContaining('expected a YAML mapping at the top level, found an array of 2'),
    }));
  });
});
