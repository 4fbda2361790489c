//! One framed connection on a [`Stream`] (plain or TLS): the reassembly of
//! the frames received, and the bounded writer that sends signalling before
//! media. The core server's connections and the libraries' link are this
//! type; what differs between them (budgets, what a frame means) is the
//! caller's.
//!
//! Reading: [`Framed::read_frames`] hands complete frame bodies to the
//! caller, decoded straight from the caller's scratch buffer when nothing is
//! buffered (only an incomplete tail, or frames the caller did not take, are
//! copied into the connection's own buffer). A length prefix out of range —
//! above the caller's current limit — is an error as soon as it is read.
//!
//! Writing: ciphertext already made (TLS) goes first, then a media frame
//! half written (frames are never cut), then signalling, then queued media.
//! [`Framed::update_interest`] keeps WRITABLE interest only while something
//! is left to write.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::{Interest, Registry, Token};

use crate::net::media_queue::MediaQueue;
use crate::net::tls::Stream;
pub use crate::wire::protocol::Take;
use crate::wire::protocol::{take_frames, DecodeError, MediaOut};

/// An input buffer larger than this is freed when it empties.
const KEEP_INPUT: usize = 16 * 1024;
/// An output buffer larger than this is freed when it empties.
const KEEP_OUTPUT: usize = 16 * 1024;

/// Why [`Framed::read_frames`] returned, and how many bytes it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    pub end: ReadEnd,
    pub bytes: usize,
}

/// Why [`Framed::read_frames`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// The socket said it has nothing more: the next data brings an event.
    Drained,
    /// The byte budget is spent: there may be more to read.
    Budget,
    /// The caller stopped taking frames.
    Stopped,
    /// The peer closed the connection (its complete frames were handed over).
    Closed,
}

/// A failed read.
#[derive(Debug)]
pub enum ReadError {
    /// A frame that does not decode, or is too long.
    Frame(DecodeError),
    /// A TLS failure (bad certificate, garbage instead of TLS…).
    Tls(io::Error),
    /// A socket error.
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Frame(e) => write!(f, "bad frame: {e}"),
            ReadError::Tls(e) => write!(f, "TLS error: {e}"),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A framed connection: see the module documentation.
#[derive(Debug)]
pub struct Framed {
    pub stream: Stream,
    /// Received bytes not handed over yet.
    input: Vec<u8>,
    /// Encoded frames not yet written; `out[written..]` is pending.
    out: Vec<u8>,
    written: usize,
    /// Media frames, written after `out`.
    media: MediaQueue,
    /// WRITABLE interest is registered.
    writable: bool,
}

impl Framed {
    /// A connection whose media queue holds at most `max_media` bytes.
    /// `writable`: WRITABLE interest is registered already (a connect).
    pub fn new(stream: Stream, max_media: usize, writable: bool) -> Framed {
        Framed { stream, input: Vec::new(), out: Vec::new(), written: 0, media: MediaQueue::new(max_media), writable }
    }

    // ----- reading ------------------------------------------------------------

