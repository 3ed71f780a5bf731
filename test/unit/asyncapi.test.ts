import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../helpers/cli.js';
import { loadContract, parseContract, ASYNCAPI_PATH } from '../helpers/asyncapi.js';

interface RawDoc {
  channels: Record<string, { address: string; messages: Record<string, { payload: { $ref?: string } }> }>;
  operations: Record<string, { action: string; channel: { $ref: string } }>;
}
const raw = parse(readFileSync(ASYNCAPI_PATH, 'utf8')) as RawDoc;

describe('docs/asyncapi.yaml', () => {
  it('is a valid AsyncAPI 3 document: no error, warning or hint from @asyncapi/parser', async () => {
    const { document, diagnostics } = await parseContract();
    expect(diagnostics.map((d) => `${d.code} ${d.path.join('.')}: ${d.message}`)).toEqual([]);
    expect(document?.version()).toMatch(/^3\./);
  });

  it('takes every payload from a docs/*.schema.json file, and references every one that describes a topic', () => {
    const refs = Object.values(raw.channels).flatMap((c) => Object.values(c.messages).map((m) => m.payload.$ref));
    for (const ref of refs) expect(ref).toMatch(/^\.\/[a-z-]+\.schema\.json(#\/\$defs\/[A-Za-z]+)?$/);
    const files = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.schema.json'));
    // The per-minute statistics go to the cloud upload, not over MQTT.
    expect(files.filter((f) => f !== 'aggregates.schema.json').map((f) => `./${f}`).sort()).toEqual([...new Set(refs.map((r) => r?.replace(/#.*$/, '')))].sort());
  });

  it('has an operation for every channel, sent or received', () => {
    const used = new Set(Object.values(raw.operations).map((o) => o.channel.$ref.replace('#/channels/', '')));
    expect([...used].sort()).toEqual(Object.keys(raw.channels).sort());
    for (const o of Object.values(raw.operations)) expect(['send', 'receive']).toContain(o.action);
  });

  it('finds the channel of a topic and checks the payload against its schema', async () => {
    const contract = await loadContract({ prefix: 'linesight', site: 'plant', line: 'line1' });
    expect(contract.check('linesight/plant/line1/status', { state: 'offline' })).toEqual({ channel: 'nodeStatus', problems: [] });
    expect(contract.check('linesight/plant/line1/cam1/status', { state: 'offline' }).problems).not.toEqual([]);
    expect(contract.check('linesight/plant/line1/cmd/replay', { request_id: 'r1', camera: 'cam1', from_seq: 1, to_seq: 3 }).problems).toEqual([]);
    expect(() => contract.check('linesight/plant/line1/cam1/secret', {})).toThrow(/in no channel/);
    expect(() => contract.check('linesight/other/line1/status', {})).toThrow(/in no channel/);
  });
});
