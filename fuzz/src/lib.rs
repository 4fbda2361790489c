//! Helpers shared by the fuzz targets of `fuzz_targets/`: an allocation meter
//! for the "no more than the frame allows" check, and the seed corpus (one
//! valid frame of every message variant), written by
//! `cargo test --lib -- --ignored write_seeds`.

use anychat::wire::protocol::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, metering the bytes in use on the calling thread.
struct Meter;

thread_local! {
    static IN_USE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    let _ = IN_USE.try_with(|u| {
        u.set(u.get() + n);
        let _ = PEAK.try_with(|p| p.set(p.get().max(u.get())));
    });
}

fn sub(n: usize) {
    let _ = IN_USE.try_with(|u| u.set(u.get().saturating_sub(n)));
}

unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size);
        sub(layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static METER: Meter = Meter;

/// Runs `f` and returns its result with the most bytes it held allocated at once.
pub fn peak_alloc<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = IN_USE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    (r, PEAK.with(Cell::get) - base)
}

/// Smallest `RoomUser` on the wire: user id, two empty strings, level, camera, mic.
pub const MIN_ROOM_USER_LEN: usize = 4 + 2 + 2 + 4 + 4 + 4;

/// The most that decoding a frame body of `len` bytes may allocate: a copy of
/// every byte (the strings and payloads), plus room for as many users as the
/// body can hold.
pub fn alloc_limit(len: usize) -> usize {
    len + len / MIN_ROOM_USER_LEN * std::mem::size_of::<RoomUser>()
}

/// Decoding `body`, re-encoding what it gave and decoding that again: the
/// same message, the same bytes, and one whole frame for `split_frame`.
/// Panics on any difference, or when decoding allocates over [`alloc_limit`].
pub fn check_round_trip<M: PartialEq + std::fmt::Debug>(
    body: &[u8],
    decode: fn(&[u8]) -> Result<M, DecodeError>,
    encode: fn(&M, &mut Vec<u8>),
) {
    let (decoded, peak) = peak_alloc(|| decode(body));
    assert!(peak <= alloc_limit(body.len()), "decoding {} bytes allocated {peak}", body.len());
    let Ok(msg) = decoded else { return };
    let mut out = Vec::new();
    encode(&msg, &mut out);
    assert_eq!(&out[FRAME_HEADER_LEN..], body, "re-encoding {msg:?} gave other bytes");
    assert_eq!(split_frame(&out), Ok(Some((body, out.len()))));
    assert_eq!(decode(body).as_ref(), Ok(&msg));
}

fn call_event(event: u32) -> CallEvent {
    CallEvent { event, user_id: 7, error_code: 100104, flags: 0x83, param: 0xDEAD_BEEF, user_str: b"hi\0".to_vec() }
}

fn room_user(user_id: u32) -> RoomUser {
    RoomUser { user_id, name: format!("u{user_id}").into_bytes(), nick: b"Nick".to_vec(), level: 3, camera: 2, mic: 1 }
}

