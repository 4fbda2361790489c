//! Per-sender rate limits, sans I/O: token buckets fed the current time.
//!
//! Every message a client sends belongs to a [`Class`]. Each connection has
//! one bucket of messages and one of bytes per class; a message takes one
//! message token and, where it makes the server send bytes to others (text
//! and buffers to a room, room listings, media), the bytes it produces.
//!
//! Buckets may go into debt: the message that empties a bucket is still
//! served (an honest burst is never cut in the middle), but the connection is
//! then not read again until every bucket is out of debt
//! ([`Buckets::ready_at`]). A flooder is thus read at its class's rate and its
//! bytes wait in its own socket buffers (back-pressure): it costs the server
//! bounded CPU and memory, and everyone else is served as usual. With
//! [`RateAction::Disconnect`], going into debt closes the connection instead.

use std::fmt;
use std::time::{Duration, Instant};

use crate::wire::protocol::ClientMsg;

/// What a client message is, for its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// `Hello`, `Login`, `LoginEx`.
    Login,
    /// Keep-alive pings, logout, and messages a client may not send.
    Control,
    /// Video-call events (Request, Reply, Finish).
    Call,
    /// Entering and leaving rooms (bytes: the listings and notices produced).
    Room,
    /// Text messages (bytes: the text times its receivers).
    Text,
    /// Trans-buffers to users and to the business server (bytes: the payload).
    Buffer,
    /// Subscriptions to others' media and one's own device states.
    Device,
    /// Media frames (bytes: the frame as received).
    Media,
}

/// Number of classes.
pub const CLASSES: usize = 8;

impl Class {
    pub const ALL: [Class; CLASSES] = [
        Class::Login,
        Class::Control,
        Class::Call,
        Class::Room,
        Class::Text,
        Class::Buffer,
        Class::Device,
        Class::Media,
    ];

