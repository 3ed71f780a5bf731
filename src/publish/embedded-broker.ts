import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { LinesightError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

export interface EmbeddedBroker {
  /** Where the publisher connects (always loopback). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the embedded aedes broker for setups without one (the demo). aedes
 * speaks MQTT 3.1.1 only, so clients must use protocol version 4. It keeps
 * sessions in memory: the outbox, not the broker, is what survives restarts.
 */
export async function startEmbeddedBroker(port: number, log: Logger, host = '0.0.0.0'): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  broker.on('clientError', (client, err) => log.debug({ client: client.id, cause: err.message }, 'embedded broker: client error'));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    const inUse = (err as { code?: string }).code === 'EADDRINUSE';
    throw new LinesightError(
      'E_MQTT',
      `Expected to start the embedded MQTT broker on ${host}:${port} but ${inUse ? 'the port is in use' : errorMessage(err)}; ` +
        'set mqtt.url to use an existing broker or mqtt.embedded_port to a free port',
      { cause: err },
    );
  }
  const actual = (server.address() as AddressInfo).port;
  log.info({ port: actual, host }, `embedded MQTT broker (MQTT 3.1.1) listening on ${host}:${actual}`);
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => broker.close(() => resolve()));
      }),
  };
}
