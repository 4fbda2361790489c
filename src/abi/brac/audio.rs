//! The microphone and speaker part of the `BRAC_*` C ABI: enumeration,
//! selection, volumes and `BRAC_FetchAudioPlayBuffer` (see
//! [`crate::client::audio`] for the threads and the mix, and
//! [`crate::device::audio`] for the devices, fake ones included).
//!
//! Device names are those of ALSA's PCM devices ("default" first), after
//! the fake devices when `ANYCHAT_FAKE_MIC` / `ANYCHAT_FAKE_SPEAKER` are
//! set. Capture is 16-bit mono at 16 kHz; the mix played (or fetched) is
//! 16-bit mono at 16 kHz. Volumes are software gains, 0–100 (100: as
//! captured / as received).
#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::ffi::c_int;

use super::with_sdk;
use crate::abi::boundary::{c_bytes, copy_out, ffi_boundary, fill_names, put};
use crate::abi::types::*;
use crate::client::Client;
use crate::wire::constants::*;

/// `BRAC_SelectAudio*`: a NULL name or one longer than 1 KiB: 21.
unsafe fn select(name: LPCTSTR, capture: bool) -> DWORD {
    // SAFETY: the caller gives NULL or a NUL-terminated string.
    let Some(bytes) = (unsafe { c_bytes(name, 1024) }).filter(|_| !name.is_null()) else {
        return GV_ERR_FUNCOPTERROR;
    };
    let name = String::from_utf8_lossy(&bytes).into_owned();
    with_sdk(|c| c.audio().select(capture, &name))
}

/// `BRAC_GetCurAudio*`: the current device's name into `lpDeviceName`.
unsafe fn current(lpDeviceName: *mut TCHAR, dwLen: DWORD, capture: bool) -> DWORD {
    with_sdk(|c: &Client| {
        let name = c.audio().current(capture);
        // SAFETY: the caller gives NULL or `dwLen` writable bytes; checked inside.
        unsafe { copy_out(lpDeviceName, dwLen as usize, name.as_bytes()) }
    })
}

/// `BRAC_AD_WAVEIN` (true) or `BRAC_AD_WAVEOUT` (false); None for others.
fn capture_device(d: BRAC_AudioDevice) -> Option<bool> {
    match d {
        d if d == BRAC_AD_WAVEIN as c_int => Some(true),
        d if d == BRAC_AD_WAVEOUT as c_int => Some(false),
        _ => None,
    }
}

/// Lists the microphones (ALSA's capture devices, "default" first, after the fake one of `ANYCHAT_FAKE_MIC`): the two-step habit (NULL `lpDeviceName`: the count in `dwDeviceNum`; else up to `dwDeviceNum` names, each `malloc`ed for the app to `free`, and their number). A NULL `dwDeviceNum`: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnumAudioCapture(lpDeviceName: *mut *mut TCHAR, dwDeviceNum: *mut DWORD) -> DWORD {
    ffi_boundary! {
        let names = crate::device::audio::capture_names();
        // SAFETY: forwarded from our caller; checked inside.
        unsafe { fill_names(lpDeviceName, dwDeviceNum, &names) }
    }
}

/// Selects the microphone by its name as listed by `BRAC_EnumAudioCapture`; a capture running moves to it. A name not listed (or NULL): 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_SelectAudioCapture(szCaptureName: LPCTSTR) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        unsafe { select(szCaptureName, true) }
    }
}

/// Writes the name of the microphone selected (else the first listed; "" when there is none) into `lpDeviceName`; a buffer too small: what fits and 21; NULL or `dwLen` 0: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetCurAudioCapture(lpDeviceName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller; checked inside.
        unsafe { current(lpDeviceName, dwLen, true) }
    }
}

/// Lists the speakers (ALSA's playback devices, "default" first, after the fake one of `ANYCHAT_FAKE_SPEAKER`), with the two-step habit of `BRAC_EnumAudioCapture`. A NULL `dwDeviceNum`: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnumAudioPlayback(lpDeviceName: *mut *mut TCHAR, dwDeviceNum: *mut DWORD) -> DWORD {
    ffi_boundary! {
        let names = crate::device::audio::playback_names();
        // SAFETY: forwarded from our caller; checked inside.
        unsafe { fill_names(lpDeviceName, dwDeviceNum, &names) }
    }
}

/// Selects the speaker by its name as listed by `BRAC_EnumAudioPlayback`; playback running moves to it. A name not listed (or NULL): 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_SelectAudioPlayback(szDeviceName: LPCTSTR) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller.
        unsafe { select(szDeviceName, false) }
    }
}

/// Writes the name of the speaker selected (else the first listed; "" when there is none) into `lpDeviceName`; a buffer too small: what fits and 21; NULL or `dwLen` 0: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetCurAudioPlayback(lpDeviceName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    ffi_boundary! {
        // SAFETY: forwarded from our caller; checked inside.
        unsafe { current(lpDeviceName, dwLen, false) }
    }
}

/// Writes the volume (0–100, a software gain; 100 by default) of the microphone (`BRAC_AD_WAVEIN`) or of what is played (`BRAC_AD_WAVEOUT`) to `dwVolume`. A NULL `dwVolume` or an unknown `device`: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_AudioGetVolume(device: BRAC_AudioDevice, dwVolume: *mut DWORD) -> DWORD {
    ffi_boundary! {
        let Some(capture) = capture_device(device) else { return GV_ERR_FUNCOPTERROR };
        if dwVolume.is_null() {
            return GV_ERR_FUNCOPTERROR;
        }
        // SAFETY: non-NULL; the caller gives a writable DWORD.
        with_sdk(|c| unsafe { put(dwVolume, c.audio().volume(capture)) })
    }
}

/// Sets the volume (0–100) of the microphone (`BRAC_AD_WAVEIN`: a gain on what is captured and sent) or of what is played and fetched (`BRAC_AD_WAVEOUT`). An unknown `device` or `dwVolume` > 100: 21.
#[no_mangle]
pub extern "C" fn BRAC_AudioSetVolume(device: BRAC_AudioDevice, dwVolume: DWORD) -> DWORD {
    ffi_boundary! {
        let Some(capture) = capture_device(device) else { return GV_ERR_FUNCOPTERROR };
        if dwVolume > 100 {
            return GV_ERR_FUNCOPTERROR;
        }
        with_sdk(|c| {
            c.audio().set_volume(capture, dwVolume);
            0
        })
    }
}

/// Fills `lpSamples` with `dwSize` bytes of the mix of every user's audio received (16-bit mono PCM at 16,000 Hz; silence where none is buffered; each user's jitter buffer bounded to 200 ms), for an app that plays audio itself. With `BRAC_FUNC_AUDIO_AUTOPLAY` (the library plays the mix): 20. A NULL `lpSamples`, `dwSize` 0 or odd: 21. `wParam` ignored.
#[no_mangle]
pub unsafe extern "C" fn BRAC_FetchAudioPlayBuffer(lpSamples: LPBYTE, dwSize: DWORD, wParam: DWORD) -> DWORD {
    ffi_boundary! {
        let _ = wParam;
        if lpSamples.is_null() || dwSize == 0 || dwSize > 1 << 24 {
            return GV_ERR_FUNCOPTERROR;
        }
        with_sdk(|c| {
            // SAFETY: non-NULL; the caller gives `dwSize` writable bytes.
            let out = unsafe { std::slice::from_raw_parts_mut(lpSamples, dwSize as usize) };
            c.audio().fetch(out)
        })
    }
}
