//! The client library's threads: the network thread (`anychat-net`), which
//! drives the [`Engine`] with a mio loop, and the callback thread
//! (`anychat-cb`), which calls the app.
//!
//! The network thread moves bytes and time and nothing else: it reads the
//! socket ([`Link`]) and feeds what came to the engine with `now`, carries
//! out what the engine asks ([`Output`]: open or close the link, queue a
//! message, resolve a name on a helper thread, decode a frame, hand an event
//! to the callback thread), flushes the link, and sleeps until the socket,
//! a command or the engine's next deadline wakes it. The shared [`State`] is
//! locked only around each engine call: never across a decode, a socket
//! call or a callback.
//!
//! Both threads catch panics. A panic on the network thread drops the link
//! and reports it to the app as lost (`WM_GV_LINKCLOSE(101)`); the thread
//! goes on, so the app may connect again (after [`MAX_PANICS`] panics
//! within a minute it gives up, and `BRAC_Connect` returns
//! `GV_ERR_NOTINIT`). A panic in a callback is reported the same way (the
//! network thread is told), and the callback thread goes on with the next
//! event.
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Poll, Token};
use parking_lot::{Condvar, Mutex};

use super::engine::{Command, Engine, Event, LinkLoss, Output};
use super::state::{LinkState, ServerAddr, State};
use crate::net::link::{panic_message, Link, LinkError, LinkTls, Mailbox, NetThread, TlsEnv, MAX_PANICS};
use crate::net::tls::TlsError;
use crate::wire::constants::*;
use crate::wire::protocol::{ClientMsg, MediaHeader};

const WAKER: Token = Token(0);
const SOCKET: Token = Token(1);
/// Decoded video frames waiting for a slow video callback before the oldest
/// are dropped.
pub const MAX_PENDING_VIDEO: usize = 4;
/// Bytes of text, buffers and audio waiting for a slow callback before new
/// ones are dropped (signalling events are never dropped).
pub const MAX_PENDING_DATA: usize = 16 * 1024 * 1024;
/// Bytes of text, buffers and media accepted from the app and not yet
/// written to the server before the API refuses more.
pub const MAX_UPLINK: usize = 4 * 1024 * 1024;

/// Receives events on the callback thread.
pub type EventSink = Box<dyn Fn(Event) + Send + 'static>;

/// What reaches the network thread.
#[derive(Debug)]
pub(crate) enum ToNet {
    /// `BRAC_Connect`, with the `ANYCHAT_TLS*` settings read on the app's thread.
    Connect {
        host: String,
        port: u16,
        /// The address had `tls://`.
        tls: bool,
        env: Result<TlsEnv, TlsError>,
        /// The session it belongs to ([`State::connect`]).
        session: u64,
    },
    /// The name-resolution helper's answer.
    Resolved {
        attempt: u64,
        result: io::Result<Vec<SocketAddr>>,
        /// TLS for the link (`None`: plain TCP), or why it cannot be set up.
        tls: Result<Option<LinkTls>, TlsError>,
    },
    /// Any other API command, for the engine.
    Command(Command),
    /// A callback panicked on the callback thread (what it said).
    CallbackPanicked(String),
    /// An event for the app from a device thread (a camera that failed or
    /// ended), handed to the callback thread in order with the others.
    Deliver(Event),
    /// Tests: panic on the network thread.
    #[cfg(test)]
    Panic,
}

/// Bytes of text, buffers and media on their way to the server: in the
/// command queue, and not yet written by the link.
#[derive(Debug, Default)]
pub(crate) struct Uplink {
    queued: AtomicUsize,
    unsent: AtomicUsize,
}

impl Uplink {
    /// Takes `n` more bytes if they fit under [`MAX_UPLINK`].
    pub(crate) fn admit(&self, n: usize) -> bool {
        let waiting = self.queued.load(Ordering::SeqCst) + self.unsent.load(Ordering::SeqCst);
        if waiting + n > MAX_UPLINK {
            return false;
        }
        self.queued.fetch_add(n, Ordering::SeqCst);
        true
    }

