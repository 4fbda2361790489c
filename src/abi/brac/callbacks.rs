//! The client library's callback registry: one slot per `BRAC_CBTYPE_*`,
//! filled by the `BRAC_Set*CallBack` functions (in [`super::api`],
//! [`super::media`] and [`super::unsupported`]) and by `BRAC_SetCallBack`
//! ([`register_by_type`]), and read when an event is delivered.
//!
//! Called: the notification, video-call, text, buffer and SDK-filter-data
//! callbacks ([`deliver`], from the callback thread), and the video and audio
//! data callbacks ([`super::media`]). Kept but never called, because their
//! feature is not provided: file transfer, volume changes, recording and
//! snapshots, video-window events, media encryption, network output,
//! business objects and core-SDK events.
//!
//! Registrations survive `BRAC_Release` (for a later `BRAC_InitSDK`). The
//! lock is held only to copy a slot out: callbacks run with no library lock
//! held.
#![allow(non_snake_case)]

use parking_lot::RwLock;

use crate::abi::boundary::{Registered, Slot};
use crate::abi::types::*;
use crate::client::Event;
use crate::codec::PixelFormat;
use crate::logging::EVENT_TARGET;
use crate::wire::constants::*;

/// Every registration, one slot per callback type.
#[derive(Clone, Copy)]
pub(crate) struct Callbacks {
    pub(crate) notify: Slot<BRAC_NotifyMessage_CallBack>,
    pub(crate) video_call: Slot<BRAC_VideoCallEvent_CallBack>,
    pub(crate) text: Slot<BRAC_TextMessage_CallBack>,
    pub(crate) trans_buffer: Slot<BRAC_TransBuffer_CallBack>,
    pub(crate) trans_buffer_ex: Slot<BRAC_TransBufferEx_CallBack>,
    pub(crate) sdk_filter_data: Slot<BRAC_SDKFilterData_CallBack>,
    pub(crate) video_data: Slot<BRAC_VideoData_CallBack>,
    /// The pixel format `video_data` gets (RGB24 until
    /// `BRAC_SetVideoDataCallBack` says otherwise).
    pub(crate) video_data_fmt: PixelFormat,
    pub(crate) video_data_ex: Slot<BRAC_VideoDataEx_CallBack>,
    /// The pixel format `video_data_ex` and `video_data_ex2` get.
    pub(crate) video_data_ex_fmt: PixelFormat,
    pub(crate) video_data_ex2: Slot<BRAC_VideoDataEx2_CallBack>,
    pub(crate) audio_data: Slot<BRAC_AudioData_CallBack>,
    pub(crate) audio_data_ex: Slot<BRAC_AudioDataEx_CallBack>,
    pub(crate) audio_data_ex2: Slot<BRAC_AudioDataEx2_CallBack>,
    // Kept, never called (features not provided).
    pub(crate) trans_file: Slot<BRAC_TransFile_CallBack>,
    pub(crate) trans_file_ex: Slot<BRAC_TransFileEx_CallBack>,
    pub(crate) volume_change: Slot<BRAC_VolumeChange_CallBack>,
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

static REGISTRY: RwLock<Callbacks> = RwLock::new(Callbacks {
    notify: None,
    video_call: None,
    text: None,
    trans_buffer: None,
    trans_buffer_ex: None,
    sdk_filter_data: None,
    video_data: None,
    video_data_fmt: PixelFormat::Rgb24,
    video_data_ex: None,
    video_data_ex_fmt: PixelFormat::Rgb24,
    video_data_ex2: None,
    audio_data: None,
    audio_data_ex: None,
    audio_data_ex2: None,
    trans_file: None,
    trans_file_ex: None,
    volume_change: None,
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

/// Stores a registration; always 0.
pub(crate) fn register(f: impl FnOnce(&mut Callbacks)) -> DWORD {
    let mut cbs = REGISTRY.write();
    f(&mut cbs);
    // One's own frames are copied for the self-view only when a video
    // data callback can show them.
    crate::client::set_self_view(
        cbs.video_data.is_some() || cbs.video_data_ex.is_some() || cbs.video_data_ex2.is_some(),
    );
    0
}

/// A copy of the registrations (the lock is released at once).
pub(crate) fn registered() -> Callbacks {
    *REGISTRY.read()
}

/// `BRAC_SetCallBack`: stores `lpFunction` in the slot of `dwCBType` (the
/// video-data types keep their pixel format, RGB24 unless set); a known
/// type without a slot: 20, an unknown one: 21.
///
/// # Safety
/// `lpFunction` is NULL or a function of the type that goes with `dwCBType`.
pub(crate) unsafe fn register_by_type(dwCBType: DWORD, lpFunction: LPVOID, lpUserValue: LPVOID) -> DWORD {
    macro_rules! store {
        ($t:ty, $field:ident) => {{
            // SAFETY: the app passes a function of the type that goes with
            // `dwCBType` (the vendor's contract); NULL maps to None.
            let f: $t = unsafe { std::mem::transmute::<LPVOID, $t>(lpFunction) };
            register(|c| c.$field = Registered::new(f, lpUserValue))
        }};
    }
    match dwCBType {
        BRAC_CBTYPE_NOTIFYMESSAGE => store!(BRAC_NotifyMessage_CallBack, notify),
        BRAC_CBTYPE_VIDEOCALLEVENT => store!(BRAC_VideoCallEvent_CallBack, video_call),
        BRAC_CBTYPE_TEXTMESSAGE => store!(BRAC_TextMessage_CallBack, text),
        BRAC_CBTYPE_TRANSBUFFER => store!(BRAC_TransBuffer_CallBack, trans_buffer),
        BRAC_CBTYPE_TRANSBUFFEREX => store!(BRAC_TransBufferEx_CallBack, trans_buffer_ex),
        BRAC_CBTYPE_SDKFILTERDATA => store!(BRAC_SDKFilterData_CallBack, sdk_filter_data),
        BRAC_CBTYPE_VIDEODATA => store!(BRAC_VideoData_CallBack, video_data),
        BRAC_CBTYPE_VIDEODATAEX => store!(BRAC_VideoDataEx_CallBack, video_data_ex),
        BRAC_CBTYPE_VIDEODATAEX2 => store!(BRAC_VideoDataEx2_CallBack, video_data_ex2),
        BRAC_CBTYPE_AUDIODATA => store!(BRAC_AudioData_CallBack, audio_data),
        BRAC_CBTYPE_AUDIODATAEX => store!(BRAC_AudioDataEx_CallBack, audio_data_ex),
        BRAC_CBTYPE_AUDIODATAEX2 => store!(BRAC_AudioDataEx2_CallBack, audio_data_ex2),
        BRAC_CBTYPE_TRANSFILE => store!(BRAC_TransFile_CallBack, trans_file),
        BRAC_CBTYPE_TRANSFILEEX => store!(BRAC_TransFileEx_CallBack, trans_file_ex),
        BRAC_CBTYPE_VOLUMECHANGE => store!(BRAC_VolumeChange_CallBack, volume_change),
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

/// The name of a `WM_GV_*` notification, for the call log.
fn notify_name(msg: DWORD) -> &'static str {
    match msg {
        WM_GV_CONNECT => "WM_GV_CONNECT",
        WM_GV_LOGINSYSTEM => "WM_GV_LOGINSYSTEM",
        WM_GV_ENTERROOM => "WM_GV_ENTERROOM",
        WM_GV_MICSTATECHANGE => "WM_GV_MICSTATECHANGE",
        WM_GV_USERATROOM => "WM_GV_USERATROOM",
        WM_GV_LINKCLOSE => "WM_GV_LINKCLOSE",
        WM_GV_ONLINEUSER => "WM_GV_ONLINEUSER",
        WM_GV_CAMERASTATE => "WM_GV_CAMERASTATE",
        WM_GV_VIDEOSIZECHG => "WM_GV_VIDEOSIZECHG",
        WM_GV_USERINFOUPDATE => "WM_GV_USERINFOUPDATE",
        WM_GV_FRIENDSTATUS => "WM_GV_FRIENDSTATUS",
        WM_GV_SDKWARNING => "WM_GV_SDKWARNING",
        _ => "WM_GV",
    }
}

/// Logs an event as it is delivered (target `anychat::event`): the
/// signalling at `info`, text and buffers at `debug` (their length, not
/// their bytes).
fn log_event(ev: &Event) {
    match ev {
        Event::Notify { msg, wparam, lparam } => {
            tracing::info!(target: EVENT_TARGET, "{}({msg}) wParam={wparam} lParam={lparam}", notify_name(*msg))
        }
        Event::VideoCall { event, user_id, error_code, flags, param, user_str } => tracing::info!(
            target: EVENT_TARGET,
            "video call event {event}: user={user_id} code={error_code} flags={flags:#x} param={param} str={} bytes",
            user_str.len()
        ),
        Event::Text { from, to, secret, text } => {
            tracing::debug!(target: EVENT_TARGET, "text from={from} to={to} secret={secret}: {} bytes", text.len())
        }
        Event::FilterData { data } => tracing::debug!(target: EVENT_TARGET, "filter data: {} bytes", data.len()),
        Event::TransBuffer { from, ex, data, .. } => {
            tracing::debug!(target: EVENT_TARGET, "trans buffer from={from} ex={ex}: {} bytes", data.len())
        }
        Event::Video { .. } | Event::Audio { .. } => {}
    }
}

/// Delivers one event other than video and audio (those go through
/// [`super::media`]) to its registered callback, with no lock held.
pub(crate) fn deliver(ev: Event) {
    if tracing::level_enabled!(tracing::Level::INFO) {
        log_event(&ev);
    }
    let cb = registered();
    match ev {
        Event::Notify { msg, wparam, lparam } => {
            if let Some(cb) = cb.notify {
                // SAFETY: the app registered this function with this signature.
                unsafe { (cb.func)(msg, wparam, lparam, cb.user()) };
            }
        }
        Event::VideoCall { event, user_id, error_code, flags, param, mut user_str } => {
            if let Some(cb) = cb.video_call {
                user_str.push(0);
                let s = user_str.as_ptr() as LPCTSTR;
                // SAFETY: the app registered this function with this signature;
                // `s` is NUL-terminated and lives until the call returns.
                unsafe { (cb.func)(event, user_id, error_code, flags, param, s, cb.user()) };
            }
        }
        Event::Text { from, to, secret, mut text } => {
            if let Some(cb) = cb.text {
                let len = text.len() as DWORD;
                text.push(0);
                // SAFETY: the app registered this function with this signature;
                // the text is NUL-terminated and lives until the call returns.
                unsafe { (cb.func)(from, to, secret as BOOL, text.as_ptr() as LPCTSTR, len, cb.user()) };
            }
        }
        Event::FilterData { mut data } => {
            if let Some(cb) = cb.sdk_filter_data {
                let len = data.len() as DWORD;
                // SAFETY: the app registered this function with this signature;
                // the buffer lives until the call returns.
                unsafe { (cb.func)(data.as_mut_ptr(), len, cb.user()) };
            }
        }
        Event::TransBuffer { from, ex: true, wparam, lparam, task_id, mut data } => {
            if let Some(cb) = cb.trans_buffer_ex {
                let len = data.len() as DWORD;
                // SAFETY: the app registered this function with this signature;
                // the buffer lives until the call returns.
                unsafe { (cb.func)(from, data.as_mut_ptr(), len, wparam, lparam, task_id, cb.user()) };
            }
        }
        Event::TransBuffer { from, mut data, .. } => {
            if let Some(cb) = cb.trans_buffer {
                let len = data.len() as DWORD;
                // SAFETY: the app registered this function with this signature;
                // the buffer lives until the call returns.
                unsafe { (cb.func)(from, data.as_mut_ptr(), len, cb.user()) };
            }
        }
        Event::Video { .. } | Event::Audio { .. } => {}
    }
}
