//! Operations endpoints (contract section 8): liveness, readiness, metrics; and the middleware
//! every request passes through: request ids, the access log, latency histograms, `no-store`,
//! and CORS for browser apps.

use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::client_ip::resolve_client_ip;
use super::extract::RateSlot;
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::limits::rate::RateStatus;
use crate::metrics::Gauge;

/// The request id header, taken from the client (or a proxy) when well-formed, else made here.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and a signing key is loaded. `details` also says whether
/// rate limits are shared through Redis or, with Redis unreachable, kept per node (still ready:
/// the fallback limits correctly, only less fairly across nodes).
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: database unreachable");
        Error::Unavailable
    })?;
    let signing_kid = state.access_tokens.signing_kid(state.clock.now());
    let rate_limits = match state.sign_in_limiter.shared_falling_back() {
        None => "in_process",
        Some(false) => "redis",
        Some(true) => "in_process_fallback",
    };
    Ok(Json(json!({
        "status": "ready",
        "signing_kid": signing_kid,
        "details": {"database": "ok", "rate_limits": rate_limits},
    })))
}

/// `GET /metrics`: counters and latency histograms kept by [`observe`], plus gauges read now.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pool = state.store.pool_status();
    let fallback = state.sign_in_limiter.shared_falling_back();
    let gauges = [
        Gauge::new(
            "tokend_db_pool_connections",
            "Open database connections.",
            pool.size,
        ),
        Gauge::new(
            "tokend_db_pool_idle_connections",
            "Idle database connections.",
            pool.idle,
        ),
        Gauge::new(
            "tokend_password_hash_queue_depth",
            "Password hashes waiting for a slot.",
            state.hasher.queue_depth(),
        ),
        Gauge::new(
            "tokend_password_hashes_in_flight",
            "Password hashes running.",
            state.hasher.in_flight(),
        ),
        Gauge::new(
            "tokend_rate_limit_redis_fallback",
            "1 while Redis is configured but unreachable and limits are per node.",
            u8::from(fallback == Some(true)),
        ),
    ];
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&gauges),
    )
}

/// The routes of the operations listener (`TOKEND_OPS_LISTEN`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(state)
}

/// A request id worth echoing: short, visible ASCII. Anything else is replaced, so a client
/// cannot inject line breaks or megabytes into the access log.
fn incoming_request_id(req: &Request) -> Option<HeaderValue> {
    let value = req.headers().get(&REQUEST_ID)?;
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.as_bytes().iter().all(|b| b.is_ascii_graphic());
    ok.then(|| value.clone())
}

/// Times and counts every request by route template, writes one access-log line (method, route
/// template, status, latency, client IP, request id: never a path with ids, a query, a header
/// value or a body, so no secret reaches the log), echoes `X-Request-Id`, and marks every API
/// response `no-store`: they carry tokens or account data no cache should keep (RFC 6749 section
/// 5.1).
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().clone();
    let request_id = incoming_request_id(&req).unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    });
    req.headers_mut().insert(&REQUEST_ID, request_id.clone());
    let rate_slot = RateSlot::default();
    req.extensions_mut().insert(rate_slot.clone());
    let client_ip = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ci| resolve_client_ip(ci.0.ip(), req.headers(), &state.settings.trusted_proxies));
    // RFC 9449 section 8: with nonces on, every answer to a DPoP request carries a fresh one.
    let dpop_nonce = req
        .headers()
        .contains_key(super::extract::DPOP_HEADER)
        .then(|| state.dpop_nonce_header())
        .flatten();
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if let Some(nonce) = dpop_nonce {
        if !headers.contains_key(super::error::DPOP_NONCE) {
            if let Ok(value) = HeaderValue::from_str(&nonce) {
                headers.insert(super::error::DPOP_NONCE, value);
            }
        }
    }
    if route.starts_with("/v1/") || route.starts_with("/oauth2/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    headers.insert(&REQUEST_ID, request_id.clone());
    if let Some(status) = rate_slot.take() {
        rate_headers(headers, status, state.clock.now());
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.observe_request(&route, status, elapsed);
    tracing::info!(
        target: "tokend::access",
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        client_ip = %client_ip.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
        request_id = request_id.to_str().unwrap_or("-"),
        "request"
    );
    response
}

/// The IETF `RateLimit-*` fields (reset as delta seconds) and the widely used `X-RateLimit-*`
/// (reset as epoch seconds of the same moment), on every response to a rate-limited token.
fn rate_headers(headers: &mut axum::http::HeaderMap, status: RateStatus, now: i64) {
    let reset_at = now.saturating_add(i64::try_from(status.reset_secs).unwrap_or(i64::MAX));
    for (name, value) in [
        ("ratelimit-limit", u64::from(status.limit)),
        ("ratelimit-remaining", u64::from(status.remaining)),
        ("ratelimit-reset", status.reset_secs),
        ("x-ratelimit-limit", u64::from(status.limit)),
        ("x-ratelimit-remaining", u64::from(status.remaining)),
        ("x-ratelimit-reset", u64::try_from(reset_at).unwrap_or(0)),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// CORS for browser apps: only the exact origins configured, so tokens are never readable by
/// other sites; `None` (no origins configured) sends no CORS headers at all.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static(super::extract::DPOP_HEADER),
                REQUEST_ID.clone(),
            ])
            .expose_headers([
                HeaderName::from_static(super::error::DPOP_NONCE),
                HeaderName::from_static("ratelimit-limit"),
                HeaderName::from_static("ratelimit-remaining"),
                HeaderName::from_static("ratelimit-reset"),
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderName::from_static("x-ratelimit-reset"),
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                REQUEST_ID.clone(),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Fallback for unknown routes.
pub async fn not_found() -> Error {
    Error::NotFound
}

/// Fallback for known routes with the wrong method.
pub async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
