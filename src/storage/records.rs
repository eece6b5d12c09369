//! Rows as the domain sees them: plain data, ids as UUIDs, times as Unix seconds.

use uuid::Uuid;

use crate::clock::UnixTime;

/// A person who signs in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    /// User uuid.
    #[sqlx(try_from = "String")]
    pub id: Uuid,
    /// Normalised login (unique).
    pub login: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Disabled users cannot sign in or refresh.
    pub disabled: bool,
    /// Creation time.
    pub created_at: UnixTime,
}

/// An organisation users work on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRecord {
    /// Account uuid.
    #[sqlx(try_from = "String")]
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: UnixTime,
}

/// One account of a user, with the user's role there.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MembershipRecord {
    /// Account uuid.
    #[sqlx(try_from = "String")]
    pub account_id: Uuid,
    /// Account name.
    pub account_name: String,
    /// Role name from the scope vocabulary.
    pub role: String,
}

/// The device a sign-in came from, as stored with an mfa_token (sessions keep the same fields as
/// columns of their own row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Device name, trimmed.
    pub name: String,
    /// Optional platform.
    pub platform: Option<String>,
    /// Optional app version.
    pub app_version: Option<String>,
    /// Optional OAuth client id of the app.
    pub client_id: Option<String>,
}

/// One signed-in device and the state of its refresh-token chain. No token is stored: the live
/// token is derived from `(id, generation)` with a server secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    /// Session uuid (`sid` claim).
    #[sqlx(try_from = "String")]
    pub id: Uuid,
    /// Owner.
    #[sqlx(try_from = "String")]
    pub user_id: Uuid,
    /// Device name given at sign-in.
    pub device_name: String,
    /// Optional device platform.
    pub device_platform: Option<String>,
    /// Optional app version.
    pub device_app_version: Option<String>,
    /// Optional OAuth client id of the app (`client_id` claim).
    pub client_id: Option<String>,
    /// Generation of the live refresh token.
    pub generation: i64,
    /// When `generation` last moved (start of the retry window).
    pub rotated_at: UnixTime,
    /// Sign-in time.
    pub created_at: UnixTime,
    /// Last refresh.
    pub last_used_at: UnixTime,
    /// Client IP of the last sign-in or refresh.
    pub last_ip: Option<String>,
    /// Set once revoked.
    pub revoked_at: Option<UnixTime>,
    /// Why it was revoked (`sign_out`, `reuse`, `password_change`, …).
    pub revoked_reason: Option<String>,
    /// RFC 7638 thumbprint of the DPoP key the session is bound to (RFC 9449): every refresh
    /// needs a proof by that key. `None` for a bearer session.
    pub dpop_jkt: Option<String>,
}
