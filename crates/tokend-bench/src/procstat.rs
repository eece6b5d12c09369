//! CPU time and memory of processes, read from /proc: the server's, the bench's own, the
//! PostgreSQL backends', and the whole machine's (to tell how much else was running).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, Context};

/// Clock ticks per second of the times in /proc/PID/stat (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// utime + stime of a process (all its threads, including exited ones), in ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_stat_ticks(&stat)
}

/// utime + stime of the bench process itself.
pub fn own_cpu_ticks() -> anyhow::Result<u64> {
    parse_stat_ticks(&std::fs::read_to_string("/proc/self/stat")?)
}

fn parse_stat_ticks(stat: &str) -> anyhow::Result<u64> {
    let (_, user, system) = parse_stat(stat)?;
    Ok(user + system)
}

/// The name, utime and stime (ticks) of a stat line.
fn parse_stat(stat: &str) -> anyhow::Result<(String, u64, u64)> {
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    let close = stat
        .rfind(')')
        .ok_or_else(|| anyhow!("malformed stat line"))?;
    let name = stat
        .find('(')
        .filter(|open| *open < close)
        .map_or("", |open| &stat[open + 1..close])
        .to_string();
    let after = &stat[close + 1..];
    // After ')': state is field 3 of the full line, so utime (14) and stime (15) are at 11 and 12.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow!("short stat line"))?
            .parse()?)
    };
    Ok((name, field(11)?, field(12)?))
}

/// Per thread of a process: name, utime and stime in ticks.
fn thread_times(pid: u32) -> HashMap<u32, (String, u64, u64)> {
    let mut found = HashMap::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(times) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
            .map_err(anyhow::Error::from)
            .and_then(|s| parse_stat(&s))
        {
            found.insert(tid, times);
        }
    }
    found
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_kib: u64,
    /// VmHWM: the peak resident set since the process started.
    pub peak_kib: u64,
}

/// VmRSS and VmHWM of a process.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss_kib: kib("VmRSS:"),
        peak_kib: kib("VmHWM:"),
    })
}

/// The number of threads of a process.
pub fn threads(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| anyhow!("no Threads line"))
}

/// How many CPUs' worth of work the whole machine did over `period` (from /proc/stat).
pub async fn machine_busy_cores(period: Duration) -> f64 {
    let before = machine_busy_ticks();
    tokio::time::sleep(period).await;
    let ticks = machine_busy_ticks().saturating_sub(before);
    ticks as f64 / clock_ticks_per_second() as f64 / period.as_secs_f64()
}

/// Busy ticks of the whole machine (all CPUs): everything but idle and iowait, from /proc/stat.
fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    values
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum()
}

/// CPU ticks of every process named `postgres`, by pid, and which of them serve `database`.
fn postgres_ticks(database: Option<&str>) -> HashMap<u32, (u64, bool)> {
    let mut found = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "postgres" {
            continue;
        }
        let Ok(ticks) = cpu_ticks(pid) else { continue };
        // A backend's title is "postgres: USER DATABASE ADDRESS STATE".
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        let ours = database.is_some_and(|db| cmdline.split_whitespace().any(|w| w == db));
        found.insert(pid, (ticks, ours));
    }
    found
}

/// One reading of every CPU counter the report needs.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    server: Option<u64>,
    server_threads: HashMap<u32, (String, u64, u64)>,
    own: u64,
    machine: u64,
    postgres: HashMap<u32, (u64, bool)>,
}

/// What was spent between two snapshots, in seconds of CPU.
#[derive(Debug, Clone, Default)]
pub struct CpuSpent {
    /// The server process (all threads), if its pid is known.
    pub server: Option<f64>,
    /// Of the server's live threads: time in the kernel (stime).
    pub server_kernel: f64,
    /// Of the server's live threads: time by thread name, largest first (names are truncated
    /// to 15 characters by the kernel; tokio's workers and blocking threads share one).
    pub server_by_thread: Vec<(String, f64)>,
    /// The bench process.
    pub client: f64,
    /// PostgreSQL backends whose title names the bench's database.
    pub pg_backends: f64,
    /// Every `postgres` process (backends, WAL writer, checkpointer, … and other databases').
    pub pg_all: f64,
    /// Everything else busy on the machine: other builds, the shell, the kernel's own threads.
    pub background: f64,
}

impl CpuSnapshot {
    /// Reads the counters now; `database` names the PostgreSQL database to attribute backends to.
    pub fn take(server: Option<u32>, database: Option<&str>) -> Self {
        Self {
            server: server.and_then(|pid| cpu_ticks(pid).ok()),
            server_threads: server.map(thread_times).unwrap_or_default(),
            own: own_cpu_ticks().unwrap_or(0),
            machine: machine_busy_ticks(),
            postgres: postgres_ticks(database),
        }
    }

    /// CPU spent from `self` to `later`.
    pub fn spent_until(&self, later: &Self) -> CpuSpent {
        let hz = clock_ticks_per_second() as f64;
        let secs = |ticks: u64| ticks as f64 / hz;
        let (mut backends, mut all) = (0u64, 0u64);
        for (pid, (ticks, ours)) in &later.postgres {
            let before = self.postgres.get(pid).map_or(0, |(t, _)| *t);
            let delta = ticks.saturating_sub(before);
            all += delta;
            if *ours {
                backends += delta;
            }
        }
        let server = match (self.server, later.server) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let client = later.own.saturating_sub(self.own);
        let machine = later.machine.saturating_sub(self.machine);
        let background = machine
            .saturating_sub(server.unwrap_or(0))
            .saturating_sub(client)
            .saturating_sub(all);
        let mut kernel = 0u64;
        let mut by_name: HashMap<String, u64> = HashMap::new();
        for (tid, (name, user, system)) in &later.server_threads {
            let (u0, s0) = self
                .server_threads
                .get(tid)
                .map_or((0, 0), |(_, u, s)| (*u, *s));
            let system = system.saturating_sub(s0);
            kernel += system;
            *by_name.entry(name.clone()).or_default() += user.saturating_sub(u0) + system;
        }
        let mut server_by_thread: Vec<(String, f64)> = by_name
            .into_iter()
            .filter(|(_, t)| *t > 0)
            .map(|(n, t)| (n, secs(t)))
            .collect();
        server_by_thread.sort_by(|a, b| b.1.total_cmp(&a.1));
        CpuSpent {
            server: server.map(secs),
            server_kernel: secs(kernel),
            server_by_thread,
            client: secs(client),
            pg_backends: secs(backends),
            pg_all: secs(all),
            background: secs(background),
        }
    }
}

/// Samples a process's resident set every `every` until told to stop; returns the largest.
pub async fn sample_rss(
    pid: u32,
    every: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> u64 {
    let mut peak = 0;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Ok(m) = memory(pid) {
                    peak = peak.max(m.rss_kib);
                }
            }
            _ = &mut stop => return peak,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() -> anyhow::Result<()> {
        let line = "42 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0";
        assert_eq!(parse_stat_ticks(line)?, 175);
        own_cpu_ticks()?;
        assert!(memory(std::process::id())?.rss_kib > 0);
        Ok(())
    }
}
