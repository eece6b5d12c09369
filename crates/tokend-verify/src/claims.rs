//! The wire shapes of a tokend access token (RFC 9068) and of an introspection answer (RFC 7662).
//!
//! tokend serialises these when it issues and introspects, and resource APIs deserialise them, so
//! a field renamed here is renamed for both sides at once.

use serde::{Deserialize, Serialize};

use crate::dpop::Confirmation;
use crate::RateLimit;

/// The JOSE `typ` header tokend puts on access tokens (RFC 9068 section 2.1).
///
/// Checking it stops another JWT signed by the same keys (an ID token, say) from being replayed
/// as an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The `token_type` an introspection answer gives for a JWT access token.
///
/// Named once so tokend and its clients cannot drift apart on the spelling.
pub const TOKEN_TYPE_ACCESS: &str = "access_token";

/// The `token_type` an introspection answer gives for an opaque service token.
///
/// Named once so tokend and its clients cannot drift apart on the spelling.
pub const TOKEN_TYPE_SERVICE: &str = "service_token";

/// RFC 9068 access-token claims as tokend issues them.
///
/// Every field is required: a token missing one was not minted by tokend, so deserialising it
/// fails rather than guessing a default. Unknown claims are ignored so tokend can add claims
/// without breaking resource APIs that have not upgraded yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer URL; resource APIs pin it so tokens from another tokend are refused.
    pub iss: String,
    /// The user's UUID: who acts.
    pub sub: String,
    /// The configured audience; pinned so a token for one API family is not accepted by another.
    pub aud: String,
    /// Expiry, seconds since the Unix epoch; offline validation cannot revoke, so this bounds damage.
    pub exp: i64,
    /// Issue time, seconds since the Unix epoch; kept for audit and for introspection answers.
    pub iat: i64,
    /// Not-before, seconds since the Unix epoch; guards against tokens minted ahead of time.
    pub nbf: i64,
    /// Unique token id, so logs and deny lists can name one token without holding it.
    pub jti: String,
    /// The client that asked for the token (`"tokend"` when the device named none).
    pub client_id: String,
    /// The session (device sign-in) a user token belongs to; revoking it stops the token at
    /// tokend. Absent on service tokens exchanged for a JWT (RFC 8693), which have no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The account (tenant) the token is bound to; resource APIs scope every query by it.
    pub account_uuid: String,
    /// Granted scopes, space-separated as RFC 6749 section 3.3 writes them.
    pub scope: String,
    /// [`TOKEN_KIND_SERVICE`] on a service token exchanged for a JWT (RFC 8693); absent on user
    /// tokens, so the tokens tokend issued before it existed read as user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_kind: Option<String>,
    /// An exchanged service token's IP allowlist, as created; the resource API enforces it
    /// against its own client's address, since the JWT travels without tokend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
    /// An exchanged service token's request-body cap in bytes, enforced by the resource API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<u64>,
    /// An exchanged service token's effective request budget (issue #15), enforced per token id
    /// by the resource API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The key the token is bound to (RFC 9449 section 6.1): only requests with a DPoP proof
    /// signed by that key may use it. Absent on bearer tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The `token_kind` claim of a service token exchanged for a JWT (RFC 8693), whose `sub` is
/// `service_token:<id>` rather than a user.
pub const TOKEN_KIND_SERVICE: &str = "service";

impl AccessClaims {
    /// Whether the token stands for a service token (machine caller) rather than a user.
    pub fn is_service(&self) -> bool {
        self.token_kind.as_deref() == Some(TOKEN_KIND_SERVICE)
    }

    /// The granted scopes one by one, so callers never split the wire string themselves.
    ///
    /// Runs of spaces are tolerated; empty entries are never yielded.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` was granted, compared exactly (scope names are case-sensitive).
    ///
    /// A substring test on the wire string would let `photos:read` match `photos:read_all`;
    /// this compares whole entries.
    pub fn has_scope(&self, scope: &str) -> bool {
        !scope.is_empty() && self.scopes().any(|s| s == scope)
    }
}

/// RFC 7662 introspection response, shared by tokend's `/v1/introspect` and by its clients.
///
/// Absent members are omitted on the wire rather than sent as `null`, so an inactive answer is
/// exactly `{"active":false}` and leaks nothing about the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Introspection {
    /// Whether the token is usable right now; when false, every other member must be ignored.
    pub active: bool,
    /// [`TOKEN_TYPE_ACCESS`] or [`TOKEN_TYPE_SERVICE`], so callers can tell a user from a machine.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token_type: Option<String>,
    /// Granted scopes, space-separated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    /// The account the token acts for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account_uuid: Option<String>,
    /// The user's UUID for access tokens; the service token's id for service tokens.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub: Option<String>,
    /// Expiry in seconds since the Unix epoch; absent for service tokens that never expire.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exp: Option<i64>,
    /// Issue time in seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iat: Option<i64>,
    /// The token's unique id, for logs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jti: Option<String>,
    /// A service token's IP allowlist (CIDRs or addresses), which the caller must enforce.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allowed_ips: Option<Vec<String>>,
    /// A service token's request-body cap in bytes, which the caller must enforce.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_request_bytes: Option<u64>,
    /// A service token's effective request budget, which the caller must enforce (counting is
    /// the resource API's: introspecting does not spend it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rate_limit: Option<RateLimit>,
    /// The key a DPoP-bound token is bound to (RFC 9449 section 6.2): a resource API that
    /// introspects must then check the request's proof against `cnf.jkt`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cnf: Option<Confirmation>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_id: Option<String>,
    /// The issuer URL.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iss: Option<String>,
    /// The audience the token was issued for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aud: Option<String>,
}

