//! The `BRAC_*` functions of the vendor's client SDK whose feature this
//! product does not provide (local media devices, rendering, recording,
//! file transfer, stream playback, image helpers, friends and business
//! objects…). They exist so that legacy programs link and run unchanged.
//!
//! Each one takes exactly the vendor's parameters, runs inside
//! `guard`, never dereferences memory it cannot check, and returns:
//! - 21 (`GV_ERR_FUNCOPTERROR`) when a required pointer is NULL, a required
//!   length is 0 (or negative), or an enumerated argument is out of range;
//! - otherwise 20 (`GV_ERR_FUNCNOTALLOW`), unless the truthful answer is
//!   known: there are no local devices (`BRAC_Enum*` report 0 devices, the
//!   current device is ""), no recording task and no GUID file task can
//!   exist (720 / 701), and the two settings without effect are accepted.
//!
//! Callback setters accept the registration (NULL removes it) and return 0,
//! because apps register every callback at start and give up on an error;
//! the registrations are kept in `STUB_CALLBACKS` but nothing calls them
//! yet. `BRAC_SetCallBack` (in [`crate::abi::brac::api`]) stores the same callback types
//! here through `set_callback`.
#![allow(non_snake_case, non_camel_case_types, clippy::missing_safety_doc, clippy::too_many_arguments)]

use std::ffi::{c_char, c_int};

use parking_lot::RwLock;

use crate::abi::brac::api::{copy_out, guard, Registered, BOOL, DWORD, HWND, LPBYTE, LPCTSTR, LPDWORD, LPVOID, TCHAR};
use crate::abi::bras::api::{Unwrap, CHAR};
use crate::abi::types::*;
use crate::wire::constants::*;

type Slot<T> = Option<Registered<<T as Unwrap>::F>>;

/// Registrations of the callbacks this library accepts but does not call
/// yet, one slot per `BRAC_CBTYPE_*`. A future implementation of a feature
/// reads its slot here and calls the app's function.
pub(crate) struct StubCallbacks {
    pub(crate) video_data: Slot<BRAC_VideoData_CallBack>,
    pub(crate) video_data_fmt: BRAC_PixelFormat,
    pub(crate) video_data_ex: Slot<BRAC_VideoDataEx_CallBack>,
    pub(crate) video_data_ex_fmt: BRAC_PixelFormat,
    pub(crate) video_data_ex2: Slot<BRAC_VideoDataEx2_CallBack>,
    pub(crate) audio_data: Slot<BRAC_AudioData_CallBack>,
    pub(crate) audio_data_ex: Slot<BRAC_AudioDataEx_CallBack>,
    pub(crate) audio_data_ex2: Slot<BRAC_AudioDataEx2_CallBack>,
    pub(crate) trans_file: Slot<BRAC_TransFile_CallBack>,
    pub(crate) trans_file_ex: Slot<BRAC_TransFileEx_CallBack>,
    pub(crate) volume_change: Slot<BRAC_VolumeChange_CallBack>,
    pub(crate) sdk_filter_data: Slot<BRAC_SDKFilterData_CallBack>,
    pub(crate) record_snapshot: Slot<BRAC_RecordSnapShot_CallBack>,
    pub(crate) record_snapshot_ex: Slot<BRAC_RecordSnapShotEx_CallBack>,
    pub(crate) record_snapshot_ex2: Slot<BRAC_RecordSnapShotEx2_CallBack>,
    pub(crate) screen_event: Slot<BRAC_VideoScreenEvent_CallBack>,
    pub(crate) data_enc_dec: Slot<BRAC_DataEncDec_CallBack>,
    pub(crate) network_data_send: Slot<BRAC_NetworkDataSend_CallBack>,
    pub(crate) object_event: Slot<BRAC_ObjectEventNotify_CallBack>,
    pub(crate) core_sdk_event: Slot<BRAC_CoreSDKEvent_CallBack>,
    pub(crate) core_sdk_data: Slot<BRAC_CoreSDKData_CallBack>,
}

pub(crate) static STUB_CALLBACKS: RwLock<StubCallbacks> = RwLock::new(StubCallbacks {
    video_data: None,
    video_data_fmt: BRAC_PIX_FMT_RGB24 as BRAC_PixelFormat,
    video_data_ex: None,
    video_data_ex_fmt: BRAC_PIX_FMT_RGB24 as BRAC_PixelFormat,
    video_data_ex2: None,
    audio_data: None,
    audio_data_ex: None,
    audio_data_ex2: None,
    trans_file: None,
    trans_file_ex: None,
    volume_change: None,
    sdk_filter_data: None,
    record_snapshot: None,
    record_snapshot_ex: None,
    record_snapshot_ex2: None,
    screen_event: None,
    data_enc_dec: None,
    network_data_send: None,
    object_event: None,
    core_sdk_event: None,
    core_sdk_data: None,
});

