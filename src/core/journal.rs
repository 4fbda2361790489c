//! What the core tells the outside world about calls, users and the
//! business server, for call records, metrics and the status page: the
//! [`Journal`] events it emits as [`super::Output::Journal`] (when
//! [`super::CoreConfig::journal`] is on), what it is given back at start
//! ([`Restored`]) and what it shows when asked ([`CoreStatus`]).
//!
//! Sans I/O like the rest of the core: times are the `now` the core is fed,
//! turned into wall-clock milliseconds with [`super::CoreConfig::wall_clock`].
#![forbid(unsafe_code)]

use std::time::Duration;

/// The user info id (`BRAC_GetUserInfo(self, 900, …)`) under which a user
/// finds the calls it missed, sent at login with `WM_GV_USERINFOUPDATE(self,
/// 900)`. Its value is text, one line per missed call, oldest first:
/// `UNIX_MS<TAB>CALLER_ID<TAB>CALLER_NAME<TAB>FLAGS<TAB>OUTCOME`.
pub const MISSED_CALLS_INFO: u32 = 900;
/// Missed calls kept per user until it logs in (older ones are dropped from
/// the notice; the records keep them all).
pub const MISSED_PER_USER: usize = 20;
/// Users with missed calls waiting, at most (memory bound; past it, missed
/// calls are still recorded but not shown at login).
pub const MISSED_USERS: usize = 100_000;

/// How a call attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The callee accepted; the call took place (see [`EndedBy`] for who
    /// ended it).
    Answered,
    /// The callee refused (or logged out while it rang).
    Refused,
    /// One of the two was already in a call.
    Busy,
    /// The callee was not online (or left while the business server vetted).
    Offline,
    /// Nobody answered within the ring time-out.
    Timeout,
    /// The caller cancelled before an answer.
    Cancelled,
    /// A party's connection was lost before an answer.
    Lost,
    /// The business server refused the call, or ended it before an answer.
    Vetoed,
    /// No business server to ask (206) or it did not answer (207).
    Unavailable,
}

impl Outcome {
    /// Every outcome, in the order metrics and exports list them.
    pub const ALL: [Outcome; 9] = [
        Outcome::Answered,
        Outcome::Refused,
        Outcome::Busy,
        Outcome::Offline,
        Outcome::Timeout,
        Outcome::Cancelled,
        Outcome::Lost,
        Outcome::Vetoed,
        Outcome::Unavailable,
    ];

    /// The name records, logs and metrics use.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Refused => "refused",
            Outcome::Busy => "busy",
            Outcome::Offline => "offline",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::Lost => "lost",
            Outcome::Vetoed => "vetoed",
            Outcome::Unavailable => "unavailable",
        }
    }

    /// The outcome of a name given by [`Outcome::name`].
    pub fn from_name(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.name() == s)
    }

    /// Whether the callee should be told of the call at its next login.
    pub fn missed(self) -> bool {
        matches!(self, Outcome::Busy | Outcome::Offline | Outcome::Timeout | Outcome::Cancelled | Outcome::Lost)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who (or what) ended a call attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndedBy {
    /// The caller: Finish, cancel, logout, or its connection lost.
    Caller,
    /// The callee: Finish, refusal, logout, or its connection lost.
    Callee,
    /// The core server on its own (ring time-out, busy, offline).
    Server,
    /// The business server (veto, forced finish, no answer).
    Business,
}

impl EndedBy {
    /// The name records and logs use.
    pub fn name(self) -> &'static str {
        match self {
            EndedBy::Caller => "caller",
            EndedBy::Callee => "callee",
            EndedBy::Server => "server",
            EndedBy::Business => "business",
        }
    }

    /// The value of a name given by [`EndedBy::name`].
    pub fn from_name(s: &str) -> Option<EndedBy> {
        [EndedBy::Caller, EndedBy::Callee, EndedBy::Server, EndedBy::Business].into_iter().find(|b| b.name() == s)
    }
}

