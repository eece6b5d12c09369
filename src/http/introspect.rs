//! `POST /v1/introspect` (RFC 7662, contract section 6) for resource servers.
//!
//! The caller authenticates with HTTP Basic (RFC 7617) as a resource server created by
//! `tokend resource-server add NAME`. Credentials are checked before the body is looked at, so an
//! unauthenticated caller learns nothing, not even whether its body was well-formed. The 401 for
//! missing or wrong credentials carries `WWW-Authenticate: Basic realm="tokend"` (RFC 7662
//! section 2.1 lets the server choose the scheme; RFC 7235 section 4.1 wants it named), which is
//! why it is built here rather than by the `Bearer`-oriented error mapping.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;

use super::extract::TokenParam;
use crate::app::AppState;
use crate::error::Error;

/// The routes this module serves.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/introspect", post(introspect))
}

/// `client_id:client_secret` from `Authorization: Basic …`. Our client_ids (UUIDs) and secrets
/// (base64url) contain no characters that RFC 6749 section 2.3.1 would have form-encoded, so no
/// percent-decoding is needed.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (client_id, secret) = text.split_once(':')?;
    // Client ids are UUIDs; anything else (control characters included) is not worth a lookup.
    let client_id = uuid::Uuid::parse_str(client_id).ok()?;
    Some((client_id.to_string(), secret.to_string()))
}

/// The contract's 401 envelope with a `Basic` challenge.
fn basic_challenge() -> Response {
    let body = json!({"error": {
        "code": "unauthorized",
        "message": "resource-server credentials are required (HTTP Basic)",
    }});
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"tokend\""),
    );
    response
}

/// `POST /v1/introspect`: `token=…` (form) or `{"token": "…"}` -> RFC 7662 answer.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<TokenParam, Error>,
) -> Response {
    let Some((client_id, secret)) = basic_credentials(&headers) else {
        return basic_challenge();
    };
    match state
        .authenticate_resource_server(&client_id, &secret)
        .await
    {
        Ok(_) => {}
        Err(Error::Unauthorized { .. }) => return basic_challenge(),
        Err(e) => return e.into_response(),
    }
    let TokenParam(token) = match body {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    match state.introspect(&token).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(raw).unwrap());
        h
    }

    #[test]
    fn parses_basic_credentials() {
        let id = "1fff64c2-1fa4-410a-ae12-7ffbefe00dc9";
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:se:cret"));
        assert_eq!(
            basic_credentials(&basic(&format!("Basic {encoded}"))),
            Some((id.into(), "se:cret".into()))
        );
        assert_eq!(
            basic_credentials(&basic(&format!("basic  {encoded}"))),
            Some((id.into(), "se:cret".into()))
        );
        let not_a_uuid = base64::engine::general_purpose::STANDARD.encode("id:secret");
        assert_eq!(
            basic_credentials(&basic(&format!("Basic {not_a_uuid}"))),
            None
        );
        assert_eq!(
            basic_credentials(&basic(&format!("Bearer {encoded}"))),
            None
        );
        assert_eq!(basic_credentials(&basic("Basic !!!")), None);
        let no_colon = base64::engine::general_purpose::STANDARD.encode("idsecret");
        assert_eq!(
            basic_credentials(&basic(&format!("Basic {no_colon}"))),
            None
        );
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
    }
}