/// One client message of every variant (the match makes a new variant a
/// compile error here until it has a seed).
pub fn client_seeds() -> Vec<(&'static str, ClientMsg)> {
    let video = MediaHeader { kind: MEDIA_VIDEO, key: true, codec: 1, timestamp: 66, a: 640, b: 480 };
    let msgs = vec![
        ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            role: Role::Business as u8,
            secret: b"s3cret".to_vec(),
            token: 7,
        },
        ClientMsg::Login { name: b"alice".to_vec(), password: vec![0xff, 0xfe], pass_enc_type: 3 },
        ClientMsg::LoginEx { name: b"n".to_vec(), password: vec![], user_id: 77, nick: b"Nick".to_vec() },
        ClientMsg::Logout,
        ClientMsg::EnterRoom { room_id: u32::MAX, password: b"pw".to_vec() },
        ClientMsg::EnterRoomByName { name: "房间".as_bytes().to_vec(), password: b"p".to_vec() },
        ClientMsg::LeaveRoom { room_id: 5 },
        ClientMsg::VideoCall(call_event(1)),
        ClientMsg::Ping { seq: 42 },
        ClientMsg::Text { to: u32::MAX, secret: true, text: vec![0xB0, 0xA1] },
        ClientMsg::TransBuffer { to: 3, ex: true, wparam: 1, lparam: 2, task_id: 9, data: vec![1; 100] },
        ClientMsg::Device { kind: DEVICE_CAMERA, open: true },
        ClientMsg::Media { header: video, data: vec![0, 0, 0, 1, 0x67] },
        ClientMsg::Subscribe { user_id: 9, kind: MEDIA_AUDIO, on: true },
        ClientMsg::BizCallVerdict { query: 1, code: 5 },
        ClientMsg::BizVerifyResult { query: 2, code: 0, user_id: 9, level: 3, nick: b"Nick".to_vec() },
        ClientMsg::BizEnterVerdict { query: 3, code: 305 },
        ClientMsg::BizVideoCall(call_event(4)),
        ClientMsg::BizUserControl { user_id: 5, ctrl: 1, wparam: 2, lparam: 3, text: b"t".to_vec() },
        ClientMsg::BizSendBuf { user_id: 6, data: vec![0, 1, 2, 255] },
        ClientMsg::BizSendRoom { room_id: 6, data: vec![7] },
        ClientMsg::BizTransBuffer { user_id: 6, data: vec![8, 9] },
        ClientMsg::BizSetUserInfo { user_id: 6, info_id: 1, value: b"x".to_vec() },
    ];
    msgs.into_iter()
        .map(|m| {
            let name = match m {
                ClientMsg::Hello { .. } => "Hello",
                ClientMsg::Login { .. } => "Login",
                ClientMsg::LoginEx { .. } => "LoginEx",
                ClientMsg::Logout => "Logout",
                ClientMsg::EnterRoom { .. } => "EnterRoom",
                ClientMsg::EnterRoomByName { .. } => "EnterRoomByName",
                ClientMsg::LeaveRoom { .. } => "LeaveRoom",
                ClientMsg::VideoCall(_) => "VideoCall",
                ClientMsg::Ping { .. } => "Ping",
                ClientMsg::Text { .. } => "Text",
                ClientMsg::TransBuffer { .. } => "TransBuffer",
                ClientMsg::Device { .. } => "Device",
                ClientMsg::Media { .. } => "Media",
                ClientMsg::Subscribe { .. } => "Subscribe",
                ClientMsg::BizCallVerdict { .. } => "BizCallVerdict",
                ClientMsg::BizVerifyResult { .. } => "BizVerifyResult",
                ClientMsg::BizEnterVerdict { .. } => "BizEnterVerdict",
                ClientMsg::BizVideoCall(_) => "BizVideoCall",
                ClientMsg::BizUserControl { .. } => "BizUserControl",
                ClientMsg::BizSendBuf { .. } => "BizSendBuf",
                ClientMsg::BizSendRoom { .. } => "BizSendRoom",
                ClientMsg::BizTransBuffer { .. } => "BizTransBuffer",
                ClientMsg::BizSetUserInfo { .. } => "BizSetUserInfo",
            };
            (name, m)
        })
        .collect()
}

