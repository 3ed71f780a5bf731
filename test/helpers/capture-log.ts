import { pino, type Logger } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger whose JSON lines land in an array, for asserting what operators would read. */
export function captureLogger(level = 'debug'): { log: Logger; lines: LogLine[]; at(name: 'warn' | 'info' | 'error'): LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const levels = { info: 30, warn: 40, error: 50 };
  return { log, lines, at: (name) => lines.filter((l) => l.level === levels[name]) };
}
