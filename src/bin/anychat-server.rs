//! `anychat-server`: the core server. With no arguments it listens on
//! `0.0.0.0:8906`. Settings come from flags, `ANYCHAT_*` environment
//! variables and a TOML file (see `anychat_server::config`). SIGTERM and
//! SIGINT drain it (no more logins nor calls; the calls in progress end at
//! `--drain-timeout`), a second one ends the calls at once; SIGHUP reloads
//! what can change at run time.
//! `anychat-server records …` lists and exports the call records instead
//! (see `anychat_server/records_cmd.rs`).

mod anychat_server;

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anychat::core::limits::{RateAction, RateLimits};
use anychat::core::CoreConfig;
use anychat::net::server::{raise_fd_limit, Control, ControlHandle, Server, ServerConfig};
use anychat_server::config::{self, LoadError, Loaded};
use anychat_server::logs;
use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The configuration file read when no other is named and it exists.
const DEFAULT_CONFIG: &str = "/etc/anychat/anychat-server.toml";

/// The version with the commit it was built from (`build.rs`).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("ANYCHAT_GIT_COMMIT"), ")");

/// The settings a SIGHUP changes in the running server; the others (the
/// listeners, TLS, the state folder, the log format) need a restart.
const RUNTIME: &[&str] = &[
    "log-level",
    "ring-timeout",
    "keepalive-timeout",
    "login-timeout",
    "business-timeout",
    "business-secret",
    "require-business",
    "rate",
    "rate-action",
    "no-rate-limits",
    "max-output",
    "slow-reader-timeout",
    "max-media",
    "max-connections",
    "max-connections-per-ip",
    "drain-timeout",
];

