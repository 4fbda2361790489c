//! Unit tests of the cluster logic in simulated time, with no Redis and no
//! socket: three (`Core`, `Cluster`) servers driven in the order of the
//! server's loop (`src/net/server.rs`: the clients' messages through
//! `on_client`, then `on_engine`, the core's timers, the outputs through
//! `on_output`, then `after_step`), and an engine in memory that does each
//! `ToEngine` command the way the Redis scripts of `engine.rs` do: ids by
//! name, `user:<id>` presence set with SET … GET and a `Kick` to the old
//! holder, leases that run out in simulated time, `Locate` checking the
//! callee's lease, envelopes routed to the right server, `Watch` → `Dead`,
//! `Health`, the restore after a loss (`RESTORE`: a newer login elsewhere
//! is not overwritten, its old session is kicked), rooms (`LOCATE_ROOM`),
//! room names, the business key, queries and broadcasts. Media links are never
//! connected here (`Dial` fails): media goes through the engine.
//!
//! Time is `Sim::now`, only ever moved forward in steps of [`STEP`]; the
//! bounds of `docs/CLUSTER.md` are asserted on the simulated times at which
//! the clients got their events.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::engine::{test_link_of, FromEngine, ToEngine, CALL_ROOM_BLOCK};
use super::envelope::Envelope;
use super::Cluster;
use crate::core::{ConnId, Core, CoreConfig, Output};
use crate::wire::constants::*;
use crate::wire::protocol::{CallEvent, ClientMsg, Role, ServerMsg, PROTOCOL_VERSION};

const REQUEST: u32 = BRAC_VIDEOCALL_EVENT_REQUEST;
const REPLY: u32 = BRAC_VIDEOCALL_EVENT_REPLY;
const START: u32 = BRAC_VIDEOCALL_EVENT_START;
const FINISH: u32 = BRAC_VIDEOCALL_EVENT_FINISH;
const OFFLINE: u32 = AC_ERROR_VIDEOCALL_OFFLINE;
const BUSY: u32 = AC_ERROR_VIDEOCALL_BUSY;
const REFUSE: u32 = AC_ERROR_VIDEOCALL_REJECT;
const CANCEL: u32 = AC_ERROR_VIDEOCALL_CANCEL;
const TIMEOUT: u32 = AC_ERROR_VIDEOCALL_TIMEOUT;
const LOST: u32 = AC_ERROR_VIDEOCALL_DISCONNECT;

/// Each server's lease.
const LEASE: Duration = Duration::from_millis(1500);
/// The ring time-out of every server.
const RING: Duration = Duration::from_secs(3);
/// Simulated time moves in steps of this.
const STEP: Duration = Duration::from_millis(10);

/// A video-call event as a client's callback sees it: (event, peer, code).
type Ev = (u32, u32, u32);

/// What the engine (Redis) holds.
#[derive(Default)]
struct Store {
    ids: HashMap<Vec<u8>, u32>,
    next_id: u32,
    /// `user:<id>` → `<instance>/<connection>`.
    users: HashMap<u32, String>,
    /// `alive:<instance>` → when it expires.
    alive: HashMap<String, Instant>,
    /// `name:<id>`.
    names: HashMap<u32, Vec<u8>>,
    /// `room:<id>` → the instance holding it.
    rooms: HashMap<u32, String>,
    /// `business` → `(instance, token)`.
    business: Option<(String, u64)>,
    /// `roomname:<name>` and `nextroom`.
    room_ids: HashMap<Vec<u8>, u32>,
    next_room: u32,
    /// `callrooms`: the offset of the next block of call room ids.
    call_rooms: u32,
    /// `watchers:<id>`.
    watchers: HashMap<u32, HashSet<String>>,
    /// `info:<id>`.
    infos: HashMap<u32, Vec<(u32, Vec<u8>)>>,
}

impl Store {
    /// The rooms server `prefix` (its instance name's start) holds, sorted.
    fn rooms_of(&self, prefix: &str) -> Vec<u32> {
        let mut r: Vec<u32> = self.rooms.iter().filter(|(_, s)| s.starts_with(prefix)).map(|(r, _)| *r).collect();
        r.sort_unstable();
        r
    }
}

/// The engine's end of one server's link, and what its engine threads keep.
struct End {
    name: String,
    cmds: Receiver<ToEngine>,
    tell: Sender<FromEngine>,
    /// Its network to the engine is cut (silently: its subscription still
    /// counts, what is published to it is lost).
    cut: bool,
    /// The server is gone (killed): its subscription with it.
    killed: bool,
    /// Its engine thread does not take commands (a stalled engine).
    stalled: bool,
    /// Health last told.
    up: bool,
    present: HashMap<u32, u64>,
    stale: Vec<(u32, u64)>,
    rooms: HashSet<u32>,
    business: Option<u64>,
    watched: HashSet<String>,
    next_tick: Instant,
    renewed: Option<Instant>,
    lease_lost: bool,
}

/// The engine in memory.
struct Engine {
    store: Store,
    ends: Vec<End>,
    /// Redis itself unreachable (for every server).
    down: bool,
}

fn session(name: &str, conn: u64) -> String {
    format!("{name}/{conn}")
}

fn server_of(value: &str) -> (&str, u64) {
    let (srv, conn) = value.rsplit_once('/').unwrap_or((value, "0"));
    (srv, conn.parse().unwrap_or(0))
}

impl Engine {
    fn reachable(&self, i: usize) -> bool {
        !self.down && !self.ends[i].cut && !self.ends[i].killed
    }

    fn tell(&self, i: usize, what: FromEngine) {
        let _ = self.ends[i].tell.send(what);
    }

    /// Whether `server`'s lease holds.
    fn alive(&self, server: &str, now: Instant) -> bool {
        self.store.alive.get(server).is_some_and(|t| *t > now)
    }

    /// PUBLISH to every server's `all` channel.
    fn broadcast(&mut self, env: &[u8]) {
        let names: Vec<String> = self.ends.iter().map(|e| e.name.clone()).collect();
        for name in names {
            self.publish(&name, env);
        }
    }

    /// The BIZ_SET script: refused when another server whose lease holds
    /// is the business home.
    fn set_business(&mut self, i: usize, token: u64, now: Instant) {
        let name = self.ends[i].name.clone();
        self.ends[i].business = Some(token);
        if let Some((other, _)) = self.store.business.clone().filter(|(s, _)| *s != name && self.alive(s, now)) {
            self.ends[i].business = None;
            return self.tell(i, FromEngine::BusinessConflict(other));
        }
        self.store.business = Some((name.clone(), token));
        self.broadcast(&Envelope::BizHome { home: name, token, up: true }.encode());
    }

    /// PUBLISH to `server`'s channel: false when nobody is subscribed.
    fn publish(&mut self, server: &str, env: &[u8]) -> bool {
        let Some(j) = self.ends.iter().position(|e| e.name == server) else { return false };
        if self.ends[j].killed {
            return false;
        }
        if self.reachable(j) {
            let env = Envelope::decode(env).expect("an envelope decodes");
            self.tell(j, FromEngine::Inbound(env));
        }
        true
    }

