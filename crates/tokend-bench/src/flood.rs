//! The flood: refresh chains at a moderate fixed rate, first alone, then beside sign-ins offered
//! at several times what argon2id can hash. The sign-ins are open loop (sent on schedule whether
//! or not earlier ones were answered, each on a free connection or a new one, up to a cap), and a
//! sign-in unanswered after `--flood-timeout` is abandoned, its connection closed, as an impatient
//! client or a proxy would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::client::Client;
use crate::driver::{connect_all, measure, spawn_fixed_rate, Tally, Window};
use crate::procstat;
use crate::report::Row;
use crate::scenarios::Run;
use crate::work::{SignInPool, Work};

/// What the open-loop sign-in generator saw in the window.
struct FloodStats {
    tally: Tally,
    offered: u64,
    shed: u64,
    timeouts: u64,
    max_open: usize,
    in_flight: usize,
}

/// Runs the flood scenario; three rows: refresh alone, refresh under the flood, the sign-ins.
pub async fn run(run: &Run<'_>) -> anyhow::Result<Vec<Row>> {
    let args = run.args;
    let addr = run.server.addr;
    let chains_per_phase = args.flood_refresh_connections.max(1);
    let mut fixture = run.fixture(16).await?;
    let mut chains = fixture.chains(2 * chains_per_phase).await?;
    let pool = SignInPool::new(fixture.users.clone());
    let permits = run.server.hash_permits;
    let costs = run.costs();
    let raw = crate::scenarios::raw_hash_rate(run, Duration::from_secs(2)).await?;
    let offered_rate = args.flood_factor * raw;
    let rate = args.flood_refresh_rate;
    let probe = run.probe();

    let refresh_works = |chains: Vec<crate::provision::Chain>| -> Vec<Work> {
        chains
            .into_iter()
            .map(|chain| Work::Refresh { chain, dead: false })
            .collect()
    };
    let second = chains.split_off(chains_per_phase);

    // Phase A: refresh alone.
    let clients = connect_all(addr, chains_per_phase).await?;
    let window = Window::starting_now(run.warmup, run.duration);
    let tasks = spawn_fixed_rate(
        refresh_works(chains).into_iter().zip(clients).collect(),
        rate,
        Instant::now(),
        window,
    );
    let alone = measure(tasks, window, &probe).await?;
    let alone_row = Row {
        scenario: format!("flood: refresh alone @{rate:.0}/s"),
        db: run.db_label.clone(),
        connections: chains_per_phase,
        measured: alone,
        peak_rss_kib: run.peak_rss_kib(),
        from_schedule: true,
        notes: vec![],
    };

    // Phase B: the same refresh rate on fresh chains, plus the sign-in flood.
    let clients = connect_all(addr, chains_per_phase).await?;
    let window = Window::starting_now(run.warmup, run.duration);
    let tasks = spawn_fixed_rate(
        refresh_works(second).into_iter().zip(clients).collect(),
        rate,
        Instant::now(),
        window,
    );
    let flood = tokio::spawn(sign_in_flood(
        addr,
        pool,
        offered_rate,
        window,
        args.flood_max_connections,
        args.flood_timeout,
    ));
    let (stop_rss, stop_rx) = tokio::sync::oneshot::channel();
    let rss = run.server.pid.map(|pid| {
        tokio::spawn(procstat::sample_rss(
            pid,
            Duration::from_millis(50),
            stop_rx,
        ))
    });
    let under = measure(tasks, window, &probe).await?;
    let stats = flood.await??;
    let _ = stop_rss.send(());
    let rss_max_kib = match rss {
        Some(task) => Some(task.await?),
        None => None,
    };

    let mib = |kib: u64| kib as f64 / 1024.0;
    let bound_mib = (permits as f64 * f64::from(costs.m_cost)) / 1024.0 + 64.0;
    let p99_ratio = {
        let alone_p99 = alone_row.p99_ms();
        let under_row_p99 = {
            let h = &under.tally.from_schedule;
            if h.is_empty() {
                f64::NAN
            } else {
                h.value_at_quantile(0.99) as f64 / 1000.0
            }
        };
        under_row_p99 / alone_p99
    };
    let five_xx = under.tally.server_errors() + stats.tally.server_errors();
    let threads = run.server.pid.and_then(|pid| procstat::threads(pid).ok());
    let mut under_notes = vec![
        format!("p99 {p99_ratio:.1}× alone"),
        format!("5xx during flood: {five_xx}"),
    ];
    let problems = run.server.log_problems();
    if problems > 0 {
        under_notes.push(format!(
            "server log: {problems} WARN/ERROR lines (e.g. sqlx slow statements)"
        ));
    }
    if let Some(threads) = threads {
        under_notes.push(format!("server threads after the flood: {threads}"));
    }
    if let Some(kib) = rss_max_kib {
        under_notes.push(format!(
            "RSS sampled every 50 ms during the flood: max {:.1} MiB (bound {permits}×{} KiB + 64 MiB = {bound_mib:.1} MiB)",
            mib(kib),
            costs.m_cost
        ));
    }
    let under_row = Row {
        scenario: format!("flood: refresh under sign-in flood @{rate:.0}/s"),
        db: run.db_label.clone(),
        connections: chains_per_phase,
        measured: under.clone(),
        peak_rss_kib: run.peak_rss_kib(),
        from_schedule: true,
        notes: under_notes,
    };
    let sign_in_row = Row {
        scenario: "flood: the sign-ins".into(),
        db: run.db_label.clone(),
        connections: stats.max_open,
        measured: crate::driver::Measured {
            tally: stats.tally,
            ..under
        },
        peak_rss_kib: run.peak_rss_kib(),
        from_schedule: false,
        notes: vec![
            format!(
                "offered {offered_rate:.0}/s = {:.1}× the raw argon2id rate {raw:.1}/s ({permits} threads); {} offered in the window, {} shed by the bench (no free connection), {} abandoned after {:?}, {} still waiting at the end; latency and counts: sign-ins completed in the window, whenever sent",
                args.flood_factor, stats.offered, stats.shed, stats.timeouts, args.flood_timeout, stats.in_flight
            ),
            "CPU columns: the whole window's, shared with the refresh row".into(),
        ],
    };
    Ok(vec![alone_row, under_row, sign_in_row])
}