/// The anychat-rs core server: users, calls and rooms for BRAC_* clients.
#[derive(Parser, Debug)]
#[command(
    name = "anychat-server",
    version = VERSION,
    about = "anychat-rs core server: users, calls and rooms for BRAC_* clients",
    after_help = "`anychat-server records --help`: list and export the call records."
)]
struct Args {
    /// Configuration file (TOML; every flag is a key). Default:
    /// /etc/anychat/anychat-server.toml when it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print every setting (as a configuration file, with where each value
    /// came from) and exit.
    #[arg(long)]
    print_config: bool,
    /// Address and port clients connect to.
    #[arg(long, default_value = "0.0.0.0:8906")]
    listen: SocketAddr,
    /// Address and port the business server (BRAS_* library) connects to;
    /// `off` disables the business listener.
    #[arg(long, default_value = "127.0.0.1:8907", value_parser = parse_business_listen)]
    business_listen: BusinessListen,
    /// Shared secret a business server must present (else read from the
    /// environment variable ANYCHAT_BUSINESS_SECRET; else generated at the
    /// first start into the state folder, where a business server on this
    /// machine finds it).
    #[arg(long)]
    business_secret: Option<String>,
    /// Folder for the generated business secret (default: $ANYCHAT_STATE_DIR,
    /// $XDG_STATE_HOME/anychat or ~/.local/state/anychat).
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
    /// Seconds the business server may take to answer a question (call,
    /// login, room) before the asker gets 207.
    #[arg(long, default_value_t = 5.0, value_parser = parse_secs)]
    business_timeout: f64,
    /// Logins and calls fail with 206 (GV_ERR_SERVERSDK_FAIL) while no
    /// business server is connected.
    #[arg(long)]
    require_business: bool,
    /// Seconds a call may ring before both parties get REPLY(100105).
    #[arg(long, default_value_t = 60.0, value_parser = parse_secs)]
    ring_timeout: f64,
    /// Seconds of silence after which a connection counts as lost.
    #[arg(long, default_value_t = 15.0, value_parser = parse_secs)]
    keepalive_timeout: f64,
    /// Log level: off, error, warn, info, debug or trace, or a list of
    /// TARGET=LEVEL (e.g. `info,anychat::core=debug`). Without it (flag,
    /// environment or file), RUST_LOG is used if set.
    #[arg(long, default_value = "info", value_parser = logs::check_filter)]
    log_level: String,
    /// Log lines as human text or as JSON objects.
    #[arg(long, value_enum, default_value = "text")]
    log_format: logs::Format,
    /// Seconds the calls in progress may go on after SIGTERM/SIGINT (no new
    /// logins nor calls meanwhile) before they end with FINISH(104).
    #[arg(long, default_value_t = 30.0, value_parser = parse_secs_or_zero)]
    drain_timeout: f64,
    /// Unwritten output bytes above which a receiver's bulk messages (text,
    /// buffers) are dropped, and it is disconnected if it stays above for
    /// --slow-reader-timeout.
    #[arg(long, default_value_t = 1024 * 1024, value_parser = parse_positive)]
    max_output: usize,
    /// Seconds a receiver may stay above --max-output before it is
    /// disconnected (it stopped reading).
    #[arg(long, default_value_t = 10.0, value_parser = parse_secs)]
    slow_reader_timeout: f64,
    /// Seconds a connection has to log in.
    #[arg(long, default_value_t = 30.0, value_parser = parse_secs)]
    login_timeout: f64,
    /// Connections at most (0: the descriptor limit, raised to its hard
    /// limit at start, less 64).
    #[arg(long, default_value_t = 0)]
    max_connections: usize,
    /// Connections at most from one source address (0: no limit).
    #[arg(long, default_value_t = 4096)]
    max_connections_per_ip: usize,
    /// A per-connection rate limit CLASS=MESSAGES[,BYTES] per second (0: no
    /// limit; bursts of two seconds' worth), repeatable. Classes: login,
    /// control, call, room, text, buffer, device, media.
    #[arg(long = "rate", value_name = "CLASS=MSGS[,BYTES]", value_parser = check_rate)]
    rates: Vec<String>,
    /// What happens to a sender over its rate: throttle (read it slower) or
    /// disconnect.
    #[arg(long, default_value = "throttle", value_parser = ["throttle", "disconnect"])]
    rate_action: String,
    /// No rate limits at all (for comparisons).
    #[arg(long)]
    no_rate_limits: bool,
    /// Address and port clients connect to over TLS (needs --tls-cert and
    /// --tls-key); the plain listener stays.
    #[arg(long)]
    tls_listen: Option<SocketAddr>,
    /// The server's certificate chain (PEM) for TLS.
    #[arg(long)]
    tls_cert: Option<std::path::PathBuf>,
    /// The server's private key (PEM) for TLS.
    #[arg(long)]
    tls_key: Option<std::path::PathBuf>,
    /// The business listener speaks TLS only (needs --tls-cert and --tls-key).
    #[arg(long)]
    business_tls: bool,
    /// With --business-tls: business servers must present a client
    /// certificate issued by this CA (PEM).
    #[arg(long)]
    business_client_ca: Option<std::path::PathBuf>,
    /// Media bytes queued for a slow receiver before its video frames are dropped.
    #[arg(long, default_value_t = 256 * 1024)]
    max_media: usize,
    /// Address and port of the admin listener (Prometheus /metrics, the
    /// status page /, /api/status), e.g. 127.0.0.1:8908; off when not given.
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// The call records file (SQLite), or `off` (default: records.sqlite3
    /// in the state folder).
    #[arg(long)]
    records: Option<std::path::PathBuf>,
    /// Call records older than this many days are deleted (0: kept for ever).
    #[arg(long, default_value_t = 0)]
    records_keep_days: u32,
    /// Form a cluster with the other core servers using this engine
    /// (redis://host:port[/db]); off when not given (docs/CLUSTER.md).
    #[arg(long, value_name = "URL")]
    cluster_engine: Option<String>,
    /// This server's name in the cluster, unique among its servers
    /// (letters, digits, '-', '_', '.'; default: the host name and port).
    #[arg(long, value_name = "NAME", value_parser = parse_cluster_name)]
    cluster_name: Option<String>,
    /// The address other servers open media links to (this server's client
    /// listener as they reach it; default: the address --listen bound,
    /// which is right on one machine; with servers on several machines and
    /// --listen 0.0.0.0, give this machine's address).
    #[arg(long, value_name = "ADDR")]
    cluster_advertise: Option<String>,
    /// Seconds this server's lease in the engine lasts unless renewed: the
    /// calls of a server that dies end within it and a third of it more.
    #[arg(long, default_value_t = 6.0, value_parser = parse_secs)]
    cluster_lease: f64,
}

fn parse_cluster_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}': 1 to 64 letters, digits, '-', '_' or '.'"))
    }
}

/// `--business-listen`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
struct BusinessListen(Option<SocketAddr>);