    /// The engine thread of server `i` (re)connects: `restore`, then Health.
    fn connect(&mut self, i: usize, now: Instant) {
        if self.ends[i].up || !self.reachable(i) {
            return;
        }
        let name = self.ends[i].name.clone();
        self.store.alive.insert(name.clone(), now + LEASE);
        for room in self.ends[i].rooms.clone() {
            self.store.rooms.entry(room).or_insert_with(|| name.clone());
        }
        let present: Vec<(u32, u64)> = self.ends[i].present.iter().map(|(u, c)| (*u, *c)).collect();
        for (uid, conn) in present {
            let mine = session(&name, conn);
            match self.store.users.get(&uid) {
                Some(v) if *v != mine => {
                    self.ends[i].present.remove(&uid);
                    self.tell(i, FromEngine::Inbound(Envelope::Kick { uid, conn }));
                }
                _ => {
                    self.store.users.insert(uid, mine);
                }
            }
        }
        for (uid, conn) in std::mem::take(&mut self.ends[i].stale) {
            self.absent(&name, uid, conn, now);
        }
        if let Some(token) = self.ends[i].business {
            self.set_business(i, token, now);
        }
        let end = &mut self.ends[i];
        end.renewed = Some(now);
        end.lease_lost = false;
        end.up = true;
        self.tell(i, FromEngine::Health(true));
    }

    /// A command of server `i` failed: Health(false) once.
    fn failed(&mut self, i: usize) {
        if self.ends[i].up {
            self.ends[i].up = false;
            self.tell(i, FromEngine::Health(false));
        }
    }

    fn absent(&mut self, name: &str, uid: u32, conn: u64, now: Instant) {
        if self.store.users.get(&uid) == Some(&session(name, conn)) {
            self.store.users.remove(&uid);
            self.store.infos.remove(&uid);
            let env = Envelope::Presence { uid, online: false, server: name.to_string() };
            self.tell_watchers(name, uid, env, now);
        }
    }

    /// The PRESENCE script: every live watcher of `uid` but `name` hears it.
    fn tell_watchers(&mut self, name: &str, uid: u32, env: Envelope, now: Instant) {
        let env = env.encode();
        let watchers: Vec<String> = self.store.watchers.get(&uid).into_iter().flatten().cloned().collect();
        for w in watchers {
            if w != name && self.alive(&w, now) {
                self.publish(&w, &env);
            }
        }
    }

    fn present(&mut self, i: usize, uid: u32, conn: u64, now: Instant) {
        self.ends[i].present.insert(uid, conn);
        if !self.reachable(i) {
            return self.failed(i);
        }
        let name = self.ends[i].name.clone();
        if let Some(old) = self.store.users.insert(uid, session(&name, conn)) {
            let (srv, conn) = server_of(&old);
            if srv != name {
                let srv = srv.to_string();
                self.publish(&srv, &Envelope::Kick { uid, conn }.encode());
            }
        }
        let env = Envelope::Presence { uid, online: true, server: name.clone() };
        self.tell_watchers(&name, uid, env, now);
    }

    /// One command of server `i`, as `engine.rs` runs it.
    fn handle(&mut self, i: usize, cmd: ToEngine, now: Instant) {
        self.connect(i, now);
        let ok = self.reachable(i);
        let name = self.ends[i].name.clone();
        match cmd {
            ToEngine::ResolveId { conn, name: user } => {
                let uid = ok.then(|| {
                    let next = self.store.next_id + 1;
                    let id = *self.store.ids.entry(user.clone()).or_insert(next);
                    self.store.next_id = self.store.next_id.max(id);
                    self.store.names.insert(id, user);
                    id
                });
                match uid {
                    Some(uid) => self.present(i, uid, conn.0, now),
                    None => self.failed(i),
                }
                self.tell(i, FromEngine::Id { conn, uid });
            }
            ToEngine::Present { uid, conn } => self.present(i, uid, conn, now),
            ToEngine::WatchFriend(uid) => {
                // WATCH_FRIEND: join the watchers, and where the user is.
                let server = if ok {
                    self.store.watchers.entry(uid).or_default().insert(name.clone());
                    let srv = self.store.users.get(&uid).map(|v| server_of(v).0.to_string());
                    srv.filter(|s| self.alive(s, now))
                } else {
                    self.failed(i);
                    None
                };
                let infos = server.as_ref().and_then(|_| self.store.infos.get(&uid).cloned()).unwrap_or_default();
                self.tell(i, FromEngine::Friend { uid, server, infos });
            }
            ToEngine::SetInfo { uid, info_id, value } => {
                if !ok {
                    return self.failed(i);
                }
                let infos = self.store.infos.entry(uid).or_default();
                match infos.iter_mut().find(|(id, _)| *id == info_id) {
                    Some(v) => v.1 = value.clone(),
                    None => infos.push((info_id, value.clone())),
                }
                self.tell_watchers(&name, uid, Envelope::InfoSet { uid, info_id, value }, now);
            }
            ToEngine::UnwatchFriend(uid) => {
                if let Some(w) = self.store.watchers.get_mut(&uid) {
                    w.remove(&name);
                }
            }
            ToEngine::Absent { uid, conn } => {
                if self.ends[i].present.get(&uid) == Some(&conn) {
                    self.ends[i].present.remove(&uid);
                }
                if ok {
                    self.absent(&name, uid, conn, now);
                } else {
                    self.ends[i].stale.push((uid, conn));
                    self.failed(i);
                }
            }
            ToEngine::Locate { from, to, env } => {
                let owner = if ok {
                    // The LOCATE script: the callee's server, if its lease holds.
                    let srv = self.store.users.get(&to).map(|v| server_of(v).0.to_string());
                    Ok(srv.filter(|s| self.alive(s, now)).filter(|s| self.publish(s, &env)))
                } else {
                    self.failed(i);
                    Err(())
                };
                self.tell(i, FromEngine::Located { from, owner });
            }
            ToEngine::Send { to, env } => {
                if ok {
                    self.publish(&to, &env);
                } else {
                    self.failed(i);
                }
            }
            ToEngine::Watch(server) => {
                self.ends[i].watched.insert(server);
            }
            ToEngine::SetBusiness { token } => {
                if ok {
                    self.set_business(i, token, now);
                } else {
                    self.ends[i].business = Some(token);
                    self.failed(i);
                }
            }
            ToEngine::ReleaseBusiness => {
                self.ends[i].business = None;
                if !ok {
                    return self.failed(i);
                }
                if self.store.business.as_ref().is_some_and(|(s, _)| *s == name) {
                    self.store.business = None;
                    self.broadcast(&Envelope::BizHome { home: name, token: 0, up: false }.encode());
                }
            }
            ToEngine::ToUser { uid, env } => {
                if !ok {
                    return self.failed(i);
                }
                let srv = self.store.users.get(&uid).map(|v| server_of(v).0.to_string());
                if let Some(srv) = srv.filter(|s| self.alive(s, now)) {
                    self.publish(&srv, &env);
                }
            }
            ToEngine::Broadcast(env) => {
                if ok {
                    self.broadcast(&env);
                } else {
                    self.failed(i);
                }
            }
            ToEngine::LocateRoom { uid, room, envs } => {
                let owner = if ok {
                    // LOCATE_ROOM: another live holder gets the entry, or
                    // this server takes the room.
                    let held = self.store.rooms.get(&room).cloned();
                    match held.filter(|h| *h != name && self.alive(h, now)) {
                        Some(h) if envs.iter().fold(false, |_, env| self.publish(&h, env)) => Ok(h),
                        _ => {
                            self.store.rooms.insert(room, name.clone());
                            self.ends[i].rooms.insert(room);
                            Ok(name.clone())
                        }
                    }
                } else {
                    self.failed(i);
                    Err(())
                };
                self.tell(i, FromEngine::RoomLocated { uid, room, owner });
            }
            ToEngine::ReleaseRoom { room } => {
                self.ends[i].rooms.remove(&room);
                if !ok {
                    return self.failed(i);
                }
                if self.store.rooms.get(&room) == Some(&name) {
                    self.store.rooms.remove(&room);
                }
            }
            ToEngine::RoomId { conn, name: room } => {
                let id = ok.then(|| {
                    let next = self.store.next_room.max(crate::core::NAMED_ROOM_BASE - 1) + 1;
                    let id = *self.store.room_ids.entry(room).or_insert(next);
                    self.store.next_room = self.store.next_room.max(id);
                    id
                });
                if !ok {
                    self.failed(i);
                }
                self.tell(i, FromEngine::RoomId { conn, id });
            }
            ToEngine::CallRooms => {
                let first = ok.then(|| {
                    let first = crate::core::CLUSTER_CALL_ROOM_BASE + self.store.call_rooms;
                    self.store.call_rooms += CALL_ROOM_BLOCK;
                    first
                });
                if !ok {
                    self.failed(i);
                }
                self.tell(i, FromEngine::CallRooms(first));
            }
            ToEngine::Dial(server) => {
                self.tell(i, FromEngine::Dialed { server, stream: Err("no media links in simulation".into()) });
            }
            ToEngine::Query { conn, id, info, input } => {
                let result = ok.then(|| self.query(info, &input, now));
                if !ok {
                    self.failed(i);
                }
                self.tell(i, FromEngine::Answer { conn, id, result });
            }
        }
    }

