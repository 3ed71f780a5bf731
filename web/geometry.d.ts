// Types of geometry.js for the TypeScript tests that check its numbers.
export interface Fit { scale: number; x: number; y: number; w: number; h: number }
export interface Rect { x: number; y: number; w: number; h: number }
export function fitFrame(srcW: number, srcH: number, dstW: number, dstH: number): Fit;
export function mapBox(box: Rect, fit: Pick<Fit, 'scale' | 'x' | 'y'>): Rect;
export function unmapBox(rect: Rect, fit: Pick<Fit, 'scale' | 'x' | 'y'>, srcW: number, srcH: number): Rect;
