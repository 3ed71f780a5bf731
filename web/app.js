// The operator page: wires the socket to the camera tiles and the alert panel.
// Test hooks: `data-camera` on tiles, `data-state` (and `data-age-ms`) on each
// badge, `data-health` (ok, degraded, unknown) on tiles and badges with
// `data-reasons` on the badge, and `window.__linesight` with the last detections per camera and the
// rectangles actually drawn, in canvas pixels.
//
// Operator verdicts (where the hello's `operatorActions` allows them): buttons on
// each alert card, "+ Missed" on each tile, and keys on the selected alert (else
// the newest without a verdict): c confirm, f false alarm, ↑/↓ select, m mark a
// missed defect on the selected alert's camera, 1–9 pick its class, Esc cancel.
// A missed defect's card offers "Take back" for a box drawn by mistake.

import { AlertPanel } from './alerts.js';
import { Connection } from './connection.js';
import { decodePreview } from './protocol.js';
import { Marking } from './marking.js';
import { ModelsPanel } from './models.js';
import { CameraTile } from './tile.js';
import { Verdicts } from './verdicts.js';

const token = new URLSearchParams(location.search).get('token');
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const test = { connected: false, hello: null, cameras: {}, alerts: [], status: null };
window.__linesight = test;

/** Server clock minus page clock, from the last hello/status (previews carry server capture times). */
let clockOffset = 0;
const serverNow = () => Date.now() + clockOffset;

/** @type {Map<string, CameraTile>} */
const tiles = new Map();
const grid = $('grid');
const panel = new AlertPanel($('alerts'), $('counts'), $('counts-title'), test.alerts, serverNow, judge, withdraw);
const verdicts = new Verdicts(token, /** @type {HTMLDialogElement} */ ($('operator')), $('action-error'));
/** Class names the model knows (hello), else those seen in alerts. */
let classNames = [];
const marking = new Marking(
  () => (classNames.length > 0 ? classNames : [...new Set([...panel.known.values()].map((a) => a.className))]),
  async (camera, cls, box, frame) => (await verdicts.missed(camera, cls, box, frame))?.ok ?? false,
  (text) => verdicts.showError(text),
  (camera, ts) => verdicts.freeze(camera, ts),
);

function tile(id) {
  let t = tiles.get(id);
  if (!t) {
    test.cameras[id] = { id, state: 'unknown', detections: null, rects: [], frame: null, ageMs: null };
    t = new CameraTile(id, test.cameras[id], serverNow);
    tiles.set(id, t);
    marking.attach(t);
    grid.append(t.el);
    layout();
  }
  return t;
}

/** Source aspect ratio per camera, once known (hello and status carry the sizes). */
const aspects = new Map();

/** @param {Array<{ id: string, width?: number, height?: number }>} cameras */
function learnSizes(cameras) {
  let changed = false;
  for (const c of cameras) {
    if (!c.width || !c.height) continue;
    const a = c.width / c.height;
    if (aspects.get(c.id) !== a) {
      aspects.set(c.id, a);
      changed = true;
    }
  }
  if (changed) layout();
}

/** Columns and rows that give the camera pictures the most screen, for each camera's aspect. */
function layout() {
  const n = Math.max(1, tiles.size);
  const bar = grid.querySelector('.bar')?.getBoundingClientRect().height ?? 40;
  const W = grid.clientWidth;
  const H = grid.clientHeight;
  let best = { cols: 1, area: -1 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const w = W / cols;
    const h = Math.max(1, H / rows - bar);
    let area = 0;
    for (const id of tiles.keys()) {
      const aspect = aspects.get(id) ?? 16 / 9;
      const shown = Math.min(w, h * aspect);
      area += shown * (shown / aspect);
    }
    if (area > best.area) best = { cols, area };
  }
  grid.style.setProperty('--cols', String(best.cols));
  grid.style.setProperty('--rows', String(Math.ceil(n / best.cols)));
}

function onHello(msg) {
  test.hello = msg;
  clockOffset = msg.ts - Date.now();
  $('site').textContent = `${msg.site} / ${msg.line}`;
  $('model').textContent = `${msg.model.name} ${msg.model.version} · ${String(msg.model.provider).toUpperCase()}`;
  verdicts.setMode(msg.operatorActions);
  models.refresh(); // a (re)started server or a swapped model: the panel need not wait for its next turn
  if (verdicts.mode) document.body.dataset.actions = verdicts.mode;
  else {
    delete document.body.dataset.actions; // an older server: it takes no verdicts
    marking.cancel();
  }
  classNames = Array.isArray(msg.model.classes) ? msg.model.classes : [];
  const ids = new Set(msg.cameras.map((c) => c.id));
  for (const [id, t] of tiles) {
    if (!ids.has(id)) {
      if (marking.active?.tile === t) marking.cancel();
      t.el.remove();
      tiles.delete(id);
      delete test.cameras[id];
    }
  }
  for (const c of msg.cameras) {
    const t = tile(c.id);
    t.setHealth(c.health);
    t.setState(c.state);
  }
  layout();
  learnSizes(msg.cameras);
}

function onStatus(msg) {
  test.status = msg;
  clockOffset = msg.ts - Date.now();
  for (const c of msg.cameras) tile(c.id).onStatus(c);
  learnSizes(msg.cameras);
  const mqtt = msg.mqttConnected === null ? '' : msg.mqttConnected ? 'MQTT ✓' : 'MQTT ✗';
  const outbox = msg.outboxDepth ? ` · outbox ${msg.outboxDepth}` : '';
  $('link').textContent = `${mqtt}${outbox}`;
  $('link').classList.toggle('bad', msg.mqttConnected === false);
}

