//! HTTP layer: the only place with axum types. [`router`] builds the routes of the contract;
//! [`serve`] runs them on a listener until `shutdown` resolves, so tests bind port 0.

pub mod admin;
pub mod auth;
pub mod client_ip;
pub mod error;
pub mod extract;
pub mod introspect;
pub mod me;
pub mod mfa;
pub mod oauth2;
pub mod openapi;
pub mod ops;
pub mod passkeys;
pub mod server;
pub mod service_tokens;
pub mod wellknown;

use std::future::Future;
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
        .route("/v1/auth/password_reset", post(auth::password_reset))
        .route("/v1/me", get(me::me))
        .route("/v1/me/password", post(me::change_password))
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(wellknown::metadata),
        )
        .route("/openapi.json", get(openapi::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz));
    let api = if state.settings.ops_listen.is_none() {
        api.route("/metrics", get(ops::metrics))
    } else {
        api
    };
    let app = api
        .merge(mfa::routes())
        .merge(passkeys::routes())
        .merge(service_tokens::routes())
        .merge(introspect::routes())
        .merge(oauth2::routes())
        .merge(admin::routes())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes));
    // CORS sits inside the observer, so preflights are logged and counted too.
    let app = match ops::cors(&state.settings.cors_origins) {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        ops::observe,
    ))
    .with_state(state)
}

/// Serves until `shutdown` resolves, then drains in-flight requests (bounded by
/// `TOKEND_SHUTDOWN_GRACE_SECONDS`), flushes coalesced writes and closes the database. With
/// `TOKEND_OPS_LISTEN`, `/metrics` is served on that second listener instead of the public one.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = server::Limits::from_settings(&state.settings);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ops = match &state.settings.ops_listen {
        Some(addr) => {
            let ops_listener = TcpListener::bind(addr).await?;
            tracing::info!(addr = %ops_listener.local_addr()?, "operations listener (metrics)");
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(server::run(
                ops_listener,
                ops::router(state.clone()),
                limits,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            )))
        }
        None => None,
    };
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let result = server::run(listener, router(state.clone()), limits, async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await;
    drop(stop_rx);
    if let Some(ops) = ops {
        let _ = ops.await;
    }
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
