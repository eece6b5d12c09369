//! The admin API for product backends (issue #11): admin keys, users, accounts, memberships,
//! service tokens of an account, password-reset tickets and the security audit trail.
//!
//! An admin key (`tkd_admin_…`, stored as a SHA-256 hash) is accepted only under `/v1/admin/`;
//! every admin call is audited with the key's name and the caller's address. Lists page with an
//! opaque cursor over `(created_at, id)` (keyset pagination: no page shifts when rows are
//! inserted meanwhile).
//!
//! - [`keys`]: admin keys and authentication;
//! - [`users`], [`accounts`]: the resources;
//! - [`reset`]: password-reset tickets;
//! - [`audit`]: writing and reading the audit trail.

pub mod accounts;
pub mod audit;
pub mod keys;
pub mod reset;
pub mod throttle;
pub mod users;

use base64::Engine;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::storage::Cursor;

/// Who made an admin call, for the audit trail.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    /// The key's name.
    pub key_name: String,
    /// Caller address.
    pub ip: String,
    /// `User-Agent`, if sent.
    pub user_agent: Option<String>,
}

/// The shape of every list: `{"items": [...], "next_cursor": "…" | null}`.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// This page.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A list short enough to be one page (a user's sessions, an account's members).
    pub fn whole(items: Vec<T>) -> Self {
        Self {
            items,
            next_cursor: None,
        }
    }
}

/// A page request: `limit` (1-200, default 50) and an opaque `cursor`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Items wanted.
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Default and largest page sizes.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

impl PageRequest {
    /// The validated limit and decoded cursor.
    pub(crate) fn parse(&self) -> Result<(u32, Option<Cursor>)> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::field(
                "limit",
                format!("limit must be 1 to {MAX_LIMIT}"),
            ));
        }
        let cursor = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                decode_cursor(c).ok_or_else(|| Error::field("cursor", "cursor is not valid"))?,
            ),
        };
        Ok((limit, cursor))
    }
}

/// Cursors are base64url of `<time>.<id>`: opaque to clients, meaningless to tamper with.
pub(crate) fn encode_cursor(at: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{at}.{id}"))
}

fn decode_cursor(cursor: &str) -> Option<Cursor> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (at, id) = text.split_once('.')?;
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return None;
    }
    Some((at.parse().ok()?, id.to_string()))
}

/// Builds a page from `limit + 1` fetched rows: the extra row only says another page exists.
pub(crate) fn page_of<R, T>(
    mut rows: Vec<R>,
    limit: u32,
    key: impl Fn(&R) -> (i64, String),
    view: impl FnMut(R) -> T,
) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| {
            let (at, id) = key(r);
            encode_cursor(at, &id)
        })
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(view).collect(),
        next_cursor,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = encode_cursor(1_700_000_000, "0190a0b0-0000-7000-8000-000000000001");
        let page = PageRequest {
            limit: Some(10),
            cursor: Some(c),
        };
        let (limit, cursor) = page.parse().unwrap();
        assert_eq!(limit, 10);
        assert_eq!(cursor.unwrap().0, 1_700_000_000);
        for bad in ["", "!!", "bm9wZQ", "MTIzLicgT1IgMT0x"] {
            let page = PageRequest {
                limit: None,
                cursor: Some(bad.into()),
            };
            assert!(bad.is_empty() || page.parse().is_err(), "{bad}");
        }
        for limit in [0, 201] {
            let page = PageRequest {
                limit: Some(limit),
                cursor: None,
            };
            assert!(page.parse().is_err());
        }
    }
}
