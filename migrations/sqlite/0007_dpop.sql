-- DPoP (RFC 9449, issue #14). A session signed in with a proof is bound to the proof key's
-- RFC 7638 thumbprint; an MFA step remembers the key of the sign-in it finishes; proof ids are
-- kept for their replay window so a proof works once across every node.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
ALTER TABLE mfa_tokens ADD COLUMN dpop_jkt TEXT;
CREATE TABLE dpop_proofs (
    proof_id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
