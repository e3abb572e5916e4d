CREATE TABLE admin_credentials (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash      TEXT NOT NULL,
    changed_unix_nano  INTEGER NOT NULL
);
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
CREATE TABLE alert_series (
    rule_id                   TEXT NOT NULL,
    fingerprint               TEXT NOT NULL,
    labels                    TEXT NOT NULL, -- JSON object
    pending_since_unix_nano   INTEGER,
    cleared_since_unix_nano   INTEGER,
    last_resolved_unix_nano   INTEGER,
    PRIMARY KEY (rule_id, fingerprint)
) WITHOUT ROWID;
CREATE TABLE api_keys (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL,
    prefix               TEXT NOT NULL,
    key_hash             BLOB NOT NULL UNIQUE,
    created_unix_nano    INTEGER NOT NULL,
    last_used_unix_nano  INTEGER,
    revoked_unix_nano    INTEGER
);
CREATE TABLE attribute_keys (
    id  INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    unix_nano    INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT,
    remote_addr  TEXT,
    outcome      TEXT NOT NULL,
    -- A JSON object.
    details      TEXT NOT NULL
);
CREATE TABLE dashboards (
    id                 TEXT PRIMARY KEY,
    title              TEXT NOT NULL,
    body               TEXT NOT NULL,
    created_unix_nano  INTEGER NOT NULL,
    updated_unix_nano  INTEGER NOT NULL
);
CREATE TABLE error_group_minutes (
    group_id  INTEGER NOT NULL,
    minute    INTEGER NOT NULL, -- unix minutes
    count     INTEGER NOT NULL,
    PRIMARY KEY (group_id, minute)
) WITHOUT ROWID;
CREATE TABLE error_group_releases (
    group_id              INTEGER NOT NULL,
    release               TEXT NOT NULL,
    environment           TEXT NOT NULL,
    count                 INTEGER NOT NULL,
    first_seen_unix_nano  INTEGER NOT NULL,
    last_seen_unix_nano   INTEGER NOT NULL,
    PRIMARY KEY (group_id, release, environment)
) WITHOUT ROWID;
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
CREATE TABLE forward_cursors (
    destination  TEXT PRIMARY KEY,
    sent_through INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE "forward_outbox" (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    signal            INTEGER NOT NULL,
    created_unix_nano INTEGER NOT NULL,
    body              BLOB NOT NULL
);
CREATE TABLE log_journal (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    received_unix_nano INTEGER NOT NULL,
    record             BLOB NOT NULL
);
CREATE TABLE metric_chunks (
    series_id   INTEGER NOT NULL,
    min_t       INTEGER NOT NULL,  -- the first sample's time, unix ms
    max_t       INTEGER NOT NULL,  -- the last sample's time
    samples     INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (series_id, min_t)
) WITHOUT ROWID;
CREATE TABLE metric_exemplars (
    series_id   INTEGER NOT NULL,
    t           INTEGER NOT NULL,  -- unix milliseconds
    value       INTEGER NOT NULL,  -- the f64's bits
    trace_id    BLOB,
    span_id     BLOB,
    labels      TEXT NOT NULL,     -- the exemplar's own labels, JSON
    PRIMARY KEY (series_id, t, value)
) WITHOUT ROWID;
CREATE TABLE metric_families (
    name        TEXT PRIMARY KEY,  -- the translated family name
    type        TEXT NOT NULL,     -- gauge | counter | histogram | summary
    unit        TEXT NOT NULL,     -- the OTLP unit
    help        TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE metric_head (
    series_id   INTEGER NOT NULL,
    t           INTEGER NOT NULL,  -- unix milliseconds
    v           INTEGER NOT NULL,  -- the f64's bits: SQLite has no NaN
    PRIMARY KEY (series_id, t)
) WITHOUT ROWID;
CREATE TABLE metric_series (
    id          INTEGER PRIMARY KEY,
    family      TEXT NOT NULL,     -- metric_families.name
    name        TEXT NOT NULL,     -- __name__, e.g. family_bucket
    labels      TEXT NOT NULL UNIQUE, -- the sorted label set, JSON
    start_ms    INTEGER NOT NULL   -- start time of the last cumulative point
);
CREATE TABLE metric_wal (
    id    INTEGER PRIMARY KEY,
    max_t INTEGER NOT NULL, -- the newest sample's time (unix ms)
    data  BLOB NOT NULL
);
CREATE TABLE operations (
    id         INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id),
    name       TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    span_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (service_id, name, kind)
);
CREATE TABLE resources (
    id         INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id),
    attributes TEXT NOT NULL UNIQUE
);
CREATE TABLE schema_migrations (
             version            INTEGER PRIMARY KEY,
             name               TEXT NOT NULL,
             applied_unix_nano  INTEGER NOT NULL
         );
