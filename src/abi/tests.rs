//! The FFI boundary holds for every export: each `BRAC_*` and `BRAS_*`
//! function of `legacy-api.tsv` is called with a panic injected at the
//! boundary (see [`boundary::injected`]) and must return
//! [`ERR_INTERNAL`], the injected panic caught; and in the sources, the
//! body of every exported function is one `ffi_boundary!`, so that no code
//! runs outside it. An export that skips the macro, or runs anything before
//! it, fails one of the two tests.

use std::collections::BTreeSet;
use std::ffi::{c_int, c_long};

use super::boundary::{self, injected, ERR_INTERNAL};
use super::brac::api::*;
use super::brac::audio::*;
use super::brac::devices::*;
use super::brac::media::*;
use super::brac::unsupported::*;
use super::brac::video::*;
use super::bras::api::*;
use super::bras::unsupported::*;
use super::types::*;

/// Argument values: all zero (NULL pointers), or all bits set (pointers to
/// a zeroed scratch buffer, so that an export that read its arguments
/// outside the boundary would not crash the test before it fails).
trait Arg: Sized {
    fn value(ones: bool) -> Self;
}
impl Arg for u32 {
    fn value(ones: bool) -> Self {
        if ones {
            u32::MAX
        } else {
            0
        }
    }
}
impl Arg for c_int {
    fn value(ones: bool) -> Self {
        -c_int::from(ones)
    }
}
impl Arg for c_long {
    fn value(ones: bool) -> Self {
        -c_long::from(ones)
    }
}
impl<T> Arg for *mut T {
    fn value(ones: bool) -> Self {
        if ones {
            Box::leak(Box::new([0u64; 64])).as_mut_ptr().cast()
        } else {
            std::ptr::null_mut()
        }
    }
}
impl<T> Arg for *const T {
    fn value(ones: bool) -> Self {
        <*mut T>::value(ones) as *const T
    }
}
impl<F> Arg for Option<F> {
    fn value(_: bool) -> Self {
        None
    }
}

/// An exported function, called with [`Arg`] values.
trait Probe {
    fn probe(self, ones: bool) -> DWORD;
}
macro_rules! probe {
    ($($a:ident),*) => {
        impl<$($a: Arg),*> Probe for unsafe extern "C" fn($($a),*) -> DWORD {
            fn probe(self, ones: bool) -> DWORD {
                let _ = ones; // unused without parameters
                // SAFETY: the values are NULL, zero, or point to a live
                // scratch buffer; with the panic armed, an export that keeps
                // to the boundary does not look at them at all.
                unsafe { self($($a::value(ones)),*) }
            }
        }
    };
}
probe!();
probe!(A);
probe!(A, B);
probe!(A, B, C);
probe!(A, B, C, D);
probe!(A, B, C, D, E);
probe!(A, B, C, D, E, F);
probe!(A, B, C, D, E, F, G);
probe!(A, B, C, D, E, F, G, H);
probe!(A, B, C, D, E, F, G, H, I);

/// `(name, probe)` of every listed export; `_` per parameter.
macro_rules! exports {
    ($($name:ident($($p:tt),*),)*) => {
        vec![$((stringify!($name), Box::new(move |ones: bool| {
            ($name as unsafe extern "C" fn($($p),*) -> DWORD).probe(ones)
        }) as Box<dyn Fn(bool) -> DWORD>)),*]
    };
}

/// The functions of `legacy-api.tsv` (callback types left out).
fn tsv_functions() -> BTreeSet<&'static str> {
    include_str!("../../tests/data/legacy-api.tsv")
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|n| !n.is_empty() && !n.ends_with("_CallBack"))
        .collect()
}

