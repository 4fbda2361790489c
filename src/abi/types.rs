//! The vendor's C types, all of them: the integer and pointer aliases of
//! `GVSDK.h` (`DWORD`, `BOOL`, `LPCTSTR`…), the structs passed by value to
//! the media callbacks, the int-sized enums, and every callback typedef of
//! `legacy-api.tsv`. the header generator (`build/headers`) has cbindgen emit all of them (the `BRAS_`
//! ones into `anychatserver.h`, the others into `anychat.h`), used or not, so
//! that legacy sources naming them compile.
//!
//! The conversions between the codec's own types ([`crate::codec`]) and
//! these structs live here too, and only here: [`pixel_format`] (a
//! `BRAC_PIX_FMT_*` value to a [`PixelFormat`]), `bitmap_info` (a
//! [`FrameDesc`] to a `BITMAPINFOHEADER`) and `wave_format` (an
//! [`AudioFormat`] to a `WAVEFORMATEX`).
//!
//! Layout: the vendor's Linux headers (`GVSDK.h`) declare the structs with
//! natural alignment, no `#pragma pack`, and `LONG` = C `long` (64-bit on
//! LP64). The sizes therefore differ from the packed Windows ones:
//! `BITMAPINFOHEADER` is 64 bytes on LP64 (40 where `long` is 32-bit),
//! `WAVEFORMATEX` 20 (18 on Windows), `BITMAPFILEHEADER` 16 (14 on Windows).
//! The `const` assertions below pin this down.
//!
//! The enums `BRAC_PixelFormat`, `BRAC_AudioDevice` and `BRAC_VideoShowDriver`
//! are plain `c_int` aliases, not Rust enums: a C caller may pass any int,
//! and a Rust enum holding an unlisted value is undefined behaviour. Their
//! enumerators are the `BRAC_PIX_FMT_*`, `BRAC_AD_*` and `BRAC_VSD_*`
//! constants of [`crate::wire::constants`].
#![allow(non_snake_case, non_camel_case_types)]

use std::ffi::{c_char, c_int, c_long, c_void};
use std::mem::{offset_of, size_of};

use crate::codec::{AudioFormat, FrameDesc, PixelFormat};
use crate::wire::constants::{
    BRAC_PIX_FMT_BGR32, BRAC_PIX_FMT_H264, BRAC_PIX_FMT_MJPEG, BRAC_PIX_FMT_NV12, BRAC_PIX_FMT_NV16, BRAC_PIX_FMT_NV21,
    BRAC_PIX_FMT_RGB24, BRAC_PIX_FMT_RGB32, BRAC_PIX_FMT_RGB555, BRAC_PIX_FMT_RGB565, BRAC_PIX_FMT_YUV420P,
    BRAC_PIX_FMT_YUY2, BRAC_PIX_FMT_YV12,
};

pub type DWORD = u32;
pub type BOOL = c_long;
pub type LONG = c_long;
pub type TCHAR = c_char;
pub type LPCTSTR = *const c_char;
pub type LPVOID = *mut c_void;
pub type HWND = *mut c_void;
pub type LPDWORD = *mut DWORD;
pub type LPBYTE = *mut u8;
pub type LPTSTR = *mut c_char;
pub type CHAR = c_char;
pub type WORD = u16;
pub type BYTE = u8;
// The rest of the vendor's `GVSDK.h` type names, so that legacy sources
// using them compile (`WCHAR`, `VOID` and the macros are written by the header generator).
pub type UINT = u32;
pub type SOCKET = u32;
pub type DOUBLE = f64;
pub type USHORT = u16;
pub type SHORT = i16;
pub type UCHAR = u8;
pub type PBYTE = *mut u8;
pub type PCHAR = *mut std::ffi::c_char;
pub type LPCHAR = *mut std::ffi::c_char;
pub type LPCSTR = *const std::ffi::c_char;
pub type INT = c_int;
pub type WPARAM = DWORD;
pub type LPARAM = DWORD;
/// A device context: a 32-bit value on Linux, as in the vendor's headers.
pub type HDC = DWORD;

/// Pixel formats (`BRAC_PIX_FMT_*`), int-sized.
pub type BRAC_PixelFormat = c_int;
/// Audio devices (`BRAC_AD_WAVEIN`, `BRAC_AD_WAVEOUT`), int-sized.
pub type BRAC_AudioDevice = c_int;
/// Video display drivers (`BRAC_VSD_*`), int-sized.
pub type BRAC_VideoShowDriver = c_int;

