//! What one connection does per request, for each scenario: the request, and the state it
//! carries from one answer to the next (a refresh chain keeps its newest token).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request};
use serde::{Deserialize, Serialize};

use crate::client::{request, Client};
use crate::provision::{fake_ip, Chain, User};

/// Sign-in credentials shared by every connection of a sign-in load, with the counters that
/// spread the requests over users and client addresses.
#[derive(Debug)]
pub struct SignInPool {
    /// Users to sign in as, in turn.
    pub users: Vec<User>,
    next_user: AtomicUsize,
    next_ip: AtomicU32,
}

impl SignInPool {
    /// A pool over `users`.
    pub fn new(users: Vec<User>) -> Arc<Self> {
        Arc::new(Self {
            users,
            next_user: AtomicUsize::new(0),
            next_ip: AtomicU32::new(rand::random()),
        })
    }

    /// The next sign-in request: the next user, from the next address.
    pub fn next_request(&self) -> anyhow::Result<Request<Full<Bytes>>> {
        #[derive(Serialize)]
        struct Device {
            name: &'static str,
        }
        #[derive(Serialize)]
        struct SignIn<'a> {
            login: &'a str,
            password: &'a str,
            device: Device,
        }
        let i = self.next_user.fetch_add(1, Ordering::Relaxed) % self.users.len().max(1);
        let user = self
            .users
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("no users"))?;
        let ip = fake_ip(self.next_ip.fetch_add(1, Ordering::Relaxed));
        let body = serde_json::to_vec(&SignIn {
            login: &user.login,
            password: &user.password,
            device: Device {
                name: "tokend-bench",
            },
        })?;
        request(
            Method::POST,
            "/v1/auth/sign_in",
            &[("x-forwarded-for", &ip)],
            Some(("application/json", body)),
        )
    }
}

/// The per-connection loop body of a scenario.
#[derive(Debug)]
pub enum Work {
    /// POST /v1/auth/token with the chain's newest refresh token.
    Refresh {
        /// The chain; advanced on every 200.
        chain: Chain,
        /// Set when the chain was refused for good (401): the connection stops.
        dead: bool,
    },
    /// GET /v1/me with `Authorization: Bearer …` (precomputed header value).
    Me {
        /// The header values to use in turn (one for a user token, many for service tokens).
        bearers: Vec<String>,
        /// The next one.
        next: usize,
    },
    /// POST /v1/introspect of one token with resource-server Basic credentials.
    Introspect {
        /// `Basic …`.
        basic: String,
        /// The form body `token=…`.
        form: Vec<u8>,
    },
    /// POST /v1/auth/sign_in from the shared pool.
    SignIn(Arc<SignInPool>),
    /// GET /healthz.
    Healthz,
}

/// Pseudo-status for an introspection answer of `{"active": false}` (a 200 the bench did not
/// expect: its tokens are all live).
pub const INACTIVE: u16 = 299;

#[derive(Deserialize)]
struct TokenAnswer {
    refresh_token: String,
}

#[derive(Serialize)]
struct TokenRequest<'a> {
    refresh_token: &'a str,
    account_uuid: &'a str,
}

impl Work {
    /// True once this connection can do no more useful work (its refresh chain was refused).
    pub fn is_dead(&self) -> bool {
        matches!(self, Self::Refresh { dead: true, .. })
    }

    /// Sends one request and handles its answer; returns the status.
    pub async fn step(&mut self, client: &mut Client) -> anyhow::Result<u16> {
        match self {
            Self::Refresh { chain, dead } => {
                let body = serde_json::to_vec(&TokenRequest {
                    refresh_token: &chain.refresh_token,
                    account_uuid: &chain.account_uuid,
                })?;
                let req = request(
                    Method::POST,
                    "/v1/auth/token",
                    &[],
                    Some(("application/json", body)),
                )?;
                // On a lost answer or a 5xx the same token is sent again: within the grace window
                // tokend hands back the same successor, as a real app would rely on.
                let reply = client.send(req).await?;
                match reply.status {
                    200 => {
                        let answer: TokenAnswer = serde_json::from_slice(&reply.body)?;
                        chain.refresh_token = answer.refresh_token;
                    }
                    401 => *dead = true,
                    _ => {}
                }
                Ok(reply.status)
            }
            Self::Me { bearers, next } => {
                let bearer = &bearers[*next % bearers.len()];
                *next = next.wrapping_add(1);
                let req = request(
                    Method::GET,
                    "/v1/me",
                    &[(AUTHORIZATION.as_str(), bearer)],
                    None,
                )?;
                Ok(client.send(req).await?.status)
            }
            Self::Introspect { basic, form } => {
                let req = request(
                    Method::POST,
                    "/v1/introspect",
                    &[(AUTHORIZATION.as_str(), basic)],
                    Some(("application/x-www-form-urlencoded", form.clone())),
                )?;
                let reply = client.send(req).await?;
                // An inactive answer is a 200 too: report it apart (see `INACTIVE`).
                if reply.status == 200 && reply.body.windows(15).any(|w| w == b"\"active\":false") {
                    return Ok(INACTIVE);
                }
                Ok(reply.status)
            }
            Self::SignIn(pool) => Ok(client.send(pool.next_request()?).await?.status),
            Self::Healthz => Ok(client
                .send(request(Method::GET, "/healthz", &[], None)?)
                .await?
                .status),
        }
    }
}
