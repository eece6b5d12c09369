//! `/v1/admin/*` (issue #11): the admin API product backends call with an admin key. Handlers
//! extract, call the domain, map the result; every call is audited by the domain.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{presented_token, ClientIp, JsonBody};
use crate::app::AppState;
use crate::domain::admin::accounts::{
    AccountNameRequest, AccountView, MemberRoleRequest, MemberView,
};
use crate::domain::admin::audit::AuditView;
use crate::domain::admin::keys::looks_like_admin_key;
use crate::domain::admin::reset::ResetTicket;
use crate::domain::admin::users::{CreateUserRequest, UserMembershipView, UserView};
use crate::domain::admin::{AdminCaller, Page, PageRequest};
use crate::domain::passkeys::PasskeyView;
use crate::domain::service_tokens::ServiceTokenView;
use crate::domain::sessions::SessionView;
use crate::error::{Error, Result};
use crate::storage::{AuditFilter, UserFilter};

/// The routes this module serves.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/users", post(create_user).get(list_users))
        .route(
            "/v1/admin/users/{user_uuid}",
            get(get_user).delete(delete_user),
        )
        .route("/v1/admin/users/{user_uuid}/disable", post(disable_user))
        .route("/v1/admin/users/{user_uuid}/enable", post(enable_user))
        .route(
            "/v1/admin/users/{user_uuid}/sessions",
            get(list_user_sessions).delete(revoke_user_sessions),
        )
        .route(
            "/v1/admin/users/{user_uuid}/sessions/{id}",
            delete(revoke_user_session),
        )
        .route("/v1/admin/users/{user_uuid}/mfa", delete(remove_user_mfa))
        .route(
            "/v1/admin/users/{user_uuid}/passkeys",
            get(list_user_passkeys),
        )
        .route(
            "/v1/admin/users/{user_uuid}/passkeys/{id}",
            delete(remove_user_passkey),
        )
        .route(
            "/v1/admin/users/{user_uuid}/memberships",
            get(list_user_memberships),
        )
        .route(
            "/v1/admin/users/{user_uuid}/password_reset",
            post(issue_password_reset),
        )
        .route(
            "/v1/admin/accounts",
            post(create_account).get(list_accounts),
        )
        .route(
            "/v1/admin/accounts/{account_uuid}",
            get(get_account)
                .patch(rename_account)
                .delete(delete_account),
        )
        .route(
            "/v1/admin/accounts/{account_uuid}/rate_limit",
            put(put_account_rate_limit),
        )
        .route(
            "/v1/admin/accounts/{account_uuid}/members",
            get(list_account_members),
        )
        .route(
            "/v1/admin/accounts/{account_uuid}/members/{user_uuid}",
            put(put_member).delete(remove_member),
        )
        .route(
            "/v1/admin/accounts/{account_uuid}/service_tokens",
            get(list_account_service_tokens),
        )
        .route(
            "/v1/admin/accounts/{account_uuid}/service_tokens/{id}",
            delete(delete_account_service_token),
        )
        .route("/v1/admin/audit", get(list_audit))
}

/// The admin behind the request's key. No key: 401; a user or service token: 403
/// `admin_key_required`; a wrong or removed admin key: 401.
pub struct Admin(pub AdminCaller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let Some(token) = presented_token(&parts.headers) else {
            return Err(Error::Unauthorized {
                token_presented: false,
            });
        };
        if !looks_like_admin_key(token) {
            return Err(Error::AdminKeyRequired);
        }
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        let caller = state.authenticate_admin_key(token, ip, user_agent).await?;
        // Changes are audited by the domain with what they changed; reads here, by route, so
        // every admin call leaves a row naming the key and the address.
        if parts.method == axum::http::Method::GET {
            let route = parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .map_or("", |p| p.as_str());
            state
                .audit(
                    caller
                        .event("read")
                        .details(serde_json::json!({"route": route})),
                )
                .await;
        }
        Ok(Admin(caller))
    }
}

/// A path id that must be a UUID; anything else names nothing (404).
fn uuid(raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw).map_err(|_| Error::NotFound)
}

/// `?limit=&cursor=` plus the filters of each list.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
    login_prefix: Option<String>,
    disabled: Option<bool>,
    user_uuid: Option<Uuid>,
    account_uuid: Option<Uuid>,
    kind: Option<String>,
    since: Option<String>,
    force: Option<bool>,
}

