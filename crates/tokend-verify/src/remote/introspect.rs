//! [`Introspector`]: tokend's `POST /v1/introspect` for tokens that cannot be checked offline,
//! with a short cache and one call per token at a time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::OnceCell;

use super::{default_http_client, json, read, RemoteError, DEFAULT_HTTP_TIMEOUT};
use crate::service_token::{is_well_formed_service_token, DEFAULT_SERVICE_TOKEN_PREFIX};
use crate::{Introspection, TOKEN_TYPE_SERVICE};

/// How long an introspection answer is reused: a deleted or deactivated service token stops
/// working at every API within this time.
pub const DEFAULT_INTROSPECTION_TTL: Duration = Duration::from_secs(1);

/// More cached answers than this and the settled ones are dropped, so a flood of distinct
/// tokens cannot grow memory without bound.
const MAX_CACHED: usize = 10_000;

/// Why a token was not accepted by introspection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntrospectError {
    /// Not shaped like a service token (wrong prefix, length, characters or checksum); refused
    /// without asking tokend.
    #[error("The token is malformed.")]
    Malformed,
    /// tokend says the token is not active (unknown, expired, deactivated, deleted), or it is
    /// not a service token.
    #[error("The token is not active.")]
    Inactive,
    /// tokend could not answer: the request must be refused (fail closed), not allowed.
    #[error("The token could not be checked: {0}")]
    Unavailable(RemoteError),
}

type Outcome = Result<(Introspection, Instant), IntrospectError>;

/// One token's answer, or the call that will produce it; waiters share it (single flight).
#[derive(Default)]
struct Slot(OnceCell<Outcome>);

/// Asks tokend about tokens with resource-server credentials (`tokend resource-server add`),
/// caching each answer for a short [TTL](Self::with_ttl).
///
/// Concurrent checks of one token share one call. Answers are keyed by the SHA-256 of the
/// token, so the cache holds no token in clear. When tokend cannot answer, the error is
/// [`IntrospectError::Unavailable`], which callers must treat as a refusal; failures are not
/// cached beyond the call that produced them.
///
/// ```no_run
/// # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// use tokend_verify::Introspector;
/// let introspector = Introspector::new("https://auth.example.com/v1/introspect", "client-id", "secret");
/// let answer = introspector.check_service_token(token).await?;
/// println!("service token of account {:?}", answer.account_uuid);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Introspector {
    http: reqwest::Client,
    endpoint: Arc<str>,
    client_id: Arc<str>,
    client_secret: Arc<str>,
    ttl: Duration,
    prefix: Arc<str>,
    cache: Arc<Mutex<HashMap<[u8; 32], Arc<Slot>>>>,
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Introspector {
    /// An introspector for `endpoint` (tokend's `introspection_endpoint`) with these
    /// credentials, the default TTL and prefix, and its own HTTP client.
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            http: default_http_client(DEFAULT_HTTP_TIMEOUT),
            endpoint: endpoint.into().into(),
            client_id: client_id.into().into(),
            client_secret: client_secret.into().into(),
            ttl: DEFAULT_INTROSPECTION_TTL,
            prefix: DEFAULT_SERVICE_TOKEN_PREFIX.into(),
            cache: Arc::default(),
        }
    }

    /// Reuses answers for `ttl` (default [`DEFAULT_INTROSPECTION_TTL`]); zero reuses none,
    /// though concurrent checks still share one call.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The service-token prefix tokend is configured with (`TOKEND_SERVICE_TOKEN_PREFIX`,
    /// default `tkd_live`), without the `_`.
    pub fn with_service_token_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().into();
        self
    }

    /// Uses this HTTP client instead of the default one.
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http = client;
        self
    }

    /// The service-token prefix in use.
    pub fn service_token_prefix(&self) -> &str {
        &self.prefix
    }

    /// Checks a service token: its shape locally, then tokend's answer, which must be active
    /// and for a service token. The caller still has to apply `scope`, `account_uuid`,
    /// `allowed_ips` and `max_request_bytes` (the `axum` layer does).
    ///
    /// # Errors
    /// [`IntrospectError::Malformed`] without calling tokend for a token that is not shaped
    /// like one; [`IntrospectError::Inactive`]; [`IntrospectError::Unavailable`].
    pub async fn check_service_token(&self, token: &str) -> Result<Introspection, IntrospectError> {
        if !is_well_formed_service_token(&self.prefix, token) {
            return Err(IntrospectError::Malformed);
        }
        let answer = self.introspect(token).await?;
        let unexpired = answer.exp.is_none_or(|exp| unix_now() < exp);
        let service = answer.token_type.as_deref() == Some(TOKEN_TYPE_SERVICE);
        if answer.active && unexpired && service && answer.account_uuid.is_some() {
            Ok(answer)
        } else {
            Err(IntrospectError::Inactive)
        }
    }

    /// tokend's answer for any token (an access token too, to see whether its session was
    /// revoked), from the cache when fresh enough.
    ///
    /// # Errors
    /// [`IntrospectError::Unavailable`] when tokend does not answer 200 with an RFC 7662 body.
    pub async fn introspect(&self, token: &str) -> Result<Introspection, IntrospectError> {
        let slot = self.slot(cache_key(token));
        let outcome = slot
            .0
            .get_or_init(|| async {
                let answer = self
                    .call(token)
                    .await
                    .map_err(IntrospectError::Unavailable)?;
                Ok((answer, Instant::now()))
            })
            .await;
        outcome.clone().map(|(answer, _)| answer)
    }

    /// The slot for `key`: a fresh answer or a call under way is shared, anything else replaced.
    fn slot(&self, key: [u8; 32]) -> Arc<Slot> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let usable = |slot: &Slot| match slot.0.get() {
            None => true,
            Some(Ok((_, at))) => now.duration_since(*at) < self.ttl,
            Some(Err(_)) => false,
        };
        if let Some(slot) = cache.get(&key).filter(|s| usable(s)) {
            return Arc::clone(slot);
        }
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, slot| usable(slot));
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, slot| slot.0.get().is_none());
            }
        }
        let slot = Arc::new(Slot::default());
        cache.insert(key, Arc::clone(&slot));
        slot
    }

    async fn call(&self, token: &str) -> Result<Introspection, RemoteError> {
        let url = &*self.endpoint;
        let response = self
            .http
            .post(url)
            .basic_auth(&*self.client_id, Some(&*self.client_secret))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|e| RemoteError::Unreachable {
                url: url.to_owned(),
                reason: super::error_chain(&e),
            })?;
        let (_, body) = read(url, response).await?;
        json(url, &body)
    }
}

/// SHA-256 of the token: equal tokens share a slot, and the map holds no secret.
fn cache_key(token: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
