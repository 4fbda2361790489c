//! Core servers forming one cluster over Redis (see `docs/CLUSTER.md`).
//!
//! [`Cluster`] sits between the server's loop and its [`Core`]: it sees the
//! messages of the local users before the core does ([`Cluster::on_client`])
//! and the core's outputs before the loop carries them out
//! ([`Cluster::on_output`]), and it is fed what the engine thread reports
//! ([`Cluster::on_engine`]). It reads no clock and touches no socket: what
//! it asks of the engine goes into a channel ([`engine::ToEngine`]).
//!
//! The design in one paragraph: a user's **home** is the server it is
//! logged in to; a call between users of two servers is **held** by the
//! callee's home, where the caller is attached as a *remote user*
//! ([`Core::attach_remote`]) for the length of the call. The holder's core
//! runs the whole call contract as for two local users; what it sends the
//! remote user goes back to its home in [`Envelope::Deliver`], what that
//! user sends about the call comes in [`Envelope::Ghost`]. Each home knows
//! which of its users are in a call held elsewhere and marks them busy in
//! its core ([`Core::set_busy_elsewhere`]), so a user takes part in one call
//! at most, cluster-wide, without a lock in the engine.
#![forbid(unsafe_code)]

pub mod business;
pub mod engine;
pub mod envelope;
pub mod friends;
mod isolation;
pub mod links;
pub mod rooms;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::TrySendError;

use self::engine::{EngineLink, FromEngine, ToEngine, CALL_ROOM_BLOCK};
use self::envelope::{frame_body, Envelope};
use crate::core::{CloseReason, ConnId, Core, Output};
use crate::wire::constants::*;
use crate::wire::protocol::{CallEvent, ClientMsg, MediaOut, RoomUser, ServerMsg, MEDIA_VIDEO};

/// A Request to a user of another server while the engine is unreachable:
/// the caller gets `REPLY(100106)` (the peer cannot be reached).
pub const CODE_ENGINE_DOWN_CALL: u32 = AC_ERROR_VIDEOCALL_DISCONNECT;
/// A login while the engine is unreachable (no cluster-wide id can be
/// given): `WM_GV_LOGINSYSTEM(0, 100)` (`GV_ERR_CONNECT_TIMEOUT`).
pub const CODE_ENGINE_DOWN_LOGIN: u32 = GV_ERR_CONNECT_TIMEOUT;
/// Envelopes handled per loop iteration at most.
const ENGINE_BUDGET: usize = 256;
/// Queries answered across the cluster at once, at most (more: the core's
/// own answer).
const MAX_QUERIES: usize = 4096;

/// Cluster settings of one core server.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The engine, `redis://host:port[/db]`.
    pub engine: String,
    /// This server's name, unique in the cluster (letters, digits, `-_.`).
    pub name: String,
    /// The address other servers open media links to (default: the
    /// address the client listener bound).
    pub advertise: Option<String>,
    /// How long this server's lease in the engine lasts without renewal:
    /// a killed server's calls end within it (plus a third of it).
    pub lease: Duration,
}

/// A local user's call that another server holds.
#[derive(Debug)]
struct Away {
    /// This server's number for the call (sent with its Request; an
    /// `Ended` about another call of the user's is stale).
    call: u64,
    /// The holder (None: being located).
    owner: Option<String>,
    peer: u32,
    /// Messages about the call sent before the holder was known.
    queued: Vec<Vec<u8>>,
    /// START came: the call is in progress (in room `room`).
    room: Option<u32>,
    /// The user left before the holder was known (`Some(logout)`).
    gone: Option<bool>,
    /// The user ended the call itself (Reply ≠ 0 or Finish): the holder
    /// answers it with nothing but `Ended`.
    ended: bool,
}

/// A remote user attached here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ghost {
    /// The user's server.
    home: String,
    /// The home's numbers for the last call and the last room entry the
    /// user asked for here (0: none).
    call: u64,
    visit: u64,
}

