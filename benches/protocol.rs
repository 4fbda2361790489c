//! Frame encoder and decoder throughput (`cargo bench --bench protocol`).
//!
//! The messages are the ones of a call: the client's VideoCall event and the
//! server's VideoCall event with the peer's name, plus Ping/Pong.

use std::hint::black_box;

use anychat::wire::constants::*;
use anychat::wire::protocol::{split_frame, CallEvent, ClientMsg, ServerMsg};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn event(event: u32) -> CallEvent {
    CallEvent {
        event,
        user_id: 4242,
        error_code: 0,
        flags: BRAC_VIDEOCALL_FLAGS_AUDIO | BRAC_VIDEOCALL_FLAGS_VIDEO,
        param: 7,
        user_str: vec![],
    }
}

fn server_call() -> ServerMsg {
    ServerMsg::VideoCall {
        ev: event(BRAC_VIDEOCALL_EVENT_START),
        peer: anychat::wire::protocol::RoomUser {
            user_id: 4242,
            name: b"bench-user-4242".to_vec(),
            nick: b"bench-user-4242".to_vec(),
            level: 0,
            camera: 1,
            mic: 1,
        },
    }
}

fn encoded<F: Fn(&mut Vec<u8>)>(f: F) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let msg = server_call();
    let mut out = Vec::with_capacity(4096);
    g.bench_function("server VideoCall", |b| {
        b.iter(|| {
            out.clear();
            black_box(&msg).encode(&mut out);
            black_box(out.len())
        })
    });
    let cmsg = ClientMsg::VideoCall(event(BRAC_VIDEOCALL_EVENT_REQUEST));
    g.bench_function("client VideoCall", |b| {
        b.iter(|| {
            out.clear();
            black_box(&cmsg).encode(&mut out);
            black_box(out.len())
        })
    });
    g.bench_function("server Pong", |b| {
        b.iter(|| {
            out.clear();
            ServerMsg::Pong { seq: black_box(9) }.encode(&mut out);
            black_box(out.len())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    let sframe = encoded(|o| server_call().encode(o));
    g.bench_function("server VideoCall", |b| {
        b.iter(|| {
            let (body, _) = split_frame(black_box(&sframe)).unwrap().unwrap();
            black_box(ServerMsg::decode(body).unwrap())
        })
    });
    let cframe = encoded(|o| cmsg.encode(o));
    g.bench_function("client VideoCall", |b| {
        b.iter(|| {
            let (body, _) = split_frame(black_box(&cframe)).unwrap().unwrap();
            black_box(ClientMsg::decode(body).unwrap())
        })
    });
    g.finish();

    // A read buffer holding many frames, as the server sees under load.
    const FRAMES: usize = 1000;
    let mut stream = Vec::new();
    for i in 0..FRAMES {
        let ev = event([BRAC_VIDEOCALL_EVENT_REQUEST, BRAC_VIDEOCALL_EVENT_REPLY, BRAC_VIDEOCALL_EVENT_FINISH][i % 3]);
        ClientMsg::VideoCall(ev).encode(&mut stream);
        ClientMsg::Ping { seq: i as u32 }.encode(&mut stream);
    }
    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("split and decode 2000 client frames", |b| {
        b.iter(|| {
            let mut used = 0;
            let mut n = 0;
            while let Some((body, len)) = split_frame(&stream[used..]).unwrap() {
                black_box(ClientMsg::decode(body).unwrap());
                used += len;
                n += 1;
            }
            assert_eq!(n, 2 * FRAMES);
        })
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
