-- Trace blocks: for each run of 128 consecutive trace rowids whose spans
-- have settled, a filter of what those spans hold (attribute values,
-- operations, services, resources, numeric ranges), so an attribute search
-- reads the spans of only the blocks that may match.
--
-- block: trace rowid >> 7. A block without a row has no filter yet (or
-- new spans arrived after its filter was built, which deletes the row in
-- the same transaction); searches read all of its spans.
-- id: new on every seal (AUTOINCREMENT never reuses one), so readers can
-- cache a decoded filter by it.
-- min_start, max_start: the range of its traces' starts when sealed.
CREATE TABLE trace_blocks (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    block     INTEGER NOT NULL UNIQUE,
    min_start INTEGER NOT NULL,
    max_start INTEGER NOT NULL,
    filter    BLOB NOT NULL
);
-- Covers the search's listing of blocks by time without reading filters.
CREATE INDEX idx_trace_blocks_time ON trace_blocks (max_start, min_start, block);
