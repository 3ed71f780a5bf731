import { z } from 'zod';
import { cameraCaptureSchema, captureSchema } from './capture-schema.js';
import { mesSchema } from './mes-schema.js';
import { recipeChoiceSchema, recipeProblems, recipesSchema } from './recipe-schema.js';
import { cronProblem } from './cron.js';
import { urlScheme } from './url.js';

/*
 * The one schema for linesight's configuration. Every object is strict (an
 * unknown key is an error, so a typo never silently falls back to a default),
 * every field has a default where one makes sense and a one-line description.
 * Messages are written as "expected …" so the formatter can append what it found.
 */

const positive = (what = 'positive number') =>
  z.number({ error: `expected ${what}` }).positive({ error: `expected ${what}` });
const positiveInt = (what = 'positive integer') =>
  z.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).positive({ error: `expected ${what}` });
const nonNegativeInt = (what = 'integer ≥ 0') =>
  z.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).min(0, { error: `expected ${what}` });
const unit = (what = 'number between 0 and 1') =>
  z.number({ error: `expected ${what}` }).min(0, { error: `expected ${what}` }).max(1, { error: `expected ${what}` });
const text = (what = 'non-empty string') => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });
const flag = () => z.boolean({ error: 'expected true or false' });
const port = () =>
  z.number({ error: 'expected port number 0–65535' }).int({ error: 'expected port number 0–65535' })
    .min(0, { error: 'expected port number 0–65535' }).max(65535, { error: 'expected port number 0–65535' });

/** A URL whose scheme is one of `schemes` (`mqtt:`…), as `new URL` reads it. */
const urlWith = (schemes: readonly string[], what: string) =>
  text(what).check((ctx) => {
    const expected = `expected a ${what} (${schemes.map((s) => `${s}//`).join(', ')})`;
    const protocol = urlScheme(ctx.value);
    if (protocol === undefined) ctx.issues.push({ code: 'custom', message: expected, input: ctx.value });
    else if (!schemes.includes(protocol)) ctx.issues.push({ code: 'custom', message: `${expected}, not ${protocol}//`, input: ctx.value });
  });

/** `sync.schedule` is compiled the way the upload's scheduler compiles it, so a bad one fails here, before anything opens. */
const cronCheck = (ctx: z.core.ParsePayload<string>) => {
  const problem = cronProblem(ctx.value);
  if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
};

/** An MQTT topic level: no wildcards, no separators. */
const topicLevel = (what: string) =>
  z.string({ error: `expected ${what}` }).regex(/^[A-Za-z0-9_.-]+$/, { error: `expected ${what} made of letters, digits, '_', '-', '.'` });

const point = z.tuple([z.number({ error: 'expected x in pixels' }), z.number({ error: 'expected y in pixels' })], {
  error: 'expected a point [x, y] in source-frame pixels',
});
const polygon = z.array(point, { error: 'expected a polygon: a list of [x, y] points' }).min(3, { error: 'expected a polygon of at least 3 points' });

/*
 * Camera health checks (src/health/): tell "inspected and clean" from "not
 * really inspecting". The global block sets the defaults; a camera's own
 * `health:` overrides any of them. Levels are on a 0–1 grey scale.
 */
const seconds = () => positive('positive number of seconds');
const HEALTH_DOC = {
  enabled: 'Run the health checks on this camera',
  sample_fps: 'Analysed frames per second the checks look at (each read as a small grey copy)',
  learn_seconds: 'Seconds of samples the baseline (sharpness, reference picture) is learned from after a start or a re-learn',
  frozen_after: 'Seconds without change above still_below before a camera is frozen',
  still_below: 'Change (mean absolute difference of two samples, 0–1) below which they count as the same picture: above what a stuck encoder\'s re-sent keyframes make, below a live sensor\'s noise',
  dark_below: 'Mean brightness (0–1) below which the picture is dark',
  bright_above: 'Mean brightness (0–1) above which the picture is bright',
  covered_contrast: 'Contrast (std dev, 0–1) below which a dark-ish picture counts as covered rather than dark',
  dark_after: 'Seconds a dark, bright or covered picture must last before it is reported',
  blurred_ratio: 'Sharpness below this share of the learned baseline is blurred',
  blurred_after: 'Seconds the picture must stay blurred before it is reported',
  moved_fraction: 'Shift of the scene against the learned reference, as a share of the frame width, above which the camera moved',
  moved_after: 'Seconds the shift (or a lost match with the reference) must last before it is reported',
  clear_after: 'Seconds a reason must be gone before it is cleared',
  checks: 'Each check on or off',
  frozen: 'Report a picture that stopped changing (stuck encoder repeating a frame)',
  dark: 'Report a picture too dark to inspect (lights off, lens cap)',
  bright: 'Report a picture too bright to inspect (glare, overexposure)',
  covered: 'Report a dark-ish, nearly uniform picture (something in front of the lens)',
  blurred: 'Report a picture much less sharp than the learned baseline (lost focus, dirty lens)',
  moved: 'Report a scene shifted against the learned reference (camera knocked)',
} as const;

