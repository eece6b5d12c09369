//! The `tokend` command line (contract section 9). Each command prints what it created, uuids
//! alone on a line, so scripts can capture them.

use std::io::Read;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use uuid::Uuid;

use crate::app;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::crypto::keys::{generate_key, KeyAlg, KeyRing};
use crate::crypto::password::Password;
use crate::domain::oauth2::clients::NewClient;
use crate::domain::Tokend;

mod lists;

/// tokend: sign-in, rotating refresh tokens, JWT access tokens and service tokens.
#[derive(Debug, Parser)]
#[command(name = "tokend", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        /// User action.
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Manage accounts.
    Account {
        /// Account action.
        #[command(subcommand)]
        action: AccountCommand,
    },
    /// Manage memberships.
    Member {
        /// Membership action.
        #[command(subcommand)]
        action: MemberCommand,
    },
    /// Manage signing keys.
    Keys {
        /// Key action.
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Manage registered OAuth 2.0 clients (callers of `POST /oauth2/token`).
    Client {
        /// Client action.
        #[command(subcommand)]
        action: ClientCommand,
    },
    /// Manage resource servers (callers of `POST /v1/introspect`).
    ResourceServer {
        /// Resource-server action.
        #[command(subcommand)]
        action: ResourceServerCommand,
    },
    /// Manage admin keys (callers of `/v1/admin`).
    AdminKey {
        /// Admin-key action.
        #[command(subcommand)]
        action: lists::AdminKeyCommand,
    },
    /// Read the security audit trail.
    Audit {
        /// Audit action.
        #[command(subcommand)]
        action: lists::AuditCommand,
    },
}

/// `tokend user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints the user uuid.
    Add {
        /// Login (e-mail address or name).
        login: String,
        /// Read the password from standard input (the only way: never from argv).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user, revoking every session at once.
    Disable {
        /// Login.
        login: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login.
        login: String,
    },
    /// List users (a table; `--json` for one object per line).
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Issue a password-reset ticket; prints it alone on the last line.
    ResetPassword {
        /// Login.
        login: String,
    },
}

/// `tokend account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account; prints the account uuid.
    Add {
        /// Display name.
        name: String,
    },
    /// List accounts.
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set the rate new service tokens of the account get when created without one (`N/PERIOD`,
    /// e.g. `1000/hour`; `off` for none), and optionally the ceiling of what they may ask for.
    SetRateLimit {
        /// Account uuid.
        account_uuid: Uuid,
        /// Default rate, or `off`.
        rate: String,
        /// The most a token of this account may be created with (`N/PERIOD`).
        #[arg(long)]
        max_rate_limit: Option<String>,
    },
}

/// `tokend member …`.
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a membership or change its role (applies from the next refresh).
    Add {
        /// Login.
        login: String,
        /// Account uuid.
        account_uuid: Uuid,
        /// Role from the scope vocabulary.
        #[arg(long)]
        role: String,
    },
    /// End a membership.
    Remove {
        /// Login.
        login: String,
        /// Account uuid.
        account_uuid: Uuid,
    },
    /// List the members of an account, or the memberships of a user.
    List {
        /// The account whose members to list.
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        account: Option<Uuid>,
        /// The login whose memberships to list.
        #[arg(long)]
        user: Option<String>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `tokend keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a signing key; prints its kid. It signs once published for 5 minutes.
    Generate {
        /// ed25519 (default), es256 or rs256.
        #[arg(long, default_value = "ed25519")]
        alg: String,
    },
    /// List keys: kid, alg, created, and which one signs.
    List,
}

/// `tokend resource-server …`.
#[derive(Debug, Subcommand)]
pub enum ResourceServerCommand {
    /// Create introspection credentials; prints `client_id: …` and `client_secret: …`, each on
    /// its own line. The secret is shown this once and stored only as a hash.
    Add {
        /// Display name (1-100 characters), e.g. the API's name.
        name: String,
        /// Its identifier for `resource` requests and the `aud` claim (RFC 8707), e.g.
        /// `https://photos.example.com`.
        #[arg(long)]
        audience: Option<String>,
    },
    /// List resource servers (never their secrets).
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a resource server: its credentials stop working at once.
    Remove {
        /// Its client id.
        client_id: String,
    },
}