    /// The network thread took `n` bytes off the queue.
    fn taken(&self, n: usize) {
        self.queued.fetch_sub(n.min(self.queued.load(Ordering::SeqCst)), Ordering::SeqCst);
    }
}

/// The bytes of a message counted in the uplink (text, buffers).
fn uplink_len(msg: &ClientMsg) -> usize {
    match msg {
        ClientMsg::Text { text, .. } => text.len(),
        ClientMsg::TransBuffer { data, .. } => data.len(),
        _ => 0,
    }
}

/// What the API handle shares with the threads.
pub(crate) struct Shared {
    pub(crate) state: Arc<Mutex<State>>,
    /// Set when a receiver (or the uplink) lost video: encode a key frame next.
    pub(crate) force_key: Arc<AtomicBool>,
    pub(crate) uplink: Arc<Uplink>,
    /// Set by `BRAC_Release`: the callback thread calls nothing more.
    pub(crate) released: Arc<AtomicBool>,
    /// The playout mix the audio received goes to (`client::audio`).
    pub(crate) playout: Arc<Mutex<crate::codec::audio::Mixer>>,
    /// Notified (with `state`) after the engine handled anything: an API
    /// call waiting for the server's answer (`Client::query_server`) looks.
    pub(crate) changed: Arc<Condvar>,
}

/// The two threads of one initialised SDK.
pub(crate) struct Threads {
    pub(crate) net: NetThread<ToNet>,
    pub(crate) callbacks: std::thread::JoinHandle<()>,
}

/// Starts the network thread and the callback thread; `sink` receives
/// every event on the callback thread, one at a time, in order.
pub(crate) fn start(sink: EventSink, shared: &Shared) -> io::Result<Threads> {
    let (cb_tx, cb_rx) = crossbeam_channel::unbounded::<ToCallback>();
    let pending_video = Arc::new(VideoQueue::default());
    let pending_data = Arc::new(AtomicUsize::new(0));
    let (pv, pd) = (pending_video.clone(), pending_data.clone());
    let (state, force_key, uplink) = (shared.state.clone(), shared.force_key.clone(), shared.uplink.clone());
    let playout = shared.playout.clone();
    let changed = shared.changed.clone();
    let net = NetThread::spawn("anychat-net", Poll::new()?, WAKER, move |poll, rx, mailbox, stopped| {
        let driver = Driver {
            poll,
            rx,
            mailbox,
            stopped,
            state,
            engine: Engine::new(),
            link: None,
            connect_tls: None,
            open_tls: None,
            callbacks: cb_tx,
            pending_video: pv,
            pending_data: pd,
            data_dropped: 0,
            uplink,
            changed,
            force_key,
            decoders: HashMap::new(),
            audio_decoders: super::audio::Decoders::default(),
            playout,
            inbox: Vec::new(),
        };
        network_thread(driver)
    })?;
    let mailbox = net.mailbox();
    let released = shared.released.clone();
    let callbacks = std::thread::Builder::new()
        .name("anychat-cb".into())
        .spawn(move || callback_thread(cb_rx, sink, released, pending_video, pending_data, mailbox));
    match callbacks {
        Ok(callbacks) => Ok(Threads { net, callbacks }),
        Err(e) => {
            net.stop(ToNet::Command(Command::Shutdown));
            Err(e)
        }
    }
}

/// What the callback thread receives: an event, or the turn of the oldest
/// video frame waiting in the [`VideoQueue`].
enum ToCallback {
    Event(Event),
    Video,
}

/// Decoded video frames waiting for the callback thread: at most
/// [`MAX_PENDING_VIDEO`]; a frame beyond pushes out the oldest, so a
/// callback that falls behind (or never returns) loses the oldest frames
/// and holds a bounded number. The channel carries one
/// [`ToCallback::Video`] per frame held.
#[derive(Default)]
struct VideoQueue(Mutex<VecDeque<Event>>);