CREATE TABLE scopes (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    version TEXT NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE service_edges (
    resolution        INTEGER NOT NULL,
    bucket_start      INTEGER NOT NULL, -- unix seconds, a multiple of resolution
    parent_service_id INTEGER NOT NULL REFERENCES services(id),
    child             TEXT NOT NULL,    -- a service name, or a virtual node's
    virtual           INTEGER NOT NULL, -- 1 for a virtual node
    call_count        INTEGER NOT NULL,
    error_count       INTEGER NOT NULL,
    duration_sum_nano INTEGER NOT NULL,
    histogram         BLOB NOT NULL,    -- of the parent (client side) durations
    PRIMARY KEY (resolution, bucket_start, parent_service_id, child, virtual)
) WITHOUT ROWID;
CREATE TABLE services (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    span_count          INTEGER NOT NULL DEFAULT 0,
    last_seen_unix_nano INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    id_hash              BLOB PRIMARY KEY,
    created_unix_nano    INTEGER NOT NULL,
    last_seen_unix_nano  INTEGER NOT NULL,
    -- Absolute expiry; the idle limit is checked against last_seen.
    expires_unix_nano    INTEGER NOT NULL,
    remote_addr          TEXT
) WITHOUT ROWID;
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE span_dictionaries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    created_unix_nano INTEGER NOT NULL,
    samples           INTEGER NOT NULL,
    sample_bytes      INTEGER NOT NULL,
    packed_bytes      INTEGER NOT NULL,
    dictionary        BLOB NOT NULL
, layout INTEGER NOT NULL DEFAULT 0);
CREATE TABLE span_rollup_deltas (
    id    INTEGER PRIMARY KEY,
    delta BLOB NOT NULL
);
CREATE TABLE span_rollups (
    resolution        INTEGER NOT NULL,
    series_id         INTEGER NOT NULL,
    bucket_start      INTEGER NOT NULL, -- unix seconds, a multiple of resolution
    span_count        INTEGER NOT NULL,
    duration_sum_nano INTEGER NOT NULL,
    duration_min_nano INTEGER NOT NULL,
    duration_max_nano INTEGER NOT NULL,
    histogram         BLOB NOT NULL,
    PRIMARY KEY (resolution, series_id, bucket_start)
) WITHOUT ROWID;
CREATE TABLE span_series (
    id         INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id),
    operation  TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    UNIQUE (service_id, operation, kind, status)
);
CREATE TABLE spans (
    trace_rowid     INTEGER NOT NULL,
    span_id         BLOB NOT NULL,
    parent_span_id  BLOB,
    operation_id    INTEGER NOT NULL,
    start_offset_nano INTEGER NOT NULL,
    duration_nano   INTEGER NOT NULL,
    status_code     INTEGER NOT NULL,
    status_message  TEXT,
    resource_id     INTEGER NOT NULL,
    scope_id        INTEGER NOT NULL,
    attributes      BLOB,
    events          BLOB,
    links           BLOB, dictionary_id INTEGER,
    PRIMARY KEY (trace_rowid, span_id)
) WITHOUT ROWID;
CREATE TABLE trace_blocks (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    block     INTEGER NOT NULL UNIQUE,
    min_start INTEGER NOT NULL,
    max_start INTEGER NOT NULL,
    filter    BLOB NOT NULL
);
CREATE TABLE trace_services (
    service_id      INTEGER NOT NULL,
    start_unix_nano INTEGER NOT NULL,
    trace_rowid     INTEGER NOT NULL,
    PRIMARY KEY (service_id, start_unix_nano, trace_rowid)
) WITHOUT ROWID;
CREATE TABLE traces (
    id                INTEGER PRIMARY KEY,
    trace_id          BLOB NOT NULL UNIQUE,
    start_unix_nano   INTEGER NOT NULL,
    end_unix_nano     INTEGER NOT NULL,
    root_operation_id INTEGER REFERENCES operations(id),
    span_count        INTEGER NOT NULL,
    error_count       INTEGER NOT NULL,
    services          TEXT NOT NULL
, span_base_unix_nano INTEGER);
CREATE TABLE virtual_calls (
    trace_rowid  INTEGER NOT NULL,
    span_id      BLOB NOT NULL,
    node         TEXT NOT NULL,
    PRIMARY KEY (trace_rowid, span_id)
) WITHOUT ROWID;
CREATE INDEX audit_log_time ON audit_log (unix_nano);
CREATE INDEX error_group_minutes_minute ON error_group_minutes (minute);
CREATE INDEX error_groups_last_seen ON error_groups (last_seen_unix_nano);
CREATE UNIQUE INDEX idx_alert_instances_open ON alert_instances (rule_id, fingerprint)
    WHERE state != 'resolved';
CREATE INDEX idx_alert_instances_started ON alert_instances (started_unix_nano);
CREATE INDEX idx_alert_notifications_instance ON alert_notifications (instance_id);
CREATE INDEX idx_alert_notifications_pending ON alert_notifications (next_attempt_unix_nano)
    WHERE status = 'pending';
CREATE INDEX idx_span_rollups_time ON span_rollups (resolution, bucket_start);
CREATE INDEX idx_trace_blocks_time ON trace_blocks (max_start, min_start, block);
CREATE INDEX idx_traces_start_unix_nano ON traces (start_unix_nano);
CREATE INDEX metric_chunks_by_max_t ON metric_chunks (max_t);
CREATE INDEX metric_exemplars_by_t ON metric_exemplars (t);
CREATE INDEX metric_series_by_family ON metric_series (family);
CREATE INDEX metric_series_by_name ON metric_series (name);
