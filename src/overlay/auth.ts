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

/** Whether a request may judge alerts: `ok`, or why not (no token, the viewer token, another token). */
export type OperatorCheck = 'ok' | 'missing' | 'viewer' | 'wrong';

/**
 * A checker for the operator actions (verdicts). With no token configured at
 * all the overlay is an open demo and so are its actions; once either token is
 * set, only `Authorization: Bearer <operator token>` acts (never `?token=`: a
 * link must not carry the right to judge). The viewer token is told apart so
 * its holder learns that watching is not judging. Digests compared in constant time.
 */
export function operatorChecker(viewerToken: string | undefined, operatorToken: string | undefined): (req: IncomingMessage) => OperatorCheck {
  if (viewerToken === undefined && operatorToken === undefined) return () => 'ok';
  const operator = operatorToken === undefined ? undefined : digest(operatorToken);
  const viewer = viewerToken === undefined ? undefined : digest(viewerToken);
  return (req) => {
    const m = /^Bearer\s+(.+)$/i.exec((typeof req.headers.authorization === 'string' ? req.headers.authorization : '').trim());
    if (!m) return 'missing';
    const given = digest(m[1]);
    // Both comparisons always run, so the time taken says nothing about which one matched.
    const isOperator = operator !== undefined && timingSafeEqual(given, operator);
    const isViewer = viewer !== undefined && timingSafeEqual(given, viewer);
    return isOperator ? 'ok' : isViewer ? 'viewer' : 'wrong';
  };
}
