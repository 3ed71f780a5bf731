export { startPublisher, type Publisher, type PublisherOptions, type PublisherTuning } from './publisher.js';
export { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
export { ALERT_SCHEMA, alertPayload, type AlertPayload } from './payload.js';
export type { CameraStatusPayload, NodeStatusPayload } from './status.js';
export { alertTopic, cameraStatusTopic, nodeStatusTopic, type TopicRoot } from './topics.js';
export type { DrainCounters } from './outbox-drain.js';