/// Stores one registration; always 0.
fn set(f: impl FnOnce(&mut StubCallbacks)) -> DWORD {
    guard(|| {
        f(&mut STUB_CALLBACKS.write());
        0
    })
}

/// 20 (`GV_ERR_FUNCNOTALLOW`) when the arguments pass the checks, else 21
/// (`GV_ERR_FUNCOPTERROR`).
fn unsupported(args_ok: bool) -> DWORD {
    if args_ok {
        GV_ERR_FUNCNOTALLOW
    } else {
        GV_ERR_FUNCOPTERROR
    }
}

/// A known `BRAC_PIX_FMT_*` value.
fn known_pix_fmt(f: BRAC_PixelFormat) -> bool {
    u32::try_from(f).is_ok_and(|f| {
        (BRAC_PIX_FMT_RGB24..=BRAC_PIX_FMT_BGR32).contains(&f) || f == BRAC_PIX_FMT_MJPEG || f == BRAC_PIX_FMT_H264
    })
}

/// `BRAC_AD_WAVEIN` or `BRAC_AD_WAVEOUT`.
fn known_audio_device(d: BRAC_AudioDevice) -> bool {
    d == BRAC_AD_WAVEIN as c_int || d == BRAC_AD_WAVEOUT as c_int
}

/// An (info buffer, length) pair of the `int infolen` kind: non-NULL, length > 0.
fn info_buf(p: *const c_char, len: c_int) -> bool {
    !p.is_null() && len > 0
}

/// The callback types of `BRAC_SetCallBack` stored here (see [`StubCallbacks`]);
/// other known types 20, unknown 21. The video-data types keep RGB24.
///
/// # Safety
/// `lpFunction` is NULL or a function of the type that goes with `dwCBType`.
pub(crate) unsafe fn set_callback(dwCBType: DWORD, lpFunction: LPVOID, lpUserValue: LPVOID) -> DWORD {
    macro_rules! store {
        ($t:ty, $field:ident) => {{
            // SAFETY: the app passes a function of the type that goes with
            // `dwCBType` (the vendor's contract); NULL maps to None.
            let f: $t = unsafe { std::mem::transmute::<LPVOID, $t>(lpFunction) };
            set(|c| c.$field = Registered::new(f, lpUserValue))
        }};
    }
    match dwCBType {
        BRAC_CBTYPE_VIDEODATA => store!(BRAC_VideoData_CallBack, video_data),
        BRAC_CBTYPE_VIDEODATAEX => store!(BRAC_VideoDataEx_CallBack, video_data_ex),
        BRAC_CBTYPE_VIDEODATAEX2 => store!(BRAC_VideoDataEx2_CallBack, video_data_ex2),
        BRAC_CBTYPE_AUDIODATA => store!(BRAC_AudioData_CallBack, audio_data),
        BRAC_CBTYPE_AUDIODATAEX => store!(BRAC_AudioDataEx_CallBack, audio_data_ex),
        BRAC_CBTYPE_AUDIODATAEX2 => store!(BRAC_AudioDataEx2_CallBack, audio_data_ex2),
        BRAC_CBTYPE_TRANSFILE => store!(BRAC_TransFile_CallBack, trans_file),
        BRAC_CBTYPE_TRANSFILEEX => store!(BRAC_TransFileEx_CallBack, trans_file_ex),
        BRAC_CBTYPE_VOLUMECHANGE => store!(BRAC_VolumeChange_CallBack, volume_change),
        BRAC_CBTYPE_SDKFILTERDATA => store!(BRAC_SDKFilterData_CallBack, sdk_filter_data),
        BRAC_CBTYPE_STREAMRECORD => store!(BRAC_RecordSnapShot_CallBack, record_snapshot),
        BRAC_CBTYPE_STREAMRECORDEX => store!(BRAC_RecordSnapShotEx_CallBack, record_snapshot_ex),
        BRAC_CBTYPE_STREAMRECORDEX2 => store!(BRAC_RecordSnapShotEx2_CallBack, record_snapshot_ex2),
        BRAC_CBTYPE_SCREENEVENT => store!(BRAC_VideoScreenEvent_CallBack, screen_event),
        BRAC_CBTYPE_DATAENCDEC => store!(BRAC_DataEncDec_CallBack, data_enc_dec),
        BRAC_CBTYPE_NETWORKDATASEND => store!(BRAC_NetworkDataSend_CallBack, network_data_send),
        BRAC_CBTYPE_OBJECTEVENT => store!(BRAC_ObjectEventNotify_CallBack, object_event),
        BRAC_CBTYPE_CORESDKEVENT => store!(BRAC_CoreSDKEvent_CallBack, core_sdk_event),
        BRAC_CBTYPE_CORESDKDATA => store!(BRAC_CoreSDKData_CallBack, core_sdk_data),
        t if (1..=BRAC_CBTYPE_CORESDKDATA).contains(&t) => GV_ERR_FUNCNOTALLOW,
        _ => GV_ERR_FUNCOPTERROR,
    }
}

