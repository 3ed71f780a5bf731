import { z } from 'zod';

/*
 * `recipes:` and `recipe:` — product variants of the line (docs/models.md#recipes).
 * A recipe overrides, while it is active, the detection thresholds, the ignored
 * classes, each camera's regions and optionally the model; what it leaves out
 * comes from `model:` and `cameras:`.
 */

const unit = () => z.number({ error: 'expected number between 0 and 1' }).min(0, { error: 'expected number between 0 and 1' }).max(1, { error: 'expected number between 0 and 1' });
const point = z.tuple([z.number({ error: 'expected x in pixels' }), z.number({ error: 'expected y in pixels' })], {
  error: 'expected a point [x, y] in source-frame pixels',
});
const polygon = z.array(point, { error: 'expected a polygon: a list of [x, y] points' }).min(3, { error: 'expected a polygon of at least 3 points' });
const className = z.string({ error: 'expected class name' }).min(1, { error: 'expected class name' });

/** A recipe or camera name: one MQTT topic level's worth of characters, so it reads the same everywhere. */
export const recipeName = z.string({ error: 'expected recipe name' })
  .regex(/^[A-Za-z0-9_.-]+$/, { error: "expected recipe name made of letters, digits, '_', '-', '.'" }).max(64, { error: 'expected recipe name of at most 64 characters' });

export const recipeCameraSchema = z.strictObject({
  roi: polygon.optional().describe('Only detections whose centre lies inside this polygon count; replaces the camera\'s roi while the recipe is active'),
  exclude: z.array(polygon, { error: 'expected a list of polygons' }).optional().describe('Ignored regions; replace the camera\'s exclude while the recipe is active'),
});

export const recipeSchema = z.strictObject({
  model: z.string({ error: 'expected a model version, sha256 or .onnx path' }).min(1, { error: 'expected a model version, sha256 or .onnx path' }).optional()
    .describe('Model for this product: a registered version or sha256 (linesight models add), or an .onnx path relative to the config file; none keeps the running model'),
  confidence: unit().optional().describe('Minimum confidence of a detection; defaults to model.confidence'),
  class_confidence: z.record(z.string(), unit()).optional().describe('Per-class minimum confidence by class name, on top of model.class_confidence'),
  ignore_classes: z.array(className, { error: 'expected a list of class names' }).optional().describe('Classes that never become detections; replaces model.ignore_classes'),
  cameras: z.record(z.string(), recipeCameraSchema).default({}).describe('Regions per camera id for this product'),
});

export const recipesSchema = z.record(recipeName, recipeSchema, { error: 'expected a map of recipe name to recipe' }).default({})
  .describe('Product recipes: thresholds, ignored classes, regions per camera and model, selected on {prefix}/{site}/{line}/recipe/set or with linesight recipe set');

export const recipeChoiceSchema = z.strictObject({
  default: recipeName.optional().describe('Recipe active at the first start (later starts keep the last one selected); none: model and cameras as configured until one is selected'),
}).prefault({}).describe('Which recipe is active when none was selected yet');

export type RecipeConfig = z.infer<typeof recipeSchema>;
export type RecipesConfig = z.infer<typeof recipesSchema>;

/** Cross-checks against the rest of the configuration: issues as [path, message]. */
export function recipeProblems(cfg: { recipes: RecipesConfig; recipe: { default?: string }; cameras: ReadonlyArray<{ id: string }> }): Array<[Array<string | number>, string]> {
  const problems: Array<[Array<string | number>, string]> = [];
  const names = Object.keys(cfg.recipes);
  if (cfg.recipe.default !== undefined && !names.includes(cfg.recipe.default)) {
    problems.push([['recipe', 'default'], `expected one of the recipes (${names.join(', ') || 'none configured'})`]);
  }
  const cameras = new Set(cfg.cameras.map((c) => c.id));
  for (const [name, recipe] of Object.entries(cfg.recipes)) {
    for (const id of Object.keys(recipe.cameras)) {
      if (!cameras.has(id)) problems.push([['recipes', name, 'cameras', id], `expected a camera id of cameras (${[...cameras].join(', ')})`]);
    }
  }
  return problems;
}
