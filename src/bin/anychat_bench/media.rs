//! Media mode's parts that do not touch sockets: the plan of a run, the
//! synthetic frames and their stamps, per-stream sequence tracking and the
//! result.
//!
//! Every frame's payload starts with 16 bytes: the send time (`u64`
//! big-endian nanoseconds of [`now_ns`], a monotonic clock shared by the
//! whole process, written just before the frame's bytes are handed to
//! `write`) and the frame's sequence number in its stream (`u64`). The rest
//! is noise: the server never decodes.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anychat::wire::constants::BRAC_PIX_FMT_H264;
use anychat::wire::protocol::{MediaHeader, CODEC_OPUS, MEDIA_AUDIO, MEDIA_VIDEO};
use serde_json::{json, Value};

use super::stats::{round3, Histogram, StepResult};

/// Bytes of the stamp at the start of every payload.
pub const STAMP_LEN: usize = 16;
/// Video frames are announced as 640x480.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 480;
/// 20 ms of 16 kHz mono 16-bit PCM.
pub const AUDIO_BYTES: usize = 640;
pub const AUDIO_PER_SECOND: f64 = 50.0;
pub const AUDIO_RATE: u32 = 16_000;
/// Codec id 0: PCM; channels << 16 | bits per sample.
pub const AUDIO_FORMAT: u32 = 1 << 16 | 16;
/// Bytes of noise frames are cut from (frames start at varying offsets).
const NOISE_LEN: usize = 1 << 20;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the process's media epoch (the same clock for senders
/// and receivers on every thread).
pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// What the workers are told to do in media mode.
#[derive(Debug, Clone, Copy)]
pub struct MediaPlan {
    /// How long frames are sent, from the command's arrival.
    pub seconds: Duration,
    pub fps: f64,
    /// Mean bytes of a video frame's payload.
    pub frame_bytes: usize,
    /// A key frame every this many video frames (and on NeedKeyFrame).
    pub key_every: u64,
    pub audio: bool,
    /// Opus audio (`--audio-codec opus`): the sizes of real Opus packets,
    /// sent in turn in place of 640-byte PCM frames. None: PCM.
    pub opus_sizes: Option<&'static [u16]>,
    /// After the sending stops: how long frames still in flight are awaited.
    pub drain: Duration,
    /// Time for a call to start (both STARTs) and, at the end, to finish.
    pub call_timeout: Duration,
}

impl MediaPlan {
    /// Header and payload size of audio frame number `seq`.
    pub fn audio_frame(&self, seq: u64, timestamp_ms: u32) -> (MediaHeader, usize) {
        match self.opus_sizes.filter(|s| !s.is_empty()) {
            Some(sizes) => (
                MediaHeader { codec: CODEC_OPUS, ..audio_header(timestamp_ms) },
                usize::from(sizes[(seq % sizes.len() as u64) as usize]).max(STAMP_LEN),
            ),
            None => (audio_header(timestamp_ms), AUDIO_BYTES),
        }
    }

    pub fn video_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.fps)
    }

    pub fn audio_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / AUDIO_PER_SECOND)
    }

    /// Payload size of video frame number `seq`: the mean ±10%, varying
    /// from frame to frame (never below the stamp).
    pub fn video_bytes(&self, seq: u64, salt: u64) -> usize {
        let jitter = mix(seq ^ salt.rotate_left(32)) % 2001; // 0..=2000 -> -10%..+10%
        let n = self.frame_bytes as f64 * (0.9 + jitter as f64 / 10_000.0);
        (n.round() as usize).clamp(STAMP_LEN, anychat::wire::protocol::MAX_MEDIA_LEN)
    }
}

/// SplitMix64 finaliser: cheap pseudo-random numbers from a counter.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A buffer of random bytes that synthetic frames are cut from.
pub struct Noise(Vec<u8>);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        let mut v = Vec::with_capacity(NOISE_LEN + 8);
        let mut i = seed;
        while v.len() < NOISE_LEN {
            i = i.wrapping_add(1);
            v.extend_from_slice(&mix(i).to_le_bytes());
        }
        Noise(v)
    }

    /// `len` bytes of noise starting at a place chosen by `pick`, stamped
    /// with `seq` (the send time is written later, see [`stamp_time`]).
    pub fn payload(&self, len: usize, pick: u64, seq: u64) -> Vec<u8> {
        let len = len.max(STAMP_LEN);
        let mut data = Vec::with_capacity(len);
        let mut at = (mix(pick) as usize) % NOISE_LEN;
        while data.len() < len {
            let n = (len - data.len()).min(NOISE_LEN - at);
            data.extend_from_slice(&self.0[at..at + n]);
            at = 0;
        }
        data[..8].fill(0);
        data[8..16].copy_from_slice(&seq.to_be_bytes());
        data
    }
}