export const healthSchema = z.strictObject({
  enabled: flag().default(true).describe(HEALTH_DOC.enabled),
  sample_fps: positive('positive number of samples per second').default(2).describe(HEALTH_DOC.sample_fps),
  learn_seconds: seconds().default(60).describe(HEALTH_DOC.learn_seconds),
  frozen_after: seconds().default(10).describe(HEALTH_DOC.frozen_after),
  still_below: unit().default(0.001).describe(HEALTH_DOC.still_below),
  dark_below: unit().default(0.06).describe(HEALTH_DOC.dark_below),
  bright_above: unit().default(0.94).describe(HEALTH_DOC.bright_above),
  covered_contrast: unit().default(0.02).describe(HEALTH_DOC.covered_contrast),
  dark_after: seconds().default(5).describe(HEALTH_DOC.dark_after),
  blurred_ratio: unit().default(0.35).describe(HEALTH_DOC.blurred_ratio),
  blurred_after: seconds().default(10).describe(HEALTH_DOC.blurred_after),
  moved_fraction: unit().default(0.04).describe(HEALTH_DOC.moved_fraction),
  moved_after: seconds().default(10).describe(HEALTH_DOC.moved_after),
  clear_after: seconds().default(3).describe(HEALTH_DOC.clear_after),
  checks: z.strictObject({
    frozen: flag().default(true).describe(HEALTH_DOC.frozen),
    dark: flag().default(true).describe(HEALTH_DOC.dark),
    bright: flag().default(true).describe(HEALTH_DOC.bright),
    covered: flag().default(true).describe(HEALTH_DOC.covered),
    blurred: flag().default(true).describe(HEALTH_DOC.blurred),
    moved: flag().default(true).describe(HEALTH_DOC.moved),
  }).prefault({}).describe(HEALTH_DOC.checks),
});

/** A camera's `health:`: any key of the global block, overriding it for this camera only. */
export const cameraHealthSchema = z.strictObject({
  enabled: flag().optional().describe(HEALTH_DOC.enabled),
  sample_fps: positive('positive number of samples per second').optional().describe(HEALTH_DOC.sample_fps),
  learn_seconds: seconds().optional().describe(HEALTH_DOC.learn_seconds),
  frozen_after: seconds().optional().describe(HEALTH_DOC.frozen_after),
  still_below: unit().optional().describe(HEALTH_DOC.still_below),
  dark_below: unit().optional().describe(HEALTH_DOC.dark_below),
  bright_above: unit().optional().describe(HEALTH_DOC.bright_above),
  covered_contrast: unit().optional().describe(HEALTH_DOC.covered_contrast),
  dark_after: seconds().optional().describe(HEALTH_DOC.dark_after),
  blurred_ratio: unit().optional().describe(HEALTH_DOC.blurred_ratio),
  blurred_after: seconds().optional().describe(HEALTH_DOC.blurred_after),
  moved_fraction: unit().optional().describe(HEALTH_DOC.moved_fraction),
  moved_after: seconds().optional().describe(HEALTH_DOC.moved_after),
  clear_after: seconds().optional().describe(HEALTH_DOC.clear_after),
  checks: z.strictObject({
    frozen: flag().optional().describe(HEALTH_DOC.frozen),
    dark: flag().optional().describe(HEALTH_DOC.dark),
    bright: flag().optional().describe(HEALTH_DOC.bright),
    covered: flag().optional().describe(HEALTH_DOC.covered),
    blurred: flag().optional().describe(HEALTH_DOC.blurred),
    moved: flag().optional().describe(HEALTH_DOC.moved),
  }).optional().describe(HEALTH_DOC.checks),
});

