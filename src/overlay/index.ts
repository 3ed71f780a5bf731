export { startOverlay, RECENT_ALERTS, type Overlay, type OverlayOptions } from './server.js';
export type { OverlaySource, TrackView, AlertView, Unsubscribe } from './source.js';
export * from './protocol.js';
