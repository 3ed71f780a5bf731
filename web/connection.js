// The page's WebSocket: reconnects by itself with capped, jittered backoff and
// says why it is disconnected.

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

export class Connection {
  /**
   * @param {string | null} token overlay token from the page's own URL
   * @param {{
   *   onText: (msg: any) => void,
   *   onBinary: (buf: ArrayBuffer) => void,
   *   onOpen: () => void,
   *   onDown: (why: string, retryAt: number) => void,
   * }} handlers
   */
  constructor(token, handlers) {
    this.token = token;
    this.h = handlers;
    this.attempt = 0;
    this.ws = null;
  }

  /** Headers for fetch() calls to the API. */
  authHeaders() {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  start() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const q = this.token ? `?token=${encodeURIComponent(this.token)}` : '';
    const ws = new WebSocket(`${scheme}://${location.host}/ws${q}`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.h.onOpen();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch (err) {
          console.warn('linesight: unreadable message from the server', err);
          return;
        }
        if (msg && msg.v === 1) {
          if (msg.type === 'hello') this.attempt = 0; // a healthy server: the next outage starts at the short delay
          this.h.onText(msg);
        }
      } else {
        this.h.onBinary(ev.data);
      }
    };
    ws.onerror = () => {}; // onclose follows and carries what there is to know
    ws.onclose = (ev) => this.retry(opened, ev);
  }

  /** @param {boolean} opened @param {CloseEvent} ev */
  async retry(opened, ev) {
    this.ws = null;
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt = Math.min(this.attempt + 1, 10);
    const retryAt = Date.now() + delay;
    let why = opened ? 'connection lost' : 'server unreachable';
    if (ev.code === 1013) why = ev.reason || 'too many pages open';
    else if (ev.code === 1001) why = 'server restarting';
    else if (ev.code === 4008) why = 'page fell behind';
    else if (!opened) why = await this.whyRefused(why);
    this.h.onDown(why, retryAt);
    setTimeout(() => this.start(), delay);
  }

  /** A refused handshake hides its HTTP status from the page; the API tells whether it was the token. */
  async whyRefused(fallback) {
    try {
      const res = await fetch('/api/alerts?limit=1', { headers: this.authHeaders(), cache: 'no-store' });
      if (res.status === 401) return 'ACCESS DENIED: the token in the address is missing or wrong';
    } catch {
      return fallback; // the server is down: that is the answer
    }
    return fallback;
  }
}
