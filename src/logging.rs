//! The libraries' own log file: what `BRAC_ActiveCallLog(TRUE)` and the
//! `ANYCHAT_LOG_*` environment variables turn on.
//!
//! The library logs through `tracing`: each exported function's call and
//! result (target `anychat::call`, written by the FFI boundary), each event
//! handed to the app's callbacks (`anychat::event`), and what the engines
//! and threads report (link lost, TLS failures, dropped frames…). A Rust
//! program that installs its own `tracing` subscriber (the CLIs do) gets
//! those lines there. For a C program, which cannot, this module installs
//! one — once per process, as the global dispatcher, and only if the
//! program has none — when the log is first turned on:
//!
//! - **on**: `BRAC_ActiveCallLog(TRUE)`, or, for apps that cannot change,
//!   `ANYCHAT_LOG_FILE=PATH` or `ANYCHAT_LOG_STDERR=1` in the environment
//!   (read at the first call of any exported function). Off by default.
//! - **where**: `ANYCHAT_LOG_FILE`, else `AnyChatCore.log` (or
//!   `AnyChatServerSDK.log` when the first function called is a `BRAS_`
//!   one) in the directory of the executable, else, if it cannot be created
//!   there, in the working directory. Lines are appended. With
//!   `ANYCHAT_LOG_STDERR=1` they go to standard error too.
//! - **what**: `ANYCHAT_LOG` chooses the level, as a list of `target=level`
//!   directives (`info` by default; `debug`, `warn`, `info,anychat::call=off`…).
//!   At `info`: every call (but the per-frame media input functions, at
//!   `trace`) with its result, every notification and video-call event
//!   delivered, and the engines' warnings; `debug` adds the engines' detail.
//! - **off**: `BRAC_ActiveCallLog(FALSE)` stops writing: what was logged
//!   before it is written out, then the file is closed. When the environment
//!   turned the log on, it stays on (the operator's choice wins over the
//!   app's).
//!
//! **Never blocks.** Formatting happens on the thread that logs, then the
//! line goes into a bounded queue ([`LINE_QUEUE`] lines of at most
//! [`MAX_LINE`] bytes) with a `try_send`: when the queue is full the line
//! is dropped and counted, never waited for, so the network thread never
//! waits for a disk. A thread of its own (`anychat-log`) writes the queue
//! to the file, and notes how many lines were dropped when it catches up.
//! `BRAC_Release` and `BRAS_Release` wait (at most [`SYNC_WAIT`]) for what
//! was queued before them to be written, so that an app that exits after
//! releasing loses nothing.
//!
//! While off, the installed filter tells `tracing` that nothing is wanted
//! (its callsite cache is rebuilt at each switch), so a log turned off
//! costs what no subscriber costs.
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use parking_lot::Mutex;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::Layer;

/// The log file of the client library (and of a process whose first call
/// is a `BRAC_` function), as the vendor's SDK names it.
pub const CLIENT_FILE_NAME: &str = "AnyChatCore.log";
/// The log file of a business server (a process whose first call is a
/// `BRAS_` function).
pub const SERVER_FILE_NAME: &str = "AnyChatServerSDK.log";
/// Where the log goes (a path): turns it on from the start.
pub const ENV_FILE: &str = "ANYCHAT_LOG_FILE";
/// `1`: the lines go to standard error too; turns the log on from the start.
pub const ENV_STDERR: &str = "ANYCHAT_LOG_STDERR";
/// The level: `target=level` directives, comma-separated (`info` if unset).
pub const ENV_FILTER: &str = "ANYCHAT_LOG";
/// The level when [`ENV_FILTER`] is unset or cannot be read.
pub const DEFAULT_FILTER: &str = "info";
/// The target of the lines the FFI boundary writes for each call.
pub const CALL_TARGET: &str = "anychat::call";
/// The target of the lines written for each event delivered to a callback.
pub const EVENT_TARGET: &str = "anychat::event";
/// Lines waiting for the writer thread; beyond, new lines are dropped.
pub const LINE_QUEUE: usize = 1024;
/// The longest line kept, in bytes; longer ones are cut.
pub const MAX_LINE: usize = 4096;
/// The longest wait for the writer thread (turning off, releasing).
pub const SYNC_WAIT: Duration = Duration::from_secs(1);

/// Whether the log is on (what the installed filter reads).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether the environment turned it on (then it stays on).
static FORCED: AtomicBool = AtomicBool::new(false);
/// The pipe to the writer thread: `None` when the program has a subscriber
/// of its own (or `tracing` refused ours).
static PIPE: OnceLock<Option<Pipe>> = OnceLock::new();
/// Serialises switching on and off.
static SWITCH: Mutex<()> = Mutex::new(());