    /// The name used in settings and logs.
    pub fn name(self) -> &'static str {
        match self {
            Class::Login => "login",
            Class::Control => "control",
            Class::Call => "call",
            Class::Room => "room",
            Class::Text => "text",
            Class::Buffer => "buffer",
            Class::Device => "device",
            Class::Media => "media",
        }
    }

    /// The class named `name`, if any.
    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The class of a message a client sent.
    pub fn of(msg: &ClientMsg) -> Class {
        match msg {
            ClientMsg::Hello { .. } | ClientMsg::Login { .. } | ClientMsg::LoginEx { .. } => Class::Login,
            ClientMsg::VideoCall(_) => Class::Call,
            ClientMsg::EnterRoom { .. } | ClientMsg::EnterRoomByName { .. } | ClientMsg::LeaveRoom { .. } => {
                Class::Room
            }
            ClientMsg::Text { .. } => Class::Text,
            ClientMsg::TransBuffer { .. } => Class::Buffer,
            ClientMsg::Subscribe { .. } | ClientMsg::Device { .. } => Class::Device,
            ClientMsg::Media { .. } => Class::Media,
            _ => Class::Control,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A sustained rate and the burst allowed above it (`per_sec` 0: no limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

impl Rate {
    /// No limit.
    pub const NONE: Rate = Rate { per_sec: 0.0, burst: 0.0 };

    /// `per_sec` with a burst of two seconds' worth.
    pub fn per_sec(per_sec: f64) -> Rate {
        Rate { per_sec, burst: per_sec * 2.0 }
    }

    fn limited(&self) -> bool {
        self.per_sec > 0.0
    }
}

/// What happens to a sender over its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateAction {
    /// Its connection is read no faster than its rate (back-pressure).
    Throttle,
    /// Its connection is closed (`WM_GV_LINKCLOSE` with `GV_ERR_CONNECT_FUNCLIMIT`).
    Disconnect,
}

/// The rate limits of every client connection (the business server's link
/// is trusted and not limited).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Messages per class.
    pub messages: [Rate; CLASSES],
    /// Bytes per class (what the messages make the server send, see [`Class`]).
    pub bytes: [Rate; CLASSES],
    pub action: RateAction,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Default for RateLimits {
    /// Far above what an app does (a client pings every 5 s, places a call
    /// in a few messages, sends media at 15–30 frames/s), far below what
    /// floods the server.
    fn default() -> Self {
        let mut l =
            RateLimits { messages: [Rate::NONE; CLASSES], bytes: [Rate::NONE; CLASSES], action: RateAction::Throttle };
        for (class, msgs, bytes) in [
            (Class::Login, 5.0, 0.0),
            (Class::Control, 20.0, 0.0),
            (Class::Call, 20.0, 0.0),
            (Class::Room, 20.0, MIB),
            (Class::Text, 50.0, MIB),
            (Class::Buffer, 200.0, 4.0 * MIB),
            (Class::Device, 20.0, 0.0),
            (Class::Media, 200.0, 8.0 * MIB),
        ] {
            l.messages[class.index()] = Rate::per_sec(msgs);
            l.bytes[class.index()] = if bytes > 0.0 { Rate::per_sec(bytes) } else { Rate::NONE };
        }
        l
    }
}

impl RateLimits {
    /// No limit at all.
    pub fn off() -> Self {
        RateLimits { messages: [Rate::NONE; CLASSES], bytes: [Rate::NONE; CLASSES], action: RateAction::Throttle }
    }

    pub fn message_rate(&self, class: Class) -> Rate {
        self.messages[class.index()]
    }

    pub fn byte_rate(&self, class: Class) -> Rate {
        self.bytes[class.index()]
    }

    /// Applies one setting `CLASS=MSGS[,BYTES]` (per second; 0: no limit;
    /// the burst is two seconds' worth), e.g. `text=50,1048576`.
    pub fn set(&mut self, setting: &str) -> Result<(), String> {
        let (name, values) =
            setting.split_once('=').ok_or_else(|| format!("'{setting}' is not CLASS=MESSAGES[,BYTES] per second"))?;
        let class = Class::from_name(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Class::ALL.iter().map(|c| c.name()).collect();
            format!("unknown rate class '{name}' (one of {})", names.join(", "))
        })?;
        let mut parts = values.split(',');
        let mut number = |what: &str| -> Result<Option<f64>, String> {
            match parts.next() {
                None => Ok(None),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
                    _ => Err(format!("'{v}' is not a number of {what} per second in '{setting}'")),
                },
            }
        };
        let msgs = number("messages")?.ok_or_else(|| format!("no rate in '{setting}'"))?;
        let bytes = number("bytes")?;
        if parts.next().is_some() {
            return Err(format!("'{setting}' has more than MESSAGES,BYTES"));
        }
        self.messages[class.index()] = Rate::per_sec(msgs);
        if let Some(b) = bytes {
            self.bytes[class.index()] = Rate::per_sec(b);
        }
        Ok(())
    }

    /// The settings as `CLASS=MSGS,BYTES` lines, for `--help` and logs.
    pub fn describe(&self) -> String {
        let rate = |r: Rate| if r.limited() { format!("{}", r.per_sec) } else { "0".into() };
        Class::ALL
            .iter()
            .map(|c| format!("{}={},{}", c.name(), rate(self.message_rate(*c)), rate(self.byte_rate(*c))))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One connection's buckets.
#[derive(Debug, Clone)]
pub struct Buckets {
    messages: [f64; CLASSES],
    bytes: [f64; CLASSES],
    at: Instant,
}

impl Buckets {
    /// Full buckets.
    pub fn new(now: Instant, limits: &RateLimits) -> Buckets {
        Buckets { messages: limits.messages.map(|r| r.burst), bytes: limits.bytes.map(|r| r.burst), at: now }
    }

    fn refill(&mut self, now: Instant, limits: &RateLimits) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        if dt <= 0.0 {
            return;
        }
        self.at = now;
        for i in 0..CLASSES {
            let (m, b) = (limits.messages[i], limits.bytes[i]);
            self.messages[i] = (self.messages[i] + m.per_sec * dt).min(m.burst);
            self.bytes[i] = (self.bytes[i] + b.per_sec * dt).min(b.burst);
        }
    }

    /// Takes `messages` and `bytes` of `class`; true when that put the
    /// connection in debt (over its rate).
    pub fn charge(&mut self, now: Instant, limits: &RateLimits, class: Class, messages: f64, bytes: f64) -> bool {
        self.refill(now, limits);
        let i = class.index();
        let mut over = false;
        if limits.messages[i].limited() && messages > 0.0 {
            self.messages[i] -= messages;
            over |= self.messages[i] < 0.0;
        }
        if limits.bytes[i].limited() && bytes > 0.0 {
            self.bytes[i] -= bytes;
            over |= self.bytes[i] < 0.0;
        }
        over
    }

    /// When every bucket is out of debt again (`None`: now).
    pub fn ready_at(&self, now: Instant, limits: &RateLimits) -> Option<Instant> {
        let mut wait: f64 = 0.0;
        for i in 0..CLASSES {
            for (level, rate) in [(self.messages[i], limits.messages[i]), (self.bytes[i], limits.bytes[i])] {
                if level < 0.0 && rate.limited() {
                    let since = now.saturating_duration_since(self.at).as_secs_f64();
                    wait = wait.max(-level / rate.per_sec - since);
                }
            }
        }
        (wait > 0.0).then(|| now + Duration::from_secs_f64(wait.min(3600.0)))
    }
}

/// A small bucket of attempts per source (wrong business secrets): `burst`
/// attempts, then one more every `1 / per_sec` seconds.
#[derive(Debug, Clone, Copy)]
pub struct Attempts {
    tokens: f64,
    at: Instant,
}

impl Attempts {
    pub fn new(now: Instant, rate: Rate) -> Attempts {
        Attempts { tokens: rate.burst, at: now }
    }

    fn refill(&mut self, now: Instant, rate: Rate) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + rate.per_sec * dt).min(rate.burst);
    }

    /// Whether an attempt may be made now (does not take one).
    pub fn allowed(&mut self, now: Instant, rate: Rate) -> bool {
        self.refill(now, rate);
        self.tokens >= 1.0
    }

    /// A failed attempt takes a token.
    pub fn failed(&mut self, now: Instant, rate: Rate) {
        self.refill(now, rate);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    /// Back to a full bucket (the entry can be forgotten).
    pub fn is_full(&mut self, now: Instant, rate: Rate) -> bool {
        self.refill(now, rate);
        self.tokens >= rate.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_passes_then_the_sender_waits_for_its_rate() {
        let t0 = Instant::now();
        let mut limits = RateLimits::off();
        limits.set("call=10").unwrap();
        let mut b = Buckets::new(t0, &limits);
        // Two seconds' worth pass at once.
        for _ in 0..20 {
            assert!(!b.charge(t0, &limits, Class::Call, 1.0, 0.0));
            assert_eq!(b.ready_at(t0, &limits), None);
        }
        // The 21st is served but puts the sender in debt for 100 ms.
        assert!(b.charge(t0, &limits, Class::Call, 1.0, 0.0));
        assert_eq!(b.ready_at(t0, &limits), Some(t0 + ms(100)));
        assert_eq!(b.ready_at(t0 + ms(40), &limits), Some(t0 + ms(100)));
        assert_eq!(b.ready_at(t0 + ms(100), &limits), None);
        // Other classes are not limited here.
        assert!(!b.charge(t0 + ms(100), &limits, Class::Text, 1e6, 1e9));
    }

    #[test]
    fn bytes_are_limited_apart_from_messages() {
        let t0 = Instant::now();
        let mut limits = RateLimits::off();
        limits.set("text=1000,1000").unwrap();
        let mut b = Buckets::new(t0, &limits);
        assert!(!b.charge(t0, &limits, Class::Text, 1.0, 2000.0));
        // A 10,000-byte text to a room: served, then 10 s of waiting.
        assert!(b.charge(t0, &limits, Class::Text, 1.0, 10_000.0));
        assert_eq!(b.ready_at(t0, &limits), Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn settings_parse_and_refuse_with_the_setting_named() {
        let mut l = RateLimits::default();
        l.set("ping=1").unwrap_err();
        l.set("control=1").unwrap();
        assert_eq!(l.message_rate(Class::Control), Rate { per_sec: 1.0, burst: 2.0 });
        l.set("media=0,0").unwrap();
        assert!(!l.message_rate(Class::Media).limited() && !l.byte_rate(Class::Media).limited());
        for bad in ["text", "text=", "text=x", "text=-1", "text=1,2,3", "text=inf"] {
            let e = l.set(bad).unwrap_err();
            assert!(e.contains("text") || e.contains(bad), "{bad}: {e}");
        }
        assert!(l.describe().contains("control=1,0"));
    }

    #[test]
    fn attempts_refill_one_per_interval() {
        let t0 = Instant::now();
        let rate = Rate { per_sec: 1.0, burst: 5.0 };
        let mut a = Attempts::new(t0, rate);
        for _ in 0..5 {
            assert!(a.allowed(t0, rate));
            a.failed(t0, rate);
        }
        assert!(!a.allowed(t0, rate));
        assert!(!a.allowed(t0 + ms(999), rate));
        assert!(a.allowed(t0 + ms(1000), rate));
        assert!(!a.is_full(t0 + ms(1000), rate));
        assert!(a.is_full(t0 + ms(5000), rate));
    }

    #[test]
    fn every_client_message_has_a_class() {
        let ping = ClientMsg::Ping { seq: 1 };
        assert_eq!(Class::of(&ping), Class::Control);
        assert_eq!(Class::of(&ClientMsg::LeaveRoom { room_id: 1 }), Class::Room);
        assert_eq!(Class::of(&ClientMsg::Subscribe { user_id: 1, kind: 0, on: true }), Class::Device);
    }
}