/// The cluster side of one core server.
pub struct Cluster {
    /// This server's instance name (`name.random`: a restarted server is
    /// another instance).
    me: String,
    link: EngineLink,
    up: bool,
    /// Local sessions: user → connection, and back.
    sessions: HashMap<u32, ConnId>,
    by_conn: HashMap<ConnId, u32>,
    /// Logins waiting for their cluster-wide id.
    holding: HashMap<ConnId, ClientMsg>,
    /// Logins whose id was given (and presence set) but not answered yet.
    claimed: HashMap<ConnId, u32>,
    /// Local users in a call held elsewhere.
    away: HashMap<u32, Away>,
    /// Remote users attached here (callers of calls held here, members of
    /// rooms held here).
    ghosts: HashMap<u32, Ghost>,
    /// The last number given to a call or a room entry of a local user held
    /// elsewhere ([`Cluster::number`]).
    numbered: u64,
    /// A block of call room ids was asked of the engine and not given yet.
    call_rooms_asked: bool,
    /// Ordinary rooms this server holds (`rooms.rs`).
    claims: HashSet<u32>,
    /// Local users in an ordinary room another server holds.
    roomed: HashMap<u32, rooms::RemoteRoom>,
    /// Room entries waiting for the engine to say where the room is.
    entering: HashMap<ConnId, rooms::Entering>,
    /// Local users' friends and where they are (`friends.rs`).
    friends: friends::Friends,
    /// What local users were told of rooms held elsewhere.
    told: HashMap<u32, rooms::Told>,
    /// Room names another server said an entry is coming for.
    room_names: HashMap<Vec<u8>, u32>,
    /// The token a media link from another server must present.
    token: String,
    /// This server's media links to the others (`links.rs`).
    links: HashMap<String, links::Link>,
    /// Media links from the others.
    peer_in: HashSet<ConnId>,
    /// Links connected by the engine thread, for the loop to take in.
    dialed: Vec<(String, std::net::TcpStream)>,
    /// Local users' queries the core is answering: what they ask.
    queries: HashMap<(ConnId, u32), (u32, Vec<u8>)>,
    /// Queries the engine is answering: the core's own answer, given if
    /// the engine cannot.
    asked: HashMap<(ConnId, u32), (u32, Vec<u8>)>,
    out: VecDeque<Output>,
    /// What to tell other servers once the engine is back (`isolation.rs`).
    after_heal: Vec<(String, Envelope)>,
    /// Commands the engine queue refused (full).
    pub refused: u64,
    /// The business server of the cluster (`business.rs`).
    biz: business::Business,
}

/// The connection id of remote user `uid` attached here: slot `u32::MAX`,
/// which the loop never gives a socket.
pub fn ghost_conn(uid: u32) -> ConnId {
    ConnId(((uid as u64) << 32) | 0xFFFF_FFFF)
}

/// What server `me` tells the home of remote user `uid` when it lets the
/// user go.
fn ended_envelope(me: &str, uid: u32, ghost: &Ghost) -> Envelope {
    Envelope::Ended { owner: me.to_string(), uid, call: ghost.call, visit: ghost.visit }
}

fn ghost_uid(conn: ConnId) -> Option<u32> {
    (conn.0 & 0xFFFF_FFFF == 0xFFFF_FFFF).then_some((conn.0 >> 32) as u32)
}

fn frame_of_server(msg: &ServerMsg) -> Vec<u8> {
    let mut b = Vec::new();
    msg.encode(&mut b);
    b
}

fn frame_of_client(msg: &ClientMsg) -> Vec<u8> {
    let mut b = Vec::new();
    msg.encode(&mut b);
    b
}

/// What the others may know of local user `uid`.
fn user_of(core: &Core, uid: u32) -> RoomUser {
    core.user_info(uid).unwrap_or(RoomUser {
        user_id: uid,
        name: Vec::new(),
        nick: Vec::new(),
        level: 0,
        camera: 0,
        mic: 0,
    })
}

fn call_event(peer: u32, event: u32, code: u32) -> ServerMsg {
    let ev = CallEvent { event, user_id: peer, error_code: code, flags: 0, param: 0, user_str: Vec::new() };
    let peer = RoomUser { user_id: peer, name: Vec::new(), nick: Vec::new(), level: 0, camera: 0, mic: 0 };
    ServerMsg::VideoCall { ev, peer }
}

