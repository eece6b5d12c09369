//! [`RemoteVerifier`]: a [`Verifier`] whose keys come from tokend and stay fresh on their own.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, CACHE_CONTROL};

use super::{default_http_client, discover, get, json, AuthServerMetadata, RemoteError};
use super::{Introspector, DEFAULT_HTTP_TIMEOUT};
use crate::{AccessClaims, JwkSet, JwksRefreshGate, Verifier, VerifyError};

/// The shortest time between two scheduled JWKS fetches, whatever `Cache-Control` says (a
/// `max-age=0` must not turn every API into a client polling tokend in a loop); also the retry
/// delay after a failed fetch.
pub const DEFAULT_REFRESH_FLOOR: Duration = Duration::from_secs(30);

/// The longest time between two scheduled JWKS fetches, so a key tokend withdrew is dropped
/// within the hour even if the issuer announced a day-long `max-age`.
pub const DEFAULT_REFRESH_CEILING: Duration = Duration::from_secs(3600);

/// Settings for [`RemoteVerifier`]; [`connect`](Self::connect) does the I/O.
#[derive(Debug, Clone)]
pub struct RemoteVerifierBuilder {
    issuer: String,
    audience: String,
    floor: Duration,
    ceiling: Duration,
    unknown_kid_interval: Duration,
    leeway: u64,
    timeout: Duration,
    http: Option<reqwest::Client>,
}

impl RemoteVerifierBuilder {
    /// Bounds on the delay between scheduled fetches: tokend's `Cache-Control: max-age` is
    /// used, raised to `floor` and lowered to `ceiling`. A failed fetch is retried after `floor`.
    pub fn refresh_bounds(mut self, floor: Duration, ceiling: Duration) -> Self {
        self.floor = floor;
        self.ceiling = ceiling.max(floor);
        self
    }

    /// At most one extra fetch per `interval` for tokens naming a `kid` the verifier does not
    /// hold (default [`JwksRefreshGate::DEFAULT_INTERVAL`]), so made-up `kid`s cannot make this
    /// service hammer tokend.
    pub fn unknown_kid_interval(mut self, interval: Duration) -> Self {
        self.unknown_kid_interval = interval;
        self
    }

    /// Clock-skew allowance for `exp` and `nbf`, as [`Verifier::set_leeway`].
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// How long one HTTP exchange may take (default [`DEFAULT_HTTP_TIMEOUT`]). Ignored when an
    /// [`http_client`](Self::http_client) is given.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses this HTTP client (proxies, extra root certificates) instead of a default one.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Discovers `jwks_uri`, fetches the keys, and starts refreshing them in the background (on
    /// the current tokio runtime; the task ends when the last clone of the verifier is dropped).
    ///
    /// # Errors
    /// When the metadata or the first JWKS cannot be fetched or used: a service should not
    /// start answering with no keys at all.
    pub async fn connect(self) -> Result<RemoteVerifier, RemoteError> {
        let http = self
            .http
            .unwrap_or_else(|| default_http_client(self.timeout));
        let metadata = discover(&http, &self.issuer).await?;
        let mut verifier = Verifier::new(self.issuer, self.audience);
        verifier.set_leeway(self.leeway);
        let shared = Arc::new(Shared {
            metadata,
            http,
            current: RwLock::new(Arc::new(verifier)),
            gate: JwksRefreshGate::new(self.unknown_kid_interval),
            fetch_lock: tokio::sync::Mutex::new(()),
            floor: self.floor,
            ceiling: self.ceiling,
            last_error: Mutex::new(None),
            task: Mutex::new(None),
        });
        let first = {
            let _guard = shared.fetch_lock.lock().await;
            shared.fetch().await?
        };
        let task = tokio::spawn(refresh_loop(Arc::downgrade(&shared), first));
        *lock(&shared.task) = Some(task.abort_handle());
        Ok(RemoteVerifier { shared })
    }
}

/// Verifies access tokens with the keys tokend publishes, fetched and refreshed by itself.
///
/// Built from the issuer URL and this API's audience; the rest is discovered through RFC 8414
/// metadata. Keys are refetched in the background as `Cache-Control: max-age` allows (within
/// the [bounds](RemoteVerifierBuilder::refresh_bounds)), and at once, at most once per
/// [interval](RemoteVerifierBuilder::unknown_kid_interval), when a token names an unknown
/// `kid` (tokend publishes a key minutes before signing with it). While tokend is unreachable
/// the keys already held keep verifying: a failed fetch never removes a key.
///
/// Cheap to clone: clones share keys, HTTP client and background task.
///
/// ```no_run
/// # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = tokend_verify::RemoteVerifier::connect("https://auth.example.com", "photos-api").await?;
/// let claims = verifier.verify(token).await?;
/// println!("account {}", claims.account_uuid);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteVerifier {
    shared: Arc<Shared>,
}

struct Shared {
    metadata: AuthServerMetadata,
    http: reqwest::Client,
    current: RwLock<Arc<Verifier>>,
    gate: JwksRefreshGate,
    /// One fetch at a time; unknown-`kid` requests wait here for a fetch already under way.
    fetch_lock: tokio::sync::Mutex<()>,
    floor: Duration,
    ceiling: Duration,
    last_error: Mutex<Option<RemoteError>>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

impl fmt::Debug for RemoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteVerifier")
            .field("jwks_uri", &self.shared.metadata.jwks_uri)
            .field("verifier", &self.current())
            .finish_non_exhaustive()
    }
}

