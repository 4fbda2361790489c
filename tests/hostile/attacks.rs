//! The attacks of the hostile-client suite as building blocks, shared by
//! `tests/hostile.rs` (one attack per test, checked by the harness) and
//! `tests/soak.rs` (attacks taking turns beside honest traffic for an hour):
//! attacker connections, the repeating units each flood writes, floods on
//! several connections at once, bursts, partial frames and connection
//! bursts. The `try_` functions return errors instead of panicking (the
//! soak records them and goes on).
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anychat::wire::protocol::{ClientMsg, ServerMsg, MEDIA_VIDEO};

use super::client::*;
use super::harness::ATTACKER_IP;

/// How long a step (a login, a room entry, an answer) may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// Connections a flooding attacker uses, each written by its own thread in
/// 1 MiB writes. (One connection did it in the reports; on a shared 2-core
/// test machine one writer thread does not always keep the server's socket
/// full, three do.)
pub const FLOOD_CONNS: usize = 3;

/// A connection from the attacker's address.
pub fn try_attacker(addr: SocketAddr) -> Result<Raw, String> {
    connect_from(ATTACKER_IP, addr, None, Duration::from_secs(2))
        .map(Raw::from_stream)
        .map_err(|e| format!("attacker connects: {e}"))
}

/// A connection from the attacker's address (panics if it cannot connect).
pub fn attacker(addr: SocketAddr) -> Raw {
    try_attacker(addr).unwrap_or_else(|e| panic!("{e}"))
}

/// A connection from the attacker's address, logged in as `name`.
pub fn try_attacker_login(addr: SocketAddr, name: &str) -> Result<Raw, String> {
    let mut a = try_attacker(addr)?;
    a.login_here(name, WAIT)?;
    Ok(a)
}

/// As [`try_attacker_login`], panicking on failure.
pub fn attacker_login(addr: SocketAddr, name: &str) -> Raw {
    try_attacker_login(addr, name).unwrap_or_else(|e| panic!("{e}"))
}

/// Sends EnterRoom and waits for its result: `Ok` when admitted.
pub fn try_enter(c: &mut Raw, room: u32) -> Result<(), String> {
    c.send(&ClientMsg::EnterRoom { room_id: room, password: vec![] })
        .map_err(|e| format!("{} entering {room}: send: {e}", c.name))?;
    match c.recv_until(Instant::now() + WAIT, |m| matches!(m, ServerMsg::EnterRoomResult { .. })) {
        Ok(ServerMsg::EnterRoomResult { code: 0, .. }) => Ok(()),
        other => Err(format!("{} entering {room}: {}", c.name, short(&other))),
    }
}

/// Sends EnterRoom and waits for its result; panics unless admitted.
pub fn enter(c: &mut Raw, room: u32) {
    try_enter(c, room).unwrap_or_else(|e| panic!("{e}"))
}

/// Logs in a user that reads normally, in `room` if given.
pub fn try_watcher(addr: SocketAddr, name: &str, room: Option<u32>) -> Result<Watcher, String> {
    let mut raw = Raw::login(addr, name, WAIT)?;
    if let Some(r) = room {
        try_enter(&mut raw, r)?;
    }
    Ok(Watcher::new(raw))
}

/// As [`try_watcher`], panicking on failure.
pub fn watcher(addr: SocketAddr, name: &str, room: Option<u32>) -> Watcher {
    try_watcher(addr, name, room).unwrap_or_else(|e| panic!("{e}"))
}

/// A server message in a few words (for figures and failures).
pub fn short(r: &Result<ServerMsg, RecvError>) -> String {
    match r {
        Ok(ServerMsg::VideoCall { ev, .. }) => {
            let name = ["?", "REQUEST", "REPLY", "START", "FINISH"].get(ev.event as usize).unwrap_or(&"?");
            format!("{name}(user {}, code {})", ev.user_id, ev.error_code)
        }
        Ok(ServerMsg::LoginResult { user_id, code, .. }) => format!("LoginResult(user {user_id}, code {code})"),
        Ok(m) => format!("{m:?}"),
        Err(e) => e.to_string(),
    }
}

/// A room text of `len` bytes.
pub fn text(len: usize) -> ClientMsg {
    ClientMsg::Text { to: 0, secret: false, text: vec![b't'; len] }
}

// ----- the units floods repeat ---------------------------------------------------

/// A Ping (allowed before login).
pub fn ping_unit() -> Vec<u8> {
    frames(&[ClientMsg::Ping { seq: 7 }])
}

/// `LeaveRoom(-1)` (the current room, of which there is none).
pub fn leave_room_unit() -> Vec<u8> {
    frames(&[ClientMsg::LeaveRoom { room_id: u32::MAX }])
}

/// A call Request to `target` and its cancellation.
pub fn request_cancel_unit(target: u32) -> Vec<u8> {
    frames(&[call_msg(REQUEST, target, 0, 1, b""), call_msg(REPLY, target, CANCEL, 1, b"")])
}

/// Subscribe to `target`'s video, then unsubscribe.
pub fn subscribe_unit(target: u32) -> Vec<u8> {
    let sub = |on| ClientMsg::Subscribe { user_id: target, kind: MEDIA_VIDEO, on };
    frames(&[sub(true), sub(false)])
}

/// A room text of 60 KB.
pub fn room_text_unit() -> Vec<u8> {
    frames(&[text(60_000)])
}

