import type { ModelInput } from '../types.js';

/**
 * A model input that belongs to nobody's pool (evaluation, tests, the
 * bench's grey frames): releasing it gives nothing back, the buffer is
 * collected with it.
 */
export function ownInput(rgb: Buffer, width: number, height: number): ModelInput {
  return { rgb, width, height, release: () => undefined };
}
