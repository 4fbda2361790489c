//! The engine adapter: Redis through its maintained client (`redis`, sync),
//! on two threads of its own so that the server's loop never waits for it.
//!
//! - `anychat-cluster` (commands): takes [`ToEngine`] from a bounded
//!   channel, runs each as one Redis round trip (a Lua script where a step
//!   needs several commands), and answers with [`FromEngine`]; every
//!   `lease / 3` it renews this server's lease and checks the leases of the
//!   servers it watches.
//! - `anychat-cluster-sub` (subscriber): `SUBSCRIBE`s this server's
//!   channel and hands every envelope to the loop.
//!
//! Each answer is followed by a call of `notify` (the loop's waker). While
//! Redis is unreachable a command fails at once (one reconnect attempt per
//! [`RETRY`]); a failed connect or command waits at most [`IO_TIMEOUT`].
//!
//! Keys (all under `anychat:`): `id:<name>` the user id of a name,
//! `nextid` the last id given, `user:<id>` where the user is logged in
//! (`<server>/<connection>`), `alive:<server>` the server's lease (expires
//! unless renewed); channel `srv:<server>` carries envelopes to a server.
//!
//! A silent cut (no RST: the bytes just stop) is noticed by the commands
//! thread within [`IO_TIMEOUT`] of its next command or lease renewal; the
//! subscriber then drops its connection (it would otherwise wait on it
//! forever) and subscribes again once Redis answers.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::envelope::Envelope;
use crate::core::ConnId;

/// Longest wait for Redis in one connect or command.
pub const IO_TIMEOUT: Duration = Duration::from_millis(500);
/// While Redis is unreachable, a reconnect is tried at most this often.
pub const RETRY: Duration = Duration::from_millis(250);
/// Commands queued for the engine thread at most (more: refused at once).
pub const ENGINE_QUEUE: usize = 65_536;

/// What the loop asks of the engine.
#[derive(Debug)]
pub enum ToEngine {
    /// The cluster-wide id of a user name (made on first use), and the
    /// user's presence here on `conn` (as `Present`).
    ResolveId { conn: ConnId, name: Vec<u8> },
    /// User `uid` logged in here on `conn`; a session of it on another
    /// server is kicked out.
    Present { uid: u32, conn: u64 },
    /// That session of `uid` ended.
    Absent { uid: u32, conn: u64 },
    /// Send `env` to the server where `to` is logged in (for `from`'s call).
    Locate { from: u32, to: u32, env: Vec<u8> },
    /// Send `env` to server `to`.
    Send { to: String, env: Vec<u8> },
    /// Report when server `0`'s lease runs out.
    Watch(String),
}

/// What the engine tells the loop.
#[derive(Debug)]
pub enum FromEngine {
    /// The id of the name `conn` logs in with (`None`: Redis unreachable).
    Id { conn: ConnId, uid: Option<u32> },
    /// Where `from`'s Request went: `Ok(Some(server))`, `Ok(None)` the
    /// callee is offline, `Err(())` Redis unreachable.
    Located { from: u32, owner: Result<Option<String>, ()> },
    /// An envelope from another server.
    Inbound(Envelope),
    /// A watched server's lease ran out.
    Dead(String),
    /// Redis became reachable (true) or unreachable (false).
    Health(bool),
    /// Redis has been unreachable since this server's lease ran out: the
    /// other servers count its users offline and have ended their calls
    /// with them (told once per loss).
    LeaseLost,
}

/// The loop's ends of the channels.
pub struct EngineLink {
    pub tx: Sender<ToEngine>,
    pub rx: Receiver<FromEngine>,
    stop: Arc<AtomicBool>,
}

impl EngineLink {
    /// The loop's ends of two channels whose other ends the caller drives
    /// (the cluster's unit tests: an engine in memory).
    #[cfg(test)]
    pub(crate) fn from_channels(tx: Sender<ToEngine>, rx: Receiver<FromEngine>) -> EngineLink {
        EngineLink { tx, rx, stop: Arc::new(AtomicBool::new(false)) }
    }
}

