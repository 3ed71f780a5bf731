import { EventEmitter } from 'node:events';
import type { CameraConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { CameraSnapshot } from '../types.js';
import type { FrameSource } from './camera.js';

/** What the set tells the line as cameras come and go. */
export interface CameraSetEvents {
  /** A new source, before it starts: wire it to the rest of the line. */
  joined: [FrameSource, CameraConfig];
  /** The camera left: later stages forget its waiting frames and tracks. */
  left: [string];
}

/** What a camera reconfiguration changed. */
export interface CameraChanges {
  added: string[];
  removed: string[];
  restarted: string[];
}

/**
 * The line's cameras as one set of `FrameSource`s: started from the config,
 * changed in place on a reload (added ones start, removed ones stop, changed
 * ones restart; the others never notice), stopped together. `create` makes a
 * camera's source (not started yet); whoever listens to `joined` wires it.
 */
export class CameraSet extends EventEmitter<CameraSetEvents> {
  private readonly configs = new Map<string, CameraConfig>();
  private readonly sources = new Map<string, FrameSource>();

  /**
   * @param configured the config's cameras: what `configured()` tells before they start
   *   (the node status and the MES services read it from the first connection on)
   */
  constructor(private readonly create: (cfg: CameraConfig) => FrameSource, private readonly log: Logger, configured: readonly CameraConfig[] = []) {
    super();
    for (const cfg of configured) this.configs.set(cfg.id, cfg);
  }

  /** Starts a camera, or only remembers it when the config disables it. */
  start(cfg: CameraConfig): void {
    this.configs.set(cfg.id, cfg);
    if (!cfg.enabled) {
      this.log.info({ stage: 'ingest', camera: cfg.id }, 'camera disabled in the config; not started');
      return;
    }
    const source = this.create(cfg);
    this.emit('joined', source, cfg);
    this.sources.set(cfg.id, source);
    source.start();
  }

  async stop(id: string): Promise<void> {
    const source = this.sources.get(id);
    this.configs.delete(id);
    this.sources.delete(id);
    this.emit('left', id);
    await source?.stop();
  }

  /** Applies a new camera list; returns what changed. */
  async reconfigure(next: readonly CameraConfig[]): Promise<CameraChanges> {
    const wanted = new Map(next.map((c) => [c.id, c]));
    const removed = [...this.configs.keys()].filter((id) => !wanted.has(id));
    const restarted = [...this.configs.entries()]
      .filter(([id, cfg]) => wanted.has(id) && JSON.stringify(cfg) !== JSON.stringify(wanted.get(id)))
      .map(([id]) => id);
    const added = next.filter((c) => !this.configs.has(c.id)).map((c) => c.id);
    await Promise.all([...removed, ...restarted].map((id) => this.stop(id)));
    for (const id of [...restarted, ...added]) this.start(wanted.get(id)!);
    this.log.info({ stage: 'ingest', added, removed, restarted }, 'cameras reconfigured');
    return { added, removed, restarted };
  }

  /** The consumer took a frame of camera `id`: it may send the next (flow-control credit). */
  grant(id: string): void {
    this.sources.get(id)?.grant();
  }

  /** The cameras of the current config, disabled ones included. */
  configured(): CameraConfig[] {
    return [...this.configs.values()];
  }

  snapshots(): CameraSnapshot[] {
    return [...this.sources.values()].map((s) => s.snapshot());
  }

  /** Stops every camera; their ffmpeg children are gone when this settles. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.sources.values()].map((s) => s.stop()));
  }
}
