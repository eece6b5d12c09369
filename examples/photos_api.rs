//! A small photo API that trusts tokend, built on `tokend-verify` (features `axum` and `remote`):
//! users' JWTs are verified offline with keys it fetches and refreshes itself, service tokens
//! (`tkd_live_…`) are introspected, exchanged service-token JWTs verify offline, and each route
//! states its scope. A service token's `rate_limit` is enforced per token (429 `rate_limited`,
//! `RateLimit-*` and `X-RateLimit-*` headers). Data lives in memory, per account: one account's
//! token never sees another's.
//!
//! | route | scope |
//! |---|---|
//! | `GET /me` | `customer:read` |
//! | `GET /photos`, `GET /photos/{id}` | `photos:read` |
//! | `PATCH /photos/{id}` | `photos:write` |
//! | `DELETE /photos/{id}` | `photos:delete` |
//! | `GET /tags` | `tags:read` |
//! | `POST /tags` | `tags:write` |
//!
//! Settings (environment): `PHOTOS_API_LISTEN` (default `127.0.0.1:8081`), `TOKEND_ISSUER`
//! (default `http://127.0.0.1:8080`), `PHOTOS_API_AUDIENCE` (default `tokend`, tokend's default
//! audience), `TOKEND_INTROSPECT_CLIENT_ID` and `TOKEND_INTROSPECT_CLIENT_SECRET` (from
//! `tokend resource-server add "Photos API"`; without them service tokens are refused), and
//! `PHOTOS_API_TRUSTED_PROXIES` (addresses or CIDRs whose `X-Forwarded-For` is believed), and
//! `PHOTOS_API_REDIS_URL` (say `redis://127.0.0.1:6379/`: rate budgets shared by every instance
//! naming the same Redis; without it each instance counts in process).
//!
//! `cargo run --example photos_api`, with tokend running (see docs/resource-apis.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokend_verify::{
    Principal, RemoteError, RemoteVerifier, RequireScope, TokenRateLimits, TokendAuth,
    TrustedProxies,
};

/// The example's settings, read from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `PHOTOS_API_LISTEN`.
    pub listen: String,
    /// `TOKEND_ISSUER`: tokend's issuer URL, from which everything else is discovered.
    pub issuer: String,
    /// `PHOTOS_API_AUDIENCE`: the `aud` this API accepts.
    pub audience: String,
    /// `TOKEND_INTROSPECT_CLIENT_ID` and `TOKEND_INTROSPECT_CLIENT_SECRET`.
    pub introspection: Option<(String, String)>,
    /// `PHOTOS_API_TRUSTED_PROXIES`.
    pub trusted_proxies: String,
    /// `PHOTOS_API_REDIS_URL`: where rate budgets are shared, if anywhere.
    pub redis_url: Option<String>,
}

impl Settings {
    /// Reads the settings, with the defaults above.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let or = |name: &str, default: &str| var(name).unwrap_or_else(|| default.to_owned());
        Self {
            listen: or("PHOTOS_API_LISTEN", "127.0.0.1:8081"),
            issuer: or("TOKEND_ISSUER", "http://127.0.0.1:8080"),
            audience: or("PHOTOS_API_AUDIENCE", "tokend"),
            introspection: var("TOKEND_INTROSPECT_CLIENT_ID")
                .zip(var("TOKEND_INTROSPECT_CLIENT_SECRET")),
            trusted_proxies: or("PHOTOS_API_TRUSTED_PROXIES", ""),
            redis_url: var("PHOTOS_API_REDIS_URL"),
        }
    }
}

/// Discovers tokend, fetches its keys and, with credentials, prepares introspection; with a
/// Redis URL, rate budgets are shared through it.
///
/// # Errors
/// When tokend cannot be reached or a setting is invalid.
pub async fn connect(settings: &Settings) -> Result<TokendAuth, Box<dyn std::error::Error>> {
    let keys = RemoteVerifier::builder(&settings.issuer, &settings.audience)
        .leeway(5)
        .connect()
        .await?;
    let proxies = TrustedProxies::parse(&settings.trusted_proxies)?;
    let introspector = match &settings.introspection {
        Some((id, secret)) => Some(keys.introspector(id, secret)?),
        None => None,
    };
    let mut auth = TokendAuth::remote(keys).with_trusted_proxies(proxies);
    if let Some(url) = &settings.redis_url {
        auth = auth.with_rate_limits(TokenRateLimits::redis(url)?);
    }
    Ok(match introspector {
        Some(introspector) => auth.with_introspector(introspector),
        None => auth,
    })
}

/// The routes, each with its scope, behind `auth`'s layer.
pub fn router(auth: &TokendAuth, store: Store) -> Router {
    Router::new()
        .route("/me", get(me.layer(RequireScope("customer:read"))))
        .route(
            "/photos",
            get(list_photos.layer(RequireScope("photos:read"))),
        )
        .route(
            "/photos/{id}",
            get(show_photo.layer(RequireScope("photos:read")))
                .patch(update_photo.layer(RequireScope("photos:write")))
                .delete(delete_photo.layer(RequireScope("photos:delete"))),
        )
        .route(
            "/tags",
            get(list_tags.layer(RequireScope("tags:read")))
                .post(add_tag.layer(RequireScope("tags:write"))),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "No such route.") })
        .layer(auth.layer())
        .with_state(store)
}