impl Drop for EngineLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

pub const PREFIX: &str = "anychat:";

#[cfg(feature = "cluster")]
fn channel_of(server: &str) -> String {
    format!("{PREFIX}srv:{server}")
}

/// Starts the engine threads for server `me` with lease `lease` on the
/// Redis at `url`; `notify` wakes the loop.
#[cfg(feature = "cluster")]
pub fn spawn(url: &str, me: &str, lease: Duration, notify: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<EngineLink> {
    let client = redis::Client::open(url)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("--cluster-engine {url}: {e}")))?;
    let (tx, cmd_rx) = crossbeam_channel::bounded(ENGINE_QUEUE);
    let (out_tx, rx) = crossbeam_channel::bounded(ENGINE_QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    // Bumped by the commands thread each time Redis is lost.
    let losses = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut cmds = redis_impl::Commands::new(client.clone(), me.to_string(), lease, out_tx.clone(), notify.clone());
    cmds.losses = losses.clone();
    std::thread::Builder::new().name("anychat-cluster".into()).spawn(move || cmds.run(cmd_rx))?;
    let (me, stop2) = (me.to_string(), stop.clone());
    std::thread::Builder::new()
        .name("anychat-cluster-sub".into())
        .spawn(move || redis_impl::subscribe(client, &me, out_tx, notify, stop2, losses))?;
    Ok(EngineLink { tx, rx, stop })
}

/// Without the `cluster` feature there is no engine client.
#[cfg(not(feature = "cluster"))]
pub fn spawn(_: &str, _: &str, _: Duration, _: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<EngineLink> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "built without the `cluster` feature"))
}

#[cfg(feature = "cluster")]
mod redis_impl {
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::AtomicU64;
    use std::time::Instant;

    use crossbeam_channel::RecvTimeoutError;

    use super::*;

    /// Gives a name its id: the kept one, or the next of `nextid`.
    const RESOLVE: &str = r"
local id = redis.call('GET', KEYS[1])
if id then return tonumber(id) end
id = redis.call('INCR', KEYS[2])
if id >= 4294967295 then id = 1; redis.call('SET', KEYS[2], 1) end
redis.call('SET', KEYS[1], id)
return id";

    /// Publishes ARGV[1] to the server where KEYS[1] says the user is, if
    /// that server's lease holds; returns the server, or false.
    const LOCATE: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return false end
local srv = string.match(v, '^(.*)/')
if not srv then return false end
if redis.call('EXISTS', ARGV[2] .. 'alive:' .. srv) == 0 then return false end
if redis.call('PUBLISH', ARGV[2] .. 'srv:' .. srv, ARGV[1]) == 0 then return false end
return srv";

