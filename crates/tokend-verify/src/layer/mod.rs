//! [`TokendAuth`] and its layer (feature `axum`): one place that authenticates a request,
//! applies a service token's allowlist, rate limit and size cap, and leaves a [`Principal`]
//! for handlers.

mod body;
mod scope;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use tower_layer::Layer;
use tower_service::Service;

pub use scope::{RequireScope, RequireScopeService};

use crate::client_ip::{allowed, TrustedProxies};
use crate::dpop::{check_proof, DpopError, JtiCache, ProofContext};
use crate::principal::presented_credentials;
use crate::rejection::AuthRejection;
#[cfg(feature = "remote")]
use crate::{IntrospectError, Introspector, RemoteError, RemoteVerifier};
use crate::{Principal, RateStatus, TokenRateLimits, Verifier};

/// Where the keys come from.
#[derive(Debug, Clone)]
enum Keys {
    Fixed(Arc<Verifier>),
    #[cfg(feature = "remote")]
    Remote(RemoteVerifier),
}

/// Everything a resource API needs to know who calls it: the verifier, the introspector for
/// service tokens (feature `remote`) and the trusted proxies. Cheap to clone.
///
/// Its [`layer`](Self::layer) authenticates each request before any handler runs and answers
/// in tokend's error envelope:
///
/// | status | code | when |
/// |---|---|---|
/// | 401 | `unauthorized` | no token, or a refused one (forged, other audience, unknown or deleted service token) |
/// | 401 | `token_expired` | an expired JWT |
/// | 403 | `ip_not_allowed` | a service token used from outside its `allowed_ips` |
/// | 413 | `request_too_large` | a body over a service token's `max_request_bytes` (chunked too) |
/// | 429 | `rate_limited` | a service token's `rate_limit` is spent (`Retry-After`, `details.retry_after`) |
/// | 503 | `unavailable` | a service token while tokend cannot be asked (never let through) |
///
/// and [`RequireScope`] adds 403 `scope_required` per route. The client address for the
/// allowlist is the TCP peer, which axum provides when served with
/// `into_make_service_with_connect_info::<SocketAddr>()` (without it, tokens with an allowlist
/// are refused), or the `X-Forwarded-For` entry chosen by [`TrustedProxies::client_ip`].
///
/// A service token's `rate_limit` (from introspection, or the claim of an exchanged JWT) is
/// counted per token id by [`TokenRateLimits`]: in process unless
/// [`with_rate_limits`](Self::with_rate_limits) names a shared one. Every response to such a
/// token carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the
/// budget is full) and `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix
/// seconds of that moment). User tokens are not limited.
///
/// ```no_run
/// use std::net::SocketAddr;
/// use axum::handler::Handler;
/// use axum::routing::get;
/// use tokend_verify::{Principal, RemoteVerifier, RequireScope, TokendAuth};
///
/// async fn me(p: Principal) -> String { p.subject().to_owned() }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = RemoteVerifier::connect("https://auth.example.com", "photos-api").await?;
/// let introspector = keys.introspector("client-id", "client-secret")?;
/// let auth = TokendAuth::remote(keys).with_introspector(introspector);
/// let app = axum::Router::new()
///     .route("/me", get(me.layer(RequireScope("customer:read"))))
///     .layer(auth.layer());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TokendAuth {
    keys: Keys,
    #[cfg(feature = "remote")]
    introspector: Option<Introspector>,
    proxies: Arc<TrustedProxies>,
    rates: Arc<TokenRateLimits>,
    public_url: Option<Arc<str>>,
    jtis: Arc<JtiCache>,
}

impl TokendAuth {
    /// Verifies JWTs with fixed keys (no network I/O); service tokens are refused.
    pub fn new(verifier: Verifier) -> Self {
        Self::with_keys(Keys::Fixed(Arc::new(verifier)))
    }

    /// Verifies JWTs with keys fetched and refreshed from tokend.
    #[cfg(feature = "remote")]
    pub fn remote(verifier: RemoteVerifier) -> Self {
        Self::with_keys(Keys::Remote(verifier))
    }

    /// [`RemoteVerifier::connect`], then [`remote`](Self::remote): JWTs only. Add
    /// [`with_introspector`](Self::with_introspector) to accept service tokens.
    ///
    /// # Errors
    /// As for [`RemoteVerifier::connect`].
    #[cfg(feature = "remote")]
    pub async fn connect(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, RemoteError> {
        Ok(Self::remote(
            RemoteVerifier::connect(issuer, audience).await?,
        ))
    }

    fn with_keys(keys: Keys) -> Self {
        Self {
            keys,
            #[cfg(feature = "remote")]
            introspector: None,
            proxies: Arc::default(),
            rates: Arc::default(),
            public_url: None,
            jtis: Arc::default(),
        }
    }

    /// The URL clients use to reach this API (`https://photos.example.com`, with a path prefix
    /// if a proxy adds one), which DPoP proofs name in `htu`: the request path is appended to
    /// it. Without it the URL is rebuilt from the `Host` header, with the scheme of a trusted
    /// proxy's `X-Forwarded-Proto` (else `http`).
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        let url: String = url.into();
        self.public_url = Some(Arc::from(url.trim_end_matches('/')));
        self
    }