    /// A query about users of the whole cluster, as `engine.rs` answers it.
    fn query(&self, info: u32, input: &[u8], now: Instant) -> (u32, Vec<u8>) {
        let text = input.split(|b| *b == 0).next().unwrap_or_default();
        match info {
            ANYCHAT_SERVERQUERY_USERIDBYNAME => match self.store.ids.get(text) {
                Some(id) => (0, id.to_le_bytes().to_vec()),
                None => (GV_ERR_INVALID_USERID, Vec::new()),
            },
            ANYCHAT_SERVERQUERY_NAMEBYUSERID => {
                let id = input.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_le_bytes);
                match id.and_then(|id| self.store.names.get(&id)) {
                    Some(name) => (0, [name.as_slice(), &[0]].concat()),
                    None => (GV_ERR_INVALID_USERID, Vec::new()),
                }
            }
            ANYCHAT_SERVERQUERY_ONLINEUSERS => {
                let n: usize = self.ends.iter().filter(|e| self.alive(&e.name, now)).map(|e| e.present.len()).sum();
                (0, (n as u32).to_le_bytes().to_vec())
            }
            _ => (GV_ERR_FUNCNOTALLOW, Vec::new()),
        }
    }

    /// Runs the commands waiting; the number run.
    fn run_commands(&mut self, now: Instant) -> usize {
        let mut n = 0;
        for i in 0..self.ends.len() {
            if self.ends[i].killed || self.ends[i].stalled {
                continue;
            }
            while let Ok(cmd) = self.ends[i].cmds.try_recv() {
                self.handle(i, cmd, now);
                n += 1;
            }
        }
        n
    }

    /// The engine threads' timers: every lease/3 the lease is renewed and
    /// the watched servers' leases checked; `LeaseLost` once the lease ran
    /// out while unreachable.
    fn timers(&mut self, now: Instant) {
        for i in 0..self.ends.len() {
            if self.ends[i].killed {
                continue;
            }
            if now >= self.ends[i].next_tick {
                self.ends[i].next_tick = now + LEASE / 3;
                self.connect(i, now);
                if self.reachable(i) {
                    let name = self.ends[i].name.clone();
                    self.store.alive.insert(name, now + LEASE);
                    self.ends[i].renewed = Some(now);
                    let watched: Vec<String> = self.ends[i].watched.iter().cloned().collect();
                    for w in watched {
                        if !self.alive(&w, now) {
                            self.ends[i].watched.remove(&w);
                            self.tell(i, FromEngine::Dead(w));
                        }
                    }
                    let home = self.store.business.clone().filter(|(s, _)| self.alive(s, now));
                    self.tell(i, FromEngine::BusinessHome(home));
                } else {
                    self.failed(i);
                }
            }
            let end = &mut self.ends[i];
            if !end.up && !end.lease_lost && end.renewed.is_some_and(|t| now >= t + LEASE) {
                end.lease_lost = true;
                self.tell(i, FromEngine::LeaseLost);
            }
        }
    }
}

/// One core server: its core, its cluster side, and its clients' messages
/// not read yet.
struct Node {
    core: Core,
    cluster: Cluster,
    alive: bool,
    inbox: VecDeque<(ConnId, ClientMsg)>,
}

/// A client: a connection to one server, logged in as `id`.
#[derive(Debug, Clone, Copy)]
struct Cl {
    node: usize,
    conn: ConnId,
    id: u32,
}

struct Sim {
    now: Instant,
    nodes: Vec<Node>,
    engine: Engine,
    next_conn: u64,
    /// What each connection got, with when.
    got: HashMap<ConnId, Vec<(Instant, ServerMsg)>>,
    /// Connections the servers closed.
    closed: HashSet<ConnId>,
}

impl Sim {
    /// Three servers on one engine.
    fn new() -> Sim {
        Sim::with_queue(crate::cluster::engine::ENGINE_QUEUE)
    }

    /// Three servers whose engine queues hold `queue` commands.
    fn with_queue(queue: usize) -> Sim {
        let now = Instant::now();
        let mut nodes = Vec::new();
        let mut ends = Vec::new();
        for n in 0u64..3 {
            let (link, cmds, tell) = test_link_of(queue);
            let name = format!("s{n}.0000000{n}");
            let config = CoreConfig {
                ring_timeout: RING,
                keepalive_timeout: Duration::from_secs(3600),
                seed: n + 1,
                ..CoreConfig::default()
            };
            let cluster = Cluster::new(name.clone(), link, format!("token{n}"));
            nodes.push(Node { core: Core::new(config), cluster, alive: true, inbox: VecDeque::new() });
            ends.push(End {
                name,
                cmds,
                tell,
                cut: false,
                killed: false,
                stalled: false,
                up: false,
                present: HashMap::new(),
                stale: Vec::new(),
                rooms: HashSet::new(),
                business: None,
                watched: HashSet::new(),
                next_tick: now,
                renewed: None,
                lease_lost: false,
            });
        }
        let engine = Engine { store: Store::default(), ends, down: false };
        let mut sim = Sim { now, nodes, engine, next_conn: 1, got: HashMap::new(), closed: HashSet::new() };
        sim.settle();
        sim
    }

    /// One iteration of server `n`'s loop; whether anything happened.
    fn step(&mut self, n: usize) -> bool {
        let now = self.now;
        let node = &mut self.nodes[n];
        if !node.alive {
            return false;
        }
        let mut busy = node.cluster.pending();
        let mut held = VecDeque::new();
        while let Some((conn, msg)) = node.inbox.pop_front() {
            // A connection whose login waits for its id is not read; what
            // it sent after stays in order behind.
            if node.cluster.holds(conn) || held.iter().any(|(c, _)| *c == conn) {
                held.push_back((conn, msg));
                continue;
            }
            busy = true;
            if !node.core.is_open(conn) {
                continue;
            }
            if let Some(msg) = node.cluster.on_client(&mut node.core, now, conn, msg) {
                node.core.on_message(now, conn, msg);
            }
        }
        node.inbox = held;
        node.cluster.on_engine(&mut node.core, now);
        node.core.on_timeout(now);
        loop {
            loop {
                let out = match node.core.poll_output() {
                    Some(out) => out,
                    None => match node.cluster.poll_output() {
                        Some(out) => out,
                        None => break,
                    },
                };
                let Some(out) = node.cluster.on_output(now, out) else {
                    busy = true;
                    continue;
                };
                match out {
                    Output::Send(_, ServerMsg::Pong { .. }) | Output::Resume(_) | Output::Journal(_) => {}
                    Output::Send(conn, msg) => {
                        busy = true;
                        self.got.entry(conn).or_default().push((now, msg));
                    }
                    Output::Media(conn, frame) => {
                        busy = true;
                        let msg = ServerMsg::decode(&frame.bytes[4..]).expect("a media frame decodes");
                        self.got.entry(conn).or_default().push((now, msg));
                    }
                    Output::Close(conn, _) => {
                        busy = true;
                        self.closed.insert(conn);
                    }
                }
            }
            if !node.cluster.after_step(&mut node.core) {
                break;
            }
            busy = true;
        }
        busy
    }

