-- Passkeys (WebAuthn, issue #13). One row per credential, unique across users; the credential
-- itself (public key, counter, flags) is webauthn-rs's serialised `Passkey`, with the counter
-- and the backup flags kept beside it as columns. Challenges live here, not in memory, so any
-- node can finish a ceremony another node started; each is spent by one DELETE.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backup_state BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);
CREATE TABLE webauthn_challenges (
    id_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);
-- The passkey step of an MFA sign-in: webauthn-rs's authentication state for the user's passkeys.
ALTER TABLE mfa_tokens ADD COLUMN passkey_state TEXT;
