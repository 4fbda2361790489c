//! The call records for `anychat-server`: opening them at start (the
//! writer thread, what the core gets back) and the `records` subcommand,
//! which lists and exports them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anychat::core::journal::{Journal, Outcome, Restored};
use anychat::records::{self, Filter, Store};
use clap::Parser;
use crossbeam_channel::Sender;

/// The records a running server keeps.
pub struct ServerRecords {
    pub path: PathBuf,
    pub restored: Restored,
    pub queue: Sender<Journal>,
    pub writer: std::thread::JoinHandle<()>,
}

/// The records file: `--records` (`off`: none), else in the state folder.
fn records_path(flag: &Option<PathBuf>, state_dir: &Option<PathBuf>) -> Option<PathBuf> {
    match flag {
        Some(p) if p.as_os_str() == "off" => None,
        Some(p) => Some(p.clone()),
        None => {
            state_dir.clone().or_else(anychat::net::secret::default_state_dir).map(|d| d.join(records::RECORDS_FILE))
        }
    }
}

/// Opens the records for a server starting: reads back ids, call ids and
/// missed calls, starts the writer.
/// `keep_days` > 0: records older than that are deleted (at start, then hourly).
pub fn open_for_server(
    flag: &Option<PathBuf>,
    state_dir: &Option<PathBuf>,
    keep_days: u32,
) -> Result<Option<ServerRecords>, String> {
    let Some(path) = records_path(flag, state_dir) else { return Ok(None) };
    let store = Store::open(&path)?;
    let restored = store.restore()?;
    let keep = (keep_days > 0).then(|| std::time::Duration::from_secs(keep_days as u64 * 86_400));
    let (queue, writer) = store
        .spawn_writer(anychat::ops::RECORDS_QUEUE, keep)
        .map_err(|e| format!("cannot start the records writer: {e}"))?;
    Ok(Some(ServerRecords { path, restored, queue, writer }))
}

/// `anychat-server records`: list or export call records.
#[derive(Parser, Debug)]
#[command(
    name = "anychat-server records",
    bin_name = "anychat-server records",
    about = "List or export the call records (newest first)",
    after_help = "Times are UTC: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS], or milliseconds since 1970.\n\
                  Outcomes: answered, refused, busy, offline, timeout, cancelled, lost, vetoed, unavailable."
)]
struct RecordsArgs {
    /// The records file (default: records.sqlite3 in the state folder).
    #[arg(long)]
    records: Option<PathBuf>,
    /// The state folder (default: $ANYCHAT_STATE_DIR, $XDG_STATE_HOME/anychat
    /// or ~/.local/state/anychat).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Only calls of this user (name or id), as caller or callee.
    #[arg(long)]
    user: Option<String>,
    /// Only calls requested at or after this time.
    #[arg(long, value_parser = records::parse_time)]
    since: Option<u64>,
    /// Only calls requested before this time.
    #[arg(long, value_parser = records::parse_time)]
    until: Option<u64>,
    /// Only calls with this outcome.
    #[arg(long, value_parser = parse_outcome)]
    outcome: Option<Outcome>,
    /// Only calls the callee missed (with --user: that user's missed calls).
    #[arg(long)]
    missed: bool,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Output format: table, csv or json.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
    format: String,
}

fn parse_outcome(s: &str) -> Result<Outcome, String> {
    Outcome::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Outcome::ALL.iter().map(|o| o.name()).collect();
        format!("'{s}' is not an outcome ({})", names.join(", "))
    })
}

pub fn main(args: impl Iterator<Item = OsString>) -> ExitCode {
    let a = RecordsArgs::parse_from(args);
    let state_dir = a.state_dir.clone().or_else(|| std::env::var_os("ANYCHAT_STATE_DIR").map(PathBuf::from));
    let Some(path) = records_path(&a.records, &state_dir) else {
        eprintln!("anychat-server records: no records file: give --records FILE or --state-dir");
        return ExitCode::from(2);
    };
    match run(&a, &path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anychat-server records: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(a: &RecordsArgs, path: &Path) -> Result<(), String> {
    let store = Store::open_existing(path)?;
    let filter = Filter {
        user: a.user.clone(),
        since_ms: a.since,
        until_ms: a.until,
        outcome: a.outcome,
        missed: a.missed,
        limit: a.limit,
    };
    let rows = store.query(&filter)?;
    let mut out = std::io::stdout().lock();
    let written = match a.format.as_str() {
        "csv" => records::write_csv(&rows, &mut out),
        "json" => records::write_json(&rows, &mut out),
        _ => {
            use std::io::Write;
            let mut r = writeln!(
                out,
                "{:>8}  {:<24}  {:<16}  {:<16}  {:<11}  {:<8}  {:>9}  {:>10}",
                "call", "requested (UTC)", "caller", "callee", "outcome", "ended by", "setup ms", "talk ms"
            );
            for row in &rows {
                let c = &row.record;
                let talk = if c.started_ms.is_some() { c.duration_ms().to_string() } else { String::new() };
                let missed = if c.missed {
                    if row.shown_ms.is_some() {
                        " missed, shown"
                    } else {
                        " missed"
                    }
                } else {
                    ""
                };
                r = r.and_then(|()| {
                    writeln!(
                        out,
                        "{:>8}  {:<24}  {:<16}  {:<16}  {:<11}  {:<8}  {:>9}  {:>10}{missed}",
                        c.call_id,
                        records::iso_time(c.requested_ms),
                        format!("{} ({})", c.caller_name, c.caller),
                        format!("{} ({})", c.callee_name, c.callee),
                        c.outcome.name(),
                        c.ended_by.name(),
                        c.setup_ms().map(|s| s.to_string()).unwrap_or_default(),
                        talk
                    )
                });
            }
            r
        }
    };
    written.map_err(|e| format!("cannot write: {e}"))
}
