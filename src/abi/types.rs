//! The vendor's remaining C types: the structs passed by value to the media
//! callbacks, the int-sized enums, and every callback typedef of
//! `legacy-api.tsv` not already declared in [`crate::abi::brac::api`] or
//! [`crate::abi::bras::api`]. `build.rs` has cbindgen emit all of them (the `BRAS_`
//! ones into `anychatserver.h`, the others into `anychat.h`), used or not, so
//! that legacy sources naming them compile.
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

use std::ffi::c_int;
use std::mem::{offset_of, size_of};

use crate::abi::brac::api::{BOOL, DWORD, LONG, LPBYTE, LPCTSTR, LPDWORD, LPVOID};
use crate::abi::bras::api::CHAR;

pub type WORD = u16;
pub type BYTE = u8;
// The rest of the vendor's `GVSDK.h` type names, so that legacy sources
// using them compile (`WCHAR`, `VOID` and the macros are written by build.rs).
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