/// One call attempt, from its Request to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Unique for the life of the records (the core continues from
    /// [`Restored::next_call_id`]).
    pub call_id: u64,
    pub caller: u32,
    pub callee: u32,
    /// User names (empty when not known: a callee that is offline).
    pub caller_name: String,
    pub callee_name: String,
    /// The parties' client addresses (empty when not known).
    pub caller_addr: String,
    pub callee_addr: String,
    /// `BRAC_VIDEOCALL_FLAGS_*` of the Request.
    pub flags: u32,
    /// Wall-clock milliseconds since the Unix epoch.
    pub requested_ms: u64,
    /// When the callee accepted (None: never).
    pub started_ms: Option<u64>,
    pub ended_ms: u64,
    pub outcome: Outcome,
    pub ended_by: EndedBy,
    /// The error code of the ending event (0: a plain Finish).
    pub code: u32,
    /// The call's room, if it started.
    pub room: Option<u32>,
    /// The callee missed it: shown at its next login.
    pub missed: bool,
}

impl CallRecord {
    /// Milliseconds from the Request to the callee's acceptance.
    pub fn setup_ms(&self) -> Option<u64> {
        self.started_ms.map(|s| s.saturating_sub(self.requested_ms))
    }

    /// Milliseconds from the Request (or, answered, from its start) to its end.
    pub fn duration_ms(&self) -> u64 {
        self.ended_ms.saturating_sub(self.started_ms.unwrap_or(self.requested_ms))
    }
}

/// One missed call waiting for its callee's next login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    pub call_id: u64,
    pub caller: u32,
    pub caller_name: String,
    pub flags: u32,
    pub at_ms: u64,
    pub outcome: Outcome,
}

/// What the core reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Journal {
    /// A call attempt ended (also one refused at once: busy, offline).
    Call(Box<CallRecord>),
    /// A call was accepted after `setup` (its record comes at its end).
    CallStarted { call_id: u64, setup: Duration },
    /// The server gave a new id to a user name (kept across restarts).
    UserId { name: Vec<u8>, id: u32 },
    /// A user was shown these missed calls at login.
    MissedShown { user_id: u32, call_ids: Vec<u64> },
    /// The business server answered a question after `latency`
    /// (`answered` false: it timed out).
    BusinessAnswer { latency: Duration, answered: bool },
}

/// What a restarted server gives the core back from its records.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// User names and the ids they had.
    pub ids_by_name: Vec<(Vec<u8>, u32)>,
    /// The next call id (one more than the last recorded).
    pub next_call_id: u64,
    /// Missed calls not shown yet, per callee, oldest first.
    pub missed: Vec<(u32, Missed)>,
}

/// A user online, for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatus {
    pub id: u32,
    pub name: String,
    pub addr: String,
    pub room: Option<u32>,
    pub call: Option<u64>,
    /// Milliseconds since the Unix epoch of its login.
    pub since_ms: u64,
}

/// A call vetting, ringing or in progress, for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStatus {
    pub call_id: u64,
    pub caller: u32,
    pub callee: u32,
    pub caller_name: String,
    pub callee_name: String,
    pub flags: u32,
    /// `vetting`, `ringing` or `active`.
    pub state: &'static str,
    pub room: Option<u32>,
    /// Milliseconds since the Request.
    pub age_ms: u64,
    /// Milliseconds since the start (active calls).
    pub talk_ms: Option<u64>,
}

/// A room with users in it (or a call's room), for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomStatus {
    pub id: u32,
    pub name: String,
    pub members: Vec<u32>,
    pub call: Option<u64>,
}

/// The core's state for the status page (each list capped at the limit asked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreStatus {
    pub users_online: usize,
    pub users: Vec<UserStatus>,
    pub calls_vetting: usize,
    pub calls_ringing: usize,
    pub calls_active: usize,
    pub calls: Vec<CallStatus>,
    pub rooms: Vec<RoomStatus>,
    pub business_linked: bool,
    pub business_questions: usize,
}

// ----- the core's side ------------------------------------------------------

use std::time::Instant;

use super::{Call, CallState, Core, Output};
use crate::wire::protocol::ServerMsg;

impl Core {
    /// Emits a journal event, if journal events are on.
    pub(super) fn journal(&mut self, event: Journal) {
        if self.config.journal {
            self.out.push_back(Output::Journal(event));
        }
    }

