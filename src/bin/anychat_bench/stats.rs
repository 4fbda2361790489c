//! Counting the results of a run: completed and failed calls, setup latencies.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Why a call failed, as counted in the summary ("failed calls by error code").
pub fn reason_code(code: u32) -> String {
    format!("code {code}")
}

/// What one worker (or all of them, merged) saw during one step of load.
#[derive(Debug, Default, Clone)]
pub struct StepResult {
    /// Calls due at the target rate over the step.
    pub offered: u64,
    /// Requests actually sent (a call is only placed when a pair is free).
    pub placed: u64,
    pub completed: u64,
    /// Failed calls by reason: `code N` (an error code the server sent),
    /// `timeout`, `unexpected`, `disconnected`, `link close N`.
    pub failed: BTreeMap<String, u64>,
    /// Setup latency of every completed call (Request sent → caller's START), ns.
    pub latencies_ns: Vec<u64>,
    /// Seconds from the step's start until its last call ended.
    pub elapsed_s: f64,
}

impl StepResult {
    pub fn merge(&mut self, other: StepResult) {
        self.offered += other.offered;
        self.placed += other.placed;
        self.completed += other.completed;
        for (k, v) in other.failed {
            *self.failed.entry(k).or_default() += v;
        }
        self.latencies_ns.extend(other.latencies_ns);
        self.elapsed_s = self.elapsed_s.max(other.elapsed_s);
    }

    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

/// Nearest-rank percentiles of setup latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub samples: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// Sorts `ns` in place and reads the percentiles from it.
    pub fn of(ns: &mut [u64]) -> Percentiles {
        if ns.is_empty() {
            return Percentiles::default();
        }
        ns.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len());
            ns[rank - 1] as f64 / 1e6
        };
        Percentiles {
            samples: ns.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: ns[ns.len() - 1] as f64 / 1e6,
        }
    }

    pub fn to_json(self) -> Value {
        json!({
            "samples": self.samples,
            "p50": round3(self.p50),
            "p90": round3(self.p90),
            "p99": round3(self.p99),
            "p99_9": round3(self.p999),
            "max": round3(self.max),
        })
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<u64> = (1..=1000).rev().map(|i| i * 1_000_000).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(p.samples, 1000);
        assert_eq!(p.p50, 500.0);
        assert_eq!(p.p90, 900.0);
        assert_eq!(p.p99, 990.0);
        assert_eq!(p.p999, 999.0);
        assert_eq!(p.max, 1000.0);
        assert_eq!(Percentiles::of(&mut []).samples, 0);
    }

    #[test]
    fn merge_adds_up() {
        let mut a = StepResult { offered: 2, placed: 2, completed: 1, ..Default::default() };
        a.failed.insert("timeout".into(), 1);
        let mut b = StepResult { offered: 3, placed: 3, completed: 3, latencies_ns: vec![5], ..Default::default() };
        b.failed.insert("timeout".into(), 2);
        a.merge(b);
        assert_eq!((a.offered, a.placed, a.completed, a.failed_total()), (5, 5, 4, 3));
        assert_eq!(a.latencies_ns, vec![5]);
    }
}