/// Why the log could not be turned on.
#[derive(Debug)]
pub struct LogError(pub String);

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Turns the log on from the environment, once per process: when
/// [`ENV_FILE`] or [`ENV_STDERR`] is set (the first exported function
/// called runs this; `function` is its name, which picks the default file
/// name).
pub fn init_from_env(function: &str) {
    // A flag rather than a `Once`: a panic in here must not poison every
    // later call.
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.load(Ordering::Relaxed) || DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let default = if function.starts_with("BRAS_") { SERVER_FILE_NAME } else { CLIENT_FILE_NAME };
    let _ = DEFAULT_NAME.set(default);
    let file = std::env::var_os(ENV_FILE).filter(|f| !f.is_empty());
    if file.is_some() || stderr_asked() {
        FORCED.store(true, Ordering::SeqCst);
        if let Err(e) = set_active(true) {
            eprintln!("anychat: {e}");
        }
    }
}

/// The default file name, chosen by the first function called.
static DEFAULT_NAME: OnceLock<&'static str> = OnceLock::new();

fn stderr_asked() -> bool {
    std::env::var(ENV_STDERR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `BRAC_ActiveCallLog`: turns the log on (opening the file) or off
/// (writing out what was queued, then closing it; ignored when the
/// environment turned it on). `Err` when on was asked and neither a file
/// could be opened nor standard error asked for.
///
/// A program with a `tracing` subscriber of its own: `Ok`, and its
/// subscriber gets the lines (no file is written).
pub fn set_active(on: bool) -> Result<(), LogError> {
    let _guard = SWITCH.lock();
    let Some(pipe) = PIPE.get_or_init(install) else {
        return Ok(());
    };
    if !on {
        if FORCED.load(Ordering::SeqCst) {
            return Ok(());
        }
        if ACTIVE.swap(false, Ordering::SeqCst) {
            tracing::callsite::rebuild_interest_cache();
            pipe.sync(SYNC_WAIT);
            let _ = pipe.tx.send_timeout(Msg::Close, SYNC_WAIT);
        }
        return Ok(());
    }
    if ACTIVE.load(Ordering::SeqCst) {
        return Ok(());
    }
    let stderr = stderr_asked();
    let file = match open_file() {
        Ok(file) => Some(file),
        Err(e) if stderr => {
            eprintln!("anychat: {e}; logging to standard error only");
            None
        }
        Err(e) => return Err(e),
    };
    let sink = Sink { file: file.map(|f| Box::new(f) as Box<dyn Write + Send>), stderr };
    if pipe.tx.send_timeout(Msg::Open(sink), SYNC_WAIT).is_err() {
        return Err(LogError("the log writer does not answer".into()));
    }
    ACTIVE.store(true, Ordering::SeqCst);
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}

/// Whether the log is on (and this module's subscriber installed).
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::SeqCst) && PIPE.get().is_some_and(Option::is_some)
}

/// Waits (at most [`SYNC_WAIT`]) until what was logged before is written:
/// `BRAC_Release` and `BRAS_Release` call it. Nothing to do when the log
/// was never on.
pub fn sync() {
    if let Some(Some(pipe)) = PIPE.get() {
        if ACTIVE.load(Ordering::SeqCst) {
            pipe.sync(SYNC_WAIT);
        }
    }
}

/// The file the log goes to: [`ENV_FILE`], else the default name beside
/// the executable, else in the working directory.
fn open_file() -> Result<File, LogError> {
    let open = |p: &PathBuf| OpenOptions::new().create(true).append(true).open(p);
    if let Some(path) = std::env::var_os(ENV_FILE).filter(|f| !f.is_empty()).map(PathBuf::from) {
        return open(&path).map_err(|e| LogError(format!("cannot open the log file {}: {e}", path.display())));
    }
    let name = DEFAULT_NAME.get().copied().unwrap_or(CLIENT_FILE_NAME);
    let beside_exe = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join(name)));
    let mut tried = Vec::new();
    for path in beside_exe.into_iter().chain([PathBuf::from(name)]) {
        match open(&path) {
            Ok(f) => return Ok(f),
            Err(e) => tried.push(format!("{}: {e}", path.display())),
        }
    }
    Err(LogError(format!("cannot open a log file ({})", tried.join("; "))))
}

/// The level filter of [`ENV_FILTER`], and why it was not used if it was
/// not.
fn filter_from_env() -> (Targets, Option<String>) {
    let Ok(text) = std::env::var(ENV_FILTER) else { return (DEFAULT_FILTER.parse().unwrap_or_default(), None) };
    match text.parse::<Targets>() {
        Ok(t) => (t, None),
        Err(e) => (
            DEFAULT_FILTER.parse().unwrap_or_default(),
            Some(format!(
                "{ENV_FILTER}={text:?} is not a list of target=level directives ({e}): {DEFAULT_FILTER} used"
            )),
        ),
    }
}

