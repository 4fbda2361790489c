//! Call records, missed calls and user ids in SQLite (feature `records`).
//!
//! One file (`records.sqlite3` in the state folder by default) with two
//! tables: `calls`, one row per call attempt (the core's
//! [`CallRecord`]: caller, callee, flags, request/start/end times, outcome,
//! who ended it, code, room, whether the callee missed it and when it was
//! shown the missed call), and `users` (user name → id, so that ids survive
//! a restart).
//!
//! The event loop never touches the database: it hands the core's
//! [`Journal`] events to a bounded queue (see `crate::ops`), and
//! [`Store::spawn_writer`]'s thread (`anychat-records`) writes them, many
//! per transaction. At start, before the loop runs, [`Store::restore`] reads
//! back what the core needs ([`Restored`]). [`Store::query`] and the
//! exports serve `anychat-server records`.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crossbeam_channel::{bounded, Receiver, Sender};
use rusqlite::{params, Connection};

use crate::core::journal::{CallRecord, EndedBy, Journal, Missed, Outcome, Restored};

/// The records file's name in the state folder.
pub const RECORDS_FILE: &str = "records.sqlite3";
/// Events written per transaction at most.
const BATCH: usize = 4096;
/// How long the writer lets events gather before writing them (a commit,
/// or a wake-up of this thread, per event would cost more than the call).
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);
/// How often records past `--records-keep-days` are deleted.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// Missed calls not shown yet read back at start, at most (newest first).
const RESTORE_MISSED: usize = 200_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    call_id      INTEGER PRIMARY KEY,
    caller       INTEGER NOT NULL,
    callee       INTEGER NOT NULL,
    caller_name  TEXT NOT NULL,
    callee_name  TEXT NOT NULL,
    caller_addr  TEXT NOT NULL,
    callee_addr  TEXT NOT NULL,
    flags        INTEGER NOT NULL,
    requested_ms INTEGER NOT NULL,
    started_ms   INTEGER,
    ended_ms     INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    ended_by     TEXT NOT NULL,
    code         INTEGER NOT NULL,
    room         INTEGER,
    missed       INTEGER NOT NULL,
    shown_ms     INTEGER
);
CREATE INDEX IF NOT EXISTS calls_requested ON calls(requested_ms);
CREATE INDEX IF NOT EXISTS calls_waiting ON calls(callee) WHERE missed = 1 AND shown_ms IS NULL;
CREATE TABLE IF NOT EXISTS users (
    name BLOB PRIMARY KEY,
    id   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS users_id ON users(id);
";

/// The records file, open.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// A stored call record and when its callee was shown it (missed calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub record: CallRecord,
    pub shown_ms: Option<u64>,
}

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A user name or id: records where it is the caller or the callee.
    pub user: Option<String>,
    /// Requested at or after (ms since the Unix epoch).
    pub since_ms: Option<u64>,
    /// Requested before (ms since the Unix epoch).
    pub until_ms: Option<u64>,
    pub outcome: Option<Outcome>,
    /// Only calls the callee missed (with `user`: missed by that user).
    pub missed: bool,
    /// At most this many, newest first (0: all).
    pub limit: usize,
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("call records {}: {what}: {e}", path.display())
}