    /// Wall-clock milliseconds at `t` (see [`super::CoreConfig::wall_clock`]).
    pub fn wall_clock_ms(&self, t: Instant) -> u64 {
        match self.config.wall_clock {
            Some((at, ms)) if t >= at => ms.saturating_add((t - at).as_millis() as u64),
            Some((at, ms)) => ms.saturating_sub((at - t).as_millis() as u64),
            None => 0,
        }
    }

    /// A user's name and client address (empty when not online).
    fn name_and_addr(&self, uid: u32) -> (String, String) {
        let Some(u) = self.users.get(&uid) else { return (String::new(), String::new()) };
        let addr = self.conns.get(&u.conn).map(|c| c.ip.clone()).unwrap_or_default();
        (String::from_utf8_lossy(&u.name).into_owned(), addr)
    }

    /// A call attempt ended: its log line, its record, and a missed call
    /// for the callee if it is one.
    pub(super) fn record_call(&mut self, call_id: u64, call: &Call, outcome: Outcome, by: EndedBy, code: u32) {
        let now = self.now.unwrap_or(call.requested);
        let (caller_name, caller_addr) = self.name_and_addr(call.caller);
        let (callee_name, callee_addr) = self.name_and_addr(call.callee);
        let room = match call.state {
            CallState::Active { room } => Some(room),
            _ => None,
        };
        // The callee missed it, unless it was its own doing or the caller's
        // own busyness.
        // A call still being vetted never rang: the callee missed nothing.
        let rang = call.state != CallState::Vetting || matches!(outcome, Outcome::Busy | Outcome::Offline);
        let missed =
            rang && outcome.missed() && by != EndedBy::Callee && !(outcome == Outcome::Busy && by == EndedBy::Caller);
        let record = CallRecord {
            call_id,
            caller: call.caller,
            callee: call.callee,
            caller_name,
            callee_name,
            caller_addr,
            callee_addr,
            flags: call.flags,
            requested_ms: self.wall_clock_ms(call.requested),
            started_ms: call.started.map(|t| self.wall_clock_ms(t)),
            ended_ms: self.wall_clock_ms(now),
            outcome,
            ended_by: by,
            code,
            room,
            missed,
        };
        tracing::info!(
            call = call_id,
            duration_ms = record.duration_ms(),
            setup_ms = record.setup_ms(),
            outcome = outcome.name(),
            ended_by = by.name(),
            code,
            caller = call.caller,
            caller_name = %record.caller_name,
            caller_addr = %record.caller_addr,
            callee = call.callee,
            callee_name = %record.callee_name,
            callee_addr = %record.callee_addr,
            flags = call.flags,
            room,
            "call ended"
        );
        if !self.config.journal {
            return;
        }
        if missed
            && self.config.missed_calls
            && (self.missed.len() < MISSED_USERS || self.missed.contains_key(&call.callee))
        {
            let list = self.missed.entry(call.callee).or_default();
            if list.len() >= MISSED_PER_USER {
                list.remove(0);
            }
            list.push(Missed {
                call_id,
                caller: call.caller,
                caller_name: record.caller_name.clone(),
                flags: call.flags,
                at_ms: record.requested_ms,
                outcome,
            });
        }
        self.journal(Journal::Call(Box::new(record)));
    }

    /// At login: the calls the user missed, as its own user info
    /// [`MISSED_CALLS_INFO`] (`WM_GV_USERINFOUPDATE(self, 900)`).
    pub(super) fn show_missed(&mut self, uid: u32) {
        if self.missed.is_empty() {
            return;
        }
        let Some(list) = self.missed.remove(&uid) else { return };
        let mut value = String::new();
        for m in &list {
            let name: String = m.caller_name.chars().filter(|c| *c != '\t' && *c != '\n').collect();
            let line = format!("{}\t{}\t{}\t{}\t{}\n", m.at_ms, m.caller, name, m.flags, m.outcome);
            if value.len() + line.len() > crate::wire::protocol::MAX_INFO_LEN {
                break;
            }
            value.push_str(&line);
        }
        tracing::info!(user = uid, missed = list.len(), "missed calls shown at login");
        self.send_user(
            uid,
            ServerMsg::UserInfo { user_id: uid, info_id: MISSED_CALLS_INFO, value: value.into_bytes() },
        );
        self.journal(Journal::MissedShown { user_id: uid, call_ids: list.iter().map(|m| m.call_id).collect() });
    }

