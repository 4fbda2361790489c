//! Drawing users' video into the app's X11 windows (`BRAC_SetVideoPos`
//! with a window id, as Qt's `winId()` gives): one thread per display
//! (`anychat-draw`) owns the X connection, keeps each user's target (window
//! and rectangle) and draws each picture it is handed there, scaled to the
//! rectangle (nearest neighbour), top row on top.
//!
//! Pictures reach it through a bounded queue ([`QUEUE`] pictures): when the
//! X server or the thread falls behind, new pictures are dropped, never
//! queued without bound. A window that goes away (an X error on it) loses
//! its target. The connection is x11rb's pure-Rust one (feature `x11`): no
//! X library is linked, so the library loads where there is no X, and
//! [`Display::connect`] fails cleanly without a display.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

/// Pictures waiting for the drawing thread before new ones are dropped.
pub const QUEUE: usize = 4;

/// Where a user's video goes: an X window id and a rectangle of it
/// (left, top, right, bottom, in window pixels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub window: u32,
    pub left: u32,
    pub top: u32,
    pub right: u32,
    pub bottom: u32,
}

#[cfg_attr(not(feature = "x11"), allow(dead_code))]
enum Msg {
    Target(u32, Option<Target>),
    Picture { user: u32, w: u32, h: u32, i420: Vec<u8> },
}

