//! End-to-end media: separate client processes (`anychat-cli`, through the
//! library's C ABI) feed a moving test pattern and a tone as external
//! input, a real core server relays them, and the receivers' data
//! callbacks print what they got (see `tests/common` and the `stream`
//! command of `anychat-cli`).
//!
//! Every wait is on an event with a timeout. A "never arrives" check is
//! made only after a later frame that shares the receiver's FIFO media
//! queue with the forbidden one has arrived (same sender, later timestamp;
//! or another sender that started only after the forbidden sender's last
//! frame had been relayed), so that "not yet" cannot pass for "never".

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anychat::codec::patterns as codec;
use anychat::codec::PixelFormat;
use anychat::wire::constants::{GV_AUDIO_STATE_OPEN, GV_CAMERA_STATE_OPEN};
use common::{field, num, Cli, Server};

/// Longest wait for media events: a debug build encoding and decoding
/// 640×480 in several processes on a small machine.
const LONG: Duration = Duration::from_secs(40);
/// The test pattern's size.
const W: u32 = 640;
const H: u32 = 480;
/// The largest [`codec::signature_distance`] between a received frame and
/// the pattern frame of the same number that counts as "the same picture".
/// Decoded frames come within 1 of their source here (any of the three
/// formats), while the pattern's next frame (bars moved by 8 pixels) is 16
/// or more away.
const SIG_TOLERANCE: u8 = 6;
/// The tone `stream` sends: peak 8000, so RMS 8000/√2 ≈ 5657.
const RMS_RANGE: std::ops::Range<f64> = 4000.0..7000.0;

/// Media tests stream in real time: one at a time, so that they do not
/// starve each other of the machine's CPUs.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `video from=…` line.
#[derive(Debug)]
struct Video {
    w: i64,
    h: i64,
    bits: i64,
    len: i64,
    ts: i64,
    n: i64,
    sig: Vec<u8>,
}

fn parse_video(line: &str) -> Video {
    let sig = field(line, "sig");
    let sig = (0..sig.len() / 2).map(|i| u8::from_str_radix(&sig[2 * i..2 * i + 2], 16).unwrap()).collect();
    Video {
        w: num(line, "w"),
        h: num(line, "h"),
        bits: num(line, "bits"),
        len: num(line, "len"),
        ts: num(line, "ts"),
        n: num(line, "n"),
        sig,
    }
}

/// An `audio from=…` line.
#[derive(Debug)]
struct Audio {
    rate: i64,
    ch: i64,
    bits: i64,
    len: i64,
    ts: i64,
    rms: f64,
}

fn parse_audio(line: &str) -> Audio {
    Audio {
        rate: num(line, "rate"),
        ch: num(line, "ch"),
        bits: num(line, "bits"),
        len: num(line, "len"),
        ts: num(line, "ts"),
        rms: field(line, "rms").parse().unwrap(),
    }
}

/// The receiver's pixel format (`--video-fmt`) and what its frames hold.
#[derive(Clone, Copy, Debug)]
enum Fmt {
    Rgb24,
    Rgb32,
    Yuv420p,
}

impl Fmt {
    fn opts(self) -> &'static [&'static str] {
        match self {
            Fmt::Rgb24 => &["--video-fmt", "rgb24"],
            Fmt::Rgb32 => &["--video-fmt", "rgb32"],
            Fmt::Yuv420p => &["--video-fmt", "yuv420p"],
        }
    }

    fn bits(self) -> i64 {
        match self {
            Fmt::Rgb24 => 24,
            Fmt::Rgb32 => 32,
            Fmt::Yuv420p => 12,
        }
    }

    fn len(self) -> i64 {
        let px = i64::from(W * H);
        match self {
            Fmt::Rgb24 => px * 3,
            Fmt::Rgb32 => px * 4,
            Fmt::Yuv420p => px * 3 / 2,
        }
    }
}

fn opts<'a>(base: &[&'a str], fmt: Fmt) -> Vec<&'a str> {
    let mut v = base.to_vec();
    v.extend_from_slice(fmt.opts());
    v
}