/// One photo.
#[derive(Debug, Clone, Serialize)]
pub struct Photo {
    id: u64,
    title: String,
    tags: Vec<String>,
}

/// One account's data.
#[derive(Debug, Default)]
struct Account {
    photos: BTreeMap<u64, Photo>,
    tags: BTreeSet<String>,
}

/// Every account's data, in memory. Photo ids are unique across accounts, so an id from another
/// account is simply not found.
#[derive(Debug, Clone, Default)]
pub struct Store {
    accounts: Arc<Mutex<HashMap<String, Account>>>,
}

static NEXT_PHOTO_ID: AtomicU64 = AtomicU64::new(1);

impl Store {
    /// Runs `f` on the caller's account, created with three sample photos on first use.
    fn with_account<R>(&self, principal: &Principal, f: impl FnOnce(&mut Account) -> R) -> R {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let account = accounts
            .entry(principal.account_uuid().to_owned())
            .or_insert_with(|| {
                let photos = ["Sunset", "Harbour", "Birthday cake"].map(|title| {
                    let id = NEXT_PHOTO_ID.fetch_add(1, Ordering::Relaxed);
                    let tags = vec!["sample".to_owned()];
                    (
                        id,
                        Photo {
                            id,
                            title: title.to_owned(),
                            tags,
                        },
                    )
                });
                Account {
                    photos: photos.into_iter().collect(),
                    tags: BTreeSet::from(["sample".to_owned()]),
                }
            });
        f(account)
    }
}

/// The contract's error envelope.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "No such photo.")
}

fn bad_body(rejection: &JsonRejection) -> Response {
    let message = format!("The body is not valid: {}.", rejection.body_text());
    error(StatusCode::BAD_REQUEST, "invalid_request", &message)
}

async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "subject": principal.subject(),
        "account_uuid": principal.account_uuid(),
        "kind": if principal.is_service() { "service" } else { "user" },
        "scopes": principal.scopes().collect::<Vec<_>>(),
    }))
}

async fn list_photos(State(store): State<Store>, principal: Principal) -> Json<Value> {
    let photos: Vec<Photo> = store.with_account(&principal, |account| {
        account.photos.values().cloned().collect()
    });
    Json(json!({ "photos": photos }))
}

async fn show_photo(
    State(store): State<Store>,
    principal: Principal,
    Path(id): Path<u64>,
) -> Response {
    match store.with_account(&principal, |account| account.photos.get(&id).cloned()) {
        Some(photo) => Json(photo).into_response(),
        None => not_found(),
    }
}

/// `PATCH /photos/{id}` body.
#[derive(Debug, Deserialize)]
pub struct PhotoPatch {
    title: Option<String>,
    tags: Option<Vec<String>>,
}

async fn update_photo(
    State(store): State<Store>,
    principal: Principal,
    Path(id): Path<u64>,
    body: Result<Json<PhotoPatch>, JsonRejection>,
) -> Response {
    let Json(patch) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    let updated = store.with_account(&principal, |account| {
        let photo = account.photos.get_mut(&id)?;
        if let Some(title) = patch.title {
            photo.title = title;
        }
        if let Some(tags) = patch.tags {
            photo.tags = tags;
        }
        Some(photo.clone())
    });
    match updated {
        Some(photo) => Json(photo).into_response(),
        None => not_found(),
    }
}

async fn delete_photo(
    State(store): State<Store>,
    principal: Principal,
    Path(id): Path<u64>,
) -> Response {
    match store.with_account(&principal, |account| account.photos.remove(&id)) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(),
    }
}

async fn list_tags(State(store): State<Store>, principal: Principal) -> Json<Value> {
    Json(json!({ "tags": store.with_account(&principal, |account| account.tags.clone()) }))
}

/// `POST /tags` body.
#[derive(Debug, Deserialize)]
pub struct NewTag {
    name: String,
}

async fn add_tag(
    State(store): State<Store>,
    principal: Principal,
    body: Result<Json<NewTag>, JsonRejection>,
) -> Response {
    let Json(tag) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(&rejection),
    };
    let name = tag.name.trim();
    if name.is_empty() || name.chars().count() > 50 {
        let message = "A tag name is 1 to 50 characters.";
        return error(StatusCode::BAD_REQUEST, "invalid_request", message);
    }
    let tags = store.with_account(&principal, |account| {
        account.tags.insert(name.to_owned());
        account.tags.clone()
    });
    (StatusCode::CREATED, Json(json!({ "tags": tags }))).into_response()
}

/// Connects to tokend (retrying while it starts, as under docker compose) and serves.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env();
    let mut attempt = 0;
    let auth = loop {
        match connect(&settings).await {
            Ok(auth) => break auth,
            Err(e) if attempt < 30 && e.downcast_ref::<RemoteError>().is_some() => {
                eprintln!("photos API: waiting for tokend at {}: {e}", settings.issuer);
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    };
    if settings.introspection.is_none() {
        eprintln!("photos API: no TOKEND_INTROSPECT_CLIENT_ID/SECRET; service tokens are refused");
    }
    let listener = tokio::net::TcpListener::bind(&settings.listen).await?;
    println!("photos API listening on http://{}", listener.local_addr()?);
    let app = router(&auth, Store::default());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
