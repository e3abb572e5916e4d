-- Span dictionaries: zstd dictionaries trained on this database's own
-- encoded span attributes and events, so each span's blobs can be packed
-- on their own (a row at a time) yet shrink several-fold.
--
-- A dictionary is never changed once stored, and its id is never reused
-- (AUTOINCREMENT): readers keep decoded dictionaries by id.
-- samples, sample_bytes, packed_bytes: what it was trained on, and those
-- same spans' size packed with it (held-out half), for the log and `check`.
CREATE TABLE span_dictionaries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    created_unix_nano INTEGER NOT NULL,
    samples           INTEGER NOT NULL,
    sample_bytes      INTEGER NOT NULL,
    packed_bytes      INTEGER NOT NULL,
    dictionary        BLOB NOT NULL
);

-- The dictionary a span's attributes and events were packed with; NULL:
-- they are stored as encoded (spans written before a dictionary existed,
-- and blobs that packing would not make smaller).
ALTER TABLE spans ADD COLUMN dictionary_id INTEGER;
