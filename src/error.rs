//! The one error type of tokend's domain, named after the contract's error codes (section 2).
//! It is mapped to the wire envelope exactly once, in `http::error`.

/// Why a service token stopped working (contract: `details.reason` of `token_revoked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedReason {
    /// The token was deleted.
    Deleted,
    /// The token was deactivated and may be reactivated.
    Inactive,
}

impl RevokedReason {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Inactive => "inactive",
        }
    }
}

/// Where a DPoP proof was refused, which decides the answer (RFC 9449 sections 5 and 7.1): 400
/// at a token endpoint, 401 with a `WWW-Authenticate: DPoP` challenge where a bound access token
/// is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopAt {
    /// Sign-in, the MFA step, `/v1/auth/token`, `/oauth2/token`.
    TokenEndpoint,
    /// tokend's own endpoints, called with a bound access token.
    Resource,
}

/// Every failure a request can end in. Messages never include secrets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: malformed body or a missing/ill-typed field.
    #[error("{message}")]
    InvalidRequest {
        /// Human sentence.
        message: String,
        /// The offending field, when one is to blame.
        field: Option<String>,
        /// Machine-readable reason (e.g. the password policy's `too_short`).
        reason: Option<&'static str>,
    },
    /// 400: `resource` names no registered resource server, or one the client may not use
    /// (RFC 8707 section 2).
    #[error("the resource {resource:?} is not a known audience for this client")]
    InvalidTarget {
        /// The refused resource indicator.
        resource: String,
    },
    /// 400: a service token offered where only user tokens can be revoked (RFC 7009 section 2.2.1).
    #[error("service tokens are deleted through the management API, not revoked")]
    UnsupportedTokenType,
    /// 401 at the standard endpoints: unknown client, wrong or missing secret, or a secret from a
    /// public client (RFC 6749 section 5.2).
    #[error("client authentication failed")]
    InvalidClient,
    /// 400: the client is not registered for this grant type (RFC 6749 section 5.2).
    #[error("the client may not use this grant type")]
    UnauthorizedClient,
    /// 400: a grant type tokend does not implement (RFC 6749 section 5.2).
    #[error("the grant type is not supported")]
    UnsupportedGrantType,
    /// 400: a password-reset ticket that is wrong, used or expired (one error for all three).
    #[error("the reset ticket is invalid, used or expired")]
    InvalidResetTicket,
    /// 403: a user or service token on `/v1/admin`.
    #[error("this endpoint needs an admin key")]
    AdminKeyRequired,
    /// 409: an account with live service tokens, deleted without `force=true`.
    #[error("the account still has service tokens; delete them or pass force=true")]
    AccountHasServiceTokens,
    /// 400: scope unknown or beyond what the caller may hold.
    #[error("scope {scope:?} is not allowed")]
    InvalidScope {
        /// The offending scope.
        scope: String,
    },
    /// 401: missing, malformed or unknown bearer token or API key.
    #[error("a valid access token or API key is required")]
    Unauthorized {
        /// Whether a token was presented (drives `WWW-Authenticate: error="invalid_token"`).
        token_presented: bool,
    },
    /// 401: unknown login or wrong password, indistinguishable on purpose.
    #[error("login or password is wrong")]
    InvalidCredentials,
    /// 401: mfa_token unknown, expired, used or out of attempts.
    #[error("the MFA token is invalid or expired; sign in again")]
    InvalidMfaToken,
    /// 401: wrong TOTP or recovery code.
    #[error("the code is wrong")]
    InvalidMfaCode {
        /// Wrong codes this mfa_token still tolerates.
        attempts_left: u32,
    },
    /// 401: refresh token unknown, expired, or its session revoked.
    #[error("the refresh token is invalid or expired")]
    InvalidRefreshToken,
    /// 401: a rotated refresh token came back; its session is now revoked.
    #[error("the refresh token was already used; the session has been revoked")]
    RefreshTokenReused,
    /// 401: token past its expiry.
    #[error("the token has expired")]
    TokenExpired,
    /// The DPoP proof is missing, malformed, replayed, stale or by the wrong key.
    #[error("{message}")]
    InvalidDpopProof {
        /// Which check failed (never the proof itself).
        message: String,
        /// Token endpoint or resource.
        at: DpopAt,
    },
    /// The DPoP proof lacks the current server nonce; retry with the one in `DPoP-Nonce`.
    #[error("the DPoP proof must carry the nonce in the DPoP-Nonce header")]
    UseDpopNonce {
        /// The nonce to use.
        nonce: String,
        /// Token endpoint or resource.
        at: DpopAt,
    },
    /// The user holds the most passkeys allowed.
    #[error("you already have {limit} passkeys; remove one first")]
    PasskeyLimitReached {
        /// The limit.
        limit: usize,
    },
    /// A passkey assertion was refused (unknown or spent challenge, unknown or removed passkey,
    /// bad signature, wrong origin, no user verification, a counter that went backwards).
    #[error("the passkey could not be verified")]
    InvalidPasskey,
    /// The credential is registered already (to this user or another).
    #[error("this passkey is registered already")]
    PasskeyAlreadyRegistered,
    /// A DPoP-bound access token sent as a bearer token (or a bearer token sent with the DPoP
    /// scheme): the scheme must match the token.
    #[error(
        "the token and the scheme disagree: a DPoP-bound token is sent as Authorization: DPoP \
         with a proof, any other as Bearer"
    )]
    DpopBoundToken,
    /// 401: service token deleted or deactivated.
    #[error("the token has been revoked")]
    TokenRevoked {
        /// Deleted or inactive.
        reason: RevokedReason,
    },
    /// 403: not a member of the account.
    #[error("you are not a member of this account")]
    AccountAccessDenied,
    /// 403: token lacks a scope.
    #[error("this request needs the scope {scope:?}")]
    ScopeRequired {
        /// The missing scope.
        scope: String,
    },
    /// 403: service token used from outside its allowlist.
    #[error("this token may not be used from this address")]
    IpNotAllowed,
    /// 403: a service token on a user-only endpoint.
    #[error("this endpoint needs a signed-in user's access token")]
    UserTokenRequired,
    /// 403: the user is disabled.
    #[error("this user is disabled")]
    UserDisabled,
    /// 404.
    #[error("not found")]
    NotFound,
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: service-token cap reached.
    #[error("the account already has {limit} service tokens")]
    TokenLimitReached {
        /// The cap.
        limit: u32,
    },
    /// 413.
    #[error("the request body is too large")]
    RequestTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: Option<u64>,
    },
    /// 415.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// 429.
    #[error("too many attempts; retry later")]
    RateLimited {
        /// Whole seconds, at least 1.
        retry_after_secs: u64,
    },
    /// 503: database down or overloaded.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// 500: the detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// A 400 blaming one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            field: Some(field.to_string()),
            reason: None,
        }
    }

    /// A 500 whose cause is logged but not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

/// Result alias for the domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;
