//! Drives connections through a warm-up and a measured window and tallies the answers: closed
//! loop (each connection sends its next request as soon as the last is answered) or at a fixed
//! rate (each connection keeps a schedule, and latency also counts the wait for a late send, so a
//! stalled server is not hidden by the client slowing down with it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::procstat::{CpuSnapshot, CpuSpent};
use crate::work::{Work, INACTIVE};

/// The warm-up end and the end of the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Answers before this are not counted.
    pub warm_end: Instant,
    /// Load stops here.
    pub end: Instant,
}

impl Window {
    /// A window that starts after `warmup` from now and lasts `duration`.
    pub fn starting_now(warmup: Duration, duration: Duration) -> Self {
        let warm_end = Instant::now() + warmup;
        Self {
            warm_end,
            end: warm_end + duration,
        }
    }

    /// Whether a request sent at `sent` and answered at `done` is counted.
    pub fn counts(&self, sent: Instant, done: Instant) -> bool {
        sent >= self.warm_end && done <= self.end
    }

    /// Length of the measured window in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end - self.warm_end).as_secs_f64()
    }
}

/// Latencies and outcomes of the counted requests.
#[derive(Debug, Clone)]
pub struct Tally {
    /// From sending to the end of the answer, in microseconds.
    pub latency: Histogram<u64>,
    /// Fixed-rate loads: from the scheduled send time to the end of the answer, in microseconds.
    pub from_schedule: Histogram<u64>,
    /// Answers by status ([`INACTIVE`] for an introspection answer of `active: false`).
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection errors, timeouts).
    pub io_errors: u64,
    /// The first such error, for the report.
    pub first_error: Option<String>,
    /// Refresh chains refused for good.
    pub dead_chains: u64,
}

impl Tally {
    /// An empty tally (latencies from 1 µs to 120 s, three significant digits).
    pub fn new() -> anyhow::Result<Self> {
        let hist = || Histogram::new_with_bounds(1, 120_000_000, 3).map_err(|e| anyhow!("{e}"));
        Ok(Self {
            latency: hist()?,
            from_schedule: hist()?,
            statuses: BTreeMap::new(),
            io_errors: 0,
            first_error: None,
            dead_chains: 0,
        })
    }

    /// Counts one request.
    pub fn record(&mut self, latency: Duration, outcome: &anyhow::Result<u16>) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency.saturating_record(micros);
        match outcome {
            Ok(status) => *self.statuses.entry(*status).or_default() += 1,
            Err(e) => {
                self.io_errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }

    /// Adds another tally into this one.
    pub fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.latency
            .add(&other.latency)
            .map_err(|e| anyhow!("{e}"))?;
        self.from_schedule
            .add(&other.from_schedule)
            .map_err(|e| anyhow!("{e}"))?;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.io_errors += other.io_errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.dead_chains += other.dead_chains;
        Ok(())
    }

    /// Counted requests, answered or not.
    pub fn total(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.io_errors
    }

    /// Successful answers (2xx, not counting inactive introspections).
    pub fn ok(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s) && **s != INACTIVE)
            .map(|(_, n)| n)
            .sum()
    }

    /// Answers with a 5xx status.
    pub fn server_errors(&self) -> u64 {
        self.statuses.range(500..600).map(|(_, n)| n).sum()
    }
}

/// What the server and the machine spent during a window, and the tally of it.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The counted requests.
    pub tally: Tally,
    /// CPU spent between the start and the end of the measured window.
    pub cpu: CpuSpent,
    /// The window's length in seconds.
    pub seconds: f64,
}

/// Where to read CPU counters from.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The server's pid.
    pub server_pid: Option<u32>,
    /// The PostgreSQL database whose backends count as the server's.
    pub pg_database: Option<String>,
}

impl Probe {
    async fn snapshot(&self) -> anyhow::Result<CpuSnapshot> {
        let probe = self.clone();
        // Scanning /proc takes milliseconds: not on the runtime's workers.
        Ok(tokio::task::spawn_blocking(move || {
            CpuSnapshot::take(probe.server_pid, probe.pg_database.as_deref())
        })
        .await?)
    }
}

/// Opens `n` connections.
pub async fn connect_all(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let mut client = Client::new(addr)?;
        client.connect().await?;
        clients.push(client);
    }
    Ok(clients)
}

/// Starts one closed-loop task per (work, connection) pair.
pub fn spawn_closed(
    pairs: Vec<(Work, Client)>,
    window: Window,
) -> Vec<JoinHandle<anyhow::Result<Tally>>> {
    pairs
        .into_iter()
        .map(|(mut work, mut client)| {
            tokio::spawn(async move {
                let mut tally = Tally::new()?;
                while Instant::now() < window.end {
                    let sent = Instant::now();
                    let outcome = work.step(&mut client).await;
                    let done = Instant::now();
                    if window.counts(sent, done) {
                        tally.record(done - sent, &outcome);
                    }
                    if work.is_dead() {
                        tally.dead_chains += 1;
                        break;
                    }
                    if outcome.is_err() {
                        // Do not spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                Ok(tally)
            })
        })
        .collect()
}

/// Starts one task per (work, connection) pair that together send `rate` requests per second,
/// each on its own evenly spaced schedule.
pub fn spawn_fixed_rate(
    pairs: Vec<(Work, Client)>,
    rate: f64,
    start: Instant,
    window: Window,
) -> Vec<JoinHandle<anyhow::Result<Tally>>> {
    let n = pairs.len().max(1) as f64;
    let period = Duration::from_secs_f64(n / rate.max(0.001));
    pairs
        .into_iter()
        .enumerate()
        .map(|(i, (mut work, mut client))| {
            tokio::spawn(async move {
                let mut tally = Tally::new()?;
                let mut scheduled = start + period.mul_f64(i as f64 / n);
                while scheduled < window.end {
                    tokio::time::sleep_until(scheduled.into()).await;
                    let sent = Instant::now();
                    let outcome = work.step(&mut client).await;
                    let done = Instant::now();
                    if window.counts(scheduled, done) {
                        tally.record(done - sent, &outcome);
                        let late =
                            u64::try_from((done - scheduled).as_micros()).unwrap_or(u64::MAX);
                        tally.from_schedule.saturating_record(late.max(1));
                    }
                    if work.is_dead() {
                        tally.dead_chains += 1;
                        break;
                    }
                    scheduled += period;
                }
                Ok(tally)
            })
        })
        .collect()
}

/// Waits through the window, reads the CPU counters at its start and end, and collects the
/// tasks' tallies (merged).
pub async fn measure(
    tasks: Vec<JoinHandle<anyhow::Result<Tally>>>,
    window: Window,
    probe: &Probe,
) -> anyhow::Result<Measured> {
    tokio::time::sleep_until(window.warm_end.into()).await;
    let before = probe.snapshot().await?;
    tokio::time::sleep_until(window.end.into()).await;
    let after = probe.snapshot().await?;
    let mut tally = Tally::new()?;
    for task in tasks {
        tally.merge(&task.await??)?;
    }
    Ok(Measured {
        tally,
        cpu: before.spent_until(&after),
        seconds: window.seconds(),
    })
}

/// Runs `works` closed-loop, one connection each, through `warmup` and `duration`.
pub async fn closed_loop(
    addr: SocketAddr,
    works: Vec<Work>,
    warmup: Duration,
    duration: Duration,
    probe: &Probe,
) -> anyhow::Result<Measured> {
    let clients = connect_all(addr, works.len()).await?;
    let window = Window::starting_now(warmup, duration);
    let tasks = spawn_closed(works.into_iter().zip(clients).collect(), window);
    measure(tasks, window, probe).await
}