impl ListQuery {
    fn page(&self) -> PageRequest {
        PageRequest {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }
}

/// Query strings through the envelope, naming the parameter at fault.
fn query(
    q: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ListQuery> {
    q.map(|Query(q)| q).map_err(|e| Error::InvalidRequest {
        message: format!("bad query string: {}", e.body_text()),
        field: None,
        reason: None,
    })
}

async fn create_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    JsonBody(req): JsonBody<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserView>)> {
    let user = state.admin_create_user(&admin, req).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

async fn list_users(
    State(state): State<AppState>,
    Admin(_): Admin,
    q: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<UserView>>> {
    let q = query(q)?;
    let filter = UserFilter {
        login_prefix: q.login_prefix.clone(),
        disabled: q.disabled,
    };
    state.admin_list_users(filter, &q.page()).await.map(Json)
}

async fn get_user(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<UserView>> {
    state.admin_user(uuid(&id)?).await.map(Json)
}

async fn delete_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.admin_delete_user(&admin, uuid(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn disable_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Json<UserView>> {
    state
        .admin_set_disabled(&admin, uuid(&id)?, true)
        .await
        .map(Json)
}

async fn enable_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Json<UserView>> {
    state
        .admin_set_disabled(&admin, uuid(&id)?, false)
        .await
        .map(Json)
}

async fn list_user_sessions(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<Page<SessionView>>> {
    state.admin_user_sessions(uuid(&id)?).await.map(Json)
}

async fn revoke_user_sessions(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.admin_revoke_sessions(&admin, uuid(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_user_session(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path((user, session)): Path<(String, String)>,
) -> Result<StatusCode> {
    state
        .admin_revoke_session(&admin, uuid(&user)?, uuid(&session)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_user_mfa(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.admin_remove_mfa(&admin, uuid(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_user_passkeys(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<Page<PasskeyView>>> {
    state.admin_user_passkeys(uuid(&id)?).await.map(Json)
}

async fn remove_user_passkey(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path((user, passkey)): Path<(String, String)>,
) -> Result<StatusCode> {
    state
        .admin_remove_passkey(&admin, uuid(&user)?, uuid(&passkey)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_user_memberships(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<Page<UserMembershipView>>> {
    state.admin_user_memberships(uuid(&id)?).await.map(Json)
}

async fn issue_password_reset(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ResetTicket>)> {
    let actor = format!("admin_key:{}", admin.key_name);
    let ticket = state
        .issue_reset_ticket(uuid(&id)?, &actor, Some(&admin))
        .await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

async fn create_account(
    State(state): State<AppState>,
    Admin(admin): Admin,
    JsonBody(req): JsonBody<AccountNameRequest>,
) -> Result<(StatusCode, Json<AccountView>)> {
    let account = state.admin_create_account(&admin, req).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

async fn list_accounts(
    State(state): State<AppState>,
    Admin(_): Admin,
    q: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<AccountView>>> {
    let q = query(q)?;
    state.admin_list_accounts(&q.page()).await.map(Json)
}

async fn get_account(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<AccountView>> {
    state.admin_account(uuid(&id)?).await.map(Json)
}

async fn rename_account(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<AccountNameRequest>,
) -> Result<Json<AccountView>> {
    state
        .admin_rename_account(&admin, uuid(&id)?, req)
        .await
        .map(Json)
}

async fn delete_account(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    q: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<StatusCode> {
    let q = query(q)?;
    state
        .admin_delete_account(&admin, uuid(&id)?, q.force.unwrap_or(false))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/admin/accounts/{id}/rate_limit` body: the default rate of new service tokens and
/// the ceiling of what they may ask for (`null`: none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRateLimitRequest {
    rate_limit: Option<crate::limits::rate::RateLimit>,
    #[serde(default)]
    max_rate_limit: Option<crate::limits::rate::RateLimit>,
}

async fn put_account_rate_limit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<AccountRateLimitRequest>,
) -> Result<Json<serde_json::Value>> {
    let id = uuid(&id)?;
    for (field, rate) in [
        ("rate_limit", req.rate_limit),
        ("max_rate_limit", req.max_rate_limit),
    ] {
        if let Some(rate) = rate {
            rate.validate().map_err(|e| Error::field(field, e))?;
        }
    }
    state
        .set_account_rate_limit(id, req.rate_limit, req.max_rate_limit)
        .await?;
    state
        .audit(admin.event("account_rate_limit_set").account(id).details(
            serde_json::json!({"rate_limit": req.rate_limit, "max_rate_limit": req.max_rate_limit}),
        ))
        .await;
    Ok(Json(serde_json::json!({
        "account_uuid": id,
        "rate_limit": req.rate_limit,
        "max_rate_limit": req.max_rate_limit,
    })))
}

async fn list_account_members(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<Page<MemberView>>> {
    state.admin_account_members(uuid(&id)?).await.map(Json)
}

async fn put_member(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path((account, user)): Path<(String, String)>,
    JsonBody(req): JsonBody<MemberRoleRequest>,
) -> Result<Json<MemberView>> {
    state
        .admin_put_member(&admin, uuid(&account)?, uuid(&user)?, req)
        .await
        .map(Json)
}

async fn remove_member(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path((account, user)): Path<(String, String)>,
) -> Result<StatusCode> {
    state
        .admin_remove_member(&admin, uuid(&account)?, uuid(&user)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_account_service_tokens(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<Page<ServiceTokenView>>> {
    state.admin_service_tokens(uuid(&id)?).await.map(Json)
}

async fn delete_account_service_token(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path((account, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    state
        .admin_delete_service_token(&admin, uuid(&account)?, uuid(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_audit(
    State(state): State<AppState>,
    Admin(_): Admin,
    q: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<AuditView>>> {
    let q = query(q)?;
    let since = match q.since.as_deref() {
        None => None,
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| Error::field("since", "since must be an RFC 3339 time"))?
                .timestamp(),
        ),
    };
    let filter = AuditFilter {
        user_id: q.user_uuid,
        account_id: q.account_uuid,
        kind: q.kind.clone(),
        since,
    };
    state.list_audit(&filter, &q.page()).await.map(Json)
}