/// `a` calls `b` with `flags`; `b` accepts and both enter the call's room
/// from their callbacks (`--auto-accept`, `--auto-enter`). Returns the room.
fn establish(a: &mut Cli, b: &mut Cli, flags: u32) -> u32 {
    assert_eq!(a.cmd(&format!("request {} {flags}", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    let sa = a.expect_call("START", b.user_id, 0);
    b.expect_call("START", a.user_id, 0);
    assert_eq!(field(&sa, "flags"), flags.to_string());
    let room: u32 = field(&sa, "param").parse().unwrap();
    for c in [&mut *a, &mut *b] {
        c.expect("ret auto-enter 0");
        c.expect(&format!("notify ENTERROOM {room} 0"));
    }
    room
}

/// `rx` asks for `of`'s video and audio.
fn subscribe(rx: &mut Cli, of: u32) {
    assert_eq!(rx.cmd(&format!("camera {of} 1")), 0, "{}: camera {of} 1", rx.name);
    assert_eq!(rx.cmd(&format!("mic {of} 1")), 0, "{}: mic {of} 1", rx.name);
}

/// Starts `stream SECS` on `tx` (640×480 at 15 fps, 16 kHz mono).
fn stream(tx: &mut Cli, secs: u32) {
    assert_eq!(tx.cmd(&format!("stream {secs}")), 0, "{}: stream", tx.name);
}

/// Waits for `tx`'s `streamed V A` line: the frames its input calls accepted.
fn streamed(tx: &mut Cli) -> (u32, u32) {
    let [video, audio, _, _] = streamed_fed(tx);
    (video, audio)
}

/// `stream`'s end: video and audio frames taken by the library, then fed
/// (a loaded machine feeds fewer in real time).
fn streamed_fed(tx: &mut Cli) -> [u32; 4] {
    let line = tx.expect_within("streamed ", LONG);
    let f: Vec<u32> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
    [f[0], f[1], f[2], f[3]]
}

/// Every frame fed was taken, and about as many as real time asks for
/// (at least half: the feeding thread may be late on a loaded machine).
#[track_caller]
fn assert_all_taken(who: &str, [video, audio, video_fed, audio_fed]: [u32; 4], secs: u32) {
    println!("{who}: {video} of {video_fed} video frames and {audio} of {audio_fed} audio chunks taken");
    assert_eq!((video, audio), (video_fed, audio_fed), "{who}: frames refused");
    assert!(video_fed >= secs * 15 / 2 && audio_fed >= secs * 50 / 2, "{who}: fed far too few in {secs} s");
}

/// Consumes `rx`'s lines starting with `prefix` until one has a timestamp of
/// at least `min_ts`, all within `wait`.
fn wait_ts(rx: &mut Cli, prefix: &str, min_ts: i64, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let line = rx.expect_within(prefix, left);
        if num(&line, "ts") >= min_ts {
            return;
        }
    }
}

/// Waits until `rx` has `count` lines starting with `prefix` (seen before
/// or now).
fn wait_count(rx: &mut Cli, prefix: &str, count: usize, wait: Duration) {
    let deadline = Instant::now() + wait;
    while received(rx, prefix).len() < count {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        rx.expect_within(prefix, left);
    }
}

/// Everything `rx` printed so far that starts with `prefix`.
fn received(rx: &mut Cli, prefix: &str) -> Vec<String> {
    rx.transcript().into_iter().filter(|l| l.starts_with(prefix)).collect()
}

/// Waits until `rx` has what `from` streamed for `secs` seconds: its last
/// audio chunks if audio flows (else its last video frames), which come
/// after everything else `from` sent to `rx` (one FIFO queue per receiver).
fn wait_stream_end(rx: &mut Cli, from: u32, secs: u32, audio: bool) {
    let end = i64::from(secs) * 1000;
    if audio {
        // Chunks of 20 ms: the last one is stamped after end - 40.
        wait_ts(rx, &format!("audio from={from} "), end - 100, LONG);
    } else {
        // One frame in 67 ms, and rate control may skip one.
        wait_ts(rx, &format!("video from={from} "), end - 400, LONG);
    }
}

/// Checks the video `rx` got from `from` (at least `min` frames, all
/// 640×480 in `fmt`, decodable, in order) and returns them.
fn check_video(rx: &mut Cli, from: u32, fmt: Fmt, min: usize) -> Vec<Video> {
    let frames: Vec<Video> = received(rx, &format!("video from={from} ")).iter().map(|l| parse_video(l)).collect();
    let name = &rx.name;
    assert!(frames.len() >= min, "{name}: {} video frames from {from}, {min} expected", frames.len());
    for f in &frames {
        assert_eq!((f.w, f.h), (i64::from(W), i64::from(H)), "{name}: {f:?}");
        assert_eq!((f.bits, f.len), (fmt.bits(), fmt.len()), "{name}: {fmt:?}: {f:?}");
        assert!(f.n >= 0, "{name}: a frame whose pattern cannot be read (garbage): {f:?}");
    }
    for p in frames.windows(2) {
        assert!(p[1].n > p[0].n, "{name}: frame numbers out of order: {} then {}", p[0].n, p[1].n);
        assert!(p[1].ts >= p[0].ts, "{name}: timestamps going back: {} then {}", p[0].ts, p[1].ts);
    }
    let ns: Vec<i64> = frames.iter().map(|f| f.n).collect();
    println!("{name}: {} video frames from {from} ({fmt:?}), n = {ns:?}", frames.len());
    frames
}

/// The signature of pattern frame `n` as the sender made it.
fn pattern_signature(n: i64) -> Vec<u8> {
    let frame = codec::test_pattern_rgb24(W, H, n as u32).unwrap();
    codec::frame_signature(PixelFormat::Rgb24, W, H, &frame).unwrap()
}

/// Compares received frames with the pattern frames of the same numbers
/// (and, to show that the comparison tells pictures apart, with their
/// neighbours); returns how many matched within [`SIG_TOLERANCE`].
fn check_signatures(name: &str, frames: &[Video]) -> usize {
    let mut matched = 0;
    let (mut same, mut neighbour) = (Vec::new(), Vec::new());
    for f in frames {
        let d = codec::signature_distance(&f.sig, &pattern_signature(f.n));
        let dn = codec::signature_distance(&f.sig, &pattern_signature(f.n + 1));
        same.push(d);
        neighbour.push(dn);
        matched += usize::from(d <= SIG_TOLERANCE);
        assert!(dn > SIG_TOLERANCE, "{name}: frame {} also matches pattern frame {} ({dn})", f.n, f.n + 1);
    }
    println!("{name}: signature distances to the same pattern frame {same:?}, to the next {neighbour:?}");
    matched
}

/// Checks the audio `rx` got from `from`: at least `min` chunks of 20 ms
/// of 16 kHz mono 16-bit PCM, in order, each with the tone's energy.
fn check_audio(rx: &mut Cli, from: u32, min: usize) {
    let chunks: Vec<Audio> = received(rx, &format!("audio from={from} ")).iter().map(|l| parse_audio(l)).collect();
    let name = &rx.name;
    assert!(chunks.len() >= min, "{name}: {} audio chunks from {from}, {min} expected", chunks.len());
    for c in &chunks {
        assert_eq!((c.rate, c.ch, c.bits, c.len), (16000, 1, 16, 640), "{name}: {c:?}");
        assert!(RMS_RANGE.contains(&c.rms), "{name}: audio energy off: {c:?}");
    }
    for p in chunks.windows(2) {
        assert!(p[1].ts >= p[0].ts, "{name}: audio timestamps going back: {} then {}", p[0].ts, p[1].ts);
    }
    let (lo, hi) = chunks.iter().fold((f64::MAX, 0f64), |(lo, hi), c| (lo.min(c.rms), hi.max(c.rms)));
    println!("{name}: {} audio chunks from {from}, rms {lo:.0}..{hi:.0}", chunks.len());
}

fn assert_no_media_from(rx: &mut Cli, from: u32) {
    rx.assert_not_seen(&format!("video from={from} "));
    rx.assert_not_seen(&format!("audio from={from} "));
}

#[test]
fn call_carries_video_and_audio_both_ways() {
    let _serial = serial();
    let server = Server::start(&[]);
    let (fa, fb) = (Fmt::Rgb24, Fmt::Yuv420p);
    let mut a = Cli::login(&server, "alice", &opts(&["--auto-enter"], fa));
    let mut b = Cli::login(&server, "bob", &opts(&["--auto-accept", "--auto-enter"], fb));
    establish(&mut a, &mut b, 3);
    subscribe(&mut a, b.user_id);
    subscribe(&mut b, a.user_id);
    stream(&mut a, 2);
    stream(&mut b, 2);
    let (aid, bid) = (a.user_id, b.user_id);
    for (rx, from) in [(&mut a, bid), (&mut b, aid)] {
        wait_count(rx, &format!("video from={from} "), 20, LONG);
        wait_stream_end(rx, from, 2, true);
    }
    assert_all_taken("alice", streamed_fed(&mut a), 2);
    assert_all_taken("bob", streamed_fed(&mut b), 2);
    for (rx, from, fmt) in [(&mut a, bid, fa), (&mut b, aid, fb)] {
        let frames = check_video(rx, from, fmt, 20);
        let matched = check_signatures(&rx.name, &frames);
        assert!(matched >= 1 && matched * 2 >= frames.len(), "{}: {matched} frames match their pattern", rx.name);
        check_audio(rx, from, 60);
        assert_eq!(rx.cmd(&format!("streaminfo {from}")), 0);
        assert_eq!(rx.expect("streaminfo "), format!("streaminfo {from} 640 480 16000"));
    }
    // Each knows the other's camera and microphone are open.
    for (rx, of) in [(&mut a, bid), (&mut b, aid)] {
        assert_eq!(rx.cmd(&format!("camstate {of}")), 0);
        assert_eq!(rx.expect("camstate "), format!("camstate {of} {GV_CAMERA_STATE_OPEN}"));
        assert_eq!(rx.cmd(&format!("micstate {of}")), 0);
        assert_eq!(rx.expect("micstate "), format!("micstate {of} {GV_AUDIO_STATE_OPEN}"));
    }
}

/// One call with `flags`, both streaming: `(video, audio)` expected from
/// the caller at the callee and from the callee at the caller.
fn flags_case(server: &Server, tag: &str, flags: u32, caller_to_callee: (bool, bool), callee_to_caller: (bool, bool)) {
    println!("--- flags {flags:#x} ({tag})");
    let mut a = Cli::login(server, &format!("a_{tag}"), &["--auto-enter"]);
    let mut b = Cli::login(server, &format!("b_{tag}"), &["--auto-accept", "--auto-enter"]);
    establish(&mut a, &mut b, flags);
    subscribe(&mut a, b.user_id);
    subscribe(&mut b, a.user_id);
    stream(&mut a, 2);
    stream(&mut b, 2);
    let (aid, bid) = (a.user_id, b.user_id);
    for (rx, from, (video, audio)) in [(&mut b, aid, caller_to_callee), (&mut a, bid, callee_to_caller)] {
        assert!(video || audio, "each direction carries something in these cases");
        wait_stream_end(rx, from, 2, audio);
        // The allowed streams arrived up to their end: what was forbidden
        // would have arrived before.
        if video {
            check_video(rx, from, Fmt::Rgb24, 20);
        } else {
            rx.assert_not_seen(&format!("video from={from} "));
        }
        if audio {
            check_audio(rx, from, 60);
        } else {
            rx.assert_not_seen(&format!("audio from={from} "));
        }
    }
    streamed(&mut a);
    streamed(&mut b);
}

#[test]
fn call_flags_block_forbidden_streams() {
    let _serial = serial();
    let server = Server::start(&[]);
    const AV: u32 = 0x3;
    // FBSRC*: the caller's stream does not reach the callee.
    flags_case(&server, "fbsrcaudio", AV | 0x10, (true, false), (true, true));
    flags_case(&server, "fbsrcvideo", AV | 0x20, (false, true), (true, true));
    // FBTAR*: the callee's stream does not reach the caller.
    flags_case(&server, "fbtaraudio", AV | 0x40, (true, true), (true, false));
    flags_case(&server, "fbtarvideo", AV | 0x80, (true, true), (false, true));
    // Audio only: no video either way.
    flags_case(&server, "audioonly", 0x1, (false, true), (false, true));
}

#[test]
fn strangers_receive_nothing() {
    let _serial = serial();
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(&server, "bob", &["--auto-accept", "--auto-enter"]);
    let mut c = Cli::login(&server, "carol", &[]);
    let mut d = Cli::login(&server, "dave", &[]);
    let (aid, bid, cid, did) = (a.user_id, b.user_id, c.user_id, d.user_id);
    // Carol meets Alice in an ordinary room and asks for her media there.
    for x in [&mut a, &mut c] {
        assert_eq!(x.cmd("enter 100"), 0);
        x.expect("notify ENTERROOM 100 0");
        x.expect("notify ONLINEUSER ");
    }
    a.expect(&format!("notify USERATROOM {cid} 1"));
    subscribe(&mut c, aid);
    // Dave, in another room, does not know Alice.
    assert_eq!(d.cmd("enter 200"), 0);
    d.expect("notify ENTERROOM 200 0");
    assert_eq!(d.cmd(&format!("camera {aid} 1")), 205);
    assert_eq!(d.cmd(&format!("mic {aid} 1")), 205);
    // Alice goes into a call with Bob: she leaves room 100 for the call's
    // room, where Carol cannot follow her; Carol's subscription is stale.
    let room = establish(&mut a, &mut b, 3);
    c.expect(&format!("notify USERATROOM {aid} 0"));
    assert_eq!(c.cmd(&format!("enter {room}")), 0);
    c.expect(&format!("notify ENTERROOM {room} 300"));
    assert_eq!(c.cmd(&format!("camera {aid} 1")), 205, "Carol no longer sees Alice");
    // Carol ends up next to Dave.
    assert_eq!(c.cmd("enter 200"), 0);
    c.expect("notify ENTERROOM 200 0");
    c.expect("notify ONLINEUSER ");
    d.expect(&format!("notify USERATROOM {cid} 1"));
    subscribe(&mut c, did);
    subscribe(&mut b, aid);
    subscribe(&mut a, bid);
    stream(&mut a, 2);
    stream(&mut b, 2);
    wait_stream_end(&mut b, aid, 2, true);
    wait_stream_end(&mut a, bid, 2, true);
    check_video(&mut b, aid, Fmt::Rgb24, 20);
    streamed(&mut a);
    streamed(&mut b);
    // Everything of Alice's has been relayed (Bob has her last chunk). Now
    // Dave streams: his frames share Carol's queue and come after anything
    // of Alice's that could have been queued for her.
    stream(&mut d, 1);
    wait_stream_end(&mut c, did, 1, true);
    check_video(&mut c, did, Fmt::Rgb24, 8);
    streamed(&mut d);
    assert_no_media_from(&mut c, aid);
    assert_no_media_from(&mut c, bid);
    assert_no_media_from(&mut d, aid);
    assert_no_media_from(&mut d, bid);
    // Nor do the parties of the call get Dave's media.
    assert_no_media_from(&mut a, did);
    assert_no_media_from(&mut b, did);
}

#[test]
fn ordinary_room_media() {
    let _serial = serial();
    let server = Server::start(&[]);
    let fb = Fmt::Rgb32;
    let mut a = Cli::login(&server, "alice", &[]);
    let mut b = Cli::login(&server, "bob", fb.opts());
    let mut d = Cli::login(&server, "dave", &[]);
    let mut e = Cli::login(&server, "erin", &[]);
    let (aid, did, eid) = (a.user_id, d.user_id, e.user_id);
    for x in [&mut a, &mut b, &mut d] {
        assert_eq!(x.cmd("enter 100"), 0);
        x.expect("notify ENTERROOM 100 0");
        x.expect("notify ONLINEUSER ");
    }
    // Dave asks for Alice's media while in her room, then moves to room 200.
    subscribe(&mut d, aid);
    for x in [&mut d, &mut e] {
        assert_eq!(x.cmd("enter 200"), 0);
        x.expect("notify ENTERROOM 200 0");
        x.expect("notify ONLINEUSER ");
    }
    a.expect(&format!("notify USERATROOM {did} 0"));
    assert_eq!(d.cmd(&format!("camera {aid} 1")), 205, "Dave no longer sees Alice");
    assert_eq!(d.cmd(&format!("mic {aid} 1")), 205);
    d.expect(&format!("notify USERATROOM {eid} 1"));
    subscribe(&mut d, eid);
    subscribe(&mut b, aid);
    stream(&mut a, 2);
    wait_count(&mut b, &format!("video from={aid} "), 20, LONG);
    wait_stream_end(&mut b, aid, 2, true);
    streamed(&mut a);
    let frames = check_video(&mut b, aid, fb, 20);
    let matched = check_signatures(&b.name, &frames);
    assert!(matched >= 1 && matched * 2 >= frames.len(), "{matched} frames match their pattern");
    check_audio(&mut b, aid, 60);
    assert_eq!(b.cmd(&format!("streaminfo {aid}")), 0);
    assert_eq!(b.expect("streaminfo "), format!("streaminfo {aid} 640 480 16000"));
    // Erin streams after Alice's last chunk was relayed: her frames reach
    // Dave after anything of Alice's could have.
    stream(&mut e, 1);
    wait_stream_end(&mut d, eid, 1, true);
    check_video(&mut d, eid, Fmt::Rgb24, 8);
    streamed(&mut e);
    assert_no_media_from(&mut d, aid);
    assert_no_media_from(&mut b, eid);
}

/// Enters `room` with each of `clients` in turn (each sees the others come).
fn enter_all(room: u32, clients: &mut [&mut Cli]) {
    for c in clients.iter_mut() {
        assert_eq!(c.cmd(&format!("enter {room}")), 0, "{}: enter {room}", c.name);
        c.expect(&format!("notify ENTERROOM {room} 0"));
        c.expect("notify ONLINEUSER ");
    }
}

/// A picture whose top half is white goes through the whole path (RGB24
/// external input, H.264, the server, decoding, conversion to each
/// receiver's format): on Linux the first rows in memory of the RGB24 and
/// RGB32 buffers the video callback gets are the white ones (top-down, as
/// the vendor's Linux SDK delivers them), and `biHeight` is positive.
#[test]
fn rgb_pictures_arrive_top_down() {
    let _serial = serial();
    let server = Server::start(&[]);
    let mut a = Cli::login(&server, "alice", &["--picture", "halfwhite"]);
    let mut rx24 = Cli::login(&server, "bob", Fmt::Rgb24.opts());
    let mut rx32 = Cli::login(&server, "carol", Fmt::Rgb32.opts());
    let mut rxyuv = Cli::login(&server, "dave", Fmt::Yuv420p.opts());
    enter_all(100, &mut [&mut a, &mut rx24, &mut rx32, &mut rxyuv]);
    let aid = a.user_id;
    for rx in [&mut rx24, &mut rx32, &mut rxyuv] {
        subscribe(rx, aid);
    }
    stream(&mut a, 1);
    for (rx, fmt) in [(&mut rx24, Fmt::Rgb24), (&mut rx32, Fmt::Rgb32), (&mut rxyuv, Fmt::Yuv420p)] {
        wait_count(rx, &format!("video from={aid} "), 5, LONG);
        let lines = received(rx, &format!("video from={aid} "));
        for line in &lines {
            // Positive: the vendor's Linux SDK reports the height as it is.
            assert_eq!((num(line, "w"), num(line, "h")), (i64::from(W), i64::from(H)), "{}: {line}", rx.name);
            assert_eq!((num(line, "bits"), num(line, "len")), (fmt.bits(), fmt.len()), "{}: {line}", rx.name);
            // White is luma 235, black 16 (BT.601 limited range).
            let (top, bottom) = (num(line, "top"), num(line, "bottom"));
            assert!(top >= 200 && bottom <= 50, "{}: {fmt:?}: the first row in memory is not the top: {line}", rx.name);
        }
        println!("{}: {} frames in {fmt:?}, first rows white, last rows black", rx.name, lines.len());
    }
    streamed(&mut a);
}

/// Every raw input format `BRAC_SetInputVideoFormat` accepts is taken by
/// `BRAC_InputVideoData` and reaches a receiver as the same picture:
/// RGB565, RGB555, BGR32 and NV16 (converted to I420 before encoding), and
/// YUY2 and RGB32 beside them.
#[test]
fn every_raw_input_format_is_sent() {
    let _serial = serial();
    let server = Server::start(&[]);
    let mut rx = Cli::login(&server, "receiver", &[]);
    enter_all(100, &mut [&mut rx]);
    for name in ["rgb565", "rgb555", "bgr32", "nv16", "yuy2", "rgb32"] {
        let mut tx = Cli::login(&server, &format!("tx_{name}"), &["--input-fmt", name]);
        enter_all(100, &mut [&mut tx]);
        let id = tx.user_id;
        rx.expect(&format!("notify USERATROOM {id} 1"));
        subscribe(&mut rx, id);
        stream(&mut tx, 1);
        assert_all_taken(name, streamed_fed(&mut tx), 1);
        wait_count(&mut rx, &format!("video from={id} "), 8, LONG);
        let frames = check_video(&mut rx, id, Fmt::Rgb24, 8);
        let matched = check_signatures(&format!("{name} input"), &frames);
        assert!(matched * 2 >= frames.len(), "{name}: {matched} of {} frames match their pattern", frames.len());
        tx.quit();
    }
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read the server's status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Samples the server's RSS every 20 ms until stopped; the peak, in KiB.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::SeqCst) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        RssSampler { stop, thread }
    }

    fn peak(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// A and B in a call, subscribed to each other; B's first video callback
/// blocks `block_ms`.
fn slow_call(server: &Server, block_ms: u32) -> (Cli, Cli) {
    let block = block_ms.to_string();
    let mut a = Cli::login(server, "alice", &["--auto-enter"]);
    let mut b = Cli::login(server, "bob", &["--auto-accept", "--auto-enter", "--slow-video", &block]);
    establish(&mut a, &mut b, 3);
    subscribe(&mut a, b.user_id);
    subscribe(&mut b, a.user_id);
    (a, b)
}

#[test]
fn slow_receiver_does_not_slow_the_call() {
    let _serial = serial();
    let server = Server::start(&[]);
    let (mut a, mut b) = slow_call(&server, 4000);
    let (aid, bid) = (a.user_id, b.user_id);
    let rss0 = rss_kib(server.pid());
    let sampler = RssSampler::start(server.pid());
    // Streams longer than the block, so that the Finish below is sent while
    // both still stream.
    stream(&mut a, 6);
    stream(&mut b, 6);
    b.expect_within("slow start 4000", LONG);
    let blocked = Instant::now();
    b.expect_within("slow end", LONG);
    println!("bob's video callback blocked for {:?}", blocked.elapsed());
    // At once, while Bob still has Alice's media of those 4 s to read and
    // both still stream: the call's Finish is not held up behind it (the
    // server queues media apart from and after signalling; what the kernel
    // already holds for Bob he reads and decodes first).
    let t = Instant::now();
    assert_eq!(a.cmd(&format!("finish {bid} 0 7 bye")), 0);
    // Measured: 0.2 s (Bob decoding the ~60 frames the kernel held), about
    // 1 s with two CPU hogs running; the block itself was 4 s.
    let fb = b.expect_within(&format!("call FINISH user={aid} code=0 "), Duration::from_secs(3));
    let to_b = t.elapsed();
    let fa = a.expect_within(&format!("call FINISH user={bid} code=0 "), Duration::from_secs(3));
    println!("finish reached bob in {to_b:?} (alice's own after {:?})", t.elapsed());
    assert!(fb.ends_with("param=7 str=bye") && fa.ends_with("param=7 str=bye"), "{fb} / {fa}");
    // Alice was not slowed by Bob: her input took every frame in real time.
    assert_all_taken("alice", streamed_fed(&mut a), 6);
    streamed(&mut b);
    let peak = sampler.peak();
    println!("server RSS {rss0} KiB before streaming, peak {peak} KiB (+{} KiB)", peak.saturating_sub(rss0));
    assert!(peak < rss0 + 64 * 1024, "server RSS grew from {rss0} KiB to {peak} KiB");
    // Bob could not keep up: he lost the oldest of Alice's frames of the
    // blocked seconds and got the newest ones, whole, in order, decodable.
    let tb = b.transcript();
    let finish_at = tb.iter().position(|l| l.starts_with("call FINISH")).unwrap();
    let frames: Vec<i64> = tb[..finish_at]
        .iter()
        .filter(|l| l.starts_with(&format!("video from={aid} ")))
        .filter_map(|l| l.split_whitespace().find_map(|f| f.strip_prefix("n=")).and_then(|n| n.parse().ok()))
        .collect();
    println!("bob got {} of alice's ~60 frames before the Finish: {frames:?}", frames.len());
    assert!(frames.len() >= 2, "{frames:?}");
    assert!(frames.len() < 50, "a blocked callback loses frames, it does not queue them all: {frames:?}");
    assert!(*frames.last().unwrap() >= 50, "the newest frames are the ones kept: {frames:?}");
    check_video(&mut b, aid, Fmt::Rgb24, 2);
    check_audio(&mut b, aid, 150);
    // Alice has at most Bob's first frame: his burst of the blocked seconds
    // comes after the Finish (see `slow_receivers_own_media_keeps_flowing`).
    check_video(&mut a, bid, Fmt::Rgb24, 0);
}

/// Callbacks run on the library's callback thread, not its network thread:
/// while Bob's video callback blocks, his own media keeps flowing to Alice.
#[test]
fn slow_receivers_own_media_keeps_flowing() {
    let _serial = serial();
    let server = Server::start(&[]);
    let (mut a, mut b) = slow_call(&server, 4000);
    let bid = b.user_id;
    stream(&mut a, 4);
    stream(&mut b, 4);
    b.expect_within("slow start 4000", LONG);
    // A frame Bob's input took 2 s into the stream, in the middle of the
    // block, reaches Alice before the block ends (~4.1 s).
    wait_ts(&mut a, &format!("video from={bid} "), 2000, LONG);
    b.assert_not_seen("slow end");
}

/// For the same reason, a video callback that blocks longer than the
/// server's keep-alive time does not lose the connection: pings go on, and
/// the call survives.
#[test]
fn blocking_callback_longer_than_keepalive_keeps_the_call() {
    let _serial = serial();
    let server = Server::start(&["--keepalive-timeout", "1.5"]);
    let (mut a, mut b) = slow_call(&server, 3000);
    let (aid, bid) = (a.user_id, b.user_id);
    stream(&mut a, 2);
    b.expect_within("slow start 3000", LONG);
    b.expect_within("slow end", LONG);
    streamed(&mut a);
    // The call is still on: no FINISH (100106) came with the lines above.
    a.assert_not_seen("call FINISH");
    b.assert_not_seen("call FINISH");
    assert_eq!(a.cmd(&format!("finish {bid} 0 7")), 0);
    a.expect(&format!("call FINISH user={bid} code=0 "));
    b.expect(&format!("call FINISH user={aid} code=0 "));
}
