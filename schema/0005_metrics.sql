-- OTLP metrics as Prometheus series. Each series (its full label set, the
-- metric name under __name__) has an id; its samples are appended to
-- metric_head as they arrive and, once their hour is over, moved by the
-- writer into one compressed chunk per series and hour (delta-of-delta
-- timestamps, XOR-compressed values, as in Gorilla and Prometheus).

-- One row per metric family: what /metadata and /api/metrics/names say.
CREATE TABLE metric_families (
    name        TEXT PRIMARY KEY,  -- the translated family name
    type        TEXT NOT NULL,     -- gauge | counter | histogram | summary
    unit        TEXT NOT NULL,     -- the OTLP unit
    help        TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE metric_series (
    id          INTEGER PRIMARY KEY,
    family      TEXT NOT NULL,     -- metric_families.name
    name        TEXT NOT NULL,     -- __name__, e.g. family_bucket
    labels      TEXT NOT NULL UNIQUE, -- the sorted label set, JSON
    start_ms    INTEGER NOT NULL   -- start time of the last cumulative point
);
CREATE INDEX metric_series_by_name ON metric_series (name);
CREATE INDEX metric_series_by_family ON metric_series (family);

-- Samples not yet in a chunk, in series and time order.
CREATE TABLE metric_head (
    series_id   INTEGER NOT NULL,
    t           INTEGER NOT NULL,  -- unix milliseconds
    v           INTEGER NOT NULL,  -- the f64's bits: SQLite has no NaN
    PRIMARY KEY (series_id, t)
) WITHOUT ROWID;

-- Compressed samples: one chunk per series and hour (fewer when a series
-- starts or stops within the hour). Chunks of a series never overlap.
CREATE TABLE metric_chunks (
    series_id   INTEGER NOT NULL,
    min_t       INTEGER NOT NULL,  -- the first sample's time, unix ms
    max_t       INTEGER NOT NULL,  -- the last sample's time
    samples     INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (series_id, min_t)
) WITHOUT ROWID;
CREATE INDEX metric_chunks_by_max_t ON metric_chunks (max_t);

-- Exemplars: measurements with the trace they were made in.
CREATE TABLE metric_exemplars (
    series_id   INTEGER NOT NULL,
    t           INTEGER NOT NULL,  -- unix milliseconds
    value       INTEGER NOT NULL,  -- the f64's bits
    trace_id    BLOB,
    span_id     BLOB,
    labels      TEXT NOT NULL,     -- the exemplar's own labels, JSON
    PRIMARY KEY (series_id, t, value)
) WITHOUT ROWID;
CREATE INDEX metric_exemplars_by_t ON metric_exemplars (t);
