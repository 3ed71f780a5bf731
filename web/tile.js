// One camera tile: the live frame on a canvas with the boxes over it, and a
// status bar readable from a few metres.

import { fitFrame, mapBox } from './geometry.js';

/** Boxes older than this (relative to the frame shown) are not drawn: the defect may have left. */
const STALE_BOX_MS = 1500;
const PALETTE = ['#ff453a', '#30d158', '#0a84ff', '#ffd60a', '#ff9f0a', '#bf5af2', '#64d2ff', '#ff375f'];

const STATE_TEXT = { online: 'ONLINE', connecting: 'CONNECTING', reconnecting: 'RECONNECTING', offline: 'OFFLINE', unknown: 'NO DATA' };

/** @param {string} state camera state from the server */
function badgeState(state) {
  if (state === 'stopped') return 'offline';
  return state in STATE_TEXT ? state : 'unknown';
}

/** @param {{ state: string, reasons: string[] } | null | undefined} health */
function isDegraded(health) {
  return Boolean(health && health.state === 'degraded');
}

/** @param {number | null | undefined} ms */
function formatAge(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export class CameraTile {
  /**
   * @param {string} id
   * @param {object} test the camera's entry in window.__linesight (updated in place)
   * @param {() => number} serverNow the server's clock, estimated
   */
  constructor(id, test, serverNow) {
    this.id = id;
    this.test = test;
    this.serverNow = serverNow;
    /** @type {ImageBitmap | null} */ this.bitmap = null;
    this.frame = null; // header of the preview shown
    this.pending = null; // newest preview not decoded yet (older ones are dropped)
    this.decoding = false;
    /** While an operator marks a missed defect, the picture stays still (previews keep arriving, unshown). */
    this.frozen = false;
    this.detections = null;
    this.status = null;
    this.state = 'unknown';
    /** @type {{ state: string, reasons: string[], since: number, learning: boolean } | null} */ this.health = null;
    this.dirty = true;

    this.el = document.createElement('article');
    this.el.className = 'tile';
    this.el.dataset.camera = id;
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('aria-label', `camera ${id}`);
    const bar = document.createElement('div');
    bar.className = 'bar';
    this.nameEl = document.createElement('span');
    this.nameEl.className = 'name';
    this.nameEl.textContent = id;
    this.badge = document.createElement('span');
    this.badge.className = 'badge';
    this.facts = document.createElement('span');
    this.facts.className = 'facts';
    bar.append(this.nameEl, this.badge, this.facts);
    this.el.append(this.canvas, bar);
    this.setState('unknown');

    new ResizeObserver(() => this.resize()).observe(this.canvas);
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (w !== this.canvas.width || h !== this.canvas.height) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.dirty = true;
    }
  }

  /** @param {{ camera: string, captureTs: number, seq: number, width: number, height: number, jpeg: Uint8Array }} preview */
  onPreview(preview) {
    this.pending = preview;
    this.test.framesReceived = (this.test.framesReceived || 0) + 1;
  }

  /** Decodes the newest pending preview (called from the animation frame, so hidden tabs decode nothing). */
  decode() {
    if (this.frozen || this.decoding || !this.pending) return;
    const p = this.pending;
    this.pending = null;
    this.decoding = true;
    createImageBitmap(new Blob([p.jpeg], { type: 'image/jpeg' }))
      .then((bmp) => {
        this.bitmap?.close();
        this.bitmap = bmp;
        this.frame = { seq: p.seq, ts: p.captureTs, width: p.width, height: p.height, previewWidth: bmp.width, previewHeight: bmp.height };
        this.test.shownLatencyMs = this.serverNow() - p.captureTs; // capture → decoded on the page
        this.dirty = true;
      })
      .catch((err) => console.warn(`linesight: preview of ${this.id} could not be decoded`, err))
      .finally(() => { this.decoding = false; });
  }

  /** @param {boolean} on */
  freeze(on) {
    this.frozen = on;
    this.el.classList.toggle('frozen', on);
    this.test.frozen = on;
    this.dirty = true;
  }

  onDetections(msg) {
    this.detections = msg;
    this.test.detections = msg;
    this.dirty = true;
  }

  /** @param {object} s the camera's entry of a status message */
  onStatus(s) {
    this.status = s;
    this.health = s.health ?? null;
    this.setState(s.state);
    this.updateFacts();
  }

  /** @param {string} state */
  setState(state) {
    const shown = badgeState(state);
    this.state = shown;
    this.badge.dataset.state = shown;
    this.el.dataset.state = shown;
    this.test.state = shown;
    this.showHealth();
  }

  /** @param {{ state: string, reasons: string[], since: number, learning: boolean } | null | undefined} health */
  setHealth(health) {
    this.health = health ?? null;
    this.showHealth();
  }

  /**
   * A degraded camera still sends frames, but they do not show the line: the
   * tile is greyed and the badge names why, so nobody reads "no alerts" as "no defects".
   */
  showHealth() {
    const h = this.health;
    const degraded = isDegraded(h) && this.state !== 'unknown';
    const health = degraded ? 'degraded' : h ? h.state : 'unknown';
    this.el.dataset.health = health;
    this.badge.dataset.health = health;
    this.badge.dataset.reasons = degraded ? h.reasons.join(' ') : '';
    // The camera's own state (offline, reconnecting) outranks its picture's health.
    const reasons = degraded && this.state === 'online' ? h.reasons.map((r) => r.toUpperCase()).join(' · ') : '';
    this.badge.textContent = reasons || STATE_TEXT[this.state];
    this.badge.title = degraded ? `degraded since ${new Date(h.since).toLocaleTimeString(undefined, { hour12: false })}: ${h.reasons.join(', ')}` : '';
    this.test.health = h;
  }

  /** Marks the tile as without data (the page lost the server). */
  unknown() {
    this.status = null;
    this.health = null;
    this.setState('unknown');
    this.updateFacts();
  }

  /** Frame age as the operator sees it: server clock now minus capture time of the frame on screen. */
  frameAge() {
    if (this.frame) return Math.max(0, this.serverNow() - this.frame.ts);
    return this.status?.frameAgeMs ?? null;
  }

  updateFacts() {
    const s = this.status;
    const age = this.frameAge();
    this.badge.dataset.ageMs = age === null ? '' : String(Math.round(age));
    this.test.ageMs = age;
    if (!s) {
      this.facts.textContent = '';
      return;
    }
    const parts = [
      `${formatAge(age)}`,
      `${s.fps.toFixed(1)} fps`,
      s.coverage === null ? '– %' : `${Math.round(s.coverage * 100)} %`,
      String(s.provider).toUpperCase(),
    ];
    this.facts.textContent = parts.join(' · ');
    this.facts.classList.toggle('warn', age !== null && age > 2000);
    this.facts.title = s.lastError ? `last error ${s.lastError.code}: ${s.lastError.message}` : `restarts ${s.restarts}`;
  }

  flash() {
    this.el.classList.remove('flash');
    void this.el.offsetWidth; // restart the animation
    this.el.classList.add('flash');
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => this.el.classList.remove('flash'), 4000);
  }

  draw() {
    this.decode();
    if (!this.dirty) return;
    this.dirty = false;
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const cw = this.canvas.width;
    const ch = this.canvas.height;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, cw, ch);
    if (this.bitmap && this.frame) {
      const fit = fitFrame(this.frame.width, this.frame.height, cw, ch);
      ctx.drawImage(this.bitmap, fit.x, fit.y, fit.w, fit.h);
    }
    this.test.canvas = { width: cw, height: ch };
    this.test.frame = this.frame;
    this.test.rects = this.drawBoxes(ctx, cw, ch);
  }

  /** Draws the newest boxes; returns the rectangles drawn, in canvas pixels. */
  drawBoxes(ctx, cw, ch) {
    const d = this.detections;
    if (!d) return [];
    const shownTs = this.frame ? this.frame.ts : this.serverNow();
    if (Math.abs(shownTs - d.ts) > STALE_BOX_MS) return [];
    const fit = fitFrame(d.frame.width, d.frame.height, cw, ch);
    this.test.fit = fit;
    // Tracks when the tracker runs (a coasting track, not seen in this frame, is not drawn);
    // plain detections otherwise. Unconfirmed tracks are dashed.
    const items = d.tracks && d.tracks.length > 0
      ? d.tracks.filter((t) => !t.missed).map((t) => ({ ...t, label: `${t.className} ${Math.round(t.confidence * 100)}% #${t.trackId}`, dashed: !t.confirmed }))
      : d.detections.map((x) => ({ ...x, label: `${x.className} ${Math.round(x.confidence * 100)}%`, dashed: false }));
    const line = Math.max(3, Math.round(Math.min(cw, ch) / 160));
    const font = Math.min(32, Math.max(16, Math.round(Math.min(cw, ch) / 18)));
    ctx.font = `700 ${font}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    const rects = [];
    for (const it of items) {
      const r = mapBox(it.box, fit);
      const color = PALETTE[it.classId % PALETTE.length];
      ctx.lineWidth = line;
      ctx.strokeStyle = color;
      ctx.setLineDash(it.dashed ? [line * 3, line * 2] : []);
      ctx.strokeRect(r.x, r.y, r.w, r.h);
      ctx.setLineDash([]);
      const tw = ctx.measureText(it.label).width + 12;
      const ty = r.y - font - 8 >= 0 ? r.y - font - 8 : r.y + r.h;
      ctx.fillStyle = color;
      ctx.fillRect(r.x - line / 2, ty, tw, font + 8);
      ctx.fillStyle = '#000';
      ctx.fillText(it.label, r.x + 6 - line / 2, ty + 4);
      rects.push({ ...r, label: it.label, classId: it.classId, className: it.className, trackId: it.trackId ?? null });
    }
    return rects;
  }
}
