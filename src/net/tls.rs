//! TLS for the links (rustls with the `ring` provider, on mio sockets).
//!
//! Plain TCP stays the default; TLS is opt-in. This module gives
//!
//! - [`server_config`] and [`client_config`]: rustls configurations from PEM
//!   files (and the system trust store), with [`TlsError`] naming the file or
//!   setting at fault;
//! - [`Stream`]: what an event loop holds instead of a bare
//!   [`mio::net::TcpStream`] — either [`Stream::Plain`] or a TLS session over
//!   the socket. It implements [`Read`], [`Write`] and [`mio::event::Source`]
//!   with the usual non-blocking meaning, so a loop written for TCP works
//!   unchanged once it follows the rules below.
//!
//! # How a loop drives a [`Stream`]
//!
//! ```text
//! accept / connect     tcp → Stream::tls_server(tcp, cfg) / Stream::tls_client(tcp, cfg, name)
//!                      register READABLE (+ WRITABLE while connecting), as for TCP
//! readable event       loop { match stream.read(&mut scratch) {
//!                        Ok(0)              => peer closed (close_notify or EOF): drop it
//!                        Ok(n)              => decode frames from scratch[..n];
//!                                              if n < scratch.len() && !stream.more_to_read() { break }
//!                        Err(WouldBlock)    => break
//!                        Err(Interrupted)   => continue
//!                        Err(e)             => log e (InvalidData: a TLS error), drop this connection only
//!                      } }
//!                      then flush this connection if stream.wants_write() (see below)
//! something to send    stream.write(&out[written..]) until WouldBlock, as for TCP:
//!                      Ok(n > 0) → written += n;  Err(WouldBlock) → stop; never Ok(0) for a non-empty buffer
//! writable event       stream.write_pending()?, then write what your own buffers hold
//! after each flush     keep WRITABLE interest while  your buffers are not empty || stream.wants_write()
//! closing              stream.send_close_notify() (best effort), deregister, drop
//! ```
//!
//! The details that differ from TCP:
//!
//! - **Reading** decrypts: one `read` reads what the socket has, processes
//!   handshake records, writes any handshake answer it can, and fills the
//!   buffer with plaintext. It returns `WouldBlock` when no plaintext could
//!   be produced (e.g. mid-handshake) *after* the socket said `WouldBlock`,
//!   so edge-triggered readiness brings the next event. A read shorter than
//!   the buffer normally means the socket said `WouldBlock` too (the
//!   plain-TCP shortcut "stop after a short read" holds) — except when the
//!   peer's close or a TLS error came right behind the data: then
//!   [`Stream::more_to_read`] is true and the next `read` reports it.
//! - **Errors**: a TLS failure (bad certificate, garbage instead of TLS, a
//!   fatal alert) is an `io::Error` of kind `InvalidData` whose message says
//!   what happened; every later `read`/`write` repeats it. Nothing panics on
//!   bad input.
//! - **Writing** encrypts into a bounded rustls buffer
//!   ([`TLS_BUFFER_LIMIT`] by default, [`Stream::set_buffer_limit`]) and
//!   pushes ciphertext to the socket until it would block. When the buffer
//!   is full, `write` accepts only part of the data or returns `WouldBlock`
//!   (then the socket said `WouldBlock`, so a WRITABLE event follows). The
//!   caller's own buffer holds the rest, as with TCP. Before the handshake
//!   completes, plaintext is buffered (bounded by the same limit; a full
//!   buffer then gives `WouldBlock` without the socket being full) and goes
//!   out once the handshake is done: the `read` that completes it leaves
//!   [`Stream::wants_write`] true, and the flush that follows (below) goes
//!   on with the caller's buffer.
//! - **Ciphertext can wait** even when the caller's own buffers are empty
//!   (handshake answers, the encrypted tail of a `write`): keep WRITABLE
//!   interest while [`Stream::wants_write`] and call
//!   [`Stream::write_pending`] on a writable event; also flush after a read
//!   that left [`Stream::wants_write`] true. [`Stream::Plain`] never has
//!   anything waiting (`wants_write` is false, `more_to_read` is false).
//! - **Time-outs** are the loop's: a peer that never completes the handshake
//!   sends no frame, so the keep-alive (or connect) timer closes it as for
//!   TCP.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

