// Marking a defect the model missed: freeze a tile's picture, drag a box around
// the defect (finger, pen or mouse), pick its class. The box goes to the server
// in source-frame pixels, through the very letterbox the tile draws with.

import { fitFrame, unmapBox } from './geometry.js';

/** A drag shorter than this (CSS px) is a tap, not a box. */
const MIN_DRAG = 8;

/** @typedef {import('./tile.js').CameraTile} CameraTile */

export class Marking {
  /**
   * @param {() => string[]} classes the class names to offer
   * @param {(camera: string, cls: string, box: object, frame: object) => Promise<boolean>} send true once stored
   * @param {(text: string) => void} refuse explains why marking cannot start
   * @param {(camera: string, ts: number) => void} froze tells the server which frame was frozen, so it keeps that one
   */
  constructor(classes, send, refuse, froze = () => {}) {
    this.classes = classes;
    this.send = send;
    this.refuse = refuse;
    this.froze = froze;
    /** @type {{ tile: CameraTile, layer: HTMLElement, bar: HTMLElement, rect: { x: number, y: number, w: number, h: number } | null } | null} */
    this.active = null;
  }

  /** Adds the tile's "missed" button (shown only where the server takes verdicts). @param {CameraTile} tile */
  attach(tile) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'mark';
    b.textContent = '+ Missed';
    b.title = 'mark a defect the model missed (m)';
    b.addEventListener('click', () => this.start(tile));
    tile.el.querySelector('.bar')?.append(b);
  }

  /** @param {CameraTile} tile */
  start(tile) {
    this.cancel();
    if (!tile.frame) {
      this.refuse(`No picture from ${tile.id} yet: nothing to mark on.`);
      return;
    }
    tile.freeze(true);
    this.froze(tile.id, tile.frame.ts);
    const layer = document.createElement('div');
    layer.className = 'mark-layer';
    layer.style.height = `${tile.canvas.clientHeight}px`; // over the picture, not the status bar
    const box = document.createElement('div');
    box.className = 'mark-box';
    box.hidden = true;
    const bar = document.createElement('div');
    bar.className = 'mark-bar';
    layer.append(box, bar);
    tile.el.append(layer);
    this.active = { tile, layer, bar, rect: null };
    this.prompt();
    this.track(layer, box);
  }

  /** Follows one pointer from press to release; the box is drawn from wherever it started. */
  track(layer, box) {
    let from = null;
    const at = (ev) => {
      const r = layer.getBoundingClientRect();
      return { x: Math.min(r.width, Math.max(0, ev.clientX - r.left)), y: Math.min(r.height, Math.max(0, ev.clientY - r.top)) };
    };
    const rectOf = (a, b) => ({ x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y) });
    layer.addEventListener('pointerdown', (ev) => {
      if (ev.target !== layer && ev.target !== box) return; // the bar's buttons
      layer.setPointerCapture(ev.pointerId);
      from = at(ev);
    });
    layer.addEventListener('pointermove', (ev) => {
      if (!from) return;
      const r = rectOf(from, at(ev));
      Object.assign(box.style, { left: `${r.x}px`, top: `${r.y}px`, width: `${r.w}px`, height: `${r.h}px` });
      box.hidden = false;
    });
    layer.addEventListener('pointerup', (ev) => {
      if (!from || !this.active) return;
      const r = rectOf(from, at(ev));
      from = null;
      if (r.w < MIN_DRAG || r.h < MIN_DRAG) {
        box.hidden = true;
        return;
      }
      this.active.rect = r;
      this.pick();
    });
  }

  prompt() {
    this.fillBar('Drag a box around the missed defect', []);
  }

  pick() {
    this.fillBar('Class?', this.classes());
  }

  /** @param {string} text @param {string[]} classes */
  fillBar(text, classes) {
    const a = this.active;
    if (!a) return;
    const label = document.createElement('span');
    label.textContent = text;
    const buttons = classes.map((cls, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.class = cls;
      b.textContent = i < 9 ? `${i + 1} ${cls}` : cls;
      b.addEventListener('click', () => this.submit(cls));
      return b;
    });
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'cancel';
    cancel.textContent = 'Cancel';
    cancel.addEventListener('click', () => this.cancel());
    a.bar.replaceChildren(label, ...buttons, cancel);
  }

  /** Number keys pick a class once the box is drawn. @param {string} key */
  key(key) {
    const a = this.active;
    if (!a?.rect || !/^[1-9]$/.test(key)) return false;
    const cls = this.classes()[Number(key) - 1];
    if (cls) this.submit(cls);
    return Boolean(cls);
  }

  /** @param {string} cls */
  async submit(cls) {
    const a = this.active;
    if (!a?.rect || !a.tile.frame) return;
    const { canvas, frame } = a.tile;
    // CSS pixels of the layer → canvas pixels (devicePixelRatio) → source pixels.
    const sx = canvas.width / canvas.clientWidth;
    const sy = canvas.height / canvas.clientHeight;
    const onCanvas = { x: a.rect.x * sx, y: a.rect.y * sy, w: a.rect.w * sx, h: a.rect.h * sy };
    const box = unmapBox(onCanvas, fitFrame(frame.width, frame.height, canvas.width, canvas.height), frame.width, frame.height);
    for (const b of a.bar.querySelectorAll('button')) /** @type {HTMLButtonElement} */ (b).disabled = true;
    const stored = await this.send(a.tile.id, cls, box, { width: frame.width, height: frame.height, ts: frame.ts });
    if (this.active !== a) return; // cancelled meanwhile
    if (stored) this.cancel();
    else for (const b of a.bar.querySelectorAll('button')) /** @type {HTMLButtonElement} */ (b).disabled = false;
  }

  /** Ends marking (if any) and lets the tile run live again; true when there was one. */
  cancel() {
    const a = this.active;
    if (!a) return false;
    this.active = null;
    a.layer.remove();
    a.tile.freeze(false);
    return true;
  }
}
