//! `anychat-server`: the core server. With no arguments it listens on
//! `0.0.0.0:8906`. SIGINT and SIGTERM stop it cleanly.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anychat::core::limits::{RateAction, RateLimits};
use anychat::core::CoreConfig;
use anychat::net::server::{raise_fd_limit, Server, ServerConfig};
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
    /// Log level: error, warn, info, debug or trace (or a tracing filter).
    #[arg(long, default_value = "info")]
    log_level: String,
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
    #[arg(long = "rate", value_name = "CLASS=MSGS[,BYTES]")]
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
    /// Form a cluster with the other core servers using this engine
    /// (redis://host:port[/db]); off when not given (docs/CLUSTER.md).
    #[arg(long, value_name = "URL")]
    cluster_engine: Option<String>,
    /// This server's name in the cluster, unique among its servers
    /// (letters, digits, '-', '_', '.'; default: the host name and port).
    #[arg(long, value_name = "NAME", value_parser = parse_cluster_name)]
    cluster_name: Option<String>,
    /// The address other servers and operators know this server by
    /// (default: --listen).
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

    let mut rate_limits = if args.no_rate_limits { RateLimits::off() } else { RateLimits::default() };
    for r in &args.rates {
        if let Err(e) = rate_limits.set(r) {
            eprintln!("anychat-server: bad --rate: {e}");
            return ExitCode::from(2);
        }
    }
    rate_limits.action = if args.rate_action == "disconnect" { RateAction::Disconnect } else { RateAction::Throttle };
    let given = args
        .business_secret
        .clone()
        .or_else(|| std::env::var("ANYCHAT_BUSINESS_SECRET").ok())
        .filter(|s| !s.is_empty())
        .map(String::into_bytes);
    // Every business link needs a secret: without one given, it is the one
    // generated at the first start.
    let mut generated = None;
    let secret = match (given, args.business_listen.0) {
        (Some(s), _) => Some(s),
        (None, None) => None,
        (None, Some(_)) => {
            let Some(dir) = args.state_dir.clone().or_else(anychat::net::secret::default_state_dir) else {
                eprintln!("anychat-server: no business secret: give --business-secret or --state-dir");
                return ExitCode::from(2);
            };
            match anychat::net::secret::load_or_create(&dir) {
                Ok((s, made)) => {
                    if made {
                        generated = Some(dir.join(anychat::net::secret::SECRET_FILE));
                    }
                    Some(s)
                }
                Err(e) => {
                    eprintln!("anychat-server: cannot keep the business secret: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let (tls_listen, business_tls) = match tls_settings(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("anychat-server: {e}");
            return ExitCode::from(2);
        }
    };
    let fd_limit = raise_fd_limit();
    let config = ServerConfig {
        listen: args.listen,
        business_listen: args.business_listen.0,
        core: CoreConfig {
            ring_timeout: Duration::from_secs_f64(args.ring_timeout),
            keepalive_timeout: Duration::from_secs_f64(args.keepalive_timeout),
            business_timeout: Duration::from_secs_f64(args.business_timeout),
            business_secret: secret.clone(),
            require_business: args.require_business,
            login_timeout: Duration::from_secs_f64(args.login_timeout),
            rate_limits: rate_limits.clone(),
            seed: 0,
        },
        max_output: args.max_output,
        slow_reader_timeout: Duration::from_secs_f64(args.slow_reader_timeout),
        max_media: args.max_media,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        tls_listen,
        business_tls,
        cluster: args.cluster_engine.as_ref().map(|engine| anychat::cluster::ClusterConfig {
            engine: engine.clone(),
            name: args.cluster_name.clone().unwrap_or_else(|| {
                let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                let host: String = host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                format!("{}-{}", if host.is_empty() { "server" } else { &host }, args.listen.port())
            }),
            advertise: Some(args.cluster_advertise.clone().unwrap_or_else(|| args.listen.to_string())),
            lease: Duration::from_secs_f64(args.cluster_lease),
        }),
    };
    let mut server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("anychat-server: cannot listen: {e}");
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
    if let Some(tls) = server.tls_addr() {
        let _ = writeln!(out, "anychat-server TLS listener on {tls}").and_then(|()| out.flush());
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
        ring_timeout = args.ring_timeout,
        keepalive_timeout = args.keepalive_timeout,
        login_timeout = args.login_timeout,
        max_connections = server.max_connections(),
        fd_limit,
        max_connections_per_ip = args.max_connections_per_ip,
        rates = %rate_limits.describe(),
        rate_action = %args.rate_action,
        "listening"
    );
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
