//! The time rules of a library's link to the core server (`docs/PROTOCOL.md`,
//! "Handshake and keep-alive") as a pure timer both libraries' engines
//! hold: the connect must reach the server's `Welcome` within a time-out;
//! after it, a `Ping` goes out every third of the keep-alive time the
//! server asked for, and a server silent for that whole time is lost.
//!
//! [`LinkClock`] reads no clock: `now` is always a parameter, so the
//! engines that hold it are tested in simulated time.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use crate::wire::protocol::ClientMsg;

/// Shortest keep-alive time honoured (a server asking for less would make
/// the client ping in a busy loop).
pub const MIN_KEEPALIVE: Duration = Duration::from_millis(300);

/// Why a [`LinkClock`] gave up on its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// No `Welcome` within the connect time-out.
    ConnectTimeout,
    /// Nothing from the server for the keep-alive time.
    Silent,
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expired::ConnectTimeout => write!(f, "connect timed out"),
            Expired::Silent => write!(f, "server silent for the keep-alive time"),
        }
    }
}

/// Why a link went away, as the library's driver saw it (the engines'
/// input; silence and the connect time-out are the engines' own, [`Expired`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkLoss {
    /// No address accepted the connection.
    ConnectFailed,
    /// The server closed the connection.
    Closed,
    /// The TLS session failed (handshake, certificate, alert, not TLS).
    Tls(String),
    /// A socket error, or bytes that do not decode.
    Error(String),
}

impl std::fmt::Display for LinkLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkLoss::ConnectFailed => write!(f, "connect failed"),
            LinkLoss::Closed => write!(f, "closed by the server"),
            LinkLoss::Tls(e) | LinkLoss::Error(e) => write!(f, "{e}"),
        }
    }
}

/// The timers of one link: the connect deadline, then keep-alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClock {
    state: ClockState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClockState {
    /// Waiting for the server's `Welcome` until `deadline`.
    Connecting { deadline: Instant },
    /// The handshake completed.
    Ready { keepalive: Duration, last_rx: Instant, next_ping: Instant, seq: u32 },
}

impl LinkClock {
    /// A link whose connect started at `now` and must complete (the
    /// server's `Welcome` received) within `timeout`.
    pub fn connecting(now: Instant, timeout: Duration) -> LinkClock {
        LinkClock { state: ClockState::Connecting { deadline: now + timeout } }
    }

    /// The server's `Welcome` arrived at `now`, asking for `keepalive`
    /// (at least [`MIN_KEEPALIVE`]); the first ping is due a third of it later.
    pub fn ready(&mut self, now: Instant, keepalive: Duration) {
        let keepalive = keepalive.max(MIN_KEEPALIVE);
        self.state = ClockState::Ready { keepalive, last_rx: now, next_ping: now + keepalive / 3, seq: 0 };
    }

    /// Whether the handshake completed.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, ClockState::Ready { .. })
    }

    /// The keep-alive time in force (None before the handshake).
    pub fn keepalive(&self) -> Option<Duration> {
        match self.state {
            ClockState::Ready { keepalive, .. } => Some(keepalive),
            ClockState::Connecting { .. } => None,
        }
    }

    /// Bytes came in from the server at `now`.
    pub fn received(&mut self, now: Instant) {
        if let ClockState::Ready { last_rx, .. } = &mut self.state {
            *last_rx = now.max(*last_rx);
        }
    }

    /// When [`LinkClock::poll`] has something to do.
    pub fn next_deadline(&self) -> Instant {
        match self.state {
            ClockState::Connecting { deadline } => deadline,
            ClockState::Ready { keepalive, last_rx, next_ping, .. } => next_ping.min(last_rx + keepalive),
        }
    }

    /// The connect time-out and silence (`Err`), else the `Ping` due at
    /// `now`, if any (the next one is then due a third of the keep-alive
    /// time later).
    pub fn poll(&mut self, now: Instant) -> Result<Option<ClientMsg>, Expired> {
        match &mut self.state {
            ClockState::Connecting { deadline } => {
                if now >= *deadline {
                    Err(Expired::ConnectTimeout)
                } else {
                    Ok(None)
                }
            }
            ClockState::Ready { keepalive, last_rx, next_ping, seq } => {
                if now >= *last_rx + *keepalive {
                    return Err(Expired::Silent);
                }
                if now < *next_ping {
                    return Ok(None);
                }
                *next_ping = now + *keepalive / 3;
                *seq = seq.wrapping_add(1);
                Ok(Some(ClientMsg::Ping { seq: *seq }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn connect_deadline_then_pings_then_silence() {
        let t0 = Instant::now();
        let mut c = LinkClock::connecting(t0, ms(1000));
        assert_eq!(c.next_deadline(), t0 + ms(1000));
        assert_eq!(c.poll(t0 + ms(999)), Ok(None));
        assert_eq!(c.poll(t0 + ms(1000)), Err(Expired::ConnectTimeout));
        c.ready(t0 + ms(500), ms(3000));
        assert!(c.is_ready());
        assert_eq!(c.keepalive(), Some(ms(3000)));
        assert_eq!(c.next_deadline(), t0 + ms(1500));
        assert_eq!(c.poll(t0 + ms(1499)), Ok(None));
        assert_eq!(c.poll(t0 + ms(1500)), Ok(Some(ClientMsg::Ping { seq: 1 })));
        assert_eq!(c.next_deadline(), t0 + ms(2500));
        c.received(t0 + ms(2000));
        assert_eq!(c.poll(t0 + ms(2500)), Ok(Some(ClientMsg::Ping { seq: 2 })));
        assert_eq!(c.poll(t0 + ms(3500)), Ok(Some(ClientMsg::Ping { seq: 3 })));
        // Silent since 2000: lost at 5000, before the ping of 4500 is even late.
        assert_eq!(c.poll(t0 + ms(4500)), Ok(Some(ClientMsg::Ping { seq: 4 })));
        assert_eq!(c.next_deadline(), t0 + ms(5000));
        assert_eq!(c.poll(t0 + ms(5000)), Err(Expired::Silent));
    }

    #[test]
    fn keepalive_has_a_floor() {
        let t0 = Instant::now();
        let mut c = LinkClock::connecting(t0, ms(1000));
        c.ready(t0, ms(1));
        assert_eq!(c.keepalive(), Some(MIN_KEEPALIVE));
        assert_eq!(c.next_deadline(), t0 + MIN_KEEPALIVE / 3);
    }
}
