//! A receiver's bounded queue of media frames, kept apart from its
//! signalling so that media never delays signalling.
//!
//! Rules:
//! - whole frames only: a frame being written is finished, never cut;
//! - the first video frame queued, when it is a key frame (the next video
//!   to be written), is never dropped and does not count against the
//!   budget, so that a key frame larger than the budget (up to the
//!   protocol's limit) still goes out and video resumes;
//! - when the queue is over its byte budget, video goes first, starting
//!   with the sender of the oldest video frame: if that sender has a later
//!   key frame queued, its frames before that key frame go (decoding
//!   restarts there, nothing else is lost); otherwise all its queued video
//!   frames go, and its later video frames are skipped until a key frame
//!   arrives (the next video a receiver gets after a loss is a key frame);
//! - audio is dropped only when no video is left to drop, oldest first.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::Arc;

use crate::wire::protocol::MediaOut;

#[derive(Debug)]
pub struct MediaQueue {
    frames: VecDeque<Arc<MediaOut>>,
    /// Bytes of `frames` (not counting the frame being written).
    bytes: usize,
    /// The frame being written and how much of it is written.
    partial: Option<(Arc<MediaOut>, usize)>,
    /// Senders whose video is skipped until their next key frame.
    gaps: Vec<u32>,
    max_bytes: usize,
}

impl MediaQueue {
    pub fn new(max_bytes: usize) -> Self {
        MediaQueue { frames: VecDeque::new(), bytes: 0, partial: None, gaps: Vec::new(), max_bytes }
    }