    /// Takes back what the records kept: ids by name (ids continue after
    /// the highest), the call ids, and missed calls not shown yet.
    pub fn restore(&mut self, r: Restored) {
        for (name, id) in r.ids_by_name {
            if id != 0 && id != u32::MAX {
                self.next_user_id = self.next_user_id.max(id.saturating_add(1)).min(u32::MAX - 1);
                self.keep_id(name, id);
            }
        }
        self.next_call_id = self.next_call_id.max(r.next_call_id);
        for (callee, m) in r.missed {
            if self.missed.len() >= MISSED_USERS && !self.missed.contains_key(&callee) {
                continue;
            }
            let list = self.missed.entry(callee).or_default();
            if list.len() >= MISSED_PER_USER {
                list.remove(0);
            }
            list.push(m);
        }
    }

    /// Calls vetting, ringing and in progress.
    pub fn call_counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for c in self.calls.values() {
            match c.state {
                CallState::Vetting => n.0 += 1,
                CallState::Ringing { .. } => n.1 += 1,
                CallState::Active { .. } => n.2 += 1,
            }
        }
        n
    }

    /// The state for the status page, each list at most `limit` long
    /// (users by id, calls by age, rooms by id).
    pub fn status(&self, now: Instant, limit: usize) -> CoreStatus {
        let (calls_vetting, calls_ringing, calls_active) = self.call_counts();
        let name = |uid: u32| self.users.get(&uid).map(|u| String::from_utf8_lossy(&u.name).into_owned());
        let ids = first_sorted(self.users.keys().copied(), limit);
        let users = ids
            .into_iter()
            .map(|id| {
                let u = &self.users[&id];
                UserStatus {
                    id,
                    name: String::from_utf8_lossy(&u.name).into_owned(),
                    addr: self.conns.get(&u.conn).map(|c| c.ip.clone()).unwrap_or_default(),
                    room: u.room,
                    call: u.call,
                    since_ms: self.wall_clock_ms(u.since),
                }
            })
            .collect();
        let call_ids = first_sorted(self.calls.keys().copied(), limit);
        let calls = call_ids
            .into_iter()
            .map(|id| {
                let c = &self.calls[&id];
                let (state, room) = match c.state {
                    CallState::Vetting => ("vetting", None),
                    CallState::Ringing { .. } => ("ringing", None),
                    CallState::Active { room } => ("active", Some(room)),
                };
                CallStatus {
                    call_id: id,
                    caller: c.caller,
                    callee: c.callee,
                    caller_name: name(c.caller).unwrap_or_default(),
                    callee_name: name(c.callee).unwrap_or_default(),
                    flags: c.flags,
                    state,
                    room,
                    age_ms: now.saturating_duration_since(c.requested).as_millis() as u64,
                    talk_ms: c.started.map(|s| now.saturating_duration_since(s).as_millis() as u64),
                }
            })
            .collect();
        let live = self.rooms.iter().filter(|(_, r)| !r.members.is_empty() || r.call.is_some());
        let room_ids = first_sorted(live.map(|(id, _)| *id), limit);
        let rooms = room_ids
            .into_iter()
            .map(|id| {
                let r = &self.rooms[&id];
                RoomStatus {
                    id,
                    name: r.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
                    members: r.members.clone(),
                    call: r.call,
                }
            })
            .collect();
        let business_questions = self.queries.len();
        let business_linked = self.business.is_some();
        CoreStatus {
            users_online: self.users.len(),
            users,
            calls_vetting,
            calls_ringing,
            calls_active,
            calls,
            rooms,
            business_linked,
            business_questions,
        }
    }
}

/// The `limit` smallest items, sorted (without sorting them all; nothing
/// read when `limit` is 0).
fn first_sorted<T: Ord>(items: impl Iterator<Item = T>, limit: usize) -> Vec<T> {
    if limit == 0 {
        return Vec::new();
    }
    let mut v: Vec<T> = items.collect();
    if v.len() > limit {
        v.select_nth_unstable(limit - 1);
        v.truncate(limit);
    }
    v.sort_unstable();
    v
}
