//! Prometheus metrics. Labels are route templates, status codes and outcome names, never
//! anything a client typed, so no secret can reach them and cardinality stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// One route's latency histogram.
#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A value read at scrape time (pool use, queue depth, fallback state).
#[derive(Debug, Clone)]
pub struct Gauge {
    name: &'static str,
    help: &'static str,
    value: f64,
}

impl Gauge {
    /// A gauge `name` with its help text.
    pub fn new(name: &'static str, help: &'static str, value: impl Into<GaugeValue>) -> Self {
        Self {
            name,
            help,
            value: value.into().0,
        }
    }
}

/// Numbers a gauge accepts, converted to the exposition's floating point.
#[derive(Debug, Clone, Copy)]
pub struct GaugeValue(f64);

macro_rules! gauge_from {
    ($($t:ty),*) => {
        $(impl From<$t> for GaugeValue {
            #[allow(clippy::cast_precision_loss)]
            fn from(v: $t) -> Self {
                Self(v as f64)
            }
        })*
    };
}
gauge_from!(u8, u32, usize, u64);

/// Process-wide counters and histograms, owned by the application state.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    events: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts one finished HTTP request and its latency. The route string is copied only the
    /// first time it is seen, so the hot path allocates nothing under the locks.
    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            let by_status = match m.get_mut(route) {
                Some(by_status) => by_status,
                None => m.entry(route.to_string()).or_default(),
            };
            *by_status.entry(status).or_default() += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let secs = elapsed.as_secs_f64();
            let h = match m.get_mut(route) {
                Some(h) => h,
                None => m.entry(route.to_string()).or_default(),
            };
            h.count += 1;
            h.sum += secs;
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.counts[i] += 1;
                }
            }
        }
    }

    /// Counts one domain event (`sign_in_ok`, `refresh_reuse`, …).
    pub fn event(&self, name: &'static str) {
        if let Ok(mut m) = self.events.lock() {
            *m.entry(name).or_default() += 1;
        }
    }

    /// The Prometheus text exposition (version 0.0.4), with `gauges` read by the caller.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP tokend_http_requests_total HTTP requests by route template and status.\n",
        );
        out.push_str("# TYPE tokend_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for (route, by_status) in m.iter() {
                for (status, n) in by_status {
                    let _ = writeln!(
                        out,
                        "tokend_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        out.push_str(
            "# HELP tokend_http_request_duration_seconds Request latency by route template.\n",
        );
        out.push_str("# TYPE tokend_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for (route, h) in m.iter() {
                for (i, bound) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "tokend_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "tokend_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "tokend_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "tokend_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        out.push_str("# HELP tokend_events_total Security-relevant events by kind.\n");
        out.push_str("# TYPE tokend_events_total counter\n");
        if let Ok(m) = self.events.lock() {
            for (name, n) in m.iter() {
                let _ = writeln!(out, "tokend_events_total{{event=\"{name}\"}} {n}");
            }
        }
        for g in gauges {
            let _ = writeln!(out, "# HELP {} {}", g.name, g.help);
            let _ = writeln!(out, "# TYPE {} gauge", g.name);
            let _ = writeln!(out, "{} {}", g.name, g.value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_gauges_rendered() {
        let m = Metrics::default();
        m.observe_request("/v1/me", 200, Duration::from_millis(3));
        m.observe_request("/v1/me", 200, Duration::from_millis(30));
        let text = m.render(&[Gauge::new("tokend_x", "X.", 7u32)]);
        assert!(text.contains(
            "tokend_http_request_duration_seconds_bucket{route=\"/v1/me\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "tokend_http_request_duration_seconds_bucket{route=\"/v1/me\",le=\"0.05\"} 2"
        ));
        assert!(text.contains("tokend_http_request_duration_seconds_count{route=\"/v1/me\"} 2"));
        assert!(text.contains("tokend_http_requests_total{route=\"/v1/me\",status=\"200\"} 2"));
        assert!(text.contains("# TYPE tokend_x gauge\ntokend_x 7\n"));
    }
}
