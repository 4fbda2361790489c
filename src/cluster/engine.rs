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
//! unless renewed), `room:<id>` the server holding an ordinary room,
//! `watchers:<id>` the servers to tell when the user logs in or out (set),
//! `info:<id>` the infos the business server set for a user online (hash),
//! `roomname:<name>` the id of a room entered by name (`nextroom` the last
//! given),
//! `peer:<server>` where its media links come in (`<address> <token>`),
//! `name:<id>` the name of an id, hash `counts` each server's number of
//! users online, `business` the server the business server is linked to
//! (`<server>/<token>`, valid while that server's lease holds);
//! channel `srv:<server>` carries envelopes to a server, `all` to every server.
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
    /// The business server linked here (reconnect token `token`): this
    /// server is the cluster's business home, unless another one is
    /// ([`FromEngine::BusinessConflict`]); every server is told.
    SetBusiness { token: u64 },
    /// The business server linked here is gone.
    ReleaseBusiness,
    /// Send `env` to the server where user `uid` is logged in (if any).
    ToUser { uid: u32, env: Vec<u8> },
    /// Send `env` to every server (this one too).
    Broadcast(Vec<u8>),
    /// Where ordinary room `room` is held, for `uid`'s entry: when another
    /// server (whose lease holds) holds it, `envs` are sent there, in
    /// order; otherwise this server takes it.
    LocateRoom { uid: u32, room: u32, envs: Vec<Vec<u8>> },
    /// The cluster-wide id of a room name (made on first use), for the
    /// entry of `conn`.
    RoomId { conn: ConnId, name: Vec<u8> },
    /// This server no longer holds room `room` (it became empty).
    ReleaseRoom { room: u32 },
    /// Open a media link to server `0` (its address and token are in the
    /// engine); answered by `Dialed`.
    Dial(String),
    /// A local user has `uid` as a friend: this server hears when `uid`
    /// logs in or out anywhere, or its infos change (`Presence`, `InfoSet`
    /// envelopes); answered by `Friend` (where it is now, its infos).
    WatchFriend(u32),
    /// Local user `uid`'s info `info_id` is `value` now (its friends on
    /// other servers hear it).
    SetInfo { uid: u32, info_id: u32, value: Vec<u8> },
    /// No local user has `uid` as a friend any more.
    UnwatchFriend(u32),
    /// `BRAC_QueryInfoFromServer` across the cluster (a user's id by name,
    /// a name by id, the number online); answered by `Answer`.
    Query { conn: ConnId, id: u32, info: u32, input: Vec<u8> },
    /// A block of [`CALL_ROOM_BLOCK`] call room ids no other server has;
    /// answered by `CallRooms`.
    CallRooms,
}

/// Call room ids the engine hands a server at a time.
pub const CALL_ROOM_BLOCK: u32 = 4096;

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
    /// Where `uid`'s room went: `Ok(server)` (this server's own name: it
    /// holds the room now), `Err(())` Redis unreachable.
    RoomLocated { uid: u32, room: u32, owner: Result<String, ()> },
    /// A media link to `server`, connected and its `Hello` sent (`Err`:
    /// why not).
    Dialed { server: String, stream: Result<std::net::TcpStream, String> },
    /// The answer to `conn`'s query `id`: `(code, output)`, or None when
    /// Redis is unreachable.
    Answer { conn: ConnId, id: u32, result: Option<(u32, Vec<u8>)> },
    /// The id of the room name `conn` enters by (`None`: Redis
    /// unreachable).
    RoomId { conn: ConnId, id: Option<u32> },
    /// The answer to `WatchFriend`: the server `uid` is logged in to (its
    /// lease holding; `None`: nowhere, or Redis unreachable) and its infos.
    Friend { uid: u32, server: Option<String>, infos: Vec<(u32, Vec<u8>)> },
    /// The first of a block of [`CALL_ROOM_BLOCK`] call room ids (`None`:
    /// Redis unreachable).
    CallRooms(Option<u32>),
    /// A watched server's lease ran out.
    Dead(String),
    /// Redis became reachable (true) or unreachable (false).
    Health(bool),
    /// Redis has been unreachable since this server's lease ran out: the
    /// other servers count its users offline and have ended their calls
    /// with them (told once per loss).
    LeaseLost,
    /// Where the business server is (its server and reconnect token), as
    /// the engine says at each lease renewal; `None`: nowhere.
    BusinessHome(Option<(String, u64)>),
    /// `SetBusiness` found the business server linked to that other server.
    BusinessConflict(String),
}

