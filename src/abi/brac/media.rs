//! The media part of the `BRAC_*` C ABI: external video/audio input, the
//! data callbacks users' frames are delivered to, and
//! `BRAC_GetUserStreamInfo`. Same conventions as [`crate::abi::brac::api`].
//!
//! Sending: `BRAC_SetSDKOption(BRAC_SO_CORESDK_EXTVIDEOINPUT, 1)` (or
//! `EXTAUDIOINPUT`), `BRAC_SetInputVideoFormat(Ex)` /
//! `BRAC_SetInputAudioFormat(Ex)`, `BRAC_UserCameraControl(-1, TRUE)` /
//! `BRAC_UserSpeakControl(-1, TRUE)`, then `BRAC_InputVideoData(Ex)` /
//! `BRAC_InputAudioData(Ex)`. Raw video (any `BRAC_PIX_FMT_*` but MJPEG and
//! H264) is converted to I420 and encoded with H.264 on the calling thread; 16-bit PCM audio is
//! encoded to Opus (20 ms frames; PCM while a receiver cannot decode Opus) and decoded back to PCM by
//! receivers; input already encoded (a codec id given to the `Ex` format call)
//! is relayed unchanged and delivered as such.
//!
//! Receiving: `BRAC_UserCameraControl(user, TRUE)` /
//! `BRAC_UserSpeakControl(user, TRUE)`, and the video/audio data callbacks;
//! H.264 from this library is decoded into each callback's pixel format
//! ([`crate::codec`]), described by the `BITMAPINFOHEADER` /
//! `WAVEFORMATEX` that [`crate::abi::types`] makes of the codec's
//! descriptions.
//!
//! RGB pictures (RGB24, RGB32, BGR32, RGB565, RGB555) are top-down on Linux
//! both ways, as with the vendor's Linux SDK: the first row of a buffer
//! handed to a video data callback, or to `BRAC_InputVideoData`, is the top
//! of the picture; `biHeight` is positive ([`crate::codec::RGB_ROW_ORDER`]).
#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int};

use super::{callbacks, with_sdk};
use crate::abi::boundary::{bytes_in, ffi_boundary, put_u32, Registered};
use crate::abi::types::*;
use crate::client::Event;
use crate::codec::{frame_desc, from_i420, to_i420, AudioFormat, PixelFormat};
use crate::wire::constants::*;

/// Delivers a video or audio event to the registered data callbacks (on the
/// callback thread, with no lock held).
pub(crate) fn deliver_media(ev: Event) {
    let cbs = callbacks::registered();
    match ev {
        Event::Video { from, w, h, codec, timestamp, data, decoded, pix_fmt } => {
            tracing::trace!(target: crate::logging::EVENT_TARGET, "video from={from} {w}x{h} codec={codec} ts={timestamp}");
            if decoded {
                super::video::draw(from, w, h, pix_fmt, &data);
            }
            // One conversion per pixel format asked for.
            let frame = |fmt: PixelFormat| -> Option<(Vec<u8>, BITMAPINFOHEADER)> {
                if decoded {
                    let bytes = picture(pix_fmt, fmt, w, h, &data)?;
                    Some((bytes, bitmap_info(&frame_desc(fmt, w, h)?)))
                } else {
                    // Frames of another codec: as sent, the codec id in biCompression.
                    let mut bmi = bitmap_info(&frame_desc(PixelFormat::Yuv420p, w, h)?);
                    bmi.biCompression = codec;
                    bmi.biSizeImage = data.len() as DWORD;
                    bmi.biBitCount = 0;
                    Some((data.clone(), bmi))
                }
            };
            if let Some(cb) = cbs.video_data {
                if let Some((mut buf, bmi)) = frame(cbs.video_data_fmt) {
                    // SAFETY: the app registered this function with this signature;
                    // the buffer lives until the call returns.
                    unsafe { (cb.func)(from, buf.as_mut_ptr().cast(), buf.len() as DWORD, bmi, cb.user()) };
                }
            }
            if let Some(cb) = cbs.video_data_ex {
                if let Some((mut buf, bmi)) = frame(cbs.video_data_ex_fmt) {
                    // SAFETY: as above.
                    unsafe { (cb.func)(from, buf.as_mut_ptr().cast(), buf.len() as DWORD, bmi, timestamp, cb.user()) };
                }
            }
            if let Some(cb) = cbs.video_data_ex2 {
                if let Some((mut buf, bmi)) = frame(cbs.video_data_ex_fmt) {
                    let len = buf.len() as DWORD;
                    // SAFETY: as above (stream 0: one stream per user here).
                    unsafe { (cb.func)(from, 0, buf.as_mut_ptr().cast(), len, bmi, timestamp, cb.user()) };
                }
            }
        }
        Event::Audio { from, channels, rate, bits, codec, timestamp, mut data } => {
            tracing::trace!(target: crate::logging::EVENT_TARGET, "audio from={from} {} bytes ts={timestamp}", data.len());
            let mut wf = wave_format(&AudioFormat { channels, samples_per_sec: rate, bits_per_sample: bits });
            if codec != 0 {
                wf.wFormatTag = (codec & 0xFFFF) as u16;
            }
            let len = data.len() as DWORD;
            let ptr: LPVOID = data.as_mut_ptr().cast();
            // SAFETY: for the three calls, the app registered these functions with
            // these signatures; the buffer lives until the calls return.
            unsafe {
                if let Some(cb) = cbs.audio_data {
                    (cb.func)(from, ptr, len, wf, cb.user());
                }
                if let Some(cb) = cbs.audio_data_ex {
                    (cb.func)(from, ptr, len, wf, timestamp, cb.user());
                }
                if let Some(cb) = cbs.audio_data_ex2 {
                    (cb.func)(from, 0, ptr, len, wf, timestamp, cb.user());
                }
            }
        }
        _ => {}
    }
}