/// `tokend client …`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints `client_id: …` and, for a confidential client,
    /// `client_secret: …` (shown this once, stored only as a hash).
    Add {
        /// Display name (1-100 characters), e.g. the app's name.
        name: String,
        /// A server that keeps a secret (default: a public app, identified by its id alone).
        #[arg(long)]
        confidential: bool,
        /// An RFC 6749 grant type it may use (repeatable). Default: `refresh_token`, plus the
        /// token-exchange grant for a confidential client.
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// An audience it may request with `resource` (repeatable). Default: any.
        #[arg(long = "audience")]
        audiences: Vec<String>,
    },
    /// List registered clients.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a client: it can no longer authenticate at the standard endpoints.
    Remove {
        /// The client's id.
        client_id: String,
    },
}

/// Runs a command other than `serve`.
pub async fn run_admin(command: Command, settings: Settings) -> anyhow::Result<()> {
    let clock = SystemClock;
    match command {
        Command::Serve => bail!("serve is handled by main"),
        Command::Keys {
            action: KeysCommand::Generate { alg },
        } => {
            let alg = KeyAlg::parse(&alg).with_context(|| {
                format!("unknown algorithm {alg:?}; use ed25519, es256 or rs256")
            })?;
            let kid = generate_key(&settings.keys_dir, alg, clock.now())?;
            // The key exists from here on; recording it needs the database, which a key
            // generated before the first start may not have yet: then the row is skipped.
            match app::build(settings, Arc::new(clock)).await {
                Ok(app) => {
                    app.audit(
                        crate::domain::admin::audit::AuditEvent::new(
                            "signing_key.generated",
                            "system",
                        )
                        .details(serde_json::json!({"kid": kid, "alg": alg.name()})),
                    )
                    .await;
                    app.shutdown().await;
                }
                Err(e) => eprintln!("key generated; audit row not written: {e:#}"),
            }
            println!("{kid}");
            Ok(())
        }
        Command::Keys { action } => keys(action, &settings, clock.now()),
        Command::Migrate => {
            let store = crate::storage::connect(settings.database_url.expose(), 1).await?;
            store.migrate().await.context("applying migrations")?;
            store.close().await;
            println!("migrations applied");
            Ok(())
        }
        other => {
            let app = app::build(settings, Arc::new(clock)).await?;
            let result = admin(&app, other).await;
            app.shutdown().await;
            result
        }
    }
}

async fn admin(app: &Tokend, command: Command) -> anyhow::Result<()> {
    match command {
        Command::User {
            action: UserCommand::Add { login, .. },
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from stdin")?;
            let password = Password::new(password.trim_end_matches(['\r', '\n']));
            println!("{}", app.add_user(&login, &password).await?);
        }
        Command::User {
            action: UserCommand::Disable { login },
        } => {
            let id = app.set_user_disabled(&login, true).await?;
            println!("{id}");
            eprintln!("user disabled; every session revoked");
        }
        Command::User {
            action: UserCommand::Enable { login },
        } => {
            println!("{}", app.set_user_disabled(&login, false).await?);
        }
        Command::Account {
            action: AccountCommand::Add { name },
        } => {
            println!("{}", app.add_account(&name).await?);
        }
        Command::Member {
            action:
                MemberCommand::Add {
                    login,
                    account_uuid,
                    role,
                },
        } => {
            app.add_member(&login, account_uuid, &role).await?;
            println!("{login} is {role} of {account_uuid}");
        }
        Command::Member {
            action:
                MemberCommand::Remove {
                    login,
                    account_uuid,
                },
        } => {
            app.remove_member(&login, account_uuid).await?;
            println!("{login} removed from {account_uuid}");
        }
        Command::ResourceServer {
            action: ResourceServerCommand::Add { name, audience },
        } => {
            let credentials = app.add_resource_server(&name, audience.as_deref()).await?;
            println!("client_id: {}", credentials.client_id);
            println!("client_secret: {}", credentials.client_secret.expose());
            eprintln!("the client secret is shown only now; tokend keeps just its hash");
        }
        Command::Client { action } => client(app, action).await?,
        Command::AdminKey { action } => lists::admin_key(app, action).await?,
        Command::Audit { action } => lists::audit(app, action).await?,
        Command::User {
            action: UserCommand::List { json },
        } => lists::users(app, json).await?,
        Command::User {
            action: UserCommand::ResetPassword { login },
        } => lists::reset_password(app, &login).await?,
        Command::Account {
            action: AccountCommand::List { json },
        } => lists::accounts(app, json).await?,
        Command::Account {
            action:
                AccountCommand::SetRateLimit {
                    account_uuid,
                    rate,
                    max_rate_limit,
                },
        } => {
            let parse = |s: &str| -> anyhow::Result<Option<crate::limits::rate::RateLimit>> {
                if s.eq_ignore_ascii_case("off") {
                    Ok(None)
                } else {
                    s.parse().map(Some).map_err(anyhow::Error::msg)
                }
            };
            let default = parse(&rate)?;
            let max = match max_rate_limit.as_deref() {
                Some(m) => parse(m)?,
                None => None,
            };
            app.set_account_rate_limit(account_uuid, default, max)
                .await
                .map_err(|e| anyhow::anyhow!("account {account_uuid}: {e}"))?;
            println!(
                "account {account_uuid}: default {}, ceiling {}",
                default.map_or("none".to_string(), |d| d.to_string()),
                max.map_or("none".to_string(), |m| m.to_string())
            );
        }
        Command::Member {
            action:
                MemberCommand::List {
                    account,
                    user,
                    json,
                },
        } => lists::members(app, account, user.as_deref(), json).await?,
        Command::ResourceServer {
            action: ResourceServerCommand::List { json },
        } => lists::resource_servers(app, json).await?,
        Command::ResourceServer {
            action: ResourceServerCommand::Remove { client_id },
        } => lists::remove_resource_server(app, &client_id).await?,
        _ => bail!("unexpected command"),
    }
    Ok(())
}

