-- Forwarding (`--forward-otlp`): every accepted batch, as the OTLP/HTTP
-- protobuf request the upstream receives, written in the transaction that
-- stores it, and sent upstream in id order (so in order per signal) by the
-- forwarder.
--
-- signal: 0 traces, 1 logs, 2 metrics; body: the protobuf request,
-- zstd-compressed. A row goes once every configured
-- upstream has it, or when the outbox is past its size limit (oldest
-- first, counted).
CREATE TABLE forward_outbox (
    id                INTEGER PRIMARY KEY,
    signal            INTEGER NOT NULL,
    created_unix_nano INTEGER NOT NULL,
    body              BLOB NOT NULL
);

-- Per upstream (its base URL): the highest outbox id it has received, or
-- that was given up on.
CREATE TABLE forward_cursors (
    destination  TEXT PRIMARY KEY,
    sent_through INTEGER NOT NULL
) WITHOUT ROWID;
