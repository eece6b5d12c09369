//! Extractors that turn requests into domain inputs, with every rejection mapped to [`Error`] so
//! malformed JSON, wrong content types and oversized bodies get the contract's envelope too.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use base64::Engine;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::client_ip::resolve_client_ip;
use crate::app::AppState;
use crate::domain::dpop::DpopInput;
use crate::domain::principal::{Principal, UserPrincipal};
use crate::error::Error;

/// A JSON body deserialised with the offending field named on failure (`details.field`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// Whether the body is `application/x-www-form-urlencoded` (parameters such as `charset`
/// ignored), the form RFC 6749 endpoints and introspection take.
pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Client credentials from `Authorization: Basic` (RFC 7617), each half form-decoded as RFC 6749
/// section 2.3.1 asks. `None`: no Basic header at all; `Some(None)`: one that does not decode to
/// `id:secret`.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|text| {
                let (id, secret) = text.split_once(':')?;
                Some((decode(id)?, decode(secret)?))
            }),
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

pub(crate) async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, Error> {
    if let Some(BodyCap(cap)) = req.extensions().get::<BodyCap>().copied() {
        let limit = usize::try_from(cap)
            .unwrap_or(usize::MAX)
            .min(state.settings.max_body_bytes);
        return match http_body_util::BodyExt::collect(http_body_util::Limited::new(
            req.into_body(),
            limit,
        ))
        .await
        {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::RequestTooLarge {
                limit: Some(cap.min(state.settings.max_body_bytes as u64)),
            }),
            Err(_) => Err(Error::InvalidRequest {
                message: "could not read the request body".into(),
                field: None,
                reason: None,
            }),
        };
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::RequestTooLarge {
                limit: Some(state.settings.max_body_bytes as u64),
            }
        } else {
            Error::InvalidRequest {
                message: "could not read the request body".into(),
                field: None,
                reason: None,
            }
        }
    })
}

/// Parses JSON, naming the field that is missing or of the wrong type.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return Error::InvalidRequest {
                message: "the body is not valid JSON".into(),
                field: None,
                reason: None,
            };
        }
        // serde reports a missing field at its parent's path; name the field itself.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(|name| {
                if path == "." {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                }
            });
        // For an unknown field the path already ends with the offending key.
        let unknown = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .map(|name| {
                if path == "." {
                    name.to_string()
                } else {
                    path.clone()
                }
            });
        let field = missing.clone().or(unknown.clone()).unwrap_or(path);
        let message = if missing.is_some() {
            format!("{field} is required")
        } else if unknown.is_some() {
            format!("{field} is not a known field")
        } else {
            // serde quotes the offending value ("invalid type: string \"hunter2\", …"): keep only
            // what was expected, so a password typed into the wrong field is never echoed.
            match message
                .split(" at line")
                .next()
                .unwrap_or_default()
                .split_once(", expected ")
            {
                Some((_, expected)) => format!("{field} is invalid: expected {expected}"),
                None => format!("{field} is invalid"),
            }
        };
        Error::InvalidRequest {
            message,
            field: (field != ".").then_some(field),
            reason: None,
        }
    })
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// `{"token": …}` as JSON or `token=…` as a form (RFC 7009 / RFC 7662 bodies).
#[derive()]
pub struct TokenParam(pub String);

#[derive(serde::Deserialize)]
struct TokenFields {
    token: String,
}

impl FromRequest<AppState> for TokenParam {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let form = is_form(req.headers());
        let json = is_json(req.headers());
        if !form && !json {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes = body_bytes(req, state).await?;
        let fields: TokenFields = if form {
            serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| Error::field("token", "token is required"))?
        } else {
            parse_json(&bytes)?
        };
        Ok(TokenParam(fields.token))
    }
}

/// How a request presented its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP`, with a proof in the `DPoP` header (RFC 9449 section 7.1).
    Dpop,
    /// `X-API-Key`.
    ApiKey,
}

/// The token a request presents and how: `Authorization: Bearer …`, `Authorization: DPoP …` or
/// `X-API-Key: …`.
pub fn presented_credentials(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    // An `Authorization` header of another scheme (Basic from a proxy, say) does not hide an
    // `X-API-Key`.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .and_then(|(scheme, token)| {
            if scheme.eq_ignore_ascii_case("bearer") {
                Some((Scheme::Bearer, token.trim()))
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Some((Scheme::Dpop, token.trim()))
            } else {
                None
            }
        });
    authorization
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(|t| (Scheme::ApiKey, t.trim()))
        })
        .filter(|(_, t)| !t.is_empty())
}

/// The token a request presents, however it was sent.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    presented_credentials(headers).map(|(_, token)| token)
}

/// The request's `DPoP` header and what its proof must match (RFC 9449 section 4.3): the
/// method, and the URL clients address, which is the configured issuer followed by the path (so
/// a proxy in front changes nothing).
#[derive(Debug, Clone)]
pub struct Dpop(pub DpopInput);

impl FromRequestParts<AppState> for Dpop {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Dpop(dpop_input(parts, state)))
    }
}