    /// Reads up to `budget` bytes (more only within one `read`), handing
    /// every complete frame body to `on_frame` while it takes them.
    /// `read_closed`: the poll said the peer closed (read to the end even
    /// after a short read); `limit`: the longest frame accepted now (asked
    /// before each frame, as it may change with what the frames do).
    pub fn read_frames(
        &mut self,
        scratch: &mut [u8],
        budget: usize,
        read_closed: bool,
        limit: impl Fn() -> usize,
        mut on_frame: impl FnMut(&[u8]) -> Result<Take, DecodeError>,
    ) -> Result<ReadOutcome, ReadError> {
        let mut read = 0;
        let done = |end, bytes| Ok(ReadOutcome { end, bytes });
        loop {
            if !self.input.is_empty() && self.take_buffered(&limit, &mut on_frame)? == Take::Stop {
                return done(ReadEnd::Stopped, read);
            }
            if read >= budget {
                return done(ReadEnd::Budget, read);
            }
            let n = match self.stream.read(scratch) {
                Ok(0) => return done(ReadEnd::Closed, read),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return done(ReadEnd::Drained, read),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::InvalidData && self.stream.is_tls() => {
                    return Err(ReadError::Tls(e))
                }
                Err(e) => return Err(ReadError::Io(e)),
            };
            read += n;
            // A short read emptied the socket: unless the peer's FIN (or a
            // TLS close) came with it, the next data brings a new
            // (edge-triggered) event, and the read that would only say
            // `WouldBlock` is saved.
            let drained = n < scratch.len() && !read_closed && !self.stream.more_to_read();
            if self.input.is_empty() {
                let (used, took) = take_frames(&scratch[..n], &limit, &mut on_frame).map_err(ReadError::Frame)?;
                self.input.extend_from_slice(&scratch[used..n]);
                if took == Take::Stop {
                    return done(ReadEnd::Stopped, read);
                }
                if drained {
                    return done(ReadEnd::Drained, read);
                }
            } else {
                self.input.extend_from_slice(&scratch[..n]);
                if drained {
                    return match self.take_buffered(&limit, &mut on_frame)? {
                        Take::Stop => done(ReadEnd::Stopped, read),
                        Take::Taken => done(ReadEnd::Drained, read),
                    };
                }
            }
        }
    }

    /// Hands over the complete frames of `input`.
    fn take_buffered(
        &mut self,
        limit: &impl Fn() -> usize,
        on_frame: &mut impl FnMut(&[u8]) -> Result<Take, DecodeError>,
    ) -> Result<Take, ReadError> {
        let (used, took) = take_frames(&self.input, limit, |b| on_frame(b)).map_err(ReadError::Frame)?;
        self.input.drain(..used);
        if self.input.is_empty() && self.input.capacity() > KEEP_INPUT {
            self.input = Vec::new();
        }
        Ok(took)
    }

    // ----- writing ------------------------------------------------------------

    /// The signalling buffer, to encode messages into.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Queues a media frame (see [`MediaQueue::push`]).
    pub fn push_media(&mut self, frame: Arc<MediaOut>, dropped: &mut Vec<u32>) {
        self.media.push(frame, dropped);
    }

    /// Media frames and bytes queued, not written yet (for counting drops).
    pub fn media_backlog(&self) -> (usize, usize) {
        (self.media.queued_frames(), self.media.pending_bytes())
    }

    /// Signalling bytes not written yet.
    pub fn pending(&self) -> usize {
        self.out.len() - self.written
    }

    /// All bytes not written yet (signalling and media).
    pub fn pending_bytes(&self) -> usize {
        self.pending() + self.media.pending_bytes()
    }

    /// Whether anything is left to write (ours, the media queue's, TLS's).
    pub fn has_output(&self) -> bool {
        self.pending() > 0 || !self.media.is_empty() || self.stream.wants_write()
    }

    /// Writes until the socket would block: TLS first, a media frame half
    /// written, signalling, then (with `media`) queued media frames.
    pub fn flush(&mut self, media: bool) -> io::Result<()> {
        self.stream.write_pending()?;
        if self.media.in_flight() {
            self.media.write_to(&mut self.stream, true)?;
        }
        while !self.media.in_flight() && self.pending() > 0 {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.pending() == 0 {
            self.written = 0;
            if self.out.capacity() > KEEP_OUTPUT {
                self.out = Vec::new();
            } else {
                self.out.clear();
            }
            if media {
                self.media.write_to(&mut self.stream, false)?;
            }
        }
        Ok(())
    }

    /// Registers WRITABLE interest exactly while something is left to write.
    pub fn update_interest(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let want = self.has_output();
        if want != self.writable {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            registry.reregister(&mut self.stream, token, interest)?;
            self.writable = want;
        }
        Ok(())
    }

    /// Forgets what was written of a connect attempt that failed, and
    /// starts again with `first` (the next attempt's first bytes).
    pub fn restart(&mut self, stream: Stream, first: &[u8]) {
        self.stream = stream;
        self.input.clear();
        self.out.clear();
        self.out.extend_from_slice(first);
        self.written = 0;
        self.writable = true;
    }
}
