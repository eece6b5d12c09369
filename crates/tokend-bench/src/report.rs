//! The output: a human-readable block per run and a Markdown table row that pastes into
//! BENCHMARKS.md.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;

use crate::driver::Measured;
use crate::work::INACTIVE;

/// One scenario's result on one database.
#[derive(Debug, Clone)]
pub struct Row {
    /// The scenario as shown (`refresh`, `flood: refresh under flood`, …).
    pub scenario: String,
    /// `SQLite`, `PostgreSQL`, or `target`.
    pub db: String,
    /// Connections used.
    pub connections: usize,
    /// The measurement.
    pub measured: Measured,
    /// Peak resident set of the server (VmHWM), KiB.
    pub peak_rss_kib: Option<u64>,
    /// Fixed-rate load: latencies are taken from the scheduled send time.
    pub from_schedule: bool,
    /// Scenario-specific findings.
    pub notes: Vec<String>,
}

/// The Markdown header matching [`Row::markdown`].
pub const MARKDOWN_HEADER: &str = "| scenario | db | conns | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | not 2xx | tokend CPU µs/req | PG CPU µs/req (bench db / all postgres) | peak RSS MiB | client CPU | other CPU | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

fn ms(hist: &Histogram<u64>, quantile: f64) -> String {
    if hist.is_empty() {
        return "-".into();
    }
    let micros = if quantile >= 1.0 {
        hist.max()
    } else {
        hist.value_at_quantile(quantile)
    };
    format!("{:.2}", micros as f64 / 1000.0)
}

impl Row {
    fn hist(&self) -> &Histogram<u64> {
        if self.from_schedule {
            &self.measured.tally.from_schedule
        } else {
            &self.measured.tally.latency
        }
    }

    /// Successful answers per second.
    pub fn rate(&self) -> f64 {
        self.measured.tally.ok() as f64 / self.measured.seconds.max(1e-9)
    }

    /// 99th percentile latency in milliseconds.
    pub fn p99_ms(&self) -> f64 {
        let h = self.hist();
        if h.is_empty() {
            f64::NAN
        } else {
            h.value_at_quantile(0.99) as f64 / 1000.0
        }
    }

    fn per_request_us(&self, seconds: f64) -> f64 {
        seconds * 1e6 / (self.measured.tally.total().max(1) as f64)
    }

    fn not_ok(&self) -> String {
        let t = &self.measured.tally;
        let mut parts: Vec<String> = t
            .statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s) || **s == INACTIVE)
            .map(|(s, n)| {
                if *s == INACTIVE {
                    format!("inactive×{n}")
                } else {
                    format!("{s}×{n}")
                }
            })
            .collect();
        if t.io_errors > 0 {
            parts.push(format!("no answer×{}", t.io_errors));
        }
        if parts.is_empty() {
            "0".into()
        } else {
            parts.join(", ")
        }
    }

    fn server_cpu(&self) -> String {
        self.measured.cpu.server.map_or_else(
            || "n/a".into(),
            |s| format!("{:.0}", self.per_request_us(s)),
        )
    }

    fn pg_cpu(&self) -> String {
        let cpu = &self.measured.cpu;
        if self.db == "PostgreSQL" {
            format!(
                "{:.0} / {:.0}",
                self.per_request_us(cpu.pg_backends),
                self.per_request_us(cpu.pg_all)
            )
        } else {
            "-".into()
        }
    }

    /// Where the server's CPU went: kernel share and µs per request by thread name.
    pub fn cpu_split(&self) -> Option<String> {
        let cpu = &self.measured.cpu;
        let total = cpu.server?;
        if total <= 0.0 {
            return None;
        }
        let threads: Vec<String> = cpu
            .server_by_thread
            .iter()
            .take(3)
            .map(|(name, secs)| format!("{name} {:.0}", self.per_request_us(*secs)))
            .collect();
        Some(format!(
            "kernel {:.0} %; µs/req by thread: {}",
            100.0 * cpu.server_kernel / total,
            threads.join(", ")
        ))
    }

    /// The Markdown table row.
    pub fn markdown(&self) -> String {
        let h = self.hist();
        let m = &self.measured;
        format!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} % | {:.2} cores | {} |",
            self.scenario,
            self.db,
            self.connections,
            self.rate(),
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            ms(h, 0.999),
            ms(h, 1.0),
            self.not_ok(),
            self.server_cpu(),
            self.pg_cpu(),
            self.peak_rss_kib
                .map_or_else(|| "n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            100.0 * m.cpu.client / m.seconds.max(1e-9),
            m.cpu.background / m.seconds.max(1e-9),
            self.cpu_split()
                .into_iter()
                .chain(self.notes.iter().cloned())
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The human-readable block.
    pub fn human(&self) -> String {
        let m = &self.measured;
        let t = &m.tally;
        let h = self.hist();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "== {} on {}: {} connections, {:.1} s measured",
            self.scenario, self.db, self.connections, m.seconds
        );
        let _ = writeln!(
            out,
            "   throughput  {:.0} ok/s ({} counted; not 2xx: {})",
            self.rate(),
            t.total(),
            self.not_ok()
        );
        let _ = writeln!(
            out,
            "   latency{}  p50 {} ms  p90 {} ms  p99 {} ms  p99.9 {} ms  max {} ms",
            if self.from_schedule {
                " (from schedule)"
            } else {
                ""
            },
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            ms(h, 0.999),
            ms(h, 1.0)
        );
        if self.from_schedule {
            let s = &t.latency;
            let _ = writeln!(
                out,
                "   service time  p50 {} ms  p99 {} ms  max {} ms",
                ms(s, 0.5),
                ms(s, 0.99),
                ms(s, 1.0)
            );
        }
        if let Some(server) = m.cpu.server {
            let _ = writeln!(
                out,
                "   tokend CPU  {:.0} µs/request ({:.0} % of a core)",
                self.per_request_us(server),
                100.0 * server / m.seconds.max(1e-9)
            );
        }
        if let Some(split) = self.cpu_split() {
            let _ = writeln!(out, "   tokend CPU split  {split}");
        }
        if self.db == "PostgreSQL" {
            let _ = writeln!(
                out,
                "   PostgreSQL  {:.0} µs/request in the bench database's backends, {:.0} µs/request in all postgres processes",
                self.per_request_us(m.cpu.pg_backends),
                self.per_request_us(m.cpu.pg_all)
            );
        }
        if let Some(kib) = self.peak_rss_kib {
            let _ = writeln!(
                out,
                "   memory      peak RSS (VmHWM) {:.1} MiB",
                kib as f64 / 1024.0
            );
        }
        let _ = writeln!(
            out,
            "   machine     bench {:.0} % of a core; everything else {:.2} cores",
            100.0 * m.cpu.client / m.seconds.max(1e-9),
            m.cpu.background / m.seconds.max(1e-9)
        );
        if t.dead_chains > 0 {
            let _ = writeln!(
                out,
                "   !! {} refresh chains refused for good (401)",
                t.dead_chains
            );
        }
        if let Some(e) = &t.first_error {
            let _ = writeln!(out, "   first error without an answer: {e}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "   {note}");
        }
        out
    }
}

/// Prints the Markdown table of `rows`, and appends it to `file` when given.
pub fn print_table(rows: &[Row], file: Option<&Path>) -> anyhow::Result<()> {
    let mut table = String::from(MARKDOWN_HEADER);
    table.push('\n');
    for row in rows {
        table.push_str(&row.markdown());
        table.push('\n');
    }
    println!("\n{table}");
    if let Some(path) = file {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{table}")?;
    }
    Ok(())
}
