//! Network I/O (feature `remote`): discovering tokend through its RFC 8414 metadata, keeping its
//! JWKS fresh ([`RemoteVerifier`]) and asking it about service tokens ([`Introspector`]).
//!
//! Nothing here ever logs or formats a token: errors name the endpoint and the HTTP status only.

mod introspect;
mod keys;
#[cfg(all(test, feature = "axum"))]
mod tests;

use std::time::Duration;

use serde::Deserialize;

pub use introspect::{IntrospectError, Introspector, DEFAULT_INTROSPECTION_TTL};
pub use keys::{
    RemoteVerifier, RemoteVerifierBuilder, DEFAULT_REFRESH_CEILING, DEFAULT_REFRESH_FLOOR,
};

use crate::VerifyError;

/// How long one HTTP exchange with tokend may take before it counts as unreachable.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest discovery, JWKS or introspection answer read; tokend's are a few KiB.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why talking to tokend failed. Keys already held stay in service whatever the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// No HTTP answer (connection refused, DNS, timeout); the reason is in the message.
    #[error("tokend could not be reached at {url}: {reason}")]
    Unreachable {
        /// The endpoint that was called.
        url: String,
        /// What the HTTP client reported.
        reason: String,
    },
    /// An answer with a status other than 200.
    #[error("tokend answered {status} at {url}")]
    Status {
        /// The endpoint that was called.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// An answer that is not the expected document (not JSON, a member missing, too large).
    #[error("tokend's answer at {url} could not be read: {reason}")]
    BadResponse {
        /// The endpoint that was called.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The metadata names another issuer than the one asked for (RFC 8414 section 3.3), so it
    /// is not the authorization server this verifier trusts.
    #[error("the metadata names the issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The issuer the verifier was built for.
        expected: String,
        /// The issuer the metadata document claims.
        found: String,
    },
    /// The metadata advertises no `introspection_endpoint`.
    #[error("the metadata advertises no introspection endpoint")]
    NoIntrospectionEndpoint,
    /// The JWKS held no usable key or was ambiguous; the previous keys stay.
    #[error(transparent)]
    Jwks(VerifyError),
}

/// The members of tokend's RFC 8414 metadata (`/.well-known/oauth-authorization-server`) this
/// crate uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthServerMetadata {
    /// The issuer URL; equal to the one the verifier was built for.
    pub issuer: String,
    /// Where the signing keys are published (RFC 7517 JWK set).
    pub jwks_uri: String,
    /// Where resource servers introspect tokens (RFC 7662), if offered.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
}

/// The HTTP client used when the caller brings none: rustls, short timeouts, no redirects (an
/// issuer that redirects its key endpoints is misconfigured, and following would widen trust).
pub(crate) fn default_http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// The RFC 8414 section 3 metadata URL of `issuer`: the well-known path goes between the host
/// and any path component of the issuer.
pub(crate) fn metadata_url(issuer: &str) -> Result<String, RemoteError> {
    let bad = |reason: &str| RemoteError::BadResponse {
        url: issuer.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = reqwest::Url::parse(issuer).map_err(|_| bad("the issuer is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(bad("the issuer must be an http(s) URL without a query"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    Ok(url.into())
}

/// GETs `url` and reads at most [`MAX_RESPONSE_BYTES`] of a 200 answer; the headers come along
/// for `Cache-Control`.
pub(crate) async fn get(
    http: &reqwest::Client,
    url: &str,
) -> Result<(reqwest::header::HeaderMap, Vec<u8>), RemoteError> {
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| unreachable(url, &e))?;
    read(url, response).await
}

/// Checks the status of `response` and reads its body, bounded.
pub(crate) async fn read(
    url: &str,
    mut response: reqwest::Response,
) -> Result<(reqwest::header::HeaderMap, Vec<u8>), RemoteError> {
    if response.status() != reqwest::StatusCode::OK {
        return Err(RemoteError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(url, &e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(RemoteError::BadResponse {
                url: url.to_owned(),
                reason: format!("larger than {MAX_RESPONSE_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((headers, body))
}

/// Parses a JSON answer read by [`get`] or [`read`].
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    url: &str,
    body: &[u8],
) -> Result<T, RemoteError> {
    serde_json::from_slice(body).map_err(|e| RemoteError::BadResponse {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

fn unreachable(url: &str, err: &reqwest::Error) -> RemoteError {
    // reqwest's message names the URL only; the request bodies that carry tokens are not in it.
    RemoteError::Unreachable {
        url: url.to_owned(),
        reason: error_chain(err),
    }
}

/// Fetches and checks the metadata of `issuer`.
pub(crate) async fn discover(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AuthServerMetadata, RemoteError> {
    let url = metadata_url(issuer)?;
    let (_, body) = get(http, &url).await?;
    let metadata: AuthServerMetadata = json(&url, &body)?;
    if metadata.issuer != issuer {
        return Err(RemoteError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: metadata.issuer,
        });
    }
    Ok(metadata)
}

/// An error and its causes, as one line (reqwest's own message is often just "error sending
/// request", with the useful part in the source chain).
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