#[test]
fn every_export_turns_a_panic_into_err_internal() {
    let all = exports! {
        BRAC_GetSDKVersion(_, _, _, _),
        BRAC_ActiveCallLog(_),
        BRAC_SetServerAuthPass(_),
        BRAC_InitSDK(_, _),
        BRAC_SetVideoDataCallBack(_, _, _),
        BRAC_SetVideoDataExCallBack(_, _, _),
        BRAC_SetAudioDataCallBack(_, _),
        BRAC_SetAudioDataExCallBack(_, _),
        BRAC_SetTextMessageCallBack(_, _),
        BRAC_SetTransBufferCallBack(_, _),
        BRAC_SetTransBufferExCallBack(_, _),
        BRAC_SetTransFileCallBack(_, _),
        BRAC_SetVolumeChangeCallBack(_, _),
        BRAC_SetSDKFilterDataCallBack(_, _),
        BRAC_SetRecordSnapShotCallBack(_, _),
        BRAC_SetNotifyMessageCallBack(_, _),
        BRAC_SetScreenEventCallBack(_, _),
        BRAC_SetVideoCallEventCallBack(_, _),
        BRAC_SetDataEncDecCallBack(_, _),
        BRAC_SetCallBack(_, _, _),
        BRAC_Connect(_, _),
        BRAC_Login(_, _, _),
        BRAC_LoginEx(_, _, _, _, _, _, _),
        BRAC_EnterRoom(_, _, _),
        BRAC_EnterRoomEx(_, _),
        BRAC_LeaveRoom(_),
        BRAC_Logout(),
        BRAC_Release(),
        BRAC_GetOnlineUser(_, _),
        BRAC_GetRoomOnlineUsers(_, _, _),
        BRAC_GetCameraState(_, _),
        BRAC_GetSpeakState(_, _),
        BRAC_GetUserLevel(_, _),
        BRAC_GetUserName(_, _, _),
        BRAC_GetRoomName(_, _, _),
        BRAC_ShowLVProperty(_, _, _, _),
        BRAC_QueryUserState(_, _, _, _),
        BRAC_QueryRoomState(_, _, _, _),
        BRAC_EnumVideoCapture(_, _),
        BRAC_SelectVideoCapture(_),
        BRAC_GetCurVideoCapture(_, _),
        BRAC_EnumAudioCapture(_, _),
        BRAC_SelectAudioCapture(_),
        BRAC_GetCurAudioCapture(_, _),
        BRAC_EnumAudioPlayback(_, _),
        BRAC_SelectAudioPlayback(_),
        BRAC_GetCurAudioPlayback(_, _),
        BRAC_UserCameraControl(_, _),
        BRAC_UserCameraControlEx(_, _, _, _, _),
        BRAC_UserSpeakControl(_, _),
        BRAC_UserSpeakControlEx(_, _, _, _, _),
        BRAC_SetVideoPos(_, _, _, _, _, _),
        BRAC_SetVideoPosEx(_, _, _, _, _, _, _, _),
        BRAC_RepaintVideo(_, _),
        BRAC_SetUserStreamInfo(_, _, _, _, _),
        BRAC_GetUserStreamInfo(_, _, _, _, _),
        BRAC_AudioGetVolume(_, _),
        BRAC_AudioSetVolume(_, _),
        BRAC_StreamRecordCtrl(_, _, _, _),
        BRAC_StreamRecordCtrlEx(_, _, _, _, _),
        BRAC_SnapShot(_, _, _),
        BRAC_TransBuffer(_, _, _),
        BRAC_TransBufferEx(_, _, _, _, _, _, _),
        BRAC_TransFile(_, _, _, _, _, _),
        BRAC_QueryTransTaskInfo(_, _, _, _, _),
        BRAC_CancelTransTask(_, _),
        BRAC_TransFileEx(_, _, _, _, _),
        BRAC_QueryTransTaskInfoEx(_, _, _, _),
        BRAC_CancelTransTaskEx(_, _, _),
        BRAC_SendTextMessage(_, _, _, _),
        BRAC_SendSDKFilterData(_, _),
        BRAC_ChangeChatMode(_),
        BRAC_GetUserChatMode(_, _),
        BRAC_PrivateChatRequest(_),
        BRAC_PrivateChatEcho(_, _, _),
        BRAC_PrivateChatEchoEx(_, _, _),
        BRAC_PrivateChatExit(_),
        BRAC_SetSDKOption(_, _, _),
        BRAC_GetSDKOption(_, _, _),
        BRAC_MultiCastControl(_, _, _, _, _),
        BRAC_SetInputVideoFormat(_, _, _, _, _),
        BRAC_SetInputVideoFormatEx(_, _, _, _, _, _, _),
        BRAC_InputVideoData(_, _, _),
        BRAC_InputVideoDataEx(_, _, _, _, _),
        BRAC_SetInputAudioFormat(_, _, _, _),
        BRAC_SetInputAudioFormatEx(_, _, _, _, _, _),
        BRAC_InputAudioData(_, _, _),
        BRAC_InputAudioDataEx(_, _, _, _, _),
        BRAC_FetchAudioPlayBuffer(_, _, _),
        BRAC_QueryInfoFromServer(_, _, _, _, _, _),
        BRAC_SDKControl(_, _, _, _),
        BRAC_VideoCallControl(_, _, _, _, _, _),
        BRAC_GetUserFriends(_, _),
        BRAC_GetFriendStatus(_, _),
        BRAC_GetUserGroups(_, _),
        BRAC_GetGroupFriends(_, _, _),
        BRAC_GetUserInfo(_, _, _, _),
        BRAC_GetGroupName(_, _, _),
        BRAC_UserInfoControl(_, _, _, _, _),
        BRAC_ObjectGetIdList(_, _, _),
        BRAC_ObjectGetValue(_, _, _, _, _),
        BRAC_ObjectSetValue(_, _, _, _, _),
        BRAC_ObjectControl(_, _, _, _, _, _, _, _),
        BRAC_StreamPlayInit(_, _, _, _),
        BRAC_StreamPlayControl(_, _, _, _, _),
        BRAC_StreamPlaySetVideoPos(_, _, _, _, _, _),
        BRAC_StreamPlayGetInfo(_, _, _, _),
        BRAC_StreamPlayDestroy(_, _),
        BRAC_ImageScale(_, _, _, _, _, _, _, _, _),
        BRAC_RotateYUV420PFrame(_, _, _, _, _),
        BRAC_ImageDecode(_, _, _, _, _, _),
        BRAS_SetOnServerAppMessageCallBack(_, _),
        BRAS_SetOnServerAppMessageExCallBack(_, _),
        BRAS_SetTimerEventCallBack(_, _, _),
        BRAS_SetVerifyUserCallBack(_, _),
        BRAS_SetPrepareEnterRoomCallBack(_, _),
        BRAS_SetOnUserLoginActionCallBack(_, _),
        BRAS_SetOnUserLogoutActionCallBack(_, _),
        BRAS_SetOnUserLogoutActionExCallBack(_, _),
        BRAS_SetOnUserEnterRoomActionCallBack(_, _),
        BRAS_SetOnUserLeaveRoomActionCallBack(_, _),
        BRAS_SetOnRecvUserFilterDataCallBack(_, _),
        BRAS_SetOnRecvUserTextMsgCallBack(_, _),
        BRAS_SetOnTransBufferCallBack(_, _),
        BRAS_SetOnTransBufferExCallBack(_, _),
        BRAS_SetOnTransFileCallBack(_, _),
        BRAS_SetOnServerRecordCallBack(_, _),
        BRAS_SetOnVideoCallEventCallBack(_, _),
        BRAS_SetCallBack(_, _, _),
        BRAS_GetSDKVersion(_, _, _, _),
        BRAS_InitSDK(_),
        BRAS_Release(),
        BRAS_SendBufToUser(_, _, _),
        BRAS_SendBufToRoom(_, _, _),
        BRAS_TransBuffer(_, _, _),
        BRAS_TransBufferEx(_, _, _, _, _, _, _),
        BRAS_TransFile(_, _, _, _, _, _),
        BRAS_StreamRecordCtrl(_, _, _, _, _),
        BRAS_StreamRecordCtrlEx(_, _, _, _, _, _),
        BRAS_TransBuffer2RecordServer(_, _, _, _, _),
        BRAS_VideoCallControl(_, _, _, _, _, _),
        BRAS_SetUserInfo(_, _, _, _),
        BRAS_GetUserInfo(_, _, _, _),
        BRAS_UserInfoControl(_, _, _, _, _),
        BRAS_SetSDKOption(_, _, _),
    };
    let names: BTreeSet<&str> = all.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), all.len(), "an export is listed twice");
    assert_eq!(names, tsv_functions(), "the list differs from legacy-api.tsv");
    for ones in [false, true] {
        for (name, call) in &all {
            let before = injected::fired();
            injected::arm(true);
            let got = call(ones);
            injected::arm(false);
            assert_eq!(got, ERR_INTERNAL, "{name} did not return ERR_INTERNAL for a panic at its boundary");
            assert_eq!(injected::fired(), before + 1, "{name} did not run its body inside the boundary");
        }
    }
    // Disarmed, the boundary passes the body's code through.
    assert_eq!(boundary::catch_panic("anychat::abi::tests::BRAC_Test::here", || 7), 7);
    assert_eq!(boundary::catch_panic("anychat::abi::tests::BRAC_Test::here", || panic!("a real panic")), ERR_INTERNAL);
}

