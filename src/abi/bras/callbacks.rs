//! The business-server library's callback registry: one slot per
//! `BRAS_CBTYPE_*`, filled by the `BRAS_Set*CallBack` functions (in
//! [`super::api`] and [`super::unsupported`]) and by `BRAS_SetCallBack`
//! ([`register_by_type`]), and read by [`deliver`], which the network thread
//! calls for each event (the answer of a question callback goes back to the
//! core server).
//!
//! Kept but never called, because their feature is not provided: the
//! filter-data, buffer-task, file and server-recording callbacks.
#![allow(non_snake_case)]

use std::ffi::c_char;

use parking_lot::RwLock;

use crate::abi::boundary::{c_bytes, Registered, Slot};
use crate::abi::types::*;
use crate::bras::{Answer, BizEvent};
use crate::wire::constants::*;

/// Every registration, one slot per callback type.
#[derive(Clone, Copy)]
pub(crate) struct Callbacks {
    pub(crate) app_message: Slot<BRAS_OnServerAppMessage_CallBack>,
    pub(crate) app_message_ex: Slot<BRAS_OnServerAppMessageEx_CallBack>,
    pub(crate) timer: Slot<BRAS_OnTimerEvent_CallBack>,
    pub(crate) verify: Slot<BRAS_VerifyUser_CallBack>,
    pub(crate) prepare_enter: Slot<BRAS_PrepareEnterRoom_CallBack>,
    pub(crate) login: Slot<BRAS_OnUserLoginAction_CallBack>,
    pub(crate) logout: Slot<BRAS_OnUserLogoutAction_CallBack>,
    pub(crate) logout_ex: Slot<BRAS_OnUserLogoutActionEx_CallBack>,
    pub(crate) enter_room: Slot<BRAS_OnUserEnterRoomAction_CallBack>,
    pub(crate) leave_room: Slot<BRAS_OnUserLeaveRoomAction_CallBack>,
    pub(crate) video_call: Slot<BRAS_OnVideoCallEvent_CallBack>,
    pub(crate) text: Slot<BRAS_OnRecvUserTextMsg_CallBack>,
    pub(crate) trans_buffer: Slot<BRAS_OnTransBuffer_CallBack>,
    // Kept, never called (features not provided).
    pub(crate) filter_data: Slot<BRAS_OnRecvUserFilterData_CallBack>,
    pub(crate) trans_buffer_ex: Slot<BRAS_OnTransBufferEx_CallBack>,
    pub(crate) trans_file: Slot<BRAS_OnTransFile_CallBack>,
    pub(crate) server_record: Slot<BRAS_OnServerRecord_CallBack>,
    pub(crate) server_record_ex: Slot<BRAS_OnServerRecordEx_CallBack>,
}

static REGISTRY: RwLock<Callbacks> = RwLock::new(Callbacks {
    app_message: None,
    app_message_ex: None,
    timer: None,
    verify: None,
    prepare_enter: None,
    login: None,
    logout: None,
    logout_ex: None,
    enter_room: None,
    leave_room: None,
    video_call: None,
    text: None,
    trans_buffer: None,
    filter_data: None,
    trans_buffer_ex: None,
    trans_file: None,
    server_record: None,
    server_record_ex: None,
});

/// Stores a registration; always 0.
pub(crate) fn register(f: impl FnOnce(&mut Callbacks)) -> DWORD {
    f(&mut REGISTRY.write());
    0
}

/// `BRAS_SetCallBack`: stores `lpFunction` in the slot of `dwCBType`;
/// ONTIMER (it needs an interval: `BRAS_SetTimerEventCallBack`) and other
/// known types without a slot: 20; unknown: 21.
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
        BRAS_CBTYPE_APPMESSAGE => store!(BRAS_OnServerAppMessage_CallBack, app_message),
        BRAS_CBTYPE_APPMESSAGEEX => store!(BRAS_OnServerAppMessageEx_CallBack, app_message_ex),
        BRAS_CBTYPE_VERIFYUSER => store!(BRAS_VerifyUser_CallBack, verify),
        BRAS_CBTYPE_PERPAREENTERROOM => store!(BRAS_PrepareEnterRoom_CallBack, prepare_enter),
        BRAS_CBTYPE_USERLOGIN => store!(BRAS_OnUserLoginAction_CallBack, login),
        BRAS_CBTYPE_USERLOGOUT => store!(BRAS_OnUserLogoutAction_CallBack, logout),
        BRAS_CBTYPE_USERLOGOUTEX => store!(BRAS_OnUserLogoutActionEx_CallBack, logout_ex),
        BRAS_CBTYPE_USERENTERROOM => store!(BRAS_OnUserEnterRoomAction_CallBack, enter_room),
        BRAS_CBTYPE_USERLEAVEROOM => store!(BRAS_OnUserLeaveRoomAction_CallBack, leave_room),
        BRAS_CBTYPE_VIDEOCALL => store!(BRAS_OnVideoCallEvent_CallBack, video_call),
        BRAS_CBTYPE_TEXTMESSAGE => store!(BRAS_OnRecvUserTextMsg_CallBack, text),
        BRAS_CBTYPE_TRANSBUFFER => store!(BRAS_OnTransBuffer_CallBack, trans_buffer),
        BRAS_CBTYPE_FILTERDATA => store!(BRAS_OnRecvUserFilterData_CallBack, filter_data),
        BRAS_CBTYPE_TRANSBUFFEREX => store!(BRAS_OnTransBufferEx_CallBack, trans_buffer_ex),
        BRAS_CBTYPE_TRANSFILE => store!(BRAS_OnTransFile_CallBack, trans_file),
        BRAS_CBTYPE_SERVERRECORD => store!(BRAS_OnServerRecord_CallBack, server_record),
        BRAS_CBTYPE_SERVERRECORDEX => store!(BRAS_OnServerRecordEx_CallBack, server_record_ex),
        t if (1..=BRAS_CBTYPE_USERINFOCTRL).contains(&t) => GV_ERR_FUNCNOTALLOW,
        _ => GV_ERR_FUNCOPTERROR,
    }
}

