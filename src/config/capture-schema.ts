import { z } from 'zod';

/*
 * The `capture:` block: full-size pictures kept for training (src/capture/).
 * Alert frames and the frames operators mark missed defects on are kept by
 * default; the capture policies are off until a line turns them on. A camera's
 * own `capture:` may override any policy key for that camera only.
 */

const positiveInt = (what = 'positive integer') =>
  z.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).positive({ error: `expected ${what}` });
const nonNegativeInt = (what = 'integer ≥ 0') =>
  z.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).min(0, { error: `expected ${what}` });
const unit = (what = 'number between 0 and 1') =>
  z.number({ error: `expected ${what}` }).min(0, { error: `expected ${what}` }).max(1, { error: `expected ${what}` });
const flag = () => z.boolean({ error: 'expected true or false' });

const DOC = {
  enabled: 'Capture frames by this policy',
  per_minute: 'Most pictures this policy keeps per camera in any minute',
  per_hour: 'Most pictures this policy keeps per camera in any hour',
  every: 'Keep one analysed frame in this many, at random (among frames that have a full-size picture)',
  band: 'Width of the confidence band below the alert threshold (model.confidence or class_confidence): a detection in it makes its frame worth keeping',
  min_sightings: 'Sightings a track needs before it counts as seen-but-never-confirmed when it ends',
  below_share: 'A class is rare on a camera while its share of the camera\'s recent detections is below this',
  window: 'Recent detections per camera the class shares are counted over; rare classes are judged once it is full',
} as const;

/** The keys every policy has, with the defaults a policy has when turned on. */
const limits = (perMinute: number, perHour: number) => ({
  enabled: flag().default(false).describe(DOC.enabled),
  per_minute: nonNegativeInt().default(perMinute).describe(DOC.per_minute),
  per_hour: nonNegativeInt().default(perHour).describe(DOC.per_hour),
});

const randomSchema = z.strictObject({ ...limits(1, 20), every: positiveInt().default(300).describe(DOC.every) });
const nearSchema = z.strictObject({ ...limits(2, 30), band: unit().default(0.1).describe(DOC.band) });
const unconfirmedSchema = z.strictObject({ ...limits(2, 30), min_sightings: positiveInt().default(2).describe(DOC.min_sightings) });
const rareSchema = z.strictObject({
  ...limits(2, 30),
  below_share: unit().default(0.05).describe(DOC.below_share),
  window: positiveInt().default(500).describe(DOC.window),
});

/** The policy blocks of the global `capture:`. */
export const capturePoliciesSchema = {
  random: randomSchema.prefault({}).describe('Random frames: a fair sample of what the line sees'),
  near_threshold: nearSchema.prefault({}).describe('Frames with a detection just under the alert threshold'),
  unconfirmed_track: unconfirmedSchema.prefault({}).describe('Frames of tracks that were seen but never confirmed'),
  rare_class: rareSchema.prefault({}).describe('Frames with a detection of a class that is rare on the camera'),
};

export const captureSchema = z.strictObject({
  alerts: flag().default(true).describe('Keep the full-size frame of every stored alert, with the model\'s detections on it'),
  missed: flag().default(true).describe('Keep the full-size frame an operator marked a missed defect on (the picture nearest to it still in memory)'),
  dir: z.string({ error: 'expected a directory' }).min(1, { error: 'expected a directory' }).optional()
    .describe('Where pictures are written; default: a "pictures" folder next to the SQLite file; relative paths are relative to the config file'),
  max_mb: z.number({ error: 'expected a number ≥ 0 of MiB' }).min(0, { error: 'expected a number ≥ 0 of MiB' }).default(2048)
    .describe('Disk quota of all kept pictures in MiB: beyond it the oldest go, exported ones before unexported ones; 0 keeps no pictures'),
  recall_s: nonNegativeInt().default(20)
    .describe('Seconds of recent frames kept in memory as JPEG (recall_fps a second per camera) so a missed defect drawn on a frozen frame keeps that frame; 0: only the last few raw pictures'),
  recall_fps: z.number({ error: 'expected a positive number of frames per second' }).positive({ error: 'expected a positive number of frames per second' }).default(1)
    .describe('Recent frames kept per second and camera for missed defects (each costs one JPEG encode)'),
  quality: positiveInt('JPEG quality 1–100').max(100, { error: 'expected JPEG quality 1–100' }).default(90).describe('JPEG quality of kept pictures'),
  queue: positiveInt().default(8).describe('Pictures waiting to be encoded at most; beyond it new ones are dropped and counted (alert frames push out policy captures first)'),
  ...capturePoliciesSchema,
});

/** The shape with every key optional and without its default (zod applies a default even inside optional). */
const partialOf = <T extends Record<string, z.ZodDefault<z.ZodType>>>(shape: T) =>
  z.strictObject(Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, (v.unwrap() as z.ZodType).optional().describe(v.description ?? k)])) as {
    [K in keyof T]: z.ZodOptional<T[K]['def']['innerType']>
  });

/** A camera's `capture:`: any policy key of the global block, overriding it for this camera only. */
export const cameraCaptureSchema = z.strictObject({
  random: partialOf(randomSchema.shape).optional().describe('This camera\'s random frames'),
  near_threshold: partialOf(nearSchema.shape).optional().describe('This camera\'s near-threshold frames'),
  unconfirmed_track: partialOf(unconfirmedSchema.shape).optional().describe('This camera\'s unconfirmed tracks'),
  rare_class: partialOf(rareSchema.shape).optional().describe('This camera\'s rare classes'),
});
