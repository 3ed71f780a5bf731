import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log.js';
import { systemClock, type Clock, type Timer } from '../clock.js';

/** Why an upgrade's Origin was refused, for the log and the tests. */
export interface OriginRefusal {
  origin: string;
  host: string | null;
}

/** The origin a URL-ish string names (`https://Hmi.Plant:443/x` → `https://hmi.plant`), or null when it names none. */
function originOf(value: string): string | null {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
  } catch {
    return null;
  }
}

/**
 * Which WebSocket upgrades may come from which page. A browser always sends
 * `Origin` on a WebSocket handshake and a page cannot forge it, while a
 * cross-site page can make the browser carry the token (a link with ?token=, a
 * saved credential). With a token set, a present Origin must therefore be the
 * overlay's own (`http(s)://` + the request's Host) or one of
 * `overlay.allowed_origins`. No Origin at all means a script or a service, not
 * a browser: only the token applies to it.
 *
 * Without a token there is no check: an open overlay is already readable by
 * anyone who can reach its port, so refusing some pages would protect nothing.
 *
 * @example
 *   const refusal = originChecker(true, ['https://hmi.plant.local']);
 *   refusal(req); // null to admit, { origin, host } to answer 403
 */
export function originChecker(enabled: boolean, allowed: readonly string[]): (req: IncomingMessage) => OriginRefusal | null {
  if (!enabled) return () => null;
  const listed = new Set(allowed.map(originOf).filter((o): o is string => o !== null));
  return (req) => {
    const origin = req.headers.origin;
    if (origin === undefined) return null;
    const host = req.headers.host ?? null;
    const given = originOf(origin);
    if (given !== null && listed.has(given)) return null;
    if (given !== null && host !== null && (given === originOf(`http://${host}`) || given === originOf(`https://${host}`))) return null;
    return { origin, host };
  };
}

/**
 * Logs refusals without letting a page that retries in a loop flood the log:
 * the first at warn at once, then at most one warn per `everyMs` with how many
 * were refused meanwhile and the latest one's details.
 */
export class RefusalLog {
  private suppressed = 0;
  private latest: Record<string, unknown> = {};
  private lastAt = -Infinity;
  private timer: Timer | null = null;

  constructor(private readonly log: Logger, private readonly msg: string, private readonly everyMs = 60_000, private readonly clock: Clock = systemClock) {}

  note(details: Record<string, unknown>): void {
    const now = this.clock.monotonic();
    if (now - this.lastAt >= this.everyMs && this.timer === null) {
      this.lastAt = now;
      this.log.warn(details, this.msg);
      return;
    }
    this.suppressed++;
    this.latest = details;
    this.timer ??= this.clock.setTimeout(() => this.flush(), Math.max(0, this.lastAt + this.everyMs - now));
  }

  /** Stops the pending summary (the count is logged if there is one). */
  close(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.flush();
  }

  private flush(): void {
    this.timer = null;
    if (this.suppressed === 0) return;
    this.log.warn({ ...this.latest, refused: this.suppressed, sinceMs: Math.round(this.clock.monotonic() - this.lastAt) }, `${this.msg} (${this.suppressed} more since the last report)`);
    this.lastAt = this.clock.monotonic();
    this.suppressed = 0;
  }
}
