import { isoTime, systemClock, type Clock, type Timer } from '../clock.js';
import type { Config } from '../config/schema.js';
import { errorMessage, isLinesightError } from '../errors.js';
import type { DetectionRules } from '../events/rules.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { RecipeChanges, type RecipeChange, type RecipeSource } from './changes.js';
import { RECIPE_EVENT_SCHEMA, recipeStatePayload, type RecipeEventPayload, type RecipeState } from './payloads.js';
import { parseRecipeRequest, type RecipeRequest } from './request.js';
import { rulesFor } from './rules.js';

/** The part of the line's models a recipe needs: switch to its model, name the running one. */
export interface RecipeModels {
  activate(target: string | { path: string }, options?: { requestedBy?: string }): Promise<{ active: { name: string; version: string } }>;
  active(): { name: string; version: string };
}

export interface LineRecipesOptions {
  config: Pick<Config, 'site' | 'line' | 'model' | 'recipes' | 'recipe'>;
  /** A connection of its own to the line's database (migrated). Closed by `close()`. */
  db: Db;
  /** Applies a recipe's thresholds and regions from the next inspected frame (the events stage). */
  apply(rules: DetectionRules): void;
  /** The line's model: switched when a recipe names another one. */
  models: RecipeModels;
  /** Publishes the retained state on `…/recipe` (retain true) and events on `…/recipe/event`; false while the broker is away. */
  publish(kind: 'state' | 'event', body: object): boolean;
  /** Whether the broker connection is up: the retained state is stated again after each reconnection. */
  connected(): boolean;
  log: Logger;
  clock?: Clock;
  /** How often requests of `linesight recipe set` are looked for, ms (default 1000). */
  pollMs?: number;
}

type Refusal = { reason: NonNullable<RecipeEventPayload['reason']>; message: string };

/**
 * The line's active recipe. Requests come from the MES (`message()`, retained
 * on `…/recipe/set`) and the command line (rows polled from SQLite); they are
 * handled one at a time. A known recipe is applied between two frames (and its
 * model swapped in first, when it names another one), recorded, confirmed
 * retained on `…/recipe`; anything else is refused on `…/recipe/event` and
 * the running recipe stays. The active recipe survives restarts.
 */
export class LineRecipes {
  private readonly changes: RecipeChanges;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly timer: Timer;
  private state: RecipeState = {};
  /** Requests run one after the other: a model switch takes time. */
  private queue: Promise<void> = Promise.resolve();
  private stated = false;
  private wasConnected = false;
  private closed = false;

  constructor(private readonly opts: LineRecipesOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log.child({ stage: 'recipes' });
    this.changes = new RecipeChanges(opts.db);
    this.timer = this.clock.setInterval(() => this.tick(), opts.pollMs ?? 1000);
  }

  /** The recipe whose rules inspect frames now (undefined: none selected). */
  get active(): string | undefined {
    return this.state.recipe;
  }

  /**
   * Applies the recipe recorded as active (or `recipe.default` on a first
   * start). A recipe no longer configured is dropped with a warning; a model
   * that no longer loads leaves its thresholds and regions in force on the
   * running model, logged at error.
   */
  async start(): Promise<void> {
    const last = this.changes.active();
    const { recipes, recipe } = this.opts.config;
    if (last && recipes[last.recipe]) {
      await this.switchTo(last.recipe, { requestedBy: last.requestedBy, since: last.decidedAt ?? last.receivedAt }, true);
    } else {
      if (last) this.log.warn({ code: 'E_RECIPE', recipe: last.recipe }, `the recipe active before the restart, ${last.recipe}, is no longer configured; ${recipe.default ? `starting with recipe.default ${recipe.default}` : 'running the model and cameras as configured'}`);
      if (recipe.default) {
        const now = this.clock.now();
        await this.switchTo(recipe.default, { requestedBy: 'recipe.default', since: now }, true);
        this.changes.add({ receivedAt: now, source: 'start', recipe: recipe.default, requestedBy: 'recipe.default', request: JSON.stringify({ recipe: recipe.default }), outcome: 'applied', decidedAt: now });
      }
    }
    this.tick();
  }

  /** A message on `…/recipe/set`. */
  message(msg: { payload: Buffer; retained: boolean }): void {
    const text = msg.payload.toString('utf8');
    // The broker hands the retained request again on every connection: the same request as the last one is not a new one.
    if (this.changes.lastFrom('mqtt')?.request === text) return;
    this.enqueue(() => this.handle(text, 'mqtt'));
  }

  close(): Promise<void> {
    if (this.closed) return this.queue;
    this.closed = true;
    this.clock.clearInterval(this.timer);
    return this.queue.then(() => {
      this.opts.db.close();
    });
  }

  /** Command-line requests, and the retained state after a reconnection. */
  private tick(): void {
    if (this.closed) return;
    const connected = this.opts.connected();
    if (connected && (!this.wasConnected || !this.stated)) this.stated = this.opts.publish('state', this.statePayload());
    this.wasConnected = connected;
    let pending: RecipeChange[];
    try {
      pending = this.changes.pending();
    } catch (err) {
      this.log.error({ code: 'E_STORE', err: errorMessage(err) }, `could not read recipe requests: ${errorMessage(err)}`);
      return;
    }
    for (const p of pending) this.enqueue(() => this.handleStored(p));
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue.then(job).catch((err: unknown) => {
      this.log.error({ code: 'E_RECIPE', err: errorMessage(err) }, `a recipe request failed: ${errorMessage(err)}`);
    });
  }