/// The two-step device enumeration with no devices: `*dwDeviceNum` = 0, 0;
/// a NULL `dwDeviceNum`: 21. Nothing is written to `lpDeviceName`.
///
/// # Safety
/// `dwDeviceNum` is NULL or points to a writable DWORD.
unsafe fn no_devices(dwDeviceNum: *mut DWORD) -> DWORD {
    if dwDeviceNum.is_null() {
        return GV_ERR_FUNCOPTERROR;
    }
    // SAFETY: checked non-NULL; the caller's DWORD.
    unsafe { *dwDeviceNum = 0 };
    0
}

/// No current device: writes "" into `lpDeviceName` (`dwLen` bytes), 0;
/// NULL or 0 bytes: 21.
///
/// # Safety
/// `lpDeviceName` is NULL or has `dwLen` writable bytes.
unsafe fn no_current_device(lpDeviceName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    // SAFETY: forwarded; `copy_out` checks NULL and 0.
    unsafe { copy_out(lpDeviceName, dwLen as usize, b"") }
}

/// Start recording: 20 (no recording here); stop: 720 (`GV_ERR_RECORD_NOTASK`).
pub(crate) fn record_ctrl(bStartRecord: BOOL) -> DWORD {
    if bStartRecord != 0 {
        GV_ERR_FUNCNOTALLOW
    } else {
        GV_ERR_RECORD_NOTASK
    }
}

// ----- settings -------------------------------------------------------------

/// Accepted without effect (logging goes through `tracing`, `RUST_LOG`; there is no call-log file): returns 0.
#[no_mangle]
pub extern "C" fn BRAC_ActiveCallLog(bActive: BOOL) -> DWORD {
    let _ = bActive;
    guard(|| 0)
}

/// Accepted without effect (the core server has no server password): returns 0.
#[no_mangle]
pub extern "C" fn BRAC_SetServerAuthPass(lpPassword: LPCTSTR) -> DWORD {
    let _ = lpPassword;
    guard(|| 0)
}

// ----- callbacks that are accepted but never called yet ----------------------

/// Registers (NULL removes) the callback for users' video frames, delivered in `pixFmt` (RGB24, RGB32 or YUV420P; frames of other codecs as sent); unknown `pixFmt`: 21.
#[no_mangle]
pub extern "C" fn BRAC_SetVideoDataCallBack(
    pixFmt: BRAC_PixelFormat,
    lpFunction: BRAC_VideoData_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    guard(|| {
        if !known_pix_fmt(pixFmt) {
            return GV_ERR_FUNCOPTERROR;
        }
        set(|c| {
            c.video_data = Registered::new(lpFunction, lpUserValue);
            c.video_data_fmt = pixFmt;
        })
    })
}

/// Registers (NULL removes) the callback for users' video frames, delivered in `pixFmt` (RGB24, RGB32 or YUV420P; frames of other codecs as sent); unknown `pixFmt`: 21.
#[no_mangle]
pub extern "C" fn BRAC_SetVideoDataExCallBack(
    pixFmt: BRAC_PixelFormat,
    lpFunction: BRAC_VideoDataEx_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    guard(|| {
        if !known_pix_fmt(pixFmt) {
            return GV_ERR_FUNCOPTERROR;
        }
        set(|c| {
            c.video_data_ex = Registered::new(lpFunction, lpUserValue);
            c.video_data_ex_fmt = pixFmt;
        })
    })
}

/// Registers (NULL removes) the callback for users' audio frames (16-bit PCM, or as sent for other codecs).
#[no_mangle]
pub extern "C" fn BRAC_SetAudioDataCallBack(lpFunction: BRAC_AudioData_CallBack, lpUserValue: LPVOID) -> DWORD {
    set(|c| c.audio_data = Registered::new(lpFunction, lpUserValue))
}

