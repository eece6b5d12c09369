-- Service tokens (API keys), their audit trail, and the resource servers allowed to introspect.
-- Ids are lower-case hyphenated UUID text, times are Unix seconds. A token is stored only as the
-- SHA-256 hex of the whole token; the clear token is shown once at creation and never kept.
CREATE TABLE service_tokens (
    id                TEXT PRIMARY KEY NOT NULL,
    account_id        TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash        TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    -- Space-separated scope names, sorted.
    scopes            TEXT NOT NULL,
    expires_at        INTEGER,
    -- Space-separated canonical addresses/CIDRs; empty means "any address".
    allowed_ips       TEXT NOT NULL,
    max_request_bytes INTEGER,
    active            BOOLEAN NOT NULL DEFAULT TRUE,
    created_at        INTEGER NOT NULL,
    -- The user who created it; kept without a foreign key so the record outlives the user.
    created_by        TEXT NOT NULL,
    last_used_at      INTEGER,
    last_used_ip      TEXT,
    -- Soft delete: a deleted token still answers `token_revoked` (reason `deleted`) instead of
    -- looking unknown, and no longer counts against the per-account cap.
    deleted_at        INTEGER
);
CREATE INDEX service_tokens_by_account ON service_tokens (account_id, deleted_at);

-- Who created, changed or deleted which token, when and from where. Append-only.
CREATE TABLE service_token_audit (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id      TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    actor_user_id TEXT NOT NULL,
    -- created | renamed | deactivated | activated | deleted
    action        TEXT NOT NULL,
    -- JSON describing what changed (never the token itself).
    detail        TEXT,
    client_ip     TEXT NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX service_token_audit_by_account ON service_token_audit (account_id, id);

-- Credentials of resource APIs calling POST /v1/introspect; the secret is stored as SHA-256 hex.
CREATE TABLE resource_servers (
    client_id   TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
