import { destination, pino, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Human-readable output (pino-pretty) instead of JSON lines. */
  pretty?: boolean;
  /** Write to this fd instead of stdout (tests use 2 to keep stdout clean). */
  destination?: number;
}

/**
 * The root logger. Child loggers add `stage` and `camera` so every line can be
 * filtered per stage and per camera; errors add `code` from the catalogue.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (options.pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: options.destination ?? 1, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, base: { pid: process.pid } }, destination({ fd: options.destination ?? 1, sync: false }));
}

/** A logger that discards everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