/// Installs the subscriber (a formatting layer writing into the pipe,
/// behind the on/off filter) as the global dispatcher and starts the
/// writer thread; `None` when the program already has a dispatcher.
fn install() -> Option<Pipe> {
    if tracing::dispatcher::has_been_set() {
        return None;
    }
    let (tx, rx) = bounded(LINE_QUEUE);
    let pipe = Pipe { tx, dropped: Arc::new(AtomicU64::new(0)) };
    let (targets, bad_filter) = filter_from_env();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_thread_names(true)
        .with_writer(pipe.clone())
        .with_filter(Switch { targets });
    let subscriber = tracing_subscriber::registry().with(layer);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return None;
    }
    let dropped = pipe.dropped.clone();
    if let Err(e) = std::thread::Builder::new().name("anychat-log".into()).spawn(move || write_loop(rx, dropped)) {
        // Lines then fill the queue and are dropped: the app goes on.
        eprintln!("anychat: cannot start the log writer thread: {e}");
    }
    if let Some(why) = bad_filter {
        // Written once the log is on (the message waits in the queue).
        let _ = pipe.tx.try_send(Msg::Line(format!("anychat: {why}\n").into_bytes()));
    }
    Some(pipe)
}

/// The on/off switch and the level, as a per-layer filter. Off, every
/// callsite is uninteresting (no cost per event); the interest cache is
/// rebuilt at each switch.
struct Switch {
    targets: Targets,
}

impl<S> Filter<S> for Switch {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        ACTIVE.load(Ordering::Relaxed) && self.targets.would_enable(meta.target(), meta.level())
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if ACTIVE.load(Ordering::Relaxed) && self.targets.would_enable(meta.target(), meta.level()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        if ACTIVE.load(Ordering::Relaxed) {
            <Targets as Filter<S>>::max_level_hint(&self.targets)
        } else {
            Some(LevelFilter::OFF)
        }
    }
}

// ----- the pipe and its writer thread ------------------------------------------

/// Where the writer thread writes.
struct Sink {
    file: Option<Box<dyn Write + Send>>,
    stderr: bool,
}

/// What the writer thread is sent.
enum Msg {
    /// One formatted line (with its newline).
    Line(Vec<u8>),
    /// Write from now on to this sink (the log was turned on).
    Open(Sink),
    /// Close the sink (the log was turned off).
    Close,
    /// Answer once everything sent before is written.
    Sync(Sender<()>),
}

/// The sending half: the `MakeWriter` of the formatting layer. Cloned into
/// the layer; every line is sent with `try_send`, never waited for.
#[derive(Clone)]
struct Pipe {
    tx: Sender<Msg>,
    /// Lines dropped because the queue was full, not yet reported.
    dropped: Arc<AtomicU64>,
}

impl Pipe {
    /// Sends a line; a full queue drops it (counted).
    fn send_line(&self, line: Vec<u8>) {
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Waits, at most `wait`, until the writer has written what was sent
    /// before; false on time-out.
    fn sync(&self, wait: Duration) -> bool {
        let (ack, done) = bounded(1);
        self.tx.send_timeout(Msg::Sync(ack), wait).is_ok() && done.recv_timeout(wait).is_ok()
    }
}

impl<'a> MakeWriter<'a> for Pipe {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter { pipe: self, buf: Vec::new(), cut: false }
    }
}

/// Collects one event's formatted line (the layer writes it in one
/// `write_all`), cut to [`MAX_LINE`] bytes, and sends it when dropped.
struct LineWriter<'a> {
    pipe: &'a Pipe,
    buf: Vec<u8>,
    cut: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = MAX_LINE.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
        self.cut |= data.len() > room;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut line = std::mem::take(&mut self.buf);
        if self.cut {
            // " […]" and the newline fit in MAX_LINE.
            line.truncate(MAX_LINE - 7);
            line.extend_from_slice(" [\u{2026}]".as_bytes());
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        self.pipe.send_line(line);
    }
}

/// The writer thread: writes each line to the sink, flushes when the queue
/// is empty, reports dropped lines, answers `Sync`. Ends when every sender
/// is gone (never, for the installed subscriber).
fn write_loop(rx: Receiver<Msg>, dropped: Arc<AtomicU64>) {
    let mut out = Output::default();
    while let Ok(msg) = rx.recv() {
        let mut acks = Vec::new();
        let mut next = Some(msg);
        // Everything waiting, then one flush.
        while let Some(msg) = next {
            match msg {
                Msg::Line(line) => out.write(&line),
                Msg::Open(sink) => out.open(sink),
                Msg::Close => out.close(),
                Msg::Sync(ack) => acks.push(ack),
            }
            next = rx.try_recv().ok();
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            out.write(format!("anychat: {lost} log line(s) dropped: the log writer fell behind\n").as_bytes());
        }
        out.flush();
        for ack in acks {
            let _ = ack.send(());
        }
    }
    out.close();
}