fn dpop_input(parts: &Parts, state: &AppState) -> DpopInput {
    let mut values = parts.headers.get_all(DPOP_HEADER).iter();
    let first = values.next();
    let repeated = values.next().is_some();
    let (proof, malformed) = match first.map(|v| v.to_str()) {
        None => (None, false),
        Some(Ok(text)) if !repeated => (Some(text.trim().to_string()), false),
        Some(_) => (None, true),
    };
    DpopInput {
        proof,
        malformed,
        method: parts.method.as_str().to_string(),
        url: format!(
            "{}{}",
            state.settings.issuer.trim_end_matches('/'),
            parts.uri.path()
        ),
    }
}

/// The request header that carries a DPoP proof.
pub const DPOP_HEADER: &str = "dpop";

/// The `{id}` of a resource route. An id that is not a UUID (or cannot even be percent-decoded)
/// names nothing, so it is `not_found` like any other unknown id, in the contract's envelope.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub Uuid);

impl FromRequestParts<AppState> for PathId {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound)?;
        Uuid::parse_str(&id)
            .map(PathId)
            .map_err(|_| Error::NotFound)
    }
}

/// The client's address per the trusted-proxy rule (contract section 8).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip())
            .ok_or_else(|| Error::internal("peer address missing"))?;
        Ok(ClientIp(resolve_client_ip(
            peer,
            &parts.headers,
            &state.settings.trusted_proxies,
        )))
    }
}

/// The client's `User-Agent`, for the audit trail (never trusted for anything else).
#[derive(Debug, Clone)]
pub struct UserAgent(pub Option<String>);

impl FromRequestParts<AppState> for UserAgent {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(UserAgent(
            parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        ))
    }
}

/// Any authenticated caller.
#[derive(Debug)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let presented = presented_credentials(&parts.headers);
        let principal = state
            .authenticate(presented.map(|(_, token)| token), ip)
            .await?;
        check_scheme(parts, state, &principal, presented).await?;
        if let Principal::Service(service) = &principal {
            if let Some(status) = state.charge_token_rate(service).await {
                if let Some(slot) = parts.extensions.get::<RateSlot>() {
                    slot.fill(status);
                }
                if let Some(retry_after_secs) = status.retry_after_secs {
                    return Err(Error::RateLimited { retry_after_secs });
                }
            }
        }
        principal.check_request_size(content_length(&parts.headers))?;
        if let Some(cap) = principal.request_size_cap() {
            // A chunked body declares no length: the cap is enforced again while it streams.
            parts.extensions.insert(BodyCap(cap));
        }
        Ok(Caller(principal))
    }
}

/// The scheme must fit the token (RFC 9449 section 7.1): a DPoP-bound access token only as
/// `Authorization: DPoP` with a proof by its key over this request and this token, and nothing
/// else with the DPoP scheme.
async fn check_scheme(
    parts: &Parts,
    state: &AppState,
    principal: &Principal,
    presented: Option<(Scheme, &str)>,
) -> Result<(), Error> {
    let Some((scheme, token)) = presented else {
        return Ok(());
    };
    let bound = match principal {
        Principal::User(user) => user.claims.cnf.as_ref().map(|cnf| cnf.jkt.as_str()),
        Principal::Service(_) => None,
    };
    match (bound, scheme) {
        (Some(jkt), Scheme::Dpop) => {
            state
                .resource_proof(&dpop_input(parts, state), token, jkt)
                .await
        }
        (Some(_), _) | (None, Scheme::Dpop) => Err(Error::DpopBoundToken),
        (None, _) => Ok(()),
    }
}

/// Where [`Caller`] leaves a service token's rate status for the response headers, which the
/// observing middleware (it put the slot in the request) writes once the handler has answered.
#[derive(Debug, Clone, Default)]
pub struct RateSlot(std::sync::Arc<std::sync::Mutex<Option<crate::limits::rate::RateStatus>>>);

impl RateSlot {
    fn fill(&self, status: crate::limits::rate::RateStatus) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(status);
        }
    }

    /// The status left by the extractor, if any.
    pub fn take(&self) -> Option<crate::limits::rate::RateStatus> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

/// A service token's `max_request_bytes`, left by [`Caller`] for the body readers.
#[derive(Debug, Clone, Copy)]
struct BodyCap(u64);

/// Reads (and drops) the body of a request whose handler needs none, so a service token's size
/// cap holds for bodies without `Content-Length` too: 413 as soon as the streamed bytes pass it.
#[derive(Debug)]
pub struct CheckedBody;

impl FromRequest<AppState> for CheckedBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        body_bytes(req, state).await.map(|_| CheckedBody)
    }
}

/// The declared body size, checked against a service token's `max_request_bytes` before any
/// handler reads the body.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A signed-in user (a service token gets `user_token_required`).
#[derive(Debug)]
pub struct UserCaller(pub UserPrincipal);

impl FromRequestParts<AppState> for UserCaller {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        principal.into_user().map(UserCaller)
    }
}

crate::redacted_debug!(TokenParam);
