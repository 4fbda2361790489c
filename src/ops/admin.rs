//! The admin listener: a small HTTP/1.1 server on a thread of its own
//! (`anychat-admin`), one request per connection, read with a time-out and
//! a size bound. Routes: `GET /metrics` (Prometheus text), `GET /` (the
//! status page, which reloads itself every 2 s), `GET /api/status` (the
//! same as JSON). Each request asks the event loop for a snapshot through a
//! bounded channel and the loop's waker; the loop never waits for this
//! thread.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::{AdminRequest, Snapshot, STATUS_LIMIT};

/// Longest request head read.
const MAX_REQUEST: usize = 8 * 1024;
/// A client has this long to send its request, and the loop to answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The admin listener, bound; [`Admin::spawn`] starts its thread.
pub struct Admin {
    listener: TcpListener,
    tx: Sender<AdminRequest>,
}

/// Binds the admin listener; returns it and the channel the loop answers on.
pub fn bind(addr: SocketAddr) -> io::Result<(Admin, Receiver<AdminRequest>)> {
    let listener = TcpListener::bind(addr)?;
    let (tx, rx) = bounded(16);
    Ok((Admin { listener, tx }, rx))
}

impl Admin {
    /// The address bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves on a thread of its own; `wake` wakes the event loop.
    pub fn spawn(self, wake: Arc<dyn Fn() + Send + Sync>) -> io::Result<()> {
        std::thread::Builder::new().name("anychat-admin".into()).spawn(move || {
            for stream in self.listener.incoming() {
                match stream {
                    Ok(s) => {
                        if let Err(e) = serve(s, &self.tx, wake.as_ref()) {
                            tracing::debug!("admin request failed: {e}");
                        }
                    }
                    Err(e) => {
                        tracing::warn!("admin listener: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
        Ok(())
    }
}

/// Asks the loop for a snapshot.
fn snapshot(tx: &Sender<AdminRequest>, wake: &(dyn Fn() + Send + Sync), limit: usize) -> Option<Snapshot> {
    let (reply, answer) = bounded(1);
    tx.try_send(AdminRequest { limit, reply }).ok()?;
    wake();
    answer.recv_timeout(TIMEOUT).ok()
}

fn serve(mut s: TcpStream, tx: &Sender<AdminRequest>, wake: &(dyn Fn() + Send + Sync)) -> io::Result<()> {
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(&mut s, "431 Request Header Fields Too Large", "text/plain", b"request too large\n");
        }
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return respond(&mut s, "405 Method Not Allowed", "text/plain", b"only GET\n");
    }
    let path = target.split('?').next().unwrap_or("");
    let (limit, kind) = match path {
        "/metrics" => (0, 0),
        "/" | "/index.html" => (STATUS_LIMIT, 1),
        "/api/status" => (STATUS_LIMIT, 2),
        _ => return respond(&mut s, "404 Not Found", "text/plain", b"not found: try /, /metrics or /api/status\n"),
    };
    let Some(snap) = snapshot(tx, wake, limit) else {
        return respond(&mut s, "503 Service Unavailable", "text/plain", b"the server loop did not answer\n");
    };
    let (body, ctype) = match kind {
        0 => (super::metrics::render(&snap), "text/plain; version=0.0.4; charset=utf-8"),
        1 => (super::status::html(&snap), "text/html; charset=utf-8"),
        _ => (super::status::json(&snap), "application/json"),
    };
    let body = if method == "HEAD" { Vec::new() } else { body.into_bytes() };
    respond(&mut s, "200 OK", ctype, &body)
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()
}
