-- Registered OAuth 2.0 clients (RFC 6749 section 2) and per-API audiences (RFC 8707).

-- A public client (mobile or desktop app) has no secret; a confidential one stores its secret as
-- SHA-256 hex. `grant_types` and `audiences` are space-separated; empty `audiences` = any.
CREATE TABLE oauth_clients (
    client_id    TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    confidential BOOLEAN NOT NULL,
    secret_hash  TEXT,
    grant_types  TEXT NOT NULL,
    audiences    TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- The identifier a resource server is known by in `resource` requests and in the `aud` claim.
ALTER TABLE resource_servers ADD COLUMN audience TEXT;
CREATE UNIQUE INDEX resource_servers_by_audience ON resource_servers (audience);
