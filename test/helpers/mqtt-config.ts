import type { MqttConfig } from '../../src/config/schema.js';
import type { PublisherTuning } from '../../src/publish/index.js';

/** The `mqtt` config section with schema defaults, overridden by `over`. */
export function mqttConfig(over: Partial<MqttConfig> = {}): MqttConfig {
  return { embedded_port: 0, protocol_version: 5, topic_prefix: 'linesight', status_interval: 60, ...over };
}

/** Short timings so outages heal within a test's patience. */
export const fastTuning: PublisherTuning = {
  backoffInitialMs: 100,
  backoffMaxMs: 800,
  connectTimeoutMs: 3000,
  pollMs: 200,
  retryMs: 300,
  embeddedHost: '127.0.0.1',
};
