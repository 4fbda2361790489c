//! `anychat-server`: the core server. With no arguments it listens on
//! `0.0.0.0:8906`. SIGINT and SIGTERM stop it cleanly.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anychat::core::CoreConfig;
use anychat::server::{Server, ServerConfig};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The anychat-rs core server: users, calls and rooms for BRAC_* clients.
#[derive(Parser, Debug)]
#[command(
    name = "anychat-server",
    version,
    about = "anychat-rs core server: users, calls and rooms for BRAC_* clients"
)]
struct Args {
    /// Address and port clients connect to.
    #[arg(long, default_value = "0.0.0.0:8906")]
    listen: SocketAddr,
    /// Address and port the business server (BRAS_* library) connects to;
    /// `off` disables the business listener.
    #[arg(long, default_value = "127.0.0.1:8907", value_parser = parse_business_listen)]
    business_listen: BusinessListen,
    /// Shared secret a business server must present (else read from the
    /// environment variable ANYCHAT_BUSINESS_SECRET). Required when the
    /// business listener is not on a loopback address.
    #[arg(long)]
    business_secret: Option<String>,
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
    /// Log level: error, warn, info, debug or trace (or a tracing filter).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Output bytes a client may leave unread before it is disconnected.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_output: usize,
    /// Media bytes queued for a slow receiver before its video frames are dropped.
    #[arg(long, default_value_t = 256 * 1024)]
    max_media: usize,
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

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds between 0 and 86400")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = match tracing_subscriber::EnvFilter::try_new(&args.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("anychat-server: bad --log-level '{}': {e}", args.log_level);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let secret = args
        .business_secret
        .clone()
        .or_else(|| std::env::var("ANYCHAT_BUSINESS_SECRET").ok())
        .filter(|s| !s.is_empty())
        .map(String::into_bytes);
    if let Some(addr) = args.business_listen.0 {
        if !addr.ip().is_loopback() && secret.is_none() {
            eprintln!(
                "anychat-server: the business listener {addr} is not on loopback: give --business-secret \
                 (or ANYCHAT_BUSINESS_SECRET)"
            );
            return ExitCode::from(2);
        }
    }
    let config = ServerConfig {
        listen: args.listen,
        business_listen: args.business_listen.0,
        core: CoreConfig {
            ring_timeout: Duration::from_secs_f64(args.ring_timeout),
            keepalive_timeout: Duration::from_secs_f64(args.keepalive_timeout),
            business_timeout: Duration::from_secs_f64(args.business_timeout),
            business_secret: secret,
            require_business: args.require_business,
        },
        max_output: args.max_output,
        max_media: args.max_media,
    };
    let mut server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("anychat-server: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let addr = server.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| args.listen.to_string());
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("anychat-server: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let stop = server.stop_handle();
    let signal_thread = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                tracing::info!(signal = sig, "signal received, stopping");
                stop.stop();
            }
        })
        .expect("spawn signal thread");
    // Scripts read these two lines to learn the bound ports; a closed stdout
    // must not stop the server.
    let business = match server.business_addr() {
        Some(b) => format!("anychat-server business listener on {b}"),
        None => "anychat-server business listener off".to_string(),
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "anychat-server listening on {addr}\n{business}").and_then(|()| out.flush());
    tracing::info!(%addr, ring_timeout = args.ring_timeout, keepalive_timeout = args.keepalive_timeout, "listening");
    let result = server.run();
    signal_thread.close();
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
