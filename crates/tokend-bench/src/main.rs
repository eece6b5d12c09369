//! `tokend-bench`: the load generator of issue 12, in its own process.
//!
//! It builds and starts a tokend (or targets a running one with `--target`), pins the server and
//! itself to given CPUs, provisions its own users, accounts, sessions and service tokens over the
//! documented HTTP API, drives keep-alive HTTP/1.1 connections through a warm-up and a measured
//! window, and reports throughput, latency percentiles, errors by status, the server's CPU time
//! per request (and PostgreSQL's), and the server's peak memory, as text and as Markdown rows.
//!
//! ```text
//! cargo run --release -p tokend-bench -- refresh --db sqlite --connections 64 --duration 10s
//! cargo run --release -p tokend-bench -- all
//! ```
//!
//! # Layout
//! - `cli`: options; `server`: build, start, stop a tokend (taskset, temp dir, PostgreSQL db);
//! - `provision`: users, accounts, sessions, service tokens over HTTP;
//! - `client`: one hyper HTTP/1.1 connection per task; `work`: each scenario's request;
//! - `driver`: closed-loop and fixed-rate loads, windows, tallies; `procstat`: /proc readings;
//! - `scenarios`: the closed-loop scenarios; `flood`: the sign-in flood; `hashrate`: raw argon2id;
//! - `report`: text and Markdown.

mod cli;
mod client;
mod driver;
mod flood;
mod hashrate;
mod procstat;
mod provision;
mod report;
mod scenarios;
mod server;
mod work;

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use cli::{Args, Db, Scenario};
use report::Row;
use scenarios::Run;
use server::Server;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client_cpus = cli::parse_cpus(&args.client_cpu)?;
    if let Some(cpus) = &client_cpus {
        // Before the runtime exists: every thread created later inherits the mask.
        let mut set = nix::sched::CpuSet::new();
        for cpu in cpus {
            set.set(*cpu)?;
        }
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
            .with_context(|| format!("pinning the bench to CPUs {cpus:?}"))?;
    }
    let workers = client_cpus.as_ref().map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        Vec::len,
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    print_machine(&args);
    let started = Instant::now();
    let rows = if args.scenario == Scenario::All {
        run_all(&args).await?
    } else {
        let warmup = args.warmup.unwrap_or(Duration::from_secs(2));
        let duration = args.duration.unwrap_or(Duration::from_secs(10));
        let bin = match args.target {
            Some(_) => None,
            None => Some(server::tokend_binary(&args)?),
        };
        one(
            &args,
            bin.as_deref(),
            args.scenario,
            args.db,
            args.connections,
            warmup,
            duration,
        )
        .await?
    };
    report::print_table(&rows, args.markdown.as_deref())?;
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Every scenario on SQLite, then on PostgreSQL, each on a fresh server; refresh also at 64
/// connections (the concurrency of the issue's latency targets).
async fn run_all(args: &Args) -> anyhow::Result<Vec<Row>> {
    if args.target.is_some() {
        anyhow::bail!(
            "`all` starts its own servers (one per scenario and database): drop --target"
        );
    }
    let bin = server::tokend_binary(args)?;
    let warmup = args.warmup.unwrap_or(Duration::from_secs(1));
    let duration = args.duration.unwrap_or(Duration::from_secs(5));
    let c = args.connections;
    let mut plan = vec![
        (Scenario::Healthz, c),
        (Scenario::MeUser, c),
        (Scenario::MeService, c),
        (Scenario::Introspect, c),
        (Scenario::Refresh, c),
        (Scenario::Refresh, 64),
        (Scenario::SignIn, c),
        (Scenario::Flood, c),
    ];
    plan.dedup();
    let mut rows = Vec::new();
    for db in [Db::Sqlite, Db::Postgres] {
        for &(scenario, connections) in &plan {
            rows.extend(
                one(
                    args,
                    Some(&bin),
                    scenario,
                    db,
                    connections,
                    warmup,
                    duration,
                )
                .await?,
            );
        }
    }
    Ok(rows)
}

/// One scenario on one fresh server (or the target).
async fn one(
    args: &Args,
    bin: Option<&std::path::Path>,
    scenario: Scenario,
    db: Db,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Vec<Row>> {
    wait_for_quiet(args).await;
    let (server, db_label) = match (&args.target, bin) {
        (Some(url), _) => (Server::external(args, url)?, "target".to_string()),
        (None, Some(bin)) => (Server::start(args, bin, db).await?, db.name().to_string()),
        (None, None) => anyhow::bail!("no server to run against"),
    };
    eprintln!(
        "-- {} on {db_label}, {connections} connections: server {} (pid {:?}, {} hash permits)",
        scenario.name(),
        server.addr,
        server.pid,
        server.hash_permits
    );
    let run = Run {
        args,
        server: &server,
        db_label,
        warmup,
        duration,
        connections,
    };
    let result = match scenario {
        Scenario::Flood => flood::run(&run).await,
        other => scenarios::run(other, &run).await,
    };
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("server log tail:\n{}", server.log_tail());
            return Err(e.context(format!("{} on {}", scenario.name(), db.name())));
        }
    };
    for row in &rows {
        println!("{}", row.human());
    }
    if args.target.is_none() {
        server.stop(args.keep).await?;
    }
    Ok(rows)
}

/// Waits (at most `--quiet-wait`) until the rest of the machine is idle enough to measure.
async fn wait_for_quiet(args: &Args) {
    if args.quiet_wait.is_zero() {
        return;
    }
    let started = Instant::now();
    loop {
        let busy = procstat::machine_busy_cores(Duration::from_secs(1)).await;
        if busy < args.quiet_below {
            if started.elapsed() > Duration::from_secs(2) {
                eprintln!(
                    "waited {:.0} s for a quiet machine",
                    started.elapsed().as_secs_f64()
                );
            }
            return;
        }
        if started.elapsed() >= args.quiet_wait {
            eprintln!(
                "machine still busy ({busy:.2} cores) after {:?}; measuring anyway",
                args.quiet_wait
            );
            return;
        }
    }
}

/// CPU model, core count, pinning, and the argon2 costs, once at the top.
fn print_machine(args: &Args) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine: {model}; {cores} CPUs; server CPUs {}, bench CPUs {}; load average {}",
        args.server_cpu,
        args.client_cpu,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
