//! The admin API for product backends (issue #11): admin keys, the resources, pagination,
//! password-reset tickets and the security audit trail. Every case on SQLite and PostgreSQL.

mod access;
mod audit;
mod cli;
mod reset;
mod resources;

use reqwest::{Method, Response};
use serde_json::Value;

use crate::helpers::*;

/// A fresh admin key.
pub async fn admin_key(app: &TestApp, name: &str) -> String {
    app.state
        .add_admin_key(name)
        .await
        .unwrap()
        .expose()
        .to_string()
}

/// An admin request with `key` as bearer and an optional JSON body.
pub async fn admin(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}