/** `mqtt.sparkplug`: linesight as a Sparkplug B edge node, one device per camera, on a connection of its own. */
const sparkplugSchema = z.strictObject({
  enabled: flag().default(false).describe('Publish the line as a Sparkplug B edge node'),
  url: urlWith(['mqtt:', 'mqtts:', 'ws:', 'wss:'], 'broker URL').optional().describe('Broker of the Sparkplug host; defaults to mqtt.url (the embedded broker when none); same credentials and TLS as mqtt'),
  group_id: topicLevel('Sparkplug group id').optional().describe('Sparkplug group id; defaults to site'),
  edge_node: topicLevel('Sparkplug edge node id').optional().describe('Sparkplug edge node id; defaults to line'),
  primary_host: topicLevel('Sparkplug host application id').optional()
    .describe('Host application id whose spBv1.0/STATE/{id} must say online before linesight publishes its births; none: publish at once'),
  client_id: text().optional().describe('MQTT client id of the Sparkplug connection; defaults to linesight-{site}-{line}-sparkplug'),
  data_interval: positive('positive number of seconds').default(1).describe('Seconds between two checks for changed metrics (DDATA/NDATA); defects go out at once'),
});

export const cameraSchema = z.strictObject({
  id: topicLevel('camera id').describe('Stable camera id; used in MQTT topics, the database and the overlay'),
  url: text('camera URL').describe('rtsp://, rtsps://, http(s):// stream, or a video file path (file:// or plain) replayed as a camera'),
  fps: positive().default(5).describe('Analysis rate: frames per second ffmpeg hands to the detector'),
  enabled: flag().default(true).describe('A disabled camera is kept in the config but not started'),
  roi: polygon.optional().describe('Only detections whose centre lies inside this polygon count (source-frame pixels)'),
  exclude: z.array(polygon, { error: 'expected a list of polygons' }).default([]).describe('Detections whose centre lies inside any of these polygons are ignored'),
  stall_timeout: positive('positive number of seconds').optional().describe('Seconds without a frame before the camera is restarted; defaults to ingest.stall_timeout'),
  start_timeout: positive('positive number of seconds').optional().describe('Seconds a (re)starting camera may take to its first frame; defaults to ingest.start_timeout'),
  transport: z.enum(['tcp', 'udp'], { error: 'expected "tcp" or "udp"' }).default('tcp').describe('RTSP transport; TCP survives lossy plant networks better'),
  realtime: flag().default(true).describe('File cameras only: replay at the file’s own rate (false: as fast as possible, for benchmarks)'),
  loop: flag().default(true).describe('File cameras only: start over at the end of the file'),
  hwaccel: z.enum(['none', 'jetson', 'vaapi'], { error: 'expected "none", "jetson" or "vaapi"' }).default('none')
    .describe('Hardware video decode: jetson (NVDEC via nvv4l2 decoders), vaapi (Intel/AMD), none (CPU)'),
  codec: z.enum(['h264', 'hevc'], { error: 'expected "h264" or "hevc"' }).optional()
    .describe('The stream’s codec, for hwaccel: jetson (its decoder must be named before the stream opens); when unset, read from the stream with ffprobe before a start (kept across restarts), else a .h265/.hevc file name, else h264'),
  health: cameraHealthSchema.optional().describe('This camera\'s health checks: any key of the global health block, overriding it'),
  capture: cameraCaptureSchema.optional().describe('This camera\'s capture policies: any policy key of the global capture block, overriding it'),
});

