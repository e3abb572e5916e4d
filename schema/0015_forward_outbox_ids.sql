-- Outbox ids are never reused. Without AUTOINCREMENT, SQLite gives the
-- next row max(id) + 1, so once every row had been sent and deleted new
-- rows started again at 1, behind each upstream's cursor, and were never
-- sent. AUTOINCREMENT keeps the highest id ever used (sqlite_sequence);
-- it starts past every cursor here.
CREATE TABLE forward_outbox_ids (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    signal            INTEGER NOT NULL,
    created_unix_nano INTEGER NOT NULL,
    body              BLOB NOT NULL
);
INSERT INTO forward_outbox_ids (id, signal, created_unix_nano, body)
    SELECT id, signal, created_unix_nano, body FROM forward_outbox;
DROP TABLE forward_outbox;
ALTER TABLE forward_outbox_ids RENAME TO forward_outbox;
DELETE FROM sqlite_sequence WHERE name IN ('forward_outbox', 'forward_outbox_ids');
INSERT INTO sqlite_sequence (name, seq) VALUES (
    'forward_outbox',
    MAX(
        COALESCE((SELECT MAX(sent_through) FROM forward_cursors), 0),
        COALESCE((SELECT MAX(id) FROM forward_outbox), 0)
    )
);
