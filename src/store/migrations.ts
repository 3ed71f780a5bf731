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
];