/// A NUL-terminated copy, valid while it lives.
fn z(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.extend_from_slice(bytes);
    v.push(0);
    v
}

fn cs(v: &[u8]) -> LPCTSTR {
    v.as_ptr() as LPCTSTR
}

/// Calls the app's callbacks for one event (on the network thread, with no
/// lock held); a question callback's return value is the answer.
pub(crate) fn deliver(ev: BizEvent) -> Answer {
    let Callbacks {
        app_message: app,
        app_message_ex: app_ex,
        timer,
        verify,
        prepare_enter: prepare,
        login,
        logout,
        logout_ex,
        enter_room: enter,
        leave_room: leave,
        video_call: call,
        text: text_cb,
        trans_buffer: trans_cb,
        ..
    } = *REGISTRY.read();
    // SAFETY: for every call below, the app registered each function with the
    // signature of its type; strings passed are NUL-terminated copies that
    // live until the call returns; out-pointers point to our locals.
    unsafe {
        match ev {
            BizEvent::LinkUp | BizEvent::LinkDown { .. } => {
                let (msg, code) = match ev {
                    BizEvent::LinkDown { code } => (BRAS_SERVERAPPMSG_DISCONNECT, code),
                    _ => (BRAS_SERVERAPPMSG_CONNECTED, 0),
                };
                if let Some(f) = app {
                    (f.func)(msg, f.user());
                }
                if let Some(f) = app_ex {
                    (f.func)(BRAS_MESSAGE_CORESERVERCONN, code, 0, f.user());
                }
                Answer::None
            }
            BizEvent::Timer => {
                if let Some(f) = timer {
                    (f.func)(f.user());
                }
                Answer::None
            }
            BizEvent::AskCall { src, tar, flags, param, user_str } => match call {
                Some(f) => {
                    let s = z(&user_str);
                    Answer::Code((f.func)(BRAS_VIDEOCALL_EVENT_REQUEST, src, tar, 0, flags, param, cs(&s), f.user()))
                }
                None => Answer::Code(0),
            },
            BizEvent::CallNote { event, src, tar, error_code, flags, param, user_str } => {
                if let Some(f) = call {
                    let s = z(&user_str);
                    (f.func)(event, src, tar, error_code, flags, param, cs(&s), f.user());
                }
                Answer::None
            }
            BizEvent::AskVerify { name, password, user_id, .. } => match verify {
                Some(f) => {
                    let (n, p) = (z(&name), z(&password));
                    // `*lpUserID` comes in as the id a `BRAC_LoginEx` claims
                    // (0: none): left as it is, it is granted; 0 lets the core
                    // server keep the id it has for the name.
                    let (mut uid, mut level) = (user_id, 0u32);
                    let mut nick = [0 as c_char; 256];
                    let code = (f.func)(cs(&n), cs(&p), &mut uid, &mut level, nick.as_mut_ptr(), 256, f.user());
                    nick[255] = 0;
                    let nick = c_bytes(nick.as_ptr(), 255).unwrap_or_default();
                    Answer::Verify { code, user_id: uid, level, nick }
                }
                None => Answer::Verify { code: 0, user_id: 0, level: 0, nick: Vec::new() },
            },
            BizEvent::AskEnter { user_id, room_id, room_name, password } => match prepare {
                Some(f) => {
                    let (n, p) = (z(&room_name), z(&password));
                    Answer::Code((f.func)(user_id, room_id, cs(&n), cs(&p), f.user()))
                }
                None => Answer::Code(0),
            },
            BizEvent::UserLogin { user_id, name, level, ip } => {
                if let Some(f) = login {
                    let (n, i) = (z(&name), z(&ip));
                    (f.func)(user_id, cs(&n), level, cs(&i), f.user());
                }
                Answer::None
            }
            BizEvent::UserLogout { user_id, code } => {
                if let Some(f) = logout {
                    (f.func)(user_id, f.user());
                }
                if let Some(f) = logout_ex {
                    (f.func)(user_id, code, f.user());
                }
                Answer::None
            }
            BizEvent::Text { room_id, src, tar, secret, text } => {
                if let Some(f) = text_cb {
                    let len = text.len() as DWORD;
                    let t = z(&text);
                    (f.func)(room_id, src, tar, secret as BOOL, cs(&t), len, f.user());
                }
                Answer::None
            }
            BizEvent::TransBuffer { user_id, mut data } => {
                if let Some(f) = trans_cb {
                    let len = data.len() as DWORD;
                    (f.func)(user_id, data.as_mut_ptr(), len, f.user());
                }
                Answer::None
            }
            BizEvent::UserRoom { user_id, room_id, entered } => {
                let f = if entered { enter } else { leave };
                if let Some(f) = f {
                    (f.func)(user_id, room_id, f.user());
                }
                Answer::None
            }
        }
    }
}
