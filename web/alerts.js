// The alert list (newest first) and the per-class count of the current hour.

const SHOWN = 40;
/** Alerts remembered for counting and de-duplication (a reconnect resends the recent ones). */
const REMEMBERED = 2000;

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const hourFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });

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
   */
  constructor(list, counts, countsTitle, test, now) {
    this.now = now;
    this.list = list;
    this.counts = counts;
    this.countsTitle = countsTitle;
    this.test = test;
    /** @type {Map<string, {id: string, className: string, ts: number}>} */
    this.known = new Map();
    this.hour = 0;
  }

  /** The recent alerts a (re)connect brings, newest first. */
  reset(alerts) {
    for (const a of [...alerts].reverse()) this.add(a, false);
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
    meta.textContent = `${a.camera} · ${time.format(a.ts)}`;
    text.append(cls, meta);
    li.append(img, text);
    this.list.prepend(li);
    while (this.list.children.length > SHOWN) this.list.lastElementChild?.remove();
    if (live) this.renderCounts();
    return true;
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