impl Store {
    /// Opens (or creates) the records file.
    pub fn open(path: &Path) -> Result<Store, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err("cannot make its folder", path, e))?;
        }
        let conn = Connection::open(path).map_err(|e| err("cannot open", path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| err("busy time-out", path, e))?;
        // WAL: readers (`anychat-server records`) never block the writer.
        // Switching to it (and creating the tables) may find another
        // process doing the same, which SQLite reports as busy at once.
        let setup = || -> rusqlite::Result<()> {
            let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
            conn.execute_batch(SCHEMA)
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match setup() {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(err("cannot set up", path, e)),
            }
        }
        Ok(Store { conn, path: path.to_path_buf() })
    }

    /// Opens an existing records file for reading (never creates one).
    pub fn open_existing(path: &Path) -> Result<Store, String> {
        if !path.exists() {
            return Err(format!("no call records at {}", path.display()));
        }
        Store::open(path)
    }

    /// What the core needs back at start.
    pub fn restore(&self) -> Result<Restored, String> {
        let p = &self.path;
        let mut r = Restored::default();
        let mut st = self.conn.prepare("SELECT name, id FROM users").map_err(|e| err("read users", p, e))?;
        let rows = st.query_map([], |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, u32>(1)?)));
        r.ids_by_name = rows.and_then(|rows| rows.collect()).map_err(|e| err("read users", p, e))?;
        let last: Option<i64> = self
            .conn
            .query_row("SELECT MAX(call_id) FROM calls", [], |row| row.get(0))
            .map_err(|e| err("read", p, e))?;
        r.next_call_id = last.unwrap_or(0).max(0) as u64 + 1;
        let mut st = self
            .conn
            .prepare(
                "SELECT callee, call_id, caller, caller_name, flags, requested_ms, outcome FROM calls
                 WHERE missed = 1 AND shown_ms IS NULL ORDER BY call_id DESC LIMIT ?1",
            )
            .map_err(|e| err("read missed calls", p, e))?;
        let rows = st.query_map([RESTORE_MISSED as i64], |row| {
            let outcome: String = row.get(6)?;
            Ok((
                row.get::<_, u32>(0)?,
                Missed {
                    call_id: row.get::<_, i64>(1)? as u64,
                    caller: row.get(2)?,
                    caller_name: row.get(3)?,
                    flags: row.get(4)?,
                    at_ms: row.get::<_, i64>(5)? as u64,
                    outcome: Outcome::from_name(&outcome).unwrap_or(Outcome::Offline),
                },
            ))
        });
        let mut missed: Vec<(u32, Missed)> =
            rows.and_then(|rows| rows.collect()).map_err(|e| err("read missed calls", p, e))?;
        missed.reverse();
        r.missed = missed;
        Ok(r)
    }

    /// Starts the writer thread; returns the queue (`capacity` events) the
    /// loop hands events to. The thread ends when every sender is dropped.
    /// With `keep`, records older than that are deleted at start and every
    /// hour.
    pub fn spawn_writer(
        self,
        capacity: usize,
        keep: Option<std::time::Duration>,
    ) -> io::Result<(Sender<Journal>, std::thread::JoinHandle<()>)> {
        let (tx, rx) = bounded(capacity);
        let handle =
            std::thread::Builder::new().name("anychat-records".into()).spawn(move || self.write_all(rx, keep))?;
        Ok((tx, handle))
    }

    /// Deletes the records of calls requested more than `keep` ago.
    pub fn prune(&self, keep: std::time::Duration) -> rusqlite::Result<usize> {
        let before = crate::ops::unix_ms_now().saturating_sub(keep.as_millis() as u64);
        self.conn.execute("DELETE FROM calls WHERE requested_ms < ?1", [before as i64])
    }

    fn write_all(mut self, rx: Receiver<Journal>, keep: Option<std::time::Duration>) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut next_prune = std::time::Instant::now();
        loop {
            if let Some(keep) = keep.filter(|_| std::time::Instant::now() >= next_prune) {
                match self.prune(keep) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(records = n, "old call records deleted"),
                    Err(e) => tracing::error!("{}", err("cannot delete old records", &self.path, e)),
                }
                next_prune = std::time::Instant::now() + PRUNE_EVERY;
            }
            // Blocks only when idle: under load the loop's sends find no
            // receiver waiting, so they wake nobody (no system call per record).
            let first = match rx.recv_timeout(PRUNE_EVERY) {
                Ok(e) => e,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            batch.push(first);
            std::thread::sleep(GATHER);
            loop {
                let drained = match rx.try_recv() {
                    Ok(e) => {
                        batch.push(e);
                        false
                    }
                    Err(_) => true,
                };
                if drained || batch.len() >= BATCH {
                    if !batch.is_empty() {
                        if let Err(e) = self.write(&batch) {
                            tracing::error!(events = batch.len(), "{}", err("cannot write", &self.path, e));
                        }
                        batch.clear();
                    }
                    if drained {
                        break;
                    }
                }
            }
        }
    }

    /// Writes events in one transaction.
    pub fn write(&mut self, events: &[Journal]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for e in events {
            match e {
                Journal::Call(r) => {
                    let mut st = tx.prepare_cached(
                        "INSERT OR REPLACE INTO calls (call_id, caller, callee, caller_name, callee_name,
                            caller_addr, callee_addr, flags, requested_ms, started_ms, ended_ms, outcome,
                            ended_by, code, room, missed)
                         VALUES (?1, ?2, ?3, ?4,
                            COALESCE(NULLIF(?5, ''), (SELECT CAST(name AS TEXT) FROM users WHERE id = ?3), ''),
                            ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                    )?;
                    st.execute(params![
                        r.call_id as i64,
                        r.caller,
                        r.callee,
                        r.caller_name,
                        r.callee_name,
                        r.caller_addr,
                        r.callee_addr,
                        r.flags,
                        r.requested_ms as i64,
                        r.started_ms.map(|t| t as i64),
                        r.ended_ms as i64,
                        r.outcome.name(),
                        r.ended_by.name(),
                        r.code,
                        r.room,
                        r.missed,
                    ])?;
                }
                Journal::UserId { name, id } => {
                    let mut st = tx.prepare_cached("INSERT OR REPLACE INTO users (name, id) VALUES (?1, ?2)")?;
                    st.execute(params![name, id])?;
                }
                Journal::MissedShown { call_ids, .. } => {
                    let now = crate::ops::unix_ms_now() as i64;
                    let mut st = tx.prepare_cached("UPDATE calls SET shown_ms = ?1 WHERE call_id = ?2")?;
                    for id in call_ids {
                        st.execute(params![now, *id as i64])?;
                    }
                }
                Journal::CallStarted { .. } | Journal::BusinessAnswer { .. } => {}
            }
        }
        tx.commit()
    }

    /// The records `f` picks, newest first.
    pub fn query(&self, f: &Filter) -> Result<Vec<Row>, String> {
        let mut sql = String::from(
            "SELECT call_id, caller, callee, caller_name, callee_name, caller_addr, callee_addr, flags,
                requested_ms, started_ms, ended_ms, outcome, ended_by, code, room, missed, shown_ms
             FROM calls WHERE 1 = 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        use rusqlite::types::Value;
        if let Some(u) = &f.user {
            let n = args.len() + 1;
            match u.parse::<u32>() {
                Ok(id) if f.missed => {
                    sql.push_str(&format!(" AND callee = ?{n}"));
                    args.push(Value::Integer(id as i64));
                }
                Ok(id) => {
                    sql.push_str(&format!(" AND (caller = ?{n} OR callee = ?{n})"));
                    args.push(Value::Integer(id as i64));
                }
                Err(_) if f.missed => {
                    sql.push_str(&format!(" AND callee_name = ?{n}"));
                    args.push(Value::Text(u.clone()));
                }
                Err(_) => {
                    sql.push_str(&format!(" AND (caller_name = ?{n} OR callee_name = ?{n})"));
                    args.push(Value::Text(u.clone()));
                }
            }
        }
        if let Some(t) = f.since_ms {
            sql.push_str(&format!(" AND requested_ms >= ?{}", args.len() + 1));
            args.push(Value::Integer(t as i64));
        }
        if let Some(t) = f.until_ms {
            sql.push_str(&format!(" AND requested_ms < ?{}", args.len() + 1));
            args.push(Value::Integer(t as i64));
        }
        if let Some(o) = f.outcome {
            sql.push_str(&format!(" AND outcome = ?{}", args.len() + 1));
            args.push(Value::Text(o.name().into()));
        }
        if f.missed {
            sql.push_str(" AND missed = 1");
        }
        sql.push_str(" ORDER BY call_id DESC");
        if f.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", f.limit));
        }
        let p = &self.path;
        let mut st = self.conn.prepare(&sql).map_err(|e| err("query", p, e))?;
        let rows = st.query_map(rusqlite::params_from_iter(args), |row| {
            let outcome: String = row.get(11)?;
            let by: String = row.get(12)?;
            Ok(Row {
                record: CallRecord {
                    call_id: row.get::<_, i64>(0)? as u64,
                    caller: row.get(1)?,
                    callee: row.get(2)?,
                    caller_name: row.get(3)?,
                    callee_name: row.get(4)?,
                    caller_addr: row.get(5)?,
                    callee_addr: row.get(6)?,
                    flags: row.get(7)?,
                    requested_ms: row.get::<_, i64>(8)? as u64,
                    started_ms: row.get::<_, Option<i64>>(9)?.map(|t| t as u64),
                    ended_ms: row.get::<_, i64>(10)? as u64,
                    outcome: Outcome::from_name(&outcome).unwrap_or(Outcome::Offline),
                    ended_by: EndedBy::from_name(&by).unwrap_or(EndedBy::Server),
                    code: row.get(13)?,
                    room: row.get(14)?,
                    missed: row.get(15)?,
                },
                shown_ms: row.get::<_, Option<i64>>(16)?.map(|t| t as u64),
            })
        });
        rows.and_then(|rows| rows.collect()).map_err(|e| err("query", p, e))
    }
}

