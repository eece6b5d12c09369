//! The command line: which scenario, against what, for how long, pinned where.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};

/// `cargo run --release -p tokend-bench -- SCENARIO [options]`
#[derive(Debug, Clone, Parser)]
#[command(name = "tokend-bench", version, about)]
pub struct Args {
    /// What to measure; `all` runs every scenario on SQLite and PostgreSQL with short windows.
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// Database of the server the bench starts (ignored with --target).
    #[arg(long, value_enum, default_value = "sqlite")]
    pub db: Db,

    /// Measured window, e.g. `10s`, `500ms`, `1m` (default 10s; 5s per scenario in `all`).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Unmeasured warm-up before the window (default 2s; 1s in `all`).
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,

    /// Keep-alive HTTP/1.1 connections, one task each.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,

    /// Benchmark an already running tokend at this base URL (`http://host:port`) instead of
    /// starting one. Provisioning then goes through the admin API (`--admin-key`).
    #[arg(long)]
    pub target: Option<String>,

    /// With --target: the server's pid, to read its CPU time and memory from /proc.
    #[arg(long, requires = "target")]
    pub server_pid: Option<u32>,

    /// With --target: an admin key (`tokend admin-key add NAME`).
    #[arg(long, env = "BENCH_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// With --target: introspection credentials (`tokend resource-server add NAME`).
    #[arg(long)]
    pub introspect_client_id: Option<String>,

    /// With --target: the secret that goes with --introspect-client-id.
    #[arg(long, env = "BENCH_INTROSPECT_SECRET", hide_env_values = true)]
    pub introspect_client_secret: Option<String>,

    /// CPUs for the server (taskset list such as `0` or `0,1`), or `none`.
    #[arg(long, default_value = "0")]
    pub server_cpu: String,

    /// CPUs for the bench process itself (sched_setaffinity), or `none`.
    #[arg(long, default_value = "1")]
    pub client_cpu: String,

    /// PostgreSQL server for `--db postgres`; a database `tokend_bench_<random>` is created in
    /// it for each server start and dropped afterwards.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub pg_url: String,

    /// The tokend binary to start (default: target/release/tokend of this workspace).
    #[arg(long)]
    pub tokend_bin: Option<PathBuf>,

    /// Do not run `cargo build --release -p tokend --bin tokend` before starting.
    #[arg(long)]
    pub no_build: bool,

    /// Distinct service tokens for `me-service` (10 per account, the server's default cap).
    #[arg(long, default_value_t = 200)]
    pub service_tokens: usize,

    /// Flood: total rate of the refresh chains running beside the flood, per second.
    #[arg(long, default_value_t = 200.0)]
    pub flood_refresh_rate: f64,

    /// Flood: connections (chains) carrying that refresh rate.
    #[arg(long, default_value_t = 8)]
    pub flood_refresh_connections: usize,

    /// Flood: offered sign-in rate as a multiple of the measured argon2id capacity.
    #[arg(long, default_value_t = 4.0)]
    pub flood_factor: f64,

    /// Flood: most sign-in connections open at once (beyond it the bench sheds, counted).
    #[arg(long, default_value_t = 512)]
    pub flood_max_connections: usize,

    /// Flood: a sign-in still unanswered after this long is abandoned (its connection closed).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub flood_timeout: Duration,

    /// Password hashes the server runs at once (TOKEND_MAX_CONCURRENT_HASHES); default, as
    /// tokend's own: twice the server's CPUs.
    #[arg(long)]
    pub hash_permits: Option<usize>,

    /// argon2id memory in KiB (TOKEND_ARGON2_M_COST), for the server and the raw hash rate.
    #[arg(long, default_value_t = 19456)]
    pub argon2_m_cost: u32,

    /// argon2id iterations (TOKEND_ARGON2_T_COST).
    #[arg(long, default_value_t = 2)]
    pub argon2_t_cost: u32,

    /// argon2id lanes (TOKEND_ARGON2_P_COST).
    #[arg(long, default_value_t = 1)]
    pub argon2_p_cost: u32,

    /// RUST_LOG for a started server (default: unset, so tokend's own default, which writes an
    /// access-log line per request at INFO). `warn` measures without the access log.
    #[arg(long)]
    pub server_rust_log: Option<String>,

    /// Before each scenario, wait up to this long for the machine to be quiet (less than
    /// `--quiet-below` cores busy over a second) — for shared machines. 0: do not wait.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub quiet_wait: Duration,

    /// What counts as quiet for --quiet-wait, in cores busy.
    #[arg(long, default_value_t = 0.25)]
    pub quiet_below: f64,

    /// Append the Markdown rows to this file as well.
    #[arg(long)]
    pub markdown: Option<PathBuf>,

    /// Keep the temporary data directory of each started server (its log and database).
    #[arg(long)]
    pub keep: bool,
}

/// A scenario on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Each connection runs its own refresh-token chain at POST /v1/auth/token.
    Refresh,
    /// GET /v1/me with a user access token.
    MeUser,
    /// GET /v1/me with many distinct service tokens.
    MeService,
    /// POST /v1/introspect of user access tokens, with resource-server Basic credentials.
    Introspect,
    /// POST /v1/auth/sign_in from many addresses, beside the raw argon2id rate.
    SignIn,
    /// Sign-ins at several times hashing capacity while refresh runs at a fixed rate.
    Flood,
    /// GET /healthz: the HTTP floor.
    Healthz,
    /// Every scenario on both databases, short windows.
    All,
}

impl Scenario {
    /// The name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Refresh => "refresh",
            Self::MeUser => "me-user",
            Self::MeService => "me-service",
            Self::Introspect => "introspect",
            Self::SignIn => "sign-in",
            Self::Flood => "flood",
            Self::Healthz => "healthz",
            Self::All => "all",
        }
    }
}

/// The database behind a server the bench starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Db {
    /// Embedded SQLite in the temporary data directory.
    Sqlite,
    /// A fresh database on `--pg-url`.
    Postgres,
}

impl Db {
    /// The name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// Parses `10s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("not a duration: {text:?}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => bail!("unknown unit in {text:?}: use ms, s or m"),
    };
    if !(seconds.is_finite() && seconds >= 0.0) {
        bail!("not a duration: {text:?}");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses a CPU list (`0`, `0,1`, `2-3`); `none` is no pinning.
pub fn parse_cpus(text: &str) -> anyhow::Result<Option<Vec<usize>>> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
            cpus.extend(a..=b);
        } else {
            cpus.push(part.parse().with_context(|| format!("bad CPU {part:?}"))?);
        }
    }
    if cpus.is_empty() {
        bail!("empty CPU list {text:?}");
    }
    Ok(Some(cpus))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_cpus_parse() -> anyhow::Result<()> {
        assert_eq!(parse_duration("10s")?, Duration::from_secs(10));
        assert_eq!(parse_duration("250ms")?, Duration::from_millis(250));
        assert_eq!(parse_duration("1m")?, Duration::from_secs(60));
        assert_eq!(parse_duration("3")?, Duration::from_secs(3));
        assert!(parse_duration("3h").is_err());
        assert_eq!(parse_cpus("0,2-3")?, Some(vec![0, 2, 3]));
        assert_eq!(parse_cpus("none")?, None);
        Ok(())
    }
}