async fn client(app: &Tokend, action: ClientCommand) -> anyhow::Result<()> {
    match action {
        ClientCommand::Add {
            name,
            confidential,
            grants,
            audiences,
        } => {
            let credentials = app
                .add_client(NewClient {
                    name,
                    confidential,
                    grants,
                    audiences,
                })
                .await?;
            println!("client_id: {}", credentials.client_id);
            if let Some(secret) = credentials.client_secret {
                println!("client_secret: {}", secret.expose());
                eprintln!("the client secret is shown only now; tokend keeps just its hash");
            }
        }
        ClientCommand::List { json } => {
            let clients = app.list_clients().await?;
            if !json {
                println!(
                    "{:<36} {:<12} {:<24} name / grants / audiences",
                    "client_id", "kind", "created"
                );
            }
            for c in clients {
                let kind = if c.confidential {
                    "confidential"
                } else {
                    "public"
                };
                if json {
                    let line = serde_json::json!({
                        "client_id": c.client_id,
                        "name": c.name,
                        "confidential": c.confidential,
                        "grant_types": c.grant_types.split(' ').collect::<Vec<_>>(),
                        "audiences": c.audiences.split(' ').filter(|a| !a.is_empty())
                            .collect::<Vec<_>>(),
                        "created_at": crate::clock::rfc3339(c.created_at),
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{:<36} {:<12} {:<24} {} / {} / {}",
                        c.client_id,
                        kind,
                        crate::clock::rfc3339(c.created_at),
                        c.name,
                        c.grant_types,
                        if c.audiences.is_empty() {
                            "any"
                        } else {
                            &c.audiences
                        }
                    );
                }
            }
        }
        ClientCommand::Remove { client_id } => {
            app.remove_client(&client_id)
                .await
                .map_err(|e| anyhow::anyhow!("client {client_id}: {e}"))?;
            println!("client {client_id} removed");
        }
    }
    Ok(())
}

fn keys(action: KeysCommand, settings: &Settings, now: i64) -> anyhow::Result<()> {
    match action {
        KeysCommand::Generate { .. } => bail!("handled by run_admin"),
        KeysCommand::List => {
            let ring = KeyRing::load(&settings.keys_dir)?;
            let signer = ring.signer(now).kid.clone();
            println!("{:<36} {:<8} {:<21} signing", "kid", "alg", "created");
            for key in ring.keys() {
                println!(
                    "{:<36} {:<8} {:<21} {}",
                    key.kid,
                    key.alg.name(),
                    crate::clock::rfc3339(key.created_at),
                    if key.kid == signer { "yes" } else { "" }
                );
            }
        }
    }
    Ok(())
}
