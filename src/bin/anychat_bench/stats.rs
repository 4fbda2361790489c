//! Counting the results of a run: completed and failed calls, setup latencies,
//! and (media mode) latency histograms.

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

/// Sub-buckets per power of two of a [`Histogram`] (error under 1/128).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

/// A latency histogram of bounded size: microsecond buckets, exact below
/// 256 µs, then 128 per power of two (relative error < 0.8%) up to 2^40 µs.
/// Percentiles read from it are the upper bound of the sample's bucket
/// (never above the exact maximum, which is kept).
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    samples: u64,
    max_ns: u64,
}

impl Histogram {
    fn index(us: u64) -> usize {
        let us = us.min((1 << 40) - 1);
        if us < 2 * SUB {
            return us as usize;
        }
        let shift = 63 - us.leading_zeros() - SUB_BITS;
        (((shift as u64 + 1) << SUB_BITS) + ((us >> shift) & (SUB - 1))) as usize
    }

    /// The largest microsecond value that falls in bucket `i`.
    fn upper_us(i: usize) -> u64 {
        let i = i as u64;
        if i < 2 * SUB {
            return i;
        }
        let shift = (i >> SUB_BITS) - 1;
        ((SUB + (i & (SUB - 1))) << shift) + (1 << shift) - 1
    }

    pub fn record(&mut self, ns: u64) {
        let i = Self::index(ns / 1000);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.samples += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.samples += other.samples;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Nearest-rank percentiles, in milliseconds.
    pub fn percentiles(&self) -> Percentiles {
        if self.samples == 0 {
            return Percentiles::default();
        }
        let max_ms = self.max_ns as f64 / 1e6;
        let at = |q: f64| {
            let rank = ((q * self.samples as f64).ceil() as u64).clamp(1, self.samples);
            let mut seen = 0;
            for (i, c) in self.counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return ((Self::upper_us(i) as f64 + 1.0) / 1000.0).min(max_ms);
                }
            }
            max_ms
        };
        Percentiles {
            samples: self.samples as usize,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: max_ms,
        }
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
    fn histogram_buckets_are_contiguous_and_tight() {
        let mut prev = None;
        for us in 0..1_000_000u64 {
            let i = Histogram::index(us);
            assert!(Histogram::upper_us(i) >= us, "{us} above its bucket");
            if let Some(p) = prev {
                assert!(i == p || i == p + 1, "{us}: bucket {i} after {p}");
                if i == p + 1 {
                    assert_eq!(Histogram::upper_us(p), us - 1, "bucket {p} ends before {us}");
                }
            }
            assert!(Histogram::upper_us(i) - us <= us / 128, "{us}: bucket too wide");
            prev = Some(i);
        }
    }

    #[test]
    fn histogram_percentiles_match_the_exact_ones_within_a_percent() {
        let mut h = Histogram::default();
        let mut exact: Vec<u64> = Vec::new();
        let mut x = 12345u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ns = 50_000 + x % 80_000_000;
            h.record(ns);
            exact.push(ns);
        }
        let mut other = Histogram::default();
        other.record(1);
        h.merge(&other);
        exact.push(1);
        let (a, b) = (h.percentiles(), Percentiles::of(&mut exact));
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.max, b.max);
        for (p, q) in [(a.p50, b.p50), (a.p90, b.p90), (a.p99, b.p99), (a.p999, b.p999)] {
            assert!(p >= q && p <= q * 1.01 + 0.001, "{p} vs exact {q}");
        }
        assert_eq!(Histogram::default().percentiles().samples, 0);
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