    /// Runs the servers and the engine until nothing moves (at this instant).
    fn settle(&mut self) {
        self.engine.timers(self.now);
        for _ in 0..1000 {
            let mut busy = self.engine.run_commands(self.now) > 0;
            for n in 0..self.nodes.len() {
                busy |= self.step(n);
            }
            if !busy {
                return;
            }
        }
        panic!("the cluster does not settle");
    }

    /// Lets `d` of simulated time pass.
    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        while self.now < until {
            self.now = (self.now + STEP).min(until);
            self.settle();
        }
    }

    fn send(&mut self, c: &Cl, msg: ClientMsg) {
        self.nodes[c.node].inbox.push_back((c.conn, msg));
        self.settle();
    }

    /// A connection to server `n` that said Hello.
    fn connect(&mut self, n: usize) -> Cl {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.nodes[n].core.on_connect(self.now, conn, false, "127.0.0.1".into());
        let c = Cl { node: n, conn, id: 0 };
        let hello = ClientMsg::Hello { version: PROTOCOL_VERSION, role: Role::Client as u8, secret: vec![], token: 0 };
        self.send(&c, hello);
        assert!(matches!(self.take(&c).as_slice(), [ServerMsg::Welcome { .. }]));
        c
    }

    /// Logs `name` in on server `n`: the client and the login's code.
    fn try_login(&mut self, n: usize, name: &str) -> (Cl, u32) {
        let mut c = self.connect(n);
        let name = name.as_bytes().to_vec();
        self.send(&c, ClientMsg::Login { name: name.clone(), password: b"pw".to_vec(), pass_enc_type: 0 });
        let msgs = self.take(&c);
        let [ServerMsg::LoginResult { user_id, code, name: got, .. }] = msgs.as_slice() else {
            panic!("login of {name:?}: {msgs:?}");
        };
        assert_eq!(*got, name);
        c.id = *user_id;
        (c, *code)
    }

    fn login(&mut self, n: usize, name: &str) -> Cl {
        let (c, code) = self.try_login(n, name);
        assert_eq!(code, 0, "login of {name}");
        assert!(c.id > 0);
        c
    }

    /// Everything `c` got since the last look.
    fn take(&mut self, c: &Cl) -> Vec<ServerMsg> {
        self.got.remove(&c.conn).unwrap_or_default().into_iter().map(|(_, m)| m).collect()
    }

    /// The video-call events `c` got since the last look (other messages
    /// dropped), with when.
    fn calls_at(&mut self, c: &Cl) -> Vec<(Ev, Instant)> {
        let got = self.got.remove(&c.conn).unwrap_or_default();
        got.into_iter()
            .filter_map(|(t, m)| match m {
                ServerMsg::VideoCall { ev, .. } => Some(((ev.event, ev.user_id, ev.error_code), t)),
                _ => None,
            })
            .collect()
    }

    /// Asserts that `c` got exactly the event `want`, and returns how long
    /// after `since` it came.
    #[track_caller]
    fn one_call(&mut self, c: &Cl, want: Ev, since: Instant) -> Duration {
        let got = self.calls_at(c);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [want], "user {}", c.id);
        got[0].1 - since
    }

    fn calls(&mut self, c: &Cl) -> Vec<Ev> {
        self.calls_at(c).into_iter().map(|(e, _)| e).collect()
    }

    /// The room id of the one START `c` got (asserting that it is all).
    fn started(&mut self, c: &Cl, peer: &Cl) -> u32 {
        let got = self.take(c);
        let starts: Vec<&CallEvent> = got
            .iter()
            .filter_map(|m| match m {
                ServerMsg::VideoCall { ev, .. } => Some(ev),
                _ => None,
            })
            .collect();
        let [ev] = starts.as_slice() else { panic!("not one START: {got:?}") };
        assert_eq!((ev.event, ev.user_id, ev.error_code), (START, peer.id, 0));
        ev.param
    }

    fn call(&mut self, from: &Cl, event: u32, to: &Cl, code: u32) {
        self.call_id(from, event, to.id, code);
    }

    fn call_id(&mut self, from: &Cl, event: u32, to: u32, code: u32) {
        let ev = CallEvent { event, user_id: to, error_code: code, flags: 0, param: 0, user_str: Vec::new() };
        self.send(from, ClientMsg::VideoCall(ev));
    }

    /// A rings B: exactly B ← REQUEST, A ← REPLY(0).
    #[track_caller]
    fn ring(&mut self, a: &Cl, b: &Cl) {
        self.call(a, REQUEST, b, 0);
        assert_eq!(self.calls(b), [(REQUEST, a.id, 0)]);
        assert_eq!(self.calls(a), [(REPLY, b.id, 0)]);
    }

    /// A calls B and B accepts: START with one room id to both.
    #[track_caller]
    fn establish(&mut self, a: &Cl, b: &Cl) -> u32 {
        self.ring(a, b);
        self.call(b, REPLY, a, 0);
        let ra = self.started(a, b);
        let rb = self.started(b, a);
        assert_eq!(ra, rb, "the same room id to both");
        ra
    }

    /// The transport of `c` is lost (as the loop's `drop_conn`).
    fn lose(&mut self, c: &Cl) {
        let node = &mut self.nodes[c.node];
        node.core.on_closed(self.now, c.conn);
        node.cluster.on_closed(c.conn);
        self.settle();
    }

    /// Server `n` dies (kill -9): no more steps, its lease is no longer
    /// renewed, its subscription is gone.
    fn kill(&mut self, n: usize) {
        self.nodes[n].alive = false;
        self.engine.ends[n].killed = true;
    }
}

#[test]
fn offline_refuse_cancel_and_ring_timeout_across_servers() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    assert_ne!(a.id, b.id);
    // Offline: nobody has the id; B after its logout.
    s.call_id(&a, REQUEST, 4242, 0);
    assert_eq!(s.calls(&a), [(REPLY, 4242, OFFLINE)]);
    // Refuse, by Reply and by Finish while ringing.
    s.ring(&a, &b);
    s.call(&b, REPLY, &a, REFUSE);
    assert_eq!(s.calls(&a), [(REPLY, b.id, REFUSE)]);
    assert_eq!(s.calls(&b), []);
    s.ring(&a, &b);
    s.call(&b, FINISH, &a, 0);
    assert_eq!(s.calls(&a), [(REPLY, b.id, REFUSE)]);
    // Cancel, by Reply 100101 and by Finish while ringing.
    s.ring(&a, &b);
    s.call(&a, REPLY, &b, CANCEL);
    assert_eq!(s.calls(&b), [(REPLY, a.id, CANCEL)]);
    assert_eq!(s.calls(&a), []);
    s.ring(&a, &b);
    s.call(&a, FINISH, &b, 0);
    assert_eq!(s.calls(&b), [(REPLY, a.id, CANCEL)]);
    // The ring time-out, to both, at the ring time.
    s.ring(&b, &a);
    let rang = s.now;
    s.advance(RING + Duration::from_secs(1));
    for (c, peer) in [(&a, &b), (&b, &a)] {
        let at = s.one_call(c, (REPLY, peer.id, TIMEOUT), rang);
        assert!(at >= RING && at <= RING + STEP, "time-out after {at:?}");
    }
    s.ring(&a, &b);
    s.call(&b, REPLY, &a, REFUSE);
    s.calls(&a);
    s.send(&b, ClientMsg::Logout);
    s.call(&a, REQUEST, &b, 0);
    assert_eq!(s.calls(&a), [(REPLY, b.id, OFFLINE)]);
}

