-- The service graph, derived from spans at ingest. A call is a parent span
-- in one service with a child span in another, counted once when the later
-- of the two is written (whatever the order, batches or delay), in the
-- minute and hour of the parent's start. A client or producer span with no
-- child in another service is a call to a virtual node named by its
-- peer.service, db.system, messaging.system or server.address attribute.
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

-- Client and producer spans counted as calls to a virtual node, so that a
-- child arriving later in another service moves the call to the real edge.
-- Deleted with their trace.
CREATE TABLE virtual_calls (
    trace_rowid  INTEGER NOT NULL,
    span_id      BLOB NOT NULL,
    node         TEXT NOT NULL,
    PRIMARY KEY (trace_rowid, span_id)
) WITHOUT ROWID;

-- Span rollup deltas of recent groups, one row per group, merged into
-- span_rollups every few groups: a group writes one row here instead of
-- updating a row per series and bucket. Queries add them in.
CREATE TABLE span_rollup_deltas (
    id    INTEGER PRIMARY KEY,
    delta BLOB NOT NULL
);
