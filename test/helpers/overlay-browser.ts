import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

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

/**
 * Drags a box on a tile's mark layer as an operator's finger would, from and to
 * fractions of the layer's width and height.
 */
export async function dragOnLayer(page: Page, layer: Locator, from: [number, number], to: [number, number]): Promise<void> {
  const r = (await layer.boundingBox())!;
  await page.mouse.move(r.x + r.width * from[0], r.y + r.height * from[1]);
  await page.mouse.down();
  await page.mouse.move(r.x + r.width * to[0], r.y + r.height * to[1], { steps: 4 });
  await page.mouse.up();
}