#[test]
fn busy_from_a_third_server_and_two_calling_each_other_at_once() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let c = s.login(2, "carol");
    s.ring(&a, &b);
    // Nobody reaches either of them, from a third server; neither reaches anyone.
    for (x, to) in [(&c, &a), (&c, &b), (&a, &c), (&b, &c)] {
        s.call(x, REQUEST, to, 0);
        assert_eq!(s.calls(x), [(REPLY, to.id, BUSY)]);
    }
    assert_eq!(s.calls(&c), []);
    // The call itself was not disturbed.
    s.call(&b, REPLY, &a, 0);
    assert_eq!(s.started(&a, &b), s.started(&b, &a));
    s.call(&a, FINISH, &b, 0);
    assert_eq!(s.calls(&a), [(FINISH, b.id, 0)]);
    assert_eq!(s.calls(&b), [(FINISH, a.id, 0)]);
    // D and E call each other at the same instant: both BUSY, nobody rings.
    let d = s.login(0, "dave");
    let e = s.login(1, "erin");
    for (x, to) in [(&d, &e), (&e, &d)] {
        let ev = CallEvent { event: REQUEST, user_id: to.id, error_code: 0, flags: 0, param: 0, user_str: Vec::new() };
        s.nodes[x.node].inbox.push_back((x.conn, ClientMsg::VideoCall(ev)));
    }
    s.settle();
    assert_eq!(s.calls(&d), [(REPLY, e.id, BUSY)]);
    assert_eq!(s.calls(&e), [(REPLY, d.id, BUSY)]);
    // Both are free again.
    s.ring(&e, &d);
}

#[test]
fn accept_starts_one_room_for_both_and_either_side_finishes() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let room = s.establish(&a, &b);
    // Both enter the call's room (the caller's through the holder).
    for c in [&a, &b] {
        s.send(c, ClientMsg::EnterRoom { room_id: room, password: Vec::new() });
        let got = s.take(c);
        assert!(got.contains(&ServerMsg::EnterRoomResult { room_id: room, code: 0 }), "{got:?}");
    }
    // Text reaches the other server's user in the room.
    s.send(&a, ClientMsg::Text { to: 0, secret: false, text: b"hi".to_vec() });
    let got = s.take(&b);
    assert!(got.iter().any(|m| matches!(m, ServerMsg::Text { from, text, .. } if *from == a.id && text == b"hi")));
    // The caller hangs up with a code: to both.
    s.call(&a, FINISH, &b, 5);
    assert_eq!(s.calls(&a), [(FINISH, b.id, 5)]);
    assert_eq!(s.calls(&b), [(FINISH, a.id, 5)]);
    // The callee hangs up.
    s.establish(&a, &b);
    s.call(&b, FINISH, &a, 7);
    assert_eq!(s.calls(&a), [(FINISH, b.id, 7)]);
    assert_eq!(s.calls(&b), [(FINISH, a.id, 7)]);
    // The other way round (the caller's home holds nothing).
    s.establish(&b, &a);
    s.call(&a, FINISH, &b, 0);
    assert_eq!(s.calls(&b), [(FINISH, a.id, 0)]);
    assert_eq!(s.calls(&a), [(FINISH, b.id, 0)]);
}

#[test]
fn lost_connection_logout_and_login_elsewhere_end_calls() {
    let mut s = Sim::new();
    let mut a = s.login(0, "alice");
    let mut b = s.login(1, "bob");
    // Lost while ringing, either side; lost during the call, either side.
    for (lost_caller, in_call) in [(true, false), (false, false), (true, true), (false, true)] {
        if in_call {
            s.establish(&a, &b);
        } else {
            s.ring(&a, &b);
        }
        let (gone, other) = if lost_caller { (a, b) } else { (b, a) };
        s.lose(&gone);
        let want = if in_call { (FINISH, gone.id, LOST) } else { (REPLY, gone.id, LOST) };
        assert_eq!(s.calls(&other), [want]);
        if lost_caller {
            a = s.login(0, "alice");
        } else {
            b = s.login(1, "bob");
        }
    }
    // Logout while ringing: the caller's is a cancel, the callee's a refusal.
    s.ring(&a, &b);
    s.send(&a, ClientMsg::Logout);
    assert_eq!(s.calls(&b), [(REPLY, a.id, CANCEL)]);
    a = s.login(0, "alice");
    s.ring(&a, &b);
    s.send(&b, ClientMsg::Logout);
    assert_eq!(s.calls(&a), [(REPLY, b.id, REFUSE)]);
    b = s.login(1, "bob");
    // Logout during the call: FINISH(0) to the other.
    s.establish(&a, &b);
    s.send(&a, ClientMsg::Logout);
    assert_eq!(s.calls(&b), [(FINISH, a.id, 0)]);
    a = s.login(0, "alice");
    // Login elsewhere during the call (a third server, then the holder's):
    // the old session gets LINKCLOSE(209) and is closed, the call ends as
    // for a lost connection, the id stays.
    for n in [2, 1] {
        s.establish(&a, &b);
        let a2 = s.login(n, "alice");
        assert_eq!(a2.id, a.id);
        let got = s.take(&a);
        assert_eq!(got.last(), Some(&ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN }), "{got:?}");
        assert!(s.closed.contains(&a.conn));
        assert_eq!(s.calls(&b), [(FINISH, a.id, LOST)]);
        // The new session calls at once (no stale busy).
        s.send(&a2, ClientMsg::Logout);
        a = s.login(0, "alice");
    }
}

#[test]
fn a_dead_server_ends_its_calls_within_the_lease_and_its_users_log_in_elsewhere() {
    let bound = LEASE + LEASE / 3 + STEP;
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let h = s.login(0, "heidi");
    let i = s.login(1, "ivan");
    s.advance(Duration::from_millis(700));
    // The caller's home dies: the holder's users hear 100106 (FINISH in a
    // call, REPLY while ringing) within the lease and a third of it.
    s.establish(&a, &b);
    s.ring(&h, &i);
    let t = s.now;
    s.kill(0);
    s.advance(bound + Duration::from_secs(1));
    for (c, want) in [(&b, (FINISH, a.id, LOST)), (&i, (REPLY, h.id, LOST))] {
        let after = s.one_call(c, want, t);
        assert!(after <= bound, "after {after:?}");
    }
    // Its users log in elsewhere at once and call again.
    let a = s.login(2, "alice");
    s.ring(&a, &b);
    s.call(&a, FINISH, &b, 0);
    assert_eq!(s.calls(&b), [(REPLY, a.id, CANCEL)]);
    s.calls(&a);
    // The holder dies: the caller hears it.
    s.establish(&a, &b);
    let t = s.now;
    s.kill(1);
    s.advance(bound + Duration::from_secs(1));
    let after = s.one_call(&a, (FINISH, b.id, LOST), t);
    assert!(after <= bound, "after {after:?}");
    // Its user is offline for the others (its lease is gone).
    s.call(&a, REQUEST, &b, 0);
    assert_eq!(s.calls(&a), [(REPLY, b.id, OFFLINE)]);
}

