-- Admin API (issue #11): admin keys, password-reset tickets and the security audit trail.

-- Keys product backends use on /v1/admin; only the SHA-256 hex of a key is stored.
CREATE TABLE admin_keys (
    name       TEXT PRIMARY KEY NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- At most one live reset ticket per user: issuing a new one replaces (voids) the old.
CREATE TABLE password_reset_tickets (
    user_id     TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ticket_hash TEXT NOT NULL UNIQUE,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Security events. Rows name users and accounts by id only (never a login, never a secret), so
-- deleting a user leaves nothing that names them. Ids are UUIDv7 text: ordered by time.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY NOT NULL,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    account_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    actor      TEXT NOT NULL,
    details    TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (at, id);
CREATE INDEX audit_events_by_user ON audit_events (user_id, at);
