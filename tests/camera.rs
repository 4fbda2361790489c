//! Device capture with the fake cameras (CI has no camera): separate
//! client processes (`anychat-cli`, through the library's C ABI) in a call;
//! A opens its camera with the ordinary vendor calls (no external-input
//! option), capturing from `ANYCHAT_FAKE_CAMERA`, and B's video callback
//! gets A's pictures, upright, their frame numbers increasing, each the
//! picture the fake camera made.

mod common;

use std::time::Duration;

use anychat::codec::patterns::{frame_signature, signature_distance};
use anychat::codec::PixelFormat;
use anychat::device::camera::fake_pattern_i420;
use anychat::wire::constants::*;
use common::{field, num, Cli, Server, TempDir};

const LONG: Duration = Duration::from_secs(40);

/// A calls B, both enter the call's room, B asks for A's video.
fn call(a: &mut Cli, b: &mut Cli) {
    assert_eq!(a.cmd(&format!("request {} 3", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("START", b.user_id, 0);
    b.expect_call("START", a.user_id, 0);
    for c in [&mut *a, &mut *b] {
        c.expect("ret auto-enter 0");
        c.expect("notify ENTERROOM ");
    }
    assert_eq!(b.cmd(&format!("camera {} 1", a.user_id)), 0);
}

/// Sets the camera's size and rate through the vendor's SDK options.
fn capture_size(a: &mut Cli, w: u32, h: u32, fps: u32) {
    for (opt, v) in
        [(BRAC_SO_LOCALVIDEO_WIDTHCTRL, w), (BRAC_SO_LOCALVIDEO_HEIGHTCTRL, h), (BRAC_SO_LOCALVIDEO_FPSCTRL, fps)]
    {
        assert_eq!(a.cmd(&format!("option {opt} {v}")), 0);
    }
}

/// Checks `count` pictures from `from` at `rx`: `w`×`h`, upright (the white
/// band on top), numbers increasing, each the fake camera's picture of its
/// number (within the codec's loss). Returns their numbers.
fn check_pictures(rx: &mut Cli, from: u32, w: u32, h: u32, count: usize) -> Vec<i64> {
    let mut ns = Vec::new();
    let mut matched = 0;
    while ns.len() < count {
        let line = rx.expect_within(&format!("video from={from} "), LONG);
        assert_eq!((num(&line, "w"), num(&line, "h")), (i64::from(w), i64::from(h)), "{line}");
        let n = num(&line, "n");
        assert!(n >= 0, "{}: the frame number does not read: {line}", rx.name);
        assert!(num(&line, "top") > 190, "{}: no white band on top (upside down?): {line}", rx.name);
        assert!(num(&line, "bottom") < 190 || n & 0xFFFF == 0xFFFF, "{}: bottom white: {line}", rx.name);
        if let Some(&last) = ns.last() {
            assert!(n > last, "{}: frame numbers out of order: {last} then {n}", rx.name);
        }
        let sig = field(&line, "sig");
        let sig: Vec<u8> =
            (0..sig.len() / 2).map(|i| u8::from_str_radix(&sig[2 * i..2 * i + 2], 16).unwrap()).collect();
        let own = fake_pattern_i420(w, h, n as u32).unwrap();
        let next = fake_pattern_i420(w, h, n as u32 + 1).unwrap();
        let d = signature_distance(&sig, &frame_signature(PixelFormat::Yuv420p, w, h, &own).unwrap());
        let dn = signature_distance(&sig, &frame_signature(PixelFormat::Yuv420p, w, h, &next).unwrap());
        assert!(dn > d, "{}: frame {n} is closer to the next picture ({dn} vs {d})", rx.name);
        matched += usize::from(d <= 6);
        ns.push(n);
    }
    assert!(matched * 2 >= count, "{}: only {matched} of {count} pictures match the camera's", rx.name);
    ns
}

#[test]
fn fake_camera_reaches_the_peer_through_the_vendor_calls() {
    let server = Server::start(&[]);
    let env = [("ANYCHAT_FAKE_CAMERA", "pattern")];
    let mut a = Cli::login_env(&server, "cam_a", &["--auto-enter"], &env);
    let mut b = Cli::login(&server, "cam_b", &["--auto-accept", "--auto-enter"]);

    // Enumeration lists the fake camera (first), selection checks names.
    assert_eq!(a.cmd("cams"), 0);
    let cams = a.expect("cams ");
    assert!(cams.starts_with("cams fake:pattern"), "{cams}");
    assert_eq!(a.cmd("selectcam no such camera"), GV_ERR_FUNCOPTERROR);
    assert_eq!(a.cmd("curcam"), 0);
    assert_eq!(a.expect("curcam "), "curcam fake:pattern");
    assert_eq!(a.cmd("selectcam fake:pattern"), 0);
    // B has no fake camera: none (CI has no real one either, but a
    // developer's machine may).
    assert_eq!(b.cmd("cams"), 0);
    assert!(!b.expect("cams ").contains("fake:"));

    capture_size(&mut a, 320, 240, 15);
    call(&mut a, &mut b);
    // The ordinary vendor call: one's own camera, no external input.
    assert_eq!(a.cmd("camera -1 1"), 0);
    let ns = check_pictures(&mut b, a.user_id, 320, 240, 20);
    println!("B got A's pictures {ns:?}");
    // Self-view: A's own pictures reach its own video callback.
    let own = a.expect_within(&format!("video from={} ", a.user_id), LONG);
    assert!(num(&own, "n") >= 0 && num(&own, "top") > 190, "{own}");
    assert_eq!(a.cmd("curcam"), 0);
    assert_eq!(a.expect("curcam "), "curcam fake:pattern");

    // Closing the camera stops the capture; opening again starts anew at
    // the size now asked for.
    assert_eq!(a.cmd("camera -1 0"), 0);
    capture_size(&mut a, 160, 120, 15);
    assert_eq!(a.cmd("camera -1 1"), 0);
    // Frames of the first capture may still be on their way: wait for the new size.
    loop {
        let line = b.expect_within(&format!("video from={} ", a.user_id), LONG);
        if num(&line, "w") == 160 {
            break;
        }
    }
    check_pictures(&mut b, a.user_id, 160, 120, 5);

    // While it captures: BRAC_SO_LOCALVIDEO_APPLYPARAM restarts the capture
    // with the size set since, without closing the camera.
    capture_size(&mut a, 320, 240, 15);
    assert_eq!(a.cmd(&format!("option {BRAC_SO_LOCALVIDEO_APPLYPARAM} 1")), 0);
    loop {
        let line = b.expect_within(&format!("video from={} ", a.user_id), LONG);
        if num(&line, "w") == 320 {
            break;
        }
    }
    check_pictures(&mut b, a.user_id, 320, 240, 5);
    a.assert_not_seen("notify SDKWARNING");
}

#[test]
fn a_y4m_file_plays_once_and_its_end_is_reported() {
    let dir = TempDir::new("camera-y4m");
    let path = dir.0.join("clip.y4m");
    let (w, h, frames) = (176u32, 144u32, 12u32);
    let mut body = format!("YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420jpeg\n").into_bytes();
    for n in 0..frames {
        body.extend_from_slice(b"FRAME\n");
        body.extend_from_slice(&fake_pattern_i420(w, h, n).unwrap());
    }
    std::fs::write(&path, body).unwrap();
    let path = path.to_str().unwrap().to_string();

    let server = Server::start(&[]);
    let env = [("ANYCHAT_FAKE_CAMERA", path.as_str())];
    let mut a = Cli::login_env(&server, "y4m_a", &["--auto-enter"], &env);
    let mut b = Cli::login(&server, "y4m_b", &["--auto-accept", "--auto-enter"]);
    assert_eq!(a.cmd("cams"), 0);
    assert_eq!(a.expect("cams "), format!("cams fake:{path}"));
    call(&mut a, &mut b);
    assert_eq!(a.cmd("camera -1 1"), 0);
    // The file's own size, whatever the options say; at least the first
    // frames of the file, numbered from 0.
    let ns = check_pictures(&mut b, a.user_id, w, h, 5);
    assert!(ns[0] < i64::from(frames), "{ns:?}");
    // The end of the file is an unplugged camera: reported, no hang.
    let warn = a.expect_within("notify SDKWARNING ", LONG);
    assert_eq!(warn, format!("notify SDKWARNING {GV_ERR_WARNING_MEDIAUTILFAIL} 0"));
    a.expect_log("end of file after 12 frames");
    // Opening a camera that is not there any more is reported the same way.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(a.cmd("camera -1 0"), 0);
    assert_eq!(a.cmd("camera -1 1"), 0);
    a.expect_within("notify SDKWARNING ", LONG);
}