  /** A request from the MES: recorded with its outcome. */
  private async handle(text: string, source: RecipeSource): Promise<void> {
    if (this.closed) return;
    if (this.changes.lastFrom(source)?.request === text) return; // queued twice before the first was recorded
    const parsed = parseRecipeRequest(text);
    const now = this.clock.now();
    if (!parsed.ok) {
      const recipe = parsed.recipe ?? '';
      this.changes.add({ receivedAt: now, source, recipe, request: text, outcome: 'refused', reason: `malformed: ${parsed.fault}`, decidedAt: now });
      this.refused(parsed.recipe, undefined, { reason: 'malformed', message: parsed.fault });
      return;
    }
    const { request } = parsed;
    const id = this.changes.add({ receivedAt: now, source, recipe: request.recipe, requestedBy: request.requested_by, request: text });
    await this.decide(id, request);
  }

  /** A request the command line wrote. */
  private async handleStored(change: RecipeChange): Promise<void> {
    if (this.closed || this.changes.get(change.id)?.outcome) return;
    const parsed = parseRecipeRequest(change.request);
    if (!parsed.ok) {
      this.changes.decide(change.id, 'refused', `malformed: ${parsed.fault}`, this.clock.now());
      this.refused(change.recipe, change.requestedBy, { reason: 'malformed', message: parsed.fault });
      return;
    }
    await this.decide(change.id, parsed.request);
  }

  private async decide(id: number, request: RecipeRequest): Promise<void> {
    const refusal = await this.trySwitch(request);
    const at = this.clock.now();
    if (refusal) {
      this.changes.decide(id, 'refused', `${refusal.reason}: ${refusal.message}`, at);
      this.refused(request.recipe, request.requested_by, refusal);
      return;
    }
    this.changes.decide(id, 'applied', undefined, at);
    this.event({ outcome: 'applied', recipe: request.recipe, requested_by: request.requested_by ?? null });
  }

  private async trySwitch(request: RecipeRequest): Promise<Refusal | undefined> {
    const names = Object.keys(this.opts.config.recipes);
    if (!this.opts.config.recipes[request.recipe]) {
      return { reason: 'unknown_recipe', message: `Expected one of the configured recipes (${names.join(', ') || 'none configured'}) but received ${JSON.stringify(request.recipe)}` };
    }
    try {
      await this.switchTo(request.recipe, { requestedBy: request.requested_by, since: this.clock.now() }, false);
      return undefined;
    } catch (err) {
      const code = isLinesightError(err) ? err.code : 'E_MODEL_LOAD';
      return { reason: 'model_failed', message: `${code}: ${errorMessage(err)}` };
    }
  }

  /** Swaps the recipe's model in (when it names one), then its rules: both take effect between two frames. */
  private async switchTo(name: string, how: { requestedBy?: string; since: number }, atStart: boolean): Promise<void> {
    const model = this.opts.config.recipes[name].model;
    if (model !== undefined) {
      const target = /\.onnx$/i.test(model) ? { path: model } : model;
      try {
        await this.opts.models.activate(target, { requestedBy: `recipe:${name}` });
      } catch (err) {
        if (!atStart) throw err;
        this.log.error({ code: 'E_RECIPE', recipe: name, err: errorMessage(err) },
          `the model of recipe ${name} (${model}) does not run: ${errorMessage(err)}; its thresholds and regions apply on the running model`);
      }
    }
    this.opts.apply(rulesFor(this.opts.config, name));
    const previous = this.state.recipe;
    this.state = { recipe: name, since: how.since, requestedBy: how.requestedBy };
    this.log.info({ recipe: name, previous, requested_by: how.requestedBy, model: this.opts.models.active() },
      `recipe ${name} active from the next frame${previous && previous !== name ? ` (was ${previous})` : ''}`);
    this.stated = this.opts.publish('state', this.statePayload());
  }

  private refused(recipe: string | undefined, requestedBy: string | undefined, refusal: Refusal): void {
    this.log.warn({ code: 'E_RECIPE', recipe, requested_by: requestedBy, reason: refusal.reason },
      `recipe request refused (${refusal.reason}): ${refusal.message}; recipe ${this.state.recipe ?? '(none)'} stays`);
    this.event({ outcome: 'refused', recipe: recipe ?? null, requested_by: requestedBy ?? null, reason: refusal.reason, message: refusal.message });
  }

  private event(e: Pick<RecipeEventPayload, 'outcome' | 'recipe' | 'requested_by' | 'reason' | 'message'>): void {
    const body: RecipeEventPayload = {
      schema: RECIPE_EVENT_SCHEMA, site: this.opts.config.site, line: this.opts.config.line, ...e,
      active: this.state.recipe ?? null, ts: isoTime(this.clock.now()),
    };
    this.opts.publish('event', body);
  }

  private statePayload(): object {
    return recipeStatePayload(this.state, this.opts.models.active(), this.opts.config, this.clock.now());
  }
}