    /// After Redis was lost: sets each KEYS[i] (`user:<id>`) to ARGV[i]
    /// (this server's session) unless it names another session now (a
    /// newer login elsewhere meanwhile); returns the indexes of those.
    const RESTORE: &str = r"
local lost = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if not v or v == ARGV[i] then redis.call('SET', k, ARGV[i]) else lost[#lost + 1] = i end
end
return lost";

    /// Sessions restored per script call at most (Redis runs one at a time).
    const RESTORE_CHUNK: usize = 1000;

    /// Deletes KEYS[1] if it still holds ARGV[1].
    const ABSENT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

    pub struct Commands {
        client: redis::Client,
        con: Option<redis::Connection>,
        me: String,
        lease: Duration,
        out: Sender<FromEngine>,
        notify: Arc<dyn Fn() + Send + Sync>,
        /// The sessions this server holds (set again after Redis restarts).
        present: HashMap<u32, u64>,
        /// Sessions that ended while Redis was unreachable (deleted on restore).
        stale: Vec<(u32, u64)>,
        watched: HashSet<String>,
        up: bool,
        last_try: Option<Instant>,
        /// When Redis last answered a renewal of this server's lease.
        renewed: Option<Instant>,
        /// `LeaseLost` was told since.
        lease_lost: bool,
        /// Bumped each time Redis is lost (the subscriber subscribes again).
        pub losses: Arc<AtomicU64>,
        resolve: redis::Script,
        locate: redis::Script,
        absent: redis::Script,
        restore_script: redis::Script,
    }

    impl Commands {
        pub fn new(
            client: redis::Client,
            me: String,
            lease: Duration,
            out: Sender<FromEngine>,
            notify: Arc<dyn Fn() + Send + Sync>,
        ) -> Self {
            Commands {
                client,
                con: None,
                me,
                lease,
                out,
                notify,
                present: HashMap::new(),
                stale: Vec::new(),
                watched: HashSet::new(),
                up: false,
                last_try: None,
                renewed: None,
                lease_lost: false,
                losses: Arc::new(AtomicU64::new(0)),
                resolve: redis::Script::new(RESOLVE),
                locate: redis::Script::new(LOCATE),
                absent: redis::Script::new(ABSENT),
                restore_script: redis::Script::new(RESTORE),
            }
        }

        fn tell(&self, what: FromEngine) {
            if self.out.send(what).is_ok() {
                (self.notify)();
            }
        }

        /// The connection, made if needed (at most one try per RETRY while down).
        fn con(&mut self) -> Option<&mut redis::Connection> {
            if self.con.is_none() {
                let now = Instant::now();
                if !self.up && self.last_try.is_some_and(|t| now < t + RETRY) {
                    return None;
                }
                self.last_try = Some(now);
                match self.client.get_connection_with_timeout(IO_TIMEOUT) {
                    Ok(c) => {
                        let _ = c.set_read_timeout(Some(IO_TIMEOUT));
                        let _ = c.set_write_timeout(Some(IO_TIMEOUT));
                        self.con = Some(c);
                        // Reachable once this server is registered again.
                        if !self.up && self.restore() {
                            self.up = true;
                            tracing::info!("cluster engine reachable");
                            self.tell(FromEngine::Health(true));
                        }
                    }
                    Err(e) => {
                        self.down(&e);
                        return None;
                    }
                }
            }
            self.con.as_mut()
        }

        fn down(&mut self, e: &redis::RedisError) {
            self.con = None;
            if self.up {
                self.losses.fetch_add(1, Ordering::SeqCst);
                self.up = false;
                tracing::warn!("cluster engine unreachable: {e}");
                self.tell(FromEngine::Health(false));
            }
        }

        /// After (re)connecting: this server's lease, its sessions (unless
        /// a newer login elsewhere took one meanwhile: that session is
        /// kicked out here as by a `Kick`), and the keys of sessions that
        /// ended meanwhile. False when Redis failed again.
        fn restore(&mut self) -> bool {
            let Some(mut con) = self.con.take() else { return false };
            let r = self.restore_on(&mut con);
            self.con = Some(con);
            match r {
                Ok(lost) => {
                    self.renewed = Some(Instant::now());
                    self.lease_lost = false;
                    for (uid, conn) in lost {
                        tracing::info!(user = uid, "cluster: logged in elsewhere while the engine was unreachable");
                        self.present.remove(&uid);
                        self.tell(FromEngine::Inbound(Envelope::Kick { uid, conn }));
                    }
                    true
                }
                Err(e) => {
                    self.down(&e);
                    false
                }
            }
        }

        fn restore_on(&mut self, con: &mut redis::Connection) -> redis::RedisResult<Vec<(u32, u64)>> {
            let alive = format!("{PREFIX}alive:{}", self.me);
            redis::cmd("SET").arg(&alive).arg(1).arg("PX").arg(self.lease.as_millis() as u64).query::<()>(con)?;
            let sessions: Vec<(u32, u64)> = self.present.iter().map(|(u, c)| (*u, *c)).collect();
            let mut lost = Vec::new();
            for chunk in sessions.chunks(RESTORE_CHUNK) {
                let mut inv = self.restore_script.prepare_invoke();
                for (uid, conn) in chunk {
                    inv.key(format!("{PREFIX}user:{uid}")).arg(format!("{}/{conn}", self.me));
                }
                let idx: Vec<usize> = inv.invoke(con)?;
                lost.extend(idx.into_iter().filter_map(|i| chunk.get(i.wrapping_sub(1)).copied()));
            }
            for (uid, conn) in std::mem::take(&mut self.stale) {
                let key = format!("{PREFIX}user:{uid}");
                self.absent.key(key).arg(format!("{}/{conn}", self.me)).invoke::<u32>(con)?;
            }
            Ok(lost)
        }

        /// Runs `f` on the connection; an error marks Redis unreachable.
        fn run_cmd<T>(&mut self, f: impl FnOnce(&mut redis::Connection, &Self) -> redis::RedisResult<T>) -> Option<T> {
            let mut con = self.con().is_some().then(|| self.con.take()).flatten()?;
            let r = f(&mut con, self);
            self.con = Some(con);
            match r {
                Ok(v) => Some(v),
                Err(e) => {
                    self.down(&e);
                    None
                }
            }
        }

        pub fn run(&mut self, rx: Receiver<ToEngine>) {
            let tick = (self.lease / 3).max(Duration::from_millis(50));
            let mut next = Instant::now();
            loop {
                let now = Instant::now();
                if now >= next {
                    self.tick();
                    next = now + tick;
                }
                let wake = match self.lease_runs_out() {
                    Some(t) => t.min(next),
                    None => next,
                };
                match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                    Ok(cmd) => self.handle(cmd),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            // The server stopped: its lease goes at once.
            let me = format!("{PREFIX}alive:{}", self.me);
            self.run_cmd(|c, _| redis::cmd("DEL").arg(&me).query::<()>(c));
        }

        /// While Redis is unreachable: when this server's lease runs out
        /// (None: up, or told already). Tells `LeaseLost` once it has.
        fn lease_runs_out(&mut self) -> Option<Instant> {
            if self.up || self.lease_lost {
                return None;
            }
            let at = self.renewed? + self.lease;
            if Instant::now() < at {
                return Some(at);
            }
            tracing::warn!("cluster: this server's lease ran out while the engine was unreachable");
            self.lease_lost = true;
            self.tell(FromEngine::LeaseLost);
            None
        }

        fn tick(&mut self) {
            let alive = format!("{PREFIX}alive:{}", self.me);
            let px = self.lease.as_millis() as u64;
            if self.run_cmd(|c, _| redis::cmd("SET").arg(&alive).arg(1).arg("PX").arg(px).query::<()>(c)).is_none() {
                return;
            }
            self.renewed = Some(Instant::now());
            let watched: Vec<String> = self.watched.iter().cloned().collect();
            for w in watched {
                let key = format!("{PREFIX}alive:{w}");
                match self.run_cmd(|c, _| redis::cmd("EXISTS").arg(&key).query::<bool>(c)) {
                    Some(false) => {
                        tracing::warn!(server = %w, "cluster: server's lease ran out");
                        self.watched.remove(&w);
                        self.tell(FromEngine::Dead(w));
                    }
                    Some(true) => {}
                    None => return,
                }
            }
        }

        fn handle(&mut self, cmd: ToEngine) {
            match cmd {
                ToEngine::ResolveId { conn, name } => {
                    let mut key = format!("{PREFIX}id:").into_bytes();
                    key.extend_from_slice(&name);
                    let next = format!("{PREFIX}nextid");
                    let uid = self.run_cmd(|c, s| s.resolve.key(&key).key(&next).invoke::<u32>(c));
                    // Where the user is, before its client learns it is
                    // logged in: a Request placed after that finds it.
                    if let Some(uid) = uid {
                        self.handle(ToEngine::Present { uid, conn: conn.0 });
                    }
                    self.tell(FromEngine::Id { conn, uid });
                }
                ToEngine::Present { uid, conn } => {
                    self.present.insert(uid, conn);
                    let key = format!("{PREFIX}user:{uid}");
                    let value = format!("{}/{conn}", self.me);
                    let old = self
                        .run_cmd(|c, _| redis::cmd("SET").arg(&key).arg(&value).arg("GET").query::<Option<String>>(c));
                    if let Some(Some(old)) = old {
                        let (srv, conn) = old.rsplit_once('/').unwrap_or((old.as_str(), "0"));
                        if srv != self.me {
                            let conn = conn.parse().unwrap_or(0);
                            tracing::info!(
                                user = uid,
                                server = srv,
                                "cluster: login elsewhere, kicking the old session"
                            );
                            let env = Envelope::Kick { uid, conn }.encode();
                            let ch = channel_of(srv);
                            self.run_cmd(|c, _| redis::cmd("PUBLISH").arg(&ch).arg(env).query::<u64>(c));
                        }
                    }
                }
                ToEngine::Absent { uid, conn } => {
                    if self.present.get(&uid) == Some(&conn) {
                        self.present.remove(&uid);
                    }
                    let key = format!("{PREFIX}user:{uid}");
                    let value = format!("{}/{conn}", self.me);
                    if self.run_cmd(|c, s| s.absent.key(&key).arg(&value).invoke::<u32>(c)).is_none() {
                        self.stale.push((uid, conn));
                    }
                }
                ToEngine::Locate { from, to, env } => {
                    let key = format!("{PREFIX}user:{to}");
                    let owner = self
                        .run_cmd(|c, s| s.locate.key(&key).arg(env).arg(PREFIX).invoke::<Option<String>>(c))
                        .ok_or(());
                    self.tell(FromEngine::Located { from, owner });
                }
                ToEngine::Send { to, env } => {
                    let ch = channel_of(&to);
                    self.run_cmd(|c, _| redis::cmd("PUBLISH").arg(&ch).arg(env).query::<u64>(c));
                }
                ToEngine::Watch(server) => {
                    self.watched.insert(server);
                }
            }
        }
    }

    /// The subscriber looks at `losses` at least this often.
    const SUB_WAIT: Duration = Duration::from_millis(250);

    /// The subscriber thread: this server's channel, reconnecting on loss
    /// (a closed connection, or Redis lost by the commands thread).
    pub fn subscribe(
        client: redis::Client,
        me: &str,
        out: Sender<FromEngine>,
        notify: Arc<dyn Fn() + Send + Sync>,
        stop: Arc<AtomicBool>,
        losses: Arc<AtomicU64>,
    ) {
        let ch = channel_of(me);
        while !stop.load(Ordering::SeqCst) {
            let run = || -> redis::RedisResult<()> {
                let lost = losses.load(Ordering::SeqCst);
                let mut con = client.get_connection_with_timeout(IO_TIMEOUT)?;
                con.set_read_timeout(Some(IO_TIMEOUT))?;
                con.set_write_timeout(Some(IO_TIMEOUT))?;
                let mut sub = con.as_pubsub();
                sub.subscribe(&ch)?;
                sub.set_read_timeout(Some(SUB_WAIT))?;
                while !stop.load(Ordering::SeqCst) {
                    // Redis was lost since: this connection may be cut
                    // silently (and what it still holds is stale).
                    if losses.load(Ordering::SeqCst) != lost {
                        return Err(redis::RedisError::from((redis::ErrorKind::IoError, "engine lost")));
                    }
                    let msg = match sub.get_message() {
                        Ok(m) => m,
                        Err(e) if e.is_timeout() => continue,
                        Err(e) => return Err(e),
                    };
                    match Envelope::decode(msg.get_payload_bytes()) {
                        Some(env) => {
                            if out.send(FromEngine::Inbound(env)).is_err() {
                                return Ok(());
                            }
                            notify();
                        }
                        None => tracing::warn!("cluster: undecodable envelope dropped"),
                    }
                }
                Ok(())
            };
            if let Err(e) = run() {
                tracing::debug!("cluster subscriber: {e}");
                std::thread::sleep(RETRY);
            }
        }
    }
}