/// One server message of every variant (see [`client_seeds`]).
pub fn server_seeds() -> Vec<(&'static str, ServerMsg)> {
    let audio = MediaHeader { kind: MEDIA_AUDIO, key: true, codec: 0, timestamp: 20, a: 16000, b: 0x1_0010 };
    let msgs = vec![
        ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms: 15000, token: 7 },
        ServerMsg::Refused { code: 107 },
        ServerMsg::LoginResult { user_id: 9, code: 0, name: b"bob".to_vec(), level: 5, nick: b"Bobby".to_vec() },
        ServerMsg::EnterRoomResult { room_id: 3, code: 300 },
        ServerMsg::RoomUsers { room_id: 3, users: vec![room_user(1), room_user(2)], more: true },
        ServerMsg::UserAtRoom { room_id: 3, user: room_user(4), entered: true },
        ServerMsg::LeftRoom { room_id: 3 },
        ServerMsg::VideoCall { ev: call_event(3), peer: room_user(7) },
        ServerMsg::LinkClose { code: 209 },
        ServerMsg::Pong { seq: 1 },
        ServerMsg::TransBuffer { from: 7, ex: true, wparam: 1, lparam: 2, task_id: 3, data: vec![9; 100] },
        ServerMsg::Text { from: 1, to: 0, secret: true, text: "你好".as_bytes().to_vec() },
        ServerMsg::Device { user_id: 1, kind: DEVICE_MIC, state: 2 },
        ServerMsg::FilterData { data: vec![1, 2, 3] },
        ServerMsg::UserInfo { user_id: 1, info_id: 9, value: b"v".to_vec() },
        ServerMsg::UserDataReset,
        ServerMsg::GroupSet { group_id: 1, name: "我的好友".as_bytes().to_vec() },
        ServerMsg::GroupGone { group_id: 1 },
        ServerMsg::FriendSet { user_id: 5, online: true, group: 1 },
        ServerMsg::FriendGone { user_id: 5 },
        ServerMsg::FriendStatus { user_id: 5, online: true },
        ServerMsg::SyncInfo { user_id: 5, info_id: 1, value: b"alice".to_vec() },
        ServerMsg::UserDataUpdated,
        ServerMsg::Media { from: 3, header: audio, data: vec![0; 64] },
        ServerMsg::NeedKeyFrame,
        ServerMsg::BizAskCall { query: 1, src: 2, tar: 3, flags: 4, param: 5, user_str: b"x".to_vec() },
        ServerMsg::BizCallNote { event: 3, src: 2, tar: 3, error_code: 0, flags: 4, param: 77, user_str: vec![] },
        ServerMsg::BizAskVerify {
            query: 2,
            name: b"n".to_vec(),
            password: b"p".to_vec(),
            ip: b"127.0.0.1".to_vec(),
            user_id: 9,
        },
        ServerMsg::BizAskEnter { query: 3, user_id: 1, room_id: 2, room_name: b"r".to_vec(), password: b"pw".to_vec() },
        ServerMsg::BizUserLogin { user_id: 1, name: b"a".to_vec(), level: 0, ip: b"::1".to_vec() },
        ServerMsg::BizUserLogout { user_id: 1, code: 0 },
        ServerMsg::BizUserRoom { user_id: 1, room_id: 2, entered: false },
        ServerMsg::BizText { room_id: 5, src: 1, tar: 2, secret: false, text: b"hi".to_vec() },
        ServerMsg::BizTransBuffer { user_id: 1, data: vec![0; 10] },
    ];
    msgs.into_iter()
        .map(|m| {
            let name = match m {
                ServerMsg::Welcome { .. } => "Welcome",
                ServerMsg::Refused { .. } => "Refused",
                ServerMsg::LoginResult { .. } => "LoginResult",
                ServerMsg::EnterRoomResult { .. } => "EnterRoomResult",
                ServerMsg::RoomUsers { .. } => "RoomUsers",
                ServerMsg::UserAtRoom { .. } => "UserAtRoom",
                ServerMsg::LeftRoom { .. } => "LeftRoom",
                ServerMsg::VideoCall { .. } => "VideoCall",
                ServerMsg::LinkClose { .. } => "LinkClose",
                ServerMsg::Pong { .. } => "Pong",
                ServerMsg::TransBuffer { .. } => "TransBuffer",
                ServerMsg::Text { .. } => "Text",
                ServerMsg::Device { .. } => "Device",
                ServerMsg::FilterData { .. } => "FilterData",
                ServerMsg::UserInfo { .. } => "UserInfo",
                ServerMsg::UserDataReset => "UserDataReset",
                ServerMsg::GroupSet { .. } => "GroupSet",
                ServerMsg::GroupGone { .. } => "GroupGone",
                ServerMsg::FriendSet { .. } => "FriendSet",
                ServerMsg::FriendGone { .. } => "FriendGone",
                ServerMsg::FriendStatus { .. } => "FriendStatus",
                ServerMsg::SyncInfo { .. } => "SyncInfo",
                ServerMsg::UserDataUpdated => "UserDataUpdated",
                ServerMsg::Media { .. } => "Media",
                ServerMsg::NeedKeyFrame => "NeedKeyFrame",
                ServerMsg::BizAskCall { .. } => "BizAskCall",
                ServerMsg::BizCallNote { .. } => "BizCallNote",
                ServerMsg::BizAskVerify { .. } => "BizAskVerify",
                ServerMsg::BizAskEnter { .. } => "BizAskEnter",
                ServerMsg::BizUserLogin { .. } => "BizUserLogin",
                ServerMsg::BizUserLogout { .. } => "BizUserLogout",
                ServerMsg::BizUserRoom { .. } => "BizUserRoom",
                ServerMsg::BizText { .. } => "BizText",
                ServerMsg::BizTransBuffer { .. } => "BizTransBuffer",
            };
            (name, m)
        })
        .collect()
}