/// Registers (NULL removes) the callback for users' audio frames (16-bit PCM, or as sent for other codecs).
#[no_mangle]
pub extern "C" fn BRAC_SetAudioDataExCallBack(lpFunction: BRAC_AudioDataEx_CallBack, lpUserValue: LPVOID) -> DWORD {
    set(|c| c.audio_data_ex = Registered::new(lpFunction, lpUserValue))
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no file transfer).
#[no_mangle]
pub extern "C" fn BRAC_SetTransFileCallBack(lpFunction: BRAC_TransFile_CallBack, lpUserValue: LPVOID) -> DWORD {
    set(|c| c.trans_file = Registered::new(lpFunction, lpUserValue))
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no local audio devices).
#[no_mangle]
pub extern "C" fn BRAC_SetVolumeChangeCallBack(lpFunction: BRAC_VolumeChange_CallBack, lpUserValue: LPVOID) -> DWORD {
    set(|c| c.volume_change = Registered::new(lpFunction, lpUserValue))
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no SDK filter data).
#[no_mangle]
pub extern "C" fn BRAC_SetSDKFilterDataCallBack(lpFunction: BRAC_SDKFilterData_CallBack, lpUserValue: LPVOID) -> DWORD {
    set(|c| c.sdk_filter_data = Registered::new(lpFunction, lpUserValue))
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no recording or snapshots).
#[no_mangle]
pub extern "C" fn BRAC_SetRecordSnapShotCallBack(
    lpFunction: BRAC_RecordSnapShot_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.record_snapshot = Registered::new(lpFunction, lpUserValue))
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no video windows).
#[no_mangle]
pub extern "C" fn BRAC_SetScreenEventCallBack(
    lpFunction: BRAC_VideoScreenEvent_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    set(|c| c.screen_event = Registered::new(lpFunction, lpUserValue))
}

/// Accepts the registration (NULL removes it), returns 0; never called yet (no media to encrypt).
#[no_mangle]
pub extern "C" fn BRAC_SetDataEncDecCallBack(lpFunction: BRAC_DataEncDec_CallBack, lpUserValue: LPVOID) -> DWORD {
    set(|c| c.data_enc_dec = Registered::new(lpFunction, lpUserValue))
}

// ----- rooms and local devices ------------------------------------------------

/// Not supported (no video property dialog): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_ShowLVProperty(hParent: HWND, szCaption: LPCTSTR, dwX: DWORD, dwY: DWORD) -> DWORD {
    let _ = (hParent, szCaption, dwX, dwY);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no room states): returns 20; a NULL `infoval` or `infolen` <= 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_QueryRoomState(dwRoomId: DWORD, infoname: c_int, infoval: *mut c_char, infolen: c_int) -> DWORD {
    let _ = (dwRoomId, infoname);
    guard(|| unsupported(info_buf(infoval, infolen)))
}

/// No local cameras: sets `*dwDeviceNum` to 0 and returns 0; a NULL `dwDeviceNum`: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnumVideoCapture(lpDeviceName: *mut *mut TCHAR, dwDeviceNum: *mut DWORD) -> DWORD {
    let _ = lpDeviceName;
    // SAFETY: forwarded from our caller; checked inside.
    guard(|| unsafe { no_devices(dwDeviceNum) })
}

/// Not supported (no local cameras): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_SelectVideoCapture(szCaptureName: LPCTSTR) -> DWORD {
    let _ = szCaptureName;
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// No local cameras: writes "" into `lpDeviceName` and returns 0; NULL or `dwLen` 0: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetCurVideoCapture(lpDeviceName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    // SAFETY: forwarded from our caller; checked inside.
    guard(|| unsafe { no_current_device(lpDeviceName, dwLen) })
}

/// No local microphones: sets `*dwDeviceNum` to 0 and returns 0; a NULL `dwDeviceNum`: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnumAudioCapture(lpDeviceName: *mut *mut TCHAR, dwDeviceNum: *mut DWORD) -> DWORD {
    let _ = lpDeviceName;
    // SAFETY: forwarded from our caller; checked inside.
    guard(|| unsafe { no_devices(dwDeviceNum) })
}

/// Not supported (no local microphones): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_SelectAudioCapture(szCaptureName: LPCTSTR) -> DWORD {
    let _ = szCaptureName;
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// No local microphones: writes "" into `lpDeviceName` and returns 0; NULL or `dwLen` 0: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetCurAudioCapture(lpDeviceName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    // SAFETY: forwarded from our caller; checked inside.
    guard(|| unsafe { no_current_device(lpDeviceName, dwLen) })
}

/// No local speakers: sets `*dwDeviceNum` to 0 and returns 0; a NULL `dwDeviceNum`: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_EnumAudioPlayback(lpDeviceName: *mut *mut TCHAR, dwDeviceNum: *mut DWORD) -> DWORD {
    let _ = lpDeviceName;
    // SAFETY: forwarded from our caller; checked inside.
    guard(|| unsafe { no_devices(dwDeviceNum) })
}

/// Not supported (no local speakers): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_SelectAudioPlayback(szDeviceName: LPCTSTR) -> DWORD {
    let _ = szDeviceName;
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// No local speakers: writes "" into `lpDeviceName` and returns 0; NULL or `dwLen` 0: 21.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetCurAudioPlayback(lpDeviceName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    // SAFETY: forwarded from our caller; checked inside.
    guard(|| unsafe { no_current_device(lpDeviceName, dwLen) })
}

// ----- media streams and rendering ----------------------------------------------