/// Writes the send time into the stamp of a payload that starts at `at` in `buf`.
pub fn stamp_time(buf: &mut [u8], at: usize, ns: u64) {
    buf[at..at + 8].copy_from_slice(&ns.to_be_bytes());
}

/// The send time and sequence number of a received payload.
pub fn read_stamp(data: &[u8]) -> Option<(u64, u64)> {
    let t = u64::from_be_bytes(data.get(..8)?.try_into().ok()?);
    let s = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
    Some((t, s))
}

pub fn video_header(key: bool, timestamp_ms: u32) -> MediaHeader {
    MediaHeader { kind: MEDIA_VIDEO, key, codec: BRAC_PIX_FMT_H264, timestamp: timestamp_ms, a: WIDTH, b: HEIGHT }
}

pub fn audio_header(timestamp_ms: u32) -> MediaHeader {
    MediaHeader { kind: MEDIA_AUDIO, key: true, codec: 0, timestamp: timestamp_ms, a: AUDIO_RATE, b: AUDIO_FORMAT }
}

/// What one receiver has seen of one stream (its peer's video or audio).
#[derive(Debug, Clone, Copy, Default)]
pub struct RxStream {
    /// Sequence number of the first frame received (frames before it were
    /// sent before the subscription took effect: not counted as lost).
    pub first: Option<u64>,
    /// The sequence number expected next.
    pub next: u64,
    pub received: u64,
    /// Frames missing between frames received.
    pub gaps: u64,
    pub out_of_order: u64,
}

impl RxStream {
    /// Takes frame `seq`; returns how many frames were skipped before it.
    pub fn on_seq(&mut self, seq: u64) -> u64 {
        self.received += 1;
        if self.first.is_none() {
            self.first = Some(seq);
            self.next = seq + 1;
            return 0;
        }
        if seq < self.next {
            self.out_of_order += 1;
            return 0;
        }
        let lost = seq - self.next;
        self.gaps += lost;
        self.next = seq + 1;
        lost
    }
}

/// One connection's media: what it sends and what it receives from its peer.
#[derive(Debug, Default)]
pub struct Side {
    pub streaming: bool,
    /// When the stream started (header timestamps count from here).
    pub since: Option<Instant>,
    /// Frames sent so far (= the next sequence number).
    pub video_sent: u64,
    pub audio_sent: u64,
    /// Frames since the last key frame; a key frame is due at `key_every`.
    pub since_key: u64,
    /// The server asked for a key frame (NeedKeyFrame).
    pub key_pending: bool,
    /// Payload offsets in the connection's output whose send time is still
    /// to be written, with the time each frame was due.
    pub stamps: Vec<(usize, Instant)>,
    /// `[video, audio]` received from the peer.
    pub rx: [RxStream; 2],
}

/// Totals of one kind of stream (video or audio) over a run.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    /// Streams (one direction of one call) that sent frames.
    pub streams: u64,
    pub sent: u64,
    pub key_sent: u64,
    pub received: u64,
    /// Frames lost: gaps between frames received, and frames sent after the
    /// last one received (both counted per stream once the run has drained).
    pub dropped: u64,
    pub out_of_order: u64,
    /// Frames sent before the first one received of their stream.
    pub before_first: u64,
    /// Streams of which nothing was received.
    pub silent: u64,
    /// Frames that the sender skipped because its own output was backed up.
    pub skipped_by_sender: u64,
    /// Bytes of the messages sent (framing and media header included).
    pub wire_bytes_sent: u64,
    /// Send time → receive time of every frame received, ns.
    pub latency: Histogram,
}

impl StreamStats {
    pub fn merge(&mut self, o: &StreamStats) {
        self.streams += o.streams;
        self.sent += o.sent;
        self.key_sent += o.key_sent;
        self.received += o.received;
        self.dropped += o.dropped;
        self.out_of_order += o.out_of_order;
        self.before_first += o.before_first;
        self.silent += o.silent;
        self.skipped_by_sender += o.skipped_by_sender;
        self.wire_bytes_sent += o.wire_bytes_sent;
        self.latency.merge(&o.latency);
    }

    /// Accounts for a stream at the end: `sent` frames by the sender, `rx` at the receiver.
    pub fn close_stream(&mut self, sent: u64, rx: &RxStream) {
        if sent == 0 {
            return;
        }
        self.streams += 1;
        match rx.first {
            Some(first) => {
                self.before_first += first;
                self.dropped += rx.gaps + sent.saturating_sub(rx.next);
            }
            None => {
                self.silent += 1;
                self.before_first += sent;
            }
        }
        self.out_of_order += rx.out_of_order;
    }

