//! The camera functions of the `BRAC_*` C ABI: enumeration, selection and
//! the current camera (see [`crate::device::camera`] for the devices and
//! `crate::client` for when they capture). Same conventions as
//! [`crate::abi::brac::api`].
#![allow(non_snake_case, clippy::missing_safety_doc)]

use super::with_sdk;
use crate::abi::boundary::{c_bytes, copy_out, ffi_boundary, fill_names};
use crate::abi::types::*;
use crate::client::Client;
use crate::wire::constants::*;

/// Lists the cameras: the fake ones named in `ANYCHAT_FAKE_CAMERA` first
/// (`fake:pattern`, `fake:PATH.y4m`), then every Video4Linux capture device
/// as `"<card> (/dev/videoN)"`. `lpDeviceName` is the app's array of
/// `*dwDeviceNum` pointers: each name written is allocated with `malloc`
/// (free each with `free`), and `*dwDeviceNum` becomes the number written;
/// a NULL `lpDeviceName` only counts. Works before `BRAC_InitSDK`. A NULL
/// `dwDeviceNum`: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnumVideoCapture(lpDeviceName: *mut *mut TCHAR, dwDeviceNum: *mut DWORD) -> DWORD {
    ffi_boundary! {
        // Opening devices to list them: on the app's thread, no lock held.
        let list = Client::cameras();
        // SAFETY: forwarded from our caller; checked inside.
        unsafe { fill_names(lpDeviceName, dwDeviceNum, &list) }
    }
}

/// Selects the camera to capture from by its name in
/// `BRAC_EnumVideoCapture`; while one's camera is open, capture moves to
/// it. A name no camera has (or NULL): 21; before `BRAC_InitSDK`: 2.
#[no_mangle]
pub unsafe extern "C" fn BRAC_SelectVideoCapture(szCaptureName: LPCTSTR) -> DWORD {
    ffi_boundary! {
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let Some(name) = (unsafe { c_bytes(szCaptureName, 4096) }) else { return GV_ERR_FUNCOPTERROR };
        with_sdk(|c| c.select_camera(&name))
    }
}

/// Writes the name of the camera capturing, else the one selected, else
/// the first listed ("" when there is none). A buffer too small: what fits
/// (NUL-terminated) and 21; NULL or `dwLen` 0: 21; before `BRAC_InitSDK`: 2.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetCurVideoCapture(lpDeviceName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            let name = c.current_camera();
            // SAFETY: forwarded from our caller; checked inside.
            unsafe { copy_out(lpDeviceName, dwLen as usize, name.as_bytes()) }
        })
    }
}
