//! This client's own camera: the device the app selected
//! (`BRAC_SelectVideoCapture`) captured while it has its camera open
//! (`BRAC_UserCameraControl(-1, TRUE)`) and external video input is off.
//!
//! The capture runs on the camera's thread (`anychat-cam`, see
//! [`crate::device::camera`]), which also encodes each picture (H.264, at
//! the size the device delivers) and queues it like `BRAC_InputVideoData`
//! does — through the [`Outlet`] (the command queue to the network thread
//! and the uplink's bound), taking the `State` lock only to ask whether the
//! camera is open — and shows it back (self-view). No device is touched on
//! the network thread or with a library lock held: opening, enumerating
//! and stopping a device run with none.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::runtime::{ToNet, Uplink};
use super::{sdk_option, Client, Code, Event, OwnVideo, State, CODEC_H264};
use crate::device::camera::{self, Capture, CaptureParams, Frame};
use crate::net::link::Mailbox;
use crate::wire::constants::*;
use crate::wire::protocol::{ClientMsg, MediaHeader, MEDIA_VIDEO};

/// The size and rate a camera is opened at when the app set none
/// (`BRAC_SO_LOCALVIDEO_WIDTHCTRL`, `HEIGHTCTRL`, `FPSCTRL`).
pub const DEFAULT_CAPTURE: CaptureParams = CaptureParams { width: 320, height: 240, fps: 15 };

/// What the API threads and device threads need to hand media to the
/// network thread.
#[derive(Clone)]
pub(crate) struct Outlet {
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) mailbox: Mailbox<ToNet>,
    pub(crate) force_key: Arc<AtomicBool>,
    pub(crate) uplink: Arc<Uplink>,
}

impl Outlet {
    /// Queues one media frame for the server, unless the uplink is full
    /// (the frame is dropped; the next video frame is then a key frame).
    pub(crate) fn send_media(&self, header: MediaHeader, data: &[u8]) {
        let video = header.kind == MEDIA_VIDEO;
        let mut bytes = Vec::with_capacity(data.len() + 40);
        ClientMsg::Media { header, data: data.to_vec() }.encode(&mut bytes);
        if !self.uplink.admit(bytes.len()) {
            if video {
                self.force_key.store(true, Ordering::SeqCst);
            }
            return;
        }
        let frame = crate::wire::protocol::MediaOut { bytes, from: 0, video, key: header.key || !video };
        self.mailbox.send(ToNet::Command(super::Command::Media(Arc::new(frame))));
    }

    /// Shows one's own frame back to the app (the engine checks that the
    /// camera is open, and the callback thread's bound applies).
    pub(crate) fn own_video(&self, v: OwnVideo) {
        self.mailbox.send(ToNet::Command(super::Command::OwnVideo(v)));
    }

    /// A notification for the app, in order with the others.
    fn notify(&self, msg: u32, wparam: u32, lparam: u32) {
        self.mailbox.send(ToNet::Deliver(Event::Notify { msg, wparam, lparam }));
    }
}

/// The camera chosen and the capture running.
#[derive(Default)]
pub(crate) struct LocalCamera {
    /// `BRAC_SelectVideoCapture`'s name (None: the first listed).
    selected: Option<String>,
    capture: Option<Capture>,
}

/// The size, rate and bitrate the app set through the SDK options.
fn params() -> (CaptureParams, u32) {
    let get = |o: u32, d: u32| sdk_option(o).filter(|v| *v > 0).map_or(d, |v| v as u32);
    let p = CaptureParams {
        width: get(BRAC_SO_LOCALVIDEO_WIDTHCTRL, DEFAULT_CAPTURE.width),
        height: get(BRAC_SO_LOCALVIDEO_HEIGHTCTRL, DEFAULT_CAPTURE.height),
        fps: get(BRAC_SO_LOCALVIDEO_FPSCTRL, DEFAULT_CAPTURE.fps),
    };
    (p, get(BRAC_SO_LOCALVIDEO_BITRATECTRL, 0))
}

impl Client {
    /// `BRAC_EnumVideoCapture`: the cameras present, by name.
    pub fn cameras() -> Vec<String> {
        camera::list()
    }

    /// `BRAC_SelectVideoCapture`: the camera to capture from; one that is
    /// not present: 21. While capturing, the capture moves to it.
    pub fn select_camera(&self, name: &[u8]) -> Code {
        let Ok(name) = std::str::from_utf8(name) else { return GV_ERR_FUNCOPTERROR };
        if !camera::exists(name) {
            return GV_ERR_FUNCOPTERROR;
        }
        let running = {
            let mut cam = self.camera.lock();
            cam.selected = Some(name.to_string());
            cam.capture.as_ref().is_some_and(|c| c.name() != name)
        };
        if running {
            self.local_camera(false);
            self.local_camera(true);
        }
        0
    }