/// `BRAC_UserCameraControl` for stream 0 (`dwFlags` and `lpStrParam` ignored); other streams: 20.
#[no_mangle]
pub extern "C" fn BRAC_UserCameraControlEx(
    dwUserid: DWORD,
    bOpen: BOOL,
    dwStreamIndex: DWORD,
    dwFlags: DWORD,
    lpStrParam: LPCTSTR,
) -> DWORD {
    let _ = (dwFlags, lpStrParam);
    if dwStreamIndex != 0 {
        return guard(|| GV_ERR_FUNCNOTALLOW);
    }
    crate::abi::brac::api::BRAC_UserCameraControl(dwUserid, bOpen)
}

/// `BRAC_UserSpeakControl` for stream 0 (`dwFlags` and `lpStrParam` ignored); other streams: 20.
#[no_mangle]
pub extern "C" fn BRAC_UserSpeakControlEx(
    dwUserid: DWORD,
    bOpen: BOOL,
    dwStreamIndex: DWORD,
    dwFlags: DWORD,
    lpStrParam: LPCTSTR,
) -> DWORD {
    let _ = (dwFlags, lpStrParam);
    if dwStreamIndex != 0 {
        return guard(|| GV_ERR_FUNCNOTALLOW);
    }
    crate::abi::brac::api::BRAC_UserSpeakControl(dwUserid, bOpen)
}

/// Not supported (no video rendering): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_SetVideoPos(
    dwUserid: DWORD,
    hWnd: HWND,
    dwLeft: DWORD,
    dwTop: DWORD,
    dwRight: DWORD,
    dwBottom: DWORD,
) -> DWORD {
    let _ = (dwUserid, hWnd, dwLeft, dwTop, dwRight, dwBottom);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no video rendering): returns 20.
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
    let _ = (dwUserid, hWnd, dwLeft, dwTop, dwRight, dwBottom, dwStreamIndex, dwFlags);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no video rendering): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_RepaintVideo(dwUserId: DWORD, hDC: HDC) -> DWORD {
    let _ = (dwUserId, hDC);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no media streams): returns 20; a NULL `infoval` or `infolen` <= 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_SetUserStreamInfo(
    dwUserId: DWORD,
    dwStreamIndex: DWORD,
    infoname: c_int,
    infoval: *mut c_char,
    infolen: c_int,
) -> DWORD {
    let _ = (dwUserId, dwStreamIndex, infoname);
    guard(|| unsupported(info_buf(infoval, infolen)))
}

/// Not supported (no local audio devices): returns 20; a NULL `dwVolume` or an unknown `device`: 21.
#[no_mangle]
pub extern "C" fn BRAC_AudioGetVolume(device: BRAC_AudioDevice, dwVolume: *mut DWORD) -> DWORD {
    guard(|| unsupported(known_audio_device(device) && !dwVolume.is_null()))
}

/// Not supported (no local audio devices): returns 20; an unknown `device` or `dwVolume` > 100: 21.
#[no_mangle]
pub extern "C" fn BRAC_AudioSetVolume(device: BRAC_AudioDevice, dwVolume: DWORD) -> DWORD {
    guard(|| unsupported(known_audio_device(device) && dwVolume <= 100))
}

// ----- recording and snapshots -------------------------------------------------

/// Not supported (no recording): starting returns 20, stopping 720 (`GV_ERR_RECORD_NOTASK`).
#[no_mangle]
pub extern "C" fn BRAC_StreamRecordCtrl(dwUserId: DWORD, bStartRecord: BOOL, dwFlags: DWORD, dwParam: DWORD) -> DWORD {
    let _ = (dwUserId, dwFlags, dwParam);
    guard(|| record_ctrl(bStartRecord))
}

/// Not supported (no recording): starting returns 20, stopping 720 (`GV_ERR_RECORD_NOTASK`).
#[no_mangle]
pub extern "C" fn BRAC_StreamRecordCtrlEx(
    dwUserId: DWORD,
    bStartRecord: BOOL,
    dwFlags: DWORD,
    dwParam: DWORD,
    lpUserStr: LPCTSTR,
) -> DWORD {
    let _ = (dwUserId, dwFlags, dwParam, lpUserStr);
    guard(|| record_ctrl(bStartRecord))
}

/// Not supported (no video to snap): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_SnapShot(dwUserId: DWORD, dwFlags: DWORD, dwParam: DWORD) -> DWORD {
    let _ = (dwUserId, dwFlags, dwParam);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

// ----- file transfer ---------------------------------------------------------------

/// Not supported (no file transfer): returns 20; a NULL `lpLocalPathName` or `dwTaskId`: 21.
#[no_mangle]
pub extern "C" fn BRAC_TransFile(
    dwUserid: DWORD,
    lpLocalPathName: LPCTSTR,
    wParam: DWORD,
    lParam: DWORD,
    dwFlags: DWORD,
    dwTaskId: *mut DWORD,
) -> DWORD {
    let _ = (dwUserid, wParam, lParam, dwFlags);
    guard(|| unsupported(!lpLocalPathName.is_null() && !dwTaskId.is_null()))
}

