import { get } from 'sparkplug-payload';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { LinesightError, describeValue, errorMessage } from '../errors.js';
import { BDSEQ, REBIRTH, type Metric } from './metrics.js';

/**
 * Sparkplug B payloads: encoded and decoded by the `sparkplug-payload` codec
 * (Eclipse Tahu's protobuf schema); what goes in them is ours.
 */

const codec = namespaceCodec();

function namespaceCodec(): NonNullable<ReturnType<typeof get>> {
  const c = get('spBv1.0');
  if (!c) throw new LinesightError('E_SPARKPLUG', 'Expected the sparkplug-payload codec to know the spBv1.0 namespace but it returned none');
  return c;
}

export interface PayloadInput {
  /** ms since epoch. */
  timestamp: number;
  /** 0–255; absent only in NDEATH (§6.4.6). */
  seq?: number;
  metrics: readonly Metric[];
}

export function encodePayload(p: PayloadInput): Buffer {
  const payload: UPayload = { timestamp: p.timestamp, metrics: p.metrics.map(toUMetric), ...(p.seq === undefined ? {} : { seq: p.seq }) };
  const bytes = codec.encodePayload(payload);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** NDEATH: the connection's bdSeq and a timestamp, no seq (Sparkplug B 3.0 §6.4.6). */
export function deathPayload(bdSeq: number, timestamp: number): Buffer {
  return encodePayload({ timestamp, metrics: [{ name: BDSEQ, type: 'Int64', value: bdSeq }] });
}

/** What an NCMD asks: a rebirth, and the names of the metrics linesight does not act on. */
export interface NodeCommand {
  rebirth: boolean;
  ignored: string[];
}

/** Reads an NCMD payload; E_SPARKPLUG when it is not a Sparkplug B payload. */
export function parseNodeCommand(bytes: Buffer): NodeCommand {
  let metrics: UMetric[];
  try {
    metrics = codec.decodePayload(bytes).metrics ?? [];
  } catch (err) {
    throw new LinesightError('E_SPARKPLUG', `Expected a Sparkplug B payload in an NCMD but could not decode ${bytes.length} bytes: ${errorMessage(err)}`, { cause: err });
  }
  const out: NodeCommand = { rebirth: false, ignored: [] };
  for (const m of metrics) {
    if (m.name === REBIRTH) out.rebirth ||= m.value === true;
    else out.ignored.push(m.name ?? `alias ${String(m.alias)}`);
  }
  return out;
}

/** A host application's STATE (Sparkplug B 3.0 §5.7): JSON `{online, timestamp}`. */
export interface HostState {
  online: boolean;
  /** ms since epoch, set by the host; orders its STATE messages. */
  timestamp: number;
}

/** Reads a STATE payload; E_SPARKPLUG when it is not the 3.0 JSON form. */
export function parseHostState(bytes: Buffer): HostState {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new LinesightError('E_SPARKPLUG', `Expected a STATE payload of JSON {"online": true|false, "timestamp": ms} but found ${describeText(bytes)}`, { cause: err });
  }
  const b = body as { online?: unknown; timestamp?: unknown } | null;
  if (typeof b !== 'object' || b === null || typeof b.online !== 'boolean' || typeof b.timestamp !== 'number' || !Number.isFinite(b.timestamp)) {
    const found = typeof b === 'object' && b !== null ? `online ${describeValue(b.online)}, timestamp ${describeValue(b.timestamp)}` : describeValue(b);
    throw new LinesightError('E_SPARKPLUG', `Expected a STATE payload of JSON {"online": true|false, "timestamp": ms} but found ${found}`);
  }
  return { online: b.online, timestamp: b.timestamp };
}

function toUMetric(m: Metric): UMetric {
  return {
    name: m.name, type: m.type, value: m.value,
    ...(m.timestamp === undefined ? {} : { timestamp: m.timestamp }),
    ...(m.isHistorical ? { isHistorical: true } : {}),
  };
}

function describeText(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.length > 60 ? `${JSON.stringify(text.slice(0, 60))}…` : JSON.stringify(text);
}
