//! `BRAC_SetVideoPos` draws into an X11 window: a real Xvfb server, a
//! window made here with x11rb, a client (`anychat-cli`, `BRAC_InitSDK`
//! with `BRAC_FUNC_VIDEO_AUTODISP`) whose fake camera's pictures are drawn
//! into a rectangle of it; the window's pixels are read back (GetImage) and
//! checked: the picture's white top at the top of the rectangle, the frame
//! number band at its bottom, numbers increasing, the rest of the window
//! untouched.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anychat::wire::constants::*;
use common::{Cli, Server};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, ImageFormat, WindowClass};
use x11rb::rust_connection::RustConnection;

/// The window's background (blue), as read back: B, G, R.
const BACKGROUND: u32 = 0x0000ff;

struct Xvfb(Child, String);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Xvfb on a free display number and connects to it.
fn xvfb() -> (Xvfb, RustConnection, usize) {
    let found = Command::new("Xvfb").arg("-help").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(found.is_ok(), "Xvfb is missing (apt-get install xvfb): the drawing test needs it");
    let n = (100..400)
        .find(|n| {
            !std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        })
        .expect("a free X display number");
    let name = format!(":{n}");
    let child = Command::new("Xvfb")
        .args([&name, "-screen", "0", "320x240x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let x = Xvfb(child, name.clone());
    // Xvfb tells nothing when it is ready: try to connect until it takes one.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((conn, screen)) = RustConnection::connect(Some(&name)) {
            return (x, conn, screen);
        }
        assert!(Instant::now() < deadline, "Xvfb {name} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The window's pixels as (width, rows of 0xRRGGBB).
fn screenshot(conn: &RustConnection, win: u32, w: u16, h: u16) -> Vec<Vec<u32>> {
    let img = conn.get_image(ImageFormat::Z_PIXMAP, win, 0, 0, w, h, !0).unwrap().reply().unwrap();
    let px = |i: usize| {
        let p = &img.data[i * 4..i * 4 + 3];
        (u32::from(p[2]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[0])
    };
    (0..h as usize).map(|y| (0..w as usize).map(|x| px(y * w as usize + x)).collect()).collect()
}

fn luma(p: u32) -> u32 {
    let (r, g, b) = ((p >> 16) & 255, (p >> 8) & 255, p & 255);
    (r * 299 + g * 587 + b * 114) / 1000
}

/// The frame number in the band at the bottom of the rectangle
/// (`left`..`right`, band rows around `y`): 16 blocks, white = 1.
fn band_number(rows: &[Vec<u32>], left: usize, right: usize, y: usize) -> u32 {
    let w = right - left;
    (0..16).fold(0, |code, bit| {
        let x = left + bit * w / 16 + w / 32;
        (code << 1) | u32::from(luma(rows[y][x]) > 128)
    })
}

#[test]
fn camera_pictures_are_drawn_into_an_x_window() {
    let (x, conn, screen) = xvfb();
    let root = conn.setup().roots[screen].root;
    let win = conn.generate_id().unwrap();
    let (ww, wh) = (200u16, 150u16);
    let aux = CreateWindowAux::new().background_pixel(BACKGROUND);
    conn.create_window(24, win, root, 0, 0, ww, wh, 0, WindowClass::INPUT_OUTPUT, 0, &aux).unwrap();
    conn.map_window(win).unwrap();
    x11rb::wrapper::ConnectionExt::sync(&conn).unwrap();

    let server = Server::start(&[]);
    let env = [("ANYCHAT_FAKE_CAMERA", "pattern"), ("DISPLAY", x.1.as_str())];
    // Without BRAC_FUNC_VIDEO_AUTODISP the library draws nothing: 20.
    let mut plain = Cli::spawn_env("draw_plain", &[], &env);
    assert_eq!(plain.cmd(&format!("videopos -1 {win} 0 0 100 100")), GV_ERR_FUNCNOTALLOW);

    let mut a = Cli::spawn_env("draw_a", &["--no-init"], &env);
    assert_eq!(a.cmd(&format!("init {}", BRAC_FUNC_VIDEO_CBDATA | BRAC_FUNC_VIDEO_AUTODISP)), 0);
    let mut a = Cli::login_with(&server, "draw_a", a);
    for (opt, v) in [(BRAC_SO_LOCALVIDEO_WIDTHCTRL, 160), (BRAC_SO_LOCALVIDEO_HEIGHTCTRL, 120)] {
        assert_eq!(a.cmd(&format!("option {opt} {v}")), 0);
    }
    // An empty rectangle is refused.
    assert_eq!(a.cmd(&format!("videopos -1 {win} 20 10 20 130")), GV_ERR_FUNCOPTERROR);
    // The rectangle (20, 10)-(180, 138): 160×128, the picture 160×120 scaled.
    let (l, t, r, b) = (20usize, 10usize, 180usize, 138usize);
    assert_eq!(a.cmd(&format!("videopos -1 {win} {l} {t} {r} {b}")), 0);
    assert_eq!(a.cmd("camera -1 1"), 0);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut numbers = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no picture drawn in time; numbers read {numbers:?}");
        let rows = screenshot(&conn, win, ww, wh);
        let top = rows[t + 8][(l + r) / 2];
        let middle = rows[(t + b) / 2][(l + r) / 2];
        if top == BACKGROUND {
            std::thread::sleep(Duration::from_millis(30));
            continue;
        }
        // Right way up: the picture's white quarter on top, bars below.
        assert!(luma(top) > 200, "top of the picture not white: {top:06x}");
        assert!(luma(middle) < 220 && middle != BACKGROUND, "middle: {middle:06x}");
        // The window outside the rectangle keeps its background.
        for (px, py) in [(l - 5, t + 5), (r + 5, t + 5), (l + 5, b + 5), (5, 5), (ww as usize - 5, wh as usize - 5)] {
            assert_eq!(rows[py][px], BACKGROUND, "outside the rectangle at ({px}, {py})");
        }
        // The frame number's band (the picture's bottom 16 of 120 rows,
        // 17 rows here): increasing numbers.
        let n = band_number(&rows, l, r, b - 8);
        if numbers.last() != Some(&n) {
            numbers.push(n);
        }
        if numbers.len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(numbers.windows(2).all(|p| p[1] > p[0]), "frame numbers drawn: {numbers:?}");
    println!("frame numbers drawn: {numbers:?}");
    // hWnd 0 stops drawing.
    assert_eq!(a.cmd("videopos -1 0 0 0 0 0"), 0);
}
