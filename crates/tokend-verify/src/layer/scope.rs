//! [`RequireScope`]: a route's scope, stated where the route is declared.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::rejection::AuthRejection;
use crate::Principal;

/// Refuses a request with 403 `scope_required` (and the scope in `details.scope`) unless its
/// [`Principal`] was granted the scope; without a principal (no [`TokendAuth`](crate::TokendAuth)
/// layer outside it) the request is refused with 401.
///
/// A layer for one handler or one route, inside `TokendAuth`'s layer:
///
/// ```
/// use axum::handler::Handler;
/// use axum::routing::{delete, get};
/// use tokend_verify::{Principal, RequireScope, TokendAuth};
///
/// async fn list(p: Principal) -> String { format!("photos of {}", p.account_uuid()) }
/// async fn remove(_: Principal) -> &'static str { "deleted" }
///
/// fn app(auth: &TokendAuth) -> axum::Router {
///     axum::Router::new()
///         .route("/photos", get(list.layer(RequireScope("photos:read"))))
///         .route("/photos/{id}", delete(remove).route_layer(RequireScope("photos:delete")))
///         .layer(auth.layer())
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequireScope(pub &'static str);

impl<S> Layer<S> for RequireScope {
    type Service = RequireScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopeService {
            scope: self.0,
            inner,
        }
    }
}

/// The service [`RequireScope`] wraps a route in.
#[derive(Debug, Clone)]
pub struct RequireScopeService<S> {
    scope: &'static str,
    inner: S,
}

impl<S> Service<Request> for RequireScopeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let refusal = match request.extensions().get::<Principal>() {
            None => Some(AuthRejection::Missing.into_response()),
            Some(principal) => principal
                .require_scope(self.scope)
                .err()
                .map(|e| e.into_response()),
        };
        match refusal {
            Some(response) => Box::pin(std::future::ready(Ok(response))),
            None => Box::pin(self.inner.call(request)),
        }
    }
}
