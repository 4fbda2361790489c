//! Cameras: enumeration by name, and capture on a thread of its own
//! (`anychat-cam`) that hands each picture, converted to I420, to a closure.
//!
//! Two kinds of device, behind the same [`Capture`]:
//!
//! - **V4L2** (feature `v4l2`, on by default): every `/dev/video*` node that
//!   captures video, named `"<card> (/dev/videoN)"`. The size and frame
//!   rate asked for are negotiated with the driver (which may pick the
//!   nearest it has); YUYV, NV12 and MJPEG (decoded with `zune-jpeg`) are
//!   taken, in that order of preference.
//! - **Fake cameras**, for tests and demos, named in the environment
//!   variable [`FAKE_CAMERA_ENV`] and listed first: `pattern` (listed as
//!   `fake:pattern`) is a moving test pattern ([`fake_pattern_i420`]: a
//!   white band at the top, bars, the frame number at the bottom) at the
//!   size and rate asked for; a path to a `.y4m` file (listed as
//!   `fake:PATH`) plays that file's 4:2:0 frames at its own size and rate,
//!   once: its end is reported like an unplugged camera. Several entries
//!   are separated by `;`.
//!
//! A device that cannot be opened, fails, or ends calls the `on_end`
//! closure with the reason; stopping ([`Capture::stop`], or dropping the
//! handle) ends the thread within 100 ms and releases the device.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

/// The environment variable naming the fake cameras (`pattern`, or a path
/// to a `.y4m` file; several separated by `;`).
pub const FAKE_CAMERA_ENV: &str = "ANYCHAT_FAKE_CAMERA";
/// How a fake camera's name starts.
pub const FAKE_PREFIX: &str = "fake:";
/// The largest picture taken from a device or file (each side).
pub const MAX_SIDE: u32 = 4096;
/// How long the V4L2 capture thread waits for a frame before it looks whether
/// it was told to stop.
#[cfg(feature = "v4l2")]
const POLL: Duration = Duration::from_millis(100);

/// What the app asked for (`BRAC_SO_LOCALVIDEO_WIDTHCTRL`, `HEIGHTCTRL`,
/// `FPSCTRL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureParams {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// One captured picture: I420, `w`×`h` (both even), top row first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub w: u32,
    pub h: u32,
    /// The rate the device delivers at (frames per second), for the encoder.
    pub fps: u32,
    /// Milliseconds since the capture started.
    pub timestamp: u32,
    pub i420: Vec<u8>,
}

/// The cameras present, by name: the fake ones of [`FAKE_CAMERA_ENV`]
/// first, then the V4L2 capture devices.
pub fn list() -> Vec<String> {
    let names = fake_names();
    #[cfg(feature = "v4l2")]
    let names = [names, v4l2::list().into_iter().map(|(name, _)| name).collect()].concat();
    names
}

fn fake_names() -> Vec<String> {
    let Ok(v) = std::env::var(FAKE_CAMERA_ENV) else { return Vec::new() };
    v.split(';').map(str::trim).filter(|s| !s.is_empty()).map(|s| format!("{FAKE_PREFIX}{s}")).collect()
}

/// What a name stands for.
enum Device {
    Pattern,
    Y4m(PathBuf),
    #[cfg(feature = "v4l2")]
    V4l2(PathBuf),
}

fn find(name: &str) -> Option<Device> {
    if fake_names().iter().any(|n| n == name) {
        let what = &name[FAKE_PREFIX.len()..];
        return Some(if what == "pattern" { Device::Pattern } else { Device::Y4m(PathBuf::from(what)) });
    }
    #[cfg(feature = "v4l2")]
    if let Some((_, path)) = v4l2::list().into_iter().find(|(n, _)| n == name) {
        return Some(Device::V4l2(path));
    }
    None
}

/// Whether a camera of that name is present.
pub fn exists(name: &str) -> bool {
    find(name).is_some()
}