/// The columns of the exports, in order.
pub const COLUMNS: [&str; 20] = [
    "call_id",
    "caller",
    "caller_name",
    "caller_addr",
    "callee",
    "callee_name",
    "callee_addr",
    "flags",
    "requested_ms",
    "started_ms",
    "ended_ms",
    "setup_ms",
    "duration_ms",
    "outcome",
    "ended_by",
    "code",
    "room",
    "missed",
    "shown_ms",
    "requested",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of milliseconds since the Unix epoch.
pub fn iso_time(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, ms % 1000)
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DD[THH:MM[:SS]]` (UTC), or
/// of a plain number of milliseconds.
pub fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    let bad = || format!("'{s}' is not a time: give YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or milliseconds");
    let (date, time) = s.trim_end_matches('Z').split_once(['T', ' ']).unwrap_or((s, "00:00:00"));
    let d: Vec<i64> = date.split('-').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let t: Vec<i64> = time.split(':').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let [y, m, day] = d[..] else { return Err(bad()) };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || t.len() < 2 || t.len() > 3 {
        return Err(bad());
    }
    let (hh, mm, ss) = (t[0], t[1], t.get(2).copied().unwrap_or(0));
    if !(0..24).contains(&hh) || !(0..60).contains(&mm) || !(0..=60).contains(&ss) {
        return Err(bad());
    }
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1000).map_err(|_| bad())
}

fn fields(r: &Row) -> [String; 20] {
    let c = &r.record;
    [
        c.call_id.to_string(),
        c.caller.to_string(),
        c.caller_name.clone(),
        c.caller_addr.clone(),
        c.callee.to_string(),
        c.callee_name.clone(),
        c.callee_addr.clone(),
        c.flags.to_string(),
        c.requested_ms.to_string(),
        opt(c.started_ms),
        c.ended_ms.to_string(),
        opt(c.setup_ms()),
        c.duration_ms().to_string(),
        c.outcome.name().to_string(),
        c.ended_by.name().to_string(),
        c.code.to_string(),
        opt(c.room),
        (c.missed as u8).to_string(),
        opt(r.shown_ms),
        iso_time(c.requested_ms),
    ]
}

/// Writes rows as CSV with a header line.
pub fn write_csv(rows: &[Row], w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "{}", COLUMNS.join(","))?;
    for r in rows {
        let f: Vec<String> = fields(r).iter().map(|s| csv_field(s)).collect();
        writeln!(w, "{}", f.join(","))?;
    }
    Ok(())
}

/// Writes rows as a JSON array of objects (numbers as numbers, absent as null).
pub fn write_json(rows: &[Row], w: &mut impl Write) -> io::Result<()> {
    const TEXT: [bool; 20] = [
        false, false, true, true, false, true, true, false, false, false, false, false, false, true, true, false,
        false, false, false, true,
    ];
    writeln!(w, "[")?;
    for (i, r) in rows.iter().enumerate() {
        let mut o = String::from("  {");
        for (k, ((name, v), text)) in COLUMNS.iter().zip(fields(r)).zip(TEXT).enumerate() {
            if k > 0 {
                o.push_str(", ");
            }
            let v = if text {
                json_str(&v)
            } else if v.is_empty() {
                "null".into()
            } else {
                v
            };
            o.push_str(&format!("\"{name}\": {v}"));
        }
        o.push('}');
        writeln!(w, "{o}{}", if i + 1 < rows.len() { "," } else { "" })?;
    }
    writeln!(w, "]")
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, outcome: Outcome, missed: bool) -> CallRecord {
        CallRecord {
            call_id: id,
            caller: 1,
            callee: 2,
            caller_name: "alice".into(),
            callee_name: String::new(),
            caller_addr: "127.0.0.1".into(),
            callee_addr: String::new(),
            flags: 3,
            requested_ms: 1_000 * id,
            started_ms: None,
            ended_ms: 1_000 * id + 5,
            outcome,
            ended_by: EndedBy::Server,
            code: 100102,
            room: None,
            missed,
        }
    }

    #[test]
    fn records_round_trip_restore_and_filters() {
        let dir = std::env::temp_dir().join(format!("anychat-records-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("r.sqlite3");
        let mut s = Store::open(&path).unwrap();
        s.write(&[
            Journal::UserId { name: b"alice".to_vec(), id: 1 },
            Journal::UserId { name: b"bob".to_vec(), id: 2 },
            Journal::Call(Box::new(record(7, Outcome::Offline, true))),
            Journal::Call(Box::new(record(8, Outcome::Refused, false))),
        ])
        .unwrap();
        let r = s.restore().unwrap();
        assert_eq!(r.next_call_id, 9);
        assert_eq!(r.ids_by_name.len(), 2);
        assert_eq!(r.missed.len(), 1);
        assert_eq!((r.missed[0].0, r.missed[0].1.call_id), (2, 7));
        let all = s.query(&Filter::default()).unwrap();
        assert_eq!(all.iter().map(|r| r.record.call_id).collect::<Vec<_>>(), vec![8, 7]);
        assert_eq!(all[1].record.callee_name, "bob", "an offline callee's name comes from the users table");
        let missed = s.query(&Filter { user: Some("bob".into()), missed: true, ..Filter::default() }).unwrap();
        assert_eq!(missed.len(), 1);
        let refused = s.query(&Filter { outcome: Some(Outcome::Refused), ..Filter::default() }).unwrap();
        assert_eq!(refused.len(), 1);
        let since = s.query(&Filter { since_ms: Some(8_000), ..Filter::default() }).unwrap();
        assert_eq!(since.len(), 1);
        s.write(&[Journal::MissedShown { user_id: 2, call_ids: vec![7] }]).unwrap();
        assert!(s.restore().unwrap().missed.is_empty(), "shown missed calls are not restored");
        let mut csv = Vec::new();
        write_csv(&all, &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with("call_id,caller,caller_name"), "{csv}");
        assert_eq!(csv.lines().count(), 3);
        let mut json = Vec::new();
        write_json(&all, &mut json).unwrap();
        let json = String::from_utf8(json).unwrap();
        assert!(json.contains("\"outcome\": \"refused\"") && json.contains("\"started_ms\": null"), "{json}");
        // Records from 1970 are past any retention.
        assert_eq!(s.prune(std::time::Duration::from_secs(86_400)).unwrap(), 2);
        assert!(s.query(&Filter::default()).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn times_parse_and_print() {
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_time("2024-02-29T12:30").unwrap(), 1_709_209_800_000);
        assert_eq!(iso_time(1_709_209_800_123), "2024-02-29T12:30:00.123Z");
        assert_eq!(parse_time("42").unwrap(), 42);
        assert!(parse_time("2024-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}
