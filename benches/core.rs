//! The sans-IO core driven through full calls with no I/O (`cargo bench --bench core`).
//!
//! One call is Request → (REQUEST to the callee, REPLY(0) to the caller) →
//! callee Reply(0) → START to both → caller Finish → FINISH to both: 3 inputs
//! and 6 outputs, 9 events. Simulated time advances 50 µs per call (20,000
//! calls/s) and `on_timeout` runs every call, so the ring timers each call
//! leaves in the timer heap expire as they would in the server.
//!
//! - `core/full call`: `Core` alone (events/s);
//! - `core+codec/full call`: plus decoding the 3 client frames and encoding the
//!   6 server frames, i.e. all the server's work per call except the syscalls.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anychat::core::{ConnId, Core, CoreConfig, Output};
use anychat::wire::constants::*;
use anychat::wire::protocol::{split_frame, CallEvent, ClientMsg, Role, ServerMsg, PROTOCOL_VERSION};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const EVENTS_PER_CALL: u64 = 9;
const TICK: Duration = Duration::from_micros(50);

struct Rig {
    core: Core,
    now: Instant,
    a: (ConnId, u32),
    b: (ConnId, u32),
}

fn drain(core: &mut Core) -> usize {
    let mut n = 0;
    while let Some(o) = core.poll_output() {
        black_box(&o);
        n += 1;
    }
    n
}

impl Rig {
    fn new() -> Rig {
        let mut core = Core::new(CoreConfig::default());
        let now = Instant::now();
        let login = |core: &mut Core, conn: u64, name: &[u8]| -> (ConnId, u32) {
            let id = ConnId(conn);
            core.on_connect(now, id, false, "127.0.0.1".into());
            core.on_message(
                now,
                id,
                ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 },
            );
            core.on_message(now, id, ClientMsg::Login { name: name.to_vec(), password: vec![], pass_enc_type: 0 });
            let mut uid = 0;
            while let Some(o) = core.poll_output() {
                if let Output::Send(_, ServerMsg::LoginResult { user_id, code: 0, .. }) = o {
                    uid = user_id;
                }
            }
            assert!(uid > 0, "login failed");
            (id, uid)
        };
        let a = login(&mut core, 1, b"caller");
        let b = login(&mut core, 2, b"callee");
        Rig { core, now, a, b }
    }

    fn ev(event: u32, to: u32) -> ClientMsg {
        ClientMsg::VideoCall(CallEvent {
            event,
            user_id: to,
            error_code: 0,
            flags: BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO,
            param: 0,
            user_str: vec![],
        })
    }

    /// One full call through the core; returns the outputs produced.
    fn call(&mut self) -> usize {
        self.now += TICK;
        self.core.on_timeout(self.now);
        let (a, b, now) = (self.a, self.b, self.now);
        self.core.on_message(now, a.0, Self::ev(BRAC_VIDEOCALL_EVENT_REQUEST, b.1));
        let mut n = drain(&mut self.core);
        self.core.on_message(now, b.0, Self::ev(BRAC_VIDEOCALL_EVENT_REPLY, a.1));
        n += drain(&mut self.core);
        self.core.on_message(now, a.0, Self::ev(BRAC_VIDEOCALL_EVENT_FINISH, b.1));
        n + drain(&mut self.core)
    }

    /// The same call, from client frames to server frames.
    fn call_with_codec(&mut self, frames: &[Vec<u8>; 3], out: &mut Vec<u8>) -> usize {
        self.now += TICK;
        self.core.on_timeout(self.now);
        let now = self.now;
        let mut n = 0;
        for (conn, frame) in [(self.a.0, &frames[0]), (self.b.0, &frames[1]), (self.a.0, &frames[2])] {
            let (body, _) = split_frame(frame).unwrap().unwrap();
            self.core.on_message(now, conn, ClientMsg::decode(body).unwrap());
            while let Some(o) = self.core.poll_output() {
                if let Output::Send(_, msg) = o {
                    msg.encode(out);
                    n += 1;
                }
            }
        }
        out.clear();
        n
    }
}

fn core(c: &mut Criterion) {
    let mut rig = Rig::new();
    assert_eq!(rig.call(), 6, "a full call makes 6 outputs");
    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(EVENTS_PER_CALL));
    g.bench_function("full call (9 events)", |bch| bch.iter(|| black_box(rig.call())));
    g.finish();

    let mut rig = Rig::new();
    let enc = |m: ClientMsg| {
        let mut v = Vec::new();
        m.encode(&mut v);
        v
    };
    let frames = [
        enc(Rig::ev(BRAC_VIDEOCALL_EVENT_REQUEST, rig.b.1)),
        enc(Rig::ev(BRAC_VIDEOCALL_EVENT_REPLY, rig.a.1)),
        enc(Rig::ev(BRAC_VIDEOCALL_EVENT_FINISH, rig.b.1)),
    ];
    let mut out = Vec::with_capacity(4096);
    assert_eq!(rig.call_with_codec(&frames, &mut out), 6);
    let mut g = c.benchmark_group("core+codec");
    g.throughput(Throughput::Elements(EVENTS_PER_CALL));
    g.bench_function("full call (9 events)", |bch| bch.iter(|| black_box(rig.call_with_codec(&frames, &mut out))));
    g.finish();
}

criterion_group!(benches, core);
criterion_main!(benches);
