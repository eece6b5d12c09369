//! Why a token or a key set was refused.
//!
//! Messages are short sentences fit for an API response or a log line; none ever quotes the
//! token, since a log of refused tokens would otherwise become a log of stealable ones.

/// Why [`Verifier::verify`](crate::Verifier::verify) or a JWKS load refused its input.
///
/// The variants are distinct so callers can react differently: refetch the JWKS on
/// [`UnknownKey`](Self::UnknownKey), tell the client to refresh on [`Expired`](Self::Expired),
/// and alert on the rest, which mean a bug or an attack rather than a stale token.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a well-formed tokend access token: bad shape or encoding, a missing header field or
    /// claim, a claim of the wrong type, or a forbidden header (`jku`, `jwk`, `x5u`, `x5c`, `crit`).
    #[error("The token is malformed.")]
    Malformed,
    /// The header's `kid` names no key we hold; the JWKS may be stale (tokend rotated keys).
    #[error("The token was signed with an unknown key.")]
    UnknownKey,
    /// The header's `alg` is not an asymmetric algorithm we accept, or is not the algorithm of
    /// the key its `kid` names (algorithm confusion, CVE-2015-9235).
    #[error("The token's signing algorithm is not accepted.")]
    UnsupportedAlgorithm,
    /// The signature does not match: the token was forged or altered.
    #[error("The token's signature is invalid.")]
    BadSignature,
    /// The header's `typ` is not `at+jwt`, so this is some other kind of JWT.
    #[error("The token is not an access token.")]
    WrongType,
    /// Past its `exp`: the client should refresh and retry.
    #[error("The token has expired.")]
    Expired,
    /// Before its `nbf`: usually clock skew between tokend and this host.
    #[error("The token is not valid yet.")]
    NotYetValid,
    /// Issued by a different issuer than the one this verifier trusts.
    #[error("The token was issued by an untrusted issuer.")]
    WrongIssuer,
    /// Issued for a different audience than this verifier serves.
    #[error("The token was issued for another audience.")]
    WrongAudience,
    /// The key set could not be used; the reason is in the message. The previous keys stay.
    #[error("The key set is invalid: {0}")]
    InvalidJwks(String),
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::VerifyError;

    #[test]
    fn messages_are_sentences() {
        for e in [
            VerifyError::Malformed,
            VerifyError::Expired,
            VerifyError::InvalidJwks("x".into()),
        ] {
            let m = e.to_string();
            assert!(m.starts_with("The "), "{m}");
        }
    }
}
