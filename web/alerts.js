// The alert list (newest first) and the per-class count of the current hour.
// Each alert card carries the operator's verdict and the buttons to give or
// change it; defects an operator marked as missed are listed as their own entries.

const SHOWN = 40;
/** Alerts remembered for counting and de-duplication (a reconnect resends the recent ones). */
const REMEMBERED = 2000;

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const hourFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });

/**
 * A clock time for a card. Alerts carry ms since epoch; verdicts carry ISO 8601
 * (as in their MQTT message), so both are read.
 * @param {number | string} ts
 */
function clockTime(ts) {
  const ms = typeof ts === 'number' ? ts : Date.parse(ts);
  return Number.isFinite(ms) ? time.format(ms) : '';
}

/** @param {number} ts */
function hourStart(ts) {
  const d = new Date(ts);
  d.setMinutes(0, 0, 0);
  return d.getTime();
}

export class AlertPanel {
  /**
   * @param {HTMLElement} list `<ol>` of alerts
   * @param {HTMLElement} counts `<ul>` of per-class counts
   * @param {HTMLElement} countsTitle heading of the counts
   * @param {object[]} test window.__linesight.alerts (updated in place)
   * @param {() => number} now the server's clock (alert times are server times)
   * @param {(alertId: string, verdict: 'confirmed' | 'false_alarm') => void} judge an operator pressed a verdict button
   * @param {(verdictId: string) => void} withdraw an operator took back a missed defect
   */
  constructor(list, counts, countsTitle, test, now, judge, withdraw) {
    this.now = now;
    this.list = list;
    this.counts = counts;
    this.countsTitle = countsTitle;
    this.test = test;
    /** @type {Map<string, {id: string, className: string, ts: number}>} */
    this.known = new Map();
    this.hour = 0;
    /** @type {string | null} the alert the keyboard acts on */
    this.selected = null;
    list.addEventListener('click', (ev) => {
      const target = /** @type {HTMLElement} */ (ev.target);
      const li = /** @type {HTMLElement | null} */ (target.closest('li.alert'));
      if (!li?.dataset.id) return;
      if (li.classList.contains('missed')) {
        if (target.closest('button[data-withdraw]')) withdraw(li.dataset.id);
        return;
      }
      this.select(li.dataset.id);
      const button = /** @type {HTMLButtonElement | null} */ (target.closest('button[data-verdict]'));
      if (button && !button.disabled) judge(li.dataset.id, /** @type {any} */ (button.dataset.verdict));
    });
  }

  /** The recent alerts a (re)connect brings, newest first. */
  reset(alerts) {
    for (const a of [...alerts].reverse()) {
      if (!this.add(a, false)) this.showVerdict(a.id, a.verdict ?? null); // judged while this page was away
    }
    this.renderCounts();
  }