/// The loop's ends of the channels.
pub struct EngineLink {
    pub tx: Sender<ToEngine>,
    pub rx: Receiver<FromEngine>,
    stop: Arc<AtomicBool>,
}

impl Drop for EngineLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

pub const PREFIX: &str = "anychat:";

/// The loop's ends of channels with no engine thread behind them, and the
/// other ends (unit tests of the cluster).
#[cfg(test)]
pub fn test_link() -> (EngineLink, Receiver<ToEngine>, Sender<FromEngine>) {
    test_link_of(ENGINE_QUEUE)
}

/// As [`test_link`], with room for `queue` commands.
#[cfg(test)]
pub fn test_link_of(queue: usize) -> (EngineLink, Receiver<ToEngine>, Sender<FromEngine>) {
    let (tx, cmd_rx) = crossbeam_channel::bounded(queue);
    let (out_tx, rx) = crossbeam_channel::bounded(ENGINE_QUEUE);
    (EngineLink { tx, rx, stop: Arc::new(AtomicBool::new(false)) }, cmd_rx, out_tx)
}

#[cfg(feature = "cluster")]
fn channel_of(server: &str) -> String {
    format!("{PREFIX}srv:{server}")
}

/// The channel every server listens to.
#[cfg(feature = "cluster")]
fn channel_all() -> String {
    format!("{PREFIX}all")
}

/// Where this server takes media links from the others: its address, and
/// the token a link must present.
#[derive(Debug, Clone)]
pub struct PeerEntry {
    pub address: String,
    pub token: String,
}

/// Starts the engine threads for server `me` with lease `lease` on the
/// Redis at `url`; `notify` wakes the loop.
#[cfg(feature = "cluster")]
pub fn spawn(
    url: &str,
    me: &str,
    lease: Duration,
    peer: PeerEntry,
    notify: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<EngineLink> {
    let client = redis::Client::open(url)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("--cluster-engine {url}: {e}")))?;
    let (tx, cmd_rx) = crossbeam_channel::bounded(ENGINE_QUEUE);
    let (out_tx, rx) = crossbeam_channel::bounded(ENGINE_QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    // Bumped by the commands thread each time Redis is lost.
    let losses = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut cmds =
        redis_impl::Commands::new(client.clone(), me.to_string(), lease, peer, out_tx.clone(), notify.clone());
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
pub fn spawn(
    _: &str,
    _: &str,
    _: Duration,
    _: PeerEntry,
    _: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<EngineLink> {
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
if not id then
  id = redis.call('INCR', KEYS[2])
  if id >= 4294967295 then id = 1; redis.call('SET', KEYS[2], 1) end
  redis.call('SET', KEYS[1], id)
end
redis.call('SET', ARGV[2] .. 'name:' .. id, ARGV[1])
return tonumber(id)";

    /// The users online on every server whose lease holds (the entries of
    /// the others are deleted).
    const ONLINE: &str = r"
local t = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #t, 2 do
  if redis.call('EXISTS', ARGV[1] .. 'alive:' .. t[i]) == 1 then
    n = n + tonumber(t[i + 1])
  else
    redis.call('HDEL', KEYS[1], t[i])
  end
end
return n";

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

    /// The holder of room KEYS[1]: another server whose lease holds gets
    /// ARGV[3..] and is returned; otherwise this server (ARGV[2]) takes it.
    const LOCATE_ROOM: &str = r"
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. 'alive:' .. v) == 1 then
  local heard = 0
  for i = 3, #ARGV do heard = redis.call('PUBLISH', ARGV[1] .. 'srv:' .. v, ARGV[i]) end
  if heard > 0 then return v end
end
redis.call('SET', KEYS[1], ARGV[2])
return ARGV[2]";

    /// The offset of the next block of ARGV[1] call room ids in a range of
    /// ARGV[2] ids (`INCRBY` on KEYS[1]; back to the start past its end).
    const CALL_ROOMS: &str = r"
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n > tonumber(ARGV[2]) then
  n = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], n)
