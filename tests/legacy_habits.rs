//! Legacy apps' habits, end to end (a real core server, `anychat-cli`
//! client processes on the library's C ABI, see `tests/common`): the
//! vendor's samples call `BRAC_Connect`, `BRAC_Login` and `BRAC_EnterRoom`
//! one after another without waiting for any callback; a GUI's button
//! pressed twice runs them again; an app draws its own picture from the
//! video data callback called with its own user id; a volume meter reads
//! `BRAC_USERSTATE_SPEAKVOLUME`.

mod common;

use common::{Cli, Server, WAIT};

/// `c`'s lines starting with `prefix` so far.
fn lines(c: &mut Cli, prefix: &str) -> Vec<String> {
    c.transcript().into_iter().filter(|l| l.starts_with(prefix)).collect()
}

/// The user id of `c`'s `notify LOGINSYSTEM ID 0`.
fn logged_in_as(c: &mut Cli) -> u32 {
    let line = c.expect("notify LOGINSYSTEM ");
    assert!(line.ends_with(" 0"), "{}: {line}", c.name);
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// `c` sends `lines` at once, then reads each one's `ret … 0`.
fn in_a_row(c: &mut Cli, lines: &[String]) {
    for l in lines {
        c.send(l);
    }
    for l in lines {
        let word = l.split_whitespace().next().unwrap();
        c.expect(&format!("ret {word} 0"));
    }
}

fn sequence(server: &Server, name: &str, room: u32) -> Vec<String> {
    vec![format!("connect 127.0.0.1 {}", server.port), format!("login {name}"), format!("enter {room}")]
}

/// `BRAC_Connect`, `BRAC_Login`, `BRAC_EnterRoom` (and what needs the room)
/// back to back: each runs when the step before it completed, and the app
/// ends up in the room.
#[test]
fn connect_login_enter_issued_back_to_back_end_in_the_room() {
    let server = Server::start(&[]);
    let mut bob = Cli::login(&server, "bob", &[]);
    assert_eq!(bob.cmd("enter 2"), 0);
    bob.expect("notify ENTERROOM 2 0");
    // Her camera is the fake one (this machine may have none).
    let mut alice = Cli::spawn_env("alice", &[], &[("ANYCHAT_FAKE_CAMERA", "pattern")]);
    let mut calls = sequence(&server, "alice", 2);
    calls.push("camera -1 1".into());
    calls.push("text 0 0 hello room".into());
    in_a_row(&mut alice, &calls);
    alice.expect("notify CONNECT 1 0");
    let id = logged_in_as(&mut alice);
    alice.expect("notify ENTERROOM 2 0");
    alice.expect("notify ONLINEUSER 2 2");
    // In the order of the calls: the camera opened and the text sent once
    // in the room.
    bob.expect(&format!("notify USERATROOM {id} 1"));
    bob.expect(&format!("notify CAMERASTATE {id} 2"));
    bob.expect(&format!("text from={id} to=0 secret=0 msg=hello room"));
    let notes = lines(&mut alice, "notify ");
    assert_eq!(
        notes[..4],
        [
            "notify CONNECT 1 0".to_string(),
            format!("notify LOGINSYSTEM {id} 0"),
            "notify ENTERROOM 2 0".into(),
            "notify ONLINEUSER 2 2".into()
        ]
    );
    assert_eq!(alice.cmd("status"), 0);
    assert_eq!(alice.expect("status "), "status 3");
}

/// The same three calls twice in a row (a button pressed twice): one
/// session, each call answered with success, no error and no lost link.
#[test]
fn the_same_sequence_twice_keeps_one_session() {
    let server = Server::start(&[]);
    let mut bob = Cli::login(&server, "bob", &[]);
    assert_eq!(bob.cmd("enter 2"), 0);
    bob.expect("notify ENTERROOM 2 0");
    let mut alice = Cli::spawn("alice", &[]);
    let mut calls = sequence(&server, "alice", 2);
    calls.extend(sequence(&server, "alice", 2));
    in_a_row(&mut alice, &calls);
    let id = {
        alice.expect("notify CONNECT 1 0");
        alice.expect("notify CONNECT 1 0");
        let id = logged_in_as(&mut alice);
        assert_eq!(logged_in_as(&mut alice), id);
        id
    };
    alice.expect("notify ENTERROOM 2 0");
    alice.expect("notify ENTERROOM 2 0");
    // A text after it all: when Bob has it, he has everything before it.
    assert_eq!(alice.cmd("text 0 0 done"), 0);
    bob.expect(&format!("text from={id} to=0 secret=0 msg=done"));
    assert_eq!(lines(&mut bob, &format!("notify USERATROOM {id} ")), [format!("notify USERATROOM {id} 1")]);
    alice.assert_not_seen("notify LINKCLOSE");
    let notes = lines(&mut alice, "notify ");
    assert!(notes.iter().all(|l| l.ends_with(" 0") || l.starts_with("notify ONLINEUSER")), "{notes:?}");
}

/// `BRAC_Connect` to another server while logged in and in a room: the old
/// session ends as a logout would (the room sees the user leave), the new
/// login is the new server's, and no lost link is reported.
#[test]
fn a_connect_to_another_server_switches_cleanly() {
    let one = Server::start(&[]);
    let two = Server::start(&[]);
    let mut bob = Cli::login(&one, "bob", &[]);
    assert_eq!(bob.cmd("enter 2"), 0);
    bob.expect("notify ENTERROOM 2 0");
    let mut alice = Cli::spawn("alice", &[]);
    in_a_row(&mut alice, &sequence(&one, "alice", 2));
    alice.expect("notify CONNECT 1 0");
    let id = logged_in_as(&mut alice);
    alice.expect("notify ENTERROOM 2 0");
    bob.expect(&format!("notify USERATROOM {id} 1"));
    in_a_row(&mut alice, &sequence(&two, "alice", 2));
    alice.expect("notify CONNECT 1 0");
    logged_in_as(&mut alice);
    alice.expect("notify ENTERROOM 2 0");
    alice.expect("notify ONLINEUSER 1 2");
    bob.expect(&format!("notify USERATROOM {id} 0"));
    alice.assert_not_seen("notify LINKCLOSE");
}

/// With its camera open, an app gets its own frames in its video data
/// callback with its own user id, in the pixel format it registered
/// (as fed for RGB24, converted for YUV420P), with no one else involved.
#[cfg(feature = "h264")]
#[test]
fn own_frames_reach_the_video_callback_with_ones_own_id() {
    let server = Server::start(&[]);
    let mut alice = Cli::login(&server, "alice", &["--video-fmt", "rgb24"]);
    let mut bob = Cli::login(&server, "bob", &["--video-fmt", "yuv420p"]);
    for c in [&mut alice, &mut bob] {
        assert_eq!(c.cmd("stream 1 160 120 15"), 0);
    }
    for (c, bits, len) in [(&mut alice, 24, 160 * 120 * 3), (&mut bob, 12, 160 * 120 * 3 / 2)] {
        let id = c.user_id;
        c.expect_within("streamed ", std::time::Duration::from_secs(30));
        let frames = lines(c, "video ");
        assert!(frames.len() >= 10, "{}: {} frames of its own", c.name, frames.len());
        let mut last = -1i64;
        for f in &frames {
            assert!(f.starts_with(&format!("video from={id} w=160 h=120 bits={bits} len={len} ")), "{f}");
            let n: i64 = f.split_whitespace().find_map(|w| w.strip_prefix("n=")).unwrap().parse().unwrap();
            assert!(n > last, "{}: frames out of order or unreadable: {f}", c.name);
            last = n;
        }
        println!("{}: {} own frames", c.name, frames.len());
    }
}

fn volume(c: &mut Cli, user: &str) -> u32 {
    assert_eq!(c.cmd(&format!("volume {user}")), 0, "{}: volume {user}", c.name);
    let line = c.expect("volume ");
    let fields: Vec<&str> = line.split(' ').collect();
    let (dword, double): (u32, f64) = (fields[2].parse().unwrap(), fields[3].parse().unwrap());
    assert_eq!(f64::from(dword), double, "the DWORD and the DOUBLE agree: {line}");
    dword
}

/// `BRAC_QueryUserState(SPEAKVOLUME)`: the level of the audio received
/// from a user, and of one's own input; 0 for audio not received (not
/// asked for, or stopped).
#[cfg(feature = "h264")]
#[test]
fn speak_volume_of_audio_received_and_of_ones_own() {
    let server = Server::start(&[]);
    let mut alice = Cli::login(&server, "alice", &[]);
    let mut bob = Cli::login(&server, "bob", &[]);
    let mut carol = Cli::login(&server, "carol", &[]);
    let a = alice.user_id.to_string();
    for c in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(c.cmd("enter 7"), 0);
        c.expect("notify ENTERROOM 7 0");
    }
    assert_eq!(volume(&mut bob, &a), 0, "nothing received yet");
    assert_eq!(bob.cmd(&format!("mic {a} 1")), 0);
    // The tone of `stream`: peak 8000, -15.3 dBFS, level 75.
    // Streams until told to stop, so that the levels are read while it runs.
    assert_eq!(alice.cmd("stream 120 160 120 15"), 0);
    bob.expect_within(&format!("audio from={a} "), std::time::Duration::from_secs(20));
    let heard = volume(&mut bob, &a);
    let own = volume(&mut alice, "-1");
    println!("bob hears alice at {heard}, alice's own input {own}");
    assert!((70..=80).contains(&heard), "{heard}");
    assert!((70..=80).contains(&own), "{own}");
    assert_eq!(volume(&mut bob, "-1"), 0, "bob feeds nothing");
    assert_eq!(volume(&mut carol, &a), 0, "carol did not ask for alice's audio");
    assert_eq!(bob.cmd("volume 31337"), 205, "unknown user");
    assert_eq!(alice.cmd("stopstream"), 0);
    alice.expect_within("streamed ", std::time::Duration::from_secs(30));
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(volume(&mut bob, &a), 0, "alice's audio stopped");
    assert_eq!(volume(&mut alice, "-1"), 0);
}

