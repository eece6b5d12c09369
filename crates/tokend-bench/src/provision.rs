//! Provisioning over the documented HTTP API: users, an account and memberships through the
//! admin API, sessions through sign-in, access tokens through refresh, service tokens through
//! `/v1/service_tokens`. Everything a run creates carries a random prefix, so runs against a
//! shared `--target` do not collide.

use std::net::SocketAddr;

use anyhow::{anyhow, Context};
use hyper::Method;
use serde_json::{json, Value};

use crate::client::{expect_status, Client};

/// Service tokens per account: tokend's default TOKEND_MAX_SERVICE_TOKENS.
const TOKENS_PER_ACCOUNT: usize = 10;

/// A user the bench created, with its password.
#[derive(Debug, Clone)]
pub struct User {
    /// The login to sign in with.
    pub login: String,
    /// The clear password.
    pub password: String,
}

/// A session's newest refresh token and the account it refreshes for.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The live refresh token.
    pub refresh_token: String,
    /// The account of every refresh.
    pub account_uuid: String,
}

/// Users sharing one account (as owners), made through the admin API.
pub struct Fixture {
    /// The users, all with passwords.
    pub users: Vec<User>,
    /// Their account.
    pub account_uuid: String,
    client: Client,
    admin_key: String,
    prefix: String,
    next_ip: u32,
}

/// A fresh random prefix for the names of one run.
fn run_prefix() -> String {
    format!("bench{:08x}", rand::random::<u32>())
}

