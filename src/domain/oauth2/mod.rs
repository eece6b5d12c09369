//! The standard OAuth 2.0 surface beside the `/v1` contract (issue #8): registered clients
//! (RFC 6749 section 2), per-API audiences (RFC 8707 resource indicators), token exchange of a
//! service token for a short-lived JWT (RFC 8693) and revocation (RFC 7009). The refresh grant is
//! the same code as `/v1/auth/token` ([`crate::domain::refresh`]): one rotation rule, one scope
//! rule.
//!
//! - [`clients`]: registering, listing, removing and authenticating clients;
//! - [`exchange`]: the token-exchange grant;
//! - [`revoke`]: revocation of refresh and access tokens;
//! - this file: the grant and token-type identifiers and the audience rule.

pub mod clients;
pub mod exchange;
pub mod revoke;

use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::ClientRecord;

/// RFC 6749 section 6.
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
/// RFC 8693 section 2.1.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The `subject_token_type` tokend defines for its service tokens (RFC 8693 section 3 allows
/// URIs of one's own).
pub const TOKEN_TYPE_SERVICE_TOKEN: &str = "urn:tokend:params:oauth:token-type:service_token";
/// RFC 8693 section 3: the `issued_token_type` of an exchange.
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Every grant type the standard token endpoint implements.
pub const GRANT_TYPES: [&str; 2] = [GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE];

impl Tokend {
    /// The `aud` of a token requested with `resource` (RFC 8707): `None` keeps the configured
    /// default audience. A named resource must be the default audience or a registered resource
    /// server's, and within the client's audience list when the client has one; anything else is
    /// `invalid_target`. `client` is the authenticated client at the standard endpoint; at
    /// `/v1/auth/token` it is the session's registered client, looked up only when `resource` is
    /// given, so the plain refresh path costs no extra read.
    pub async fn resolve_audience(
        &self,
        resource: Option<&str>,
        client: Option<&ClientRecord>,
        session_client: Option<&str>,
    ) -> Result<Option<String>> {
        let Some(resource) = resource.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let target = || Error::InvalidTarget {
            resource: resource.to_string(),
        };
        let known = resource == self.access_tokens.default_audience()
            || self.store.audience_registered(resource).await?;
        if !known {
            return Err(target());
        }
        let looked_up;
        let client = match (client, session_client) {
            (Some(c), _) => Some(c),
            (None, Some(id)) => {
                looked_up = self.store.client(id).await?;
                looked_up.as_ref()
            }
            (None, None) => None,
        };
        if let Some(client) = client {
            let allowed = crate::domain::service_tokens::split_column(&client.audiences);
            if !allowed.is_empty() && !allowed.iter().any(|a| a == resource) {
                return Err(target());
            }
        }
        Ok(Some(resource.to_string()))
    }
}
