import { chromium, type Browser, type Page } from 'playwright-core';
import type { Line } from '../../src/app.js';
import type { OverlaySource } from '../../src/overlay/source.js';
import type { Frame } from '../../src/types.js';

// Browser globals used inside page.evaluate (the project compiles without the DOM lib).
interface Canvas { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null }
declare const document: { querySelector(selector: string): Canvas | null };
declare const window: { __linesight?: { cameras: Record<string, unknown> } };

/** Debian's Chromium, headless, with everything that phones home switched off. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.LINESIGHT_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * The line's OverlaySource: `line.overlaySource()` from src/app.ts when it exists.
 * Until then, a stopgap adapter built from what `Line` offers: cameras, model
 * info and inspected frames as they are, and the frames themselves taken from
 * the detector's `detect()` calls (so the page sees only inspected frames) and
 * no alerts. `adapter` says which one the test got.
 */
export function overlaySourceOf(line: Line): { source: OverlaySource; adapter: boolean } {
  const provider = (line as unknown as { overlaySource?: () => OverlaySource }).overlaySource;
  if (typeof provider === 'function') return { source: provider.call(line), adapter: false };

  const frameListeners = new Set<(f: Frame) => void>();
  const detector = line.detector as { detect: Line['detector']['detect'] };
  const detect = detector.detect.bind(line.detector);
  detector.detect = (frames) => {
    for (const f of frames) for (const fn of frameListeners) fn(f);
    return detect(frames);
  };
  const source: OverlaySource = {
    site: line.config.site,
    line: line.config.line,
    model: () => line.detector.info,
    cameras: () => line.cameras(),
    onFrame(fn) {
      frameListeners.add(fn);
      return () => frameListeners.delete(fn);
    },
    onInspected(fn) {
      let on = true;
      line.onInspected((r) => on && fn(r, []));
      return () => { on = false; };
    },
    onAlert: () => () => undefined,
    recentAlerts: () => [],
    health: () => ({ alive: true }),
  };
  return { source, adapter: true };
}

/** What the page exposes for tests in `window.__linesight` about one camera. */
export interface PageCamera {
  state: string;
  ageMs: number | null;
  canvas?: { width: number; height: number };
  frame?: { seq: number; ts: number; width: number; height: number; previewWidth: number; previewHeight: number } | null;
  fit?: { scale: number; x: number; y: number; w: number; h: number };
  rects: Array<{ x: number; y: number; w: number; h: number; label: string; className: string; trackId: number | null }>;
  detections: { seq: number; ts: number; frame: { width: number; height: number }; detections: unknown[] } | null;
}

export function pageCamera(page: Page, id: string): Promise<PageCamera | null> {
  return page.evaluate((cam) => {
    const t = window.__linesight;
    return (t?.cameras[cam] ?? null) as never;
  }, id);
}

/** Non-black pixels of a camera tile's canvas (0 for a blank canvas). */
export function litPixels(page: Page, id: string): Promise<number> {
  return page.evaluate((cam) => {
    const canvas = document.querySelector(`.tile[data-camera="${cam}"] canvas`);
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx || canvas.width === 0) return 0;
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let lit = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 30) lit++;
    return lit;
  }, id);
}