/// Not supported (no task progress): returns 20; a NULL `infoval` or `infolen` <= 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_QueryTransTaskInfo(
    dwUserid: DWORD,
    dwTaskId: DWORD,
    infoname: c_int,
    infoval: *mut c_char,
    infolen: c_int,
) -> DWORD {
    let _ = (dwUserid, dwTaskId, infoname);
    guard(|| unsupported(info_buf(infoval, infolen)))
}

/// Not supported (transfers cannot be cancelled): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_CancelTransTask(dwUserid: DWORD, dwTaskId: DWORD) -> DWORD {
    let _ = (dwUserid, dwTaskId);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no file transfer): returns 20; a NULL `lpTaskGuid` or `lpLocalPathName`: 21.
#[no_mangle]
pub extern "C" fn BRAC_TransFileEx(
    lpTaskGuid: *mut CHAR,
    dwUserId: DWORD,
    lpLocalPathName: LPCTSTR,
    dwFlags: DWORD,
    lpUserString: *mut CHAR,
) -> DWORD {
    let _ = (dwUserId, dwFlags, lpUserString);
    guard(|| unsupported(!lpTaskGuid.is_null() && !lpLocalPathName.is_null()))
}

/// No file task can exist: returns 701 (`GV_ERR_TRANSBUF_NOTASK`); a NULL pointer or `infolen` <= 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_QueryTransTaskInfoEx(
    lpTaskGuid: *mut CHAR,
    infoname: c_int,
    infoval: *mut c_char,
    infolen: c_int,
) -> DWORD {
    let _ = infoname;
    guard(|| {
        if lpTaskGuid.is_null() || !info_buf(infoval, infolen) {
            GV_ERR_FUNCOPTERROR
        } else {
            GV_ERR_TRANSBUF_NOTASK
        }
    })
}

/// No file task can exist: returns 701 (`GV_ERR_TRANSBUF_NOTASK`); a NULL `lpTaskGuid`: 21.
#[no_mangle]
pub extern "C" fn BRAC_CancelTransTaskEx(lpTaskGuid: *mut CHAR, dwFlags: DWORD, dwErrorCode: DWORD) -> DWORD {
    let _ = (dwFlags, dwErrorCode);
    guard(|| if lpTaskGuid.is_null() { GV_ERR_FUNCOPTERROR } else { GV_ERR_TRANSBUF_NOTASK })
}

/// Not supported (no business-server filter data): returns 20; a NULL `lpBuf` or `dwLen` 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_SendSDKFilterData(lpBuf: LPBYTE, dwLen: DWORD) -> DWORD {
    guard(|| unsupported(!lpBuf.is_null() && dwLen > 0))
}

// ----- chat modes and private chat ------------------------------------------------

/// Not supported (no chat modes): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_ChangeChatMode(dwChatMode: DWORD) -> DWORD {
    let _ = dwChatMode;
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no chat modes): returns 20; a NULL `dwChatMode`: 21.
#[no_mangle]
pub extern "C" fn BRAC_GetUserChatMode(dwUserid: DWORD, dwChatMode: *mut DWORD) -> DWORD {
    let _ = dwUserid;
    guard(|| unsupported(!dwChatMode.is_null()))
}

/// Not supported (no private chat; use the video call): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_PrivateChatRequest(dwUserid: DWORD) -> DWORD {
    let _ = dwUserid;
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no private chat; use the video call): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_PrivateChatEcho(dwUserid: DWORD, dwRequestid: DWORD, bAccept: BOOL) -> DWORD {
    let _ = (dwUserid, dwRequestid, bAccept);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no private chat; use the video call): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_PrivateChatEchoEx(dwUserid: DWORD, dwRequestid: DWORD, dwErrorCode: DWORD) -> DWORD {
    let _ = (dwUserid, dwRequestid, dwErrorCode);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no private chat; use the video call): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_PrivateChatExit(dwUserid: DWORD) -> DWORD {
    let _ = dwUserid;
    guard(|| GV_ERR_FUNCNOTALLOW)
}

/// Not supported (no multicast): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_MultiCastControl(
    lpMultiCastAddr: LPCTSTR,
    dwPort: DWORD,
    lpNicAddr: LPCTSTR,
    dwTTL: DWORD,
    dwFlags: DWORD,
) -> DWORD {
    let _ = (lpMultiCastAddr, dwPort, lpNicAddr, dwTTL, dwFlags);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

// ----- external media input ------------------------------------------------------

/// Not supported (no audio playback): returns 20; a NULL `lpSamples` or `dwSize` 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_FetchAudioPlayBuffer(lpSamples: LPBYTE, dwSize: DWORD, wParam: DWORD) -> DWORD {
    let _ = wParam;
    guard(|| unsupported(!lpSamples.is_null() && dwSize > 0))
}

