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
  // 6: RESERVED for production context and recipes stamped on alerts. Placeholder until filled.
  `SELECT 1;`,
  // 7: RESERVED for the model registry and shadow comparisons. Placeholder until filled.
  `SELECT 1;`,
  // 8: RESERVED for MES commands (replay requests by request_id) and shift summaries. Placeholder until filled.
  `SELECT 1;`,
];