impl Cluster {
    /// `me`: this server's instance name; `link`: the engine threads;
    /// `token`: what a media link from another server must present.
    pub fn new(me: String, link: EngineLink, token: String) -> Self {
        Cluster {
            me,
            link,
            up: true,
            sessions: HashMap::new(),
            by_conn: HashMap::new(),
            holding: HashMap::new(),
            claimed: HashMap::new(),
            away: HashMap::new(),
            ghosts: HashMap::new(),
            numbered: 0,
            call_rooms_asked: false,
            claims: HashSet::new(),
            roomed: HashMap::new(),
            entering: HashMap::new(),
            room_names: HashMap::new(),
            told: HashMap::new(),
            friends: friends::Friends::default(),
            token,
            links: HashMap::new(),
            peer_in: HashSet::new(),
            dialed: Vec::new(),
            queries: HashMap::new(),
            asked: HashMap::new(),
            out: VecDeque::new(),
            after_heal: Vec::new(),
            refused: 0,
            biz: Default::default(),
        }
    }

    /// This server's instance name.
    pub fn instance(&self) -> &str {
        &self.me
    }

    fn engine(&mut self, cmd: ToEngine) -> bool {
        match self.link.tx.try_send(cmd) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.refused += 1;
                false
            }
        }
    }

    fn send_to(&mut self, server: &str, env: Envelope) {
        self.engine(ToEngine::Send { to: server.to_string(), env: env.encode() });
    }

    fn send_local(&mut self, uid: u32, msg: ServerMsg) {
        if let Some(conn) = self.sessions.get(&uid) {
            self.out.push_back(Output::Send(*conn, msg));
        }
    }

    /// The login of `name` on `conn` fails: no cluster-wide id can be given
    /// (the engine unreachable).
    fn login_refused(&mut self, conn: ConnId, name: Vec<u8>) {
        let (nick, address, code) = (Vec::new(), Vec::new(), CODE_ENGINE_DOWN_LOGIN);
        let msg = ServerMsg::LoginResult { user_id: 0, code, name, level: 0, nick, address };
        self.out.push_back(Output::Send(conn, msg));
    }

    /// The next output for the loop (messages to local connections, reads
    /// to resume), after the core's.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether `conn`'s reading waits (its login waits for its id, or its
    /// room entry for the room's holder).
    pub fn holds(&self, conn: ConnId) -> bool {
        self.holding.contains_key(&conn) || self.entering.contains_key(&conn)
    }

    /// A local connection's message, before the core: `Some` goes on to the
    /// core, `None` was taken here.
    pub fn on_client(&mut self, core: &mut Core, now: Instant, conn: ConnId, msg: ClientMsg) -> Option<ClientMsg> {
        if core.business_link().is_some_and(|(b, _)| b == conn) {
            return self.on_business_msg(core, msg);
        }
        if self.peer_in.contains(&conn) {
            self.on_link(core, now, msg);
            return None;
        }
        let Some(&uid) = self.by_conn.get(&conn) else {
            if self.peer_hello(core, conn, &msg) {
                return None;
            }
            // Not logged in: a Login gets its cluster-wide id first.
            let name = match &msg {
                ClientMsg::Login { name, .. } | ClientMsg::LoginEx { name, user_id: 0, .. } => name.clone(),
                _ => return Some(msg),
            };
            if name.is_empty() || name.len() > crate::core::MAX_USER_NAME || !core.is_open(conn) {
                return Some(msg);
            }
            if !self.up || !self.engine(ToEngine::ResolveId { conn, name: name.clone() }) {
                self.login_refused(conn, name);
                return None;
            }
            self.holding.insert(conn, msg);
            return None;
        };
        if matches!(msg, ClientMsg::EnterRoom { .. } | ClientMsg::EnterRoomByName { .. })
            && !self.on_enter(core, conn, uid, &msg)
        {
            return None;
        }
        if let ClientMsg::Query { id, info, input } = &msg {
            // The core answers first (and charges it); what it cannot know
            // of the other servers' users is then asked of the engine.
            if self.queries.len() + self.asked.len() < MAX_QUERIES {
                self.queries.insert((conn, *id), (*info, input.clone()));
            }
            return Some(msg);
        }
        if let ClientMsg::VideoCall(ev) = &msg {
            if ev.event == BRAC_VIDEOCALL_EVENT_REQUEST {
                let b = ev.user_id;
                if b == uid || core.has_user(b) || core.in_call(uid) || self.away.contains_key(&uid) {
                    return Some(msg); // local, or answered BUSY by the core
                }
                if !self.up {
                    self.send_local(uid, call_event(b, BRAC_VIDEOCALL_EVENT_REPLY, CODE_ENGINE_DOWN_CALL));
                    return None;
                }
                let Some(user) = core.user_info(uid) else { return Some(msg) };
                let call = self.number();
                let frame = frame_of_client(&msg);
                let env = Envelope::Ghost { home: self.me.clone(), user, call, visit: 0, frame }.encode();
                if !self.engine(ToEngine::Locate { from: uid, to: b, env }) {
                    self.send_local(uid, call_event(b, BRAC_VIDEOCALL_EVENT_REPLY, CODE_ENGINE_DOWN_CALL));
                    return None;
                }
                self.away.insert(
                    uid,
                    Away { call, owner: None, peer: b, queued: Vec::new(), room: None, gone: None, ended: false },
                );
                core.set_busy_elsewhere(uid, true);
                return None;
            }
        }
        let Some(away) = self.away.get_mut(&uid) else { return self.room_forward(core, now, uid, msg) };
        if let ClientMsg::VideoCall(ev) = &msg {
            let ends = ev.event == BRAC_VIDEOCALL_EVENT_FINISH
                || (ev.event == BRAC_VIDEOCALL_EVENT_REPLY && ev.error_code != 0);
            away.ended |= ends && ev.user_id == away.peer;
        }
        let peer = away.peer;
        let in_room = away.room;
        let forward = match &msg {
            ClientMsg::VideoCall(ev) => ev.user_id == peer,
            ClientMsg::EnterRoom { room_id, .. } => Some(*room_id) == in_room,
            ClientMsg::LeaveRoom { room_id } => Some(*room_id) == in_room || *room_id == u32::MAX,
            ClientMsg::Subscribe { user_id, .. } => *user_id == peer,
            ClientMsg::TransBuffer { to, .. } => *to == peer,
            ClientMsg::Text { .. } | ClientMsg::Media { .. } | ClientMsg::Device { .. } => in_room.is_some(),
            _ => false,
        };
        if !forward {
            return self.room_forward(core, now, uid, msg);
        }
        if let (ClientMsg::Media { .. }, Some(owner)) = (&msg, away.owner.clone()) {
            self.media_to(core, now, &owner, uid, &msg);
            return None;
        }
        let frame = frame_of_client(&msg);
        self.forward(core, uid, frame);
        // The local core keeps the user's own device state too.
        matches!(msg, ClientMsg::Device { .. } | ClientMsg::LeaveRoom { .. }).then_some(msg)
    }

    /// Sends a client frame of local user `uid` to the holder of its call.
    fn forward(&mut self, core: &Core, uid: u32, frame: Vec<u8>) {
        let Some(away) = self.away.get_mut(&uid) else { return };
        let Some(owner) = away.owner.clone() else {
            away.queued.push(frame);
            return;
        };
        self.ghost_frame(core, &owner, uid, frame);
    }

    /// A new number for a call or room entry of a local user held
    /// elsewhere: what the holder later says of it names it, and news of an
    /// earlier one (told late after a cut) is told apart.
    fn number(&mut self) -> u64 {
        self.numbered += 1;
        self.numbered
    }

    /// Tells the home of remote user `uid`, detached here, that its call
    /// here is over and it is in no room here.
    fn ended(&mut self, ghost: Ghost, uid: u32) {
        self.send_to(&ghost.home, ended_envelope(&self.me, uid, &ghost));
    }

    /// Sends server `owner` a client frame of local user `uid`.
    fn ghost_frame(&mut self, core: &Core, owner: &str, uid: u32, frame: Vec<u8>) {
        let user = user_of(core, uid);
        self.send_to(owner, Envelope::Ghost { home: self.me.clone(), user, call: 0, visit: 0, frame });
    }

    /// Sends server `owner` a media frame of local user `uid` (over the
    /// media link when there is one).
    fn media_to(&mut self, core: &Core, now: Instant, owner: &str, uid: u32, msg: &ClientMsg) {
        let ClientMsg::Media { header, .. } = msg else { return };
        let (video, key) = (header.kind == MEDIA_VIDEO, header.key);
        let (user, frame) = (user_of(core, uid), frame_of_client(msg));
        let env = Envelope::Ghost { home: self.me.clone(), user, call: 0, visit: 0, frame };
        self.send_media(now, owner, env, uid, video, key);
    }

    /// An output of the core, before the loop: `None` was taken here (it
    /// was for a remote user).
    pub fn on_output(&mut self, now: Instant, out: Output) -> Option<Output> {
        let out = self.business_output(out)?;
        if let Output::Send(conn, msg) = &out {
            let friendly = matches!(
                msg,
                ServerMsg::FriendSet { .. }
                    | ServerMsg::FriendGone { .. }
                    | ServerMsg::UserDataUpdated
                    | ServerMsg::UserDataReset
                    | ServerMsg::UserInfo { .. }
            );
            if let Some(uid) = self.by_conn.get(conn).copied().filter(|_| friendly) {
                let Output::Send(conn, msg) = out else { return None };
                return self.friends_out(uid, msg).map(|msg| Output::Send(conn, msg));
            }
        }
        match &out {
            Output::Send(conn, msg) => {
                if let Some(uid) = ghost_uid(*conn) {
                    let home = self.ghosts.get(&uid)?.home.clone();
                    self.send_to(&home, Envelope::Deliver { to: uid, frame: frame_of_server(msg) });
                    return None;
                }
                if let ServerMsg::QueryResult { id, code, output } = msg {
                    if let Some((info, input)) = self.queries.remove(&(*conn, *id)) {
                        let wider = info == ANYCHAT_SERVERQUERY_ONLINEUSERS || *code == GV_ERR_INVALID_USERID;
                        if self.up && wider {
                            let ask = ToEngine::Query { conn: *conn, id: *id, info, input };
                            if self.engine(ask) {
                                self.asked.insert((*conn, *id), (*code, output.clone()));
                                return None;
                            }
                        }
                    }
                }
                if let ServerMsg::LoginResult { user_id, code, .. } = msg {
                    let claimed = self.claimed.remove(conn);
                    if *code == 0 {
                        if let Some(old) = self.sessions.insert(*user_id, *conn) {
                            self.by_conn.remove(&old);
                        }
                        self.by_conn.insert(*conn, *user_id);
                    }
                    // The id claimed before the login is the user's unless a
                    // business server gave another (or refused the login).
                    if claimed.is_some_and(|c| *code != 0 || c != *user_id) {
                        self.engine(ToEngine::Absent { uid: claimed.unwrap_or(0), conn: conn.0 });
                    }
                    if *code == 0 && claimed != Some(*user_id) {
                        self.engine(ToEngine::Present { uid: *user_id, conn: conn.0 });
                    }
                }
            }
            Output::Media(conn, frame) => {
                if let Some(uid) = ghost_uid(*conn) {
                    let home = self.ghosts.get(&uid)?.home.clone();
                    let (from, video, key) = (frame.from, frame.video, frame.key);
                    let env = Envelope::Media { to: uid, from, video, key, frame: frame.bytes.clone() };
                    self.send_media(now, &home, env, from, video, key);
                    return None;
                }
            }
            Output::Close(conn, reason) => {
                if let Some(uid) = ghost_uid(*conn) {
                    // The core ended the remote user's session here (a login
                    // of the same user here, a kick-out).
                    if let Some(ghost) = self.ghosts.remove(&uid) {
                        self.ended(ghost, uid);
                    }
                    return None;
                }
                self.link_closed(*conn);
                self.session_gone(*conn, *reason == CloseReason::Logout);
            }
            Output::Resume(_) | Output::Journal(_) => {}
        }
        Some(out)
    }

    /// The loop dropped a connection (closed socket, read error): a lost
    /// session.
    pub fn on_closed(&mut self, conn: ConnId) {
        self.link_closed(conn);
        self.session_gone(conn, false);
    }

    fn session_gone(&mut self, conn: ConnId, logout: bool) {
        self.holding.remove(&conn);
        self.entering.remove(&conn);
        if !self.queries.is_empty() || !self.asked.is_empty() {
            self.queries.retain(|(c, _), _| *c != conn);
            self.asked.retain(|(c, _), _| *c != conn);
        }
        if let Some(uid) = self.claimed.remove(&conn) {
            self.engine(ToEngine::Absent { uid, conn: conn.0 });
        }
        let Some(uid) = self.by_conn.remove(&conn) else { return };
        self.friends_gone(uid);
        if self.sessions.get(&uid) == Some(&conn) {
            self.sessions.remove(&uid);
        }
        self.engine(ToEngine::Absent { uid, conn: conn.0 });
        self.told.remove(&uid);
        if let Some(rr) = self.roomed.remove(&uid) {
            self.send_to(&rr.owner, Envelope::Gone { home: self.me.clone(), uid, logout });
        }
        if let Some(away) = self.away.get_mut(&uid) {
            match away.owner.clone() {
                Some(owner) => {
                    self.away.remove(&uid);
                    self.send_to(&owner, Envelope::Gone { home: self.me.clone(), uid, logout });
                }
                None => away.gone = Some(logout),
            }
        }
    }

    /// Ends local user `uid`'s call held elsewhere, as the holder would
    /// have (its server was lost).
    fn away_lost(&mut self, core: &mut Core, uid: u32) {
        if let Some(away) = self.away.remove(&uid) {
            core.set_busy_elsewhere(uid, false);
            let event = if away.room.is_some() { BRAC_VIDEOCALL_EVENT_FINISH } else { BRAC_VIDEOCALL_EVENT_REPLY };
            self.send_local(uid, call_event(away.peer, event, AC_ERROR_VIDEOCALL_DISCONNECT));
        }
    }

    /// What the engine thread reported, at most a budget per iteration.
    /// True when more is waiting.
    pub fn on_engine(&mut self, core: &mut Core, now: Instant) -> bool {
        for _ in 0..ENGINE_BUDGET {
            let Ok(what) = self.link.rx.try_recv() else { return false };
            self.engine_event(core, now, what);
        }
        !self.link.rx.is_empty()
    }

    fn engine_event(&mut self, core: &mut Core, now: Instant, what: FromEngine) {
        match what {
            FromEngine::Health(up) => {
                self.up = up;
                tracing::info!(up, "cluster engine");
                if up {
                    // A block asked for and lost with the engine: asked again.
                    self.call_rooms_asked = false;
                    self.healed();
                } else {
                    self.business_at(core, now, None);
                }
            }
            FromEngine::BusinessHome(home) => self.business_at(core, now, home),
            FromEngine::BusinessConflict(home) => self.business_conflict(core, now, home),
            FromEngine::Id { conn, uid } => {
                let Some(msg) = self.holding.remove(&conn) else { return };
                self.out.push_back(Output::Resume(conn));
                match uid {
                    Some(uid) => {
                        if let ClientMsg::Login { name, .. } | ClientMsg::LoginEx { name, .. } = &msg {
                            core.remember_id(name.clone(), uid);
                        }
                        self.claimed.insert(conn, uid);
                        core.on_message(now, conn, msg);
                    }
                    None => {
                        let name = match msg {
                            ClientMsg::Login { name, .. } | ClientMsg::LoginEx { name, .. } => name,
                            _ => Vec::new(),
                        };
                        self.login_refused(conn, name);
                    }
                }
            }
            FromEngine::Located { from, owner } => {
                let Some(peer) = self.away.get(&from).map(|a| a.peer) else { return };
                match owner {
                    Ok(Some(owner)) => {
                        self.engine(ToEngine::Watch(owner.clone()));
                        let Some(away) = self.away.get_mut(&from) else { return };
                        if let Some(logout) = away.gone {
                            self.away.remove(&from);
                            core.set_busy_elsewhere(from, false);
                            self.send_to(&owner, Envelope::Gone { home: self.me.clone(), uid: from, logout });
                            return;
                        }
                        away.owner = Some(owner);
                        for frame in std::mem::take(&mut away.queued) {
                            self.forward(core, from, frame);
                        }
                    }
                    Ok(None) | Err(()) => {
                        self.away.remove(&from);
                        core.set_busy_elsewhere(from, false);
                        let code = if owner.is_ok() { AC_ERROR_VIDEOCALL_OFFLINE } else { CODE_ENGINE_DOWN_CALL };
                        self.send_local(from, call_event(peer, BRAC_VIDEOCALL_EVENT_REPLY, code));
                    }
                }
            }
            FromEngine::RoomLocated { uid, room, owner } => self.room_located(core, now, uid, room, owner),
            FromEngine::RoomId { conn, id } => self.room_named(core, now, conn, id),
            FromEngine::Dialed { server, stream } => self.dialed(now, server, stream),
            FromEngine::Friend { uid, server, infos } => self.friend_found(core, uid, server, infos),
            FromEngine::Answer { conn, id, result } => {
                let Some(local) = self.asked.remove(&(conn, id)) else { return };
                let (code, output) = result.unwrap_or(local);
                self.out.push_back(Output::Send(conn, ServerMsg::QueryResult { id, code, output }));
            }
            FromEngine::CallRooms(first) => {
                // Not given (the engine lost): asked again once it is back.
                if let Some(first) = first {
                    self.call_rooms_asked = false;
                    core.add_call_rooms(first, CALL_ROOM_BLOCK);
                }
            }
            FromEngine::Dead(server) => {
                // Told first, while it is all still known.
                self.tell_dead(&server);
                self.business_dead(core, now, &server);
                self.rooms_lost(&server);
                self.presence_lost(core, &server);
                let lost: Vec<u32> =
                    self.ghosts.iter().filter(|(_, g)| g.home == server).map(|(uid, _)| *uid).collect();
                for uid in lost {
                    self.ghosts.remove(&uid);
                    core.detach_remote(ghost_conn(uid), false);
                }
                let away: Vec<u32> = self
                    .away
                    .iter()
                    .filter(|(_, a)| a.owner.as_deref() == Some(server.as_str()))
                    .map(|(uid, _)| *uid)
                    .collect();
                for uid in away {
                    self.away_lost(core, uid);
                }
            }
            FromEngine::Inbound(env) => self.inbound(core, now, env),
            FromEngine::LeaseLost => self.lease_lost(core),
        }
    }

    fn inbound(&mut self, core: &mut Core, now: Instant, env: Envelope) {
        match env {
            Envelope::Deliver { to, frame } => {
                let Some(msg) = frame_body(&frame).and_then(|b| ServerMsg::decode(b).ok()) else { return };
                self.room_delivered(to, &msg);
                if let (ServerMsg::VideoCall { ev, .. }, Some(away)) = (&msg, self.away.get_mut(&to)) {
                    let over = ev.event == BRAC_VIDEOCALL_EVENT_FINISH
                        || (ev.event == BRAC_VIDEOCALL_EVENT_REPLY && ev.error_code != 0);
                    if ev.event == BRAC_VIDEOCALL_EVENT_START {
                        away.room = Some(ev.param);
                    }
                    if over {
                        self.away.remove(&to);
                        core.set_busy_elsewhere(to, false);
                    }
                }
                self.send_local(to, msg);
            }
            Envelope::Media { to, from, video, key, frame } => {
                if let Some(conn) = self.sessions.get(&to) {
                    self.out.push_back(Output::Media(*conn, Arc::new(MediaOut { bytes: frame, from, video, key })));
                }
            }
            Envelope::Ghost { home, user, call, visit, frame } => {
                let uid = user.user_id;
                let Some(msg) = frame_body(&frame).and_then(|b| ClientMsg::decode(b).ok()) else { return };
                let conn = ghost_conn(uid);
                // An entry into a room this server does not hold (any more).
                let enter = self.entry_room(&msg);
                if let Some(room) = enter.filter(|r| !self.claims.contains(r)) {
                    self.send_to(&home, Envelope::Relocate { owner: self.me.clone(), uid, room });
                    return;
                }
                if let ClientMsg::EnterRoomByName { name, .. } = &msg {
                    // Its id came first (`RoomName`); without it the entry
                    // cannot be placed.
                    let Some(room) = enter else {
                        let refusal = ServerMsg::EnterRoomResult { room_id: 0, code: rooms::CODE_ROOM_UNREACHABLE };
                        self.send_to(&home, Envelope::Deliver { to: uid, frame: frame_of_server(&refusal) });
                        return;
                    };
                    core.name_room(name.clone(), room);
                }
                match self.ghosts.get_mut(&uid) {
                    Some(g) if g.home == home => {
                        // A Request or an entry: what the home counts on now.
                        if call != 0 {
                            g.call = call;
                        }
                        if visit != 0 {
                            g.visit = visit;
                        }
                    }
                    Some(_) => return,
                    None => {
                        let request =
                            matches!(&msg, ClientMsg::VideoCall(ev) if ev.event == BRAC_VIDEOCALL_EVENT_REQUEST);
                        if !request && enter.is_none() {
                            return; // about a call or room that is over
                        }
                        if !core.attach_remote(now, conn, user) {
                            let refusal = match (&msg, enter) {
                                (ClientMsg::VideoCall(ev), _) => {
                                    call_event(ev.user_id, BRAC_VIDEOCALL_EVENT_REPLY, AC_ERROR_VIDEOCALL_BUSY)
                                }
                                (_, Some(room_id)) => {
                                    ServerMsg::EnterRoomResult { room_id, code: rooms::CODE_ROOM_UNREACHABLE }
                                }
                                _ => return,
                            };
                            self.send_to(&home, Envelope::Deliver { to: uid, frame: frame_of_server(&refusal) });
                            return;
                        }
                        self.engine(ToEngine::Watch(home.clone()));
                        self.ghosts.insert(uid, Ghost { home, call, visit });
                    }
                }
                core.on_message(now, conn, msg);
            }
            Envelope::Gone { home, uid, logout } => {
                if self.ghosts.get(&uid).is_some_and(|g| g.home == home) {
                    self.ghosts.remove(&uid);
                    core.detach_remote(ghost_conn(uid), logout);
                }
            }
            Envelope::Ended { owner, uid, call, visit } => {
                self.room_ended(&owner, uid, visit);
                // Its last event came first, or the user ended the call;
                // otherwise the holder lost it: it ends here as lost. About
                // another call (an earlier one, told late after a cut): nothing.
                match self.away.get(&uid) {
                    Some(a) if a.owner.as_ref() != Some(&owner) || a.call != call => {}
                    Some(a) if a.ended => {
                        self.away.remove(&uid);
                        core.set_busy_elsewhere(uid, false);
                    }
                    Some(_) => self.away_lost(core, uid),
                    None => {}
                }
            }
            Envelope::Relocate { owner, uid, room } => self.relocate(core, &owner, uid, room),
            Envelope::RoomName { room, name } => self.heard_room_name(room, name),
            Envelope::Presence { uid, online, server } => self.presence(core, uid, online, server),
            Envelope::InfoSet { uid, info_id, value } => core.friend_info(uid, info_id, value),
            Envelope::Kick { uid, conn } => {
                if self.sessions.get(&uid) == Some(&ConnId(conn)) {
                    core.close_user(now, uid, GV_ERR_LOGIN_NEWLOGIN);
                }
            }
            env @ (Envelope::BizUp { .. } | Envelope::BizDown { .. } | Envelope::BizHome { .. }) => {
                self.business_inbound(core, now, env)
            }
        }
    }

    /// Whether the engine has reported more than was handled.
    pub fn pending(&self) -> bool {
        !self.link.rx.is_empty()
    }

    /// Once the outputs of a step went out: remote users whose call and
    /// room here are over are detached (their last events went home
    /// first), and rooms held here that became empty are let go. True when
    /// a user was detached.
    pub fn after_step(&mut self, core: &mut Core) -> bool {
        self.business_step(core);
        // The next block of call room ids is asked for while half of one is
        // left, so that calls never wait for it.
        if self.up && !self.call_rooms_asked && core.call_rooms_left() < u64::from(CALL_ROOM_BLOCK / 2) {
            self.call_rooms_asked = self.engine(ToEngine::CallRooms);
        }
        self.release_emptied(core);
        let done: Vec<u32> =
            self.ghosts.keys().copied().filter(|uid| !core.in_call(*uid) && !core.in_room_or_entering(*uid)).collect();
        for uid in &done {
            if let Some(ghost) = self.ghosts.remove(uid) {
                self.ended(ghost, *uid);
            }
            core.detach_remote(ghost_conn(*uid), true);
        }
        !done.is_empty()
    }
}
