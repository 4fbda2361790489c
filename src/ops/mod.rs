//! Operating the core server: what the event loop counts and reports
//! beside serving clients — metrics, the admin listener (`/metrics`, the
//! status page `/`, `/api/status`) and the hand-off of call records to
//! their writer.
//!
//! The loop owns an [`Ops`]: it feeds it the core's [`Journal`] events
//! (plain counters, no lock) and hands records on to a bounded queue
//! (a full queue counts a drop, never blocks). The admin listener runs on a
//! thread of its own; for each request it asks the loop for a [`Snapshot`]
//! through a bounded channel and the loop's waker, and renders it there, so
//! the loop only copies its counters (and, for the status page, a capped
//! listing of the core's state).
#![forbid(unsafe_code)]

pub mod admin;
pub mod metrics;
pub mod status;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::core::journal::{CoreStatus, Journal, Outcome};
use crate::core::{Core, Stats};

pub use metrics::Metrics;

/// Users, calls and rooms listed on the status page, at most.
pub const STATUS_LIMIT: usize = 1000;
/// Records waiting for the writer, at most (past that they are dropped and counted).
pub const RECORDS_QUEUE: usize = 64 * 1024;

/// Settings of the loop's operations side.
#[derive(Debug, Clone, Default)]
pub struct OpsConfig {
    /// Where call records, user ids and missed calls shown go (the records
    /// writer's queue; None: not kept).
    pub records: Option<Sender<Journal>>,
    /// The admin listener's address (None: no admin listener).
    pub admin_listen: Option<SocketAddr>,
}

/// The loop's own figures a snapshot carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopFigures {
    pub refused_full: u64,
    pub refused_per_ip: u64,
    pub bad_frames: u64,
    pub slow_readers: u64,
    pub bulk_dropped: u64,
}

/// Everything the admin listener shows, copied by the loop at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Wall-clock milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub uptime_secs: u64,
    pub connections: usize,
    pub core: CoreStatus,
    pub core_stats: Stats,
    pub loop_stats: LoopFigures,
    pub metrics: Metrics,
}

/// A request of the admin thread: a snapshot, with the core's listings
/// up to `limit` (0: counts only).
pub struct AdminRequest {
    pub limit: usize,
    pub reply: Sender<Snapshot>,
}

/// The loop's side: counters, the records queue, admin requests.
pub struct Ops {
    pub metrics: Metrics,
    records: Option<Sender<Journal>>,
    admin: Option<Receiver<AdminRequest>>,
    started: Instant,
}

impl Ops {
    /// The loop's side; the admin listener (if any) is started with
    /// [`admin::start`] and gives its request channel here.
    pub fn new(records: Option<Sender<Journal>>, admin: Option<Receiver<AdminRequest>>, started: Instant) -> Ops {
        Ops { metrics: Metrics::default(), records, admin, started }
    }

    /// Whether the core needs to emit journal events for this.
    pub fn wants_journal(&self) -> bool {
        self.records.is_some() || self.admin.is_some()
    }

    /// A journal event of the core: counted, and handed to the records writer.
    pub fn journal(&mut self, event: Journal) {
        let m = &mut self.metrics;
        match &event {
            Journal::Call(r) => {
                if let Some(i) = Outcome::ALL.iter().position(|o| *o == r.outcome) {
                    m.calls[i] += 1;
                }
                m.missed += r.missed as u64;
            }
            Journal::CallStarted { setup, .. } => {
                m.setup.observe(*setup);
                return;
            }
            Journal::UserId { .. } => {}
            Journal::MissedShown { .. } => m.missed_shown += 1,
            Journal::BusinessAnswer { latency, answered } => {
                if *answered {
                    m.business_answer.observe(*latency);
                } else {
                    m.business_timeouts += 1;
                }
                return;
            }
        }
        if let Some(tx) = &self.records {
            match tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => m.records_dropped += 1,
                Err(TrySendError::Disconnected(_)) => {
                    tracing::error!("the call records writer stopped; records are no longer kept");
                    self.records = None;
                }
            }
        }
    }

    /// A media frame of `bytes` was routed to a receiver; `dropped` frames
    /// (`dropped_bytes`) left its queue for it.
    pub fn media(&mut self, bytes: usize, dropped: usize, dropped_bytes: usize) {
        let m = &mut self.metrics;
        m.media_frames += 1;
        m.media_bytes += bytes as u64;
        m.media_dropped_frames += dropped as u64;
        m.media_dropped_bytes += dropped_bytes as u64;
    }

    /// Answers the admin thread's requests waiting, if any (cheap when none).
    pub fn serve_admin(&mut self, now: Instant, core: &Core, connections: usize, loop_stats: LoopFigures) {
        let Some(rx) = &self.admin else { return };
        while let Ok(req) = rx.try_recv() {
            let snapshot = Snapshot {
                at_ms: core.wall_clock_ms(now),
                uptime_secs: now.saturating_duration_since(self.started).as_secs(),
                connections,
                core: core.status(now, req.limit),
                core_stats: core.stats().clone(),
                loop_stats: loop_stats.clone(),
                metrics: self.metrics.clone(),
            };
            let _ = req.reply.send(snapshot);
        }
    }
}

/// Milliseconds since the Unix epoch now (for the loop's wall-clock anchor).
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis() as u64
}