    /// `BRAC_GetCurVideoCapture`: the camera capturing, else the one
    /// selected, else the first listed ("" when there is none).
    pub fn current_camera(&self) -> String {
        let (capturing, selected) = {
            let cam = self.camera.lock();
            (cam.capture.as_ref().map(|c| c.name().to_string()), cam.selected.clone())
        };
        capturing.or(selected).or_else(|| camera::list().into_iter().next()).unwrap_or_default()
    }

    /// Opens (starts capturing from) or closes this client's camera, when
    /// external video input is off. A camera that cannot be opened, fails
    /// or ends is reported as `WM_GV_SDKWARNING(GV_ERR_WARNING_MEDIAUTILFAIL)`.
    pub(crate) fn local_camera(&self, open: bool) {
        let old = self.camera.lock().capture.take();
        // Stopping waits for the capture thread: with no lock held.
        drop(old);
        if !open || sdk_option(BRAC_SO_CORESDK_EXTVIDEOINPUT).unwrap_or(0) != 0 {
            return;
        }
        let selected = self.camera.lock().selected.clone();
        let (p, bitrate) = params();
        let outlet = self.outlet.clone();
        let warn = self.outlet.clone();
        let on_frame = encode_and_send(outlet, bitrate);
        let on_end = move |_why: String| warn.notify(WM_GV_SDKWARNING, GV_ERR_WARNING_MEDIAUTILFAIL, 0);
        match Capture::start(selected.as_deref(), p, on_frame, on_end) {
            Ok(c) => {
                let stale = self.camera.lock().capture.replace(c);
                drop(stale);
            }
            Err(e) => {
                tracing::warn!("camera not opened: {e}");
                self.outlet.notify(WM_GV_SDKWARNING, GV_ERR_WARNING_MEDIAUTILFAIL, 0);
            }
        }
    }

    /// `BRAC_SO_LOCALVIDEO_APPLYPARAM`: a camera capturing now restarts
    /// with the size, rate and bitrate set since it opened.
    pub fn apply_camera_params(&self) {
        if self.camera.lock().capture.is_some() {
            self.local_camera(false);
            self.local_camera(true);
        }
    }

    /// Stops the capture (logout, release).
    pub(crate) fn stop_camera(&self) {
        let old = self.camera.lock().capture.take();
        drop(old);
    }
}

/// The camera thread's handling of each picture: while the camera is open
/// and the client logged in, encode it (an encoder per picture size) and
/// queue it for the server, and show it back when a video callback wants
/// it.
fn encode_and_send(outlet: Outlet, bitrate: u32) -> impl FnMut(Frame) + Send + 'static {
    let mut encoder: Option<((u32, u32), crate::codec::VideoEncoder)> = None;
    let mut failed = false;
    move |f: Frame| {
        if outlet.state.lock().may_send(true) != Ok(true) {
            return;
        }
        if encoder.as_ref().is_none_or(|(size, _)| *size != (f.w, f.h)) {
            let rate = if bitrate > 0 { bitrate } else { (f.w * f.h * f.fps / 8).clamp(100_000, 4_000_000) };
            encoder = match crate::codec::VideoEncoder::new(f.w, f.h, f.fps as f32, rate) {
                Ok(e) => Some(((f.w, f.h), e)),
                Err(e) => {
                    if !failed {
                        tracing::warn!("camera pictures not encoded: {e}");
                        failed = true;
                    }
                    None
                }
            };
            outlet.force_key.store(true, Ordering::SeqCst);
        }
        if let Some((_, enc)) = encoder.as_mut() {
            let force = outlet.force_key.swap(false, Ordering::SeqCst);
            match enc.encode(&f.i420, force) {
                Ok(e) if !e.data.is_empty() => {
                    let header = MediaHeader {
                        kind: MEDIA_VIDEO,
                        key: e.key,
                        codec: CODEC_H264,
                        timestamp: f.timestamp,
                        a: f.w,
                        b: f.h,
                    };
                    outlet.send_media(header, &e.data);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("camera picture not encoded: {e}"),
            }
        }
        if Client::self_view() {
            let pix_fmt = Some(BRAC_PIX_FMT_YUV420P);
            outlet.own_video(OwnVideo {
                w: f.w,
                h: f.h,
                timestamp: f.timestamp,
                codec: CODEC_H264,
                pix_fmt,
                data: f.i420,
            });
        }
    }
}
