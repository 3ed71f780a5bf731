import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The token a request presents: `Authorization: Bearer …` or else `?token=…`. */
export function presentedToken(req: IncomingMessage, url: URL): string | null {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (m) return m[1];
  }
  return url.searchParams.get('token');
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * A checker for the configured token; with none configured every request
 * passes. Compares digests in constant time so the answer time says nothing
 * about how much of a guess was right.
 */
export function tokenChecker(token: string | undefined): (req: IncomingMessage, url: URL) => boolean {
  if (token === undefined) return () => true;
  const expected = digest(token);
  return (req, url) => {
    const given = presentedToken(req, url);
    return given !== null && timingSafeEqual(digest(given), expected);
  };
}

/** A request URL fit for a log line: a `token=` query value (the page's own address carries one) is blanked. */
export function loggableUrl(raw: string | undefined): string {
  return (raw ?? '/').replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}
