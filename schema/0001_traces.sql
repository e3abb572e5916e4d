-- Traces: spans clustered by trace, one summary row per trace, and the
-- dictionaries that keep span rows small.
--
-- Spans carry no secondary index. They live in a WITHOUT ROWID table keyed
-- by (trace_rowid, span_id): trace_rowid grows as new traces arrive, so
-- inserts land at the end of the b-tree instead of at random places, and a
-- trace's spans are one contiguous range. Time and service are indexed once
-- per trace (traces, trace_services), not once per span.

CREATE TABLE services (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    span_count          INTEGER NOT NULL DEFAULT 0,
    last_seen_unix_nano INTEGER NOT NULL DEFAULT 0
);

-- One row per (service, span name, span kind): spans point here instead of
-- repeating the service and name.
CREATE TABLE operations (
    id         INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id),
    name       TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    span_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (service_id, name, kind)
);

-- Attribute keys are stored once; encoded attributes refer to them by id.
CREATE TABLE attribute_keys (
    id  INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);

-- Deduplicated resources. `attributes` is canonical JSON and the dedup key.
CREATE TABLE resources (
    id         INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id),
    attributes TEXT NOT NULL UNIQUE
);

CREATE TABLE scopes (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    version TEXT NOT NULL,
    UNIQUE (name, version)
);

-- One summary row per trace, upserted as its spans arrive in any order.
-- root_operation_id stays NULL until the root span (no parent) arrives.
-- services: the trace's service ids, sorted, comma-separated.
CREATE TABLE traces (
    id                INTEGER PRIMARY KEY,
    trace_id          BLOB NOT NULL UNIQUE,
    start_unix_nano   INTEGER NOT NULL,
    end_unix_nano     INTEGER NOT NULL,
    root_operation_id INTEGER REFERENCES operations(id),
    span_count        INTEGER NOT NULL,
    error_count       INTEGER NOT NULL,
    services          TEXT NOT NULL
);
CREATE INDEX idx_traces_start_unix_nano ON traces (start_unix_nano);

-- Which services took part in a trace, ordered for "newest traces of
-- service S" scans. Rewritten when a late span moves the trace's start.
CREATE TABLE trace_services (
    service_id      INTEGER NOT NULL,
    start_unix_nano INTEGER NOT NULL,
    trace_rowid     INTEGER NOT NULL,
    PRIMARY KEY (service_id, start_unix_nano, trace_rowid)
) WITHOUT ROWID;

-- attributes, events and links use the compact encoding of
-- store::sqlite::codec (attribute keys by id).
CREATE TABLE spans (
    trace_rowid     INTEGER NOT NULL,
    span_id         BLOB NOT NULL,
    parent_span_id  BLOB,
    operation_id    INTEGER NOT NULL,
    start_unix_nano INTEGER NOT NULL,
    duration_nano   INTEGER NOT NULL,
    status_code     INTEGER NOT NULL,
    status_message  TEXT,
    resource_id     INTEGER NOT NULL,
    scope_id        INTEGER NOT NULL,
    attributes      BLOB,
    events          BLOB,
    links           BLOB,
    PRIMARY KEY (trace_rowid, span_id)
) WITHOUT ROWID;

-- Small key/value state owned by the server (e.g. the health probe).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
