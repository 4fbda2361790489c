//! One framed TCP link from a library (client or business server) to the
//! core server, driven by the owner's mio loop.
//!
//! A [`Link`] starts a non-blocking connect to the first address that takes
//! one, queues the `Hello` and whatever the owner sends before the connect
//! completes, writes them once it does, and reassembles incoming frames. It
//! only moves bytes: it reads no clock. The time rules (connect time-out,
//! keep-alive pings, a silent server) belong to the libraries' engines
//! ([`crate::wire::keepalive::LinkClock`]), which [`Link::on_event`] tells
//! when the transport connected and when bytes came in.
//!
//! The link runs over plain TCP or, with a [`LinkTls`], over TLS (a
//! [`Stream`]): the TLS handshake rides on the connect, and a handshake
//! failure is a failed connect ([`LinkError::Tls`]).
//! [`TlsEnv`] reads the `ANYCHAT_TLS*` environment variables both libraries
//! honour.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;

use crate::net::framed::{Framed, ReadEnd, ReadError, ReadOutcome, Take};
use crate::net::tls::{Stream, TlsError};
use crate::wire::protocol::{ClientMsg, DecodeError, ServerMsg, MAX_FRAME_LEN};

/// Media bytes a client keeps queued for the server before it drops its own
/// oldest video frames (a slow uplink never grows the sender's memory).
pub const MAX_MEDIA_QUEUE: usize = 512 * 1024;

/// Why a link ended.
#[derive(Debug)]
pub enum LinkError {
    /// No address accepted the connection, or it did not complete in time.
    ConnectFailed,
    /// The server closed the connection.
    Closed,
    /// The server sent bytes that do not decode.
    BadFrame(DecodeError),
    /// A socket error.
    Io(io::Error),
    /// The TLS session failed (handshake, certificate, alert, not TLS).
    Tls(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::ConnectFailed => write!(f, "connect failed"),
            LinkError::Closed => write!(f, "closed by the server"),
            LinkError::BadFrame(e) => write!(f, "bad frame from the server: {e}"),
            LinkError::Io(e) => write!(f, "{e}"),
            LinkError::Tls(e) => write!(f, "{e}"),
        }
    }
}

impl From<LinkError> for crate::wire::keepalive::LinkLoss {
    fn from(e: LinkError) -> Self {
        use crate::wire::keepalive::LinkLoss;
        match e {
            LinkError::ConnectFailed => LinkLoss::ConnectFailed,
            LinkError::Closed => LinkLoss::Closed,
            LinkError::Tls(e) => LinkLoss::Tls(e),
            e @ (LinkError::BadFrame(_) | LinkError::Io(_)) => LinkLoss::Error(e.to_string()),
        }
    }
}

/// TLS for a link: the client configuration and the name the server's
/// certificate must be valid for.
#[derive(Clone)]
pub struct LinkTls {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for LinkTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkTls").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

/// `ANYCHAT_TLS`: `1` turns TLS on for every link (without a `tls://` prefix).
pub const ENV_TLS: &str = "ANYCHAT_TLS";
/// `ANYCHAT_TLS_CA`: PEM file of the CA certificates the server is verified
/// against (default: the system trust store).
pub const ENV_TLS_CA: &str = "ANYCHAT_TLS_CA";
/// `ANYCHAT_TLS_CERT`: PEM certificate chain presented as a client certificate.
pub const ENV_TLS_CERT: &str = "ANYCHAT_TLS_CERT";
/// `ANYCHAT_TLS_KEY`: PEM private key of `ANYCHAT_TLS_CERT`.
pub const ENV_TLS_KEY: &str = "ANYCHAT_TLS_KEY";
/// `ANYCHAT_TLS_SERVER_NAME`: the name checked against the server's
/// certificate instead of the host connected to.
pub const ENV_TLS_SERVER_NAME: &str = "ANYCHAT_TLS_SERVER_NAME";

/// Splits a `tls://` prefix (any case) off a server address: the address
/// without it, and whether it was there.
pub fn strip_tls_scheme(addr: &str) -> (&str, bool) {
    match addr.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("tls://") => (&addr[6..], true),
        _ => (addr, false),
    }
}