/// A connection to the X display and its drawing thread.
pub struct Display {
    tx: crossbeam_channel::Sender<Msg>,
    /// Users with a target (checked before a picture is copied for it).
    users: Arc<Mutex<HashMap<u32, Target>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Display {
    /// Connects to the display of `$DISPLAY` and starts the drawing thread.
    #[cfg(feature = "x11")]
    pub fn connect() -> io::Result<Display> {
        let (conn, screen) = x11rb::rust_connection::RustConnection::connect(None)
            .map_err(|e| io::Error::new(io::ErrorKind::NotConnected, format!("no X display: {e}")))?;
        let (tx, rx) = crossbeam_channel::bounded(QUEUE + 16);
        let users = Arc::new(Mutex::new(HashMap::new()));
        let shared = users.clone();
        let thread = std::thread::Builder::new()
            .name("anychat-draw".into())
            .spawn(move || x11::run(conn, screen, rx, shared))?;
        Ok(Display { tx, users, thread: Some(thread) })
    }

    /// Without the `x11` feature there is no display to draw on.
    #[cfg(not(feature = "x11"))]
    pub fn connect() -> io::Result<Display> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "built without X11 drawing (feature x11)"))
    }

    /// Draws `user`'s pictures into `target` from now on (None: no more).
    pub fn set_target(&self, user: u32, target: Option<Target>) {
        match target {
            Some(t) => self.users.lock().insert(user, t),
            None => self.users.lock().remove(&user),
        };
        let _ = self.tx.send(Msg::Target(user, target));
    }

    /// Whether `user`'s pictures are drawn.
    pub fn draws(&self, user: u32) -> bool {
        self.users.lock().contains_key(&user)
    }

    /// Hands a picture of `user` (I420, `w`×`h`) to the drawing thread;
    /// dropped when [`QUEUE`] pictures wait already.
    pub fn picture(&self, user: u32, w: u32, h: u32, i420: Vec<u8>) {
        if self.tx.len() < QUEUE {
            let _ = self.tx.try_send(Msg::Picture { user, w, h, i420 });
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        // Closing the queue ends the thread.
        let (tx, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `w`×`h` I420 scaled to `dw`×`dh` 32-bit pixels, bytes B, G, R, X (the
/// ZPixmap layout of a 24-bit TrueColor visual on a little-endian server).
pub fn scale_to_bgrx(i420: &[u8], w: u32, h: u32, dw: u32, dh: u32) -> Option<Vec<u8>> {
    let (w, h, dw, dh) = (w as usize, h as usize, dw as usize, dh as usize);
    if w == 0 || h == 0 || i420.len() < w * h * 3 / 2 {
        return None;
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (u0, v0) = (w * h, w * h + cw * ch);
    if i420.len() < v0 + cw * ch {
        return None;
    }
    let mut out = Vec::with_capacity(dw * dh * 4);
    let xs: Vec<usize> = (0..dw).map(|x| x * w / dw).collect();
    for y in 0..dh {
        let sy = y * h / dh;
        for &sx in &xs {
            let yy = i420[sy * w + sx] as i32 - 16;
            let u = i420[u0 + (sy / 2) * cw + sx / 2] as i32 - 128;
            let v = i420[v0 + (sy / 2) * cw + sx / 2] as i32 - 128;
            // BT.601, limited range.
            let c = 298 * yy;
            let r = (c + 409 * v + 128) >> 8;
            let g = (c - 100 * u - 208 * v + 128) >> 8;
            let b = (c + 516 * u + 128) >> 8;
            out.extend_from_slice(&[b.clamp(0, 255) as u8, g.clamp(0, 255) as u8, r.clamp(0, 255) as u8, 0]);
        }
    }
    Some(out)
}

#[cfg(feature = "x11")]
mod x11 {
    use std::collections::HashMap;
    use std::sync::Arc;

    use parking_lot::Mutex;
    use x11rb::connection::{Connection, RequestConnection};
    use x11rb::protocol::xproto::{ConnectionExt, CreateGCAux, ImageFormat, ImageOrder};
    use x11rb::rust_connection::RustConnection;

    use super::{scale_to_bgrx, Msg, Target};

    /// The drawing thread: ends when the queue closes.
    pub fn run(
        conn: RustConnection,
        screen: usize,
        rx: crossbeam_channel::Receiver<Msg>,
        users: Arc<Mutex<HashMap<u32, Target>>>,
    ) {
        let depth = conn.setup().roots.get(screen).map_or(24, |s| s.root_depth);
        let lsb = conn.setup().image_byte_order == ImageOrder::LSB_FIRST;
        let max_bytes = conn.maximum_request_bytes();
        let mut targets: HashMap<u32, (Target, u32)> = HashMap::new();
        let mut warned = false;
        for msg in rx {
            match msg {
                Msg::Target(user, t) => {
                    if let Some((_, gc)) = targets.remove(&user) {
                        let _ = conn.free_gc(gc).map(|c| c.ignore_error());
                    }
                    let Some(t) = t else { continue };
                    let Ok(gc) = conn.generate_id() else { continue };
                    match conn.create_gc(gc, t.window, &CreateGCAux::new()).map(|c| c.check()) {
                        Ok(Ok(())) => {
                            targets.insert(user, (t, gc));
                        }
                        other => {
                            tracing::warn!("BRAC_SetVideoPos: window {:#x} not usable: {other:?}", t.window);
                            users.lock().remove(&user);
                        }
                    }
                }
                Msg::Picture { user, w, h, i420 } => {
                    let Some(&(t, gc)) = targets.get(&user) else { continue };
                    if depth != 24 || !lsb {
                        if !warned {
                            tracing::warn!(
                                "X display of depth {depth}: only 24-bit little-endian screens are drawn on"
                            );
                            warned = true;
                        }
                        continue;
                    }
                    let (dw, dh) = (t.right.saturating_sub(t.left), t.bottom.saturating_sub(t.top));
                    let Some(pixels) = scale_to_bgrx(&i420, w, h, dw, dh) else { continue };
                    // Strips of rows that fit one request each.
                    let row = dw as usize * 4;
                    let rows = ((max_bytes.saturating_sub(64)) / row.max(1)).max(1);
                    let mut result = Ok(());
                    for (i, strip) in pixels.chunks(rows * row).enumerate() {
                        let y = t.top as usize + i * rows;
                        let n = strip.len() / row;
                        let sent = conn.put_image(
                            ImageFormat::Z_PIXMAP,
                            t.window,
                            gc,
                            dw as u16,
                            n as u16,
                            t.left as i16,
                            y as i16,
                            0,
                            24,
                            strip,
                        );
                        // The first strip is checked (a round trip): a window gone
                        // loses its target.
                        result = match (i, sent) {
                            (0, Ok(c)) => c.check().map_err(|e| format!("{e:?}")),
                            (_, Ok(c)) => {
                                c.ignore_error();
                                Ok(())
                            }
                            (_, Err(e)) => Err(format!("{e:?}")),
                        };
                        if result.is_err() {
                            break;
                        }
                    }
                    let _ = conn.flush();
                    if let Err(e) = result {
                        tracing::warn!("BRAC_SetVideoPos: cannot draw into window {:#x}: {e}", t.window);
                        targets.remove(&user);
                        users.lock().remove(&user);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_keeps_the_top_on_top() {
        // 4×4: the top half white, the bottom half black.
        let mut i420 = vec![235u8; 8];
        i420.extend_from_slice(&[16u8; 8]);
        i420.extend_from_slice(&[128u8; 8]);
        let px = scale_to_bgrx(&i420, 4, 4, 2, 6).unwrap();
        assert_eq!(px.len(), 2 * 6 * 4);
        assert_eq!(&px[..4], &[255, 255, 255, 0]);
        assert_eq!(&px[px.len() - 4..], &[0, 0, 0, 0]);
        assert!(scale_to_bgrx(&i420[..10], 4, 4, 2, 2).is_none());
    }
}