/// The rustls types of this API, so that users need not name rustls.
pub use rustls::pki_types::ServerName;
pub use rustls::{ClientConfig, ServerConfig};

/// Bytes of unsent TLS data (and, before the handshake completes,
/// plaintext) a [`Stream`] buffers before `write` pushes back.
pub const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// Largest PEM file read (a big CA bundle is a few hundred KiB).
const MAX_PEM_FILE: u64 = 8 * 1024 * 1024;

/// A TLS configuration could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    /// A file could not be read or does not hold what it should.
    File {
        /// What the file was for ("certificate chain", "private key", "CA certificates").
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
    /// The files were read but rustls refused them together (e.g. a key
    /// that does not belong to the certificate).
    Config { what: String, problem: String },
    /// The system trust store gave no usable certificate.
    SystemStore(String),
    /// A setting (e.g. an environment variable) has a bad value.
    Setting { name: String, problem: String },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::File { what, path, problem } => write!(f, "TLS {what} file {}: {problem}", path.display()),
            TlsError::Config { what, problem } => write!(f, "TLS {what}: {problem}"),
            TlsError::SystemStore(problem) => write!(f, "TLS system trust store: {problem}"),
            TlsError::Setting { name, problem } => write!(f, "TLS setting {name}: {problem}"),
        }
    }
}

impl std::error::Error for TlsError {}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM file (at most [`MAX_PEM_FILE`] bytes).
fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let err = |problem: String| TlsError::File { what, path: path.to_path_buf(), problem };
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes).map_err(|e| err(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(err(format!("larger than {MAX_PEM_FILE} bytes, not a PEM file")));
    }
    Ok(bytes)
}

/// Every certificate (`BEGIN CERTIFICATE`) of a PEM file; at least one.
pub fn load_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_pem(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>().map_err(|e| TlsError::File {
        what,
        path: path.to_path_buf(),
        problem: format!("not valid PEM: {e}"),
    })?;
    if certs.is_empty() {
        let problem = "no certificate (-----BEGIN CERTIFICATE-----) in it".to_string();
        return Err(TlsError::File { what, path: path.to_path_buf(), problem });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1 PEM block) of a file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = "private key";
    let bytes = read_pem(what, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let problem = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key (-----BEGIN PRIVATE KEY----- or RSA/EC PRIVATE KEY) in it".to_string()
            }
            e => format!("not valid PEM: {e}"),
        };
        TlsError::File { what, path: path.to_path_buf(), problem }
    })
}

fn roots_from_file(what: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(what, path)? {
        roots.add(cert).map_err(|e| TlsError::File {
            what,
            path: path.to_path_buf(),
            problem: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        let why = if why.is_empty() { String::new() } else { format!(" ({why})") };
        return Err(TlsError::SystemStore(format!("no usable CA certificate found{why}; give a CA file instead")));
    }
    Ok(roots)
}

/// A server configuration: certificate chain and private key from PEM
/// files. With `client_ca`, every client must present a certificate issued
/// by one of the CA certificates in that file (mutual TLS, for the business
/// link).
pub fn server_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_certs("certificate chain", cert)?;
    let key_der = load_key(key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config { what: "protocol versions".into(), problem: e.to_string() })?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = roots_from_file("client CA certificates", ca)?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::File {
                    what: "client CA certificates",
                    path: ca.to_path_buf(),
                    problem: format!("cannot verify clients with it: {e}"),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key_der).map_err(|e| TlsError::Config {
        what: format!("certificate {} with key {}", cert.display(), key.display()),
        problem: format!("{e} (does the key belong to the certificate?)"),
    })?;
    Ok(Arc::new(config))
}

/// A client configuration: the server is verified against the CA
/// certificates of `ca`, or the system trust store without it; with
/// `client_cert` (certificate chain, private key) the client presents a
/// certificate when the server asks for one.
pub fn client_config(ca: Option<&Path>, client_cert: Option<(&Path, &Path)>) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = match ca {
        Some(path) => roots_from_file("CA certificates", path)?,
        None => system_roots()?,
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config { what: "protocol versions".into(), problem: e.to_string() })?
        .with_root_certificates(roots);
    let config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = load_certs("client certificate chain", cert)?;
            let key_der = load_key(key)?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| TlsError::Config {
                what: format!("client certificate {} with key {}", cert.display(), key.display()),
                problem: format!("{e} (does the key belong to the certificate?)"),
            })?
        }
    };
    Ok(Arc::new(config))
}

