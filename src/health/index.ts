export { CameraHealthMonitor, type HealthMonitorOptions } from './monitor.js';
export { healthConfigFor, type HealthCheckName, type ResolvedHealthConfig } from './config.js';
export type { HealthChange, HealthReason, HealthSnapshot, HealthStateName, HealthValues } from './types.js';
