-- Dashboards users save: the JSON document as given (checked by the
-- server), with its title for listing.
CREATE TABLE dashboards (
    id                 TEXT PRIMARY KEY,
    title              TEXT NOT NULL,
    body               TEXT NOT NULL,
    created_unix_nano  INTEGER NOT NULL,
    updated_unix_nano  INTEGER NOT NULL
);
