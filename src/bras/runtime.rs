//! The business-server library's thread (`anychat-bras`): a mio loop that
//! drives the [`Engine`] and calls the app.
//!
//! It moves bytes and time: it reads the socket ([`Link`]) and feeds what
//! came to the engine with `now`, carries out what the engine asks
//! ([`Output`]: open the link — resolving the address and loading the TLS
//! files on this thread, as the business server is a server process that
//! has nothing else to do meanwhile —, queue a message, close, call the app
//! and give its answer back), flushes the link, and sleeps until the
//! socket, a command or the engine's next deadline wakes it. The app's
//! callbacks run here, one at a time, in order, with no library lock held,
//! so a callback may call any `BRAS_` function.
//!
//! Panics are caught: one in a callback or in the loop closes the link and
//! reaches the app through its link-down callback (`LinkDown`), and the
//! library reconnects after its backoff (after [`MAX_PANICS`] panics within
//! a minute the thread gives up; the API then answers as unlinked).
#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Poll, Token};
use parking_lot::Mutex;

use super::engine::{Answer, BizEvent, BizState, Command, Engine, LinkLoss, Output};
use super::BizConfig;
use crate::net::link::{host_of, panic_message, strip_tls_scheme, Link, LinkError, NetThread, MAX_PANICS};
use crate::wire::constants::GV_ERR_CONNECT_ABORT;
use crate::wire::protocol::{ClientMsg, ServerMsg};

const WAKER: Token = Token(0);
const SOCKET: Token = Token(1);

/// Receives events on the library's thread; returns the answer to a question.
pub type BizSink = Box<dyn Fn(BizEvent) -> Answer + Send + 'static>;

/// What reaches the thread.
#[derive(Debug)]
pub(crate) enum ToNet {
    Command(Command),
    /// Tests: panic on the thread.
    #[cfg(test)]
    Panic,
}

/// Starts the thread, which connects at once.
pub(crate) fn start(config: BizConfig, sink: BizSink, state: Arc<Mutex<BizState>>) -> io::Result<NetThread<ToNet>> {
    NetThread::spawn("anychat-bras", Poll::new()?, WAKER, move |poll, rx, _mailbox, stopped| {
        let engine = Engine::new(Instant::now(), config.secret.clone());
        let driver = Driver { poll, rx, config, state, sink, stopped, engine, link: None, inbox: Vec::new() };
        thread_main(driver)
    })
}

/// The driver's loop, restarted after a panic (the link reported down) up
/// to [`MAX_PANICS`] times within a minute.
fn thread_main(mut driver: Driver) {
    let mut panics = 0;
    let mut last_panic = Instant::now();
    loop {
        let Err(payload) = catch_unwind(AssertUnwindSafe(|| driver.run())) else { return };
        if last_panic.elapsed() > Duration::from_secs(60) {
            panics = 0;
        }
        panics += 1;
        last_panic = Instant::now();
        let what = format!("the business-server thread panicked: {}", panic_message(&*payload));
        let recovered = catch_unwind(AssertUnwindSafe(|| driver.recover(&what))).is_ok();
        if !recovered || panics >= MAX_PANICS {
            tracing::error!("the business-server thread gives up after {panics} panic(s)");
            driver.give_up();
            return;
        }
    }
}

struct Driver {
    poll: Poll,
    rx: Receiver<ToNet>,
    config: BizConfig,
    state: Arc<Mutex<BizState>>,
    sink: BizSink,
    /// Set by `BRAS_Release`: the app is called no more.
    stopped: Arc<AtomicBool>,
    engine: Engine,
    link: Option<Link>,
    inbox: Vec<ServerMsg>,
}