#[test]
fn every_exported_body_is_one_ffi_boundary() {
    // Every Rust file under src/, wherever an export might be added.
    let mut files = Vec::new();
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut seen = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read a source file");
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let export = line.starts_with("pub extern \"C\" fn ") || line.starts_with("pub unsafe extern \"C\" fn ");
            if !export {
                assert!(
                    line.trim_start().starts_with("//") || !line.contains("extern \"C\" fn BRA"),
                    "{}: an export not at the start of a line",
                    path.display()
                );
                i += 1;
                continue;
            }
            let name: String =
                line.split("fn ").nth(1).unwrap().chars().take_while(|c| *c == '_' || c.is_alphanumeric()).collect();
            assert!(lines[i - 1] == "#[no_mangle]", "{name}: no #[no_mangle] right above");
            // The signature ends at the first line ending with `{`; the body
            // is `ffi_boundary! {` … `}` and nothing else.
            while !lines[i].ends_with('{') {
                i += 1;
            }
            let end = i + lines[i..].iter().position(|l| *l == "}").expect("the end of the function");
            let body = &lines[i + 1..end];
            assert_eq!(
                body.first().copied(),
                Some("    ffi_boundary! {"),
                "{name}: the body does not start with ffi_boundary!"
            );
            assert_eq!(body.last().copied(), Some("    }"), "{name}: something follows ffi_boundary!");
            let closing = body.iter().filter(|l| **l == "    }").count();
            assert_eq!(closing, 1, "{name}: the body is more than one ffi_boundary!");
            assert!(seen.insert(name.clone()), "{name} is exported twice");
            i = end + 1;
        }
    }
    assert_eq!(seen.iter().map(String::as_str).collect::<BTreeSet<_>>(), tsv_functions());
}

