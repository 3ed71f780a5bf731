import { describe, expect, it } from 'vitest';
import { contentRegion, greyCopy, type GreyImage } from '../../src/health/grey.js';
import { brightness, change, contrast, sharpness } from '../../src/health/measures.js';
import { buildReference, matchReference, type Reference } from '../../src/health/reference.js';

/** A grey image from a function of (x, y), values 0–1. */
function image(width: number, height: number, f: (x: number, y: number) => number): GreyImage {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return { width, height, data };
}

/** Deterministic pseudo-noise, so the tests are exact run to run. */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) - 0.5;
}

/** A textured static scene (bars and blobs), shifted by (dx, dy). */
const scene = (dx = 0, dy = 0, amp = 0.004, seed = 1) => {
  const n = noise(seed);
  return image(80, 45, (x, y) => 0.4 + 0.2 * Math.sin((x - dx) / 2.5) * Math.cos((y - dy) / 3.1) + 0.15 * Math.sin((x - dx + 2 * (y - dy)) / 5) + amp * n());
};

describe('grey copy of a letterboxed model input', () => {
  it('reads only the content region, area-averaged to the target width', () => {
    // A 1280×720 source in a 320×320 input: 320×180 content from row 70; padding 114 elsewhere.
    const rgb = Buffer.alloc(320 * 320 * 3, 114);
    for (let y = 70; y < 250; y++) for (let x = 0; x < 320; x++) rgb.fill(x < 160 ? 0 : 255, (y * 320 + x) * 3, (y * 320 + x) * 3 + 3);
    const region = contentRegion({ width: 320, height: 320 }, 1280, 720);
    expect(region).toEqual({ left: 1, top: 71, width: 318, height: 178 });
    const img = greyCopy({ rgb, width: 320, height: 320 }, region, 80);
    expect([img.width, img.height]).toEqual([80, 45]);
    expect(img.data[0]).toBe(0);
    expect(img.data[79]).toBeCloseTo(1, 6);
    expect(brightness(img)).toBeCloseTo(0.5, 2); // no padding grey (0.447) in it
  });

  it('says what it expected when the region does not fit the picture', () => {
    expect(() => greyCopy({ rgb: Buffer.alloc(12), width: 2, height: 2 }, { left: 1, top: 0, width: 2, height: 2 }))
      .toThrow('Expected a region inside the 2×2 picture but received 2×2 at (1, 0)');
  });
});

describe('health measures', () => {
  it('brightness and contrast are the mean and the standard deviation', () => {
    const half = image(10, 10, (x) => (x < 5 ? 0.2 : 0.6));
    expect(brightness(half)).toBeCloseTo(0.4, 6);
    expect(contrast(half)).toBeCloseTo(0.2, 6);
    expect(contrast(image(10, 10, () => 0.3))).toBe(0);
  });

  it('sharpness falls when the picture is blurred', () => {
    // 2-pixel checks, and the same through a 5×5 box (a lens out of focus).
    const sharp = image(80, 45, (x, y) => (((x >> 1) + (y >> 1)) % 2 ? 0.7 : 0.3));
    const at = (x: number, y: number) => sharp.data[Math.min(44, Math.max(0, y)) * 80 + Math.min(79, Math.max(0, x))];
    const blurred = image(80, 45, (x, y) => {
      let s = 0;
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) s += at(x + dx, y + dy);
      return s / 25;
    });
    expect(sharpness(image(10, 10, () => 0.5))).toBe(0);
    expect(sharpness(blurred)).toBeLessThan(0.35 * sharpness(sharp));
  });

  it('change is the mean absolute difference, 0 for identical pictures', () => {
    const a = image(4, 4, () => 0.5);
    expect(change(a, a)).toBe(0);
    expect(change(a, image(4, 4, (x) => (x < 2 ? 0.5 : 0.7)))).toBeCloseTo(0.1, 6);
    expect(() => change(a, image(5, 4, () => 0))).toThrow('Expected two grey images of the same size but received 4×4 and 5×4');
  });
});

describe('reference and shift', () => {
  const learn = (samples: GreyImage[]) => {
    const ref = buildReference(samples);
    if (typeof ref === 'string') throw new Error(`expected a reference but got ${ref}`);
    return ref;
  };

  it('finds the shift of the static part to a fraction of a pixel, and a lost match', () => {
    const ref: Reference = learn(Array.from({ length: 10 }, (_, i) => scene(0, 0, 0.004, i + 1)));
    expect(ref.axes).toEqual({ x: true, y: true });
    const still = matchReference(ref, scene(0, 0, 0.004, 99));
    expect(Math.hypot(still.dx, still.dy)).toBeLessThan(0.2);
    expect(still.quality).toBeGreaterThan(0.95);
    const moved = matchReference(ref, scene(4, -2, 0.004, 98));
    expect(moved.dx).toBeCloseTo(4, 0);
    expect(moved.dy).toBeCloseTo(-2, 0);
    const elsewhere = matchReference(ref, image(80, 45, (x, y) => 0.5 + 0.3 * Math.sin(x * y)));
    expect(elsewhere.quality).toBeLessThan(0.5);
  });

  it('leaves out pixels that change while learning (parts on the belt)', () => {
    // A bright part passes through the middle third of the picture.
    const samples = Array.from({ length: 20 }, (_, i) => {
      const base = scene(0, 0, 0.004, i + 1);
      return image(80, 45, (x, y) => (x >= 27 && x < 53 && (i * 3 + x) % 20 < 10 ? 0.95 : base.data[y * 80 + x]));
    });
    const ref = learn(samples);
    const stable = new Set(ref.stable);
    expect(stable.has(10 * 80 + 40)).toBe(false);
    expect(stable.has(10 * 80 + 5)).toBe(true);
  });

  it('cannot pin down a shift along rails that look the same along it, nor build on a plain or busy picture', () => {
    const rails = learn(Array.from({ length: 5 }, (_, i) => image(80, 45, (_x, y) => 0.3 + 0.3 * Math.sin(y / 2) + noise(i)() * 0.002)));
    expect(rails.axes).toEqual({ x: false, y: true });
    expect(buildReference(Array.from({ length: 5 }, () => image(80, 45, () => 0.5)))).toBe('no_texture');
    const n = noise(7);
    expect(buildReference(Array.from({ length: 5 }, () => image(80, 45, () => 0.5 + n())))).toBe('no_static_part');
    expect(buildReference([])).toBe('no_samples');
  });
});