#[test]
fn engine_down_fails_fast_local_calls_go_on_and_it_heals() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let c = s.login(0, "carol");
    s.engine.down = true;
    s.advance(LEASE / 3);
    // At once: REPLY(100106) across servers, 100 for a login.
    let t = s.now;
    s.call(&a, REQUEST, &b, 0);
    assert_eq!(s.calls_at(&a), [((REPLY, b.id, LOST), t)]);
    let (_, code) = s.try_login(0, "dave");
    assert_eq!(code, GV_ERR_CONNECT_TIMEOUT);
    // Within one server calls go on.
    s.establish(&a, &c);
    s.call(&c, FINISH, &a, 0);
    assert_eq!(s.calls(&a), [(FINISH, c.id, 0)]);
    s.calls(&c);
    // Back: within a lease third the servers are registered again.
    s.engine.down = false;
    s.advance(LEASE / 3);
    s.establish(&a, &b);
}

#[test]
fn a_full_engine_queue_refuses_at_once() {
    let mut s = Sim::with_queue(4);
    let users: Vec<Cl> = (0..5).map(|k| s.login(0, &format!("u{k}"))).collect();
    let b = s.login(1, "bob");
    let c = s.login(2, "carol");
    s.engine.ends[0].stalled = true;
    for (k, u) in users.iter().enumerate() {
        s.call(u, REQUEST, if k % 2 == 0 { &b } else { &c }, 0);
    }
    // Four Locates wait in the queue; the fifth Request is refused at once,
    // and so is a login.
    assert_eq!(s.calls(&users[4]), [(REPLY, b.id, LOST)]);
    assert_eq!(s.nodes[0].cluster.refused, 1);
    let (_, code) = s.try_login(0, "late");
    assert_eq!(code, GV_ERR_CONNECT_TIMEOUT);
    // The engine catches up: the waiting Requests ring (one each) or are busy.
    s.engine.ends[0].stalled = false;
    s.settle();
    let rung = s.calls(&b).len() + s.calls(&c).len();
    assert_eq!(rung, 2, "each callee rings once");
}

#[test]
fn a_silent_cut_ends_calls_across_it_on_both_sides_and_heals() {
    let mut s = Sim::new();
    // A (s0) in a call s1 holds with B; C (s1) in a call s2 holds with D;
    // H (s0) ringing I (s1); E and F in a call within s1.
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let c = s.login(1, "carol");
    let d = s.login(2, "dave");
    let h = s.login(0, "heidi");
    let i = s.login(1, "ivan");
    let e = s.login(1, "erin");
    let f = s.login(1, "frank");
    let j = s.login(0, "judy");
    let k = s.login(1, "ken");
    s.advance(Duration::from_millis(300));
    s.establish(&a, &b);
    s.establish(&c, &d);
    s.ring(&h, &i);
    s.establish(&e, &f);
    let t = s.now;
    s.engine.ends[1].cut = true;
    // A Request into the cut before the lease ran out: published, lost; the
    // caller hears REPLY(100106) when the lease runs out.
    s.call(&j, REQUEST, &k, 0);
    assert_eq!(s.calls(&j), []);
    s.advance(LEASE * 2);
    // s1 ends its side when its lease ran out (within the lease), the
    // others when they see it gone (within the lease and a third).
    let (own, peers) = (LEASE + STEP, LEASE + LEASE / 3 + STEP);
    for (x, want, bound) in [
        (&j, (REPLY, k.id, LOST), peers),
        (&a, (FINISH, b.id, LOST), peers),
        (&b, (FINISH, a.id, LOST), own),
        (&c, (FINISH, d.id, LOST), own),
        (&d, (FINISH, c.id, LOST), peers),
        (&h, (REPLY, i.id, LOST), peers),
        (&i, (REPLY, h.id, LOST), own),
    ] {
        let after = s.one_call(x, want, t);
        assert!(after <= bound, "user {}: after {after:?}", x.id);
    }
    // The call within s1 goes on.
    assert_eq!(s.calls(&e), []);
    s.call(&f, FINISH, &e, 3);
    assert_eq!(s.calls(&e), [(FINISH, f.id, 3)]);
    // s1's users are offline for the others; a login on s1 fails with 100.
    s.call(&a, REQUEST, &k, 0);
    assert_eq!(s.calls(&a), [(REPLY, k.id, OFFLINE)]);
    let (_, code) = s.try_login(1, "zed");
    assert_eq!(code, GV_ERR_CONNECT_TIMEOUT);
    // B logs in on s0 meanwhile (the Kick to s1 is lost in the cut).
    let b2 = s.login(0, "bob");
    assert_eq!(b2.id, b.id);
    assert!(!s.closed.contains(&b.conn));
    // Healed: s1's old session of B is closed as a login elsewhere, the
    // rest of its sessions are set again, and calls across work.
    s.engine.ends[1].cut = false;
    s.advance(LEASE / 3);
    let got = s.take(&b);
    assert_eq!(got.last(), Some(&ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN }), "{got:?}");
    assert!(s.closed.contains(&b.conn));
    s.establish(&d, &b2);
    s.ring(&j, &k);
    s.ring(&e, &c);
}

#[test]
fn both_sides_end_each_call_once_when_they_disagree_on_a_lease() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let c = s.login(1, "carol");
    let d = s.login(2, "dave");
    let e = s.login(1, "erin");
    let f = s.login(0, "frank");
    // s1 saw its lease run out while cut off and heals before the others
    // looked (they never saw it gone): what it ended, it tells them then.
    s.establish(&a, &b);
    s.establish(&c, &d);
    for what in [FromEngine::Health(false), FromEngine::LeaseLost] {
        s.engine.tell(1, what);
    }
    s.settle();
    assert_eq!(s.calls(&b), [(FINISH, a.id, LOST)]);
    assert_eq!(s.calls(&c), [(FINISH, d.id, LOST)]);
    assert_eq!((s.calls(&a), s.calls(&d)), (vec![], vec![]));
    s.engine.tell(1, FromEngine::Health(true));
    s.settle();
    assert_eq!(s.calls(&a), [(FINISH, b.id, LOST)]);
    assert_eq!(s.calls(&d), [(FINISH, c.id, LOST)]);
    assert_eq!((s.calls(&b), s.calls(&c)), (vec![], vec![]));
    // A server sees s1's lease gone while s1 lives on (a late renewal):
    // what it ends, s1 ends too.
    s.establish(&a, &b);
    s.establish(&e, &f);
    let s1 = s.engine.ends[1].name.clone();
    s.engine.tell(0, FromEngine::Dead(s1));
    s.settle();
    for (x, peer) in [(&a, &b), (&b, &a), (&e, &f), (&f, &e)] {
        assert_eq!(s.calls(x), [(FINISH, peer.id, LOST)], "user {}", x.id);
    }
    // Nobody is left busy.
    s.ring(&a, &b);
    s.ring(&d, &c);
    s.ring(&e, &f);
}

