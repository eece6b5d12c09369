//! The closed-loop scenarios: provision what each needs, run it, turn the measurement into rows.

use std::time::Duration;

use anyhow::anyhow;
use base64::Engine as _;

use crate::cli::{Args, Scenario};
use crate::driver::{closed_loop, Probe};
use crate::hashrate::{self, Costs};
use crate::procstat;
use crate::provision::Fixture;
use crate::report::Row;
use crate::server::Server;
use crate::work::{SignInPool, Work};

/// Users per fixture: sessions are spread over them (a real app has one user per device).
const USERS: usize = 8;

/// Everything a scenario run needs to know.
pub struct Run<'a> {
    /// The command line.
    pub args: &'a Args,
    /// The server under test.
    pub server: &'a Server,
    /// `SQLite`, `PostgreSQL` or `target`.
    pub db_label: String,
    /// Unmeasured warm-up.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Connections.
    pub connections: usize,
}

impl Run<'_> {
    /// Where CPU counters come from.
    pub fn probe(&self) -> Probe {
        Probe {
            server_pid: self.server.pid,
            pg_database: self.server.pg_database.clone(),
        }
    }

    /// A row for a closed-loop measurement, with the server's peak memory.
    pub fn row(
        &self,
        scenario: &str,
        measured: crate::driver::Measured,
        notes: Vec<String>,
    ) -> Row {
        Row {
            scenario: scenario.to_string(),
            db: self.db_label.clone(),
            connections: self.connections,
            measured,
            peak_rss_kib: self.peak_rss_kib(),
            from_schedule: false,
            notes,
        }
    }

    /// The server's VmHWM, if its pid is known.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.server
            .pid
            .and_then(|pid| procstat::memory(pid).ok())
            .map(|m| m.peak_kib)
    }

    /// argon2id costs of the server.
    pub fn costs(&self) -> Costs {
        Costs {
            m_cost: self.args.argon2_m_cost,
            t_cost: self.args.argon2_t_cost,
            p_cost: self.args.argon2_p_cost,
        }
    }

    /// A fixture of `users` users on one account.
    pub async fn fixture(&self, users: usize) -> anyhow::Result<Fixture> {
        Fixture::create(self.server.addr, &self.server.admin_key, users).await
    }
}

/// Hashes per second with the server's argon2id costs on as many threads as it has permits.
pub async fn raw_hash_rate(run: &Run<'_>, secs: Duration) -> anyhow::Result<f64> {
    let (costs, permits) = (run.costs(), run.server.hash_permits);
    tokio::task::spawn_blocking(move || hashrate::measure(costs, permits, secs)).await?
}

/// Runs one closed-loop scenario (not `flood` or `all`).
pub async fn run(scenario: Scenario, run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let c = run.connections;
    let mut notes = Vec::new();
    let works: Vec<Work> = match scenario {
        Scenario::Healthz => (0..c).map(|_| Work::Healthz).collect(),
        Scenario::Refresh => {
            let chains = run.fixture(USERS.min(c)).await?.chains(c).await?;
            chains
                .into_iter()
                .map(|chain| Work::Refresh { chain, dead: false })
                .collect()
        }
        Scenario::MeUser => {
            let tokens = run.fixture(USERS.min(c)).await?.access_tokens(c).await?;
            tokens
                .into_iter()
                .map(|t| Work::Me {
                    bearers: vec![format!("Bearer {t}")],
                    next: 0,
                })
                .collect()
        }
        Scenario::MeService => {
            let n = run.args.service_tokens.max(1);
            let tokens = run.fixture(1).await?.service_tokens(n).await?;
            notes.push(format!("{} distinct service tokens", tokens.len()));
            (0..c)
                .map(|i| Work::Me {
                    bearers: tokens
                        .iter()
                        .skip(i % tokens.len())
                        .step_by(c.min(tokens.len()))
                        .map(|t| format!("Bearer {t}"))
                        .collect(),
                    next: 0,
                })
                .collect()
        }
        Scenario::Introspect => {
            let (id, secret) = run
                .server
                .introspect
                .clone()
                .ok_or_else(|| anyhow!("introspect needs --introspect-client-id/--introspect-client-secret with --target"))?;
            let basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
            );
            let tokens = run.fixture(USERS.min(c)).await?.access_tokens(c).await?;
            notes.push("user access tokens, HTTP Basic".into());
            tokens
                .into_iter()
                .map(|t| Work::Introspect {
                    basic: basic.clone(),
                    form: format!("token={t}").into_bytes(),
                })
                .collect()
        }
        Scenario::SignIn => {
            let users = run.fixture(2 * USERS).await?.users;
            let pool = SignInPool::new(users);
            (0..c).map(|_| Work::SignIn(pool.clone())).collect()
        }
        Scenario::Flood | Scenario::All => return Err(anyhow!("not a closed-loop scenario")),
    };
    // Sign-in: the raw argon2id rate with the same parameters, on as many threads as the server
    // has hash permits, in the bench process on its own CPUs, just before and just after the
    // HTTP window (so the two never share the machine, and drift in background load averages out).
    let raw_secs = (run.duration / 2).min(Duration::from_secs(3));
    let raw_before = if scenario == Scenario::SignIn {
        Some(raw_hash_rate(run, raw_secs).await?)
    } else {
        None
    };
    let measured = closed_loop(
        run.server.addr,
        works,
        run.warmup,
        run.duration,
        &run.probe(),
    )
    .await?;
    let mut row = run.row(scenario.name(), measured, notes);
    if let Some(before) = raw_before {
        let after = raw_hash_rate(run, raw_secs).await?;
        let raw = (before + after) / 2.0;
        let ratio = 100.0 * row.rate() / raw.max(1e-9);
        let costs = run.costs();
        row.notes.push(format!(
            "raw argon2id (m={} t={} p={}) {raw:.1} hashes/s ({before:.1} before, {after:.1} after) on {} threads in the bench process; sign-in = {ratio:.0} % of it",
            costs.m_cost, costs.t_cost, costs.p_cost, run.server.hash_permits
        ));
    }
    let problems = run.server.log_problems();
    if problems > 0 {
        row.notes
            .push(format!("server log: {problems} WARN/ERROR lines so far"));
    }
    Ok(vec![row])
}