/// The host of `host:port` or `[v6]:port` (the whole string without a port).
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host,
        _ => addr,
    }
}

/// The TLS settings of the environment, read when a library connects.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TlsEnv {
    /// `ANYCHAT_TLS` is on: TLS without a `tls://` prefix.
    pub on: bool,
    pub ca: Option<PathBuf>,
    /// Client certificate chain and key.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub server_name: Option<String>,
}

impl TlsEnv {
    /// From the process environment.
    pub fn from_env() -> Result<TlsEnv, TlsError> {
        TlsEnv::from_lookup(|name| std::env::var_os(name))
    }

    /// From `get` (an environment); empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Result<TlsEnv, TlsError> {
        let setting = |name: &str, problem: String| TlsError::Setting { name: name.to_string(), problem };
        let text = |name: &str| -> Result<Option<String>, TlsError> {
            match get(name) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => v.into_string().map(Some).map_err(|v| setting(name, format!("{v:?} is not UTF-8"))),
            }
        };
        let path = |name: &str| get(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let on = match text(ENV_TLS)?.map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => true,
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => false,
            Some(v) => return Err(setting(ENV_TLS, format!("'{v}' is not 1 or 0 (or true/false, yes/no, on/off)"))),
        };
        let client_cert = match (path(ENV_TLS_CERT), path(ENV_TLS_KEY)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => return Err(setting(ENV_TLS_KEY, format!("not set, but {ENV_TLS_CERT} is"))),
            (None, Some(_)) => return Err(setting(ENV_TLS_CERT, format!("not set, but {ENV_TLS_KEY} is"))),
        };
        Ok(TlsEnv { on, ca: path(ENV_TLS_CA), client_cert, server_name: text(ENV_TLS_SERVER_NAME)? })
    }

    /// What a link to `host` uses: `None` (plain TCP) unless `tls_scheme`
    /// (the address had `tls://`) or `ANYCHAT_TLS` is on; else the client
    /// configuration (loading the files now) and the name to verify
    /// (`ANYCHAT_TLS_SERVER_NAME`, else `host`).
    pub fn for_host(&self, host: &str, tls_scheme: bool) -> Result<Option<LinkTls>, TlsError> {
        if !(tls_scheme || self.on) {
            return Ok(None);
        }
        let name = self.server_name.as_deref().unwrap_or(host);
        let server_name = crate::net::tls::server_name(name).map_err(|e| match (&self.server_name, e) {
            (Some(_), TlsError::Setting { problem, .. }) => {
                TlsError::Setting { name: ENV_TLS_SERVER_NAME.into(), problem }
            }
            (_, e) => e,
        })?;
        let client_cert = self.client_cert.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        let config = crate::net::tls::client_config(self.ca.as_deref(), client_cert)?;
        Ok(Some(LinkTls { config, server_name }))
    }
}

/// What a readiness event did to a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkProgress {
    /// The TCP connect completed (the TLS handshake, if any, follows).
    pub connected: bool,
    /// Bytes came in (complete frames or not): the server is not silent.
    pub received: bool,
}

pub struct Link {
    /// The socket, the frames received, signalling and the bounded media
    /// queue written after it (the framed connection the server uses too).
    framed: Framed,
    /// TLS for each connection attempt, if any.
    tls: Option<LinkTls>,
    token: Token,
    addrs: Vec<SocketAddr>,
    connected: bool,
    /// The first message on every connection attempt.
    hello: Vec<u8>,
}

impl Link {
    /// Starts connecting to the first of `addrs` that takes a connect;
    /// `hello` is written first once connected. With `tls`, the connection
    /// is a TLS session (its handshake is part of the connect).
    pub fn connect(
        registry: &Registry,
        token: Token,
        addrs: Vec<SocketAddr>,
        hello: &ClientMsg,
        tls: Option<LinkTls>,
    ) -> Result<Link, LinkError> {
        let mut frame = Vec::new();
        hello.encode(&mut frame);
        let mut addrs = addrs;
        let stream = Self::start(registry, token, &mut addrs, tls.as_ref())?;
        let mut framed = Framed::new(stream, MAX_MEDIA_QUEUE, true);
        framed.out().extend_from_slice(&frame);
        Ok(Link { framed, tls, token, addrs, connected: false, hello: frame })
    }