/// A bitmap file's header (natural alignment on Linux: 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BITMAPFILEHEADER {
    pub bfType: WORD,
    pub bfSize: DWORD,
    pub bfReserved1: WORD,
    pub bfReserved2: WORD,
    pub bfOffBits: DWORD,
}

/// The format of a video frame, passed by value to the video-data callbacks
/// (`LONG` is C `long`: 64 bytes on LP64).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BITMAPINFOHEADER {
    pub biSize: DWORD,
    pub biWidth: LONG,
    pub biHeight: LONG,
    pub biPlanes: WORD,
    pub biBitCount: WORD,
    pub biCompression: DWORD,
    pub biSizeImage: DWORD,
    pub biXPelsPerMeter: LONG,
    pub biYPelsPerMeter: LONG,
    pub biClrUsed: DWORD,
    pub biClrImportant: DWORD,
}
pub type LPBITMAPINFOHEADER = *mut BITMAPINFOHEADER;

/// The format of audio samples, passed by value to the audio-data callbacks
/// (natural alignment on Linux: 20 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WAVEFORMATEX {
    pub wFormatTag: WORD,
    pub nChannels: WORD,
    pub nSamplesPerSec: DWORD,
    pub nAvgBytesPerSec: DWORD,
    pub nBlockAlign: WORD,
    pub wBitsPerSample: WORD,
    pub cbSize: WORD,
}
pub type LPWAVEFORMATEX = *mut WAVEFORMATEX;

// Layout checks (natural C alignment; `LONG` = C `long`).
const LONG_IS_64: bool = size_of::<LONG>() == 8;
const _: () = assert!(size_of::<BITMAPFILEHEADER>() == 16);
const _: () = assert!(offset_of!(BITMAPFILEHEADER, bfSize) == 4);
const _: () = assert!(offset_of!(BITMAPFILEHEADER, bfReserved1) == 8);
const _: () = assert!(offset_of!(BITMAPFILEHEADER, bfOffBits) == 12);
// LP64: biSize 0, (pad 4), biWidth 8, biHeight 16, biPlanes 24, biBitCount 26,
// biCompression 28, biSizeImage 32, (pad 4), biXPelsPerMeter 40,
// biYPelsPerMeter 48, biClrUsed 56, biClrImportant 60 → 64 bytes.
const _: () = assert!(size_of::<BITMAPINFOHEADER>() == if LONG_IS_64 { 64 } else { 40 });
const _: () = assert!(offset_of!(BITMAPINFOHEADER, biWidth) == if LONG_IS_64 { 8 } else { 4 });
const _: () = assert!(offset_of!(BITMAPINFOHEADER, biPlanes) == if LONG_IS_64 { 24 } else { 12 });
const _: () = assert!(offset_of!(BITMAPINFOHEADER, biCompression) == if LONG_IS_64 { 28 } else { 16 });
const _: () = assert!(offset_of!(BITMAPINFOHEADER, biXPelsPerMeter) == if LONG_IS_64 { 40 } else { 24 });
const _: () = assert!(offset_of!(BITMAPINFOHEADER, biClrUsed) == if LONG_IS_64 { 56 } else { 32 });
const _: () = assert!(offset_of!(BITMAPINFOHEADER, biClrImportant) == if LONG_IS_64 { 60 } else { 36 });
// wFormatTag 0, nChannels 2, nSamplesPerSec 4, nAvgBytesPerSec 8,
// nBlockAlign 12, wBitsPerSample 14, cbSize 16, (pad 2) → 20 bytes.
const _: () = assert!(size_of::<WAVEFORMATEX>() == 20);
const _: () = assert!(offset_of!(WAVEFORMATEX, nSamplesPerSec) == 4);
const _: () = assert!(offset_of!(WAVEFORMATEX, nBlockAlign) == 12);
const _: () = assert!(offset_of!(WAVEFORMATEX, cbSize) == 16);

// ----- client callbacks (BRAC_) --------------------------------------------

/// `WM_GV_*` notifications: `(dwNotifyMsg, wParam, lParam, lpUserValue)`.
pub type BRAC_NotifyMessage_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, LPVOID)>;
/// Video-call events: `(dwEventType, dwUserId, dwErrorCode, dwFlags, dwParam, lpUserStr, lpUserValue)`.
pub type BRAC_VideoCallEvent_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, DWORD, DWORD, LPCTSTR, LPVOID)>;
/// Bytes relayed to this user: `(dwUserid, lpBuf, dwLen, lpUserValue)`;
/// `dwUserid` 0 means the business server (`BRAS_SendBufToUser`).
pub type BRAC_TransBuffer_CallBack = Option<unsafe extern "system" fn(DWORD, LPBYTE, DWORD, LPVOID)>;

