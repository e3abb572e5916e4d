-- Alert rules, the per-series memory of the engine, alert instances and
-- the notification outbox. A state change and its notifications are
-- written in one transaction; the notifier delivers pending rows.
CREATE TABLE alert_rules (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    enabled                   INTEGER NOT NULL,
    spec                      TEXT NOT NULL, -- the definition, JSON
    state                     TEXT NOT NULL DEFAULT 'ok',
    last_value                REAL,
    last_error                TEXT,
    last_evaluated_unix_nano  INTEGER,
    created_unix_nano         INTEGER NOT NULL,
    updated_unix_nano         INTEGER NOT NULL
);

-- What the engine remembers of a series between evaluations (pending
-- since, cleared since, last resolution); no row = nothing to remember.
CREATE TABLE alert_series (
    rule_id                   TEXT NOT NULL,
    fingerprint               TEXT NOT NULL,
    labels                    TEXT NOT NULL, -- JSON object
    pending_since_unix_nano   INTEGER,
    cleared_since_unix_nano   INTEGER,
    last_resolved_unix_nano   INTEGER,
    PRIMARY KEY (rule_id, fingerprint)
) WITHOUT ROWID;

CREATE TABLE alert_instances (
    id                        TEXT PRIMARY KEY,
    rule_id                   TEXT NOT NULL,
    rule_name                 TEXT NOT NULL,
    severity                  TEXT NOT NULL,
    fingerprint               TEXT NOT NULL,
    labels                    TEXT NOT NULL, -- JSON object
    state                     TEXT NOT NULL, -- firing | acknowledged | resolved
    message                   TEXT NOT NULL,
    value                     REAL,
    threshold                 REAL NOT NULL,
    started_unix_nano         INTEGER NOT NULL,
    acknowledged_unix_nano    INTEGER,
    acknowledged_by           TEXT,
    resolved_unix_nano        INTEGER,
    resolved_by               TEXT,
    last_notified_unix_nano   INTEGER NOT NULL
);
-- At most one open instance per series of a rule.
CREATE UNIQUE INDEX idx_alert_instances_open ON alert_instances (rule_id, fingerprint)
    WHERE state != 'resolved';
CREATE INDEX idx_alert_instances_started ON alert_instances (started_unix_nano);

CREATE TABLE alert_notifications (
    id                        TEXT PRIMARY KEY,
    instance_id               TEXT NOT NULL,
    channel_type              TEXT NOT NULL,
    url                       TEXT NOT NULL,
    secret                    TEXT,
    event                     TEXT NOT NULL, -- firing | resolved
    status                    TEXT NOT NULL, -- pending | delivered | failed
    attempts                  INTEGER NOT NULL DEFAULT 0,
    last_error                TEXT,
    payload                   TEXT NOT NULL,
    created_unix_nano         INTEGER NOT NULL,
    retried_unix_nano         INTEGER, -- a retry by hand; the maximum age counts from it
    next_attempt_unix_nano    INTEGER NOT NULL,
    delivered_unix_nano       INTEGER
);
CREATE INDEX idx_alert_notifications_pending ON alert_notifications (next_attempt_unix_nano)
    WHERE status = 'pending';
CREATE INDEX idx_alert_notifications_instance ON alert_notifications (instance_id);