    /// Accepts opaque service tokens, checked by this introspector.
    #[cfg(feature = "remote")]
    pub fn with_introspector(mut self, introspector: Introspector) -> Self {
        self.introspector = Some(introspector);
        self
    }

    /// Believes `X-Forwarded-For` from these proxies when finding the client address.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = Arc::new(proxies);
        self
    }

    /// Counts service tokens' `rate_limit` with `limits` (say [`TokenRateLimits::redis`], to
    /// share budgets between instances) instead of this layer's own in-process limiter.
    pub fn with_rate_limits(mut self, limits: TokenRateLimits) -> Self {
        self.rates = Arc::new(limits);
        self
    }

    /// The limiter service tokens' `rate_limit` is counted with.
    pub fn rate_limits(&self) -> &TokenRateLimits {
        &self.rates
    }

    /// The layer that authenticates every request of the routes it wraps.
    pub fn layer(&self) -> AuthLayer {
        AuthLayer { auth: self.clone() }
    }

    /// Authenticates the token in `headers` (`Authorization: Bearer` or `X-API-Key`), without
    /// the allowlist and size checks the layer adds; for code outside an axum router. A
    /// DPoP-bound token is refused here, since its proof needs the request's method and URL:
    /// use [`authenticate_request`](Self::authenticate_request) for those.
    ///
    /// # Errors
    /// The [`AuthRejection`] to answer with.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthRejection> {
        let (token, dpop_scheme) = presented_credentials(headers)?;
        if dpop_scheme {
            return Err(AuthRejection::DpopScheme);
        }
        let principal = self.principal(token).await?;
        if principal.dpop_jkt().is_some() {
            return Err(AuthRejection::DpopScheme);
        }
        Ok(principal)
    }

    /// Authenticates a request, checking the DPoP proof of a bound token (RFC 9449 section 7):
    /// `Authorization: DPoP` with a `DPoP` header whose proof is signed by the key `cnf.jkt`
    /// names, for this method and URL, over this token (`ath`), fresh (`iat`) and never seen
    /// before by this process (`jti`). A bound token sent as `Bearer` is refused, and so is
    /// an unbound one sent as `DPoP`.
    ///
    /// # Errors
    /// The [`AuthRejection`] to answer with.
    pub async fn authenticate_request(
        &self,
        parts: &axum::http::request::Parts,
    ) -> Result<Principal, AuthRejection> {
        let (token, dpop_scheme) = presented_credentials(&parts.headers)?;
        let principal = self.principal(token).await?;
        match (principal.dpop_jkt(), dpop_scheme) {
            (None, false) => Ok(principal),
            (Some(jkt), true) => {
                self.check_dpop(parts, token, jkt)?;
                Ok(principal)
            }
            _ => Err(AuthRejection::DpopScheme),
        }
    }

    fn check_dpop(
        &self,
        parts: &axum::http::request::Parts,
        token: &str,
        jkt: &str,
    ) -> Result<(), AuthRejection> {
        let mut proofs = parts.headers.get_all("dpop").iter();
        let proof = match (proofs.next(), proofs.next()) {
            (Some(value), None) => value
                .to_str()
                .map_err(|_| AuthRejection::Dpop(DpopError::Missing))?,
            _ => return Err(AuthRejection::Dpop(DpopError::Missing)),
        };
        let url = self.request_url(parts);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let ctx = ProofContext::new(parts.method.as_str(), &url, now).with_access_token(token);
        let verified = check_proof(proof.trim(), &ctx).map_err(AuthRejection::Dpop)?;
        if verified.jkt != jkt {
            return Err(AuthRejection::Dpop(DpopError::KeyMismatch));
        }
        let horizon = verified.replay_horizon(&ctx) + ctx.max_skew_secs;
        self.jtis
            .check_and_record(&verified, horizon, now)
            .map_err(AuthRejection::Dpop)
    }

    /// The URL the client addressed: see [`with_public_url`](Self::with_public_url).
    fn request_url(&self, parts: &axum::http::request::Parts) -> String {
        // Inside a nested router the URI has lost its prefix; the original one has it.
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path(), |original| original.0.path());
        if let Some(base) = &self.public_url {
            return format!("{base}{path}");
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        let proxied = peer.is_some_and(|p| self.proxies.contains(p.0.ip()));
        let scheme = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .filter(|_| proxied)
            .map_or("http", |v| {
                if v.trim().eq_ignore_ascii_case("https") {
                    "https"
                } else {
                    "http"
                }
            });
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or_default();
        format!("{scheme}://{host}{path}")
    }

    async fn principal(&self, token: &str) -> Result<Principal, AuthRejection> {
        #[cfg(feature = "remote")]
        {
            let prefix = self.introspector.as_ref().map_or(
                crate::DEFAULT_SERVICE_TOKEN_PREFIX,
                Introspector::service_token_prefix,
            );
            if crate::looks_like_service_token(prefix, token) {
                let Some(introspector) = &self.introspector else {
                    return Err(AuthRejection::Inactive);
                };
                return match introspector.check_service_token(token).await {
                    Ok(answer) => {
                        Principal::from_introspection(&answer).ok_or(AuthRejection::Inactive)
                    }
                    Err(IntrospectError::Malformed | IntrospectError::Inactive) => {
                        Err(AuthRejection::Inactive)
                    }
                    Err(IntrospectError::Unavailable(_)) => Err(AuthRejection::Unavailable),
                };
            }
        }
        let claims = match &self.keys {
            Keys::Fixed(verifier) => verifier.verify(token),
            #[cfg(feature = "remote")]
            Keys::Remote(verifier) => verifier.verify(token).await,
        };
        claims
            .map(Principal::from_claims)
            .map_err(AuthRejection::Invalid)
    }

    /// The client address of a request from `peer`, by the trusted proxies configured.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.proxies.client_ip(peer, headers)
    }

    /// Authenticates, checks allowlist, rate limit and size cap, runs `inner`, answers 413 if
    /// the handler read past the cap, and adds the rate-limit headers.
    async fn handle<S>(self, request: Request, mut inner: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let (mut parts, body) = request.into_parts();
        let principal = match self.authenticate_request(&parts).await {
            Ok(principal) => principal,
            Err(refusal) => return refusal.into_response(),
        };
        if !principal.allowed_ips().is_empty() {
            let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
            let client = peer.map(|peer| self.client_ip(peer.0.ip(), &parts.headers));
            if !allowed(principal.allowed_ips(), client) {
                return AuthRejection::IpNotAllowed.into_response();
            }
        }
        let rate = match principal.rate_limit().filter(|_| principal.is_service()) {
            Some(limit) => Some(self.rates.charge(principal.subject(), limit).await),
            None => None,
        };
        let respond = |mut response: Response| {
            if let Some(status) = rate {
                rate_headers(response.headers_mut(), status);
            }
            response
        };
        if let Some(retry_after) = rate.and_then(|status| status.retry_after_secs) {
            return respond(AuthRejection::RateLimited { retry_after }.into_response());
        }
        let mut cap = None;
        let body = match principal.max_request_bytes() {
            None => body,
            Some(limit) => {
                if content_length(&parts.headers).is_some_and(|n| n > limit) {
                    return respond(AuthRejection::TooLarge { limit }.into_response());
                }
                let exceeded = Arc::new(AtomicBool::new(false));
                cap = Some((limit, Arc::clone(&exceeded)));
                Body::new(body::CappedBody::new(body, limit, exceeded))
            }
        };
        parts.extensions.insert(principal);
        let response = match inner.call(Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        respond(match cap {
            Some((limit, exceeded)) if exceeded.load(Ordering::Relaxed) => {
                AuthRejection::TooLarge { limit }.into_response()
            }
            _ => response,
        })
    }
}

/// The IETF `RateLimit-*` fields (reset as delta seconds) and the widely used `X-RateLimit-*`
/// (reset as Unix seconds of the same moment), as tokend sends them.
fn rate_headers(headers: &mut HeaderMap, status: RateStatus) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (name, value) in [
        ("ratelimit-limit", u64::from(status.limit)),
        ("ratelimit-remaining", u64::from(status.remaining)),
        ("ratelimit-reset", status.reset_secs),
        ("x-ratelimit-limit", u64::from(status.limit)),
        ("x-ratelimit-remaining", u64::from(status.remaining)),
        ("x-ratelimit-reset", now.saturating_add(status.reset_secs)),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// A `Content-Length` that parses; hyper has already refused one that does not.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The layer of [`TokendAuth::layer`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: TokendAuth,
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            auth: self.auth.clone(),
            inner,
        }
    }
}

/// The service [`AuthLayer`] wraps routes in.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    auth: TokendAuth,
    inner: S,
}

impl<S> Service<Request> for AuthService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual dance).
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move { Ok(auth.handle(request, ready).await) })
    }
}

#[cfg(test)]
mod tests;