/// The name a client checks the server's certificate against (a DNS name
/// or an IP address).
pub fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_string()).map_err(|e| TlsError::Setting {
        name: "server name".into(),
        problem: format!("'{name}' is neither a DNS name nor an IP address: {e}"),
    })
}

/// A connection as an event loop holds it: plain TCP or TLS over TCP.
/// See the module documentation for how a loop drives it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A TLS session over a non-blocking TCP socket (inside [`Stream::Tls`]).
pub struct TlsStream {
    tcp: TcpStream,
    conn: rustls::Connection,
    /// The first TLS error, repeated by every later read and write.
    failed: Option<String>,
    /// The last read returned data but stopped before the socket said
    /// `WouldBlock` (a full buffer, or a close or error behind the data).
    more: bool,
}

fn tls_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => {
            use rustls::CertificateError as C;
            let hint = match c {
                C::UnknownIssuer => " (not issued by a trusted CA: check the CA file)",
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    " (not valid for the name connected to: connect by that name or set the name to check)"
                }
                C::Expired | C::ExpiredContext { .. } => " (expired)",
                C::NotValidYet | C::NotValidYetContext { .. } => " (not valid yet: check the clocks)",
                _ => "",
            };
            format!("TLS: the peer's certificate is not accepted: {c:?}{hint}")
        }
        rustls::Error::NoCertificatesPresented => "TLS: the peer presented no certificate".into(),
        rustls::Error::AlertReceived(a) => format!("TLS: the peer refused the session (alert {a:?})"),
        rustls::Error::InvalidMessage(m) => format!("TLS: the peer does not speak TLS ({m:?})"),
        e => format!("TLS: {e}"),
    }
}

impl Stream {
    /// A plain TCP stream.
    pub fn plain(tcp: TcpStream) -> Stream {
        Stream::Plain(tcp)
    }

    /// The server side of TLS over an accepted socket; the handshake runs as
    /// the loop reads and writes.
    pub fn tls_server(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<Stream> {
        let conn = rustls::ServerConnection::new(config).map_err(|e| io::Error::other(tls_error(&e)))?;
        Ok(Stream::new_tls(tcp, conn.into()))
    }

    /// The client side of TLS over a (possibly still connecting) socket;
    /// the server's certificate must be valid for `server_name`. The
    /// ClientHello goes out with the first `write`/`write_pending` once the
    /// socket is connected.
    pub fn tls_client(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> io::Result<Stream> {
        let conn = rustls::ClientConnection::new(config, server_name).map_err(|e| io::Error::other(tls_error(&e)))?;
        Ok(Stream::new_tls(tcp, conn.into()))
    }

    fn new_tls(tcp: TcpStream, mut conn: rustls::Connection) -> Stream {
        conn.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Stream::Tls(Box::new(TlsStream { tcp, conn, failed: None, more: false }))
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.tcp,
        }
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nodelay(on)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    /// The socket's pending error (`SO_ERROR`), e.g. a refused connect.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.tcp().take_error()
    }

    /// Changes how much unsent data a TLS stream buffers (see
    /// [`TLS_BUFFER_LIMIT`]); no effect on a plain stream.
    pub fn set_buffer_limit(&mut self, limit: usize) {
        if let Stream::Tls(t) = self {
            t.conn.set_buffer_limit(Some(limit.max(1)));
        }
    }

    /// Whether the TLS handshake is still going on (false for plain TCP).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.conn.is_handshaking(),
        }
    }

    /// Ciphertext is waiting to go out: keep WRITABLE interest and call
    /// [`Stream::write_pending`] when writable. Always false for plain TCP.
    pub fn wants_write(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.conn.wants_write(),
        }
    }

    /// The last `read` returned data but stopped before the socket said
    /// `WouldBlock` (the peer's close or an error came behind the data):
    /// read again without waiting for readiness. Always false for plain TCP.
    pub fn more_to_read(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.more,
        }
    }

    /// Pushes waiting ciphertext to the socket until none is left or the
    /// socket would block (then `Ok` too: check [`Stream::wants_write`]).
    /// Errors are socket errors or the stream's earlier TLS error.
    pub fn write_pending(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(t) => t.send_tls(),
        }
    }

    /// Bytes of ciphertext waiting to go out (and, before the handshake
    /// completes, also plaintext): bounded by the buffer limit plus one
    /// record. For diagnostics and tests.
    pub fn buffered_out(&mut self) -> usize {
        match self {
            Stream::Plain(_) => 0,
            // No new records were read since the last processing, so this
            // only reports the state.
            Stream::Tls(t) => t.conn.process_new_packets().map(|s| s.tls_bytes_to_write()).unwrap_or(0),
        }
    }

    /// Queues a TLS close_notify and tries to send it (best effort, before
    /// closing the socket). No effect on a plain stream.
    pub fn send_close_notify(&mut self) {
        if let Stream::Tls(t) = self {
            t.conn.send_close_notify();
            let _ = t.send_tls();
        }
    }
}

