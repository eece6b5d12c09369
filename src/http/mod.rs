//! HTTP layer: the only place with axum types. [`router`] builds the routes of the contract;
//! [`serve`] runs them on a listener until `shutdown` resolves, so tests bind port 0.

pub mod auth;
pub mod client_ip;
pub mod error;
pub mod extract;
pub mod introspect;
pub mod me;
pub mod mfa;
pub mod oauth2;
pub mod ops;
pub mod service_tokens;
pub mod wellknown;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::crypto::keys::RELOAD_INTERVAL;

/// Every route of the contract, with the error envelope on fallbacks and body limits.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/auth/sign_in", post(auth::sign_in))
        .route("/v1/auth/token", post(auth::token))
        .route("/v1/auth/sign_out", post(auth::sign_out))
        .route("/v1/auth/sessions", get(auth::list_sessions))
        .route("/v1/auth/sessions/{id}", delete(auth::delete_session))
        .route("/v1/revoke", post(auth::revoke))
        .route("/v1/me", get(me::me))
        .route("/v1/me/password", post(me::change_password))
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(wellknown::metadata),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics));
    api.merge(mfa::routes())
        .merge(service_tokens::routes())
        .merge(introspect::routes())
        .merge(oauth2::routes())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::observe,
        ))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then drains in-flight requests and closes the database.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    housekeeping.abort();
    state.shutdown().await;
    result
}

/// Periodic upkeep: every minute (keys, limiter memory, coalesced writes) and, from the first
/// tick on, every hour (purging dead records).
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(RELOAD_INTERVAL.unsigned_abs()));
    let mut minutes: u64 = 0;
    loop {
        tick.tick().await;
        state.upkeep().await;
        if minutes.is_multiple_of(60) {
            state.purge_dead_records().await;
        }
        minutes += 1;
    }
}
