//! Routes of introspect.

use axum::Router;

use crate::app::AppState;

/// The routes this module serves.
pub fn routes() -> Router<AppState> {
    Router::new()
}
