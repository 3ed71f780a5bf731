import { isoTime } from '../clock.js';

export const RECIPE_SCHEMA = 'linesight.recipe/1';
export const RECIPE_EVENT_SCHEMA = 'linesight.recipe-event/1';

/** `{prefix}/{site}/{line}/recipe`, retained: the recipe running now (docs/recipe.schema.json). */
export interface RecipeStatePayload {
  schema: typeof RECIPE_SCHEMA;
  site: string;
  line: string;
  /** The active recipe; null when none was ever selected (model and cameras as configured). */
  recipe: string | null;
  /** When it became active. */
  since: string | null;
  requested_by: string | null;
  /** The model inspecting frames under it. */
  model: { name: string; version: string };
  ts: string;
}

/** `{prefix}/{site}/{line}/recipe/event`, not retained: one per request, applied or refused. */
export interface RecipeEventPayload {
  schema: typeof RECIPE_EVENT_SCHEMA;
  site: string;
  line: string;
  outcome: 'applied' | 'refused';
  /** The recipe asked for (null when the request could not be read far enough to say). */
  recipe: string | null;
  requested_by: string | null;
  /** Why it was refused: `unknown_recipe`, `malformed`, `model_failed`. */
  reason?: 'unknown_recipe' | 'malformed' | 'model_failed';
  /** What was expected and what was found. */
  message?: string;
  /** The recipe running after the request (the old one when refused). */
  active: string | null;
  ts: string;
}

export interface RecipeState {
  recipe?: string;
  since?: number;
  requestedBy?: string;
}

export function recipeStatePayload(state: RecipeState, model: { name: string; version: string }, where: { site: string; line: string }, now: number): RecipeStatePayload {
  return {
    schema: RECIPE_SCHEMA, site: where.site, line: where.line,
    recipe: state.recipe ?? null,
    since: state.since === undefined ? null : isoTime(state.since),
    requested_by: state.requestedBy ?? null,
    model: { name: model.name, version: model.version },
    ts: isoTime(now),
  };
}
