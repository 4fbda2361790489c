//! Ordinary rooms across servers.
//!
//! An ordinary room (entered by number or by name; a name's id is given by
//! the engine, `anychat:roomname:<name>`, in the range the core keeps for
//! rooms entered by name) is **held** by one server at a time, named in the engine
//! (`anychat:room:<id>`): the first server whose user enters it takes it.
//! A user of another server who enters it is attached there as a remote
//! user, as the caller of a call is: the holder's core runs the room for
//! all its members (listing, arrivals and departures, text, buffers, media,
//! the business server's question and notes), and the user's home forwards
//! what the user sends about the room. When the room becomes empty its
//! holder lets it go; an entry that reaches a holder that has just let it
//! go is sent back (`Relocate`) and looked for again.
//!
//! A call's room stays with the server holding the call.
#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::envelope::Envelope;
use super::{frame_of_client, Cluster, ToEngine};
use crate::core::{ConnId, Core, Output, ANY_ROOM, CALL_ROOM_BASE};
use crate::wire::constants::*;
use crate::wire::protocol::{ClientMsg, RoomUser, ServerMsg};

/// An entry into a room whose holder cannot be found (the engine is
/// unreachable, or the room moved away too many times in a row):
/// `WM_GV_ENTERROOM(room, 307)`.
pub const CODE_ROOM_UNREACHABLE: u32 = GV_ERR_ROOM_ENTERFAIL;
/// An entry is looked for again at most this many times after its holder
/// let the room go.
const RELOCATE_TRIES: u8 = 3;
/// Room names heard of (`RoomName`) and not yet entered, at most.
pub(super) const MAX_ROOM_NAMES: usize = 4096;

/// A local user's ordinary room held by another server.
#[derive(Debug)]
pub(super) struct RemoteRoom {
    pub room: u32,
    pub owner: String,
    /// This server's number for the entry (see [`Cluster::number`]).
    visit: u64,
    /// The entry, kept to look for the room again.
    entry: ClientMsg,
    tries: u8,
}

/// What a local user was told of a room held elsewhere, from the holder's
/// messages (which may come before the engine's answer to the entry).
#[derive(Debug)]
pub(super) struct Told {
    room: u32,
    /// Who is in it (told they left if its holder is lost).
    members: HashSet<u32>,
    /// The entry was refused.
    refused: bool,
}

/// What `uid` was told of `room` (forgotten when it was of another room).
fn told_of(told: &mut HashMap<u32, Told>, uid: u32, room: u32) -> &mut Told {
    let fresh = || Told { room, members: HashSet::new(), refused: false };
    let t = told.entry(uid).or_insert_with(fresh);
    if t.room != room {
        *t = fresh();
    }
    t
}

/// An entry waiting for the engine to say where the room is (the user's
/// connection is not read meanwhile).
#[derive(Debug)]
pub(super) struct Entering {
    entry: ClientMsg,
    tries: u8,
    /// The entry's number, once sent to the engine (0 before).
    visit: u64,
}

/// Whether room `room_id` may span servers: the ordinary rooms, not the
/// calls' rooms.
pub fn spans_servers(room_id: u32) -> bool {
    room_id != 0 && room_id < CALL_ROOM_BASE
}

/// The name of an entry by name.
fn name_of(entry: &ClientMsg) -> Option<&Vec<u8>> {
    match entry {
        ClientMsg::EnterRoomByName { name, .. } => Some(name),
        _ => None,
    }
}

fn room_event(room_id: u32, user_id: u32) -> ServerMsg {
    let user = RoomUser { user_id, name: Vec::new(), nick: Vec::new(), level: 0, camera: 0, mic: 0 };
    ServerMsg::UserAtRoom { room_id, user, entered: false }
}

impl Cluster {
    /// A local user's entry into a room (by number or name), before the
    /// core. False: taken here.
    pub(super) fn on_enter(&mut self, core: &mut Core, conn: ConnId, uid: u32, msg: &ClientMsg) -> bool {
        let target = match msg {
            ClientMsg::EnterRoom { room_id, .. } => Some(*room_id),
            _ => None,
        };
        let name = name_of(msg);
        // Another room: the one held elsewhere is left first.
        if let Some(rr) = self.roomed.get(&uid) {
            if target == Some(rr.room) || (name.is_some() && name == name_of(&rr.entry)) {
                let owner = rr.owner.clone();
                self.ghost_frame(core, &owner, uid, frame_of_client(msg));
                return false;
            }
            self.leave_remote(core, uid);
        }
        if let Some(name) = name {
            // Its id first (the core answers a bad name as usual).
            if name.is_empty() || name.len() > crate::wire::protocol::MAX_STR_LEN {
                return true;
            }
            if self.up && self.engine(ToEngine::RoomId { conn, name: name.clone() }) {
                self.entering.insert(conn, Entering { entry: msg.clone(), tries: 0, visit: 0 });
            } else {
                self.send_local(uid, ServerMsg::EnterRoomResult { room_id: 0, code: CODE_ROOM_UNREACHABLE });
            }
            return false;
        }
        let Some(room) = target.filter(|r| spans_servers(*r)) else { return true };
        if self.claims.contains(&room) {
            return true;
        }
        self.locate_room(core, conn, uid, room, msg.clone(), 0);
        false
    }