  /**
   * @param {object} a alert payload
   * @param {boolean} live a new defect (flash it) rather than history
   * @returns {boolean} false when already listed
   */
  add(a, live) {
    if (this.known.has(a.id)) return false;
    this.known.set(a.id, { id: a.id, className: a.className, ts: a.ts });
    if (this.known.size > REMEMBERED) this.known.delete(this.known.keys().next().value);
    this.test.unshift(a);
    if (this.test.length > SHOWN) this.test.length = SHOWN;

    const li = document.createElement('li');
    li.className = live ? 'alert new' : 'alert';
    li.dataset.id = a.id;
    li.dataset.ts = String(a.ts);
    li.dataset.camera = a.camera;
    li.dataset.class = a.className;
    const img = document.createElement('img');
    img.className = 'thumb';
    img.alt = '';
    if (a.thumbnail) img.src = `data:image/jpeg;base64,${a.thumbnail}`;
    else img.classList.add('none');
    const text = document.createElement('div');
    const cls = document.createElement('strong');
    cls.textContent = `${a.className} ${Math.round(a.confidence * 100)}%`;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${a.camera} · ${clockTime(a.ts)}`;
    const verdict = document.createElement('span');
    verdict.className = 'verdict';
    const actions = document.createElement('div');
    actions.className = 'actions';
    for (const v of ['confirmed', 'false_alarm']) {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.verdict = v;
      actions.append(b);
    }
    text.append(cls, meta, verdict, actions);
    li.append(img, text);
    this.list.prepend(li);
    this.showVerdict(a.id, a.verdict ?? null);
    this.trim();
    if (live) this.renderCounts();
    return true;
  }

  trim() {
    while (this.list.children.length > SHOWN) this.list.lastElementChild?.remove();
  }

  /** @param {string} id */
  card(id) {
    return /** @type {HTMLElement | null} */ (this.list.querySelector(`li.alert[data-id="${CSS.escape(id)}"]`));
  }

  /**
   * Shows an alert's latest verdict (null: none yet) and labels its buttons to give or change it.
   * @param {string} alertId
   * @param {{ verdict: string, operator: string, ts: number | string } | null} v
   */
  showVerdict(alertId, v) {
    const li = this.card(alertId);
    if (!li) return; // scrolled off the list
    const text = /** @type {HTMLElement} */ (li.querySelector('.verdict'));
    if (v) {
      li.dataset.verdict = v.verdict;
      delete li.dataset.conflict;
      const what = v.verdict === 'confirmed' ? '✓ confirmed' : '✗ false alarm';
      text.textContent = `${what} · ${v.operator} · ${clockTime(v.ts)}`;
    } else {
      delete li.dataset.verdict;
      text.textContent = '';
    }
    this.label(li);
  }

  /**
   * The server already holds a verdict this page had not heard of: say whose, and offer to change it.
   * @param {string} alertId
   * @param {{ message?: string, current?: { verdict: string, operator: string, ts: string } } | null} refusal the server's 409 body
   */
  conflict(alertId, refusal) {
    const li = this.card(alertId);
    if (!li) return;
    li.dataset.conflict = 'true';
    const c = refusal?.current;
    /** @type {HTMLElement} */ (li.querySelector('.verdict')).textContent = c
      ? `Already ${c.verdict === 'confirmed' ? 'confirmed' : 'marked a false alarm'} by ${c.operator} at ${clockTime(c.ts)}.`
      : refusal?.message ?? 'This alert already has a verdict.';
    this.label(li);
  }

  /** @param {HTMLElement} li */
  label(li) {
    const change = this.judged(li);
    for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (li.querySelectorAll('button[data-verdict]'))) {
      const confirm = b.dataset.verdict === 'confirmed';
      b.textContent = change ? `Change to ${confirm ? '✓ confirmed' : '✗ false alarm'}` : confirm ? '✓ Confirm' : '✗ False alarm';
      b.hidden = li.dataset.verdict === b.dataset.verdict; // only the change is offered
    }
  }

  /** Whether a verdict exists (seen, or reported by a 409): a new one must replace it. */
  judged(li) {
    return Boolean(li.dataset.verdict || li.dataset.conflict);
  }

  /** @param {string} alertId @returns {{ replace: boolean, current: string | null } | null} */
  state(alertId) {
    const li = this.card(alertId);
    return li ? { replace: this.judged(li), current: li.dataset.verdict ?? null } : null;
  }

  /**
   * The recent missed defects and their withdrawals a (re)connect brings, oldest
   * first: each card takes its place among the alerts by time.
   * @param {Array<{ id: string, camera: string, class: string, operator: string, ts: string, withdrawn?: boolean, replaces?: string }>} list
   */
  resetMissed(list) {
    for (const v of list) {
      if (v.withdrawn) this.showWithdrawn(/** @type {any} */ (v));
      else this.addMissed(v, false);
    }
  }

  /**
   * A defect the model missed, as an operator marked it.
   * @param {{ id: string, camera: string, class: string, operator: string, ts: string }} v
   * @param {boolean} live marked just now (the top of the list) rather than history (placed by time)
   */
  addMissed(v, live = true) {
    if (this.missedCard(v.id)) return;
    const li = document.createElement('li');
    li.className = 'alert missed';
    li.dataset.id = v.id;
    li.dataset.ts = String(Date.parse(v.ts));
    li.dataset.camera = v.camera;
    li.dataset.class = v.class;
    li.dataset.verdict = 'missed';
    const text = document.createElement('div');
    const cls = document.createElement('strong');
    cls.textContent = `${v.class} — missed`;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${v.camera} · marked by ${v.operator} · ${clockTime(v.ts)}`;
    const verdict = document.createElement('span');
    verdict.className = 'verdict';
    const actions = document.createElement('div');
    actions.className = 'actions';
    const takeBack = document.createElement('button');
    takeBack.type = 'button';
    takeBack.dataset.withdraw = 'true';
    takeBack.textContent = '↶ Take back';
    takeBack.title = 'drawn by mistake: there is no such defect';
    actions.append(takeBack);
    text.append(cls, meta, verdict, actions);
    li.append(text);
    const ts = Number(li.dataset.ts);
    const later = live ? null : [...this.list.children].find((c) => Number(/** @type {HTMLElement} */ (c).dataset.ts) < ts);
    if (live || later) this.list.insertBefore(li, live ? this.list.firstChild : /** @type {Element} */ (later));
    else this.list.append(li);
    this.trim();
  }

