import { LinesightError, describeValue } from '../errors.js';
import { isoTime } from '../clock.js';
import type { AlertRecord } from '../store/types.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since` for `linesight alerts`: a duration back from `now` (`90s`, `30m`,
 * `1h`, `2d`, or combined `1h30m`) or an ISO 8601 time. Returns ms since epoch.
 *
 * @example
 * parseSince('1h', Date.parse('2025-03-04T06:00:00Z')) // Date.parse('2025-03-04T05:00:00Z')
 */
export function parseSince(text: string, now = Date.now()): number {
  const trimmed = text.trim();
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)([smhd])/g)];
  if (parts.length > 0 && parts.map((p) => p[0]).join('') === trimmed) {
    return now - parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]], 0);
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const ts = Date.parse(trimmed);
    if (Number.isFinite(ts)) return ts;
  }
  throw new LinesightError('E_CLI',
    `Expected --since as a duration (90s, 30m, 1h, 2d, 1h30m) or an ISO 8601 time (2025-03-04T05:00:00Z) but received ${describeValue(text)}`);
}

/**
 * Alerts as `linesight alerts` prints them: oldest first, one line each, then a
 * summary line. With `json`, one `linesight.alert`-like JSON object per line instead.
 *
 * @example
 * process.stdout.write(formatAlerts(store.recentAlerts({ since: parseSince('1h'), limit: 10_000 }), { since }));
 */
export function formatAlerts(records: readonly AlertRecord[], options: { since?: number; json?: boolean } = {}): string {
  const ordered = [...records].sort((a, b) => a.ts - b.ts || a.camera.localeCompare(b.camera) || a.seq - b.seq);
  if (options.json) {
    return ordered.map((r) => `${JSON.stringify({
      id: r.id, seq: r.seq, ts: isoTime(r.ts), camera: r.camera, class: r.className, confidence: r.confidence,
      box: r.box, track_id: r.trackId, status: r.status, ...(r.sentAt === undefined ? {} : { sent_at: isoTime(r.sentAt) }),
    })}\n`).join('');
  }
  const lines = ordered.map((r) => [
    isoTime(r.ts),
    r.camera,
    `#${r.seq}`,
    r.className,
    r.confidence.toFixed(2),
    `box ${round(r.box.x)},${round(r.box.y)} ${round(r.box.w)}×${round(r.box.h)}`,
    r.status,
  ].join('  '));
  const span = options.since === undefined ? '' : ` since ${isoTime(options.since)}`;
  const byClass = new Map<string, number>();
  for (const r of ordered) byClass.set(r.className, (byClass.get(r.className) ?? 0) + 1);
  const classes = [...byClass].map(([name, n]) => `${name} ${n}`).join(', ');
  lines.push(`${ordered.length} alert(s)${span}${classes ? `: ${classes}` : ''}`);
  return `${lines.join('\n')}\n`;
}

function round(v: number): string {
  return String(Math.round(v));
}
