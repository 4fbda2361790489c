//! `BRAC_*`: the client library's C functions. [`api`] holds the implemented
//! functions, [`media`] the media input and the delivery of users' video
//! and audio, [`audio`] the microphone and speaker, [`devices`] the cameras,
//! [`video`] the drawing into windows, [`unsupported`] the functions whose
//! feature is not provided, with their documented codes; `callbacks` is the
//! registry they all store
//! the app's callbacks in. This module holds the process's one client
//! engine, between `BRAC_InitSDK` and `BRAC_Release`.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::abi::types::DWORD;
use crate::client::Client;
use crate::wire::constants::GV_ERR_NOTINIT;

pub mod api;
pub mod audio;
pub(crate) mod callbacks;
pub mod devices;
pub mod media;
pub mod unsupported;
pub mod video;

/// The client engine `BRAC_InitSDK` started (`None` before it and after
/// `BRAC_Release`).
static SDK: Mutex<Option<Arc<Client>>> = Mutex::new(None);

/// The initialised SDK, or `GV_ERR_NOTINIT`. The global lock is held only
/// while the `Arc` is cloned.
fn sdk() -> Result<Arc<Client>, DWORD> {
    SDK.lock().clone().ok_or(GV_ERR_NOTINIT)
}

/// Runs `body` with the SDK: `GV_ERR_NOTINIT` without one.
fn with_sdk(body: impl FnOnce(&Client) -> DWORD) -> DWORD {
    match sdk() {
        Ok(c) => body(&c),
        Err(e) => e,
    }
}
