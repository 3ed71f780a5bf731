// The operator page: wires the socket to the camera tiles and the alert panel.
// Test hooks: `data-camera` on tiles, `data-state` (and `data-age-ms`) on each
// badge, `data-health` (ok, degraded, unknown) on tiles and badges with
// `data-reasons` on the badge, and `window.__linesight` with the last detections per camera and the
// rectangles actually drawn, in canvas pixels.

import { AlertPanel } from './alerts.js';
import { Connection } from './connection.js';
import { decodePreview } from './protocol.js';
import { CameraTile } from './tile.js';

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
const panel = new AlertPanel($('alerts'), $('counts'), $('counts-title'), test.alerts, serverNow);

function tile(id) {
  let t = tiles.get(id);
  if (!t) {
    test.cameras[id] = { id, state: 'unknown', detections: null, rects: [], frame: null, ageMs: null };
    t = new CameraTile(id, test.cameras[id], serverNow);
    tiles.set(id, t);
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
  const ids = new Set(msg.cameras.map((c) => c.id));
  for (const [id, t] of tiles) {
    if (!ids.has(id)) {
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
window.addEventListener('resize', layout);

conn.start();
requestAnimationFrame(frame);
