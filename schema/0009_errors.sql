-- Error tracking: exceptions from span events and log records grouped by
-- service and fingerprint, with counts per minute and per release. The
-- writer updates a group in the transaction that stores its occurrences.
CREATE TABLE error_groups (
    id                     INTEGER PRIMARY KEY,
    service                TEXT NOT NULL,
    fingerprint            TEXT NOT NULL,
    type                   TEXT NOT NULL,
    message                TEXT NOT NULL, -- normalised
    status                 TEXT NOT NULL DEFAULT 'open',
    resolved_unix_nano     INTEGER,
    first_seen_unix_nano   INTEGER NOT NULL,
    last_seen_unix_nano    INTEGER NOT NULL,
    total_count            INTEGER NOT NULL,
    first_release          TEXT NOT NULL,
    -- the newest occurrence
    sample_unix_nano       INTEGER NOT NULL,
    sample_trace_id        BLOB,
    sample_span_id         BLOB,
    sample_message         TEXT NOT NULL,
    sample_stacktrace      TEXT,
    sample_source          TEXT NOT NULL,
    UNIQUE (service, fingerprint)
);
CREATE INDEX error_groups_last_seen ON error_groups (last_seen_unix_nano);

CREATE TABLE error_group_minutes (
    group_id  INTEGER NOT NULL,
    minute    INTEGER NOT NULL, -- unix minutes
    count     INTEGER NOT NULL,
    PRIMARY KEY (group_id, minute)
) WITHOUT ROWID;
CREATE INDEX error_group_minutes_minute ON error_group_minutes (minute);

CREATE TABLE error_group_releases (
    group_id              INTEGER NOT NULL,
    release               TEXT NOT NULL,
    environment           TEXT NOT NULL,
    count                 INTEGER NOT NULL,
    first_seen_unix_nano  INTEGER NOT NULL,
    last_seen_unix_nano   INTEGER NOT NULL,
    PRIMARY KEY (group_id, release, environment)
) WITHOUT ROWID;