impl VideoQueue {
    /// Holds `ev`; true when it took a new place (the callback thread is to
    /// be told), false when it replaced the oldest.
    fn push(&self, ev: Event) -> bool {
        let mut q = self.0.lock();
        let room = q.len() < MAX_PENDING_VIDEO;
        if !room {
            q.pop_front();
        }
        q.push_back(ev);
        room
    }

    fn pop(&self) -> Option<Event> {
        self.0.lock().pop_front()
    }
}

/// The callback thread: calls the app, one event at a time, in order, with
/// no library lock held; a panic in a callback is reported to the network
/// thread, which reports the link lost.
fn callback_thread(
    items: Receiver<ToCallback>,
    sink: EventSink,
    released: Arc<AtomicBool>,
    pending_video: Arc<VideoQueue>,
    pending_data: Arc<AtomicUsize>,
    mailbox: Mailbox<ToNet>,
) {
    for item in items {
        let ev = match item {
            ToCallback::Event(ev) => ev,
            ToCallback::Video => match pending_video.pop() {
                Some(ev) => ev,
                None => continue,
            },
        };
        if let Some(n) = ev.droppable_len() {
            pending_data.fetch_sub(n, Ordering::SeqCst);
        }
        if released.load(Ordering::SeqCst) {
            continue;
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| sink(ev))) {
            let what = format!("a callback panicked: {}", panic_message(&*payload));
            tracing::error!("{what}");
            mailbox.send(ToNet::CallbackPanicked(what));
        }
    }
}

/// The network thread: the driver's loop, restarted after a panic (the
/// link reported lost) up to [`MAX_PANICS`] times within a minute.
fn network_thread(mut driver: Driver) {
    let mut panics = 0;
    let mut last_panic = Instant::now();
    loop {
        let Err(payload) = catch_unwind(AssertUnwindSafe(|| driver.run())) else { return };
        if last_panic.elapsed() > Duration::from_secs(60) {
            panics = 0;
        }
        panics += 1;
        last_panic = Instant::now();
        let what = format!("the network thread panicked: {}", panic_message(&*payload));
        let recovered = catch_unwind(AssertUnwindSafe(|| driver.recover(&what))).is_ok();
        if !recovered || panics >= MAX_PANICS {
            tracing::error!(
                "the network thread gives up after {panics} panic(s); BRAC_Release and BRAC_InitSDK start afresh"
            );
            driver.give_up();
            return;
        }
    }
}

struct Driver {
    poll: Poll,
    rx: Receiver<ToNet>,
    /// To itself, for the name-resolution helper thread.
    mailbox: Mailbox<ToNet>,
    /// Set by `BRAC_Release`: no event is delivered after it.
    stopped: Arc<AtomicBool>,
    state: Arc<Mutex<State>>,
    engine: Engine,
    link: Option<Link>,
    /// The TLS settings of the last `BRAC_Connect`, for its resolution.
    connect_tls: Option<(bool, Result<TlsEnv, TlsError>)>,
    /// TLS for the link the engine is about to open.
    open_tls: Option<LinkTls>,
    /// Events for the callback thread; video events held in
    /// `pending_video` (a callback that falls behind loses the oldest: they
    /// are decoded already, so nothing depends on them), the bytes of
    /// droppable ones counted in `pending_data`.
    callbacks: Sender<ToCallback>,
    pending_video: Arc<VideoQueue>,
    pending_data: Arc<AtomicUsize>,
    /// Data events dropped for a slow callback since the last warning.
    data_dropped: u64,
    /// What the API threads queued for the server, and what the link holds.
    uplink: Arc<Uplink>,
    /// See [`Shared::changed`].
    changed: Arc<Condvar>,
    /// Shared with the API threads' encoder: send a key frame next.
    force_key: Arc<AtomicBool>,
    /// One H.264 decoder per user whose video arrives.
    decoders: HashMap<u32, crate::codec::VideoDecoder>,
    /// One Opus decoder per user whose audio arrives.
    audio_decoders: super::audio::Decoders,
    /// The playout mix: every user's PCM received goes to its jitter buffer.
    playout: Arc<Mutex<crate::codec::audio::Mixer>>,
    /// Messages read from the link and not yet handled.
    inbox: Vec<crate::wire::protocol::ServerMsg>,
}