#[test]
fn the_boundary_knows_the_exported_functions_name() {
    assert_eq!(boundary::function_name("anychat::abi::brac::api::BRAC_Connect::here"), "BRAC_Connect");
    assert_eq!(boundary::function_name("BRAS_Release::here"), "BRAS_Release");
    assert_eq!(boundary::function_name("odd"), "odd");
    // As the macro computes it, from an item declared inside the function.
    #[allow(non_snake_case)]
    fn BRAC_Example() -> &'static str {
        fn here() {}
        boundary::function_name(std::any::type_name_of_val(&here))
    }
    assert_eq!(BRAC_Example(), "BRAC_Example");
}

#[test]
fn copy_out_reports_a_buffer_too_small() {
    let mut buf = [0x55 as std::ffi::c_char; 8];
    let b = buf.as_mut_ptr();
    let text = |b: *const std::ffi::c_char| {
        // SAFETY: copy_out always NUL-terminates within the buffer.
        unsafe { std::ffi::CStr::from_ptr(b) }.to_bytes().to_vec()
    };
    // SAFETY: `b` has 8 writable bytes; the lengths given are at most 8.
    unsafe {
        assert_eq!(boundary::copy_out(b, 8, b"seven77"), 0);
        assert_eq!(text(b), b"seven77");
        assert_eq!(boundary::copy_out(b, 8, b"eight888"), crate::wire::constants::GV_ERR_FUNCOPTERROR);
        assert_eq!(text(b), b"eight88", "what fits, NUL-terminated");
        assert_eq!(boundary::copy_out(b, 1, b"x"), crate::wire::constants::GV_ERR_FUNCOPTERROR);
        assert_eq!(text(b), b"");
        assert_eq!(boundary::copy_out(b, 1, b""), 0);
        assert_eq!(boundary::copy_out(b, 0, b""), crate::wire::constants::GV_ERR_FUNCOPTERROR);
        assert_eq!(boundary::copy_out(std::ptr::null_mut(), 8, b"x"), crate::wire::constants::GV_ERR_FUNCOPTERROR);
    }
}