// ----- floods, bursts, partial frames ------------------------------------------------

/// Ends an attacker's connection whose socket a drain thread also reads.
pub fn hang_up(c: Raw, drain: std::thread::JoinHandle<u64>) -> u64 {
    let _ = c.stream.shutdown(std::net::Shutdown::Both);
    drain.join().unwrap_or(0)
}

/// Floods `unit` on every connection, each from its own thread, for `dur`
/// (what comes back is read and discarded), then hangs up. Returns each
/// connection's flood and the total of units written.
pub fn flood_all(conns: Vec<Raw>, unit: &[u8], dur: Duration) -> (Vec<Flood>, u64) {
    let until = Instant::now() + dur;
    let threads: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let unit = unit.to_vec();
            std::thread::spawn(move || {
                let drain = drain_in_background(&c.stream);
                let f = Flood::run(&mut c.stream, &unit, until);
                hang_up(c, drain);
                f
            })
        })
        .collect();
    let floods: Vec<Flood> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let total = floods.iter().map(|f| f.units).sum();
    (floods, total)
}

pub fn describe(floods: &[Flood]) -> String {
    floods.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; ")
}

/// `n` attacker connections that said Hello and did not log in.
pub fn try_hello_attackers(addr: SocketAddr, n: usize) -> Result<Vec<Raw>, String> {
    (0..n)
        .map(|_| {
            let mut a = try_attacker(addr)?;
            a.send(&hello()).map_err(|e| format!("attacker Hello: {e}"))?;
            Ok(a)
        })
        .collect()
}

/// `n` attacker connections logged in as `name-0`, `name-1`, …, in `room`
/// if given.
pub fn try_attackers(addr: SocketAddr, name: &str, room: Option<u32>, n: usize) -> Result<Vec<Raw>, String> {
    (0..n)
        .map(|i| {
            let mut a = try_attacker_login(addr, &format!("{name}-{i}"))?;
            if let Some(r) = room {
                try_enter(&mut a, r)?;
            }
            Ok(a)
        })
        .collect()
}

/// Writes `n` units at a time as fast as the server takes them, `count`
/// times `gap` apart, then stays connected until `hold` after the start.
pub fn bursts(stream: &mut TcpStream, unit: &[u8], n: u64, count: usize, gap: Duration, hold: Duration) -> Vec<Flood> {
    let start = Instant::now();
    let mut bursts = Vec::new();
    for i in 0..count {
        if i > 0 {
            std::thread::sleep(gap);
        }
        bursts.push(Flood::run_limited(stream, unit, start + hold, n));
    }
    if let Some(rest) = hold.checked_sub(start.elapsed()) {
        std::thread::sleep(rest);
    }
    bursts
}

/// `n` attacker connections (opened by 4 threads) each holding a partial
/// frame: a 1 MiB length prefix and all of the body but its last byte;
/// every other one says Hello first (so the frame comes before login).
pub fn partial_frames(addr: SocketAddr, n: usize) -> Vec<Raw> {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut conns = Vec::new();
                for i in 0..n / 4 {
                    let Ok(s) = connect_from(ATTACKER_IP, addr, None, WAIT) else { continue };
                    let mut c = Raw::from_stream(s);
                    let _ = c.stream.set_write_timeout(Some(Duration::from_secs(2)));
                    let mut bytes = Vec::new();
                    if (t + i) % 2 == 1 {
                        hello().encode(&mut bytes);
                    }
                    bytes.extend_from_slice(&(1u32 << 20).to_be_bytes());
                    bytes.resize(bytes.len() + (1 << 20) - 1, 0x0D);
                    let _ = c.send_raw(&bytes);
                    conns.push(c);
                }
                conns
            })
        })
        .collect();
    threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
}

/// Opens `n` connections from `from` as fast as it can (4 threads, within
/// `within`): every other one says Hello and logs in as `name-i`, the others
/// say nothing. Returns the connections opened and how many logged in.
pub fn connection_burst(addr: SocketAddr, from: Ipv4Addr, name: &str, n: usize, within: Duration) -> (Vec<Raw>, usize) {
    const THREADS: usize = 4;
    let deadline = Instant::now() + within;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let name = name.to_string();
            std::thread::spawn(move || {
                let (mut logging, mut silent) = (Vec::new(), Vec::new());
                for i in (t..n).step_by(THREADS) {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let Ok(s) = connect_from(from, addr, None, Duration::from_secs(1)) else { continue };
                    let mut c = Raw::from_stream(s);
                    if i % 2 == 0 {
                        let _ = c.send_all(&[hello(), login_msg(&format!("{name}-{i}"))]);
                        logging.push(c);
                    } else {
                        silent.push(c);
                    }
                }
                // The logins' answers (without waiting long for any one).
                let until = Instant::now() + Duration::from_secs(2);
                let mut logged_in = 0;
                for c in logging.iter_mut() {
                    let r = c.recv_until(until, |m| matches!(m, ServerMsg::LoginResult { .. }));
                    if matches!(r, Ok(ServerMsg::LoginResult { code: 0, .. })) {
                        logged_in += 1;
                    }
                }
                logging.extend(silent);
                (logging, logged_in)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    let mut logged_in = 0;
    for t in threads {
        let (c, l) = t.join().unwrap();
        all.extend(c);
        logged_in += l;
    }
    (all, logged_in)
}
