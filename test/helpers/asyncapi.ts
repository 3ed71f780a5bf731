import { join } from 'node:path';
import { Parser, fromFile, type AsyncAPIDocumentInterface, type Diagnostic } from '@asyncapi/parser';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { ROOT } from './cli.js';

export const ASYNCAPI_PATH = join(ROOT, 'docs/asyncapi.yaml');

/** One channel of the document, with its address as a pattern and its payload's validator. */
export interface ContractChannel {
  id: string;
  address: string;
  pattern: RegExp;
  validate: ValidateFunction;
}

export interface Contract {
  document: AsyncAPIDocumentInterface;
  channels: ContractChannel[];
  /**
   * The channel `topic` belongs to and the problems of `body` against its
   * payload schema (empty when it is valid). An address no channel has is an
   * error: a topic on the wire that the document does not describe.
   */
  check(topic: string, body: unknown): { channel: string; problems: string[] };
}

/** Parses docs/asyncapi.yaml (resolving its $refs to the docs/*.schema.json files); errors and warnings are returned, not thrown. */
export async function parseContract(): Promise<{ document: AsyncAPIDocumentInterface | undefined; diagnostics: Diagnostic[] }> {
  return fromFile(new Parser(), ASYNCAPI_PATH).parse();
}

/**
 * The document as a checker for one line's topics: `{prefix}`, `{site}` and
 * `{line}` take the given values, any other parameter (`{camera}`) one topic
 * level. Payloads are checked with Ajv (JSON Schema 2020-12, formats on).
 */
export async function loadContract(values: { prefix: string; site: string; line: string }): Promise<Contract> {
  const { document, diagnostics } = await parseContract();
  if (!document) throw new Error(`docs/asyncapi.yaml does not parse: ${diagnostics.map((d) => `${d.path.join('.')}: ${d.message}`).join('; ')}`);
  const channels: ContractChannel[] = [];
  for (const channel of document.channels()) {
    const address = channel.address();
    if (!address) throw new Error(`channel ${channel.id()} has no address`);
    const messages = channel.messages().all();
    if (messages.length !== 1) throw new Error(`channel ${channel.id()}: expected one message, found ${messages.length}`);
    const schema = messages[0].payload()?.json();
    if (!schema) throw new Error(`channel ${channel.id()}: its message has no payload schema`);
    // A fresh Ajv per channel: the same $id may be reached from more than one channel.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    channels.push({ id: channel.id(), address, pattern: addressPattern(address, values), validate: ajv.compile(schema as object) });
  }
  return {
    document,
    channels,
    check(topic, body) {
      const channel = channels.find((c) => c.pattern.test(topic));
      if (!channel) throw new Error(`topic ${topic} is on the wire but in no channel of docs/asyncapi.yaml`);
      const ok = channel.validate(body);
      const problems = ok ? [] : (channel.validate.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
      return { channel: channel.id, problems };
    },
  };
}

function addressPattern(address: string, values: Record<string, string>): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const source = address.split(/(\{[^}]+\})/).map((part) => {
    const m = /^\{([^}]+)\}$/.exec(part);
    if (!m) return escape(part);
    return m[1] in values ? escape(values[m[1]]) : '[^/]+';
  }).join('');
  return new RegExp(`^${source}$`);
}