    /// The engine gave the name `conn` enters by its id.
    pub(super) fn room_named(&mut self, core: &mut Core, now: Instant, conn: ConnId, id: Option<u32>) {
        let Some(entering) = self.entering.remove(&conn) else { return };
        let Some(&uid) = self.by_conn.get(&conn) else { return };
        self.out.push_back(Output::Resume(conn));
        let Some(room) = id else {
            self.send_local(uid, ServerMsg::EnterRoomResult { room_id: 0, code: CODE_ROOM_UNREACHABLE });
            return;
        };
        if self.claims.contains(&room) {
            self.enter_here(core, now, conn, room, entering.entry);
        } else {
            self.locate_room(core, conn, uid, room, entering.entry, entering.tries);
        }
    }

    /// Feeds a local user's entry into room `room`, held here, to the core.
    fn enter_here(&mut self, core: &mut Core, now: Instant, conn: ConnId, room: u32, entry: ClientMsg) {
        // The first room held here: from now on the core tells which rooms
        // became empty (for `release_emptied`).
        core.track_emptied_rooms();
        if let Some(name) = name_of(&entry) {
            core.name_room(name.clone(), room);
        }
        core.on_message(now, conn, entry);
        self.release_if_unused(core, room);
    }

    /// Asks the engine where `room` is, for `uid`'s entry `entry`.
    fn locate_room(&mut self, core: &Core, conn: ConnId, uid: u32, room: u32, entry: ClientMsg, tries: u8) {
        let visit = self.number();
        let sent = self.up
            && core.user_info(uid).is_some_and(|user| {
                let mut envs = Vec::new();
                if let Some(name) = name_of(&entry) {
                    envs.push(Envelope::RoomName { room, name: name.clone() }.encode());
                }
                let (home, frame) = (self.me.clone(), frame_of_client(&entry));
                envs.push(Envelope::Ghost { home, user, call: 0, visit, frame }.encode());
                self.engine(ToEngine::LocateRoom { uid, room, envs })
            });
        if sent {
            self.told.remove(&uid);
            self.entering.insert(conn, Entering { entry, tries, visit });
        } else {
            self.send_local(uid, ServerMsg::EnterRoomResult { room_id: room, code: CODE_ROOM_UNREACHABLE });
        }
    }

    /// Takes `uid` out of the room another server holds for it.
    pub(super) fn leave_remote(&mut self, core: &Core, uid: u32) {
        self.told.remove(&uid);
        if let Some(rr) = self.roomed.remove(&uid) {
            let leave = ClientMsg::LeaveRoom { room_id: rr.room };
            self.ghost_frame(core, &rr.owner, uid, frame_of_client(&leave));
        }
    }

    /// A message of a local user in a room held elsewhere: `None` went to
    /// the holder.
    pub(super) fn room_forward(&mut self, core: &Core, now: Instant, uid: u32, msg: ClientMsg) -> Option<ClientMsg> {
        let Some(rr) = self.roomed.get(&uid) else { return Some(msg) };
        let forward = match &msg {
            ClientMsg::Text { .. } | ClientMsg::Media { .. } | ClientMsg::Device { .. } => true,
            ClientMsg::Subscribe { .. } => true,
            ClientMsg::TransBuffer { to, .. } => *to != 0,
            ClientMsg::LeaveRoom { room_id } => *room_id == rr.room || *room_id == ANY_ROOM,
            _ => false,
        };
        if !forward {
            return Some(msg);
        }
        let owner = rr.owner.clone();
        if matches!(msg, ClientMsg::Media { .. }) {
            self.media_to(core, now, &owner, uid, &msg);
            return None;
        }
        if matches!(msg, ClientMsg::LeaveRoom { .. }) {
            self.roomed.remove(&uid);
            self.told.remove(&uid);
        }
        self.ghost_frame(core, &owner, uid, frame_of_client(&msg));
        // The local core keeps the user's own device state too.
        matches!(msg, ClientMsg::Device { .. }).then_some(msg)
    }

    /// The engine said where a room is.
    pub(super) fn room_located(
        &mut self,
        core: &mut Core,
        now: Instant,
        uid: u32,
        room: u32,
        owner: Result<String, ()>,
    ) {
        let conn = self.sessions.get(&uid).copied();
        let entering = conn.and_then(|c| self.entering.remove(&c));
        let Some((conn, entering)) = conn.zip(entering) else {
            // The user left meanwhile.
            match owner {
                Ok(o) if o == self.me => {
                    self.claims.insert(room);
                    self.release_if_unused(core, room);
                }
                Ok(o) => self.send_to(&o, Envelope::Gone { home: self.me.clone(), uid, logout: true }),
                Err(()) => {}
            }
            return;
        };
        self.out.push_back(Output::Resume(conn));
        match owner {
            Ok(o) if o == self.me => {
                self.claims.insert(room);
                self.enter_here(core, now, conn, room, entering.entry);
            }
            Ok(o) => {
                // Entering a room leaves the one the user is in here.
                if core.room_of(uid).is_some() {
                    core.on_message(now, conn, ClientMsg::LeaveRoom { room_id: ANY_ROOM });
                }
                self.engine(ToEngine::Watch(o.clone()));
                let Entering { entry, tries, visit } = entering;
                if self.told.get(&uid).is_some_and(|t| t.room == room && t.refused) {
                    return; // the holder's refusal came first
                }
                self.roomed.insert(uid, RemoteRoom { room, owner: o, visit, entry, tries });
            }
            Err(()) => self.send_local(uid, ServerMsg::EnterRoomResult { room_id: room, code: CODE_ROOM_UNREACHABLE }),
        }
    }