end
return n - tonumber(ARGV[1])";

    /// Gives a room name (KEYS[1]) its id: the kept one, or the next of
    /// KEYS[2] within ARGV[1] .. ARGV[2] (the rooms entered by name).
    const ROOM_ID: &str = r"
local id = redis.call('GET', KEYS[1])
if id then return tonumber(id) end
id = redis.call('INCR', KEYS[2])
if id < tonumber(ARGV[1]) or id >= tonumber(ARGV[2]) then
  id = tonumber(ARGV[1])
  redis.call('SET', KEYS[2], id)
end
redis.call('SET', KEYS[1], id)
return id";

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

    /// Publishes ARGV[3] (a `Presence`) to every server in the set KEYS[1]
    /// whose lease holds, but this one (ARGV[2]); the others leave the set.
    const PRESENCE: &str = r"
for _, srv in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. 'alive:' .. srv) == 0 then
    redis.call('SREM', KEYS[1], srv)
  elseif srv ~= ARGV[2] then
    redis.call('PUBLISH', ARGV[1] .. 'srv:' .. srv, ARGV[3])
  end
end
return 0";

    /// Adds this server (ARGV[2]) to the watchers of user KEYS[2] (set
    /// KEYS[1]) and returns the server the user is logged in to, if its
    /// lease holds.
    const WATCH_FRIEND: &str = r"
redis.call('SADD', KEYS[1], ARGV[2])
local v = redis.call('GET', KEYS[2])
local srv = v and string.match(v, '^(.*)/')
if not srv or redis.call('EXISTS', ARGV[1] .. 'alive:' .. srv) == 0 then return false end
return srv";

    /// Deletes KEYS[1] if it still holds ARGV[1].
    const ABSENT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

    /// Makes ARGV[1] the business home (KEYS[1] = `ARGV[1]/ARGV[2]`) and
    /// publishes ARGV[4] to every server, unless another server whose lease
    /// holds is: then returns that server.
    const BIZ_SET: &str = r"
local v = redis.call('GET', KEYS[1])
local srv = v and string.match(v, '^(.*)/')
if srv and srv ~= ARGV[1] and redis.call('EXISTS', ARGV[3] .. 'alive:' .. srv) == 1 then return srv end
redis.call('SET', KEYS[1], ARGV[1] .. '/' .. ARGV[2])
redis.call('PUBLISH', ARGV[3] .. 'all', ARGV[4])
return false";

    /// Deletes KEYS[1] if it names server ARGV[1], and then publishes ARGV[2]
    /// to every server.
    const BIZ_RELEASE: &str = r"
local v = redis.call('GET', KEYS[1])
if not v or string.match(v, '^(.*)/') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[3] .. 'all', ARGV[2])
return 1";

    /// KEYS[1] (`server/token`) if that server's lease holds, else false.
    const BIZ_HOME: &str = r"