/// Video frames: `(dwUserid, lpBuf, dwLen, bmiHeader, lpUserValue)`.
pub type BRAC_VideoData_CallBack = Option<unsafe extern "system" fn(DWORD, LPVOID, DWORD, BITMAPINFOHEADER, LPVOID)>;
/// Video frames: `(dwUserid, lpBuf, dwLen, bmiHeader, dwTimeStamp, lpUserValue)`.
pub type BRAC_VideoDataEx_CallBack =
    Option<unsafe extern "system" fn(DWORD, LPVOID, DWORD, BITMAPINFOHEADER, DWORD, LPVOID)>;
/// Video frames: `(dwUserid, dwStreamIndex, lpBuf, dwLen, bmiHeader, dwTimeStamp, lpUserValue)`.
pub type BRAC_VideoDataEx2_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, LPVOID, DWORD, BITMAPINFOHEADER, DWORD, LPVOID)>;
/// Audio samples: `(dwUserid, lpBuf, dwLen, waveFormatEx, lpUserValue)`.
pub type BRAC_AudioData_CallBack = Option<unsafe extern "system" fn(DWORD, LPVOID, DWORD, WAVEFORMATEX, LPVOID)>;
/// Audio samples: `(dwUserid, lpBuf, dwLen, waveFormatEx, dwTimeStamp, lpUserValue)`.
pub type BRAC_AudioDataEx_CallBack =
    Option<unsafe extern "system" fn(DWORD, LPVOID, DWORD, WAVEFORMATEX, DWORD, LPVOID)>;
/// Audio samples: `(dwUserid, dwStreamIndex, lpBuf, dwLen, waveFormatEx, dwTimeStamp, lpUserValue)`.
pub type BRAC_AudioDataEx2_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, LPVOID, DWORD, WAVEFORMATEX, DWORD, LPVOID)>;
/// Text messages: `(dwFromUserid, dwToUserid, bSecret, lpMsgBuf, dwLen, lpUserValue)`.
pub type BRAC_TextMessage_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, BOOL, LPCTSTR, DWORD, LPVOID)>;
/// Relayed bytes with task data: `(dwUserid, lpBuf, dwLen, wParam, lParam, dwTaskId, lpUserValue)`.
pub type BRAC_TransBufferEx_CallBack =
    Option<unsafe extern "system" fn(DWORD, LPBYTE, DWORD, DWORD, DWORD, DWORD, LPVOID)>;
/// Received files: `(dwUserid, lpFileName, lpTempFilePath, dwFileLength, wParam, lParam, dwTaskId, lpUserValue)`.
pub type BRAC_TransFile_CallBack =
    Option<unsafe extern "system" fn(DWORD, LPCTSTR, LPCTSTR, DWORD, DWORD, DWORD, DWORD, LPVOID)>;
/// Received files: `(dwUserid, dwErrorCode, lpFileName, lpTempFilePath, dwFileLength, dwFlags, lpTaskGuid,
/// lpUserStr, lpUserValue)`.
pub type BRAC_TransFileEx_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, LPCTSTR, LPCTSTR, DWORD, DWORD, *mut CHAR, LPCTSTR, LPVOID)>;
/// Volume changes: `(device, dwCurrentVolume, lpUserValue)`.
pub type BRAC_VolumeChange_CallBack = Option<unsafe extern "system" fn(BRAC_AudioDevice, DWORD, LPVOID)>;
/// Data from the business server: `(lpBuf, dwLen, lpUserValue)`.
pub type BRAC_SDKFilterData_CallBack = Option<unsafe extern "system" fn(LPBYTE, DWORD, LPVOID)>;
/// Recordings and snapshots: `(dwUserid, lpFileName, dwParam, bRecordType, lpUserValue)`.
pub type BRAC_RecordSnapShot_CallBack = Option<unsafe extern "system" fn(DWORD, LPCTSTR, DWORD, BOOL, LPVOID)>;
/// Recordings and snapshots: `(dwUserId, lpFileName, dwElapse, dwFlags, dwParam, lpUserStr, lpUserValue)`.
pub type BRAC_RecordSnapShotEx_CallBack =
    Option<unsafe extern "system" fn(DWORD, LPCTSTR, DWORD, DWORD, DWORD, LPCTSTR, LPVOID)>;
