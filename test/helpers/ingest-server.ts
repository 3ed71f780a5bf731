/**
 * The customer's cloud, as a real HTTP server on port 0: gunzips each upload,
 * validates it against docs/aggregates.schema.json, stores it once per
 * Idempotency-Key (409 for a repeat) and plays the faults a test queues.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { BatchDocument } from '../../src/sync/batch.js';
import { checkSchema, type JsonSchema } from './schema-check.js';

const schema = JSON.parse(readFileSync(new URL('../../docs/aggregates.schema.json', import.meta.url), 'utf8')) as JsonSchema;

export type Fault =
  | 'ok'
  | '500'
  | '401'
  | 'timeout' // read the body, never answer
  | 'reset' // destroy the socket as the body starts arriving
  | 'store-then-reset' // keep the batch, lose the answer
  | 'hold' // read the body, answer only when released (or never)
  | 'store-then-hold'
  | { status: 429 | 503; retryAfter: string | (() => string) };

export interface StoredBatch {
  key: string;
  doc: BatchDocument;
  sha: string;
}

export interface RequestLog {
  key: string;
  fault: string;
  status: number | 'reset' | 'none';
  sha?: string;
  auth?: string;
}

export interface IngestServer {
  readonly url: string;
  readonly faults: Fault[];
  readonly requests: RequestLog[];
  readonly stored: Map<string, StoredBatch>;
  /** Anything the server found wrong: schema, headers, a key re-sent with other bytes. */
  readonly problems: string[];
  /** Resolves when a request is being held ('hold', 'store-then-hold'). */
  nextHeld(): Promise<void>;
  /** `camera|minute` → times stored (over distinct keys). */
  minuteCounts(): Map<string, number>;
  close(): Promise<void>;
}

export async function startIngestServer(options: { token?: string; path?: string } = {}): Promise<IngestServer> {
  const faults: Fault[] = [];
  const requests: RequestLog[] = [];
  const stored = new Map<string, StoredBatch>();
  const problems: string[] = [];
  const held: ServerResponse[] = [];
  let heldWaiters: Array<() => void> = [];

  const hold = (res: ServerResponse) => {
    held.push(res);
    const waiters = heldWaiters;
    heldWaiters = [];
    for (const w of waiters) w();
  };

  const server = createServer((req, res) => {
    const fault = faults.shift() ?? 'ok';
    const key = String(req.headers['idempotency-key'] ?? '');
    const entry: RequestLog = { key, fault: typeof fault === 'string' ? fault : String(fault.status), status: 'none', auth: req.headers.authorization };
    requests.push(entry);
    if (fault === 'reset') {
      entry.status = 'reset';
      req.once('data', () => req.socket.destroy());
      return;
    }
    readBody(req).then((raw) => handle(req, res, raw, fault, entry), () => undefined);
  });

  function handle(req: IncomingMessage, res: ServerResponse, raw: Buffer, fault: Fault, entry: RequestLog): void {
    const answer = (status: number, body = '', headers: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(body);
    };
    if (req.method !== 'POST' || (options.path && req.url !== options.path)) return answer(404, 'not here');
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) return answer(401, 'bad token');
    if (fault === '401') return answer(401, 'bad token');
    if (fault === 'timeout') return hold(res);
    const sha = createHash('sha256').update(raw).digest('hex');
    entry.sha = sha;
    const found = check(req, raw, entry.key);
    if (typeof found === 'string') {
      problems.push(found);
      return answer(400, found);
    }
    if (stored.has(entry.key)) {
      if (stored.get(entry.key)?.sha !== sha) problems.push(`key ${entry.key} re-sent with different bytes`);
      return answer(409, 'already stored');
    }
    if (typeof fault === 'object') {
      const retryAfter = typeof fault.retryAfter === 'function' ? fault.retryAfter() : fault.retryAfter;
      return answer(fault.status, 'slow down', { 'retry-after': retryAfter });
    }
    if (fault === '500') return answer(500, 'internal error');
    if (fault === 'hold') return hold(res);
    stored.set(entry.key, { key: entry.key, doc: found, sha });
    if (fault === 'store-then-reset') {
      entry.status = 'reset';
      req.socket.destroy();
      return;
    }
    if (fault === 'store-then-hold') return hold(res);
    answer(201, 'stored');
  }

  function check(req: IncomingMessage, raw: Buffer, key: string): BatchDocument | string {
    if (req.headers['content-encoding'] !== 'gzip') return `expected Content-Encoding gzip, found ${req.headers['content-encoding']}`;
    if (req.headers['content-type'] !== 'application/json') return `expected Content-Type application/json, found ${req.headers['content-type']}`;
    if (!/^[0-9a-f]{64}$/.test(key)) return `expected a 64-hex Idempotency-Key, found ${JSON.stringify(key)}`;
    let doc: BatchDocument;
    try {
      doc = JSON.parse(gunzipSync(raw).toString('utf8')) as BatchDocument;
    } catch (err) {
      return `body is not gzip JSON: ${String(err)}`;
    }
    const issues = checkSchema(schema, doc);
    if (doc.batch_id !== key) issues.push(`batch_id ${doc.batch_id} differs from Idempotency-Key ${key}`);
    if (doc.row_count !== doc.rows?.length) issues.push(`row_count ${doc.row_count} but ${doc.rows?.length} rows`);
    for (const row of doc.rows ?? []) {
      const minute = Date.parse(row.minute);
      if (minute < Date.parse(doc.period.start) || minute >= Date.parse(doc.period.end)) issues.push(`row ${row.camera} ${row.minute} outside the period`);
      for (const l of [row.latency_ms, row.inspect_latency_ms]) {
        if (l.buckets.length !== doc.latency_bounds_ms.length + 1) issues.push(`row ${row.camera} ${row.minute}: ${l.buckets.length} buckets`);
      }
    }
    return issues.length > 0 ? `schema: ${issues.slice(0, 5).join('; ')}` : doc;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${options.path ?? '/ingest'}`,
    faults,
    requests,
    stored,
    problems,
    nextHeld: () => new Promise<void>((resolve) => heldWaiters.push(resolve)),
    minuteCounts() {
      const counts = new Map<string, number>();
      for (const { doc } of stored.values()) {
        for (const row of doc.rows) counts.set(`${row.camera}|${row.minute}`, (counts.get(`${row.camera}|${row.minute}`) ?? 0) + 1);
      }
      return counts;
    },
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
