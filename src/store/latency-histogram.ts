/**
 * A fixed-bucket latency histogram, small enough to keep per camera per minute
 * and to upload as is (histograms of the same bounds add up, so the cloud can
 * merge minutes into hours or shifts exactly, which percentiles cannot do).
 *
 * Bounds follow a 1-2-5 series from 1 ms to 60 s; bucket i counts samples in
 * (bound[i-1], bound[i]], the last bucket everything above 60 s.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000];

export interface Histogram {
  count: number;
  /** Sum of the samples, ms (for the mean). */
  sum: number;
  /** Largest sample, ms; 0 when empty. */
  max: number;
  /** `LATENCY_BOUNDS_MS.length + 1` counts; the last one is the overflow bucket. */
  buckets: number[];
}

export function emptyHistogram(): Histogram {
  return { count: 0, sum: 0, max: 0, buckets: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0) };
}

/** Adds one sample; negative samples (a clock step backwards) count as 0 ms. */
export function recordLatency(h: Histogram, ms: number): void {
  if (!Number.isFinite(ms)) return;
  const value = Math.max(0, ms);
  let i = 0;
  while (i < LATENCY_BOUNDS_MS.length && value > LATENCY_BOUNDS_MS[i]) i++;
  h.buckets[i] += 1;
  h.count += 1;
  h.sum += value;
  if (value > h.max) h.max = value;
}

export function mergeHistograms(a: Histogram, b: Histogram): Histogram {
  return {
    count: a.count + b.count,
    sum: a.sum + b.sum,
    max: Math.max(a.max, b.max),
    buckets: a.buckets.map((n, i) => n + (b.buckets[i] ?? 0)),
  };
}

/**
 * The q-quantile (0 < q ≤ 1), estimated as Prometheus' histogram_quantile does:
 * find the bucket holding rank q·count and interpolate linearly inside it
 * (its lower bound is the previous bound, 0 for the first). The result is
 * clamped to the observed max, and the overflow bucket answers the max.
 * `null` when the histogram is empty.
 *
 * @example
 * // samples 3, 4, 30 ms: rank 1.5 falls in (2, 5] holding 2 samples → 2 + 3·(1.5/2) = 4.25
 * quantile(h, 0.5) // 4.25
 */
export function quantile(h: Histogram, q: number): number | null {
  if (h.count === 0) return null;
  const rank = q * h.count;
  let below = 0;
  for (let i = 0; i < h.buckets.length; i++) {
    const inBucket = h.buckets[i];
    if (inBucket > 0 && below + inBucket >= rank) {
      if (i === LATENCY_BOUNDS_MS.length) return h.max;
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1];
      const upper = LATENCY_BOUNDS_MS[i];
      const estimate = lower + (upper - lower) * ((rank - below) / inBucket);
      return Math.min(estimate, h.max);
    }
    below += inBucket;
  }
  return h.max;
}

/** Parses a histogram stored as JSON, tolerating a shorter bucket list written by an older version. */
export function parseHistogram(json: string): Histogram {
  const raw = JSON.parse(json) as Partial<Histogram>;
  const h = emptyHistogram();
  h.count = raw.count ?? 0;
  h.sum = raw.sum ?? 0;
  h.max = raw.max ?? 0;
  (raw.buckets ?? []).forEach((n, i) => {
    if (i < h.buckets.length) h.buckets[i] = n;
  });
  return h;
}
