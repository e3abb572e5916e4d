-- Log records between their acknowledgement and the log index.
--
-- The writer appends accepted records here in the same transaction as
-- everything else, so a 2xx means the record is durable. The log indexer
-- moves rows, in id order, into the tantivy indexes and commits them with
-- the highest journal id as the commit payload; the writer then deletes
-- rows up to that id. AUTOINCREMENT keeps ids growing even after the table
-- has been emptied, so a payload never points at a reused id.
-- received_unix_nano tells the indexer's lag (age of the oldest row).
CREATE TABLE log_journal (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    received_unix_nano INTEGER NOT NULL,
    record             BLOB NOT NULL
);