/// A picture in the `BRAC_PIX_FMT_*` format `src` as `fmt`: the same bytes
/// when they agree (one's own raw input shown back as it came), else
/// converted through I420 (decoded H.264 is I420 already).
fn picture(src: u32, fmt: PixelFormat, w: u32, h: u32, data: &[u8]) -> Option<Vec<u8>> {
    let src = pixel_format(src as BRAC_PixelFormat)?;
    if src == fmt {
        return Some(data.to_vec());
    }
    if src == PixelFormat::Yuv420p {
        return from_i420(fmt, w, h, data).ok();
    }
    let i420 = to_i420(src, w, h, data).ok()?;
    if fmt == PixelFormat::Yuv420p {
        return Some(i420);
    }
    from_i420(fmt, w, h, &i420).ok()
}

/// Video input as raw frames: `pixFmt` any `BRAC_PIX_FMT_*` but MJPEG and
/// H264 (RGB24, RGB32, BGR32, RGB565, RGB555, YUV420P, YV12, NV12, NV21,
/// NV16, YUY2; RGB rows top-down on Linux), even `dwWidth`/`dwHeight` up to
/// 4096, `dwFps` 1…60; frames are H.264-encoded here. Bad format: 21.
/// `dwFlags` ignored.
#[no_mangle]
pub extern "C" fn BRAC_SetInputVideoFormat(
    pixFmt: BRAC_PixelFormat,
    dwWidth: DWORD,
    dwHeight: DWORD,
    dwFps: DWORD,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = dwFlags;
        with_sdk(|c| c.set_video_input(0, pixel_format(pixFmt), dwWidth, dwHeight, dwFps))
    }
}

/// As `BRAC_SetInputVideoFormat` for stream 0; a non-zero `dwCodecId` means
/// frames already encoded with that codec (e.g. `BRAC_PIX_FMT_H264`),
/// relayed unchanged and delivered as such. Other streams: 20.
#[no_mangle]
pub extern "C" fn BRAC_SetInputVideoFormatEx(
    dwStreamIndex: DWORD,
    dwCodecId: DWORD,
    pixFmt: DWORD,
    dwWidth: DWORD,
    dwHeight: DWORD,
    dwFps: DWORD,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = dwFlags;
        with_sdk(|c| {
            if dwStreamIndex != 0 {
                GV_ERR_FUNCNOTALLOW
            } else {
                c.set_video_input(dwCodecId, pixel_format(pixFmt as BRAC_PixelFormat), dwWidth, dwHeight, dwFps)
            }
        })
    }
}