/// The writer thread's sink, with the first write error reported once on
/// standard error.
#[derive(Default)]
struct Output {
    file: Option<BufWriter<Box<dyn Write + Send>>>,
    stderr: bool,
    failed: bool,
}

impl Output {
    fn open(&mut self, sink: Sink) {
        self.close();
        self.file = sink.file.map(|f| BufWriter::with_capacity(64 * 1024, f));
        self.stderr = sink.stderr;
        self.failed = false;
    }

    fn write(&mut self, line: &[u8]) {
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(line) {
                self.report(&e);
            }
        }
        if self.stderr {
            let _ = io::stderr().write_all(line);
        }
    }

    fn flush(&mut self) {
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.flush() {
                self.report(&e);
            }
        }
    }

    fn close(&mut self) {
        self.flush();
        self.file = None;
        self.stderr = false;
    }

    fn report(&mut self, e: &io::Error) {
        if !self.failed {
            self.failed = true;
            eprintln!("anychat: cannot write the log file: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the tests read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn text(s: &Shared) -> String {
        String::from_utf8_lossy(&s.0.lock()).into_owned()
    }

    fn pipe(capacity: usize) -> (Pipe, Receiver<Msg>) {
        let (tx, rx) = bounded(capacity);
        (Pipe { tx, dropped: Arc::new(AtomicU64::new(0)) }, rx)
    }

    fn write_line(pipe: &Pipe, line: &str) {
        let mut w = pipe.make_writer();
        w.write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn a_full_queue_drops_lines_without_waiting_and_the_writer_says_so() {
        let (pipe, rx) = pipe(4);
        let sink = Shared::default();
        pipe.tx.send(Msg::Open(Sink { file: Some(Box::new(sink.clone())), stderr: false })).unwrap();
        // Nobody reads yet: 3 lines fit behind the Open, 97 are dropped, at once.
        let t = std::time::Instant::now();
        for i in 0..100 {
            write_line(&pipe, &format!("line {i}\n"));
        }
        assert!(t.elapsed() < Duration::from_secs(1), "writing into a full queue waited");
        assert_eq!(pipe.dropped.load(Ordering::Relaxed), 97);
        // The writer starts: the 3 lines, then the count.
        let dropped = pipe.dropped.clone();
        let writer = std::thread::spawn(move || write_loop(rx, dropped));
        assert!(pipe.sync(SYNC_WAIT));
        assert_eq!(
            text(&sink),
            "line 0\nline 1\nline 2\nanychat: 97 log line(s) dropped: the log writer fell behind\n"
        );
        assert_eq!(pipe.dropped.load(Ordering::Relaxed), 0, "reported once");
        write_line(&pipe, "next\n");
        assert!(pipe.sync(SYNC_WAIT));
        assert!(text(&sink).ends_with("behind\nnext\n"), "{}", text(&sink));
        // Closed: lines go nowhere.
        pipe.tx.send(Msg::Close).unwrap();
        write_line(&pipe, "unseen\n");
        assert!(pipe.sync(SYNC_WAIT));
        assert!(!text(&sink).contains("unseen"));
        // The thread ends when the last sender goes.
        drop(pipe);
        writer.join().unwrap();
    }

    #[test]
    fn long_lines_are_cut_and_every_line_ends_with_a_newline() {
        let (pipe, rx) = pipe(8);
        write_line(&pipe, &"x".repeat(3 * MAX_LINE));
        write_line(&pipe, "no newline");
        let Ok(Msg::Line(long)) = rx.try_recv() else { panic!("a line") };
        assert!(long.len() == MAX_LINE && long.ends_with(" [\u{2026}]\n".as_bytes()), "{} bytes", long.len());
        let Ok(Msg::Line(short)) = rx.try_recv() else { panic!("a line") };
        assert_eq!(short, b"no newline\n");
        // A writer that wrote nothing sends nothing.
        drop(pipe.make_writer());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn the_switch_filter_follows_the_switch_and_the_level() {
        let targets: Targets = "info,anychat::call=off,noisy=debug".parse().unwrap();
        let switch = Switch { targets };
        let hint = |s: &Switch| <Switch as Filter<tracing_subscriber::Registry>>::max_level_hint(s);
        assert_eq!(
            hint(&switch),
            if ACTIVE.load(Ordering::SeqCst) { Some(LevelFilter::DEBUG) } else { Some(LevelFilter::OFF) }
        );
        assert!(switch.targets.would_enable("anychat::client", &tracing::Level::INFO));
        assert!(!switch.targets.would_enable("anychat::call", &tracing::Level::ERROR));
        assert!(!switch.targets.would_enable("anychat::client", &tracing::Level::DEBUG));
        assert!(switch.targets.would_enable("noisy", &tracing::Level::DEBUG));
    }
}