/// A camera capturing on its thread.
pub struct Capture {
    name: String,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// Starts capturing from camera `name` (the first of [`list`] when
    /// `None`) on a new thread: each picture goes to `on_frame`; when the
    /// device cannot be opened, fails or ends, `on_end` gets the reason
    /// (not called after [`Capture::stop`]). Err only when there is no such
    /// camera or no thread can be started.
    pub fn start(
        name: Option<&str>,
        params: CaptureParams,
        mut on_frame: impl FnMut(Frame) + Send + 'static,
        on_end: impl FnOnce(String) + Send + 'static,
    ) -> io::Result<Capture> {
        let name = match name {
            Some(n) => n.to_string(),
            None => list().into_iter().next().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no camera"))?,
        };
        let device =
            find(&name).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no camera named '{name}'")))?;
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let thread_name = name.clone();
        let thread = std::thread::Builder::new().name("anychat-cam".into()).spawn(move || {
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(device, params, &stop_rx, &mut on_frame)));
            let stopped = matches!(stop_rx.try_recv(), Ok(()) | Err(crossbeam_channel::TryRecvError::Disconnected));
            let why = match result {
                Ok(Ok(())) => return,
                Ok(Err(why)) => why,
                Err(_) => "the capture thread panicked".to_string(),
            };
            if !stopped {
                tracing::warn!("camera '{thread_name}': {why}");
                on_end(why);
            }
        })?;
        Ok(Capture { name, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// The camera's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops capturing and waits (at most about 100 ms) until the device
    /// is released.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        // Dropping the sender wakes the thread's wait at once.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Waits until `deadline`; false when told to stop.
fn wait_until(stop: &Receiver<()>, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    matches!(stop.recv_timeout(left), Err(RecvTimeoutError::Timeout))
}

/// The capture thread's body: Ok when told to stop, Err(why) when the
/// device failed or ended.
fn run(
    device: Device,
    params: CaptureParams,
    stop: &Receiver<()>,
    on_frame: &mut dyn FnMut(Frame),
) -> Result<(), String> {
    let start = Instant::now();
    let stamp = move || start.elapsed().as_millis().min(u32::MAX as u128) as u32;
    match device {
        Device::Pattern => {
            let (w, h) = even_size(params.width, params.height).ok_or("bad size for the test pattern")?;
            let fps = params.fps.clamp(1, 60);
            let interval = Duration::from_secs(1) / fps;
            for n in 0u32.. {
                if !wait_until(stop, start + interval * n) {
                    return Ok(());
                }
                let i420 = fake_pattern_i420(w, h, n).ok_or("bad size for the test pattern")?;
                on_frame(Frame { w, h, fps, timestamp: stamp(), i420 });
            }
            Ok(())
        }
        Device::Y4m(path) => {
            let mut y4m = Y4m::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let fps = y4m.fps.clamp(1, 60);
            let interval = Duration::from_secs(1) / fps;
            for n in 0u32.. {
                if !wait_until(stop, start + interval * n) {
                    return Ok(());
                }
                match y4m.next_frame().map_err(|e| format!("{}: {e}", path.display()))? {
                    Some(i420) => on_frame(Frame { w: y4m.w, h: y4m.h, fps, timestamp: stamp(), i420 }),
                    None => return Err(format!("{}: end of file after {n} frames", path.display())),
                }
            }
            Ok(())
        }
        #[cfg(feature = "v4l2")]
        Device::V4l2(path) => v4l2::run(&path, params, stop, &mut |w, h, fps, i420| {
            on_frame(Frame { w, h, fps, timestamp: stamp(), i420 })
        }),
    }
}

/// `w`×`h` rounded down to even sides, within 2..=[`MAX_SIDE`].
fn even_size(w: u32, h: u32) -> Option<(u32, u32)> {
    let (w, h) = (w & !1, h & !1);
    (w >= 2 && h >= 2 && w <= MAX_SIDE && h <= MAX_SIDE).then_some((w, h))
}

/// Rows of the band at the bottom holding the frame number.
const BAND: usize = 16;
/// Bits of the frame number in the band (modulo 65536).
const BITS: usize = 16;

/// The fake camera's picture number `n` (I420, `w`×`h`, both even and at
/// least 32): the top quarter white (so a picture upside down shows),
/// eight grey bars moving right by 8 pixels a frame, and at the bottom a
/// band of 16 rows holding `n` modulo 65536 in 16 black or white blocks,
/// most significant first (the layout `codec::patterns::pattern_frame_number`
/// reads). Chroma is neutral. `None` for other sizes.
pub fn fake_pattern_i420(w: u32, h: u32, n: u32) -> Option<Vec<u8>> {
    let (w, h) = even_size(w, h)?;
    if w < 32 || h < 32 {
        return None;
    }
    let (w, h) = (w as usize, h as usize);
    let shift = (n as usize * 8) % w;
    let code = n as usize % (1 << BITS);
    let mut bars = vec![0u8; w];
    let mut band = vec![16u8; w];
    for x in 0..w {
        // Bars from 16 (black) to 200 (light grey): never as white as the top.
        bars[x] = 16 + ((x + w - shift) % w * 8 / w) as u8 * 26;
        if (code >> (BITS - 1 - x * BITS / w)) & 1 == 1 {
            band[x] = 235;
        }
    }
    let mut out = Vec::with_capacity(w * h * 3 / 2);
    for y in 0..h {
        if y < h / 4 {
            out.extend(std::iter::repeat_n(235u8, w));
        } else if y >= h - BAND {
            out.extend_from_slice(&band);
        } else {
            out.extend_from_slice(&bars);
        }
    }
    out.resize(w * h * 3 / 2, 128);
    Some(out)
}

/// A `.y4m` file of 4:2:0 frames (`C420`, `C420jpeg`, `C420paldv`,
/// `C420mpeg2`, or no `C`).
struct Y4m {
    input: BufReader<File>,
    w: u32,
    h: u32,
    fps: u32,
}

impl Y4m {
    fn open(path: &std::path::Path) -> io::Result<Y4m> {
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let mut input = BufReader::new(File::open(path)?);
        let header = read_line(&mut input)?.ok_or_else(|| bad("empty file".into()))?;
        let mut fields = header.split(' ');
        if fields.next() != Some("YUV4MPEG2") {
            return Err(bad("not a YUV4MPEG2 file".into()));
        }
        let (mut w, mut h, mut fps) = (0u32, 0u32, 25u32);
        for f in fields {
            let (tag, v) = f.split_at(f.len().min(1));
            match tag {
                "W" => w = v.parse().map_err(|_| bad(format!("bad width '{v}'")))?,
                "H" => h = v.parse().map_err(|_| bad(format!("bad height '{v}'")))?,
                "F" => {
                    let (n, d) = v.split_once(':').ok_or_else(|| bad(format!("bad frame rate '{v}'")))?;
                    let (n, d): (u32, u32) = (n.parse().unwrap_or(0), d.parse().unwrap_or(0));
                    if n == 0 || d == 0 {
                        return Err(bad(format!("bad frame rate '{v}'")));
                    }
                    fps = n.div_ceil(d);
                }
                "C" if !v.starts_with("420") => return Err(bad(format!("colour space C{v}: only 4:2:0 is read"))),
                _ => {}
            }
        }
        if w == 0 || h == 0 || w % 2 == 1 || h % 2 == 1 || w > MAX_SIDE || h > MAX_SIDE {
            return Err(bad(format!("size {w}x{h}: even sides up to {MAX_SIDE} are read")));
        }
        Ok(Y4m { input, w, h, fps })
    }

    /// The next frame's I420 bytes; None at the end of the file.
    fn next_frame(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(line) = read_line(&mut self.input)? else { return Ok(None) };
        if !line.starts_with("FRAME") {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no FRAME marker"));
        }
        let mut frame = vec![0u8; self.w as usize * self.h as usize * 3 / 2];
        match self.input.read_exact(&mut frame) {
            Ok(()) => Ok(Some(frame)),
            // A frame cut short: the file ends there.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A header line (at most 1 KiB); None at the end of the input.
fn read_line(input: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = input.take(1024).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "header line too long or cut short"));
    }
    line.pop();
    String::from_utf8(line).map(Some).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "header not text"))
}