// ----- server queries and SDK control -------------------------------------------

/// Not supported (no server queries): returns 20; a NULL `dwOutSize`: 21.
#[no_mangle]
pub extern "C" fn BRAC_QueryInfoFromServer(
    dwInfoName: DWORD,
    lpInParam: *mut TCHAR,
    dwInSize: DWORD,
    lpResult: *mut TCHAR,
    dwOutSize: *mut DWORD,
    dwFlags: DWORD,
) -> DWORD {
    let _ = (dwInfoName, lpInParam, dwInSize, lpResult, dwFlags);
    guard(|| unsupported(!dwOutSize.is_null()))
}

/// Not supported (no SDK control codes): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_SDKControl(
    dwCtrlCode: DWORD,
    lpInParam: *mut CHAR,
    lpResult: *mut CHAR,
    dwBufSize: DWORD,
) -> DWORD {
    let _ = (dwCtrlCode, lpInParam, lpResult, dwBufSize);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

// ----- friends, groups and user infos ----------------------------------------------

/// Not supported (no friend lists): returns 20; a NULL `dwUserNum`: 21.
#[no_mangle]
pub extern "C" fn BRAC_GetUserFriends(lpUserIDArray: LPDWORD, dwUserNum: *mut DWORD) -> DWORD {
    let _ = lpUserIDArray;
    guard(|| unsupported(!dwUserNum.is_null()))
}

/// Not supported (no friend lists): returns 20; a NULL `dwStatus`: 21.
#[no_mangle]
pub extern "C" fn BRAC_GetFriendStatus(dwFriendUserId: DWORD, dwStatus: *mut DWORD) -> DWORD {
    let _ = dwFriendUserId;
    guard(|| unsupported(!dwStatus.is_null()))
}

/// Not supported (no user groups): returns 20; a NULL `dwGroupNum`: 21.
#[no_mangle]
pub extern "C" fn BRAC_GetUserGroups(lpGroupIDArray: LPDWORD, dwGroupNum: *mut DWORD) -> DWORD {
    let _ = lpGroupIDArray;
    guard(|| unsupported(!dwGroupNum.is_null()))
}

/// Not supported (no user groups): returns 20; a NULL `dwUserNum`: 21.
#[no_mangle]
pub extern "C" fn BRAC_GetGroupFriends(dwGroupId: DWORD, lpUserIDArray: LPDWORD, dwUserNum: *mut DWORD) -> DWORD {
    let _ = (dwGroupId, lpUserIDArray);
    guard(|| unsupported(!dwUserNum.is_null()))
}

/// Not supported (no user groups): returns 20; a NULL `lpGroupName` or `dwLen` 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_GetGroupName(dwGroupId: DWORD, lpGroupName: *mut TCHAR, dwLen: DWORD) -> DWORD {
    let _ = dwGroupId;
    guard(|| unsupported(!lpGroupName.is_null() && dwLen > 0))
}

/// Not supported (no client-side user control): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_UserInfoControl(
    dwUserId: DWORD,
    dwCtrlCode: DWORD,
    wParam: DWORD,
    lParam: DWORD,
    lpStrValue: LPCTSTR,
) -> DWORD {
    let _ = (dwUserId, dwCtrlCode, wParam, lParam, lpStrValue);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

// ----- business objects ---------------------------------------------------------------

/// Not supported (no business objects): returns 20; a NULL `dwIdNum`: 21.
#[no_mangle]
pub extern "C" fn BRAC_ObjectGetIdList(dwObjectType: DWORD, lpIdArray: LPDWORD, dwIdNum: *mut DWORD) -> DWORD {
    let _ = (dwObjectType, lpIdArray);
    guard(|| unsupported(!dwIdNum.is_null()))
}

/// Not supported (no business objects): returns 20; a NULL `lpInfoValue` or `dwLen` 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_ObjectGetValue(
    dwObjectType: DWORD,
    dwObjectId: DWORD,
    dwInfoName: DWORD,
    lpInfoValue: *mut TCHAR,
    dwLen: DWORD,
) -> DWORD {
    let _ = (dwObjectType, dwObjectId, dwInfoName);
    guard(|| unsupported(!lpInfoValue.is_null() && dwLen > 0))
}

/// Not supported (no business objects): returns 20; a NULL `lpInfoValue` with `dwLen` > 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_ObjectSetValue(
    dwObjectType: DWORD,
    dwObjectId: DWORD,
    dwInfoName: DWORD,
    lpInfoValue: *mut TCHAR,
    dwLen: DWORD,
) -> DWORD {
    let _ = (dwObjectType, dwObjectId, dwInfoName);
    guard(|| unsupported(!lpInfoValue.is_null() || dwLen == 0))
}

