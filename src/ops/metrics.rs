//! What the server counts for `/metrics`, kept by the event loop in plain
//! integers (no atomics, no lock: the admin thread gets a copy in a
//! [`super::Snapshot`]), and its Prometheus text rendering.
#![forbid(unsafe_code)]

use std::fmt::Write;
use std::time::Duration;

use crate::core::journal::Outcome;

use super::Snapshot;

/// A histogram with fixed upper bounds, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative), plus one for `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Bounds of the call set-up latency (Request to the callee's acceptance:
/// mostly how long a person lets it ring).
pub const SETUP_BOUNDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Bounds of the business server's answer latency.
pub const ANSWER_BOUNDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram { bounds, counts: vec![0; bounds.len() + 1], sum: 0.0, count: 0 }
    }

    pub fn observe(&mut self, d: Duration) {
        let v = d.as_secs_f64();
        let i = self.bounds.iter().position(|b| v <= *b).unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

/// The loop's counters (the core's and the loop's own statistics come
/// beside them in the snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Call attempts ended, per outcome (in [`Outcome::ALL`] order).
    pub calls: [u64; Outcome::ALL.len()],
    /// Calls whose callee was told of them at its next login.
    pub missed: u64,
    pub missed_shown: u64,
    pub setup: Histogram,
    pub business_answer: Histogram,
    pub business_timeouts: u64,
    /// Media frames (and bytes) routed to a receiver's queue, and dropped
    /// from it for a slow receiver.
    pub media_frames: u64,
    pub media_bytes: u64,
    pub media_dropped_frames: u64,
    pub media_dropped_bytes: u64,
    /// Records (and user ids) not written: the writer's queue was full.
    pub records_dropped: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            calls: [0; Outcome::ALL.len()],
            missed: 0,
            missed_shown: 0,
            setup: Histogram::new(SETUP_BOUNDS),
            business_answer: Histogram::new(ANSWER_BOUNDS),
            business_timeouts: 0,
            media_frames: 0,
            media_bytes: 0,
            media_dropped_frames: 0,
            media_dropped_bytes: 0,
            records_dropped: 0,
        }
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// The Prometheus text exposition (format 0.0.4) of a snapshot.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let m = &s.metrics;
    let c = &s.core;
    metric(&mut out, "anychat_up", "gauge", "The server answers.", &[("", 1)]);
    metric(&mut out, "anychat_uptime_seconds", "gauge", "Seconds since the server started.", &[("", s.uptime_secs)]);
    metric(&mut out, "anychat_users_online", "gauge", "Users logged in.", &[("", c.users_online as u64)]);
    metric(
        &mut out,
        "anychat_connections",
        "gauge",
        "Open connections (both listeners).",
        &[("", s.connections as u64)],
    );
    metric(
        &mut out,
        "anychat_calls",
        "gauge",
        "Calls now, by state (vetting: waiting for the business server).",
        &[
            ("state=\"vetting\"", c.calls_vetting as u64),
            ("state=\"ringing\"", c.calls_ringing as u64),
            ("state=\"active\"", c.calls_active as u64),
        ],
    );
    let labels: Vec<String> = Outcome::ALL.iter().map(|o| format!("outcome=\"{o}\"")).collect();
    let samples: Vec<(&str, u64)> = labels.iter().map(String::as_str).zip(m.calls.iter().copied()).collect();
    metric(&mut out, "anychat_calls_total", "counter", "Call attempts ended, by outcome.", &samples);
    metric(&mut out, "anychat_missed_calls_total", "counter", "Call attempts the callee missed.", &[("", m.missed)]);
    metric(
        &mut out,
        "anychat_missed_calls_shown_total",
        "counter",
        "Logins at which missed calls were shown.",
        &[("", m.missed_shown)],
    );
    m.setup.render(&mut out, "anychat_call_setup_seconds", "Request to the callee's acceptance, answered calls.");
    metric(
        &mut out,
        "anychat_media_frames_total",
        "counter",
        "Media frames routed to receivers, and dropped for slow receivers (relayed = routed - dropped).",
        &[("result=\"routed\"", m.media_frames), ("result=\"dropped\"", m.media_dropped_frames)],
    );
    metric(
        &mut out,
        "anychat_media_bytes_total",
        "counter",
        "Media bytes routed to receivers, and dropped for slow receivers.",
        &[("result=\"routed\"", m.media_bytes), ("result=\"dropped\"", m.media_dropped_bytes)],
    );
    metric(
        &mut out,
        "anychat_business_linked",
        "gauge",
        "A business server is linked.",
        &[("", c.business_linked as u64)],
    );
    metric(
        &mut out,
        "anychat_business_questions",
        "gauge",
        "Questions to the business server waiting for an answer.",
        &[("", c.business_questions as u64)],
    );
    m.business_answer.render(&mut out, "anychat_business_answer_seconds", "The business server's answer time.");
    metric(
        &mut out,
        "anychat_business_timeouts_total",
        "counter",
        "Questions the business server did not answer in time.",
        &[("", m.business_timeouts)],
    );
    let l = &s.loop_stats;
    let k = &s.core_stats;
    metric(
        &mut out,
        "anychat_connections_refused_total",
        "counter",
        "Connections refused or closed by a limit, by reason.",
        &[
            ("reason=\"full\"", l.refused_full),
            ("reason=\"per_ip\"", l.refused_per_ip),
            ("reason=\"blocked_ip\"", k.ip_refusals),
            ("reason=\"rate\"", k.rate_disconnects),
            ("reason=\"login_timeout\"", k.login_timeouts),
            ("reason=\"bad_secret\"", k.secret_refusals),
            ("reason=\"bad_frame\"", l.bad_frames),
            ("reason=\"slow_reader\"", l.slow_readers),
        ],
    );
    let throttled: u64 = k.throttled.iter().sum();
    metric(&mut out, "anychat_throttled_total", "counter", "Times a sender went over its rate.", &[("", throttled)]);
    metric(
        &mut out,
        "anychat_bulk_dropped_total",
        "counter",
        "Text and buffers not sent to a receiver far behind.",
        &[("", l.bulk_dropped)],
    );
    metric(
        &mut out,
        "anychat_records_dropped_total",
        "counter",
        "Call records not written: the writer's queue was full.",
        &[("", m.records_dropped)],
    );
    out
}
