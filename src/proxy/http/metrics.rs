//! The HTTP transport's own counts (refused requests, upstream failures, sessions, in-flight
//! requests, upstream latency) and the Prometheus text rendering of everything `/metrics`
//! shows, the engine's decision and reload counts (`proxy::stats`) included.

use crate::proxy::stats::Snapshot;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the upstream latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Why a request was refused or failed, as counted in `warden_http_errors_total{kind}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Unauthorized,
    InsufficientScope,
    Origin,
    HeaderMismatch,
    BadRequest,
    UnknownSession,
    Overloaded,
    Upstream,
    UpstreamTimeout,
    TlsHandshake,
}

impl Failure {
    const ALL: [Failure; 10] = [
        Failure::Unauthorized,
        Failure::InsufficientScope,
        Failure::Origin,
        Failure::HeaderMismatch,
        Failure::BadRequest,
        Failure::UnknownSession,
        Failure::Overloaded,
        Failure::Upstream,
        Failure::UpstreamTimeout,
        Failure::TlsHandshake,
    ];

    fn label(self) -> &'static str {
        match self {
            Failure::Unauthorized => "unauthorized",
            Failure::InsufficientScope => "insufficient_scope",
            Failure::Origin => "origin",
            Failure::HeaderMismatch => "header_mismatch",
            Failure::BadRequest => "bad_request",
            Failure::UnknownSession => "unknown_session",
            Failure::Overloaded => "overloaded",
            Failure::Upstream => "upstream",
            Failure::UpstreamTimeout => "upstream_timeout",
            Failure::TlsHandshake => "tls_handshake",
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    failures: [AtomicU64; Failure::ALL.len()],
    /// Exchanges by the first bucket they fit in (not cumulative: one count per exchange;
    /// `render` sums them into Prometheus's cumulative buckets).
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    requests: AtomicU64,
    /// Grants file reloads: applied, refused.
    grants_reloads: [AtomicU64; 2],
}

/// Gauges read at render time.
pub struct Gauges {
    pub sessions: usize,
    pub in_flight: usize,
}

impl Metrics {
    pub fn failed(&self, f: Failure) {
        let i = Failure::ALL.iter().position(|x| *x == f).unwrap_or(0);
        self.failures[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The grants file was reloaded (`ok`) or a changed one refused.
    pub fn grants_reloaded(&self, ok: bool) {
        self.grants_reloads[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// One upstream exchange took `d` (until its answer was complete).
    pub fn upstream_latency(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| s <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of these counts and the engine's.
    pub fn render(&self, stats: &Snapshot, gauges: &Gauges) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP warden_decisions_total Tool-call decisions by effect, code (forwarded, policy_denied, rate_limited, ...) and rule.\n# TYPE warden_decisions_total counter"
        );
        for d in &stats.decisions {
            let _ = writeln!(
                out,
                "warden_decisions_total{{effect=\"{}\",code=\"{}\",rule=\"{}\"}} {}",
                d.effect,
                d.code,
                escape(&d.rule),
                d.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP warden_limit_hits_total Calls refused by a rate limit, by rule.\n# TYPE warden_limit_hits_total counter"
        );
        for d in stats.decisions.iter().filter(|d| d.code == "rate_limited") {
            let _ = writeln!(
                out,
                "warden_limit_hits_total{{rule=\"{}\"}} {}",
                escape(&d.rule),
                d.count
            );
        }
        let approvals = |f: &dyn Fn(&crate::proxy::stats::DecisionCount) -> bool| -> u64 {
            stats
                .decisions
                .iter()
                .filter(|d| f(d))
                .map(|d| d.count)
                .sum()
        };
        let requested = approvals(&|d| d.code == "approval_requested");
        let approved = approvals(&|d| d.effect == "approve" && d.code == "forwarded");
        let refused = approvals(&|d| d.code == "approval_required");
        let _ = writeln!(
            out,
            "# HELP warden_approvals_total Approvals asked for, granted (and forwarded) and refused.\n# TYPE warden_approvals_total counter\n\
             warden_approvals_total{{outcome=\"requested\"}} {requested}\n\
             warden_approvals_total{{outcome=\"approved\"}} {approved}\n\
             warden_approvals_total{{outcome=\"refused\"}} {refused}"
        );
        let _ = writeln!(
            out,
            "# HELP warden_reloads_total Policy reloads, applied or refused (the old policy stayed).\n# TYPE warden_reloads_total counter\n\
             warden_reloads_total{{result=\"ok\"}} {}\nwarden_reloads_total{{result=\"refused\"}} {}",
            stats.reloads_ok, stats.reloads_refused
        );
        let _ = writeln!(
            out,
            "# HELP warden_grants_reloads_total Grants file reloads, applied or refused (the old grants stayed).\n# TYPE warden_grants_reloads_total counter\n\
             warden_grants_reloads_total{{result=\"ok\"}} {}\nwarden_grants_reloads_total{{result=\"refused\"}} {}",
            self.grants_reloads[0].load(Ordering::Relaxed),
            self.grants_reloads[1].load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP warden_http_errors_total HTTP requests refused or failed, by kind.\n# TYPE warden_http_errors_total counter"
        );
        for (f, n) in Failure::ALL.iter().zip(&self.failures) {
            let _ = writeln!(
                out,
                "warden_http_errors_total{{kind=\"{}\"}} {}",
                f.label(),
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP warden_http_requests_total HTTP requests received on the MCP endpoint.\n# TYPE warden_http_requests_total counter\nwarden_http_requests_total {}",
            self.requests.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP warden_upstream_request_duration_seconds Time from forwarding a request to the end of the upstream's answer.\n# TYPE warden_upstream_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "warden_upstream_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        // (An exchange counted in a bucket since the count was read still makes +Inf the
        // largest.)
        let count = self.latency_count.load(Ordering::Relaxed).max(cumulative);
        let sum = self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "warden_upstream_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             warden_upstream_request_duration_seconds_sum {sum}\n\
             warden_upstream_request_duration_seconds_count {count}"
        );
        let _ = writeln!(
            out,
            "# HELP warden_sessions MCP sessions warden tracks.\n# TYPE warden_sessions gauge\nwarden_sessions {}\n\
             # HELP warden_in_flight Requests being handled.\n# TYPE warden_in_flight gauge\nwarden_in_flight {}",
            gauges.sessions, gauges.in_flight
        );
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::stats::DecisionCount;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.failed(Failure::Unauthorized);
        m.upstream_latency(Duration::from_millis(3));
        m.upstream_latency(Duration::from_micros(500));
        m.upstream_latency(Duration::from_secs(11));
        let stats = Snapshot {
            decisions: vec![DecisionCount {
                effect: "allow",
                code: "rate_limited",
                rule: "a\"b".into(),
                count: 2,
            }],
            reloads_ok: 1,
            reloads_refused: 0,
        };
        let text = m.render(
            &stats,
            &Gauges {
                sessions: 3,
                in_flight: 0,
            },
        );
        assert!(text.contains(
            r#"warden_decisions_total{effect="allow",code="rate_limited",rule="a\"b"} 2"#
        ));
        assert!(text.contains(r#"warden_limit_hits_total{rule="a\"b"} 2"#));
        assert!(text.contains(r#"warden_http_errors_total{kind="unauthorized"} 1"#));
        for (le, n) in [
            ("0.0005", 1),
            ("0.001", 1),
            ("0.0025", 1),
            ("0.005", 2),
            ("10", 2),
        ] {
            let bucket =
                format!("warden_upstream_request_duration_seconds_bucket{{le=\"{le}\"}} {n}\n");
            assert!(text.contains(&bucket), "{bucket} in {text}");
        }
        assert!(text.contains("warden_upstream_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("warden_upstream_request_duration_seconds_count 3\n"));
        assert!(text.contains("warden_sessions 3"));
        assert!(text.contains(r#"warden_reloads_total{result="ok"} 1"#));
    }
}
