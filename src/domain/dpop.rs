//! DPoP (RFC 9449) in tokend's own flows: which proof a request must carry and what it binds.
//!
//! - **Sign-in** (password, MFA step): a valid proof binds the new session to its key's
//!   thumbprint; with `TOKEND_DPOP_REQUIRED` a sign-in without one is refused. An MFA step
//!   finishing a sign-in that proved a key must prove the same key.
//! - **Refresh** of a bound session: a proof by the session's key is required and is checked
//!   *before* the refresh token is classified, so a thief holding an old token but not the key
//!   cannot trigger reuse detection and sign the victim out.
//! - **Access tokens** of a bound session carry `cnf.jkt`, and tokend's own endpoints accept them
//!   only as `Authorization: DPoP` with a proof carrying `ath`.
//!
//! The stateless checks are `tokend_verify::dpop`'s, shared with resource APIs; this module adds
//! the state: the replay table every node shares and the server nonces.

use tokend_verify::dpop::{check_proof, DpopError, ProofContext, VerifiedProof};

use crate::crypto::opaque::sha256_hex;
use crate::domain::admin::audit::AuditEvent;
use crate::domain::Tokend;
use crate::error::{DpopAt, Error, Result};

/// The `DPoP` header of one request, with what the proof must match. Built by the HTTP layer.
/// `Debug` names the request but never prints the proof.
#[derive(Clone, Default)]
pub struct DpopInput {
    /// The one proof sent, if any.
    pub proof: Option<String>,
    /// More than one `DPoP` header, or one that is not text: always refused.
    pub malformed: bool,
    /// The request method.
    pub method: String,
    /// The request URL as clients address it: the configured issuer followed by the path.
    pub url: String,
}

impl std::fmt::Debug for DpopInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopInput")
            .field("proof", &self.proof.as_ref().map(|_| "***"))
            .field("malformed", &self.malformed)
            .field("method", &self.method)
            .field("url", &self.url)
            .finish()
    }
}

impl DpopInput {
    /// Whether the request carried any `DPoP` header at all.
    pub fn present(&self) -> bool {
        self.proof.is_some() || self.malformed
    }
}

impl Tokend {
    /// The key a token-endpoint request proves (sign-in, MFA step, refresh): `Ok(None)` when it
    /// sent no proof, which only a sign-in under `TOKEND_DPOP_REQUIRED` refuses (`required`).
    pub async fn token_endpoint_proof(
        &self,
        input: &DpopInput,
        required: bool,
    ) -> Result<Option<VerifiedProof>> {
        if !input.present() {
            return if required {
                Err(dpop_error(DpopAt::TokenEndpoint, DpopError::Missing))
            } else {
                Ok(None)
            };
        }
        self.checked_proof(input, None, DpopAt::TokenEndpoint)
            .await
            .map(Some)
    }

    /// The proof of a token-endpoint request that must be by the key `jkt` (an MFA step
    /// finishing a sign-in that proved it).
    pub async fn token_endpoint_proof_by(&self, input: &DpopInput, jkt: &str) -> Result<()> {
        match self.token_endpoint_proof(input, true).await? {
            Some(proof) if proof.jkt == jkt => Ok(()),
            _ => Err(dpop_error(DpopAt::TokenEndpoint, DpopError::KeyMismatch)),
        }
    }

    /// Checks the proof that must come with a bound access token at tokend's own endpoints:
    /// `ath` over `token`, signed by the key `jkt` names.
    pub async fn resource_proof(&self, input: &DpopInput, token: &str, jkt: &str) -> Result<()> {
        let proof = self
            .checked_proof(input, Some(token), DpopAt::Resource)
            .await?;
        if proof.jkt != jkt {
            return Err(dpop_error(DpopAt::Resource, DpopError::KeyMismatch));
        }
        Ok(())
    }

    /// Refuses a refresh of a session bound to `jkt` whose proof (`presented`, as
    /// [`Self::token_endpoint_proof`] judged it) is missing, invalid or by another key, with an
    /// audit row (at most one per session a minute, so a thief retrying cannot fill the trail).
    pub(crate) async fn bound_refresh_proof(
        &self,
        presented: Result<Option<VerifiedProof>>,
        jkt: &str,
        session: uuid::Uuid,
        user: uuid::Uuid,
        ip: std::net::IpAddr,
    ) -> Result<()> {
        let outcome = match presented {
            Ok(Some(proof)) if proof.jkt == jkt => return Ok(()),
            Ok(Some(_)) => dpop_error(DpopAt::TokenEndpoint, DpopError::KeyMismatch),
            Ok(None) => dpop_error(DpopAt::TokenEndpoint, DpopError::Missing),
            // Asking for a fresh nonce is part of the protocol, not an attack.
            Err(e @ Error::UseDpopNonce { .. }) => return Err(e),
            Err(e) => e,
        };
        self.metrics.event("dpop_proof_rejected");
        let now = self.clock.now();
        if self
            .audit_throttle
            .admit(&format!("dpop:{session}"), now, 60)
        {
            self.audit(
                AuditEvent::new("dpop.proof_rejected", "system")
                    .user(user)
                    .from(ip, None)
                    .details(serde_json::json!({
                        "session": session,
                        "reason": outcome.to_string(),
                    })),
            )
            .await;
        }
        tracing::warn!(%session, %user, "refresh of a DPoP-bound session without a valid proof");
        Err(outcome)
    }

    /// Stateless checks, then the nonce (when required), then the replay table.
    async fn checked_proof(
        &self,
        input: &DpopInput,
        access_token: Option<&str>,
        at: DpopAt,
    ) -> Result<VerifiedProof> {
        let proof = match (&input.proof, input.malformed) {
            (Some(proof), false) => proof,
            _ => return Err(dpop_error(at, DpopError::Missing)),
        };
        let now = self.clock.now();
        let mut ctx = ProofContext::new(&input.method, &input.url, now);
        if let Some(token) = access_token {
            ctx = ctx.with_access_token(token);
        }
        let verified = check_proof(proof, &ctx).map_err(|e| dpop_error(at, e))?;
        if self.settings.dpop_nonce
            && !verified
                .nonce
                .as_deref()
                .is_some_and(|n| self.dpop_nonces.is_current(n, now))
        {
            return Err(Error::UseDpopNonce {
                nonce: self.dpop_nonces.issue(now),
                at,
            });
        }
        // Within its window a proof's jti may be seen once per key, on any node.
        let id = sha256_hex(format!("{}:{}", verified.jkt, verified.jti).as_bytes());
        let horizon = verified.replay_horizon(&ctx) + ctx.max_skew_secs;
        if !self.store.record_dpop_proof(&id, horizon, now).await? {
            return Err(dpop_error(at, DpopError::Replayed));
        }
        Ok(verified)
    }

    /// A fresh nonce for the `DPoP-Nonce` header of responses, when nonces are on.
    pub fn dpop_nonce_header(&self) -> Option<String> {
        self.settings
            .dpop_nonce
            .then(|| self.dpop_nonces.issue(self.clock.now()))
    }
}

fn dpop_error(at: DpopAt, e: DpopError) -> Error {
    Error::InvalidDpopProof {
        message: e.to_string(),
        at,
    }
}