function onAlert(alert) {
  if (panel.add(alert, true)) tiles.get(alert.camera)?.flash();
}

/**
 * Alerts (and missed defects being taken back) with a request on its way (or
 * waiting for the operator's name), each with the request's own mark so that an older request finishing
 * late never clears a newer one's.
 * @type {Map<string, object>}
 */
const judging = new Map();

/** A verdict stored by any page (this one included): the card shows it once the server has it. */
function onVerdict(v) {
  if (v.alert_id) {
    panel.showVerdict(v.alert_id, v);
    // Stored: the request is no longer on its way, even if its answer has not been read yet. A change
    // pressed the moment the card shows the verdict must not be dropped as a double tap.
    judging.delete(v.alert_id);
  } else if (v.withdrawn) {
    panel.showWithdrawn(v);
    judging.delete(v.replaces);
  } else if (v.verdict === 'missed') panel.addMissed(v);
}

/**
 * Takes back a missed defect drawn by mistake.
 * @param {string} verdictId the missed defect's
 */
async function withdraw(verdictId) {
  if (!verdicts.mode || judging.has(verdictId)) return;
  const mark = {};
  judging.set(verdictId, mark);
  try {
    const answer = await verdicts.withdraw(verdictId);
    if (answer?.status === 409) panel.withdrawRefused(verdictId, answer.body);
  } finally {
    if (judging.get(verdictId) === mark) judging.delete(verdictId);
  }
}

/**
 * @param {string} alertId
 * @param {'confirmed' | 'false_alarm'} verdict
 */
async function judge(alertId, verdict) {
  const state = panel.state(alertId);
  // A second tap while the first is on its way would only earn a 409.
  if (!verdicts.mode || !state || state.current === verdict || judging.has(alertId)) return;
  const mark = {};
  judging.set(alertId, mark);
  try {
    const answer = await verdicts.judge(alertId, verdict, state.replace);
    if (answer?.status === 409) panel.conflict(alertId, answer.body);
  } finally {
    if (judging.get(alertId) === mark) judging.delete(alertId);
  }
}

/** @param {KeyboardEvent} ev */
function onKey(ev) {
  if (!verdicts.mode || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const el = /** @type {HTMLElement} */ (ev.target);
  if (el.closest('dialog, input, textarea, select')) return; // typing a name or a token
  if (ev.key === 'Escape') {
    if (!marking.cancel()) panel.select(null);
    return;
  }
  if (marking.active) {
    if (marking.key(ev.key)) ev.preventDefault();
    return;
  }
  const alertId = panel.target();
  switch (ev.key) {
    case 'c': if (alertId) judge(alertId, 'confirmed'); break;
    case 'f': if (alertId) judge(alertId, 'false_alarm'); break;
    case 'm': {
      const camera = (alertId && panel.card(alertId)?.dataset.camera) || tiles.keys().next().value;
      const t = camera ? tiles.get(camera) : undefined;
      if (t) marking.start(t);
      break;
    }
    case 'ArrowDown': panel.move(1); break;
    case 'ArrowUp': panel.move(-1); break;
    default: return;
  }
  ev.preventDefault();
}

const conn = new Connection(token, {
  onOpen() {
    test.connected = true;
    document.body.classList.remove('disconnected');
    $('banner').hidden = true;
  },
  onDown(why, retryAt) {
    test.connected = false;
    document.body.classList.add('disconnected');
    for (const t of tiles.values()) t.unknown();
    const banner = $('banner');
    banner.hidden = false;
    banner.dataset.retryAt = String(retryAt);
    banner.dataset.why = why;
    renderBanner();
  },
  onBinary(buf) {
    const p = decodePreview(buf);
    if (p) tile(p.camera).onPreview(p);
  },
  onText(msg) {
    switch (msg.type) {
      case 'hello': return onHello(msg);
      case 'status': return onStatus(msg);
      case 'detections': return tile(msg.camera).onDetections(msg);
      case 'alert': return onAlert(msg.alert);
      case 'alerts': return panel.reset(msg.alerts);
      case 'verdict': return onVerdict(msg.verdict);
      case 'missed': return panel.resetMissed(msg.missed);
      default: return undefined; // a newer server's message this page does not know
    }
  },
});

function renderBanner() {
  const banner = $('banner');
  if (banner.hidden || !banner.dataset.why) return;
  const left = Math.max(0, Math.ceil((Number(banner.dataset.retryAt) - Date.now()) / 1000));
  banner.textContent = `DISCONNECTED — ${banner.dataset.why} — retrying ${left > 0 ? `in ${left} s` : 'now'}`;
}

function frame() {
  for (const t of tiles.values()) t.draw();
  requestAnimationFrame(frame);
}

setInterval(() => {
  for (const t of tiles.values()) t.updateFacts();
  renderBanner();
  $('clock').textContent = new Date(serverNow()).toLocaleTimeString(undefined, { hour12: false });
}, 250);
setInterval(() => panel.renderCounts(), 1000);
window.addEventListener('resize', () => {
  marking.cancel(); // the drawn box would no longer sit over the same pixels
  layout();
});
document.addEventListener('keydown', onKey);

const models = new ModelsPanel(/** @type {HTMLDetailsElement} */ ($('models-panel')), () => conn.authHeaders());

conn.start();
models.start();
requestAnimationFrame(frame);