fn parse_business_listen(s: &str) -> Result<BusinessListen, String> {
    if s == "off" {
        return Ok(BusinessListen(None));
    }
    s.parse().map(|a| BusinessListen(Some(a))).map_err(|e| format!("'{s}' is not an address:port ({e})"))
}

/// The TLS listener and the business listener's TLS, from the flags.
type TlsSettings = (
    Option<(SocketAddr, std::sync::Arc<anychat::net::tls::ServerConfig>)>,
    Option<std::sync::Arc<anychat::net::tls::ServerConfig>>,
);

fn tls_settings(args: &Args) -> Result<TlsSettings, String> {
    let wanted = args.tls_listen.is_some() || args.business_tls;
    if args.business_client_ca.is_some() && !args.business_tls {
        return Err("--business-client-ca needs --business-tls".into());
    }
    let (cert, key) = match (&args.tls_cert, &args.tls_key) {
        (None, None) if !wanted => return Ok((None, None)),
        _ if !wanted => return Err("--tls-cert and --tls-key need --tls-listen or --business-tls".into()),
        (Some(c), Some(k)) => (c, k),
        _ => return Err("TLS needs both --tls-cert and --tls-key".into()),
    };
    let clients = match args.tls_listen {
        Some(addr) => Some((addr, anychat::net::tls::server_config(cert, key, None).map_err(|e| e.to_string())?)),
        None => None,
    };
    let business = if args.business_tls {
        let ca = args.business_client_ca.as_deref();
        Some(anychat::net::tls::server_config(cert, key, ca).map_err(|e| e.to_string())?)
    } else {
        None
    };
    Ok((clients, business))
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}

fn parse_secs_or_zero(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds from 0 to 86400")),
    }
}

fn check_rate(s: &str) -> Result<String, String> {
    RateLimits::default().set(s)?;
    Ok(s.to_string())
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds between 0 and 86400")),
    }
}

/// Loads the settings (flags, environment, file); on failure says why on
/// stderr and gives the exit code (0 for `--help` and `--version`).
fn load(cli: &[OsString]) -> Result<Loaded<Args>, ExitCode> {
    match config::load::<Args>(cli, &|name| std::env::var(name).ok(), Path::new(DEFAULT_CONFIG)) {
        Ok(l) => Ok(l),
        Err(LoadError::Clap(e)) => {
            let _ = e.print();
            Err(ExitCode::from(if e.use_stderr() { 2 } else { 0 }))
        }
        Err(LoadError::Bad(msg)) => {
            eprintln!("anychat-server: {msg}");
            Err(ExitCode::from(2))
        }
    }
}

/// The log filter: `--log-level` when given (flag, environment or file),
/// else RUST_LOG when set (checked the same way), else `info`.
fn log_filter(loaded: &Loaded<Args>) -> Result<String, String> {
    if loaded.source("log-level") == config::Source::Default {
        if let Some(v) = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty()) {
            return logs::check_filter(&v).map_err(|e| format!("environment variable RUST_LOG: {e}"));
        }
    }
    Ok(loaded.args.log_level.clone())
}