impl Introspection {
    /// The answer for any token that is unknown, expired, revoked or malformed.
    ///
    /// RFC 7662 section 2.2 asks for no further detail, so a prober cannot tell those cases apart.
    pub fn inactive() -> Self {
        Self::default()
    }
}

impl From<&AccessClaims> for Introspection {
    /// The active answer for an access token tokend has already checked (signature, expiry,
    /// session), so `/v1/introspect` maps claims to members in exactly one place.
    fn from(claims: &AccessClaims) -> Self {
        Self {
            active: true,
            token_type: Some(TOKEN_TYPE_ACCESS.to_owned()),
            scope: Some(claims.scope.clone()),
            account_uuid: Some(claims.account_uuid.clone()),
            sub: Some(claims.sub.clone()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            jti: Some(claims.jti.clone()),
            allowed_ips: None,
            max_request_bytes: None,
            rate_limit: None,
            cnf: claims.cnf.clone(),
            client_id: Some(claims.client_id.clone()),
            iss: Some(claims.iss.clone()),
            aud: Some(claims.aud.clone()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn claims(scope: &str) -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example".into(),
            sub: "u".into(),
            aud: "api".into(),
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: "j".into(),
            client_id: "tokend".into(),
            sid: Some("s".into()),
            token_kind: None,
            allowed_ips: None,
            max_request_bytes: None,
            rate_limit: None,
            cnf: None,
            account_uuid: "a".into(),
            scope: scope.into(),
        }
    }

    #[test]
    fn scopes_split_on_spaces_and_skip_empty_entries() {
        let c = claims(" photos:read  photos:write ");
        assert_eq!(
            c.scopes().collect::<Vec<_>>(),
            ["photos:read", "photos:write"]
        );
    }

    #[test]
    fn has_scope_matches_whole_entries_only() {
        let c = claims("photos:read_all tokens:manage");
        assert!(c.has_scope("tokens:manage"));
        assert!(!c.has_scope("photos:read"));
        assert!(!c.has_scope("Tokens:manage"));
        assert!(!c.has_scope(""));
        assert!(!claims("").has_scope(""));
    }

    #[test]
    fn claims_missing_a_field_do_not_deserialize() {
        let mut v = serde_json::to_value(claims("a")).unwrap();
        v.as_object_mut().unwrap().remove("account_uuid");
        assert!(serde_json::from_value::<AccessClaims>(v).is_err());
    }

    #[test]
    fn inactive_introspection_is_only_active_false() {
        let json = serde_json::to_string(&Introspection::inactive()).unwrap();
        assert_eq!(json, r#"{"active":false}"#);
        let back: Introspection = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Introspection::inactive());
    }

    #[test]
    fn introspection_from_access_claims_round_trips() {
        let i = Introspection::from(&claims("photos:read"));
        assert!(i.active);
        assert_eq!(i.token_type.as_deref(), Some(TOKEN_TYPE_ACCESS));
        assert_eq!(i.scope.as_deref(), Some("photos:read"));
        assert_eq!(i.allowed_ips, None);
        let json = serde_json::to_value(&i).unwrap();
        assert!(json.get("allowed_ips").is_none());
        assert_eq!(serde_json::from_value::<Introspection>(json).unwrap(), i);
    }

    #[test]
    fn rate_limit_is_omitted_when_none_and_round_trips_when_set() {
        let mut c = claims("a");
        assert!(serde_json::to_value(&c)
            .unwrap()
            .get("rate_limit")
            .is_none());
        c.rate_limit = Some("5/minute".parse().unwrap());
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["rate_limit"],
            serde_json::json!({"requests": 5, "per": "minute"})
        );
        assert_eq!(serde_json::from_value::<AccessClaims>(json).unwrap(), c);
        let i = Introspection {
            active: true,
            rate_limit: c.rate_limit,
            ..Introspection::default()
        };
        let json = serde_json::to_string(&i).unwrap();
        assert_eq!(
            json,
            r#"{"active":true,"rate_limit":{"requests":5,"per":"minute"}}"#
        );
        assert_eq!(serde_json::from_str::<Introspection>(&json).unwrap(), i);
    }
}