#[cfg(feature = "v4l2")]
mod v4l2 {
    //! V4L2 capture through `linuxvideo` (its streaming I/O, memory-mapped
    //! buffers), waiting on the device with mio so that a stop is seen
    //! within [`POLL`] even when the camera sends nothing.
    use std::os::fd::AsRawFd;
    use std::path::{Path, PathBuf};

    use crossbeam_channel::Receiver;
    use linuxvideo::format::{PixFormat, PixelFormat};
    use linuxvideo::{BufType, CapabilityFlags, Device, Fract};

    use super::{even_size, CaptureParams, POLL};
    use crate::codec::{to_i420, PixelFormat as Pix};

    const NV12: PixelFormat = PixelFormat::from_fourcc(*b"NV12");

    /// The capture devices: (name, path), in path order.
    pub fn list() -> Vec<(String, PathBuf)> {
        let Ok(devices) = linuxvideo::list() else { return Vec::new() };
        let mut out: Vec<(String, PathBuf)> = devices
            .filter_map(Result::ok)
            .filter_map(|d| {
                let caps = d.capabilities().ok()?;
                if !caps.device_capabilities().contains(CapabilityFlags::VIDEO_CAPTURE) {
                    return None;
                }
                let path = d.path().ok()?;
                Some((format!("{} ({})", caps.card(), path.display()), path))
            })
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    pub fn run(
        path: &Path,
        params: CaptureParams,
        stop: &Receiver<()>,
        on_frame: &mut dyn FnMut(u32, u32, u32, Vec<u8>),
    ) -> Result<(), String> {
        let err = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", path.display());
        let device = Device::open(path).map_err(|e| err("open", e))?;
        let formats: Vec<PixelFormat> =
            device.formats(BufType::VIDEO_CAPTURE).filter_map(Result::ok).map(|f| f.pixel_format()).collect();
        let Some(fourcc) = [PixelFormat::YUYV, NV12, PixelFormat::MJPG].into_iter().find(|f| formats.contains(f))
        else {
            return Err(format!("{}: none of YUYV, NV12, MJPEG offered ({formats:?})", path.display()));
        };
        let capture = device
            .video_capture(PixFormat::new(params.width, params.height, fourcc))
            .map_err(|e| err("set format", e))?;
        let fmt = capture.format();
        let (w, h, stride) = (fmt.width(), fmt.height(), fmt.bytes_per_line() as usize);
        let fourcc = fmt.pixel_format();
        let fps = match capture.set_frame_interval(Fract::new(1, params.fps.clamp(1, 60))) {
            Ok(f) if f.numerator() > 0 => (f.denominator() / f.numerator()).clamp(1, 60),
            _ => params.fps.clamp(1, 60),
        };
        let (ew, eh) = even_size(w, h).ok_or_else(|| format!("{}: size {w}x{h} not usable", path.display()))?;
        tracing::info!("camera {}: {w}x{h} {fourcc:?} at {fps} fps", path.display());
        let mut stream = capture.into_stream().map_err(|e| err("start streaming", e))?;
        let mut poll = mio::Poll::new().map_err(|e| err("poll", e))?;
        let fd = stream.as_raw_fd();
        poll.registry()
            .register(&mut mio::unix::SourceFd(&fd), mio::Token(0), mio::Interest::READABLE)
            .map_err(|e| err("poll", e))?;
        let mut events = mio::Events::with_capacity(4);
        loop {
            match stop.try_recv() {
                Err(crossbeam_channel::TryRecvError::Empty) => {}
                _ => return Ok(()),
            }
            poll.poll(&mut events, Some(POLL)).map_err(|e| err("poll", e))?;
            if events.is_empty() {
                continue;
            }
            // mio is edge-triggered: take every frame that is ready.
            loop {
                if stream.will_block().map_err(|e| err("query buffer", e))? {
                    break;
                }
                let picture = stream
                    .dequeue(|buf| {
                        if buf.is_error() {
                            return Ok(None);
                        }
                        Ok(convert(fourcc, w, h, stride, ew, eh, &buf))
                    })
                    .map_err(|e| err("read frame (unplugged?)", e))?;
                if let Some(i420) = picture {
                    on_frame(ew, eh, fps, i420);
                }
            }
        }
    }

    /// A captured buffer as I420 of `ew`×`eh` (the even part of `w`×`h`);
    /// None for a frame that does not decode (skipped).
    fn convert(fourcc: PixelFormat, w: u32, h: u32, stride: usize, ew: u32, eh: u32, data: &[u8]) -> Option<Vec<u8>> {
        if fourcc == PixelFormat::MJPG {
            let rgb = decode_mjpeg(data, w, h)?;
            let rgb = crop(&rgb, w as usize * 3, ew as usize * 3, eh as usize)?;
            return crate::codec::to_i420_with(crate::codec::RowOrder::TopDown, Pix::Rgb24, ew, eh, &rgb).ok();
        }
        if fourcc == PixelFormat::YUYV {
            let packed = crop(data, stride.max(w as usize * 2), ew as usize * 2, eh as usize)?;
            return to_i420(Pix::Yuy2, ew, eh, &packed).ok();
        }
        // NV12: the luma rows, then the interleaved chroma rows, each `stride` apart.
        let stride = stride.max(w as usize);
        let luma = crop(data, stride, ew as usize, eh as usize)?;
        let chroma = crop(data.get(stride * h as usize..)?, stride, ew as usize, eh as usize / 2)?;
        to_i420(Pix::Nv12, ew, eh, &[luma, chroma].concat()).ok()
    }

    /// `rows` rows of `len` bytes taken `stride` apart.
    fn crop(data: &[u8], stride: usize, len: usize, rows: usize) -> Option<Vec<u8>> {
        if stride == len {
            return data.get(..len * rows).map(<[u8]>::to_vec);
        }
        let mut out = Vec::with_capacity(len * rows);
        for r in 0..rows {
            out.extend_from_slice(data.get(r * stride..r * stride + len)?);
        }
        Some(out)
    }

    /// An MJPEG frame as top-down RGB24 of `w`×`h` (None if it does not
    /// decode or has another size).
    fn decode_mjpeg(data: &[u8], w: u32, h: u32) -> Option<Vec<u8>> {
        use zune_jpeg::zune_core::bytestream::ZCursor;
        use zune_jpeg::zune_core::colorspace::ColorSpace;
        use zune_jpeg::zune_core::options::DecoderOptions;
        let options = DecoderOptions::default()
            .jpeg_set_out_colorspace(ColorSpace::RGB)
            .set_max_width(super::MAX_SIDE as usize)
            .set_max_height(super::MAX_SIDE as usize);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
        let rgb = decoder.decode().ok()?;
        let (dw, dh) = decoder.dimensions()?;
        (dw == w as usize && dh == h as usize && rgb.len() == dw * dh * 3).then_some(rgb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::patterns::pattern_frame_number;
    use crate::codec::PixelFormat;

    #[test]
    fn pattern_carries_its_number_and_a_white_top() {
        for n in [0u32, 1, 77, 65535, 65536 + 5] {
            let f = fake_pattern_i420(320, 240, n).unwrap();
            assert_eq!(f.len(), 320 * 240 * 3 / 2);
            assert_eq!(pattern_frame_number(PixelFormat::Yuv420p, 320, 240, &f).unwrap(), n % 65536);
            assert!(f[..320 * 60].iter().all(|&y| y == 235), "top quarter white");
            assert!(f[320 * 100..320 * 101].iter().all(|&y| y <= 200), "bars below");
        }
        assert!(fake_pattern_i420(16, 16, 0).is_none());
    }

    fn temp_y4m(name: &str, body: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("anychat-{}-{name}.y4m", std::process::id()));
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn y4m_frames_then_end() {
        let (w, h) = (64usize, 48usize);
        let mut body = b"YUV4MPEG2 W64 H48 F30:1 Ip A1:1 C420jpeg\n".to_vec();
        for n in 0..3u32 {
            body.extend_from_slice(b"FRAME\n");
            body.extend_from_slice(&fake_pattern_i420(64, 48, n).unwrap());
        }
        let p = temp_y4m("ok", &body);
        let mut y = Y4m::open(&p).unwrap();
        assert_eq!((y.w, y.h, y.fps), (64, 48, 30));
        for n in 0..3 {
            let f = y.next_frame().unwrap().unwrap();
            assert_eq!(f.len(), w * h * 3 / 2);
            assert_eq!(pattern_frame_number(PixelFormat::Yuv420p, 64, 48, &f).unwrap(), n);
        }
        assert!(y.next_frame().unwrap().is_none());
        std::fs::remove_file(&p).ok();
    }

    #[test]
    fn y4m_refuses_bad_headers() {
        for (name, header) in [
            ("magic", &b"YUV4MPEG W64 H48 F30:1\n"[..]),
            ("odd", b"YUV4MPEG2 W63 H48 F30:1\n"),
            ("huge", b"YUV4MPEG2 W64000 H48 F30:1\n"),
            ("c444", b"YUV4MPEG2 W64 H48 F30:1 C444\n"),
            ("rate", b"YUV4MPEG2 W64 H48 F30:0\n"),
            ("empty", b""),
        ] {
            let p = temp_y4m(name, header);
            assert!(Y4m::open(&p).is_err(), "{name}");
            std::fs::remove_file(&p).ok();
        }
    }

    #[test]
    fn capture_of_an_unknown_camera_is_refused() {
        let r =
            Capture::start(Some("no such camera"), CaptureParams { width: 64, height: 48, fps: 10 }, |_| {}, |_| {});
        assert!(r.is_err());
    }
}
