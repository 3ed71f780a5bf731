/**
 * The topic layout of the public MQTT contract (docs/mqtt.md):
 * `{prefix}/{site}/{line}/{camera}/alert`, `{prefix}/{site}/{line}/{camera}/health`,
 * `{prefix}/{site}/{line}/{camera}/verdict`,
 * `{prefix}/{site}/{line}/{camera}/status`
 * and `{prefix}/{site}/{line}/status`. Site, line and camera ids are validated
 * by the config schema to be single topic levels without wildcards.
 */
export interface TopicRoot {
  prefix: string;
  site: string;
  line: string;
}

function root({ prefix, site, line }: TopicRoot): string {
  return `${prefix.replace(/\/+$/, '')}/${site}/${line}`;
}

export function alertTopic(r: TopicRoot, camera: string): string {
  return `${root(r)}/${camera}/alert`;
}

export function healthTopic(r: TopicRoot, camera: string): string {
  return `${root(r)}/${camera}/health`;
}

export function verdictTopic(r: TopicRoot, camera: string): string {
  return `${root(r)}/${camera}/verdict`;
}

export function cameraStatusTopic(r: TopicRoot, camera: string): string {
  return `${root(r)}/${camera}/status`;
}

/** A line-level topic below the root: `{prefix}/{site}/{line}/{suffix}` (e.g. `context`, `recipe/set`, `cmd/replay`). */
export function lineTopic(r: TopicRoot, suffix: string): string {
  return `${root(r)}/${suffix}`;
}

export function nodeStatusTopic(r: TopicRoot): string {
  return `${root(r)}/status`;
}