/// The server's settings from the arguments, and the file of a business
/// secret generated now (first start). TLS is read only `with_tls` (at
/// start: a reload keeps the listeners as they are).
fn server_config(args: &Args, with_tls: bool) -> Result<(ServerConfig, Option<PathBuf>), String> {
    let mut rate_limits = if args.no_rate_limits { RateLimits::off() } else { RateLimits::default() };
    for r in &args.rates {
        rate_limits.set(r).map_err(|e| format!("bad --rate: {e}"))?;
    }
    rate_limits.action = if args.rate_action == "disconnect" { RateAction::Disconnect } else { RateAction::Throttle };
    let given = args.business_secret.clone().filter(|s| !s.is_empty()).map(String::into_bytes);
    // Every business link needs a secret: without one given, it is the one
    // generated at the first start.
    let mut generated = None;
    let secret = match (given, args.business_listen.0) {
        (Some(s), _) => Some(s),
        (None, None) => None,
        (None, Some(_)) => {
            let dir = args
                .state_dir
                .clone()
                .or_else(anychat::net::secret::default_state_dir)
                .ok_or("no business secret: give --business-secret or --state-dir")?;
            let (s, made) = anychat::net::secret::load_or_create(&dir)
                .map_err(|e| format!("cannot keep the business secret: {e}"))?;
            if made {
                generated = Some(dir.join(anychat::net::secret::SECRET_FILE));
            }
            Some(s)
        }
    };
    let (tls_listen, business_tls) = if with_tls { tls_settings(args)? } else { (None, None) };
    let config = ServerConfig {
        listen: args.listen,
        business_listen: args.business_listen.0,
        core: CoreConfig {
            ring_timeout: Duration::from_secs_f64(args.ring_timeout),
            keepalive_timeout: Duration::from_secs_f64(args.keepalive_timeout),
            business_timeout: Duration::from_secs_f64(args.business_timeout),
            business_secret: secret,
            require_business: args.require_business,
            login_timeout: Duration::from_secs_f64(args.login_timeout),
            rate_limits,
            ..CoreConfig::default()
        },
        max_output: args.max_output,
        slow_reader_timeout: Duration::from_secs_f64(args.slow_reader_timeout),
        max_media: args.max_media,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        tls_listen,
        business_tls,
        // The records' queue is set once at start (see `main`): a reload
        // keeps the writer it has.
        ops: anychat::ops::OpsConfig { records: None, admin_listen: args.admin_listen },
        cluster: args.cluster_engine.as_ref().map(|engine| anychat::cluster::ClusterConfig {
            engine: engine.clone(),
            name: args.cluster_name.clone().unwrap_or_else(|| {
                let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                let host: String = host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                format!("{}-{}", if host.is_empty() { "server" } else { &host }, args.listen.port())
            }),
            advertise: args.cluster_advertise.clone(),
            lease: Duration::from_secs_f64(args.cluster_lease),
        }),
    };
    Ok((config, generated))
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "records") {
        return anychat_server::records_cmd::main(std::env::args_os().skip(1));
    }
    let cli: Vec<OsString> = std::env::args_os().collect();
    let loaded = match load(&cli) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if loaded.args.print_config {
        print!("{}", loaded.to_toml());
        return ExitCode::SUCCESS;
    }
    let filter = match log_filter(&loaded) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("anychat-server: {e}");
            return ExitCode::from(2);
        }
    };
    let reloader = logs::init(&filter, loaded.args.log_format);
    let args = &loaded.args;
    let (mut config, generated) = match server_config(args, true) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("anychat-server: {e}");
            return ExitCode::from(2);
        }
    };
    let records =
        match anychat_server::records_cmd::open_for_server(&args.records, &args.state_dir, args.records_keep_days) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("anychat-server: {e}");
                return ExitCode::from(2);
            }
        };
    config.ops.records = records.as_ref().map(|r| r.queue.clone());
    let secret = config.core.business_secret.clone();
    let rates = config.core.rate_limits.describe();
    let fd_limit = raise_fd_limit();
    let mut server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("anychat-server: cannot listen: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(r) = &records {
        server.restore(r.restored.clone());
    }
    let addr = server.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| args.listen.to_string());
    let mut signals = match Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("anychat-server: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    // Scripts read these two lines to learn the bound ports; a closed stdout
    // must not stop the server.
    let business = match server.business_addr() {
        Some(b) => format!("anychat-server business listener on {b}"),
        None => "anychat-server business listener off".to_string(),
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "anychat-server listening on {addr}\n{business}").and_then(|()| out.flush());
    if let Some(tls) = server.tls_addr() {
        let _ = writeln!(out, "anychat-server TLS listener on {tls}").and_then(|()| out.flush());
    }
    if let Some(admin) = server.admin_addr() {
        let _ = writeln!(out, "anychat-server admin listener on {admin}").and_then(|()| out.flush());
    }
    if let Some(r) = &records {
        tracing::info!(file = %r.path.display(), users = r.restored.ids_by_name.len(), "call records kept");
    }
    if let (Some(path), Some(s)) = (&generated, &secret) {
        // Printed once, at the first start; the business server reads it
        // from the file when it runs on this machine as the same user.
        let s = String::from_utf8_lossy(s);
        let _ = writeln!(out, "anychat-server generated the business secret {s} in {}", path.display());
        let _ = out.flush();
        tracing::warn!(file = %path.display(), "generated a business secret; business servers must present it");
    }
    tracing::info!(
        %addr,
        version = VERSION,
        config = %loaded.file.as_ref().map_or("none".into(), |f| f.display().to_string()),
        ring_timeout = args.ring_timeout,
        keepalive_timeout = args.keepalive_timeout,
        login_timeout = args.login_timeout,
        drain_timeout = args.drain_timeout,
        max_connections = server.max_connections(),
        fd_limit,
        max_connections_per_ip = args.max_connections_per_ip,
        rates = %rates,
        rate_action = %args.rate_action,
        "listening"
    );
    let control = server.control_handle();
    let stop = server.stop_handle();
    let signal_thread = signals.handle();
    let mut state = SignalState { cli, loaded, reloader, control, terms: 0 };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    state.reload();
                } else if !state.terminate(sig) {
                    stop.stop();
                }
            }
        })
        .expect("spawn signal thread");
    let result = server.run();
    signal_thread.close();
    drop(server);
    if let Some(r) = records {
        // The writer writes what is queued, then ends.
        drop(r.queue);
        let _ = r.writer.join();
    }
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("event loop failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// What the signal thread keeps: the settings in force, to reload them.
struct SignalState {
    cli: Vec<OsString>,
    loaded: Loaded<Args>,
    reloader: logs::Reloader,
    control: ControlHandle,
    terms: u32,
}

impl SignalState {
    /// SIGTERM/SIGINT: the first drains, the second ends the calls at once;
    /// false for a third (stop without waiting).
    fn terminate(&mut self, sig: i32) -> bool {
        self.terms += 1;
        let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
        match self.terms {
            1 => {
                let secs = self.loaded.args.drain_timeout;
                tracing::info!(
                    signal = name,
                    drain_timeout = secs,
                    "draining: no more logins nor calls; the calls in progress end in {secs} s at most \
                     (send the signal again to end them now)"
                );
                self.control.send(Control::Drain(Duration::from_secs_f64(secs)));
                true
            }
            2 => {
                tracing::info!(signal = name, "second signal: ending the calls now");
                self.control.send(Control::Drain(Duration::ZERO));
                true
            }
            _ => {
                tracing::info!(signal = name, "third signal: stopping without waiting");
                false
            }
        }
    }

    /// SIGHUP: reads the settings again (the same flags and environment,
    /// the file anew); applies what can change at run time and logs what
    /// changed. A bad file changes nothing.
    fn reload(&mut self) {
        let new = match config::load::<Args>(&self.cli, &|name| std::env::var(name).ok(), Path::new(DEFAULT_CONFIG)) {
            Ok(l) => l,
            Err(LoadError::Clap(e)) => return tracing::error!("SIGHUP: settings refused, nothing changed: {e}"),
            Err(LoadError::Bad(e)) => return tracing::error!("SIGHUP: settings refused, nothing changed: {e}"),
        };
        let (filter, config) = match log_filter(&new).and_then(|f| Ok((f, server_config(&new.args, false)?.0))) {
            Ok(x) => x,
            Err(e) => return tracing::error!("SIGHUP: settings refused, nothing changed: {e}"),
        };
        let mut changed = Vec::new();
        let mut later = Vec::new();
        for (old, new) in self.loaded.settings.iter().zip(&new.settings) {
            if old.values == new.values {
                continue;
            }
            if !RUNTIME.contains(&old.key.as_str()) {
                later.push(old.key.clone());
            } else if old.key.contains("secret") {
                changed.push(format!("{} changed", old.key));
            } else {
                changed.push(format!("{}: {} -> {}", old.key, old.values.join(" "), new.values.join(" ")));
            }
        }
        if let Err(e) = self.reloader.set(&filter) {
            tracing::error!("SIGHUP: cannot change the log filter: {e}");
        }
        self.control.send(Control::Reload(Box::new(config)));
        if changed.is_empty() {
            tracing::info!("SIGHUP: settings reloaded, nothing changed at run time");
        } else {
            tracing::info!(changed = %changed.join("; "), "SIGHUP: settings reloaded");
        }
        if !later.is_empty() {
            tracing::warn!(settings = %later.join(", "), "SIGHUP: changed settings that take effect at the next start");
        }
        // What needs a restart stays as it runs, so that the next reload
        // still tells.
        let mut settings = new.settings;
        for s in &mut settings {
            if !RUNTIME.contains(&s.key.as_str()) {
                if let Some(old) = self.loaded.settings.iter().find(|o| o.key == s.key) {
                    *s = old.clone();
                }
            }
        }
        self.loaded = Loaded { settings, ..new };
    }
}
