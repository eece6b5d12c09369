//! The listing and support commands of the CLI (issue #11): `user list`, `account list`,
//! `member list`, `resource-server list|remove`, `admin-key add|list|remove`, `audit list` and
//! `user reset-password`. Lists print a table for people and, with `--json`, one JSON object per
//! line for scripts.

use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::domain::admin::PageRequest;
use crate::domain::Tokend;
use crate::storage::{AuditFilter, UserFilter};

/// `tokend admin-key …`.
#[derive(Debug, Subcommand)]
pub enum AdminKeyCommand {
    /// Create an admin key; prints it alone on the last line, the only time it is shown.
    Add {
        /// A unique name, recorded with every admin call made with the key.
        name: String,
    },
    /// List admin keys (names and creation times, never the keys).
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove an admin key: it stops working at once.
    Remove {
        /// The key's name.
        name: String,
    },
}

/// `tokend audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print audit rows as JSON lines, oldest first.
    List {
        /// Only rows at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only rows about this login.
        #[arg(long)]
        user: Option<String>,
        /// Only rows of this kind (e.g. `sign_in.failed`).
        #[arg(long)]
        kind: Option<String>,
    },
}

/// Every page of a list, fetched 200 at a time.
async fn all_pages<T, F, Fut>(mut fetch: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<crate::domain::admin::Page<T>>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(PageRequest {
            limit: Some(200),
            cursor: cursor.take(),
        })
        .await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}

pub(super) async fn admin_key(app: &Tokend, action: AdminKeyCommand) -> anyhow::Result<()> {
    match action {
        AdminKeyCommand::Add { name } => {
            let key = app.add_admin_key(&name).await?;
            eprintln!(
                "admin key {name:?} created; it is shown only now, tokend keeps just its hash"
            );
            println!("{}", key.expose());
        }
        AdminKeyCommand::List { json } => {
            if !json {
                println!("{:<32} created", "name");
            }
            for k in app.list_admin_keys().await? {
                if json {
                    println!(
                        "{}",
                        json!({"name": k.name, "created_at": rfc3339(k.created_at)})
                    );
                } else {
                    println!("{:<32} {}", k.name, rfc3339(k.created_at));
                }
            }
        }
        AdminKeyCommand::Remove { name } => {
            app.remove_admin_key(&name)
                .await
                .map_err(|e| anyhow::anyhow!("admin key {name:?}: {e}"))?;
            println!("admin key {name:?} removed");
        }
    }
    Ok(())
}

pub(super) async fn users(app: &Tokend, json: bool) -> anyhow::Result<()> {
    let users =
        all_pages(|p| async move { app.admin_list_users(UserFilter::default(), &p).await }).await?;
    if !json {
        println!(
            "{:<36} {:<9} {:<4} {:<25} login",
            "uuid", "disabled", "mfa", "created"
        );
    }
    for u in users {
        if json {
            println!("{}", serde_json::to_string(&u)?);
        } else {
            println!(
                "{:<36} {:<9} {:<4} {:<25} {}",
                u.uuid,
                if u.disabled { "yes" } else { "" },
                if u.mfa_enabled { "yes" } else { "" },
                u.created_at,
                u.login
            );
        }
    }
    Ok(())
}

pub(super) async fn accounts(app: &Tokend, json: bool) -> anyhow::Result<()> {
    let accounts = all_pages(|p| async move { app.admin_list_accounts(&p).await }).await?;
    if !json {
        println!("{:<36} {:<25} name", "uuid", "created");
    }
    for a in accounts {
        if json {
            println!("{}", serde_json::to_string(&a)?);
        } else {
            println!("{:<36} {:<25} {}", a.uuid, a.created_at, a.name);
        }
    }
    Ok(())
}

pub(super) async fn members(
    app: &Tokend,
    account: Option<Uuid>,
    login: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    if let Some(account) = account {
        let members = app
            .admin_account_members(account)
            .await
            .map_err(|e| anyhow::anyhow!("account {account}: {e}"))?;
        if !json {
            println!("{:<36} {:<12} login", "user_uuid", "role");
        }
        for m in members.items {
            if json {
                println!("{}", serde_json::to_string(&m)?);
            } else {
                println!("{:<36} {:<12} {}", m.user_uuid, m.role, m.login);
            }
        }
    } else if let Some(login) = login {
        let user = app.user_named(login).await?;
        let memberships = app.admin_user_memberships(user.id).await?;
        if !json {
            println!("{:<36} role", "account_uuid");
        }
        for m in memberships.items {
            if json {
                println!("{}", serde_json::to_string(&m)?);
            } else {
                println!("{:<36} {}", m.account_uuid, m.role);
            }
        }
    }
    Ok(())
}

pub(super) async fn resource_servers(app: &Tokend, json: bool) -> anyhow::Result<()> {
    if !json {
        println!(
            "{:<36} {:<25} {:<32} name",
            "client_id", "created", "audience"
        );
    }
    for rs in app.list_resource_servers().await? {
        if json {
            println!(
                "{}",
                json!({"client_id": rs.client_id, "name": rs.name, "audience": rs.audience,
                       "created_at": rfc3339(rs.created_at)})
            );
        } else {
            println!(
                "{:<36} {:<25} {:<32} {}",
                rs.client_id,
                rfc3339(rs.created_at),
                rs.audience.as_deref().unwrap_or("-"),
                rs.name
            );
        }
    }
    Ok(())
}

pub(super) async fn remove_resource_server(app: &Tokend, client_id: &str) -> anyhow::Result<()> {
    app.remove_resource_server(client_id)
        .await
        .map_err(|e| anyhow::anyhow!("resource server {client_id}: {e}"))?;
    println!("resource server {client_id} removed");
    Ok(())
}

pub(super) async fn reset_password(app: &Tokend, login: &str) -> anyhow::Result<()> {
    let user = app.user_named(login).await?;
    let ticket = app.issue_reset_ticket(user.id, "system", None).await?;
    eprintln!(
        "reset ticket for {login:?}, valid until {}; shown only now, deliver it to the person",
        ticket.expires_at
    );
    println!("{}", ticket.ticket);
    Ok(())
}

pub(super) async fn audit(app: &Tokend, action: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List { since, user, kind } = action;
    let since = match since {
        None => None,
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(&s)
                .map_err(|e| anyhow::anyhow!("--since {s:?}: {e}"))?
                .timestamp(),
        ),
    };
    let user_id = match user {
        None => None,
        Some(login) => Some(app.user_named(&login).await?.id),
    };
    let filter = AuditFilter {
        user_id,
        account_id: None,
        kind,
        since,
    };
    let filter = &filter;
    for row in all_pages(|p| async move { app.list_audit(filter, &p).await }).await? {
        println!("{}", serde_json::to_string(&row)?);
    }
    Ok(())
}