    pub fn to_json(&self, seconds: f64, need_key: Option<u64>) -> Value {
        let mut v = json!({
            "streams": self.streams,
            "sent": self.sent,
            "key_sent": self.key_sent,
            "received": self.received,
            "offered_per_s": round3(self.sent as f64 / seconds),
            "relayed_per_s": round3(self.received as f64 / seconds),
            "dropped": self.dropped,
            "out_of_order": self.out_of_order,
            "before_first_received": self.before_first,
            "silent_streams": self.silent,
            "skipped_by_sender": self.skipped_by_sender,
            "wire_bytes_sent": self.wire_bytes_sent,
            "wire_bytes_per_frame": round3(self.wire_bytes_sent as f64 / self.sent.max(1) as f64),
            "latency_ms": self.latency.percentiles().to_json(),
        });
        if let Some(n) = need_key {
            v["need_key_frame"] = json!(n);
        }
        v
    }
}

/// What one worker (or all, merged) measured in a media run.
#[derive(Debug, Clone, Default)]
pub struct MediaResult {
    /// The calls: offered = pairs that tried, completed = started and
    /// finished cleanly, latencies = setup (Request → caller's START).
    pub calls: StepResult,
    /// Calls in which both parties got START.
    pub up: u64,
    pub video: StreamStats,
    pub audio: StreamStats,
    pub need_key: u64,
    /// Frame due → written (how late the load generator sent), ns.
    pub send_lag: Histogram,
    /// Writes that left bytes in the load generator's output (socket full).
    pub send_backlog: u64,
}

impl MediaResult {
    pub fn merge(&mut self, o: MediaResult) {
        self.calls.merge(o.calls);
        self.up += o.up;
        self.video.merge(&o.video);
        self.audio.merge(&o.audio);
        self.need_key += o.need_key;
        self.send_lag.merge(&o.send_lag);
        self.send_backlog += o.send_backlog;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anychat::wire::protocol::{split_frame, ClientMsg, ServerMsg};

    #[test]
    fn sequence_gaps_and_tail() {
        let mut rx = RxStream::default();
        assert_eq!(rx.on_seq(3), 0, "frames before the first are not losses");
        assert_eq!(rx.on_seq(4), 0);
        assert_eq!(rx.on_seq(7), 2);
        assert_eq!(rx.on_seq(5), 0);
        assert_eq!((rx.received, rx.gaps, rx.out_of_order, rx.next), (4, 2, 1, 8));
        let mut s = StreamStats::default();
        s.close_stream(10, &rx);
        assert_eq!((s.streams, s.before_first, s.dropped, s.out_of_order), (1, 3, 2 + 2, 1));
        s.close_stream(5, &RxStream::default());
        assert_eq!((s.streams, s.silent, s.before_first), (2, 1, 8));
    }

    #[test]
    fn stamps_survive_the_wire() {
        let noise = Noise::new(1);
        let data = noise.payload(6000, 42, 17);
        assert_eq!(data.len(), 6000);
        let mut out = Vec::new();
        ClientMsg::Media { header: video_header(true, 0), data: data.clone() }.encode(&mut out);
        // The payload is the last field: its offset is known after encoding.
        let at = out.len() - data.len();
        stamp_time(&mut out, at, 123_456_789);
        let (body, used) = split_frame(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        let ClientMsg::Media { header, data } = ClientMsg::decode(body).unwrap() else { panic!("not media") };
        assert_eq!((header.kind, header.key, header.codec, header.a, header.b), (MEDIA_VIDEO, true, 201, 640, 480));
        assert_eq!(read_stamp(&data), Some((123_456_789, 17)));
        // And as the server relays it.
        let mut relayed = Vec::new();
        ServerMsg::Media { from: 5, header, data }.encode(&mut relayed);
        let (body, _) = split_frame(&relayed).unwrap().unwrap();
        let ServerMsg::Media { data, .. } = ServerMsg::decode(body).unwrap() else { panic!("not media") };
        assert_eq!(read_stamp(&data), Some((123_456_789, 17)));
    }

    #[test]
    fn frame_sizes_stay_near_the_mean() {
        let plan = MediaPlan {
            seconds: Duration::from_secs(1),
            fps: 15.0,
            frame_bytes: 6000,
            key_every: 30,
            audio: false,
            opus_sizes: None,
            drain: Duration::from_secs(1),
            call_timeout: Duration::from_secs(1),
        };
        let sizes: Vec<usize> = (0..1000).map(|s| plan.video_bytes(s, 9)).collect();
        assert!(sizes.iter().all(|&n| (5400..=6600).contains(&n)));
        let mean = sizes.iter().sum::<usize>() as f64 / 1000.0;
        assert!((mean - 6000.0).abs() < 60.0, "mean {mean}");
        assert!(now_ns() <= now_ns());
    }
}
