//! A cluster of core servers for the tests: a `redis-server` of the test's
//! own, core servers on it, and two ways to cut the network between a
//! server and Redis silently (no RST: the bytes just stop, as with a pulled
//! cable) and heal it: a proxy, and a network namespace whose link is
//! taken down.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{field, free_port, Cli, Server};

/// A `redis-server` of the test's own on a free port.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    /// Without persistence.
    pub fn start() -> Redis {
        Redis::start_on(free_port())
    }

    /// Without persistence, on `port`.
    pub fn start_on(port: u16) -> Redis {
        Redis::spawn(port, "127.0.0.1", &["--save", "", "--appendonly", "no"])
    }

    /// Without persistence, listening on `address` as well as on 127.0.0.1.
    pub fn start_also_on(address: &str) -> Redis {
        // Protected mode answers only loopback clients without a password.
        let args = ["--save", "", "--appendonly", "no", "--protected-mode", "no"];
        Redis::spawn(free_port(), &format!("127.0.0.1 {address}"), &args)
    }

    /// With its append-only file in `dir` (written at every command): a
    /// restart on the same folder keeps everything.
    pub fn start_persistent(port: u16, dir: &Path) -> Redis {
        let dir = dir.to_str().expect("a UTF-8 temp folder");
        Redis::spawn(port, "127.0.0.1", &["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", dir])
    }

    fn spawn(port: u16, bind: &str, args: &[&str]) -> Redis {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", bind])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the cluster tests (apt-get install redis-server)");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10)).expect("redis-server did not become ready");
        Redis { child, port }
    }

    pub fn url(&self) -> String {
        self.url_at("127.0.0.1")
    }

    /// Its URL at `address` (one it listens on).
    pub fn url_at(&self, address: &str) -> String {
        format!("redis://{address}:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A core server of the cluster on the engine at `url`, named `name`, with a
/// 1.5 s lease (unless `extra` gives one).
pub fn member_at(url: &str, name: &str, extra: &[&str]) -> Server {
    member_via(&[], "127.0.0.1:0", url, name, extra)
}

/// As [`member_at`], started by the command `by` (e.g. `ip netns exec NS`)
/// and listening for clients on `listen`.
pub fn member_via(by: &[&str], listen: &str, url: &str, name: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--cluster-engine", url, "--cluster-name", name];
    if !extra.contains(&"--cluster-lease") {
        args.extend(["--cluster-lease", "1.5"]);
    }
    args.extend_from_slice(extra);
    let s = Server::start_via(by, listen, &args);
    s.expect_log("cluster on");
    s
}

/// A core server of the cluster on `redis`, named `name`.
pub fn member(redis: &Redis, name: &str, extra: &[&str]) -> Server {
    member_at(&redis.url(), name, extra)
}

/// A calls B (B accepts from its callback); both enter the call's room from
/// their START callbacks. Returns the room id.
pub fn establish(a: &mut Cli, b: &mut Cli) -> u32 {
    assert_eq!(a.cmd(&format!("request {} 3 42 hello there", b.user_id)), 0);
    let req = b.expect_call("REQUEST", a.user_id, 0);
    assert!(req.ends_with("flags=3 param=42 str=hello there"), "{req}");
    a.expect_call("REPLY", b.user_id, 0);
    let sa = a.expect_call("START", b.user_id, 0);
    let sb = b.expect_call("START", a.user_id, 0);
    assert_eq!(field(&sa, "param"), field(&sb, "param"), "the same room id to both");
    let room: u32 = field(&sa, "param").parse().unwrap();
    for c in [&mut *a, &mut *b] {
        c.expect("ret auto-enter 0");
        c.expect(&format!("notify ENTERROOM {room} 0"));
    }
    room
}

#[derive(Default)]
struct Cut {
    /// Nothing is forwarded.
    on: bool,
    /// Bumped by every cut: a connection older than the last cut is closed
    /// when the cut heals.
    generation: u64,
    /// Connections accepted during the cut, never answered.
    held: Vec<TcpStream>,
}

/// A TCP proxy to `127.0.0.1:<to>` that can cut the link silently: while
/// cut, no byte goes either way and no socket is closed; new connections
/// are accepted and never answered. On heal, the connections that lived
/// through the cut are closed (what they held is dropped) and new ones
/// work again.
pub struct Blackhole {
    pub port: u16,
    state: Arc<Mutex<Cut>>,
    stop: Arc<AtomicBool>,
}

/// How often a pump looks at the cut while it waits.
const POLL: Duration = Duration::from_millis(10);

impl Blackhole {
    pub fn start(to: u16) -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(Cut::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let mut cut = st.lock().unwrap();
                if cut.on {
                    cut.held.push(client);
                    continue;
                }
                let generation = cut.generation;
                drop(cut);
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else { continue };
                for (from, into) in [(&client, &server), (&server, &client)] {
                    let (from, into) = (from.try_clone().unwrap(), into.try_clone().unwrap());
                    let (st, sp) = (st.clone(), sp.clone());
                    std::thread::spawn(move || pump(from, into, generation, &st, &sp));
                }
            }
        });
        Blackhole { port, state, stop }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops forwarding, both ways, without closing anything.
    pub fn cut(&self) {
        let mut cut = self.state.lock().unwrap();
        cut.on = true;
        cut.generation += 1;
    }

    /// Forwards again: connections that lived through the cut are closed.
    pub fn heal(&self) {
        let mut cut = self.state.lock().unwrap();
        cut.on = false;
        for s in cut.held.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.heal();
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` into `into` while the link is up; waits (reading nothing)
/// while it is cut; closes both once the link healed after a cut it lived
/// through.
fn pump(mut from: TcpStream, mut into: TcpStream, generation: u64, state: &Mutex<Cut>, stop: &AtomicBool) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        let (on, now) = {
            let cut = state.lock().unwrap();
            (cut.on, cut.generation)
        };
        if on {
            std::thread::sleep(POLL);
            continue;
        }
        if now != generation {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // Read across the cut's start: lost with the connection.
                if state.lock().unwrap().generation != generation {
                    continue;
                }
                if into.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = into.shutdown(Shutdown::Both);
}

/// A network namespace of the test's own, linked to this one by a veth
/// pair: `host` here, `addr` there (a /24 of 198.18.0.0/15, the range kept
/// for network tests). Taking this side's end down cuts the link silently:
/// the namespace's end stays up, no RST is sent, packets are just lost.
/// Needs root (`ip netns add`) and iproute2; deleted when dropped.
pub struct Netns {
    name: String,
    link: String,
    /// This side's address on the link.
    pub host: String,
    /// The namespace's address on the link.
    pub addr: String,
}

impl Netns {
    pub fn new() -> Netns {
        let pid = std::process::id();
        let (name, link) = (format!("anychat-ns{pid}"), format!("acvh{pid}"));
        let net = format!("198.{}.{}", 18 + ((pid >> 8) & 1), pid & 0xff);
        let (host, addr) = (format!("{net}.1"), format!("{net}.2"));
        // Left over by a run of the same pid that was killed.
        let _ = Command::new("ip").args(["link", "del", &link]).output();
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Netns { name, link, host, addr };
        ip(&["link", "add", &ns.link, "type", "veth", "peer", "name", "acvn0", "netns", &ns.name]);
        ip(&["addr", "add", &format!("{}/24", ns.host), "dev", &ns.link]);
        ip(&["link", "set", &ns.link, "up"]);
        for inside in [
            vec!["addr", "add", &format!("{}/24", ns.addr), "dev", "acvn0"],
            vec!["link", "set", "acvn0", "up"],
            vec!["link", "set", "lo", "up"],
        ] {
            ip(&[&["netns", "exec", &ns.name, "ip"][..], &inside].concat());
        }
        ns
    }

    /// The command that runs a program inside.
    pub fn exec(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.name]
    }

    /// Cuts the link: this side's end goes down.
    pub fn cut(&self) {
        ip(&["link", "set", &self.link, "down"]);
    }

    /// Heals the link.
    pub fn heal(&self) {
        ip(&["link", "set", &self.link, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.link]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Runs `ip ARGS`; panics with its error.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the network namespace test needs iproute2's `ip` (apt-get install iproute2): {e}"));
    assert!(
        out.status.success(),
        "ip {}: {} (the network namespace test needs root: CAP_NET_ADMIN and CAP_SYS_ADMIN)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}
