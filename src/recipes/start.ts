import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { DetectionRules } from '../events/rules.js';
import type { Logger } from '../log.js';
import { lineTopic, type Publisher } from '../publish/index.js';
import { openSideConnection } from '../store/side-connection.js';
import { LineRecipes, type RecipeModels } from './line-recipes.js';

/** The recipe topics below `{prefix}/{site}/{line}`: `recipe/set` (read), `recipe` (retained state), `recipe/event`. */
export function recipeTopics(config: Pick<Config, 'mqtt' | 'site' | 'line'>): { set: string; state: string; event: string } {
  const root = { prefix: config.mqtt.topic_prefix, site: config.site, line: config.line };
  return { set: lineTopic(root, 'recipe/set'), state: lineTopic(root, 'recipe'), event: lineTopic(root, 'recipe/event') };
}

export interface RecipesWiring {
  publisher: Pick<Publisher, 'subscribe' | 'publishRaw' | 'connected'>;
  /** The events stage's `applyRules`. */
  apply(rules: DetectionRules): void;
  models: RecipeModels;
  log: Logger;
  clock?: Clock;
}

/**
 * The line's recipes: applies the active one (its model first), then reads
 * requests on `…/recipe/set`. On a connection of its own to the line's
 * database; close it before the store.
 */
export async function startRecipes(config: Config, w: RecipesWiring): Promise<LineRecipes> {
  const topics = recipeTopics(config);
  const recipes = new LineRecipes({
    config, db: openSideConnection(config.store.path), apply: w.apply, models: w.models, log: w.log, clock: w.clock,
    connected: () => w.publisher.connected,
    publish: (kind, body) => w.publisher.publishRaw(kind === 'state' ? topics.state : topics.event, JSON.stringify(body), { retain: kind === 'state' }),
  });
  try {
    await recipes.start();
  } catch (err) {
    await recipes.close();
    throw err;
  }
  const unsubscribe = w.publisher.subscribe(topics.set, (m) => recipes.message(m));
  const close = recipes.close.bind(recipes);
  recipes.close = () => {
    unsubscribe();
    return close();
  };
  return recipes;
}
