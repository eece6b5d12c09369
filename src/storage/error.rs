//! [`StorageError`]: how a storage call failed, typed at the boundary so the domain never sees
//! `sqlx::Error`, and its one mapping onto the domain's [`crate::error::Error`]. The mapping lives
//! here, beside the type it maps, so the shared error module needs nothing from storage.

use crate::error::Error;

/// Storage failures, typed at the boundary.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint was hit; names what already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database cannot be reached or is overloaded.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; logged, never shown.
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict("record"),
            sqlx::Error::Database(db)
                if db.code().as_deref() == Some("5") || db.code().as_deref() == Some("6") =>
            {
                // SQLITE_BUSY / SQLITE_LOCKED after busy_timeout: overloaded, retryable.
                Self::Unavailable(e.to_string())
            }
            _ => Self::Other(e.to_string()),
        }
    }
}

/// Result alias for storage.
pub type StorageResult<T> = Result<T, StorageError>;

/// A missing row is a 404, a unique-constraint hit a 400 `conflict`, an unreachable database a
/// 503; anything else is a 500 whose cause is logged, never shown.
impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => Self::NotFound,
            StorageError::Conflict(what) => Self::InvalidRequest {
                message: format!("{what} already exists"),
                field: None,
                reason: Some("conflict"),
            },
            StorageError::Unavailable(_) => Self::Unavailable,
            StorageError::Other(cause) => Self::Internal(cause),
        }
    }
}