export const configSchema = z.strictObject({
  site: topicLevel('site name').default('plant').describe('Plant or site identifier, first MQTT topic level after the prefix'),
  line: topicLevel('line name').default('line1').describe('Production line identifier'),
  cameras: z.array(cameraSchema, { error: 'expected a list of cameras' }).min(1, { error: 'expected at least one camera' })
    .describe('The cameras of this line'),
  ingest: z.strictObject({
    stall_timeout: positive('positive number of seconds').default(20).describe('Seconds without a frame, once a camera is delivering, before it is restarted'),
    start_timeout: positive('positive number of seconds').default(40).describe('Seconds a (re)starting camera may take to its first frame (some cameras need 40 to start)'),
    backoff_initial: positive('positive number of seconds').default(1).describe('First reconnect delay in seconds; doubles on every failure'),
    backoff_max: positive('positive number of seconds').default(30).describe('Cap of the reconnect delay in seconds (full jitter below it)'),
    stable_after: positive('positive number of seconds').default(10).describe('A camera online this long resets its backoff'),
    decode_threads: nonNegativeInt().default(1)
      .describe('Threads of each camera\'s ffmpeg for decoding and filtering (-threads, -filter_complex_threads); 0 lets ffmpeg choose (about one per core). One spends the least CPU per frame once there are as many cameras as cores (BENCHMARKS.md); 0 suits one high-resolution camera decoded on the CPU'),
    decoder_scheduling: z.enum(['batch', 'normal'], { error: 'expected "batch" or "normal"' }).default('batch')
      .describe('Linux scheduling policy of the cameras\' ffmpeg processes: batch (SCHED_BATCH, same CPU share, but a decoder that wakes does not preempt an inference call mid-way; more frames per second on a busy box, BENCHMARKS.md) or normal (SCHED_OTHER)'),
  }).prefault({}).describe('Camera ingest behaviour'),
  model: z.strictObject({
    path: text('path to an .onnx file').describe('ONNX detector (YOLOv8/YOLO11 or YOLOv5 export); relative paths are relative to the config file'),
    providers: z.array(z.enum(['tensorrt', 'cuda', 'cpu'], { error: 'expected "tensorrt", "cuda" or "cpu"' }), { error: 'expected a list of execution providers' })
      .min(1, { error: 'expected at least one execution provider' }).default(['cpu'])
      .describe('Execution providers to try in order; the first that loads the model is used'),
    input: z.strictObject({
      width: positiveInt('input width in pixels').describe('Model input width'),
      height: positiveInt('input height in pixels').describe('Model input height'),
    }).optional().describe('Input size for models with dynamic spatial dims and no imgsz metadata'),
    confidence: unit().default(0.25).describe('Minimum confidence of a detection'),
    iou: unit().default(0.45).describe('IoU above which NMS suppresses the weaker box of the same class'),
    classes: z.array(text('class name'), { error: 'expected a list of class names' }).optional().describe('Class names, overriding the model metadata'),
    class_confidence: z.record(z.string(), unit()).default({}).describe('Per-class minimum confidence, by class name'),
    ignore_classes: z.array(text('class name')).default([]).describe('Classes that never become detections'),
    batch_max: positiveInt().default(4).describe('Most frames (from different cameras) in one session call'),
    batch_wait_ms: nonNegativeInt('integer ≥ 0 of milliseconds').default(5).describe('Longest wait for more frames before a partial batch runs'),
    threads: nonNegativeInt().default(0).describe('Intra-op threads per session for the CPU provider; 0: one with sessions auto on the CPU, else onnxruntime decides (one per core)'),
    sessions: z.union([z.literal('auto'), positiveInt()], { error: 'expected "auto" or an integer ≥ 1' }).default('auto')
      .describe('Sessions running side by side, each on its own worker thread (the event loop keeps reading cameras and talking to the broker during a call). auto: on the CPU provider one single-thread session per core (up to 4), else 1'),
    device_id: nonNegativeInt().default(0).describe('GPU index for the tensorrt and cuda providers'),
    tensorrt: z.strictObject({
      fp16: flag().default(true).describe('Let TensorRT build FP16 kernels (trt_fp16_enable)'),
      engine_cache_dir: text('directory').optional().describe('Where built engines are cached so later starts skip the build (trt_engine_cache_path)'),
      workspace_mb: positiveInt().optional().describe('Most GPU memory TensorRT may use while building (trt_max_workspace_size)'),
      dla_core: nonNegativeInt().optional().describe('Run on this DLA core (Jetson Orin AGX/NX) with GPU fallback (trt_dla_enable, trt_dla_core)'),
    }).prefault({}).describe('TensorRT provider options (need an onnxruntime build that reads them; see Dockerfile.jetson)'),
    store_dir: text('directory').optional().describe('Where linesight models add keeps models, by content hash; default: models/ next to store.path (docs/models.md)'),
    candidate: text('model version, sha256 or .onnx path').optional()
      .describe('A model run in shadow beside the active one: same frames (a sampled share), own trackers, never alerts; compared with linesight models compare'),
    shadow: z.strictObject({
      share: unit().default(0.25).describe('Share of each camera\'s inspected frames the candidate also inspects (1: all); a frame is skipped, and counted, when its lane is busy'),
      threads: positiveInt().default(1).describe('CPU threads of the candidate\'s one session: its CPU budget'),
    }).prefault({}).describe('How a shadow run shares the box with the active model'),
  }).describe('The defect detector'),
  events: z.strictObject({
    confirm_hits: positiveInt().default(3).describe('A defect is confirmed after this many sightings …'),
    confirm_window: positiveInt().default(5).describe('… within this many of its most recent frames'),
    max_missed: positiveInt().default(5).describe('A track is forgotten after this many frames without a match'),
    match_iou: unit().default(0.2).describe('Least IoU between a track’s predicted box and a detection to match them'),
    max_shift: positive().default(1).describe('Without that overlap, a detection still matches if its centre is within this many box sizes of the prediction'),
    first_shift: positive().default(2.5)
      .describe('The same for a defect seen only once (speed not known yet): how far, in box sizes, a part may move between two analysed frames'),
  }).prefault({}).describe('Turning detections into one event per defect'),
  mqtt: z.strictObject({
    url: urlWith(['mqtt:', 'mqtts:', 'ws:', 'wss:'], 'broker URL').optional().describe('Broker URL; none starts the embedded broker'),
    embedded_port: port().default(1883).describe('Port of the embedded broker when no url is set'),
    protocol_version: z.union([z.literal(5), z.literal(4)], { error: 'expected 5 (MQTT 5) or 4 (MQTT 3.1.1)' }).default(5)
      .describe('MQTT protocol version toward an external broker (the embedded broker always uses 3.1.1)'),
    client_id: text().optional().describe('Client id; defaults to linesight-{site}-{line}'),
    username: text().optional().describe('Broker user name (env LINESIGHT_MQTT_USERNAME)'),
    password: text().optional().describe('Broker password (env LINESIGHT_MQTT_PASSWORD)'),
    tls: z.strictObject({
      ca: text('path to a PEM file').optional().describe('CA certificate(s) to trust'),
      cert: text('path to a PEM file').optional().describe('Client certificate'),
      key: text('path to a PEM file').optional().describe('Client private key'),
      reject_unauthorized: flag().default(true).describe('Refuse brokers whose certificate does not verify'),
    }).optional().describe('TLS settings for mqtts:// and wss://'),
    topic_prefix: z.string({ error: 'expected topic prefix' }).regex(/^[^#+]+$/, { error: 'expected a topic prefix without wildcards' })
      .default('linesight').describe('First topic level(s) of every linesight topic'),
    status_interval: positive('positive number of seconds').default(5).describe('Seconds between camera status messages'),
    sparkplug: sparkplugSchema.optional().describe('Sparkplug B 3.0 edge node beside the JSON topics (docs/sparkplug.md)'),
  }).prefault({}).describe('Alerts to the MES'),
  store: z.strictObject({
    path: text('path to a SQLite file').default('data/linesight.db').describe('SQLite database; relative paths are relative to the config file'),
    retention_days: positiveInt().default(30).describe('Days of alerts and statistics kept locally'),
    outbox_max_rows: positiveInt().default(100000).describe('Most unsent alerts kept; beyond it outbox_full_policy applies'),
    outbox_full_policy: z.enum(['drop_oldest', 'reject_new'], { error: 'expected "drop_oldest" or "reject_new"' }).default('drop_oldest')
      .describe('What happens to alerts when the outbox is full (always counted and reported)'),
    min_free_mb: nonNegativeInt().default(256)
      .describe('Free space the database\'s filesystem keeps: below it linesight prunes what is safe to prune (sent alerts past retention, uploaded statistics) and warns; 0 turns it off'),
  }).prefault({}).describe('Local database'),
  overlay: z.strictObject({
    host: text('host name or address').default('0.0.0.0').describe('Address the operator page listens on'),
    port: port().default(8080).describe('Port of the operator page'),
    token: text().optional().describe('When set, the page, socket and API require it (env LINESIGHT_OVERLAY_TOKEN)'),
    operator_token: text().optional()
      .describe('Token an operator presents (Authorization: Bearer) to judge alerts and add missed defects (env LINESIGHT_OVERLAY_OPERATOR_TOKEN); once any overlay token is set, these actions need this one, and with none set at all they are open'),
    preview_width: positiveInt().default(960).describe('Width of the JPEG previews sent to the page'),
    preview_fps: positive().default(8).describe('Preview frames per second per camera'),
    max_clients: positiveInt().default(16).describe('Most simultaneous page connections'),
    allowed_origins: z.array(urlWith(['http:', 'https:'], 'page origin such as https://hmi.plant.local')).default([])
      .describe('With a token set, pages served from these origins may open the socket too (besides the overlay\'s own); any other Origin is refused'),
  }).prefault({}).describe('Live operator page'),
  sync: z.strictObject({
    url: urlWith(['https:', 'http:'], 'HTTPS URL').optional().describe('Cloud endpoint for the nightly upload; none writes files to sync.dir'),
    token: text().optional().describe('Bearer token (env LINESIGHT_SYNC_TOKEN)'),
    schedule: text('cron expression').check(cronCheck).default('0 2 * * *').describe('When the upload runs (cron, box time zone)'),
    dir: text('directory').default('data/sync').describe('Where batches go when no url is set'),
  }).prefault({}).describe('Nightly upload of aggregates'),
  health: healthSchema.prefault({}).describe('Camera health checks: frozen, dark, bright, covered, blurred, moved'),
  mes: mesSchema.describe('Reconciliation with the MES: shift summaries, replays on request'),
  capture: captureSchema.prefault({}).describe('Full-size pictures kept for training: alert frames, missed defects, capture policies'),
  recipes: recipesSchema,
  recipe: recipeChoiceSchema,
  log: z.strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], { error: 'expected a log level (trace, debug, info, warn, error, fatal, silent)' })
      .default('info').describe('Least severe level logged'),
  }).prefault({}).describe('Logging'),
}).superRefine((cfg, ctx) => {
  const seen = new Map<string, number>();
  cfg.cameras.forEach((cam, i) => {
    const first = seen.get(cam.id);
    if (first !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['cameras', i, 'id'], message: `expected a unique camera id (cameras[${first}] is also "${cam.id}")`, input: cam.id });
    } else seen.set(cam.id, i);
  });
  if (cfg.events.confirm_hits > cfg.events.confirm_window) {
    ctx.addIssue({
      code: 'custom', path: ['events', 'confirm_hits'], input: cfg.events.confirm_hits,
      message: `expected at most events.confirm_window (${cfg.events.confirm_window})`,
    });
  }
  for (const [path, message] of recipeProblems(cfg)) ctx.addIssue({ code: 'custom', path, message, input: undefined });
});

export type Config = z.infer<typeof configSchema>;
export type CameraConfig = z.infer<typeof cameraSchema>;
export type ModelConfig = Config['model'];
export type MqttConfig = Config['mqtt'];
export type SparkplugConfig = NonNullable<MqttConfig['sparkplug']>;
export type StoreConfig = Config['store'];
export type OverlayConfig = Config['overlay'];
export type SyncConfig = Config['sync'];
export type EventsConfig = Config['events'];
export type IngestConfig = Config['ingest'];
export type HealthConfig = Config['health'];
export type MesConfig = Config['mes'];
export type CameraHealthConfig = NonNullable<CameraConfig['health']>;
export type CaptureConfig = Config['capture'];
export type CameraCaptureConfig = NonNullable<CameraConfig['capture']>;
/** `ingest.decoder_scheduling`: the decoders' Linux scheduling policy. */
export type DecoderScheduling = IngestConfig['decoder_scheduling'];
