// Operator verdicts: the two API calls, who is acting, and what went wrong.
// The operator's name and token live in sessionStorage: they stay with this tab
// and end with it, never in the address (shown, logged, bookmarked) nor in
// localStorage (it outlives the shift and is shared by every tab of the station).

const NAME_KEY = 'linesight.operator.name';
const TOKEN_KEY = 'linesight.operator.token';

/** @typedef {{ ok: boolean, status: number, body: any }} Answer */

export class Verdicts {
  /**
   * @param {string | null} overlayToken the page's own access token, from its address
   * @param {HTMLDialogElement} dialog asks who is acting: name and, where the server wants one, token
   * @param {HTMLElement} errorEl says why an action was refused
   */
  constructor(overlayToken, dialog, errorEl) {
    this.overlayToken = overlayToken;
    this.dialog = dialog;
    this.errorEl = errorEl;
    /** 'open', 'token', or null when the server takes no verdicts (an older one). */
    this.mode = null;
    errorEl.addEventListener('click', () => { errorEl.hidden = true; });
    dialog.querySelector('.cancel')?.addEventListener('click', () => dialog.close());
  }

  /** @param {unknown} mode `operatorActions` of the hello */
  setMode(mode) {
    this.mode = mode === 'open' || mode === 'token' ? mode : null;
  }

  /**
   * @param {string} alertId
   * @param {'confirmed' | 'false_alarm'} verdict
   * @param {boolean} replace changes an earlier verdict
   * @returns {Promise<Answer | null>} null when the operator cancelled
   */
  judge(alertId, verdict, replace) {
    return this.post(`/api/alerts/${encodeURIComponent(alertId)}/verdict`, replace ? { verdict, replace: true } : { verdict });
  }

  /**
   * @param {string} camera
   * @param {string} cls class name
   * @param {{ x: number, y: number, w: number, h: number }} box source-frame pixels
   * @param {{ width: number, height: number, ts?: number }} frame
   * @returns {Promise<Answer | null>}
   */
  missed(camera, cls, box, frame) {
    return this.post(`/api/cameras/${encodeURIComponent(camera)}/missed`, { class: cls, box, frame });
  }

  /**
   * Takes back a missed defect drawn by mistake.
   * @param {string} verdictId the missed defect's id
   * @returns {Promise<Answer | null>}
   */
  withdraw(verdictId) {
    return this.post(`/api/verdicts/${encodeURIComponent(verdictId)}/withdraw`, {});
  }

  /**
   * Tells the server which frame a tile froze, so it keeps that exact frame for
   * the defects drawn on it. Quiet: only with the operator's token already at
   * hand (or none needed), never asking, never showing an error; a frame not
   * kept only means the drawing lands on the nearest recent one.
   * @param {string} camera
   * @param {number} ts the frozen frame's capture time (ms)
   */
  freeze(camera, ts) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (this.mode === null || (this.mode === 'token' && !token)) return;
    const headers = { 'Content-Type': 'application/json' };
    if (this.mode === 'token') headers.Authorization = `Bearer ${token}`;
    const q = this.overlayToken ? `?token=${encodeURIComponent(this.overlayToken)}` : '';
    fetch(`/api/cameras/${encodeURIComponent(camera)}/freeze${q}`, { method: 'POST', headers, body: JSON.stringify({ ts }), cache: 'no-store' })
      .catch(() => {});
  }

  /** Posts as the operator; a missing, wrong or viewer-only token (401, 403) asks for it again until it passes or the operator gives up. */
  async post(path, body) {
    let why = '';
    for (;;) {
      const who = await this.identity(why);
      if (!who) return null;
      const headers = { 'Content-Type': 'application/json' };
      if (this.mode === 'token') headers.Authorization = `Bearer ${who.token}`;
      // Authorization carries the operator's token, so the page's own token travels as ?token= (the API reads either).
      const q = this.overlayToken ? `?token=${encodeURIComponent(this.overlayToken)}` : '';
      let res;
      try {
        res = await fetch(path + q, { method: 'POST', headers, body: JSON.stringify({ ...body, operator: who.name }), cache: 'no-store' });
      } catch (err) {
        this.showError(`Not sent: the server cannot be reached (${err instanceof Error ? err.message : String(err)})`);
        return { ok: false, status: 0, body: null };
      }
      const answer = await res.json().catch(() => null);
      if ((res.status === 401 || res.status === 403) && this.mode === 'token') {
        sessionStorage.removeItem(TOKEN_KEY);
        why = answer?.message ?? 'The operator token was refused.';
        continue;
      }
      // 409 (already judged) is the caller's to explain on the card; every other refusal is shown here.
      if (res.ok) this.errorEl.hidden = true;
      else if (res.status !== 409) this.showError(`Not saved (${res.status}): ${answer?.message ?? res.statusText}`);
      return { ok: res.ok, status: res.status, body: answer };
    }
  }

  /** @param {string} text */
  showError(text) {
    this.errorEl.textContent = text;
    this.errorEl.title = 'tap to dismiss';
    this.errorEl.hidden = false;
  }

  /** @param {string} why asked again because… (empty the first time) */
  identity(why) {
    const name = sessionStorage.getItem(NAME_KEY);
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!why && name && (this.mode === 'open' || token)) return Promise.resolve({ name, token });
    return this.ask(why);
  }

  /** @returns {Promise<{ name: string, token: string | null } | null>} */
  ask(why) {
    const d = this.dialog;
    const form = /** @type {HTMLFormElement} */ (d.querySelector('form'));
    const name = /** @type {HTMLInputElement} */ (d.querySelector('#op-name'));
    const token = /** @type {HTMLInputElement} */ (d.querySelector('#op-token'));
    const needsToken = this.mode === 'token';
    name.value = sessionStorage.getItem(NAME_KEY) ?? (needsToken ? '' : 'station');
    token.value = '';
    token.required = needsToken;
    /** @type {HTMLElement} */ (d.querySelector('.token')).hidden = !needsToken;
    /** @type {HTMLElement} */ (d.querySelector('.why')).textContent = why;
    d.showModal();
    (name.value && needsToken ? token : name).focus();
    return new Promise((resolve) => {
      const done = (who) => {
        form.removeEventListener('submit', onSubmit);
        d.removeEventListener('close', onClose);
        if (d.open) d.close();
        resolve(who);
      };
      const onSubmit = (ev) => {
        ev.preventDefault(); // the page never navigates (its CSP has form-action 'none')
        const who = { name: name.value.trim().slice(0, 64), token: needsToken ? token.value.trim() : null };
        if (!who.name || (needsToken && !who.token)) return;
        sessionStorage.setItem(NAME_KEY, who.name);
        if (who.token) sessionStorage.setItem(TOKEN_KEY, who.token);
        done(who);
      };
      const onClose = () => done(null); // Cancel, or Esc
      form.addEventListener('submit', onSubmit);
      d.addEventListener('close', onClose);
    });
  }
}