local v = redis.call('GET', KEYS[1])
local srv = v and string.match(v, '^(.*)/')
if not srv or redis.call('EXISTS', ARGV[1] .. 'alive:' .. srv) == 0 then return false end
return v";

    pub struct Commands {
        client: redis::Client,
        con: Option<redis::Connection>,
        me: String,
        lease: Duration,
        peer: PeerEntry,
        out: Sender<FromEngine>,
        notify: Arc<dyn Fn() + Send + Sync>,
        /// The sessions this server holds (set again after Redis restarts).
        present: HashMap<u32, u64>,
        /// The rooms this server holds (set again after Redis restarts).
        rooms: HashSet<u32>,
        /// The users whose logins this server watches (set again after
        /// Redis restarts).
        friends: HashSet<u32>,
        watched: HashSet<String>,
        /// The token of the business server linked here, if one is.
        business: Option<u64>,
        /// Sessions that ended while Redis was unreachable (deleted on restore).
        stale: Vec<(u32, u64)>,
        up: bool,
        last_try: Option<Instant>,
        /// When Redis last answered a renewal of this server's lease.
        renewed: Option<Instant>,
        /// `LeaseLost` was told since.
        lease_lost: bool,
        /// Bumped each time Redis is lost (the subscriber subscribes again).
        pub losses: Arc<AtomicU64>,
        resolve: redis::Script,
        restore_script: redis::Script,
        locate: redis::Script,
        locate_room: redis::Script,
        room_id: redis::Script,
        call_rooms: redis::Script,
        absent: redis::Script,
        presence: redis::Script,
        watch_friend: redis::Script,
        biz_set: redis::Script,
        biz_release: redis::Script,
        biz_home: redis::Script,
        online: redis::Script,
    }

    impl Commands {
        pub fn new(
            client: redis::Client,
            me: String,
            lease: Duration,
            peer: PeerEntry,
            out: Sender<FromEngine>,
            notify: Arc<dyn Fn() + Send + Sync>,
        ) -> Self {
            Commands {
                client,
                con: None,
                me,
                lease,
                peer,
                out,
                notify,
                present: HashMap::new(),
                rooms: HashSet::new(),
                friends: HashSet::new(),
                watched: HashSet::new(),
                business: None,
                stale: Vec::new(),
                up: false,
                last_try: None,
                renewed: None,
                lease_lost: false,
                losses: Arc::new(AtomicU64::new(0)),
                resolve: redis::Script::new(RESOLVE),
                restore_script: redis::Script::new(RESTORE),
                locate: redis::Script::new(LOCATE),
                locate_room: redis::Script::new(LOCATE_ROOM),
                room_id: redis::Script::new(ROOM_ID),
                call_rooms: redis::Script::new(CALL_ROOMS),
                online: redis::Script::new(ONLINE),
                absent: redis::Script::new(ABSENT),
                presence: redis::Script::new(PRESENCE),
                watch_friend: redis::Script::new(WATCH_FRIEND),
                biz_set: redis::Script::new(BIZ_SET),
                biz_release: redis::Script::new(BIZ_RELEASE),
                biz_home: redis::Script::new(BIZ_HOME),
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

        /// After (re)connecting: this server's lease, its media-link entry,
        /// its sessions (unless a newer login elsewhere took one meanwhile:
        /// that session is kicked out here as by a `Kick`), the keys of
        /// sessions that ended meanwhile, its rooms and its business
        /// server. False when Redis failed again.
        fn restore(&mut self) -> bool {
            let Some(mut con) = self.con.take() else { return false };
            let r = self.restore_on(&mut con);
            self.con = Some(con);
            let lost = match r {
                Ok(lost) => lost,
                Err(e) => {
                    self.down(&e);
                    return false;
                }
            };
            self.renewed = Some(Instant::now());
            self.lease_lost = false;
            for (uid, conn) in lost {
                tracing::info!(user = uid, "cluster: logged in elsewhere while the engine was unreachable");
                self.present.remove(&uid);
                self.tell(FromEngine::Inbound(Envelope::Kick { uid, conn }));
            }
            if let Some(token) = self.business {
                self.set_business(token);
            }
            self.con.is_some()
        }

        fn restore_on(&mut self, con: &mut redis::Connection) -> redis::RedisResult<Vec<(u32, u64)>> {
            let mut pipe = self.renewal();
            for room in &self.rooms {
                pipe.cmd("SET").arg(format!("{PREFIX}room:{room}")).arg(&self.me).arg("NX").ignore();
            }
            for uid in &self.friends {
                pipe.cmd("SADD").arg(format!("{PREFIX}watchers:{uid}")).arg(&self.me).ignore();
            }
            pipe.query::<()>(con)?;
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

        /// Tells the servers watching `uid` of it (`Presence`, `InfoSet`).
        fn tell_watchers(&mut self, uid: u32, env: Envelope) {
            let set = format!("{PREFIX}watchers:{uid}");
            let env = env.encode();
            self.run_cmd(|c, s| s.presence.key(&set).arg(PREFIX).arg(&s.me).arg(env).invoke::<u32>(c));
        }

        /// Makes this server the business home (see [`ToEngine::SetBusiness`]).
        fn set_business(&mut self, token: u64) {
            self.business = Some(token);
            let key = format!("{PREFIX}business");
            let env = Envelope::BizHome { home: self.me.clone(), token, up: true }.encode();
            let other = self.run_cmd(|c, s| {
                s.biz_set.key(&key).arg(&s.me).arg(token).arg(PREFIX).arg(env).invoke::<Option<String>>(c)
            });
            if let Some(Some(other)) = other {
                tracing::warn!(server = %other, "cluster: a business server is linked to another server already");
                self.business = None;
                self.tell(FromEngine::BusinessConflict(other));
            }
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
            let (me, peer) = (format!("{PREFIX}alive:{}", self.me), format!("{PREFIX}peer:{}", self.me));
            self.run_cmd(|c, _| redis::cmd("DEL").arg(&me).arg(&peer).query::<()>(c));
            let counts = format!("{PREFIX}counts");
            self.run_cmd(|c, s| redis::cmd("HDEL").arg(&counts).arg(&s.me).query::<()>(c));
        }

        /// A query about users of the whole cluster: `(code, output)` as
        /// the core answers it, None when Redis is unreachable.
        fn query(&mut self, info: u32, input: &[u8]) -> Option<(u32, Vec<u8>)> {
            use crate::wire::constants::*;
            let text = input.split(|b| *b == 0).next().unwrap_or_default();
            let found = |v: Option<Vec<u8>>| v.map_or((GV_ERR_INVALID_USERID, Vec::new()), |v| (0, v));
            match info {
                ANYCHAT_SERVERQUERY_USERIDBYNAME => {
                    let mut key = format!("{PREFIX}id:").into_bytes();
                    key.extend_from_slice(text);
                    let id = self.run_cmd(|c, _| redis::cmd("GET").arg(&key).query::<Option<u32>>(c))?;
                    Some(found(id.map(|id| id.to_le_bytes().to_vec())))
                }
                ANYCHAT_SERVERQUERY_NAMEBYUSERID => {
                    let raw = <[u8; 4]>::try_from(input.get(..4).unwrap_or_default()).ok();
                    let Some(raw) = raw else { return Some((GV_ERR_FUNCOPTERROR, Vec::new())) };
                    let key = format!("{PREFIX}name:{}", u32::from_le_bytes(raw));
                    let name = self.run_cmd(|c, _| redis::cmd("GET").arg(&key).query::<Option<Vec<u8>>>(c))?;
                    Some(found(name.map(|mut n| {
                        n.push(0);
                        n
                    })))
                }
                ANYCHAT_SERVERQUERY_ONLINEUSERS => {
                    let key = format!("{PREFIX}counts");
                    let n = self.run_cmd(|c, s| s.online.key(&key).arg(PREFIX).invoke::<u32>(c))?;
                    Some((0, n.to_le_bytes().to_vec()))
                }
                _ => Some((GV_ERR_FUNCNOTALLOW, Vec::new())),
            }
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

        /// This server's lease and its media-link entry, set for another
        /// lease (commands of a pipeline, their answers ignored).
        fn renewal(&self) -> redis::Pipeline {
            let px = self.lease.as_millis() as u64;
            let mut pipe = redis::pipe();
            pipe.cmd("SET").arg(format!("{PREFIX}alive:{}", self.me)).arg(1).arg("PX").arg(px).ignore();
            pipe.cmd("SET")
                .arg(format!("{PREFIX}peer:{}", self.me))
                .arg(format!("{} {}", self.peer.address, self.peer.token))
                .arg("PX")
                .arg(px)
                .ignore();
            pipe
        }

        fn tick(&mut self) {
            // The lease and where media links come in, and the number
            // online here: renewed together, gone with the lease.
            let mut pipe = self.renewal();
            pipe.cmd("HSET").arg(format!("{PREFIX}counts")).arg(&self.me).arg(self.present.len()).ignore();
            if self.run_cmd(|c, _| pipe.query::<()>(c)).is_none() {
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
            let key = format!("{PREFIX}business");
            if let Some(home) = self.run_cmd(|c, s| s.biz_home.key(&key).arg(PREFIX).invoke::<Option<String>>(c)) {
                let home = home.and_then(|v| {
                    let (srv, token) = v.rsplit_once('/')?;
                    Some((srv.to_string(), token.parse().ok()?))
                });
                self.tell(FromEngine::BusinessHome(home));
            }
        }

        fn handle(&mut self, cmd: ToEngine) {
            match cmd {
                ToEngine::ResolveId { conn, name } => {
                    let mut key = format!("{PREFIX}id:").into_bytes();
                    key.extend_from_slice(&name);
                    let next = format!("{PREFIX}nextid");
                    let uid =
                        self.run_cmd(|c, s| s.resolve.key(&key).key(&next).arg(&name).arg(PREFIX).invoke::<u32>(c));
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
                    let reachable = old.is_some();
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
                    if reachable {
                        self.tell_watchers(uid, Envelope::Presence { uid, online: true, server: self.me.clone() });
                    }
                }
                ToEngine::Absent { uid, conn } => {
                    if self.present.get(&uid) == Some(&conn) {
                        self.present.remove(&uid);
                    }
                    let key = format!("{PREFIX}user:{uid}");
                    let value = format!("{}/{conn}", self.me);
                    match self.run_cmd(|c, s| s.absent.key(&key).arg(&value).invoke::<u32>(c)) {
                        None => self.stale.push((uid, conn)),
                        // Its own session ended (not replaced by a login
                        // elsewhere): its infos go with it.
                        Some(1) => {
                            let info = format!("{PREFIX}info:{uid}");
                            self.run_cmd(|c, _| redis::cmd("DEL").arg(&info).query::<u32>(c));
                            self.tell_watchers(uid, Envelope::Presence { uid, online: false, server: self.me.clone() });
                        }
                        Some(_) => {}
                    }
                }
                ToEngine::WatchFriend(uid) => {
                    self.friends.insert(uid);
                    let (set, user) = (format!("{PREFIX}watchers:{uid}"), format!("{PREFIX}user:{uid}"));
                    let at = self.run_cmd(|c, s| {
                        s.watch_friend.key(&set).key(&user).arg(PREFIX).arg(&s.me).invoke::<Option<String>>(c)
                    });
                    let info = format!("{PREFIX}info:{uid}");
                    let infos = match at {
                        Some(Some(_)) => self
                            .run_cmd(|c, _| redis::cmd("HGETALL").arg(&info).query::<Vec<(u32, Vec<u8>)>>(c))
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    // Unreachable: offline as far as anyone here can tell.
                    self.tell(FromEngine::Friend { uid, server: at.flatten(), infos });
                }
                ToEngine::SetInfo { uid, info_id, value } => {
                    let info = format!("{PREFIX}info:{uid}");
                    if self
                        .run_cmd(|c, _| redis::cmd("HSET").arg(&info).arg(info_id).arg(&value).query::<u32>(c))
                        .is_some()
                    {
                        let env = Envelope::InfoSet { uid, info_id, value };
                        self.tell_watchers(uid, env);
                    }
                }
                ToEngine::UnwatchFriend(uid) => {
                    self.friends.remove(&uid);
                    let set = format!("{PREFIX}watchers:{uid}");
                    self.run_cmd(|c, s| redis::cmd("SREM").arg(&set).arg(&s.me).query::<u32>(c));
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
                ToEngine::SetBusiness { token } => self.set_business(token),
                ToEngine::ReleaseBusiness => {
                    self.business = None;
                    let key = format!("{PREFIX}business");
                    let env = Envelope::BizHome { home: self.me.clone(), token: 0, up: false }.encode();
                    self.run_cmd(|c, s| s.biz_release.key(&key).arg(&s.me).arg(env).arg(PREFIX).invoke::<u32>(c));
                }
                ToEngine::ToUser { uid, env } => {
                    let key = format!("{PREFIX}user:{uid}");
                    self.run_cmd(|c, s| s.locate.key(&key).arg(env).arg(PREFIX).invoke::<Option<String>>(c));
                }
                ToEngine::Broadcast(env) => {
                    let ch = channel_all();
                    self.run_cmd(|c, _| redis::cmd("PUBLISH").arg(&ch).arg(env).query::<u64>(c));
                }
                ToEngine::LocateRoom { uid, room, envs } => {
                    let key = format!("{PREFIX}room:{room}");
                    let owner = self
                        .run_cmd(|c, s| {
                            let mut call = s.locate_room.key(&key);
                            call.arg(PREFIX).arg(&s.me);
                            for env in &envs {
                                call.arg(env.as_slice());
                            }
                            call.invoke::<String>(c)
                        })
                        .ok_or(());
                    if owner.as_ref().is_ok_and(|o| *o == self.me) {
                        self.rooms.insert(room);
                    }
                    self.tell(FromEngine::RoomLocated { uid, room, owner });
                }
                ToEngine::RoomId { conn, name } => {
                    let mut key = format!("{PREFIX}roomname:").into_bytes();
                    key.extend_from_slice(&name);
                    let next = format!("{PREFIX}nextroom");
                    let (base, end) = (crate::core::NAMED_ROOM_BASE, crate::core::CALL_ROOM_BASE);
                    let id = self.run_cmd(|c, s| s.room_id.key(&key).key(&next).arg(base).arg(end).invoke::<u32>(c));
                    self.tell(FromEngine::RoomId { conn, id });
                }
                ToEngine::CallRooms => {
                    let key = format!("{PREFIX}callrooms");
                    let (base, size) = (crate::core::CLUSTER_CALL_ROOM_BASE, super::CALL_ROOM_BLOCK);
                    let range = u32::MAX - base;
                    let offset = self.run_cmd(|c, s| s.call_rooms.key(&key).arg(size).arg(range).invoke::<u32>(c));
                    self.tell(FromEngine::CallRooms(offset.map(|o| base + o)));
                }
                ToEngine::Dial(server) => {
                    let key = format!("{PREFIX}peer:{server}");
                    let entry = self.run_cmd(|c, _| redis::cmd("GET").arg(&key).query::<Option<String>>(c));
                    let Some(Some(entry)) = entry else {
                        let stream = Err("no address in the engine".to_string());
                        self.tell(FromEngine::Dialed { server, stream });
                        return;
                    };
                    // The connect may take up to IO_TIMEOUT: not on this thread.
                    let (out, notify) = (self.out.clone(), self.notify.clone());
                    let spawned = std::thread::Builder::new().name("anychat-dial".into()).spawn(move || {
                        let stream = dial(&entry);
                        if out.send(FromEngine::Dialed { server, stream }).is_ok() {
                            notify();
                        }
                    });
                    if let Err(e) = spawned {
                        tracing::warn!("cluster: cannot start a dialing thread: {e}");
                    }
                }
                ToEngine::Query { conn, id, info, input } => {
                    let result = self.query(info, &input);
                    self.tell(FromEngine::Answer { conn, id, result });
                }
                ToEngine::ReleaseRoom { room } => {
                    self.rooms.remove(&room);
                    let key = format!("{PREFIX}room:{room}");
                    let me = self.me.clone();
                    self.run_cmd(|c, s| s.absent.key(&key).arg(&me).invoke::<u32>(c));
                }
            }
        }
    }

    /// Connects to a peer's `<address> <token>` and sends its `Hello`.
    fn dial(entry: &str) -> Result<std::net::TcpStream, String> {
        use std::io::Write;
        use std::net::ToSocketAddrs;
        let (address, token) = entry.split_once(' ').ok_or("a malformed peer entry")?;
        let addr = address
            .to_socket_addrs()
            .map_err(|e| format!("{address}: {e}"))?
            .next()
            .ok_or_else(|| format!("{address}: no address"))?;
        let mut tcp = std::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
        let hello = crate::wire::protocol::ClientMsg::Hello {
            version: crate::wire::protocol::PROTOCOL_VERSION,
            role: crate::wire::protocol::Role::Peer as u8,
            secret: token.as_bytes().to_vec(),
            token: 0,
        };
        let mut frame = Vec::new();
        hello.encode(&mut frame);
        let _ = tcp.set_nodelay(true);
        tcp.set_write_timeout(Some(IO_TIMEOUT)).and_then(|()| tcp.write_all(&frame)).map_err(|e| e.to_string())?;
        tcp.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(tcp)
    }

    /// Whether a Redis error is a system call interrupted (`EINTR`): a read
    /// with a time-out returns it after the process was stopped and
    /// continued, even with no signal handler.
    fn interrupted(e: &redis::RedisError) -> bool {
        std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|io| io.kind() == std::io::ErrorKind::Interrupted)
    }

    /// The subscriber looks at `losses` at least this often.
    const SUB_WAIT: Duration = Duration::from_millis(250);

    /// The subscriber thread: this server's channel and the one of every
    /// server, reconnecting on loss (a closed connection, or Redis lost by
    /// the commands thread).
    pub fn subscribe(
        client: redis::Client,
        me: &str,
        out: Sender<FromEngine>,
        notify: Arc<dyn Fn() + Send + Sync>,
        stop: Arc<AtomicBool>,
        losses: Arc<AtomicU64>,
    ) {
        let ch = [channel_of(me), channel_all()];
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
                        // A read cut short by the time-out, or by the process
                        // being stopped and continued (SIGSTOP, SIGCONT):
                        // the parser keeps what it had read.
                        Err(e) if e.is_timeout() || interrupted(&e) => continue,
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