impl RemoteVerifier {
    /// Settings with the defaults: refresh between [`DEFAULT_REFRESH_FLOOR`] and
    /// [`DEFAULT_REFRESH_CEILING`], unknown-`kid` refetch at most every
    /// [`JwksRefreshGate::DEFAULT_INTERVAL`], no leeway, [`DEFAULT_HTTP_TIMEOUT`].
    pub fn builder(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> RemoteVerifierBuilder {
        RemoteVerifierBuilder {
            issuer: issuer.into(),
            audience: audience.into(),
            floor: DEFAULT_REFRESH_FLOOR,
            ceiling: DEFAULT_REFRESH_CEILING,
            unknown_kid_interval: JwksRefreshGate::DEFAULT_INTERVAL,
            leeway: crate::DEFAULT_LEEWAY_SECS,
            timeout: DEFAULT_HTTP_TIMEOUT,
            http: None,
        }
    }

    /// [`builder`](Self::builder) with the defaults, then [`connect`](RemoteVerifierBuilder::connect).
    ///
    /// # Errors
    /// As for [`RemoteVerifierBuilder::connect`].
    pub async fn connect(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, RemoteError> {
        Self::builder(issuer, audience).connect().await
    }

    /// Checks `token` with the keys held, refetching them first (gated) if its `kid` is unknown.
    ///
    /// # Errors
    /// As for [`Verifier::verify`]; [`VerifyError::UnknownKey`] when the `kid` is still unknown
    /// after the refetch, or when a refetch is not allowed yet.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        match self.current().verify(token) {
            Err(VerifyError::UnknownKey) => {}
            done => return done,
        }
        // The header parsed (the key lookup comes after it), so the kid is there.
        let kid = jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|h| h.kid)
            .ok_or(VerifyError::Malformed)?;
        {
            let _guard = self.shared.fetch_lock.lock().await;
            // Another request may have fetched the key while this one waited.
            if !self.current().knows_kid(&kid) && self.shared.gate.should_refetch(Instant::now()) {
                // On failure the old keys stay; the error is kept for `last_refresh_error`.
                let _ = self.shared.fetch().await;
            }
        }
        self.current().verify(token)
    }

    /// The keys held now, as a plain [`Verifier`] (for synchronous code).
    pub fn current(&self) -> Arc<Verifier> {
        Arc::clone(
            &self
                .shared
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The metadata discovered at [`connect`](RemoteVerifierBuilder::connect).
    pub fn metadata(&self) -> &AuthServerMetadata {
        &self.shared.metadata
    }

    /// Fetches the JWKS now, whatever the schedule says.
    ///
    /// # Errors
    /// When tokend cannot be reached or its JWKS cannot be used; the keys held stay.
    pub async fn refresh(&self) -> Result<(), RemoteError> {
        let _guard = self.shared.fetch_lock.lock().await;
        self.shared.fetch().await.map(|_| ())
    }

    /// Why the last fetch failed, or `None` if it succeeded: for health checks and logs.
    pub fn last_refresh_error(&self) -> Option<RemoteError> {
        lock(&self.shared.last_error).clone()
    }

    /// An [`Introspector`] for the discovered `introspection_endpoint`, sharing this verifier's
    /// HTTP client, with a resource server's credentials (`tokend resource-server add NAME`).
    ///
    /// # Errors
    /// [`RemoteError::NoIntrospectionEndpoint`] when the metadata lists none.
    pub fn introspector(
        &self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Introspector, RemoteError> {
        let endpoint = self
            .shared
            .metadata
            .introspection_endpoint
            .clone()
            .ok_or(RemoteError::NoIntrospectionEndpoint)?;
        Ok(Introspector::new(endpoint, client_id, client_secret)
            .with_http_client(self.shared.http.clone()))
    }
}

impl Shared {
    /// Fetches the JWKS and swaps it in; returns the delay until the next scheduled fetch. The
    /// caller holds `fetch_lock`.
    async fn fetch(&self) -> Result<Duration, RemoteError> {
        let outcome = self.fetch_inner().await;
        *lock(&self.last_error) = outcome.as_ref().err().cloned();
        outcome
    }

    async fn fetch_inner(&self) -> Result<Duration, RemoteError> {
        let url = &self.metadata.jwks_uri;
        let (headers, body) = get(&self.http, url).await?;
        let jwks: JwkSet = json(url, &body)?;
        let mut next =
            Verifier::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner));
        next.set_jwks(&jwks).map_err(RemoteError::Jwks)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(max_age(&headers)
            .unwrap_or(self.floor)
            .clamp(self.floor, self.ceiling))
    }
}

/// Refetches the JWKS on schedule for as long as a [`RemoteVerifier`] exists.
async fn refresh_loop(shared: Weak<Shared>, mut delay: Duration) {
    loop {
        tokio::time::sleep(delay).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let _guard = shared.fetch_lock.lock().await;
        delay = shared.fetch().await.unwrap_or(shared.floor);
    }
}

/// `max-age` of a `Cache-Control` header; `no-store` and `no-cache` read as zero (so the floor
/// applies), anything unreadable as absent.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for directive in value.split(',').map(str::trim) {
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            let name = name.trim();
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age") {
                found = arg
                    .trim()
                    .trim_matches('"')
                    .parse()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
    }
    found
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are plain data, always consistent, so a panic elsewhere cannot have
    // left them half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