/// Recordings and snapshots: `(dwUserId, dwErrorCode, lpFileName, dwElapse, dwFlags, dwParam, lpUserStr,
/// lpUserValue)`.
pub type BRAC_RecordSnapShotEx2_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, LPCTSTR, DWORD, DWORD, DWORD, LPCTSTR, LPVOID)>;
/// Video window events: `(dwUserid, type, key, dwFlags, wParam, lParam, lpUserValue)`.
pub type BRAC_VideoScreenEvent_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, DWORD, DWORD, DWORD, LPVOID)>;
/// Media encryption: `(dwUserId, dwFlags, lpInBuf, dwInSize, lpOutBuf, lpOutSize, lpUserValue)` → error code.
pub type BRAC_DataEncDec_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, LPBYTE, DWORD, LPBYTE, LPDWORD, LPVOID) -> DWORD>;
/// Network output: `(hSocket, dwFlags, lpBuf, dwSize, dwTargetAddr, dwTargetPort, lpUserValue)` → error code.
pub type BRAC_NetworkDataSend_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, *mut CHAR, DWORD, DWORD, DWORD, LPVOID) -> DWORD>;
/// Business objects: `(dwObjectType, dwObjectId, dwEventType, dwParam1, dwParam2, dwParam3, dwParam4,
/// lpStrParam, lpUserValue)`.
pub type BRAC_ObjectEventNotify_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, DWORD, DWORD, DWORD, DWORD, LPCTSTR, LPVOID)>;
/// Core SDK events: `(dwEventType, lpEventJsonStr, lpUserValue)`.
pub type BRAC_CoreSDKEvent_CallBack = Option<unsafe extern "system" fn(DWORD, LPCTSTR, LPVOID)>;
/// Core SDK data: `(dwDataType, lpBuf, dwLen, lpJsonStr, lpUserValue)`.
pub type BRAC_CoreSDKData_CallBack = Option<unsafe extern "system" fn(DWORD, LPVOID, DWORD, LPCTSTR, LPVOID)>;

// ----- business-server callbacks (BRAS_) -------------------------------------

/// Link notices: `BRAS_SERVERAPPMSG_CONNECTED` / `_DISCONNECT`.
pub type BRAS_OnServerAppMessage_CallBack = Option<unsafe extern "system" fn(DWORD, LPVOID)>;
/// Link notices: `(BRAS_MESSAGE_CORESERVERCONN, 0 or error code, 0)`.
pub type BRAS_OnServerAppMessageEx_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, LPVOID)>;
/// The timer of `BRAS_SetTimerEventCallBack`.
pub type BRAS_OnTimerEvent_CallBack = Option<unsafe extern "system" fn(LPVOID)>;
/// Login decision: return 0 and fill `*lpUserID` (0: the core server assigns
/// one), `*lpUserLevel` and `lpNickName` (`dwNCLen` bytes), or an error code.
pub type BRAS_VerifyUser_CallBack =
    Option<unsafe extern "system" fn(LPCTSTR, LPCTSTR, LPDWORD, LPDWORD, LPTSTR, DWORD, LPVOID) -> DWORD>;
/// Entering an ordinary room: 0 admits, anything else is the user's error code.
pub type BRAS_PrepareEnterRoom_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, LPCTSTR, LPCTSTR, LPVOID) -> DWORD>;
pub type BRAS_OnUserLoginAction_CallBack = Option<unsafe extern "system" fn(DWORD, LPCTSTR, DWORD, LPCTSTR, LPVOID)>;
pub type BRAS_OnUserLogoutAction_CallBack = Option<unsafe extern "system" fn(DWORD, LPVOID)>;
pub type BRAS_OnUserLogoutActionEx_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, LPVOID)>;
pub type BRAS_OnUserEnterRoomAction_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, LPVOID)>;
pub type BRAS_OnUserLeaveRoomAction_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, LPVOID)>;
/// Every call event; for REQUEST the return value decides (0 = proceed).
pub type BRAS_OnVideoCallEvent_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, DWORD, DWORD, DWORD, LPCTSTR, LPVOID) -> DWORD>;