    fn start(
        registry: &Registry,
        token: Token,
        addrs: &mut Vec<SocketAddr>,
        tls: Option<&LinkTls>,
    ) -> Result<Stream, LinkError> {
        while !addrs.is_empty() {
            let addr = addrs.remove(0);
            let stream = TcpStream::connect(addr).and_then(|tcp| match tls {
                None => Ok(Stream::plain(tcp)),
                Some(t) => Stream::tls_client(tcp, t.config.clone(), t.server_name.clone()),
            });
            match stream {
                Ok(mut stream) => {
                    if registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE).is_ok() {
                        return Ok(stream);
                    }
                }
                Err(e) => tracing::debug!(%addr, "connect failed: {e}"),
            }
        }
        Err(LinkError::ConnectFailed)
    }

    /// The local address of the socket (once connected).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.framed.stream.local_addr().ok()
    }

    /// Whether the link runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A stream error as a link error: TLS failures apart.
    fn stream_error(&self, e: io::Error) -> LinkError {
        if self.framed.stream.is_tls() && e.kind() == io::ErrorKind::InvalidData {
            LinkError::Tls(e.to_string())
        } else {
            LinkError::Io(e)
        }
    }

    /// Bytes queued and not yet written (signalling and media).
    pub fn pending_bytes(&self) -> usize {
        self.framed.pending_bytes()
    }

    /// Queues a message; it is written once connected, after `Hello`.
    pub fn send(&mut self, msg: &ClientMsg) {
        msg.encode(self.framed.out());
    }

    /// Handles a readiness event: completes the connect, then reads every
    /// complete message into `msgs` (those read before an error included).
    pub fn on_event(
        &mut self,
        registry: &Registry,
        writable: bool,
        readable: bool,
        msgs: &mut Vec<ServerMsg>,
    ) -> Result<LinkProgress, LinkError> {
        let mut progress = LinkProgress::default();
        if !self.connected {
            if !(writable || readable) {
                return Ok(progress);
            }
            match self.framed.stream.take_error() {
                Ok(None) if self.framed.stream.peer_addr().is_ok() => {
                    self.connected = true;
                    progress.connected = true;
                }
                // Not connected yet (a spurious wake-up).
                Ok(None) if !readable => return Ok(progress),
                _ => return self.next_address(registry).map(|()| progress),
            }
        }
        if readable {
            progress.received = self.read(msgs)?;
        }
        Ok(progress)
    }

    /// The attempt failed: try the next address, if any.
    fn next_address(&mut self, registry: &Registry) -> Result<(), LinkError> {
        let _ = registry.deregister(&mut self.framed.stream);
        let stream = Self::start(registry, self.token, &mut self.addrs, self.tls.as_ref())?;
        self.framed.restart(stream, &self.hello);
        Ok(())
    }

    /// Reads until the socket would block; true when bytes came in.
    fn read(&mut self, msgs: &mut Vec<ServerMsg>) -> Result<bool, LinkError> {
        let mut scratch = [0u8; 16 * 1024];
        // Read to the end every time (`read_closed`): a library's link has
        // no budget to share with anyone.
        let read = self.framed.read_frames(
            &mut scratch,
            usize::MAX,
            true,
            || MAX_FRAME_LEN,
            |body| {
                msgs.push(ServerMsg::decode(body)?);
                Ok(Take::Taken)
            },
        );
        match read {
            Ok(ReadOutcome { end: ReadEnd::Closed, .. }) if self.framed.stream.is_handshaking() => Err(LinkError::Tls(
                "TLS: the server closed the connection during the handshake \
                 (is that port a TLS listener? does it require a client certificate?)"
                    .into(),
            )),
            Ok(ReadOutcome { end: ReadEnd::Closed, .. }) => Err(LinkError::Closed),
            Ok(ReadOutcome { bytes, .. }) => Ok(bytes > 0),
            Err(ReadError::Frame(e)) => Err(LinkError::BadFrame(e)),
            Err(ReadError::Tls(e)) => Err(LinkError::Tls(e.to_string())),
            Err(ReadError::Io(e)) => Err(self.stream_error(e)),
        }
    }

    /// Queues a media frame (encoded message bytes); returns true when the
    /// queue had to drop this client's own video (the encoder should send a
    /// key frame next).
    pub fn send_media(&mut self, frame: std::sync::Arc<crate::wire::protocol::MediaOut>) -> bool {
        let mut dropped = Vec::new();
        self.framed.push_media(frame, &mut dropped);
        !dropped.is_empty()
    }

    /// Writes what is queued; WRITABLE interest only while some is left
    /// (TLS records waiting to go out included).
    pub fn flush(&mut self, registry: &Registry) -> Result<(), LinkError> {
        if !self.connected {
            return Ok(());
        }
        if let Err(e) = self.framed.flush(true) {
            return Err(if e.kind() == io::ErrorKind::WriteZero { LinkError::Closed } else { self.stream_error(e) });
        }
        self.framed.update_interest(registry, self.token).map_err(LinkError::Io)
    }

    /// Unregisters the socket (after a best-effort TLS close_notify);
    /// dropping the link closes it.
    pub fn close(mut self, registry: &Registry) {
        if self.connected {
            self.framed.stream.send_close_notify();
        }
        let _ = registry.deregister(&mut self.framed.stream);
    }
}