/// A distinct client address for `X-Forwarded-For`, from 10.0.0.0/8.
pub fn fake_ip(n: u32) -> String {
    let n = n & 0x00ff_ffff;
    format!("10.{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff)
}

impl Fixture {
    /// Creates `users` users with passwords, one account, and makes them all its owners.
    pub async fn create(addr: SocketAddr, admin_key: &str, users: usize) -> anyhow::Result<Self> {
        let mut fixture = Self {
            users: Vec::new(),
            account_uuid: String::new(),
            client: Client::new(addr)?,
            admin_key: admin_key.to_string(),
            prefix: run_prefix(),
            next_ip: rand::random::<u32>(),
        };
        fixture.account_uuid = fixture.create_account("main").await?;
        for i in 0..users.max(1) {
            let user = User {
                login: format!("{}-{i}@bench.example", fixture.prefix),
                password: format!("bench passphrase {:016x}", rand::random::<u64>()),
            };
            let uuid = fixture.create_user(&user).await?;
            fixture
                .add_owner(&fixture.account_uuid.clone(), &uuid)
                .await?;
            fixture.users.push(user);
        }
        Ok(fixture)
    }

    async fn create_user(&mut self, user: &User) -> anyhow::Result<String> {
        let body = json!({"login": user.login, "password": user.password});
        let reply = self
            .client
            .json(
                Method::POST,
                "/v1/admin/users",
                Some(&self.admin_key),
                Some(&body),
            )
            .await?;
        uuid_of(&expect_status("POST /v1/admin/users", 201, reply)?)
    }

    /// Creates an account named after the run; returns its uuid.
    pub async fn create_account(&mut self, name: &str) -> anyhow::Result<String> {
        let body = json!({"name": format!("{} {name}", self.prefix)});
        let reply = self
            .client
            .json(
                Method::POST,
                "/v1/admin/accounts",
                Some(&self.admin_key),
                Some(&body),
            )
            .await?;
        uuid_of(&expect_status("POST /v1/admin/accounts", 201, reply)?)
    }

    async fn add_owner(&mut self, account: &str, user: &str) -> anyhow::Result<()> {
        let path = format!("/v1/admin/accounts/{account}/members/{user}");
        let reply = self
            .client
            .json(
                Method::PUT,
                &path,
                Some(&self.admin_key),
                Some(&json!({"role": "owner"})),
            )
            .await?;
        expect_status("PUT member", 200, reply).map(drop)
    }

    /// Signs user `i % users` in (from a fresh address); returns the first refresh token and the
    /// user's uuid.
    pub async fn sign_in(&mut self, i: usize) -> anyhow::Result<(String, String)> {
        let user = self.users[i % self.users.len()].clone();
        self.next_ip = self.next_ip.wrapping_add(1);
        let body = json!({"login": user.login, "password": user.password,
                          "device": {"name": "tokend-bench"}});
        let request = crate::client::request(
            Method::POST,
            "/v1/auth/sign_in",
            &[("x-forwarded-for", &fake_ip(self.next_ip))],
            Some(("application/json", serde_json::to_vec(&body)?)),
        )?;
        let reply = self.client.send(request).await?;
        let value: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        let value = expect_status("POST /v1/auth/sign_in", 200, (reply.status, value))?;
        let rt = str_field(&value, "refresh_token")?;
        let uuid = value
            .pointer("/user/uuid")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("sign-in answer without user.uuid"))?;
        Ok((rt, uuid.to_string()))
    }

    /// `n` sessions on the fixture's account, one refresh chain each.
    pub async fn chains(&mut self, n: usize) -> anyhow::Result<Vec<Chain>> {
        let mut chains = Vec::with_capacity(n);
        for i in 0..n {
            let (refresh_token, _) = self.sign_in(i).await?;
            chains.push(Chain {
                refresh_token,
                account_uuid: self.account_uuid.clone(),
            });
        }
        Ok(chains)
    }

    /// `n` user access tokens, each of its own session.
    pub async fn access_tokens(&mut self, n: usize) -> anyhow::Result<Vec<String>> {
        let mut tokens = Vec::with_capacity(n);
        for mut chain in self.chains(n).await? {
            tokens.push(refresh(&mut self.client, &mut chain).await?);
        }
        Ok(tokens)
    }

    /// `n` distinct service tokens: one user owns ceil(n / 10) accounts and creates up to ten
    /// tokens in each with an access token for that account.
    pub async fn service_tokens(&mut self, n: usize) -> anyhow::Result<Vec<String>> {
        let (rt, user_uuid) = self.sign_in(0).await?;
        let mut chain = Chain {
            refresh_token: rt,
            account_uuid: String::new(),
        };
        let mut tokens = Vec::with_capacity(n);
        let mut account_no = 0;
        while tokens.len() < n {
            account_no += 1;
            let account = self.create_account(&format!("tokens {account_no}")).await?;
            self.add_owner(&account, &user_uuid).await?;
            chain.account_uuid = account;
            let access = refresh(&mut self.client, &mut chain).await?;
            for _ in 0..TOKENS_PER_ACCOUNT.min(n - tokens.len()) {
                let body =
                    json!({"name": format!("bench {}", tokens.len()), "scopes": ["photos:read"]});
                let reply = self
                    .client
                    .json(
                        Method::POST,
                        "/v1/service_tokens",
                        Some(&access),
                        Some(&body),
                    )
                    .await?;
                let value = expect_status("POST /v1/service_tokens", 201, reply)?;
                tokens.push(str_field(&value, "token")?);
            }
        }
        Ok(tokens)
    }
}

/// Spends the chain's refresh token; keeps the successor; returns the access token.
pub async fn refresh(client: &mut Client, chain: &mut Chain) -> anyhow::Result<String> {
    let body = json!({"refresh_token": chain.refresh_token, "account_uuid": chain.account_uuid});
    let reply = client
        .json(Method::POST, "/v1/auth/token", None, Some(&body))
        .await?;
    let value = expect_status("POST /v1/auth/token", 200, reply)?;
    chain.refresh_token = str_field(&value, "refresh_token")?;
    str_field(&value, "access_token")
}

fn uuid_of(value: &Value) -> anyhow::Result<String> {
    str_field(value, "uuid")
}

fn str_field(value: &Value, name: &str) -> anyhow::Result<String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("answer without {name}: {value}"))
}
