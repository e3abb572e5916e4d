-- Service metrics derived from spans at ingest, in the writer's transaction.
--
-- A series is (service, operation = span name, span kind, status code).
-- Past a per-service limit, spans of new operations count in the series
-- named '__overflow__', so span names carrying ids cannot grow these tables
-- without bound.
CREATE TABLE span_series (
    id         INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id),
    operation  TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    UNIQUE (service_id, operation, kind, status)
);

-- Per series and time bucket: one row per minute (resolution 60) and one
-- per hour (resolution 3600), both written with every span, so long ranges
-- read hours. `histogram` is a model::DurationHistogram (exponential
-- buckets and the 16 spanmetrics buckets).
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
CREATE INDEX idx_span_rollups_time ON span_rollups (resolution, bucket_start);