/// One video frame of this client (a whole frame of the input format; RGB
/// rows top-down on Linux). External video not enabled or format not set:
/// 20; wrong size: 21; not logged in: 208; camera closed: 0 and nothing is
/// sent. Camera open: the frame also reaches this client's video data
/// callbacks with its own user id (self-view, converted on the callback
/// thread).
#[no_mangle]
pub unsafe extern "C" fn BRAC_InputVideoData(lpVideoFrame: LPBYTE, dwSize: DWORD, dwTimeStamp: DWORD) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            // SAFETY: the caller gave `dwSize` readable bytes.
            match unsafe { bytes_in(lpVideoFrame, dwSize, usize::MAX) } {
                Ok(frame) => c.input_video(frame, dwTimeStamp, false),
                Err(e) => e,
            }
        })
    }
}

/// As `BRAC_InputVideoData` for stream 0; for encoded input, `dwFlags` bit
/// 0x01 (or an H.264 IDR) marks a key frame. Other streams: 20.
#[no_mangle]
pub unsafe extern "C" fn BRAC_InputVideoDataEx(
    dwStreamIndex: DWORD,
    lpVideoFrame: LPBYTE,
    dwSize: DWORD,
    dwTimeStamp: DWORD,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            if dwStreamIndex != 0 {
                return GV_ERR_FUNCNOTALLOW;
            }
            // SAFETY: the caller gave `dwSize` readable bytes.
            match unsafe { bytes_in(lpVideoFrame, dwSize, usize::MAX) } {
                Ok(frame) => c.input_video(frame, dwTimeStamp, dwFlags & 1 != 0),
                Err(e) => e,
            }
        })
    }
}

/// Audio input as 16-bit PCM: 1–2 channels, 8,000–48,000 Hz. Bad format:
/// 21. `dwFlags` ignored.
#[no_mangle]
pub extern "C" fn BRAC_SetInputAudioFormat(
    dwChannels: DWORD,
    dwSamplesPerSec: DWORD,
    dwBitsPerSample: DWORD,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = dwFlags;
        with_sdk(|c| c.set_audio_input(0, dwChannels, dwSamplesPerSec, dwBitsPerSample))
    }
}

/// As `BRAC_SetInputAudioFormat` for stream 0; a non-zero `dwCodecId`
/// means audio already encoded, relayed unchanged. Other streams: 20.
#[no_mangle]
pub extern "C" fn BRAC_SetInputAudioFormatEx(
    dwStreamIndex: DWORD,
    dwCodecId: DWORD,
    dwChannels: DWORD,
    dwSamplesPerSec: DWORD,
    dwBitsPerSample: DWORD,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = dwFlags;
        with_sdk(|c| {
            if dwStreamIndex != 0 {
                GV_ERR_FUNCNOTALLOW
            } else {
                c.set_audio_input(dwCodecId, dwChannels, dwSamplesPerSec, dwBitsPerSample)
            }
        })
    }
}

/// Audio samples of this client (whole sample frames), sent as Opus in
/// 20 ms frames (at 8, 12, 16, 24 or 48 kHz; else, or while a receiver
/// cannot decode Opus, as PCM). External audio not enabled or format not
/// set: 20; a partial sample frame: 21; microphone closed: 0 and nothing is
/// sent.
#[no_mangle]
pub unsafe extern "C" fn BRAC_InputAudioData(lpSamples: LPBYTE, dwSize: DWORD, dwTimeStamp: DWORD) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            // SAFETY: the caller gave `dwSize` readable bytes.
            match unsafe { bytes_in(lpSamples, dwSize, usize::MAX) } {
                Ok(samples) => c.input_audio(samples, dwTimeStamp),
                Err(e) => e,
            }
        })
    }
}

/// As `BRAC_InputAudioData` for stream 0 (`dwFlags` ignored). Other streams: 20.
#[no_mangle]
pub unsafe extern "C" fn BRAC_InputAudioDataEx(
    dwStreamIndex: DWORD,
    lpSamples: LPBYTE,
    dwSize: DWORD,
    dwTimeStamp: DWORD,
    dwFlags: DWORD,
) -> DWORD {
    ffi_boundary! {
        let _ = dwFlags;
        with_sdk(|c| {
            if dwStreamIndex != 0 {
                return GV_ERR_FUNCNOTALLOW;
            }
            // SAFETY: the caller gave `dwSize` readable bytes.
            match unsafe { bytes_in(lpSamples, dwSize, usize::MAX) } {
                Ok(samples) => c.input_audio(samples, dwTimeStamp),
                Err(e) => e,
            }
        })
    }
}

