export { startPublisher, type Publisher, type PublisherOptions, type PublisherTuning } from './publisher.js';
export { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
export { ALERT_SCHEMA, alertPayload, type AlertPayload } from './payload.js';
export type { CameraHealthStatus, CameraStatusPayload, NodeStatusPayload } from './status.js';
export { HEALTH_SCHEMA, healthPayload, type HealthPayload } from './health-payload.js';
export { alertTopic, cameraStatusTopic, healthTopic, lineTopic, nodeStatusTopic, verdictTopic, type TopicRoot } from './topics.js';
export type { InboundMessage, MessageHandler } from './client.js';
export type { DrainCounters } from './outbox-drain.js';
export { VERDICT_SCHEMA, verdictPayload, type VerdictPayload } from './verdict-payload.js';