impl Driver {
    fn run(&mut self) {
        let mut events = Events::with_capacity(64);
        loop {
            let now = Instant::now();
            let mut timeout = self.engine.next_deadline().map(|d| d.saturating_duration_since(now));
            if !self.rx.is_empty() {
                // Commands left over (by a panic while they were handled)
                // have no wake-up of their own.
                timeout = Some(Duration::ZERO);
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!("client poll failed: {e}");
                    return;
                }
            }
            for event in events.iter() {
                if event.token() == SOCKET {
                    let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                    self.on_socket(event.is_writable(), readable);
                }
            }
            while let Ok(input) = self.rx.try_recv() {
                self.on_input(input);
            }
            let now = Instant::now();
            if self.engine.next_deadline().is_some_and(|d| now >= d) {
                self.engine_call(|e, st| e.on_timeout(now, st));
            }
            if let Some(link) = self.link.as_mut() {
                if let Err(e) = link.flush(self.poll.registry()) {
                    self.link_failed(e);
                }
            }
            let unsent = self.link.as_ref().map_or(0, |l| l.pending_bytes());
            self.uplink.unsent.store(unsent, Ordering::SeqCst);
            if self.engine.is_finished() {
                if let Some(link) = self.link.take() {
                    link.close(self.poll.registry());
                }
                return;
            }
        }
    }

    /// Calls the engine with the state locked (for that call only), then
    /// carries out what it asked.
    fn engine_call(&mut self, f: impl FnOnce(&mut Engine, &mut State)) {
        {
            let mut st = self.state.lock();
            f(&mut self.engine, &mut st);
        }
        self.changed.notify_all();
        self.carry_out();
    }

    fn on_input(&mut self, input: ToNet) {
        let now = Instant::now();
        match input {
            ToNet::Connect { host, port, tls, env, session } => {
                self.connect_tls = Some((tls, env));
                let server = ServerAddr { host, port, tls };
                self.engine_call(|e, st| e.on_command(now, st, Command::Connect { server, session }));
            }
            ToNet::Resolved { attempt, result, tls } => {
                if !self.engine.awaits_resolution(attempt) {
                    return;
                }
                let addrs = match (tls, result) {
                    (Err(e), _) => {
                        tracing::warn!("BRAC_Connect: cannot set up TLS: {e}");
                        Vec::new()
                    }
                    (Ok(tls), Ok(addrs)) if !addrs.is_empty() => {
                        self.open_tls = tls;
                        addrs
                    }
                    _ => {
                        tracing::info!("server address does not resolve");
                        Vec::new()
                    }
                };
                self.engine_call(|e, st| e.on_resolved(now, st, attempt, addrs));
                self.open_tls = None;
            }
            ToNet::Command(cmd) => {
                match &cmd {
                    Command::Send(msg) => self.uplink.taken(uplink_len(msg)),
                    Command::Media(frame) => self.uplink.taken(frame.bytes.len()),
                    _ => {}
                }
                self.engine_call(|e, st| e.on_command(now, st, cmd));
            }
            ToNet::CallbackPanicked(what) => self.engine_call(|e, st| e.on_internal_error(now, st, &what)),
            ToNet::Deliver(ev) => self.deliver(ev),
            #[cfg(test)]
            ToNet::Panic => panic!("a test asked the network thread to panic"),
        }
    }

    /// Carries out the engine's outputs, in order.
    fn carry_out(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Resolve { attempt, host, port } => self.resolve(attempt, host, port),
                Output::Open { addrs, hello } => {
                    let tls = self.open_tls.take();
                    match Link::connect(self.poll.registry(), SOCKET, addrs, &hello, tls) {
                        Ok(mut link) => {
                            // What this library decodes, right behind `Hello`.
                            link.send(&ClientMsg::Caps { caps: super::audio::caps() });
                            self.link = Some(link);
                        }
                        Err(e) => self.link_failed(e),
                    }
                }
                Output::Send(msg) => {
                    if let Some(link) = self.link.as_mut() {
                        link.send(&msg);
                    }
                }
                Output::SendMedia(frame) => {
                    if let Some(link) = self.link.as_mut() {
                        if link.send_media(frame) {
                            self.force_key.store(true, Ordering::SeqCst);
                        }
                    }
                }
                Output::Close => {
                    if let Some(mut link) = self.link.take() {
                        // Best effort: what was queued last (a logout) may
                        // still go out.
                        let _ = link.flush(self.poll.registry());
                        link.close(self.poll.registry());
                    }
                }
                Output::Decode { from, header, data } => self.decode(from, header, &data),
                Output::Deliver(ev) => self.deliver(ev),
                Output::KeyFrame => self.force_key.store(true, Ordering::SeqCst),
            }
        }
    }

    /// Name resolution can block, and so can reading certificate files and
    /// the system trust store: both run on a helper thread (`anychat-dns`),
    /// whose answer comes back as [`ToNet::Resolved`].
    fn resolve(&mut self, attempt: u64, host: String, port: u16) {
        let (tls, env) = self.connect_tls.take().unwrap_or((false, Ok(TlsEnv::default())));
        let mailbox = self.mailbox.clone();
        let spawned = std::thread::Builder::new().name("anychat-dns".into()).spawn(move || {
            // A panic here must not leave the attempt waiting for ever.
            let resolved = catch_unwind(AssertUnwindSafe(|| {
                let tls = env.and_then(|env| env.for_host(&host, tls));
                let result = (host.as_str(), port).to_socket_addrs().map(|a| a.collect());
                (result, tls)
            }));
            let (result, tls) = resolved.unwrap_or_else(|payload| {
                let what = format!("the name resolution panicked: {}", panic_message(&*payload));
                tracing::error!("{what}");
                (Err(io::Error::other(what)), Ok(None))
            });
            mailbox.send(ToNet::Resolved { attempt, result, tls });
        });
        if let Err(e) = spawned {
            tracing::warn!("BRAC_Connect: cannot start the name resolution thread: {e}");
            let now = Instant::now();
            let mut st = self.state.lock();
            self.engine.on_resolved(now, &mut st, attempt, Vec::new());
        }
    }

    /// Decodes an H.264 frame with no lock held; a frame that cannot be
    /// decoded is skipped.
    fn decode(&mut self, from: u32, header: MediaHeader, data: &[u8]) {
        if header.kind == crate::wire::protocol::MEDIA_AUDIO {
            if let Some(pcm) = self.audio_decoders.decode(from, &header, data) {
                let now = Instant::now();
                let mut st = self.state.lock();
                self.engine.on_audio_decoded(now, &mut st, from, header, pcm);
            }
            return;
        }
        let decoder = match self.decoders.entry(from) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => match crate::codec::VideoDecoder::new() {
                Ok(d) => v.insert(d),
                Err(e) => {
                    tracing::warn!("cannot start a video decoder: {e}");
                    return;
                }
            },
        };
        match decoder.decode(data) {
            Ok(Some(d)) => {
                let mut st = self.state.lock();
                self.engine.on_decoded(&mut st, from, header, d.w, d.h, d.i420);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(from, "video frame not decoded: {e}"),
        }
    }

    fn on_socket(&mut self, writable: bool, readable: bool) {
        let Some(link) = self.link.as_mut() else { return };
        let result = link.on_event(self.poll.registry(), writable, readable, &mut self.inbox);
        let now = Instant::now();
        let local = link.local_addr();
        if let Ok(progress) = &result {
            if progress.connected {
                self.engine_call(|e, st| e.on_link_up(now, st, local));
            }
            if progress.received {
                self.engine.on_received(now);
            }
        }
        for msg in std::mem::take(&mut self.inbox) {
            self.engine_call(|e, st| e.on_message(now, st, msg));
        }
        if let Err(e) = result {
            self.link_failed(e);
        }
        self.prune_decoders();
    }

    /// The link failed: it is dropped and the engine told why.
    fn link_failed(&mut self, e: LinkError) {
        if let Some(link) = self.link.take() {
            link.close(self.poll.registry());
        }
        let why = LinkLoss::from(e);
        let now = Instant::now();
        self.engine_call(|en, st| en.on_link_lost(now, st, why));
    }

    /// Video decoders are kept only for users in sight (this client's room
    /// or its call peer), so that their number stays that of the audience.
    fn prune_decoders(&mut self) {
        let st = self.state.lock();
        if !self.decoders.is_empty() {
            self.decoders.retain(|uid, _| st.in_sight(*uid));
        }
        self.audio_decoders.retain(|uid| st.in_sight(uid));
        let mut mix = self.playout.lock();
        if mix.users() > 0 {
            let gone: Vec<u32> = mix.user_ids().filter(|u| !st.in_sight(*u)).collect();
            for u in gone {
                mix.remove(u);
            }
        }
    }

    /// Hands the events to the callback thread: the network thread never
    /// waits for the app, so keep-alives and media go on while a callback runs.
    fn deliver(&mut self, ev: Event) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        if matches!(ev, Event::Video { .. }) {
            if self.pending_video.push(ev) {
                let _ = self.callbacks.send(ToCallback::Video);
            }
            return;
        }
        if let Event::Audio { from, channels, rate, bits: 16, codec: 0, data, .. } = &ev {
            let format = crate::codec::AudioFormat { channels: *channels, samples_per_sec: *rate, bits_per_sample: 16 };
            self.playout.lock().push(*from, format, data);
        }
        if let Some(n) = ev.droppable_len() {
            if self.pending_data.load(Ordering::SeqCst) + n > MAX_PENDING_DATA {
                if self.data_dropped == 0 {
                    tracing::warn!("the app's callbacks fall behind: text, buffers and audio dropped");
                }
                self.data_dropped += 1;
                return;
            }
            self.pending_data.fetch_add(n, Ordering::SeqCst);
            self.data_dropped = 0;
        }
        let _ = self.callbacks.send(ToCallback::Event(ev));
    }

    /// After a panic: the link and decoders go (their state is unknown),
    /// the engine reports the link lost.
    fn recover(&mut self, what: &str) {
        if let Some(link) = self.link.take() {
            link.close(self.poll.registry());
        }
        self.decoders.clear();
        self.audio_decoders.clear();
        self.inbox.clear();
        let now = Instant::now();
        self.engine_call(|e, st| e.on_internal_error(now, st, what));
    }

    /// The thread ends for good: the state says the link is closed, and the
    /// app hears it if it had one.
    fn give_up(&mut self) {
        self.link = None;
        let had_link = {
            let mut st = self.state.lock();
            let had = st.link != LinkState::Idle;
            st.link = LinkState::Idle;
            st.logged_in = false;
            st.room = None;
            st.room_users.clear();
            st.call = None;
            st.queue.clear();
            st.login_in_flight = false;
            st.login_name = None;
            st.enter_pending = None;
            st.status = if had { 5 } else { st.status };
            had
        };
        if had_link {
            self.deliver(Event::Notify { msg: WM_GV_LINKCLOSE, wparam: GV_ERR_CONNECT_ABORT, lparam: 0 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(timestamp: u32) -> Event {
        Event::Video { from: 9, w: 2, h: 2, codec: 0, timestamp, data: vec![0; 6], decoded: true, pix_fmt: 0 }
    }

    /// A callback that never returns holds at most `MAX_PENDING_VIDEO`
    /// frames, the newest; one turn per frame held.
    #[test]
    fn the_video_queue_keeps_the_newest_frames_and_a_turn_for_each() {
        let q = VideoQueue::default();
        let turns = (0..10).filter(|t| q.push(frame(*t))).count();
        assert_eq!(turns, MAX_PENDING_VIDEO);
        let kept: Vec<u32> = std::iter::from_fn(|| q.pop())
            .map(|ev| match ev {
                Event::Video { timestamp, .. } => timestamp,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(kept, (10 - MAX_PENDING_VIDEO as u32..10).collect::<Vec<_>>());
        assert!(q.push(frame(10)), "room again once read");
    }
}