impl Driver {
    fn run(&mut self) {
        let mut events = Events::with_capacity(64);
        loop {
            if self.engine.is_finished() {
                if let Some(link) = self.link.take() {
                    link.close(self.poll.registry());
                }
                return;
            }
            let now = Instant::now();
            let mut timeout = self.engine.next_deadline().map(|d| d.saturating_duration_since(now));
            if !self.rx.is_empty() {
                // Commands left over (by a panic while they were handled)
                // have no wake-up of their own.
                timeout = Some(Duration::ZERO);
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!("business poll failed: {e}");
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
                match input {
                    ToNet::Command(cmd) => {
                        let now = Instant::now();
                        self.engine_call(|e, st| e.on_command(now, st, cmd));
                    }
                    #[cfg(test)]
                    ToNet::Panic => panic!("a test asked the business-server thread to panic"),
                }
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
        }
    }

    /// Calls the engine with the state locked (for that call only), then
    /// carries out what it asked.
    fn engine_call(&mut self, f: impl FnOnce(&mut Engine, &mut BizState)) {
        {
            let mut st = self.state.lock();
            f(&mut self.engine, &mut st);
        }
        self.carry_out();
    }

    /// Carries out the engine's outputs, in order; the app is called with
    /// no lock held.
    fn carry_out(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Connect { hello } => self.connect(&hello),
                Output::Send(msg) => {
                    if let Some(link) = self.link.as_mut() {
                        link.send(&msg);
                    }
                }
                Output::Close => {
                    if let Some(link) = self.link.take() {
                        link.close(self.poll.registry());
                    }
                }
                Output::Deliver(ev) => {
                    self.call_app(ev);
                }
                Output::Ask { id, event } => {
                    let answer = self.call_app(event);
                    let now = Instant::now();
                    let mut st = self.state.lock();
                    self.engine.on_answer(now, &mut st, id, answer);
                }
            }
        }
    }

    /// Calls the app (unless released); a panic there is reported as the
    /// link going down.
    fn call_app(&mut self, ev: BizEvent) -> Answer {
        if self.stopped.load(Ordering::SeqCst) {
            return Answer::None;
        }
        match catch_unwind(AssertUnwindSafe(|| (self.sink)(ev))) {
            Ok(answer) => answer,
            Err(payload) => {
                let what = format!("a callback panicked: {}", panic_message(&*payload));
                let now = Instant::now();
                let mut st = self.state.lock();
                self.engine.on_internal_error(now, &mut st, &what);
                Answer::None
            }
        }
    }

    /// Opens the link the engine asked for: the address and the TLS files
    /// are read at every attempt, so that renewed ones are used.
    fn connect(&mut self, hello: &ClientMsg) {
        let (addr, tls_scheme) = strip_tls_scheme(&self.config.core_addr);
        let tls = match self.config.tls.clone().and_then(|env| env.for_host(host_of(addr), tls_scheme)) {
            Ok(tls) => tls,
            Err(e) => {
                tracing::warn!(addr = %self.config.core_addr, "cannot set up TLS to the core server: {e}");
                return self.link_failed(LinkError::ConnectFailed);
            }
        };
        let addrs: Vec<SocketAddr> = match addr.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                tracing::warn!(addr = %self.config.core_addr, "core server address does not resolve: {e}");
                Vec::new()
            }
        };
        match Link::connect(self.poll.registry(), SOCKET, addrs, hello, tls) {
            Ok(link) => self.link = Some(link),
            Err(e) => self.link_failed(e),
        }
    }

    fn on_socket(&mut self, writable: bool, readable: bool) {
        let Some(link) = self.link.as_mut() else { return };
        let result = link.on_event(self.poll.registry(), writable, readable, &mut self.inbox);
        let now = Instant::now();
        if let Ok(progress) = &result {
            if progress.connected {
                self.engine.on_link_up(now);
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
    }

    /// The link failed: it is dropped and the engine told why.
    fn link_failed(&mut self, e: LinkError) {
        if let Some(link) = self.link.take() {
            link.close(self.poll.registry());
        }
        if matches!(e, LinkError::Tls(_)) {
            tracing::warn!(addr = %self.config.core_addr, "TLS to the core server failed: {e}");
        }
        let now = Instant::now();
        self.engine_call(|en, st| en.on_link_lost(now, st, LinkLoss::from(e)));
    }

    /// After a panic: the link goes (its state is unknown), the engine
    /// reports it down and reconnects.
    fn recover(&mut self, what: &str) {
        if let Some(link) = self.link.take() {
            link.close(self.poll.registry());
        }
        self.inbox.clear();
        let now = Instant::now();
        self.engine_call(|e, st| e.on_internal_error(now, st, what));
    }

    /// The thread ends for good: the API answers as unlinked from now on,
    /// and the app hears the link go down if it was up.
    fn give_up(&mut self) {
        self.link = None;
        let was_linked = {
            let mut st = self.state.lock();
            let was = st.linked;
            st.linked = false;
            st.in_call.clear();
            was
        };
        if was_linked && !self.stopped.load(Ordering::SeqCst) {
            let _ = catch_unwind(AssertUnwindSafe(|| (self.sink)(BizEvent::LinkDown { code: GV_ERR_CONNECT_ABORT })));
        }
    }
}
