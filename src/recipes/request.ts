import { z } from 'zod';
import { recipeName } from '../config/recipe-schema.js';

/** `{prefix}/{site}/{line}/recipe/set` (retained, from the MES), also docs/recipe.schema.json. */
export const recipeRequestSchema = z.strictObject({
  recipe: recipeName.describe('The recipe to run, one of the configuration\'s recipes'),
  requested_by: z.string({ error: 'expected requested_by as a string' }).max(200, { error: 'expected requested_by of at most 200 characters' }).optional()
    .describe('Who asked (MES station, user), echoed in the confirmation'),
  ts: z.string({ error: 'expected ts as an ISO 8601 time' }).refine((v) => !Number.isNaN(Date.parse(v)), { error: 'expected ts as an ISO 8601 time' }).optional()
    .describe('When it was asked'),
}, { error: 'expected a JSON object' });

export type RecipeRequest = z.infer<typeof recipeRequestSchema>;

export type RequestParse = { ok: true; request: RecipeRequest } | { ok: false; fault: string; recipe?: string };

/** Reads a recipe request (UTF-8 JSON, at most 4 KiB). A fault names what was expected and what came. */
export function parseRecipeRequest(payload: Buffer | string): RequestParse {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  if (Buffer.byteLength(text) > 4096) return { ok: false, fault: `expected at most 4096 bytes but received ${Buffer.byteLength(text)}` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, fault: `expected JSON but could not parse it (${(err as Error).message})` };
  }
  const parsed = recipeRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    const recipe = typeof (raw as { recipe?: unknown } | null)?.recipe === 'string' ? (raw as { recipe: string }).recipe : undefined;
    return { ok: false, fault: `${where}${issue.message}`, ...(recipe === undefined ? {} : { recipe }) };
  }
  return { ok: true, request: parsed.data };
}
