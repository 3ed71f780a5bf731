import { errorMessage } from '../errors.js';

/** Why a connection attempt failed or a connection was lost, in words an operator can act on. */
export interface ConnectionFailure {
  /** `refused`: the broker answered CONNACK with an error; `tls`: the handshake failed; `network`: anything else. */
  kind: 'refused' | 'tls' | 'network';
  /** CONNACK reason code, or the Node/OpenSSL error code, when there is one. */
  code?: string | number;
  message: string;
}

const HINTS: Record<ConnectionFailure['kind'], string> = {
  refused: 'check mqtt.username, mqtt.password and the broker ACL',
  tls: 'check mqtt.tls.ca (the CA that signed the broker certificate) and the host name in mqtt.url',
  network: 'is the broker running and reachable?',
};

/** Names the cause of a failure from the error mqtt.js emitted (or none: the socket just closed). */
export function describeFailure(err: unknown): ConnectionFailure {
  if (err === undefined) return { kind: 'network', message: 'the connection closed' };
  const code = (err as { code?: unknown }).code;
  const message = errorMessage(err);
  // mqtt.js ErrorWithReasonCode: "Connection refused: Not authorized" with the CONNACK reason code.
  if (typeof code === 'number' && message.startsWith('Connection refused')) {
    return { kind: 'refused', code, message: `${message} (CONNACK reason ${code})` };
  }
  if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|HOSTNAME/.test(code)) {
    return { kind: 'tls', code, message: `TLS: ${message} (${code})` };
  }
  const suffix = typeof code === 'string' || typeof code === 'number' ? ` (${code})` : '';
  return { kind: 'network', code: typeof code === 'string' || typeof code === 'number' ? code : undefined, message: `${message}${suffix}` };
}

export function hintFor(failure: ConnectionFailure): string {
  return HINTS[failure.kind];
}

/** Same cause for logging purposes: a refused CONNACK with another reason, or another kind, is news. */
export function sameCause(a: ConnectionFailure | undefined, b: ConnectionFailure): boolean {
  return a !== undefined && a.kind === b.kind && (a.kind !== 'refused' || a.code === b.code);
}