/// Not supported (no business objects): returns 20.
#[no_mangle]
pub extern "C" fn BRAC_ObjectControl(
    dwObjectType: DWORD,
    dwObjectId: DWORD,
    dwCtrlCode: DWORD,
    dwParam1: DWORD,
    dwParam2: DWORD,
    dwParam3: DWORD,
    dwParam4: DWORD,
    lpStrValue: LPCTSTR,
) -> DWORD {
    let _ = (dwObjectType, dwObjectId, dwCtrlCode, dwParam1, dwParam2, dwParam3, dwParam4, lpStrValue);
    guard(|| GV_ERR_FUNCNOTALLOW)
}

// ----- stream playback -------------------------------------------------------------------

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid` or `lpStreamPath`: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlayInit(
    lpTaskGuid: *mut CHAR,
    lpStreamPath: *mut CHAR,
    dwFlags: DWORD,
    lpStrParam: *mut CHAR,
) -> DWORD {
    let _ = (dwFlags, lpStrParam);
    guard(|| unsupported(!lpTaskGuid.is_null() && !lpStreamPath.is_null()))
}

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid`: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlayControl(
    lpTaskGuid: *mut CHAR,
    dwCtrlCode: DWORD,
    dwParam: DWORD,
    dwFlags: DWORD,
    lpStrParam: *mut CHAR,
) -> DWORD {
    let _ = (dwCtrlCode, dwParam, dwFlags, lpStrParam);
    guard(|| unsupported(!lpTaskGuid.is_null()))
}

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid`: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlaySetVideoPos(
    lpTaskGuid: *mut CHAR,
    hWnd: HWND,
    dwLeft: DWORD,
    dwTop: DWORD,
    dwRight: DWORD,
    dwBottom: DWORD,
) -> DWORD {
    let _ = (hWnd, dwLeft, dwTop, dwRight, dwBottom);
    guard(|| unsupported(!lpTaskGuid.is_null()))
}

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid` or `infoValue`, or `dwSize` 0: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlayGetInfo(
    lpTaskGuid: *mut CHAR,
    dwInfoName: DWORD,
    infoValue: *mut CHAR,
    dwSize: DWORD,
) -> DWORD {
    let _ = dwInfoName;
    guard(|| unsupported(!lpTaskGuid.is_null() && !infoValue.is_null() && dwSize > 0))
}

/// Not supported (no stream playback): returns 20; a NULL `lpTaskGuid`: 21.
#[no_mangle]
pub extern "C" fn BRAC_StreamPlayDestroy(lpTaskGuid: *mut CHAR, dwFlags: DWORD) -> DWORD {
    let _ = dwFlags;
    guard(|| unsupported(!lpTaskGuid.is_null()))
}

// ----- image helpers --------------------------------------------------------------------------

/// Not supported (no image processing): returns 20; a NULL `lpInFrame` or `dwOutSize`: 21.
#[no_mangle]
pub extern "C" fn BRAC_ImageScale(
    dwSrcWidth: DWORD,
    dwSrcHeight: DWORD,
    dwSrcFmt: DWORD,
    lpInFrame: *mut CHAR,
    dwDesWidth: DWORD,
    dwDesHeight: DWORD,
    dwDesFmt: DWORD,
    lpOutFrame: *mut CHAR,
    dwOutSize: *mut DWORD,
) -> DWORD {
    let _ = (dwSrcWidth, dwSrcHeight, dwSrcFmt, dwDesWidth, dwDesHeight, dwDesFmt, lpOutFrame);
    guard(|| unsupported(!lpInFrame.is_null() && !dwOutSize.is_null()))
}

/// Not supported (no image processing): returns 20; a NULL `lpInFrame` or `lpOutFrame`: 21.
#[no_mangle]
pub extern "C" fn BRAC_RotateYUV420PFrame(
    dwWidth: DWORD,
    dwHeight: DWORD,
    lpInFrame: *mut CHAR,
    lpOutFrame: *mut CHAR,
    dwFlags: DWORD,
) -> DWORD {
    let _ = (dwWidth, dwHeight, dwFlags);
    guard(|| unsupported(!lpInFrame.is_null() && !lpOutFrame.is_null()))
}

/// Not supported (no image processing): returns 20; a NULL `lpFilePath`, `dwWidth`, `dwHeight` or `dwOutSize`: 21.
#[no_mangle]
pub extern "C" fn BRAC_ImageDecode(
    lpFilePath: *mut CHAR,
    dwWidth: *mut DWORD,
    dwHeight: *mut DWORD,
    dwOutFmt: DWORD,
    lpOutFrame: *mut CHAR,
    dwOutSize: *mut DWORD,
) -> DWORD {
    let _ = (dwOutFmt, lpOutFrame);
    guard(|| unsupported(!lpFilePath.is_null() && !dwWidth.is_null() && !dwHeight.is_null() && !dwOutSize.is_null()))
}