/// Data a user sent with `BRAC_SendSDKFilterData`: `(dwUserId, lpBuf, dwLen, lpUserValue)`.
pub type BRAS_OnRecvUserFilterData_CallBack = Option<unsafe extern "system" fn(DWORD, *mut BYTE, DWORD, LPVOID)>;
/// Text messages: `(dwRoomId, dwSrcUserId, dwTarUserId, bSecret, lpTextMessage, dwLen, lpUserValue)`.
pub type BRAS_OnRecvUserTextMsg_CallBack =
    Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, BOOL, LPCTSTR, DWORD, LPVOID)>;
/// Bytes a user sent to the server: `(dwUserId, lpBuf, dwLen, lpUserValue)`.
pub type BRAS_OnTransBuffer_CallBack = Option<unsafe extern "system" fn(DWORD, LPBYTE, DWORD, LPVOID)>;
/// Bytes with task data: `(dwUserId, lpBuf, dwLen, wParam, lParam, dwTaskId, lpUserValue)`.
pub type BRAS_OnTransBufferEx_CallBack =
    Option<unsafe extern "system" fn(DWORD, LPBYTE, DWORD, DWORD, DWORD, DWORD, LPVOID)>;
/// Received files: `(dwUserId, lpFileName, lpTempFilePath, dwFileLength, wParam, lParam, dwTaskId, lpUserValue)`.
pub type BRAS_OnTransFile_CallBack =
    Option<unsafe extern "system" fn(DWORD, LPCTSTR, LPCTSTR, DWORD, DWORD, DWORD, DWORD, LPVOID)>;
/// Server recordings: `(dwUserId, dwParam, dwRecordServerId, dwElapse, lpRecordFileName, lpUserValue)`.
pub type BRAS_OnServerRecord_CallBack = Option<unsafe extern "system" fn(DWORD, DWORD, DWORD, DWORD, LPCTSTR, LPVOID)>;
/// Server recordings: `(dwUserId, lpFileName, dwElapse, dwFlags, dwParam, lpUserStr, dwRecordServerId,
/// lpUserValue)`.
pub type BRAS_OnServerRecordEx_CallBack =
    Option<unsafe extern "system" fn(DWORD, LPCTSTR, DWORD, DWORD, DWORD, LPCTSTR, DWORD, LPVOID)>;

// ----- conversions from and to the codec's types ------------------------------

/// `wFormatTag` of PCM.
const WAVE_FORMAT_PCM: WORD = 1;

/// The codec's pixel format for a `BRAC_PIX_FMT_*` value; `None` for any
/// other int (a C caller may pass anything).
pub fn pixel_format(f: BRAC_PixelFormat) -> Option<PixelFormat> {
    let Ok(f) = u32::try_from(f) else { return None };
    Some(match f {
        BRAC_PIX_FMT_RGB24 => PixelFormat::Rgb24,
        BRAC_PIX_FMT_RGB32 => PixelFormat::Rgb32,
        BRAC_PIX_FMT_YV12 => PixelFormat::Yv12,
        BRAC_PIX_FMT_YUY2 => PixelFormat::Yuy2,
        BRAC_PIX_FMT_YUV420P => PixelFormat::Yuv420p,
        BRAC_PIX_FMT_RGB565 => PixelFormat::Rgb565,
        BRAC_PIX_FMT_RGB555 => PixelFormat::Rgb555,
        BRAC_PIX_FMT_NV12 => PixelFormat::Nv12,
        BRAC_PIX_FMT_NV21 => PixelFormat::Nv21,
        BRAC_PIX_FMT_NV16 => PixelFormat::Nv16,
        BRAC_PIX_FMT_BGR32 => PixelFormat::Bgr32,
        BRAC_PIX_FMT_MJPEG => PixelFormat::Mjpeg,
        BRAC_PIX_FMT_H264 => PixelFormat::H264,
        _ => return None,
    })
}

/// The `BITMAPINFOHEADER` the video data callbacks get for a frame:
/// `biSize` = `size_of::<BITMAPINFOHEADER>()` (64 on LP64), `biWidth`,
/// `biHeight`, `biBitCount`, `biCompression` and `biSizeImage` from `d`,
/// `biPlanes` = 1, the rest 0. `biHeight` is positive, as the vendor's Linux
/// SDK reports it, although on Linux the RGB rows are top-down (see
/// [`crate::codec::RGB_ROW_ORDER`]): Linux apps build an image from
/// `biWidth`, `biHeight` and the buffer as they are.
pub(crate) fn bitmap_info(d: &FrameDesc) -> BITMAPINFOHEADER {
    BITMAPINFOHEADER {
        biSize: size_of::<BITMAPINFOHEADER>() as DWORD,
        // The codec's dimensions are at most 16384: no wrap even where
        // `long` is 32-bit.
        biWidth: d.width as LONG,
        biHeight: d.height as LONG,
        biPlanes: 1,
        biBitCount: d.bit_count,
        biCompression: d.compression,
        biSizeImage: d.size_image,
        ..BITMAPINFOHEADER::default()
    }
}

