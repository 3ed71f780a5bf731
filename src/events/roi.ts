import type { Box } from '../types.js';

/** A point `[x, y]` in source-frame pixels, as the config writes it. */
export type Point = readonly [number, number];
/** A closed polygon (the last point joins the first), source-frame pixels. */
export type Polygon = readonly Point[];

export interface RegionOptions {
  /** Only detections whose centre lies inside count. */
  roi?: Polygon;
  /** Detections whose centre lies inside any of these are ignored. */
  exclude?: readonly Polygon[];
}

export function centreOf(box: Box): Point {
  return [box.x + box.w / 2, box.y + box.h / 2];
}

/**
 * Even-odd ray casting: a horizontal ray from the point crosses the polygon's
 * edges an odd number of times when the point is inside. Points exactly on an
 * edge may land on either side; ROI edges are drawn by hand, a pixel does not matter.
 *
 * @example pointInPolygon([5, 5], [[0, 0], [10, 0], [10, 10], [0, 10]]) // true
 */
export function pointInPolygon(point: Point, polygon: Polygon): boolean {
  const [px, py] = point;
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    const crosses = yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi;
    if (crosses) inside = !inside;
  }
  return inside;
}

/** A predicate that keeps boxes whose centre is inside the ROI (if any) and outside every exclusion. */
export function regionFilter(options: RegionOptions): (box: Box) => boolean {
  const { roi, exclude = [] } = options;
  if (!roi && exclude.length === 0) return () => true;
  return (box) => {
    const centre = centreOf(box);
    if (roi && !pointInPolygon(centre, roi)) return false;
    return !exclude.some((polygon) => pointInPolygon(centre, polygon));
  };
}