    /// Nothing queued and nothing being written.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.partial.is_none()
    }

    /// A frame is half written: it must be finished before anything else.
    pub fn in_flight(&self) -> bool {
        self.partial.is_some()
    }

    /// Frames waiting (not counting the frame being written).
    pub fn queued_frames(&self) -> usize {
        self.frames.len()
    }

    /// Bytes waiting (the frame being written included).
    pub fn pending_bytes(&self) -> usize {
        self.bytes + self.partial.as_ref().map_or(0, |(f, at)| f.bytes.len() - at)
    }

    /// Queues a frame; senders whose video had to be dropped (and who
    /// should send a key frame) are appended to `dropped` (each at most once
    /// per call).
    pub fn push(&mut self, frame: Arc<MediaOut>, dropped: &mut Vec<u32>) {
        if frame.video {
            if let Some(i) = self.gaps.iter().position(|s| *s == frame.from) {
                if !frame.key {
                    return;
                }
                self.gaps.swap_remove(i);
            }
        }
        self.bytes += frame.bytes.len();
        self.frames.push_back(frame);
        while self.counted() > self.max_bytes {
            // The first video frame, a key frame, is the next video to go out: it stays.
            let kept = self.kept_key();
            let video = |i: usize, f: &MediaOut| f.video && Some(i) != kept;
            if let Some(i) = (0..self.frames.len()).find(|&i| video(i, &self.frames[i])) {
                let from = self.frames[i].from;
                let restart = (i + 1..self.frames.len()).rev().find(|&j| {
                    let f = &self.frames[j];
                    f.video && f.key && f.from == from
                });
                match restart {
                    // Decoding restarts at that key frame: nothing is lost for good.
                    Some(j) => self.drop_where(|at, f| at < j && video(at, f) && f.from == from),
                    None => {
                        self.drop_where(|at, f| video(at, f) && f.from == from);
                        self.gaps.push(from);
                        if !dropped.contains(&from) {
                            dropped.push(from);
                        }
                    }
                }
            } else if let Some(i) = self.frames.iter().position(|f| !f.video) {
                if let Some(f) = self.frames.remove(i) {
                    self.bytes -= f.bytes.len();
                }
            } else {
                break;
            }
        }
    }

    /// The index of the first video frame queued, if it is a key frame.
    fn kept_key(&self) -> Option<usize> {
        self.frames.iter().position(|f| f.video).filter(|&i| self.frames[i].key)
    }

    /// Bytes counted against the budget: all queued but [`Self::kept_key`]'s.
    fn counted(&self) -> usize {
        self.bytes - self.kept_key().map_or(0, |i| self.frames[i].bytes.len())
    }

    /// Drops the frames `pred(index, frame)` picks.
    fn drop_where(&mut self, pred: impl Fn(usize, &MediaOut) -> bool) {
        let mut kept = VecDeque::with_capacity(self.frames.len());
        for (at, f) in self.frames.drain(..).enumerate() {
            if pred(at, &f) {
                self.bytes -= f.bytes.len();
            } else {
                kept.push_back(f);
            }
        }
        self.frames = kept;
    }

    /// Writes the frame in flight, if any, then (unless `only_in_flight`)
    /// queued frames, until the writer would block. `Ok(())` on would-block.
    pub fn write_to(&mut self, w: &mut impl Write, only_in_flight: bool) -> io::Result<()> {
        loop {
            if self.partial.is_none() {
                if only_in_flight {
                    return Ok(());
                }
                let Some(f) = self.frames.pop_front() else { return Ok(()) };
                self.bytes -= f.bytes.len();
                self.partial = Some((f, 0));
            }
            let Some((frame, at)) = self.partial.as_mut() else { return Ok(()) };
            while *at < frame.bytes.len() {
                match w.write(&frame.bytes[*at..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => *at += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.partial = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(from: u32, video: bool, key: bool, len: usize) -> Arc<MediaOut> {
        Arc::new(MediaOut { bytes: vec![from as u8; len], from, video, key })
    }

    /// A writer that takes at most `room` bytes, then would block.
    struct Pipe {
        got: Vec<u8>,
        room: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn over_budget_drops_video_first_then_waits_for_a_key_frame() {
        let mut q = MediaQueue::new(1000);
        let mut dropped = Vec::new();
        q.push(frame(1, true, false, 400), &mut dropped);
        q.push(frame(2, false, true, 100), &mut dropped);
        q.push(frame(1, true, false, 400), &mut dropped);
        assert!(dropped.is_empty());
        // Over budget: sender 1's video goes, audio stays.
        q.push(frame(1, true, false, 400), &mut dropped);
        assert_eq!(dropped, vec![1]);
        assert_eq!(q.pending_bytes(), 100);
        // Later delta frames of sender 1 are skipped until its key frame.
        dropped.clear();
        q.push(frame(1, true, false, 10), &mut dropped);
        assert_eq!(q.pending_bytes(), 100);
        q.push(frame(1, true, true, 50), &mut dropped);
        assert_eq!(q.pending_bytes(), 150);
        let mut pipe = Pipe { got: Vec::new(), room: usize::MAX };
        q.write_to(&mut pipe, false).unwrap();
        assert_eq!(pipe.got.len(), 150);
        assert!(q.is_empty());
    }

    #[test]
    fn a_key_frame_larger_than_the_budget_passes_whole_with_what_follows() {
        let mut q = MediaQueue::new(1000);
        let mut dropped = Vec::new();
        q.push(frame(1, true, false, 600), &mut dropped);
        q.push(frame(2, false, true, 100), &mut dropped);
        // Sender 1's key frame of 5,000 bytes: its older video goes (decoding
        // restarts at the key frame: no key frame asked for), audio stays.
        q.push(frame(1, true, true, 5000), &mut dropped);
        assert!(dropped.is_empty());
        assert_eq!(q.pending_bytes(), 5100);
        // Delta frames after it fit the budget: the head key frame is not counted.
        for _ in 0..5 {
            q.push(frame(1, true, false, 150), &mut dropped);
        }
        assert!(dropped.is_empty());
        assert_eq!(q.pending_bytes(), 5850);
        let mut pipe = Pipe { got: Vec::new(), room: usize::MAX };
        q.write_to(&mut pipe, false).unwrap();
        assert_eq!(pipe.got.len(), 5850);
        // A lone huge key frame from another sender passes too.
        let mut q = MediaQueue::new(1000);
        q.push(frame(3, true, true, 900_000), &mut dropped);
        q.push(frame(3, true, false, 500), &mut dropped);
        assert!(dropped.is_empty());
        assert_eq!(q.pending_bytes(), 900_500);
    }

    #[test]
    fn older_frames_of_a_sender_go_before_its_newer_key_frame() {
        let mut q = MediaQueue::new(1000);
        let mut dropped = Vec::new();
        q.push(frame(1, true, false, 400), &mut dropped);
        q.push(frame(2, true, false, 300), &mut dropped);
        q.push(frame(1, true, false, 200), &mut dropped);
        q.push(frame(1, true, true, 300), &mut dropped);
        // Over: sender 1's frames before its key frame go; sender 2 stays.
        assert!(dropped.is_empty());
        assert_eq!(q.pending_bytes(), 600);
        let mut pipe = Pipe { got: Vec::new(), room: usize::MAX };
        q.write_to(&mut pipe, false).unwrap();
        let mut want = vec![2u8; 300];
        want.extend(vec![1u8; 300]);
        assert_eq!(pipe.got, want);
    }

    #[test]
    fn audio_goes_only_when_no_video_is_left() {
        let mut q = MediaQueue::new(250);
        let mut dropped = Vec::new();
        for _ in 0..5 {
            q.push(frame(3, false, true, 100), &mut dropped);
        }
        assert!(dropped.is_empty(), "audio drops are not reported as video losses");
        assert_eq!(q.pending_bytes(), 200, "oldest audio dropped to fit");
    }

    #[test]
    fn a_frame_in_flight_is_finished_never_cut() {
        let mut q = MediaQueue::new(10_000);
        let mut dropped = Vec::new();
        q.push(frame(1, true, true, 300), &mut dropped);
        q.push(frame(2, true, true, 300), &mut dropped);
        let mut pipe = Pipe { got: Vec::new(), room: 120 };
        q.write_to(&mut pipe, false).unwrap();
        assert!(q.in_flight());
        // Even over budget, the frame in flight stays whole.
        let mut small = MediaQueue { max_bytes: 0, ..q };
        small.push(frame(1, true, false, 10), &mut dropped);
        pipe.room = usize::MAX;
        small.write_to(&mut pipe, true).unwrap();
        assert!(!small.in_flight());
        assert_eq!(pipe.got, vec![1u8; 300], "exactly the first frame, whole");
    }
}
