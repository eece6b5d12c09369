-- Users, accounts, memberships and sessions. Ids are lower-case hyphenated UUID text, times are
-- Unix seconds. No refresh token is stored: a session's live token is derived from its id and
-- generation with a server secret kept in the keys directory.
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    login         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    INTEGER NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, account_id)
);

CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_name        TEXT NOT NULL,
    device_platform    TEXT,
    device_app_version TEXT,
    client_id          TEXT,
    generation         INTEGER NOT NULL,
    rotated_at         INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    last_used_at       INTEGER NOT NULL,
    last_ip            TEXT,
    revoked_at         INTEGER,
    revoked_reason     TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, revoked_at);
