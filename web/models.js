// The "Models" panel: the active model, the candidate in a shadow run (if any)
// and how the two compare (GET /api/models and /api/models/compare, read with
// the page's own token). Hidden while the line has neither a shadow run nor a
// comparison to show, so a line that never tries a candidate sees nothing new.
// Test hooks: `tr[data-camera][data-class]` rows with `td[data-k]` cells
// (both, onlyActive, onlyCandidate), and `[data-model]` score lines with
// `[data-k]` spans (precision, recall, tp, fp, fn, unjudged).

/** While open, the line lead sees numbers at most this old. */
const OPEN_REFRESH_MS = 30_000;
/** While closed, only whether to show the panel at all is checked, so less often. */
const CLOSED_REFRESH_MS = 300_000;

/** @param {number | null | undefined} ratio */
const percent = (ratio) => (typeof ratio === 'number' ? `${Math.round(ratio * 100)}%` : '—');

/** @param {{ name?: string, version?: string, hash: string }} m */
const modelName = (m) => (m.name && m.version ? `${m.name} ${m.version}` : m.hash.slice(0, 12));

/**
 * @param {string} tag
 * @param {Record<string, string>} attrs
 * @param {Array<Node | string>} children
 */
function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** @param {string} key @param {string | number} value */
const val = (key, value) => el('span', { 'data-k': key }, [String(value)]);

export class ModelsPanel {
  /**
   * @param {HTMLDetailsElement} details the panel; its summary opens and closes it
   * @param {() => Record<string, string>} authHeaders the page's token, as the connection sends it
   */
  constructor(details, authHeaders) {
    this.details = details;
    this.body = /** @type {HTMLElement} */ (details.querySelector('.models-body'));
    this.authHeaders = authHeaders;
    this.timer = 0;
    /** A refresh in flight: a second one waits for it rather than racing it to the DOM. */
    this.pending = null;
    details.addEventListener('toggle', () => {
      if (details.open) this.refresh();
      this.schedule();
    });
  }

  start() {
    this.refresh();
    this.schedule();
  }

  schedule() {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), this.details.open ? OPEN_REFRESH_MS : CLOSED_REFRESH_MS);
  }

  /** Fetches both answers and redraws; the last good numbers stay up while the server is away. */
  refresh() {
    this.pending ??= this.load().finally(() => { this.pending = null; });
    return this.pending;
  }

  async load() {
    let list;
    let compare;
    try {
      const get = (path) => fetch(path, { headers: this.authHeaders(), cache: 'no-store' });
      const [l, c] = await Promise.all([get('/api/models'), get('/api/models/compare')]);
      if (l.status === 404) {
        this.details.hidden = true; // this line offers no model changes
        return;
      }
      if (!l.ok || !c.ok) throw new Error(`the server answered ${l.ok ? c.status : l.status}`);
      [list, compare] = await Promise.all([l.json(), c.json()]);
    } catch (err) {
      // The banner already tells when the server is down; the panel says its numbers are stale.
      this.details.dataset.stale = err instanceof Error ? err.message : String(err);
      return;
    }
    delete this.details.dataset.stale;
    this.render(list, compare);
  }

  /** @param {any} list GET /api/models @param {any} compare GET /api/models/compare */
  render(list, compare) {
    const comparisons = Array.isArray(compare?.comparisons) ? compare.comparisons : [];
    const candidate = list?.candidate ?? null;
    this.details.hidden = !candidate && comparisons.length === 0;
    if (this.details.hidden) return;
    const parts = [];
    if (list?.active) parts.push(el('p', { class: 'models-active' }, ['Active: ', el('strong', {}, [modelName(list.active)])]));
    parts.push(candidate
      ? el('p', { class: 'models-candidate' }, ['Candidate: ', el('strong', {}, [modelName(candidate)]),
        ` on ${percent(candidate.share)} of frames`])
      : el('p', { class: 'models-candidate none' }, ['No shadow run now']));
    for (const c of comparisons) parts.push(this.comparison(c));
    if (comparisons.length === 0) parts.push(el('p', { class: 'none' }, ['No comparison yet']));
    this.body.replaceChildren(...parts);
  }

  /** One candidate against the active model of its runs: the table of docs/models.md "Compare". */
  comparison(c) {
    const since = new Date(c.from).toLocaleString(undefined, { hour12: false, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
    const head = el('tr', {}, ['camera', 'class', 'both', 'only active', 'only cand.'].map((t) => el('th', { scope: 'col' }, [t])));
    const rows = (c.rows ?? []).map((r) => el('tr', { 'data-camera': r.camera, 'data-class': r.className }, [
      el('td', {}, [r.camera]), el('td', {}, [r.className]),
      el('td', { 'data-k': 'both' }, [String(r.both)]),
      el('td', { 'data-k': 'onlyActive' }, [String(r.onlyActive)]),
      el('td', { 'data-k': 'onlyCandidate' }, [String(r.onlyCandidate)]),
    ]));
    const a = c.active;
    const k = c.candidate;
    return el('section', { class: 'comparison', 'data-candidate': c.candidate_model.hash }, [
      el('h3', {}, [`${modelName(c.candidate_model)} vs ${modelName(c.active_model)}, since ${since}`]),
      el('table', {}, [el('thead', {}, [head]), el('tbody', {}, rows)]),
      el('p', { 'data-model': 'active' }, ['Active: precision ', val('precision', percent(a.precision)), ' recall ', val('recall', percent(a.recall)),
        ' (', val('tp', a.tp), ' confirmed, ', val('fp', a.fp), ' false alarms, ', val('fn', a.fn), ' missed)']),
      el('p', { 'data-model': 'candidate' }, ['Candidate: precision ', val('precision', percent(k.precision)), ' recall ', val('recall', percent(k.recall)),
        ' (', val('tp', k.tp), ' right, ', val('fp', k.fp), ' wrong, ', val('fn', k.fn), ' missed; ', val('unjudged', c.candidateUnjudged), ' not judged)']),
    ]);
  }
}