/// How API threads reach a library's network thread: a command queue and
/// the `Waker` of its `Poll`.
pub struct Mailbox<C> {
    tx: crossbeam_channel::Sender<C>,
    waker: std::sync::Arc<mio::Waker>,
}

impl<C> Clone for Mailbox<C> {
    fn clone(&self) -> Self {
        Mailbox { tx: self.tx.clone(), waker: self.waker.clone() }
    }
}

impl<C> Mailbox<C> {
    /// Queues a command and wakes the network thread.
    pub fn send(&self, cmd: C) {
        if self.tx.send(cmd).is_ok() {
            if let Err(e) = self.waker.wake() {
                tracing::error!("cannot wake the network thread: {e}");
            }
        }
    }
}

/// A library's network thread, as the API threads hold it.
pub struct NetThread<C> {
    mailbox: Mailbox<C>,
    thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    thread_id: std::thread::ThreadId,
    /// Set by [`NetThread::stop`]: the thread delivers no event after it.
    stopped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<C: Send + 'static> NetThread<C> {
    /// Spawns thread `name` running `body` with the `Poll` (whose `Waker`
    /// is registered with `waker_token`), the command queue, a mailbox to
    /// itself (for helper threads) and the stop flag.
    pub fn spawn<F>(name: &str, poll: mio::Poll, waker_token: Token, body: F) -> io::Result<NetThread<C>>
    where
        F: FnOnce(mio::Poll, crossbeam_channel::Receiver<C>, Mailbox<C>, std::sync::Arc<std::sync::atomic::AtomicBool>)
            + Send
            + 'static,
    {
        let waker = std::sync::Arc::new(mio::Waker::new(poll.registry(), waker_token)?);
        let (tx, rx) = crossbeam_channel::unbounded();
        let mailbox = Mailbox { tx, waker };
        let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (mb, st) = (mailbox.clone(), stopped.clone());
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || body(poll, rx, mb, st))?;
        let thread_id = thread.thread().id();
        Ok(NetThread { mailbox, thread: parking_lot::Mutex::new(Some(thread)), thread_id, stopped })
    }

    /// Queues a command for the network thread.
    pub fn command(&self, cmd: C) {
        self.mailbox.send(cmd);
    }

    /// A mailbox to the thread, for other threads of the library.
    pub fn mailbox(&self) -> Mailbox<C> {
        self.mailbox.clone()
    }

    /// Whether the thread has ended: stopped, or given up after repeated
    /// panics (its commands then go nowhere).
    pub fn is_finished(&self) -> bool {
        self.thread.lock().as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops delivering events, sends `cmd` (the thread's "shut down") and
    /// joins the thread — unless called on that thread (from a callback),
    /// which then ends as soon as the callback returns.
    pub fn stop(&self, cmd: C) {
        self.stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        self.command(cmd);
        if std::thread::current().id() == self.thread_id {
            return;
        }
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

/// What a caught panic said (its `&str` or `String` payload).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Panics a library thread survives in a row before it gives up: its link
/// is reported lost each time, and an engine that panics again at once
/// would otherwise spin.
pub(crate) const MAX_PANICS: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Result<TlsEnv, TlsError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TlsEnv::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| OsString::from(v)))
    }

    #[test]
    fn tls_scheme_and_host() {
        assert_eq!(strip_tls_scheme("tls://example.com"), ("example.com", true));
        assert_eq!(strip_tls_scheme("TLS://10.0.0.1:8907"), ("10.0.0.1:8907", true));
        assert_eq!(strip_tls_scheme("example.com"), ("example.com", false));
        assert_eq!(strip_tls_scheme("tls:/x"), ("tls:/x", false));
        assert_eq!(strip_tls_scheme("tl"), ("tl", false));
        // Not a char boundary at 6: no panic.
        assert_eq!(strip_tls_scheme("tlsé//x"), ("tlsé//x", false));
        assert_eq!(host_of("core.example:8907"), "core.example");
        assert_eq!(host_of("[::1]:8907"), "::1");
        assert_eq!(host_of("::1"), "::1");
        assert_eq!(host_of("core.example"), "core.example");
    }

    #[test]
    fn tls_environment() {
        assert_eq!(env(&[]).unwrap(), TlsEnv::default());
        for on in ["1", "true", "YES", "on", " 1 "] {
            assert!(env(&[(ENV_TLS, on)]).unwrap().on, "{on}");
        }
        for off in ["0", "false", "no", "OFF", ""] {
            assert!(!env(&[(ENV_TLS, off)]).unwrap().on, "{off}");
        }
        // A typo must not quietly mean plain TCP.
        let e = env(&[(ENV_TLS, "ture")]).unwrap_err().to_string();
        assert!(e.contains("ANYCHAT_TLS") && e.contains("ture"), "{e}");
        let e = env(&[(ENV_TLS_CERT, "/c.pem")]).unwrap_err().to_string();
        assert!(e.contains("ANYCHAT_TLS_KEY") && e.contains("ANYCHAT_TLS_CERT"), "{e}");
        let e = env(&[(ENV_TLS_KEY, "/k.pem")]).unwrap_err().to_string();
        assert!(e.contains("ANYCHAT_TLS_CERT"), "{e}");
        let all = env(&[
            (ENV_TLS, "1"),
            (ENV_TLS_CA, "/ca.pem"),
            (ENV_TLS_CERT, "/c.pem"),
            (ENV_TLS_KEY, "/k.pem"),
            (ENV_TLS_SERVER_NAME, "core.example"),
        ])
        .unwrap();
        assert_eq!(
            all,
            TlsEnv {
                on: true,
                ca: Some("/ca.pem".into()),
                client_cert: Some(("/c.pem".into(), "/k.pem".into())),
                server_name: Some("core.example".into()),
            }
        );
    }

    #[test]
    fn plain_unless_asked_and_errors_name_the_setting() {
        // Without tls:// or ANYCHAT_TLS, nothing is loaded (a bad CA path is not even read).
        let e = env(&[(ENV_TLS_CA, "/nonexistent/ca.pem")]).unwrap();
        assert!(e.for_host("example.com", false).unwrap().is_none());
        let err = e.for_host("example.com", true).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem") && err.contains("CA certificates"), "{err}");
        let e = env(&[(ENV_TLS_SERVER_NAME, "not a name!"), (ENV_TLS_CA, "/nonexistent/ca.pem")]).unwrap();
        let err = e.for_host("127.0.0.1", true).unwrap_err().to_string();
        assert!(err.contains("ANYCHAT_TLS_SERVER_NAME") && err.contains("not a name!"), "{err}");
        let err = env(&[]).unwrap().for_host("bad host!", true).unwrap_err().to_string();
        assert!(err.contains("bad host!"), "{err}");
    }
}