    /// The holder of `uid`'s room no longer holds it: look again.
    pub(super) fn relocate(&mut self, core: &Core, owner: &str, uid: u32, room: u32) {
        if !self.roomed.get(&uid).is_some_and(|rr| rr.owner == owner && rr.room == room) {
            return;
        }
        let Some(rr) = self.roomed.remove(&uid) else { return };
        let Some(conn) = self.sessions.get(&uid).copied() else { return };
        if rr.tries >= RELOCATE_TRIES {
            self.send_local(uid, ServerMsg::EnterRoomResult { room_id: room, code: CODE_ROOM_UNREACHABLE });
            return;
        }
        self.locate_room(core, conn, uid, room, rr.entry, rr.tries + 1);
    }

    /// A message for local user `to` from another server (the holder of
    /// its room): what it is told of the room is kept.
    pub(super) fn room_delivered(&mut self, to: u32, msg: &ServerMsg) {
        match msg {
            ServerMsg::RoomUsers { room_id, users, .. } => {
                told_of(&mut self.told, to, *room_id)
                    .members
                    .extend(users.iter().map(|u| u.user_id).filter(|u| *u != to));
            }
            ServerMsg::UserAtRoom { room_id, user, entered } => {
                let t = told_of(&mut self.told, to, *room_id);
                if *entered {
                    t.members.insert(user.user_id);
                } else {
                    t.members.remove(&user.user_id);
                }
            }
            ServerMsg::EnterRoomResult { room_id, code } if *code != 0 && *code != GV_ERR_ROOM_ALREADIN => {
                told_of(&mut self.told, to, *room_id).refused = true;
                if self.roomed.get(&to).is_some_and(|rr| rr.room == *room_id) {
                    self.roomed.remove(&to);
                }
            }
            _ => {}
        }
    }

    /// Another server says the entry by `name` that follows is for `room`.
    pub(super) fn heard_room_name(&mut self, room: u32, name: Vec<u8>) {
        if self.room_names.len() >= MAX_ROOM_NAMES {
            self.room_names.clear();
        }
        self.room_names.insert(name, room);
    }

    /// The room a remote user's entry is for, if it may span servers.
    pub(super) fn entry_room(&mut self, msg: &ClientMsg) -> Option<u32> {
        match msg {
            ClientMsg::EnterRoom { room_id, .. } => Some(*room_id).filter(|r| spans_servers(*r)),
            ClientMsg::EnterRoomByName { name, .. } => self.room_names.remove(name),
            _ => None,
        }
    }

    /// Server `server` is lost: its rooms are gone; their local members are
    /// told everyone left, and that they are out.
    pub(super) fn rooms_lost(&mut self, server: &str) {
        let lost: Vec<u32> = self.roomed.iter().filter(|(_, rr)| rr.owner == server).map(|(uid, _)| *uid).collect();
        for uid in lost {
            self.out_of_remote_room(uid);
        }
    }

    /// Server `owner` let local user `uid` go (`Ended`), after its stay of
    /// number `visit`: if that is the stay the user is in, it is out of the
    /// room (news of an earlier stay, told late, changes nothing).
    pub(super) fn room_ended(&mut self, owner: &str, uid: u32, visit: u64) {
        if self.roomed.get(&uid).is_some_and(|rr| rr.owner == owner && rr.visit == visit) {
            self.out_of_remote_room(uid);
        }
    }

    /// Local user `uid` is out of the room held elsewhere: told that
    /// everyone it knew of left, and that it is out.
    fn out_of_remote_room(&mut self, uid: u32) {
        let Some(rr) = self.roomed.remove(&uid) else { return };
        let told = self.told.remove(&uid).filter(|t| t.room == rr.room);
        for m in told.map(|t| t.members).unwrap_or_default() {
            self.send_local(uid, room_event(rr.room, m));
        }
        self.send_local(uid, ServerMsg::LeftRoom { room_id: rr.room });
    }

    /// Lets the engine know this server no longer holds `room` once nobody
    /// is in it here.
    fn release_if_unused(&mut self, core: &Core, room: u32) {
        if self.claims.contains(&room) && !core.room_in_use(room) {
            self.claims.remove(&room);
            self.engine(ToEngine::ReleaseRoom { room });
        }
    }

    /// After a step: rooms held here that became empty are let go.
    pub(super) fn release_emptied(&mut self, core: &mut Core) {
        for room in core.take_emptied_rooms() {
            self.release_if_unused(core, room);
        }
    }
}