impl TlsStream {
    fn failed(&self) -> Option<io::Error> {
        self.failed.as_ref().map(|m| io::Error::new(io::ErrorKind::InvalidData, m.clone()))
    }

    /// Pushes ciphertext until none is left or the socket would block.
    fn send_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match self.failed() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.more = false;
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        // Something to report after the data already in `buf`.
        let stop = |n: usize, more: &mut bool, end: io::Result<usize>| {
            if n > 0 {
                *more = true;
                Ok(n)
            } else {
                end
            }
        };
        loop {
            match self.conn.reader().read(&mut buf[n..]) {
                // close_notify received and everything before it read.
                Ok(0) => return stop(n, &mut self.more, Ok(0)),
                Ok(k) => {
                    n += k;
                    if n == buf.len() {
                        self.more = true;
                        return Ok(n);
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // EOF without close_notify: a close all the same (a
                // truncation attack cannot matter to a framed protocol:
                // an incomplete frame is never used).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return stop(n, &mut self.more, Ok(0)),
                Err(e) => return stop(n, &mut self.more, Err(e)),
            }
            if let Some(e) = self.failed() {
                return stop(n, &mut self.more, Err(e));
            }
            match self.conn.read_tls(&mut self.tcp) {
                // EOF: noted by rustls; the reader reports it above.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Handshake answers (or a close_notify) may be waiting.
                    if let Err(e) = self.send_tls() {
                        return stop(n, &mut self.more, Err(e));
                    }
                    return if n > 0 { Ok(n) } else { Err(e) };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return stop(n, &mut self.more, Err(e)),
            }
            if let Err(e) = self.conn.process_new_packets() {
                // rustls queued an alert for the peer: best effort.
                let _ = self.send_tls();
                self.failed = Some(tls_error(&e));
                let err = self.failed().unwrap_or_else(|| io::ErrorKind::InvalidData.into());
                return stop(n, &mut self.more, Err(err));
            }
            // Handshake answers go out as soon as they are made.
            if self.conn.wants_write() {
                if let Err(e) = self.send_tls() {
                    return stop(n, &mut self.more, Err(e));
                }
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(e) = self.failed() {
            return Err(e);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // Make room first, then take what fits.
        self.send_tls()?;
        let n = self.conn.writer().write(buf)?;
        self.send_tls()?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    /// Pushes waiting ciphertext; `WouldBlock` if some is still waiting.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => {
                t.send_tls()?;
                if t.conn.wants_write() {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            }
        }
    }
}

impl Source for Stream {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.register(registry, token, interests),
            Stream::Tls(t) => t.tcp.register(registry, token, interests),
        }
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.reregister(registry, token, interests),
            Stream::Tls(t) => t.tcp.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.deregister(registry),
            Stream::Tls(t) => t.tcp.deregister(registry),
        }
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stream::Plain(s) => f.debug_tuple("Plain").field(s).finish(),
            Stream::Tls(t) => f
                .debug_struct("Tls")
                .field("tcp", &t.tcp)
                .field("handshaking", &t.conn.is_handshaking())
                .field("failed", &t.failed)
                .finish(),
        }
    }
}
