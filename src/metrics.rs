//! Prometheus counters. Labels are route templates, status codes and outcome names, never
//! anything a client typed, so no secret can reach them and cardinality stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Process-wide counters, owned by the application state.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    events: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts one finished HTTP request.
    pub fn observe_request(&self, route: &str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route.to_string(), status)).or_default() += 1;
        }
    }

    /// Counts one domain event (`sign_in_ok`, `refresh_reuse`, …).
    pub fn event(&self, name: &'static str) {
        if let Ok(mut m) = self.events.lock() {
            *m.entry(name).or_default() += 1;
        }
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP tokend_http_requests_total HTTP requests by route template and status.\n",
        );
        out.push_str("# TYPE tokend_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "tokend_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
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
        out
    }
}
