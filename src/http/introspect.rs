//! `POST /v1/introspect` (RFC 7662, contract section 6) for resource servers.
//!
//! The caller authenticates with HTTP Basic (RFC 7617) as a resource server created by
//! `tokend resource-server add NAME`. Credentials are checked before the body is looked at, so an
//! unauthenticated caller learns nothing, not even whether its body was well-formed. The 401 for
//! missing or wrong credentials carries `WWW-Authenticate: Basic realm="tokend"` (RFC 7662
//! section 2.1 lets the server choose the scheme; RFC 7235 section 4.1 wants it named), which is
//! why it is built here rather than by the `Bearer`-oriented error mapping. `client_secret_post`
//! (id and secret as form parameters beside `token`) is accepted too, as RFC 8414 metadata says.

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::extract::{self, body_bytes, TokenParam};
use crate::app::AppState;
use crate::error::Error;

/// The routes this module serves.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/introspect", post(introspect))
}

/// `client_id:client_secret` from `Authorization: Basic …`, form-decoded by the shared parser as
/// RFC 6749 section 2.3.1 asks (a no-op for our UUID ids and base64url secrets).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let (client_id, secret) = extract::basic_credentials(headers)??;
    // Client ids are UUIDs; anything else (control characters included) is not worth a lookup.
    let client_id = uuid::Uuid::parse_str(&client_id).ok()?;
    Some((client_id.to_string(), secret))
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

/// Credentials and token of a `client_secret_post` request (RFC 6749 section 2.3.1): all three
/// in the form body.
#[derive(serde::Deserialize)]
struct PostedCredentials {
    client_id: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
}

/// `POST /v1/introspect`: `token=…` (form) or `{"token": "…"}` -> RFC 7662 answer. Resource
/// servers authenticate with HTTP Basic, or with `client_id` and `client_secret` in a form body.
pub async fn introspect(State(state): State<AppState>, req: Request) -> Response {
    let token = if let Some((client_id, secret)) = basic_credentials(req.headers()) {
        if let Err(response) = authenticate(&state, &client_id, &secret).await {
            return response;
        }
        match TokenParam::from_request(req, &state).await {
            Ok(TokenParam(token)) => token,
            Err(e) => return e.into_response(),
        }
    } else {
        if !extract::is_form(req.headers()) {
            return basic_challenge();
        }
        let bytes = match body_bytes(req, &state).await {
            Ok(bytes) => bytes,
            Err(e) => return e.into_response(),
        };
        let Ok(posted) = serde_urlencoded::from_bytes::<PostedCredentials>(&bytes) else {
            return basic_challenge();
        };
        let (Some(client_id), Some(secret)) = (posted.client_id, posted.client_secret) else {
            return basic_challenge();
        };
        let Ok(client_id) = uuid::Uuid::parse_str(&client_id) else {
            return basic_challenge();
        };
        if let Err(response) = authenticate(&state, &client_id.to_string(), &secret).await {
            return response;
        }
        match posted.token.filter(|t| !t.is_empty()) {
            Some(token) => token,
            None => return Error::field("token", "token is required").into_response(),
        }
    };
    match state.introspect(&token).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Checks resource-server credentials; the response to send when they fail.
async fn authenticate(state: &AppState, client_id: &str, secret: &str) -> Result<(), Response> {
    match state.authenticate_resource_server(client_id, secret).await {
        Ok(_) => Ok(()),
        Err(Error::Unauthorized { .. }) => Err(basic_challenge()),
        Err(e) => Err(e.into_response()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine;

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
