//! The business-server library (`BRAS_*`): the API handle [`Business`],
//! its sans-IO [`Engine`] ([`engine`], tested in simulated time in
//! `tests.rs`) and its thread ([`runtime`]).
//!
//! The thread connects to the core server's business listener (address from
//! `ANYCHAT_CORE_ADDR`, default `127.0.0.1:8907`, `tls://host:port` for TLS;
//! secret from `ANYCHAT_BUSINESS_SECRET`; TLS settings from the
//! `ANYCHAT_TLS*` variables, see [`crate::net::link::TlsEnv`]), reconnects on its own with a doubling backoff
//! (100 ms up to 5 s) whenever the link drops, fires the app's timer, and
//! hands every [`BizEvent`] to the sink. Questions (a call Request, a login,
//! entering a room) are answered with what the sink returns. The sink runs on
//! this thread, one event at a time, in order, with no library lock held, so
//! an app callback may call any `BRAS_` function. A panic on the thread (in
//! the sink or the loop) reaches the app as the link going down
//! ([`BizEvent::LinkDown`]), and the library reconnects.
#![forbid(unsafe_code)]

pub mod engine;
mod runtime;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::net::link::{NetThread, TlsEnv};
use crate::wire::constants::*;
use crate::wire::protocol::{CallEvent, ClientMsg, MAX_BLOB_LEN, MAX_GROUP_NAME_LEN};

pub use self::engine::{Answer, BizEvent, BizState, Command, Engine, BACKOFF_MAX, BACKOFF_MIN, CONNECT_TIMEOUT};
pub use self::runtime::BizSink;
use self::runtime::ToNet;

/// Default address of the core server's business listener.
pub const DEFAULT_CORE_ADDR: &str = "127.0.0.1:8907";

/// Where to connect, with which secret, and the TLS settings.
#[derive(Debug, Clone)]
pub struct BizConfig {
    /// `host:port`, or `tls://host:port` for TLS.
    pub core_addr: String,
    pub secret: Vec<u8>,
    /// The `ANYCHAT_TLS*` settings (files are read at each connect
    /// attempt), or why they are wrong (then every attempt fails).
    pub tls: Result<TlsEnv, crate::net::tls::TlsError>,
}

impl BizConfig {
    /// From `ANYCHAT_CORE_ADDR`, `ANYCHAT_BUSINESS_SECRET` and the
    /// `ANYCHAT_TLS*` variables, read once (on the thread of `BRAS_InitSDK`).
    /// Without a secret in the environment, the one a core server on this
    /// machine generated in its state folder (see [`crate::net::secret`]).
    pub fn from_env() -> BizConfig {
        let secret = std::env::var_os("ANYCHAT_BUSINESS_SECRET")
            .map(std::os::unix::ffi::OsStringExt::into_vec)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                let dir = crate::net::secret::default_state_dir()?;
                crate::net::secret::read_secret(&dir).unwrap_or_else(|e| {
                    tracing::warn!("cannot read the generated business secret: {e}");
                    None
                })
            })
            .unwrap_or_default();
        BizConfig {
            core_addr: std::env::var("ANYCHAT_CORE_ADDR").unwrap_or_else(|_| DEFAULT_CORE_ADDR.to_string()),
            secret,
            tls: TlsEnv::from_env(),
        }
    }
}

/// The handle API threads use.
pub struct Business {
    state: Arc<Mutex<BizState>>,
    net: NetThread<ToNet>,
}

/// `GV_ERR_*` code returned by API methods.
pub type Code = u32;

impl Business {
    /// Starts the network thread, which connects at once.
    pub fn start(config: BizConfig, sink: BizSink) -> io::Result<Business> {
        let state = Arc::new(Mutex::new(BizState::default()));
        let net = runtime::start(config, sink, state.clone())?;
        Ok(Business { state, net })
    }

    fn command(&self, cmd: Command) {
        self.net.command(ToNet::Command(cmd));
    }

    pub fn with_state<R>(&self, f: impl FnOnce(&BizState) -> R) -> R {
        f(&self.state.lock())
    }

    /// `BRAS_SetTimerEventCallBack`: fire every `interval` (None: stop).
    pub fn set_timer(&self, interval: Option<Duration>) {
        self.command(Command::Timer(interval));
    }

    fn send_linked(&self, msg: ClientMsg) -> Code {
        if !self.state.lock().linked {
            return GV_ERR_CONNECT_ABORT;
        }
        self.command(Command::Send(msg));
        0
    }

    /// `BRAS_VideoCallControl`: only FINISH, for a user in a call.
    pub fn video_call(
        &self,
        event: u32,
        user_id: u32,
        error_code: u32,
        flags: u32,
        param: u32,
        user_str: &[u8],
    ) -> Code {
        match event {
            BRAS_VIDEOCALL_EVENT_FINISH => {}
            BRAS_VIDEOCALL_EVENT_REQUEST | BRAS_VIDEOCALL_EVENT_REPLY | BRAS_VIDEOCALL_EVENT_START => {
                return GV_ERR_FUNCNOTALLOW
            }
            _ => return GV_ERR_FUNCOPTERROR,
        }
        if !self.state.lock().in_call.contains_key(&user_id) {
            return GV_ERR_FUNCNOTALLOW;
        }
        let ev = CallEvent { event, user_id, error_code, flags, param, user_str: user_str.to_vec() };
        self.send_linked(ClientMsg::BizVideoCall(ev))
    }

