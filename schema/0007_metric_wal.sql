-- The metric head moves to memory: each group commit writes one row here
-- with all of its samples (series id, time, value bits), replayed into the
-- in-memory head at start and deleted once compaction has put every one
-- of its samples into chunks. metric_head is no longer written; its rows
-- are read once at start and deleted by the next compactions.
CREATE TABLE metric_wal (
    id    INTEGER PRIMARY KEY,
    max_t INTEGER NOT NULL, -- the newest sample's time (unix ms)
    data  BLOB NOT NULL
);