  /** @param {string} id @returns {HTMLElement | null} */
  missedCard(id) {
    return /** @type {HTMLElement | null} */ (this.list.querySelector(`li.missed[data-id="${CSS.escape(id)}"]`));
  }

  /**
   * A missed defect taken back (by any page): the card says so and offers nothing more.
   * @param {{ replaces: string, operator: string, ts: string }} v the withdrawal
   */
  showWithdrawn(v) {
    const li = this.missedCard(v.replaces);
    if (!li) return;
    li.dataset.withdrawn = 'true';
    /** @type {HTMLElement} */ (li.querySelector('.verdict')).textContent = `↶ taken back · ${v.operator} · ${clockTime(v.ts)}`;
    /** @type {HTMLButtonElement} */ (li.querySelector('button[data-withdraw]')).hidden = true;
  }

  /**
   * The server had it taken back already (by another station): the card says by whom.
   * @param {string} id
   * @param {{ message?: string, current?: { operator: string, ts: string } } | null} refusal the server's 409 body
   */
  withdrawRefused(id, refusal) {
    const c = refusal?.current;
    if (c) this.showWithdrawn({ replaces: id, operator: c.operator, ts: c.ts });
    else {
      const li = this.missedCard(id);
      if (li) /** @type {HTMLElement} */ (li.querySelector('.verdict')).textContent = refusal?.message ?? 'Already taken back.';
    }
  }

  /** @param {string | null} id */
  select(id) {
    this.selected = id;
    for (const li of this.list.querySelectorAll('li.selected')) li.classList.remove('selected');
    const li = id ? this.card(id) : null;
    li?.classList.add('selected');
    li?.scrollIntoView({ block: 'nearest' });
  }

  /** Moves the selection by `step` cards (+1: older, down the list). */
  move(step) {
    const cards = [...this.list.querySelectorAll('li.alert:not(.missed)')].map((li) => /** @type {HTMLElement} */ (li).dataset.id);
    if (cards.length === 0) return;
    const at = this.selected ? cards.indexOf(this.selected) : -1;
    const next = at < 0 ? 0 : Math.min(cards.length - 1, Math.max(0, at + step));
    this.select(cards[next] ?? null);
  }

  /** The alert the keyboard acts on: the selected one, else the newest without a verdict. */
  target() {
    if (this.selected && this.card(this.selected)) return this.selected;
    const li = /** @type {HTMLElement | null} */ (this.list.querySelector('li.alert:not(.missed):not([data-verdict])'));
    return li?.dataset.id ?? null;
  }

  /** Redraws the hour's counts; also called every second so they reset on the hour. */
  renderCounts(now = this.now()) {
    const start = hourStart(now);
    const byClass = new Map();
    for (const a of this.known.values()) {
      if (a.ts >= start) byClass.set(a.className, (byClass.get(a.className) || 0) + 1);
    }
    const key = [...byClass].map(([c, n]) => `${c}=${n}`).join(',');
    if (start === this.hour && key === this.countsKey) return;
    this.hour = start;
    this.countsKey = key;
    this.countsTitle.textContent = `This hour ${hourFmt.format(start)}–${hourFmt.format(start + 3_600_000)}`;
    this.counts.replaceChildren();
    if (byClass.size === 0) {
      const li = document.createElement('li');
      li.className = 'none';
      li.textContent = 'no defects';
      this.counts.append(li);
    }
    for (const [cls, n] of [...byClass].sort((a, b) => b[1] - a[1])) {
      const li = document.createElement('li');
      li.dataset.class = cls;
      const name = document.createElement('span');
      name.textContent = cls;
      const num = document.createElement('strong');
      num.textContent = String(n);
      li.append(name, num);
      this.counts.append(li);
    }
  }
}
