/**
 * Security headers of the overlay's HTTP answers, in one place so the page,
 * its assets, the API, the metrics, refused upgrades and Node's own 400/408/431
 * answers all carry them.
 */

/**
 * On every answer: no MIME sniffing (a JSON body is never run as a script), the
 * token in the page's URL never travels as a Referer, and no answer is framed
 * by another site (clickjacking an operator's page).
 */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/**
 * For every answer but the page: nothing in a JSON body, a metrics scrape or an
 * asset opened on its own (the SVG favicon) may load or run anything.
 */
export const LOCKED_CSP = "default-src 'none'; frame-ancestors 'none'";

/** A Host header that can be put into a CSP source as is: name or address and port, no spaces or separators. */
const PLAIN_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The page's policy: only what web/ uses. Scripts and styles from the page's
 * own origin (ES modules and one stylesheet, no inline code); images from
 * itself (favicon) and `data:` (alert thumbnails arrive as base64 JPEG;
 * previews are decoded with createImageBitmap and drawn on a canvas, which no
 * CSP directive governs); connections to itself (fetch of /api/alerts and the
 * WebSocket). Older browsers do not let `'self'` cover ws:/wss:, so the
 * socket's origin is named from the Host the page was asked for, when that
 * Host is plain enough to be quoted safely.
 */
export function pageCsp(host: string | undefined): string {
  const sockets = host !== undefined && PLAIN_HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${sockets}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** A raw HTTP/1.1 answer with no body, for sockets that never reach a request handler (refused upgrades, unparsable requests). */
export function rawAnswer(status: number, reason: string, extra: Record<string, string> = {}): string {
  const headers = { ...BASE_HEADERS, 'Content-Security-Policy': LOCKED_CSP, ...extra, Connection: 'close', 'Content-Length': '0' };
  return `HTTP/1.1 ${status} ${reason}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
}