/// What this client receives of a user's stream 0 (DWORD values):
/// `BRAC_STREAMINFO_VIDEOWIDTH`, `VIDEOHEIGHT`, `VIDEOCODECID`,
/// `AUDIOCHANNELS`, `AUDIOSAMPLERATE`, `AUDIOCODECID`. Nothing received
/// from that user yet: 205; other infos: 20.
#[no_mangle]
pub unsafe extern "C" fn BRAC_GetUserStreamInfo(
    dwUserId: DWORD,
    dwStreamIndex: DWORD,
    infoname: c_int,
    infoval: *mut c_char,
    infolen: c_int,
) -> DWORD {
    ffi_boundary! {
        with_sdk(|c| {
            if infoval.is_null() || infolen < 4 {
                return GV_ERR_FUNCOPTERROR;
            }
            if dwStreamIndex != 0 {
                return GV_ERR_FUNCNOTALLOW;
            }
            let Some(info) = c.with_state(|st| st.streams.get(&dwUserId).copied()) else { return GV_ERR_INVALID_USERID };
            let v = match u32::try_from(infoname).unwrap_or(0) {
                BRAC_STREAMINFO_VIDEOWIDTH => info.width,
                BRAC_STREAMINFO_VIDEOHEIGHT => info.height,
                BRAC_STREAMINFO_VIDEOCODECID => info.video_codec,
                BRAC_STREAMINFO_AUDIOCHANNELS => info.channels,
                BRAC_STREAMINFO_AUDIOSAMPLERATE => info.rate,
                BRAC_STREAMINFO_AUDIOCODECID => info.audio_codec,
                _ => return GV_ERR_FUNCNOTALLOW,
            };
            // SAFETY: `infolen` (at least 4) writable bytes at `infoval`.
            unsafe { put_u32(infoval, infolen as usize, v) }
        })
    }
}

// ----- data callbacks ---------------------------------------------------------

/// Registers (NULL removes) the callback for users' video frames (one's own too, with one's own user id, while one's camera is open), delivered in `pixFmt` (any raw `BRAC_PIX_FMT_*`: RGB24, RGB32, YUV420P…; RGB rows top-down, `biHeight` positive; frames of other codecs as sent); unknown `pixFmt`: 21.
#[no_mangle]
pub extern "C" fn BRAC_SetVideoDataCallBack(
    pixFmt: BRAC_PixelFormat,
    lpFunction: BRAC_VideoData_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        let Some(fmt) = pixel_format(pixFmt) else { return GV_ERR_FUNCOPTERROR };
        callbacks::register(|c| {
            c.video_data = Registered::new(lpFunction, lpUserValue);
            c.video_data_fmt = fmt;
        })
    }
}

/// Registers (NULL removes) the callback for users' video frames (one's own too, with one's own user id, while one's camera is open), delivered in `pixFmt` (any raw `BRAC_PIX_FMT_*`: RGB24, RGB32, YUV420P…; RGB rows top-down, `biHeight` positive; frames of other codecs as sent); unknown `pixFmt`: 21.
#[no_mangle]
pub extern "C" fn BRAC_SetVideoDataExCallBack(
    pixFmt: BRAC_PixelFormat,
    lpFunction: BRAC_VideoDataEx_CallBack,
    lpUserValue: LPVOID,
) -> DWORD {
    ffi_boundary! {
        let Some(fmt) = pixel_format(pixFmt) else { return GV_ERR_FUNCOPTERROR };
        callbacks::register(|c| {
            c.video_data_ex = Registered::new(lpFunction, lpUserValue);
            c.video_data_ex_fmt = fmt;
        })
    }
}

/// Registers (NULL removes) the callback for users' audio frames (16-bit PCM, or as sent for other codecs).
#[no_mangle]
pub extern "C" fn BRAC_SetAudioDataCallBack(lpFunction: BRAC_AudioData_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.audio_data = Registered::new(lpFunction, lpUserValue))
    }
}

/// Registers (NULL removes) the callback for users' audio frames (16-bit PCM, or as sent for other codecs).
#[no_mangle]
pub extern "C" fn BRAC_SetAudioDataExCallBack(lpFunction: BRAC_AudioDataEx_CallBack, lpUserValue: LPVOID) -> DWORD {
    ffi_boundary! {
        callbacks::register(|c| c.audio_data_ex = Registered::new(lpFunction, lpUserValue))
    }
}
