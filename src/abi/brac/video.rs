//! `BRAC_SetVideoPos(Ex)` on Linux: users' video drawn into the app's X11
//! windows by the library ([`crate::device::display`]), when `BRAC_InitSDK`'s
//! `dwFuncMode` has `BRAC_FUNC_VIDEO_AUTODISP`. Same conventions as
//! [`crate::abi::brac::api`].
#![allow(non_snake_case, clippy::too_many_arguments)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::sdk;
use crate::abi::boundary::ffi_boundary;
use crate::abi::types::*;
use crate::codec::{to_i420, PixelFormat};
use crate::device::display::{Display, Target};
use crate::wire::constants::*;

/// `BRAC_InitSDK`'s `dwFuncMode`.
static FUNC_MODE: AtomicU32 = AtomicU32::new(0);
/// The X display drawn on (connected at the first `BRAC_SetVideoPos`).
static DISPLAY: Mutex<Option<Arc<Display>>> = Mutex::new(None);
/// The target of one's own video (`dwUserid` -1), keyed so.
const SELF: u32 = u32::MAX;

/// Called by `BRAC_InitSDK`.
pub(crate) fn set_func_mode(mode: DWORD) {
    FUNC_MODE.store(mode, Ordering::SeqCst);
}

/// Called by `BRAC_Release`: nothing more is drawn, the display closes.
pub(crate) fn release() {
    let d = DISPLAY.lock().take();
    crate::client::set_self_draw(false);
    // Joins the drawing thread: with no lock held.
    drop(d);
}

fn display() -> Option<Arc<Display>> {
    DISPLAY.lock().clone()
}

/// Hands a user's picture to the drawing thread when that user (or, for
/// one's own pictures, -1) has a window (on the callback thread).
pub(crate) fn draw(from: u32, w: u32, h: u32, pix_fmt: u32, data: &[u8]) {
    let Some(d) = display() else { return };
    let user = if d.draws(from) {
        from
    } else if d.draws(SELF) && sdk().ok().and_then(|c| c.with_state(|st| st.self_id)) == Some(from) {
        SELF
    } else {
        return;
    };
    let Some(fmt) = pixel_format(pix_fmt as BRAC_PixelFormat) else { return };
    let i420 = if fmt == PixelFormat::Yuv420p { Ok(data.to_vec()) } else { to_i420(fmt, w, h, data) };
    if let Ok(i420) = i420 {
        d.picture(user, w, h, i420);
    }
}

/// Draws user `dwUserid`'s video (-1: one's own) into the rectangle
/// (`dwLeft`, `dwTop`)–(`dwRight`, `dwBottom`) of the X11 window whose id
/// is `hWnd` (Qt's `winId()`), scaled, top row on top, on a drawing thread
/// of the library's (a 24-bit TrueColor screen). `hWnd` 0 stops drawing that
/// user. Needs `BRAC_FUNC_VIDEO_AUTODISP` in `BRAC_InitSDK`'s `dwFuncMode`
/// and an X display (`DISPLAY`): else 20; an empty rectangle: 21; before
/// `BRAC_InitSDK`: 2. The window is checked when drawing starts: one that
/// does not exist, or goes away, stops being drawn (logged).
#[no_mangle]
pub extern "C" fn BRAC_SetVideoPos(
    dwUserid: DWORD,
    hWnd: HWND,
    dwLeft: DWORD,
    dwTop: DWORD,
    dwRight: DWORD,
    dwBottom: DWORD,
) -> DWORD {
    ffi_boundary! {
        set_video_pos(dwUserid, hWnd as usize, (dwLeft, dwTop, dwRight, dwBottom))
    }
}

/// As `BRAC_SetVideoPos` for stream 0 (`dwFlags` ignored); other streams: 20.
#[no_mangle]
pub extern "C" fn BRAC_SetVideoPosEx(
    dwUserid: DWORD,
    hWnd: HWND,
    dwLeft: DWORD,
    dwTop: DWORD,
    dwRight: DWORD,
    dwBottom: DWORD,
    dwStreamIndex: DWORD,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = dwFlags;
        if dwStreamIndex != 0 {
            return GV_ERR_FUNCNOTALLOW;
        }
        set_video_pos(dwUserid, hWnd as usize, (dwLeft, dwTop, dwRight, dwBottom))
    }
}

fn set_video_pos(user: DWORD, window: usize, (left, top, right, bottom): (u32, u32, u32, u32)) -> DWORD {
    let Ok(client) = sdk() else { return GV_ERR_NOTINIT };
    if FUNC_MODE.load(Ordering::SeqCst) & BRAC_FUNC_VIDEO_AUTODISP == 0 {
        return GV_ERR_FUNCNOTALLOW;
    }
    let own = user == SELF || client.with_state(|st| st.self_id) == Some(user);
    let key = if own { SELF } else { user };
    let Ok(window) = u32::try_from(window) else { return GV_ERR_FUNCOPTERROR };
    let target = if window == 0 {
        None
    } else if right <= left
        || bottom <= top
        || right - left > 8192
        || bottom - top > 8192
        || right > 32767
        || bottom > 32767
    {
        return GV_ERR_FUNCOPTERROR;
    } else {
        Some(Target { window, left, top, right, bottom })
    };
    let d = match display() {
        Some(d) => d,
        None if target.is_none() => return 0,
        None => {
            // Connecting on the app's thread, with no lock held.
            let d = match Display::connect() {
                Ok(d) => Arc::new(d),
                Err(e) => {
                    tracing::warn!("BRAC_SetVideoPos: {e}");
                    return GV_ERR_FUNCNOTALLOW;
                }
            };
            DISPLAY.lock().get_or_insert(d).clone()
        }
    };
    d.set_target(key, target);
    if own {
        crate::client::set_self_draw(target.is_some());
    }
    0
}
