//! The server's log on stderr: a filter checked before use (a misspelt
//! level is an error, not a filter that silences everything), changed at
//! run time on SIGHUP, and human text or JSON lines.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// The level names a filter may use.
pub const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Checks a log filter: comma-separated directives, each a level or
/// `TARGET=LEVEL` (e.g. `info`, `warn,anychat::core=debug`). Anything
/// else — `verbose`, `anychat=loud` — is refused with the reason.
pub fn check_filter(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("an empty log filter".into());
    }
    for d in s.split(',').map(str::trim) {
        let level = d.rsplit_once('=').map_or(d, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "'{d}' is not a log level ({}) nor TARGET=LEVEL (e.g. anychat::core=debug)",
                LEVELS.join(", ")
            ));
        }
    }
    EnvFilter::try_new(s).map_err(|e| format!("'{s}': {e}"))?;
    Ok(s.to_string())
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Changes the filter of the running log.
pub struct Reloader(reload::Handle<EnvFilter, Registry>);

impl Reloader {
    pub fn set(&self, filter: &str) -> Result<(), String> {
        let f = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
        self.0.reload(f).map_err(|e| e.to_string())
    }
}

/// Starts the log on stderr with the (checked) `filter`.
pub fn init(filter: &str, format: Format) -> Reloader {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        Format::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init(),
        Format::Json => registry.with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr)).init(),
    }
    Reloader(handle)
}