/// The `WAVEFORMATEX` the audio data callbacks get for PCM in `f`:
/// `wFormatTag` 1, `nBlockAlign` = channels × bytes per sample,
/// `nAvgBytesPerSec` = rate × `nBlockAlign`, `cbSize` 0.
pub(crate) fn wave_format(f: &AudioFormat) -> WAVEFORMATEX {
    WAVEFORMATEX {
        wFormatTag: WAVE_FORMAT_PCM,
        nChannels: f.channels,
        nSamplesPerSec: f.samples_per_sec,
        nAvgBytesPerSec: f.bytes_per_sec(),
        nBlockAlign: f.block_align(),
        wBitsPerSample: f.bits_per_sample,
        cbSize: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::frame_desc;

    #[test]
    fn every_vendor_pixel_format_maps_and_nothing_else() {
        let all = [
            (BRAC_PIX_FMT_RGB24, 0),
            (BRAC_PIX_FMT_RGB32, 1),
            (BRAC_PIX_FMT_YV12, 2),
            (BRAC_PIX_FMT_YUY2, 3),
            (BRAC_PIX_FMT_YUV420P, 4),
            (BRAC_PIX_FMT_RGB565, 5),
            (BRAC_PIX_FMT_RGB555, 6),
            (BRAC_PIX_FMT_NV12, 7),
            (BRAC_PIX_FMT_NV21, 8),
            (BRAC_PIX_FMT_NV16, 9),
            (BRAC_PIX_FMT_BGR32, 10),
            (BRAC_PIX_FMT_MJPEG, 200),
            (BRAC_PIX_FMT_H264, 201),
        ];
        let mut seen = Vec::new();
        for (constant, value) in all {
            assert_eq!(constant, value);
            let f = pixel_format(value as c_int).expect("a vendor format");
            assert!(!seen.contains(&f), "{f:?} twice");
            seen.push(f);
        }
        assert_eq!(pixel_format(BRAC_PIX_FMT_YUV420P as c_int), Some(PixelFormat::Yuv420p));
        for other in [-1, 11, 99, 199, 202, c_int::MIN, c_int::MAX] {
            assert_eq!(pixel_format(other), None, "{other}");
        }
    }

    #[test]
    fn bitmap_info_fields() {
        let b = bitmap_info(&frame_desc(PixelFormat::Rgb24, 640, 480).unwrap());
        assert_eq!(b.biSize as usize, size_of::<BITMAPINFOHEADER>());
        assert_eq!((b.biWidth, b.biHeight, b.biPlanes), (640, 480, 1));
        assert_eq!((b.biBitCount, b.biCompression, b.biSizeImage), (24, 0, 921_600));
        assert_eq!((b.biXPelsPerMeter, b.biYPelsPerMeter, b.biClrUsed, b.biClrImportant), (0, 0, 0, 0));
        let b = bitmap_info(&frame_desc(PixelFormat::Yuv420p, 640, 480).unwrap());
        assert_eq!((b.biBitCount, b.biCompression, b.biSizeImage), (12, 0x3032_3449, 460_800));
        #[cfg(target_pointer_width = "64")]
        assert_eq!(b.biSize, 64);
    }

    #[test]
    fn wave_format_fields() {
        let f = AudioFormat { channels: 2, samples_per_sec: 44100, bits_per_sample: 16 };
        let w = wave_format(&f);
        assert_eq!((w.wFormatTag, w.nChannels, w.nSamplesPerSec), (1, 2, 44100));
        assert_eq!((w.nBlockAlign, w.nAvgBytesPerSec, w.wBitsPerSample, w.cbSize), (4, 176_400, 16, 0));
        let w = wave_format(&AudioFormat { channels: 1, samples_per_sec: 16000, bits_per_sample: 16 });
        assert_eq!((w.nBlockAlign, w.nAvgBytesPerSec), (2, 32000));
    }
}
