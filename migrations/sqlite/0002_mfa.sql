-- Second factor (issue #3). Nothing here is usable on its own: TOTP secrets are sealed with
-- AES-256-GCM under a key kept in the keys directory (bound to the user id), recovery codes and
-- mfa_tokens are stored as SHA-256 hashes. Times are Unix seconds.

-- One TOTP credential per user: pending until confirmed with a valid code. last_accepted_step
-- only moves forward, so a time step is accepted at most once (contract section 3).
CREATE TABLE totp_credentials (
    user_id            TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret      TEXT NOT NULL,
    confirmed          BOOLEAN NOT NULL DEFAULT FALSE,
    last_accepted_step INTEGER,
    created_at         INTEGER NOT NULL,
    confirmed_at       INTEGER
);

-- Single-use recovery codes, replaced as a set.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- The pending second step of a sign-in, bound to its user and the sign-in's device.
CREATE TABLE mfa_tokens (
    token_hash         TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_name        TEXT NOT NULL,
    device_platform    TEXT,
    device_app_version TEXT,
    client_id          TEXT,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    attempts_left      INTEGER NOT NULL,
    used_at            INTEGER
);
CREATE INDEX mfa_tokens_by_user ON mfa_tokens (user_id);

-- Wrong codes per user in a fixed window, across all of the user's mfa_tokens, shared by every
-- node through the database.
CREATE TABLE mfa_failures (
    user_id      TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL
);