/// Call rooms are unique across the cluster: each server takes them from
/// blocks the engine hands out once each, and asks for the next block
/// while half of one is left, so that calls never use its own counter.
#[test]
fn call_room_ids_are_unique_across_servers_and_blocks_are_refilled_in_time() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let c = s.login(0, "carol");
    let d = s.login(0, "dave");
    let e = s.login(2, "erin");
    let f = s.login(2, "frank");
    // Held by s1, s0 and s2.
    let rooms = [s.establish(&a, &b), s.establish(&c, &d), s.establish(&e, &f)];
    let block = |r: u32| (r - crate::core::CLUSTER_CALL_ROOM_BASE) / CALL_ROOM_BLOCK;
    assert!(rooms.iter().all(|r| *r >= crate::core::CLUSTER_CALL_ROOM_BASE), "{rooms:x?}");
    let blocks: HashSet<u32> = rooms.iter().map(|r| block(*r)).collect();
    assert_eq!(blocks.len(), 3, "one block per server: {rooms:x?}");
    // A block and a half of calls within s0: each room is new, none from
    // s0's own counter.
    let mut seen = HashSet::from(rooms);
    for _ in 0..CALL_ROOM_BLOCK * 3 / 2 {
        s.call(&c, FINISH, &d, 0);
        s.take(&c);
        s.take(&d);
        let room = s.establish(&c, &d);
        assert!(room >= crate::core::CLUSTER_CALL_ROOM_BASE, "{room:#x}");
        assert!(seen.insert(room), "{room:#x} again");
    }
    assert!(s.nodes[0].core.call_rooms_left() >= u64::from(CALL_ROOM_BLOCK / 2));
}

/// What a healed server ended while cut off reaches the others late: a
/// call placed meanwhile between the same servers is another call, and
/// goes on (found with network namespaces, where the new Request can win
/// the race).
#[test]
fn a_call_placed_as_a_cut_heals_is_not_ended_by_what_the_healed_server_tells_late() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let c = s.login(1, "carol");
    s.establish(&a, &b);
    s.engine.ends[1].cut = true;
    s.advance(LEASE * 2);
    assert_eq!(s.calls(&a), [(FINISH, b.id, LOST)]);
    assert_eq!(s.calls(&b), [(FINISH, a.id, LOST)]);
    // The cut heals: s1's engine thread sets its sessions again at once,
    // and A calls C before s1's loop has read that the engine is back (and
    // told s0 that it ended A's call with B).
    s.nodes[1].alive = false;
    s.engine.ends[1].cut = false;
    s.advance(LEASE / 3);
    s.call(&a, REQUEST, &c, 0);
    assert_eq!(s.calls(&a), []);
    s.nodes[1].alive = true;
    s.settle();
    assert_eq!(s.calls(&c), [(REQUEST, a.id, 0)]);
    assert_eq!(s.calls(&a), [(REPLY, c.id, 0)], "the new call was ended by the old one's news");
    s.call(&c, REPLY, &a, 0);
    let (ra, rc) = (s.started(&a, &c), s.started(&c, &a));
    assert_eq!(ra, rc);
    s.call(&a, FINISH, &c, 0);
    assert_eq!(s.calls(&c), [(FINISH, a.id, 0)]);
    assert_eq!(s.calls(&a), [(FINISH, c.id, 0)]);
    // Nobody is left busy.
    s.ring(&a, &b);
}

#[test]
fn a_cut_off_server_s_users_leave_rooms_held_elsewhere_and_its_members_leave_its_rooms() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let c = s.login(1, "carol");
    let d = s.login(0, "dave");
    // Room 5 held by s0 (A first), with B of s1; room 6 held by s1 (C
    // first), with D of s0.
    for (x, room) in [(&a, 5), (&b, 5), (&c, 6), (&d, 6)] {
        s.send(x, ClientMsg::EnterRoom { room_id: room, password: Vec::new() });
        let got = s.take(x);
        assert!(got.contains(&ServerMsg::EnterRoomResult { room_id: room, code: 0 }), "{got:?}");
    }
    for x in [&a, &c] {
        s.take(x);
    }
    s.engine.ends[1].cut = true;
    s.advance(LEASE * 2);
    // Each side sees the other's user leave its room, and the users of
    // rooms held across the cut are out of them.
    let (ga, gb, gc, gd) = (s.take(&a), s.take(&b), s.take(&c), s.take(&d));
    assert!(left(&ga, 5, b.id), "A sees B leave: {ga:?}");
    assert!(left(&gb, 5, a.id) && gb.contains(&ServerMsg::LeftRoom { room_id: 5 }), "B is out of room 5: {gb:?}");
    assert!(left(&gc, 6, d.id), "C sees D leave: {gc:?}");
    assert!(left(&gd, 6, c.id) && gd.contains(&ServerMsg::LeftRoom { room_id: 6 }), "D is out of room 6: {gd:?}");
}

/// Whether `got` tells that `uid` left room `room`.
fn left(got: &[ServerMsg], room: u32, uid: u32) -> bool {
    got.iter().any(|m| {
        matches!(m, ServerMsg::UserAtRoom { room_id, user, entered: false } if *room_id == room && user.user_id == uid)
    })
}

/// Rooms when servers disagree on a lease: each side tells the other which
/// of its users it took out of a room held across (`Gone` to the holder)
/// and which remote members it let go (`Ended` to their home), so that
/// nobody stays in a room on one side only.
#[test]
fn rooms_across_are_left_on_both_sides_when_servers_disagree_on_a_lease() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let c = s.login(1, "carol");
    let d = s.login(0, "dave");
    // Room 5 held by s0 (A first), with B of s1; room 6 held by s1 (C
    // first), with D of s0. B and D enter again after each disagreement
    // (entered once, as they are out on both sides: a member left behind
    // on the holder would get 308, already in).
    let enter = |s: &mut Sim, who: &[(&Cl, u32)]| {
        for (x, room) in who {
            s.send(x, ClientMsg::EnterRoom { room_id: *room, password: Vec::new() });
            let got = s.take(x);
            assert!(got.contains(&ServerMsg::EnterRoomResult { room_id: *room, code: 0 }), "user {}: {got:?}", x.id);
        }
        for x in [&a, &c] {
            s.take(x);
        }
    };
    let out_of_both = |s: &mut Sim| {
        let (ga, gb, gc, gd) = (s.take(&a), s.take(&b), s.take(&c), s.take(&d));
        assert!(left(&ga, 5, b.id), "A sees B leave: {ga:?}");
        assert!(left(&gb, 5, a.id) && gb.contains(&ServerMsg::LeftRoom { room_id: 5 }), "B is out of room 5: {gb:?}");
        assert!(left(&gc, 6, d.id), "C sees D leave: {gc:?}");
        assert!(left(&gd, 6, c.id) && gd.contains(&ServerMsg::LeftRoom { room_id: 6 }), "D is out of room 6: {gd:?}");
    };
    // s0 sees s1's lease gone while s1 lives on (a late renewal).
    enter(&mut s, &[(&a, 5), (&b, 5), (&c, 6), (&d, 6)]);
    let s1 = s.engine.ends[1].name.clone();
    s.engine.tell(0, FromEngine::Dead(s1));
    s.settle();
    out_of_both(&mut s);
    // s1 saw its own lease run out while cut off, and heals before the
    // others looked: what it did, it tells them then.
    enter(&mut s, &[(&b, 5), (&d, 6)]);
    for what in [FromEngine::Health(false), FromEngine::LeaseLost] {
        s.engine.tell(1, what);
    }
    s.settle();
    s.engine.tell(1, FromEngine::Health(true));
    s.settle();
    out_of_both(&mut s);
    enter(&mut s, &[(&b, 5), (&d, 6)]);
}

