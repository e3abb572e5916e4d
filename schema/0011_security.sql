-- The admin password (one row at most): an argon2id PHC string.
CREATE TABLE admin_credentials (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash      TEXT NOT NULL,
    changed_unix_nano  INTEGER NOT NULL
);

-- Login sessions. Only the SHA-256 of a session id is kept, so a copy of
-- the database does not hand out sessions.
CREATE TABLE sessions (
    id_hash              BLOB PRIMARY KEY,
    created_unix_nano    INTEGER NOT NULL,
    last_seen_unix_nano  INTEGER NOT NULL,
    -- Absolute expiry; the idle limit is checked against last_seen.
    expires_unix_nano    INTEGER NOT NULL,
    remote_addr          TEXT
) WITHOUT ROWID;

-- Managed ingest keys: the SHA-256 of the key, never the key.
CREATE TABLE api_keys (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL,
    prefix               TEXT NOT NULL,
    key_hash             BLOB NOT NULL UNIQUE,
    created_unix_nano    INTEGER NOT NULL,
    last_used_unix_nano  INTEGER,
    revoked_unix_nano    INTEGER
);

-- Who did what, kept for its own retention period.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    unix_nano    INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT,
    remote_addr  TEXT,
    outcome      TEXT NOT NULL,
    -- A JSON object.
    details      TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (unix_nano);