    /// `BRAS_UserInfoControl` (see [`user_control_msg`]).
    pub fn user_control(&self, user_id: u32, ctrl: u32, wparam: u32, lparam: u32, text: &[u8]) -> Code {
        match user_control_msg(user_id, ctrl, wparam, lparam, text) {
            Ok(msg) => self.send_linked(msg),
            Err(code) => code,
        }
    }

    /// `BRAS_SendBufToUser`.
    pub fn send_buf(&self, target: u32, data: &[u8], to_room: bool, trans: bool) -> Code {
        if data.is_empty() || data.len() > MAX_BLOB_LEN {
            return GV_ERR_FUNCOPTERROR;
        }
        let data = data.to_vec();
        self.send_linked(match (to_room, trans) {
            (true, _) => ClientMsg::BizSendRoom { room_id: target, data },
            (false, true) => ClientMsg::BizTransBuffer { user_id: target, data },
            (false, false) => ClientMsg::BizSendBuf { user_id: target, data },
        })
    }

    /// `BRAS_SetUserInfo`: kept here for `BRAS_GetUserInfo` and sent to the
    /// user (`WM_GV_USERINFOUPDATE(user, info id)`) if the link is up.
    pub fn set_user_info(&self, user_id: u32, info_id: u32, value: &[u8]) -> Code {
        let linked = {
            let mut st = self.state.lock();
            st.user_infos.insert((user_id, info_id), value.to_vec());
            st.linked
        };
        if linked {
            self.command(Command::Send(ClientMsg::BizSetUserInfo { user_id, info_id, value: value.to_vec() }));
        }
        0
    }

    /// `BRAS_Release`: closes the link and joins the thread (unless called
    /// from a callback on that thread).
    pub fn shutdown(&self) {
        self.net.stop(ToNet::Command(Command::Shutdown));
    }
}

/// The message of a `BRAS_UserInfoControl`, or the code it returns at once:
/// 21 for an argument out of range (a user, friend or group id 0 or -1
/// where one is needed, a group name or address pattern over 256 bytes, an
/// empty pattern, an unknown code below `APPDEFINE`), 20 for FUNCCTRL and
/// the app-defined codes (`APPDEFINE` and above), which this product does
/// not carry to clients.
pub fn user_control_msg(user_id: u32, ctrl: u32, wparam: u32, lparam: u32, text: &[u8]) -> Result<ClientMsg, Code> {
    let id_ok = |id: u32| id != 0 && id != u32::MAX;
    let ok = match ctrl {
        BRAS_USERINFO_CTRLCODE_KICKOUT => true,
        BRAS_USERINFO_CTRLCODE_SYNCDATA => id_ok(user_id),
        BRAS_USERINFO_CTRLCODE_BLOCKIP | BRAS_USERINFO_CTRLCODE_UNBLOCKIP => {
            !text.is_empty() && text.len() <= MAX_GROUP_NAME_LEN
        }
        BRAS_USERINFO_CTRLCODE_ADDGROUP => id_ok(user_id) && id_ok(wparam) && text.len() <= MAX_GROUP_NAME_LEN,
        BRAS_USERINFO_CTRLCODE_DELGROUP | BRAS_USERINFO_CTRLCODE_ADDFRIEND | BRAS_USERINFO_CTRLCODE_DELFRIEND => {
            id_ok(user_id) && id_ok(wparam)
        }
        // wParam the group (0: none), lParam the friend.
        BRAS_USERINFO_CTRLCODE_SETGROUPRELATION => id_ok(user_id) && wparam != u32::MAX && id_ok(lparam),
        BRAS_USERINFO_CTRLCODE_FUNCCTRL => return Err(GV_ERR_FUNCNOTALLOW),
        c if c >= BRAS_USERINFO_CTRLCODE_APPDEFINE => return Err(GV_ERR_FUNCNOTALLOW),
        _ => false,
    };
    if !ok {
        return Err(GV_ERR_FUNCOPTERROR);
    }
    // Only the strings the core server uses travel.
    let text = match ctrl {
        BRAS_USERINFO_CTRLCODE_ADDGROUP | BRAS_USERINFO_CTRLCODE_BLOCKIP | BRAS_USERINFO_CTRLCODE_UNBLOCKIP => {
            text.to_vec()
        }
        _ => Vec::new(),
    };
    Ok(ClientMsg::BizUserControl { user_id, ctrl, wparam, lparam, text })
}

impl Business {
    /// Tests: makes the library's thread panic.
    #[cfg(test)]
    fn inject_panic(&self) {
        self.net.command(ToNet::Panic);
    }
}

impl Drop for Business {
    fn drop(&mut self) {
        self.shutdown();
    }
}
