/**
 * Numbered schema migrations. Entry i takes the database from `user_version`
 * i to i + 1; never edit a released entry, append a new one.
 */
export const migrations: readonly string[] = [
  // 1: alerts history, outbox, per-camera seq, persistent counters.
  `
  CREATE TABLE alerts (
    id            TEXT PRIMARY KEY,
    camera        TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    ts            INTEGER NOT NULL,
    track_id      INTEGER NOT NULL,
    class_id      INTEGER NOT NULL,
    class_name    TEXT    NOT NULL,
    confidence    REAL    NOT NULL,
    box_x         REAL    NOT NULL,
    box_y         REAL    NOT NULL,
    box_w         REAL    NOT NULL,
    box_h         REAL    NOT NULL,
    frame_width   INTEGER NOT NULL,
    frame_height  INTEGER NOT NULL,
    frame_ts      INTEGER NOT NULL,
    confirmed_at  INTEGER NOT NULL,
    model_name    TEXT,
    model_version TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('queued', 'sent', 'dropped', 'rejected')),
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    json          TEXT    NOT NULL,
    UNIQUE (camera, seq)
  );
  CREATE INDEX alerts_ts ON alerts (ts);

  CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   TEXT    NOT NULL UNIQUE,
    camera     TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    replayed   INTEGER NOT NULL DEFAULT 0,
    json       TEXT    NOT NULL
  );
  CREATE INDEX outbox_camera ON outbox (camera);

  CREATE TABLE camera_seq (
    camera TEXT PRIMARY KEY,
    seq    INTEGER NOT NULL
  );

  CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );
  INSERT INTO counters (name, value) VALUES ('outbox_depth', 0), ('outbox_dropped', 0), ('outbox_rejected', 0);
  `,
  // 2: per-camera per-minute statistics, and the ledger of the nightly upload.
  `
  CREATE TABLE aggregates (
    camera           TEXT    NOT NULL,
    minute           INTEGER NOT NULL,  -- UTC minute start, ms since epoch
    frames_received  INTEGER NOT NULL,
    frames_inspected INTEGER NOT NULL,
    frames_dropped   TEXT    NOT NULL,  -- JSON {reason: count}
    classes          TEXT    NOT NULL,  -- JSON {class: {detections, events, confidence_sum, confidence_max}}
    latency          TEXT    NOT NULL,  -- JSON histogram, capture -> PUBACK
    inspect_latency  TEXT    NOT NULL,  -- JSON histogram, capture -> detections ready
    fps_sum          REAL    NOT NULL,
    fps_samples      INTEGER NOT NULL,
    seconds_online   REAL    NOT NULL,
    provider         TEXT,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (minute, camera)
  ) WITHOUT ROWID;

  CREATE TABLE sync_batches (
    key          TEXT    PRIMARY KEY,
    period_start INTEGER NOT NULL,
    period_end   INTEGER NOT NULL,
    cameras      TEXT    NOT NULL,  -- JSON array
    row_count    INTEGER NOT NULL,
    body         BLOB,              -- the exact gzip bytes sent; NULL once the batch is done
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'done')),
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    answer       INTEGER,           -- HTTP status that settled it (0 for a file)
    done_at      INTEGER
  );
  CREATE INDEX sync_batches_status ON sync_batches (status, period_start);

  CREATE TABLE sync_state (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 3: camera health events (history and outbox in one table: unsent while sent_at is NULL),
  // and the degraded share of each camera-minute.
  `
  CREATE TABLE health_events (
    pos        INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order: the drain's cursor
    id         TEXT    NOT NULL UNIQUE,            -- UUIDv7, the subscriber's dedup key
    camera     TEXT    NOT NULL,
    ts         INTEGER NOT NULL,                   -- when the new state began, ms since epoch
    state      TEXT    NOT NULL CHECK (state IN ('ok', 'degraded')),
    reasons    TEXT    NOT NULL,                   -- JSON array
    json       TEXT    NOT NULL,                   -- the change as recorded
    created_at INTEGER NOT NULL,
    replayed   INTEGER NOT NULL DEFAULT 0,
    sent_at    INTEGER                             -- PUBACK time; NULL while in the outbox
  );
  CREATE INDEX health_events_unsent ON health_events (pos) WHERE sent_at IS NULL;
  CREATE INDEX health_events_ts ON health_events (ts);

  ALTER TABLE aggregates ADD COLUMN frames_inspected_degraded INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE aggregates ADD COLUMN seconds_degraded REAL NOT NULL DEFAULT 0;
  `,
  // 4: operator verdicts on alerts (confirmed, false alarm) and missed defects: history and
  // outbox in one table, as health_events. A replaced verdict stays; the newest row of an alert wins.
  `
  CREATE TABLE verdicts (
    pos        INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order: the drain's cursor, and which verdict of an alert is the latest
    id         TEXT    NOT NULL UNIQUE,            -- UUIDv7, the subscriber's dedup key
    alert_id   TEXT    REFERENCES alerts (id),     -- NULL for a missed defect
    camera     TEXT    NOT NULL,
    verdict    TEXT    NOT NULL CHECK (verdict IN ('confirmed', 'false_alarm', 'missed')),
    class_name TEXT    NOT NULL,
    ts         INTEGER NOT NULL,                   -- when the operator gave it, ms since epoch
    replaces   TEXT,                               -- id of the verdict this one supersedes
    json       TEXT    NOT NULL,                   -- the verdict as recorded
    created_at INTEGER NOT NULL,
    replayed   INTEGER NOT NULL DEFAULT 0,
    sent_at    INTEGER,                            -- PUBACK time; NULL while in the outbox
    CHECK ((verdict = 'missed') = (alert_id IS NULL))
  );
  CREATE INDEX verdicts_unsent ON verdicts (pos) WHERE sent_at IS NULL;
  CREATE INDEX verdicts_alert ON verdicts (alert_id, pos) WHERE alert_id IS NOT NULL;
  CREATE INDEX verdicts_ts ON verdicts (ts);
  `,
  // 5: full-size pictures kept for training: the frame of each alert, the frame an operator marked a
  // missed defect on, and frames captured by the capture policies, each with the model's detections.
  `
  CREATE TABLE pictures (
    id            TEXT    PRIMARY KEY,                -- UUIDv7
    camera        TEXT    NOT NULL,
    ts            INTEGER NOT NULL,                   -- capture time of the frame, ms since epoch
    kind          TEXT    NOT NULL CHECK (kind IN ('alert', 'missed', 'capture')),
    reason        TEXT    NOT NULL,                   -- alert | missed | random | near_threshold | unconfirmed_track | rare_class
    alert_id      TEXT    REFERENCES alerts (id),     -- the alert this frame confirmed (kind alert)
    verdict_id    TEXT,                               -- the missed verdict drawn on this frame (kind missed)
    file          TEXT    NOT NULL,                   -- JPEG path relative to the pictures folder
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    detections    TEXT    NOT NULL,                   -- JSON [{class_id, class, confidence, box: {x, y, w, h}}], source pixels: the pre-labels
    model_name    TEXT,
    model_version TEXT,
    created_at    INTEGER NOT NULL,
    exported_at   INTEGER                             -- last time a dataset export included it
  );
  CREATE INDEX pictures_ts ON pictures (ts);
  CREATE INDEX pictures_camera_ts ON pictures (camera, ts);
  CREATE INDEX pictures_alert ON pictures (alert_id) WHERE alert_id IS NOT NULL;
  CREATE INDEX pictures_verdict ON pictures (verdict_id) WHERE verdict_id IS NOT NULL;
  `,
  // 6: the production context the MES (or the command line) set, as a history of changes; the recipe
  // requests and which one is active; the context and recipe stamped on each alert, readable as columns.
  `
  CREATE TABLE context_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- the running line polls rows past the last id it read
    ts          INTEGER NOT NULL,                   -- when the context took effect (its own ts), ms since epoch
    received_at INTEGER NOT NULL,
    source      TEXT    NOT NULL CHECK (source IN ('mqtt', 'cli')),
    json        TEXT    NOT NULL,                   -- the context as validated, stamped as is
    UNIQUE (ts, json)                               -- a retained message arriving again is the same change
  );
  CREATE INDEX context_changes_ts ON context_changes (ts);

  CREATE TABLE recipe_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at  INTEGER NOT NULL,
    source       TEXT    NOT NULL CHECK (source IN ('mqtt', 'cli', 'start')),
    recipe       TEXT    NOT NULL,
    requested_by TEXT,
    request      TEXT    NOT NULL,                  -- the request as received (JSON): a retained one arriving again is ignored
    outcome      TEXT    CHECK (outcome IN ('applied', 'refused')),  -- NULL: written by the command line, not handled yet
    reason       TEXT,                              -- why it was refused
    decided_at   INTEGER
  );
  CREATE INDEX recipe_changes_pending ON recipe_changes (id) WHERE outcome IS NULL;

  ALTER TABLE alerts ADD COLUMN context_order TEXT GENERATED ALWAYS AS (json_extract(json, '$.context.order')) VIRTUAL;
  ALTER TABLE alerts ADD COLUMN context_lot TEXT GENERATED ALWAYS AS (json_extract(json, '$.context.lot')) VIRTUAL;
  ALTER TABLE alerts ADD COLUMN recipe TEXT GENERATED ALWAYS AS (json_extract(json, '$.recipe')) VIRTUAL;
  `,
  // 7: the models on the box (stored by content hash), which one is active, the previous and the
  // candidate, the history of changes, and the events a candidate confirmed in a shadow run.
  `
  CREATE TABLE models (
    hash         TEXT    PRIMARY KEY,                -- sha256 of the ONNX file, hex
    name         TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    classes      TEXT    NOT NULL,                   -- JSON list of class names, in class-id order
    input_width  INTEGER NOT NULL,
    input_height INTEGER NOT NULL,
    file         TEXT    NOT NULL,                   -- the stored copy (or the configured file, for one never added)
    source       TEXT    NOT NULL,                   -- the path it came from
    added_at     INTEGER NOT NULL,
    last_used    INTEGER                             -- last time it inspected frames (active or shadow), ms since epoch
  );
  CREATE TABLE model_state (
    role  TEXT PRIMARY KEY CHECK (role IN ('active', 'previous', 'candidate', 'config_path')),
    value TEXT NOT NULL                              -- a model hash; for config_path the model.path the active one replaced
  );
  CREATE TABLE model_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    ts           INTEGER NOT NULL,
    action       TEXT    NOT NULL CHECK (action IN ('activate', 'rollback', 'shadow', 'shadow_stop')),
    hash         TEXT,                               -- the model asked for
    previous     TEXT,                               -- the model active before
    outcome      TEXT    NOT NULL CHECK (outcome IN ('done', 'refused')),
    requested_by TEXT,
    message      TEXT
  );
  CREATE TABLE shadow_events (
    id           TEXT    PRIMARY KEY,                -- UUIDv7
    camera       TEXT    NOT NULL,
    class_name   TEXT    NOT NULL,
    confidence   REAL    NOT NULL,
    box_x        REAL    NOT NULL,
    box_y        REAL    NOT NULL,
    box_w        REAL    NOT NULL,
    box_h        REAL    NOT NULL,
    ts           INTEGER NOT NULL,                   -- capture time of the confirming frame
    model_hash   TEXT    NOT NULL,                   -- the candidate
    active_hash  TEXT    NOT NULL                    -- the model active meanwhile
  );
  CREATE INDEX shadow_events_ts ON shadow_events (ts);
  CREATE TABLE shadow_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    model_hash   TEXT    NOT NULL,
    active_hash  TEXT    NOT NULL,
    camera       TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER NOT NULL,                   -- moved forward while the run goes on
    frames       INTEGER NOT NULL DEFAULT 0,         -- frames the candidate inspected
    skipped      INTEGER NOT NULL DEFAULT 0,         -- sampled frames dropped because its lane was busy
    UNIQUE (model_hash, active_hash, camera, started_at)
  );
  `,
  // 8: reconciliation with the MES: per-camera shift summaries (kept to restate and to send late), the last
  // shift boundary summarised, and the commands received (by request_id) with the response each got.
  `
  CREATE TABLE shift_summaries (
    camera      TEXT    NOT NULL,
    shift_start INTEGER NOT NULL,                   -- ms since epoch
    shift_end   INTEGER NOT NULL,                   -- ms since epoch, the boundary that closed it
    json        TEXT    NOT NULL,                   -- the payload, as published
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER,                            -- PUBACK time; NULL until the broker took it
    PRIMARY KEY (camera, shift_start)
  );
  CREATE INDEX shift_summaries_end ON shift_summaries (shift_end);

  CREATE TABLE shift_marks (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    boundary INTEGER NOT NULL                       -- the last shift boundary whose summaries are stored
  );

  CREATE TABLE mes_commands (
    request_id  TEXT    PRIMARY KEY,
    command     TEXT    NOT NULL,                   -- replay
    body        TEXT    NOT NULL,                   -- the request as received
    response    TEXT,                               -- the response payload; NULL while the command runs
    created_at  INTEGER NOT NULL,
    answered_at INTEGER,
    sent_at     INTEGER                             -- PUBACK time of the response
  );
  CREATE INDEX mes_commands_created ON mes_commands (created_at);
  `,
];