fn user_state(c: &mut Cli, user: &str, info: u32) -> (u32, String) {
    let code = c.cmd(&format!("userstate {user} {info}"));
    let value = if code == 0 {
        let line = c.expect(&format!("userstate {user} {info} "));
        line.splitn(4, ' ').nth(3).unwrap_or_default().to_string()
    } else {
        String::new()
    };
    (code, value)
}

/// The other `BRAC_QueryUserState` infos an app's status panel shows: bit
/// rates, picture size and codec of the streams received (and sent), the
/// addresses of oneself, and the zeros of what does not exist here.
#[cfg(feature = "h264")]
#[test]
fn user_state_reports_stream_figures_and_addresses() {
    use anychat::wire::constants::*;
    let server = Server::start(&[]);
    let mut alice = Cli::login(&server, "alice", &[]);
    let mut bob = Cli::login(&server, "bob", &[]);
    let a = alice.user_id.to_string();
    for c in [&mut alice, &mut bob] {
        assert_eq!(c.cmd("enter 7"), 0);
        c.expect("notify ENTERROOM 7 0");
    }
    assert_eq!(user_state(&mut bob, &a, BRAC_USERSTATE_VIDEOBITRATE), (0, "0".into()), "nothing received yet");
    assert_eq!(bob.cmd(&format!("camera {a} 1")), 0);
    assert_eq!(bob.cmd(&format!("mic {a} 1")), 0);
    // Streams until told to stop: the figures are read while it runs, however
    // slowly a loaded machine gets there.
    assert_eq!(alice.cmd("stream 120 160 120 15"), 0);
    bob.expect_within(&format!("video from={a} "), std::time::Duration::from_secs(20));
    // Wait for a whole second of both streams, received and sent.
    let deadline = std::time::Instant::now() + WAIT;
    let rate = |c: &mut Cli, user: &str, info| user_state(c, user, info).1.parse::<u32>().unwrap();
    let (video, audio, sent_video, sent_audio) = loop {
        let figures = (
            rate(&mut bob, &a, BRAC_USERSTATE_VIDEOBITRATE),
            rate(&mut bob, &a, BRAC_USERSTATE_AUDIOBITRATE),
            rate(&mut alice, "-1", BRAC_USERSTATE_VIDEOBITRATE),
            rate(&mut alice, "-1", BRAC_USERSTATE_AUDIOBITRATE),
        );
        if figures.0 > 0 && figures.1 > 0 && figures.2 > 0 && figures.3 > 0 {
            break figures;
        }
        assert!(std::time::Instant::now() < deadline, "no bit rate within {WAIT:?}: {figures:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    println!(
        "bob receives alice's video at {video} bit/s, audio at {audio}; alice sends {sent_video} and {sent_audio}"
    );
    assert!((1_000..10_000_000).contains(&video), "{video}");
    assert!((1_000..1_000_000).contains(&audio), "{audio}");
    assert!((1_000..10_000_000).contains(&sent_video), "{sent_video}");
    assert!((1_000..1_000_000).contains(&sent_audio), "{sent_audio}");
    assert_eq!(user_state(&mut bob, &a, BRAC_USERSTATE_VIDEOSIZE), (0, (160 | (120 << 16)).to_string()));
    let (code, codec) = user_state(&mut bob, &a, BRAC_USERSTATE_VIDEOCODECID);
    assert!(code == 0 && codec != "0", "{code} {codec}");
    for zero in [BRAC_USERSTATE_P2PCONNECT, BRAC_USERSTATE_PACKLOSSRATE, BRAC_USERSTATE_RECORDING] {
        assert_eq!(user_state(&mut bob, &a, zero), (0, "0".into()), "info {zero}");
    }
    // Addresses: one's own only.
    assert_eq!(user_state(&mut bob, "-1", BRAC_USERSTATE_LOCALIP), (0, "127.0.0.1".into()));
    assert_eq!(user_state(&mut bob, "-1", BRAC_USERSTATE_INTERNETIP), (0, "127.0.0.1".into()));
    assert_eq!(user_state(&mut bob, &a, BRAC_USERSTATE_INTERNETIP).0, GV_ERR_FUNCNOTALLOW);
    assert_eq!(user_state(&mut bob, &a, BRAC_USERSTATE_NETWORKSTATUS).0, GV_ERR_FUNCNOTALLOW);
    assert_eq!(user_state(&mut bob, "31337", BRAC_USERSTATE_VIDEOBITRATE).0, GV_ERR_INVALID_USERID);
    assert_eq!(alice.cmd("stopstream"), 0);
    alice.expect_within("streamed ", std::time::Duration::from_secs(30));
}