/// A member leaves a room held elsewhere and enters another room of the
/// same holder at once: the holder's word that it let the member go
/// (`Ended`, about the first stay) may come after the second entry, and
/// must not take the member out of the second room.
#[test]
fn a_late_word_of_an_earlier_stay_does_not_take_a_member_out_of_its_new_room() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    let b = s.login(1, "bob");
    let c = s.login(0, "carol");
    let enter =
        |s: &mut Sim, x: &Cl, room: u32| s.send(x, ClientMsg::EnterRoom { room_id: room, password: Vec::new() });
    // Rooms 5 and 7 held by s0 (C and A went first), B of s1 in room 5.
    enter(&mut s, &c, 5);
    enter(&mut s, &a, 7);
    enter(&mut s, &b, 5);
    assert!(s.take(&b).contains(&ServerMsg::EnterRoomResult { room_id: 5, code: 0 }));
    assert!(s.nodes[0].cluster.ghosts.contains_key(&b.id), "B is a member of s0's room 5");
    s.take(&a);
    // s0's words to s1 wait (its engine commands stall) while B leaves 5
    // and enters 7.
    s.engine.ends[0].stalled = true;
    s.send(&b, ClientMsg::LeaveRoom { room_id: 5 });
    enter(&mut s, &b, 7);
    s.engine.ends[0].stalled = false;
    s.settle();
    let got = s.take(&b);
    assert!(got.contains(&ServerMsg::EnterRoomResult { room_id: 7, code: 0 }), "{got:?}");
    assert!(!got.contains(&ServerMsg::LeftRoom { room_id: 7 }), "B was taken out of room 7: {got:?}");
    // B is in room 7 for both sides: its text reaches A.
    s.take(&a);
    s.send(&b, ClientMsg::Text { to: 0, secret: false, text: b"hi".to_vec() });
    let got = s.take(&a);
    assert!(got.iter().any(|m| matches!(m, ServerMsg::Text { from, .. } if *from == b.id)), "{got:?}");
}

/// The ids of the users of a room listing among `got`.
fn listed(got: &[ServerMsg], room: u32) -> Vec<u32> {
    let mut ids: Vec<u32> = got
        .iter()
        .filter_map(|m| match m {
            ServerMsg::RoomUsers { room_id, users, .. } if *room_id == room => Some(users.iter().map(|u| u.user_id)),
            _ => None,
        })
        .flatten()
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn an_ordinary_room_is_one_room_on_three_servers_and_is_let_go_when_empty() {
    let mut s = Sim::new();
    let (a, b, c) = (s.login(0, "alice"), s.login(1, "bob"), s.login(2, "carol"));
    let enter = ClientMsg::EnterRoom { room_id: 9, password: Vec::new() };
    for x in [&a, &b, &c] {
        s.send(x, enter.clone());
    }
    // The first in (s0) holds it; the others are listed to the newcomer.
    let got = s.take(&c);
    assert!(got.contains(&ServerMsg::EnterRoomResult { room_id: 9, code: 0 }), "{got:?}");
    let mut want = vec![a.id, b.id, c.id];
    want.sort_unstable();
    assert_eq!(listed(&got, 9), want);
    assert_eq!(s.engine.store.rooms_of("s0"), vec![9]);
    // Text from a member of s2 reaches the member of s1.
    s.take(&b);
    s.send(&c, ClientMsg::Text { to: 0, secret: false, text: b"hi".to_vec() });
    assert!(s.take(&b).iter().any(|m| matches!(m, ServerMsg::Text { from, .. } if *from == c.id)));
    // Everyone leaves: the holder lets the room go, and the next entry
    // (on s1) makes s1 the holder.
    for x in [&a, &b, &c] {
        s.send(x, ClientMsg::LeaveRoom { room_id: 9 });
    }
    assert!(s.engine.store.rooms_of("s0").is_empty(), "released");
    s.send(&b, enter);
    assert_eq!(s.engine.store.rooms_of("s1"), vec![9]);
}

#[test]
fn an_entry_reaching_a_holder_that_just_let_the_room_go_is_looked_for_again() {
    let mut s = Sim::new();
    let (b, a) = (s.login(0, "bob"), s.login(2, "alice"));
    let enter = ClientMsg::EnterRoom { room_id: 4, password: Vec::new() };
    s.send(&a, enter.clone());
    s.take(&a);
    // At the same instant A (the holder's last member) leaves and B (s0)
    // enters: the engine finds s2 holding the room for B before it runs
    // s2's release, so B's entry reaches s2 after s2 let the room go.
    s.nodes[2].inbox.push_back((a.conn, ClientMsg::LeaveRoom { room_id: 4 }));
    s.nodes[0].inbox.push_back((b.conn, enter));
    s.settle();
    let got = s.take(&b);
    let results: Vec<&ServerMsg> = got.iter().filter(|m| matches!(m, ServerMsg::EnterRoomResult { .. })).collect();
    assert_eq!(results, [&ServerMsg::EnterRoomResult { room_id: 4, code: 0 }], "{got:?}");
    assert_eq!(s.engine.store.rooms_of("s0"), vec![4], "B's server took the room");
    // A comes back: it joins B's room, on s0.
    s.send(&a, ClientMsg::EnterRoom { room_id: 4, password: Vec::new() });
    assert_eq!(listed(&s.take(&a), 4), {
        let mut v = vec![a.id, b.id];
        v.sort_unstable();
        v
    });
}

#[test]
fn a_room_entered_by_name_gets_one_id_across_servers() {
    let mut s = Sim::new();
    let (a, b) = (s.login(0, "alice"), s.login(1, "bob"));
    let by_name = ClientMsg::EnterRoomByName { name: b"lobby".to_vec(), password: Vec::new() };
    let mut ids = Vec::new();
    for x in [&a, &b] {
        s.send(x, by_name.clone());
        let got = s.take(x);
        let room = got.iter().find_map(|m| match m {
            ServerMsg::EnterRoomResult { room_id, code: 0 } => Some(*room_id),
            _ => None,
        });
        ids.push(room.unwrap_or_else(|| panic!("not entered: {got:?}")));
    }
    assert_eq!(ids[0], ids[1], "one id for the name");
    assert!((crate::core::NAMED_ROOM_BASE..crate::core::CALL_ROOM_BASE).contains(&ids[0]));
    assert!(s
        .take(&a)
        .iter()
        .any(|m| matches!(m, ServerMsg::UserAtRoom { user, entered: true, .. } if user.user_id == b.id)));
}

#[test]
fn queries_waiting_for_the_engine_are_bounded() {
    let mut s = Sim::new();
    let a = s.login(0, "alice");
    // The engine stops taking commands: the queries the core cannot answer
    // (an unknown name) wait for it, at most MAX_QUERIES; the ones over the
    // bound get the core's own answer at once.
    s.engine.ends[0].stalled = true;
    let over = 10;
    for id in 0..(super::MAX_QUERIES + over) as u32 {
        let q = ClientMsg::Query { id, info: ANYCHAT_SERVERQUERY_USERIDBYNAME, input: b"nobody".to_vec() };
        s.nodes[0].inbox.push_back((a.conn, q));
    }
    s.settle();
    let answered = |got: &[ServerMsg]| {
        got.iter().filter(|m| matches!(m, ServerMsg::QueryResult { code: GV_ERR_INVALID_USERID, .. })).count()
    };
    assert_eq!(answered(&s.take(&a)), over);
    assert_eq!(s.nodes[0].cluster.asked.len(), super::MAX_QUERIES);
    // The engine back: every waiting query is answered.
    s.engine.ends[0].stalled = false;
    s.settle();
    assert_eq!(answered(&s.take(&a)), super::MAX_QUERIES);
    assert!(s.nodes[0].cluster.asked.is_empty());
}

#[test]
fn room_names_heard_of_are_bounded() {
    let mut s = Sim::new();
    let cluster = &mut s.nodes[0].cluster;
    for i in 0..=super::rooms::MAX_ROOM_NAMES as u32 {
        cluster.heard_room_name(0x6000_0000 + i, format!("room{i}").into_bytes());
        assert!(cluster.room_names.len() <= super::rooms::MAX_ROOM_NAMES);
    }
}