/// Sends sign-ins at `rate` per second until the window ends; returns what it saw.
async fn sign_in_flood(
    addr: SocketAddr,
    pool: Arc<SignInPool>,
    rate: f64,
    window: Window,
    max_open: usize,
    timeout: Duration,
) -> anyhow::Result<FloodStats> {
    let idle: Arc<Mutex<Vec<Client>>> = Arc::default();
    let open = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::new()?));
    let timeouts = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let (mut offered, mut shed, mut most_open) = (0u64, 0u64, 0usize);
    let mut next = Instant::now();
    while next < window.end {
        tokio::time::sleep_until(next.into()).await;
        let in_window = next >= window.warm_end;
        offered += u64::from(in_window);
        let reused = idle.lock().map_err(|_| anyhow!("poisoned"))?.pop();
        let client = match reused {
            Some(c) => c,
            None if open.load(Ordering::Relaxed) < max_open => {
                most_open = most_open.max(open.fetch_add(1, Ordering::Relaxed) + 1);
                Client::new(addr)?
            }
            None => {
                shed += u64::from(in_window);
                next += period;
                continue;
            }
        };
        let request = pool.next_request()?;
        let (idle, open, tally, timeouts) =
            (idle.clone(), open.clone(), tally.clone(), timeouts.clone());
        tasks.spawn(async move {
            let mut client = client;
            let sent = Instant::now();
            let outcome = tokio::time::timeout(timeout, client.send(request)).await;
            let done = Instant::now();
            // Every completion inside the window counts, whenever it was sent: the wait in the
            // server's hash queue is the point of the flood.
            let counted = done >= window.warm_end && done <= window.end;
            let keep = matches!(outcome, Ok(Ok(_)));
            let outcome = match outcome {
                Ok(Ok(reply)) => Ok(reply.status),
                Ok(Err(e)) => Err(e),
                Err(_) => {
                    if counted {
                        timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(anyhow!("no answer within {timeout:?}"))
                }
            };
            if counted {
                if let Ok(mut t) = tally.lock() {
                    t.record(done - sent, &outcome);
                }
            }
            if keep {
                if let Ok(mut idle) = idle.lock() {
                    idle.push(client);
                    return;
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
        while tasks.try_join_next().is_some() {}
        next += period;
    }
    // Whatever is still waiting at the end is abandoned: its connection closes.
    let in_flight = tasks.len();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let tally = tally.lock().map_err(|_| anyhow!("poisoned"))?.clone();
    Ok(FloodStats {
        tally,
        offered,
        shed,
        timeouts: timeouts.load(Ordering::Relaxed) as u64,
        max_open: most_open,
        in_flight,
    })
}