/// A `frames` input: how the stream is cut into reads, then the stream.
/// The first byte `k` says that `k % 16 + 1` chunk-size bytes follow; each
/// size byte `s` is one read of `s % 128 + 1` bytes; after a read with
/// `s >= 128` the reader takes one frame and stops, else every complete
/// frame. The sizes repeat until the stream is consumed.
pub fn frames_input(sizes: &[u8], stream: &[u8]) -> Vec<u8> {
    assert!((1..=16).contains(&sizes.len()));
    let mut input = vec![sizes.len() as u8 - 1];
    input.extend_from_slice(sizes);
    input.extend_from_slice(stream);
    input
}

/// Splits a `frames` input (see [`frames_input`]) into chunk sizes and stream.
pub fn split_frames_input(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&k, rest)) = data.split_first() else { return (&[], &[]) };
    rest.split_at((k as usize % 16 + 1).min(rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn encode(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out);
        out
    }

    #[test]
    fn seeds_round_trip() {
        for (_, m) in client_seeds() {
            check_round_trip(&encode(|o| m.encode(o))[FRAME_HEADER_LEN..], ClientMsg::decode, ClientMsg::encode);
        }
        for (_, m) in server_seeds() {
            check_round_trip(&encode(|o| m.encode(o))[FRAME_HEADER_LEN..], ServerMsg::decode, ServerMsg::encode);
        }
    }

    /// Writes the seed corpus: `cargo test --lib -- --ignored write_seeds`.
    #[test]
    #[ignore]
    fn write_seeds() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let write = |target: &str, name: String, bytes: &[u8]| {
            let dir = corpus.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        };
        let clients: Vec<_> = client_seeds().into_iter().map(|(n, m)| (n, encode(|o| m.encode(o)))).collect();
        let servers: Vec<_> = server_seeds().into_iter().map(|(n, m)| (n, encode(|o| m.encode(o)))).collect();
        for (name, frame) in &clients {
            write("client_msg", name.to_string(), &frame[FRAME_HEADER_LEN..]);
            write("frames", format!("client-{name}"), &frames_input(&[3, 200], frame));
        }
        for (name, frame) in &servers {
            write("server_msg", name.to_string(), &frame[FRAME_HEADER_LEN..]);
            write("frames", format!("server-{name}"), &frames_input(&[1, 7, 130], frame));
        }
        let all = |frames: &[(&str, Vec<u8>)]| frames.iter().flat_map(|(_, f)| f.clone()).collect::<Vec<u8>>();
        write("frames", "client-stream".into(), &frames_input(&[0, 5, 60, 255, 17], &all(&clients)));
        write("frames", "server-stream".into(), &frames_input(&[127, 1], &all(&servers)));
        let too_long = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
        write("frames", "bad-length-0".into(), &frames_input(&[9], &[clients[8].1.clone(), vec![0; 4]].concat()));
        write("frames", "bad-length-max".into(), &frames_input(&[2], &[&clients[8].1[..], &too_long].concat()));
    }
}
