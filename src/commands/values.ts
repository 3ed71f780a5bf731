import { z } from 'zod';
import { describeValue, LinesightError } from '../errors.js';

/*
 * Command-line option values, validated like the configuration: with zod, and
 * an E_CLI error that names the option, what was expected and what was found.
 * No option reaches SQL, the detector or a timer unchecked.
 */

const numberText = z.string().trim().min(1).transform(Number).pipe(z.number().finite());

const UNIT = numberText.pipe(z.number().min(0).max(1));
const POSITIVE_INT = numberText.pipe(z.number().int().positive());
const PROVIDERS = z.array(z.enum(['tensorrt', 'cuda', 'cpu'])).min(1);

function parseWith<T>(schema: z.ZodType<T, unknown>, text: string, flag: string, expected: string, input: unknown = text): T {
  const result = schema.safeParse(input);
  if (!result.success) throw new LinesightError('E_CLI', `${flag}: expected ${expected}, received ${describeValue(text)}`);
  return result.data;
}

/** A number between 0 and 1 (confidence, IoU). */
export function unitValue(text: string, flag: string): number {
  return parseWith(UNIT, text, flag, 'a number between 0 and 1');
}

/** A whole number ≥ 1 (a count, a limit). */
export function positiveIntValue(text: string, flag: string): number {
  return parseWith(POSITIVE_INT, text, flag, 'a positive integer');
}

/** A comma-separated list of execution providers, in order of preference. */
export function providersValue(text: string, flag: string): Array<'tensorrt' | 'cuda' | 'cpu'> {
  return parseWith(PROVIDERS, text, flag, 'a comma-separated list of tensorrt, cuda, cpu', text.split(',').map((p) => p.trim()));
}
