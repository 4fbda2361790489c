//! One business server for the whole cluster (see `docs/CLUSTER.md`, "One
//! business server").
//!
//! The business server links to any core server, its **business home**,
//! which publishes itself in the engine (`anychat:business` =
//! `<instance>/<token>`, valid while the instance's lease holds) and tells
//! every server ([`Envelope::BizHome`] on the channel of all servers; each
//! lease renewal reads the key again). Every other server attaches a
//! *remote business link* to its core ([`Core::attach_remote_business`] on
//! [`REMOTE_BUSINESS`], a connection without socket): the core asks and
//! tells it whatever it would ask and tell a business server of its own,
//! and the cluster relays that to the business home ([`Envelope::BizUp`]),
//! whose cluster hands it to the real link. Questions are renumbered there
//! (ids from [`QUERY_IDS_END`] up; a core numbers its own below) and their
//! answers go back to the asking server ([`Envelope::BizDown`]), which
//! feeds them to its core as coming from its business link.
//!
//! What the business server orders about a user goes where the user is:
//! a forced finish to the server holding the user's call, everything else
//! to the user's home (`anychat:user:<id>`), both published by the one
//! engine connection of the business home, in the business server's order.
//! Room buffers and address rules go to every server.
//!
//! Each call is held by one core and each login happens on one core: each
//! reaches the business server once, from there.
#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::engine::ToEngine;
use super::envelope::{frame_body, Envelope};
use super::{frame_of_client, frame_of_server, Cluster};
use crate::core::{ConnId, Core, Output, QUERY_IDS_END};
use crate::wire::constants::*;
use crate::wire::protocol::{ClientMsg, ServerMsg};

/// The connection id of the remote business link: slot `u32::MAX - 1`,
/// which the loop never gives a socket (nor is it a remote user's).
pub const REMOTE_BUSINESS: ConnId = ConnId(0xFFFF_FFFF_FFFF_FFFE);

/// Questions relayed to the business server and not answered yet, at most
/// (one more is not relayed: the asking core's time-out answers it).
pub const MAX_RELAYED: usize = 65_536;

/// `GV_ERR_ALREADY_LOGIN`: a business server linked while another server of
/// the cluster has one.
const CODE_SECOND_BUSINESS: u32 = GV_ERR_ALREADY_LOGIN;

/// A question relayed to the business server for another server's core.
#[derive(Debug)]
struct Relayed {
    from: String,
    query: u32,
    at: Instant,
    /// A call's question: (caller, callee).
    call: Option<(u32, u32)>,
}

/// The cluster's side of the business server.
#[derive(Debug, Default)]
pub(super) struct Business {
    /// The business server linked to this server (a socket), as last seen.
    local: Option<ConnId>,
    /// The business home, when it is another server (the remote link is
    /// attached to the core).
    remote: Option<String>,
    /// On the business home: relayed questions by the id given them here.
    relayed: HashMap<u32, Relayed>,
    next: u32,
    /// On the business home: the servers relaying to the business server
    /// (their leases watched), with what it was told of them and not yet
    /// of its end — told it as lost if that server dies.
    relaying: HashMap<String, Told>,
}

/// What the business server was told of one server's users and calls.
#[derive(Debug, Default)]
struct Told {
    users: HashSet<u32>,
    /// Calls asked about or noted started, not noted ended: (caller,
    /// callee) → flags.
    calls: HashMap<(u32, u32), u32>,
}

impl Told {
    /// Keeps track of what `msg` tells the business server.
    fn note(&mut self, msg: &ServerMsg) {
        match msg {
            ServerMsg::BizUserLogin { user_id, .. } => {
                self.users.insert(*user_id);
            }
            ServerMsg::BizUserLogout { user_id, .. } => {
                self.users.remove(user_id);
            }
            ServerMsg::BizCallNote { event, src, tar, flags, .. } if *event == BRAC_VIDEOCALL_EVENT_START => {
                self.calls.insert((*src, *tar), *flags);
            }
            ServerMsg::BizAskCall { src, tar, flags, .. } => {
                self.calls.insert((*src, *tar), *flags);
            }
            ServerMsg::BizCallNote { event, src, tar, error_code, .. }
                if *event == BRAC_VIDEOCALL_EVENT_FINISH
                    || (*event == BRAC_VIDEOCALL_EVENT_REPLY && *error_code != 0) =>
            {
                self.calls.retain(|(a, b), _| ![*src, *tar].contains(a) && ![*src, *tar].contains(b));
            }
            _ => {}
        }
    }

    /// What the business server hears when the server is lost: its calls
    /// end (`FINISH(100106)` from the server), its users log out (101).
    fn lost(self) -> Vec<ServerMsg> {
        let mut calls: Vec<_> = self.calls.into_iter().collect();
        calls.sort_unstable();
        let mut users: Vec<u32> = self.users.into_iter().collect();
        users.sort_unstable();
        let code = AC_ERROR_VIDEOCALL_DISCONNECT;
        let ends = calls.into_iter().map(|((_, tar), flags)| ServerMsg::BizCallNote {
            event: BRAC_VIDEOCALL_EVENT_FINISH,
            src: 0,
            tar,
            error_code: code,
            flags,
            param: 0,
            user_str: Vec::new(),
        });
        let code = GV_ERR_CONNECT_ABORT;
        ends.chain(users.into_iter().map(|user_id| ServerMsg::BizUserLogout { user_id, code })).collect()
    }
}

/// The question id of an answer of the business server.
fn answer_query(msg: &mut ClientMsg) -> Option<&mut u32> {
    match msg {
        ClientMsg::BizCallVerdict { query, .. }
        | ClientMsg::BizVerifyResult { query, .. }
        | ClientMsg::BizEnterVerdict { query, .. } => Some(query),
        _ => None,
    }
}

/// The question id of a question to the business server.
fn question_query(msg: &mut ServerMsg) -> Option<&mut u32> {
    match msg {
        ServerMsg::BizAskCall { query, .. }
        | ServerMsg::BizAskVerify { query, .. }
        | ServerMsg::BizAskEnter { query, .. } => Some(query),
        _ => None,
    }
}

/// Whether a core's message is one for the business server.
fn for_business(msg: &ServerMsg) -> bool {
    matches!(
        msg,
        ServerMsg::BizAskCall { .. }
            | ServerMsg::BizCallNote { .. }
            | ServerMsg::BizAskVerify { .. }
            | ServerMsg::BizAskEnter { .. }
            | ServerMsg::BizUserLogin { .. }
            | ServerMsg::BizUserLogout { .. }
            | ServerMsg::BizUserRoom { .. }
            | ServerMsg::BizText { .. }
            | ServerMsg::BizTransBuffer { .. }
    )
}

/// What the business server sends every server: room buffers and address rules.
fn for_all(msg: &ClientMsg) -> bool {
    match msg {
        ClientMsg::BizSendRoom { .. } => true,
        ClientMsg::BizUserControl { ctrl, .. } => {
            matches!(*ctrl, BRAS_USERINFO_CTRLCODE_BLOCKIP | BRAS_USERINFO_CTRLCODE_UNBLOCKIP)
        }
        _ => false,
    }
}

/// The user a command of the business server is about, and whether it is
/// a forced finish (which goes to the server holding the user's call).
fn about_user(msg: &ClientMsg) -> Option<(u32, bool)> {
    match msg {
        ClientMsg::BizVideoCall(ev) if ev.event == BRAC_VIDEOCALL_EVENT_FINISH => Some((ev.user_id, true)),
        ClientMsg::BizUserControl { user_id, .. }
        | ClientMsg::BizSetUserInfo { user_id, .. }
        | ClientMsg::BizSendBuf { user_id, .. }
        | ClientMsg::BizTransBuffer { user_id, .. } => Some((*user_id, false)),
        _ => None,
    }
}

/// The business server linked to this server by a socket (not the remote
/// link of another server's), and its reconnect token.
fn local_business(core: &Core) -> Option<(ConnId, u64)> {
    core.business_link().filter(|(b, _)| *b != REMOTE_BUSINESS)
}

impl Cluster {
    /// A message of the business server linked here, before the core:
    /// `Some` goes on to the core, `None` went to another server.
    pub(super) fn on_business_msg(&mut self, core: &Core, mut msg: ClientMsg) -> Option<ClientMsg> {
        if let Some(query) = answer_query(&mut msg).filter(|q| **q >= QUERY_IDS_END) {
            // An answer to a relayed question (a late one is dropped: the
            // asking core answered it at its time-out).
            let relayed = self.biz.relayed.remove(query)?;
            *query = relayed.query;
            if let (ClientMsg::BizCallVerdict { code, .. }, Some(call)) = (&msg, relayed.call) {
                // A veto ends the call (its end is not noted).
                if let Some(told) = self.biz.relaying.get_mut(&relayed.from).filter(|_| *code != 0) {
                    told.calls.remove(&call);
                }
            }
            self.send_to(&relayed.from, Envelope::BizDown { from: self.me.clone(), frame: frame_of_client(&msg) });
            return None;
        }
        if for_all(&msg) {
            let env = Envelope::BizDown { from: self.me.clone(), frame: frame_of_client(&msg) };
            self.engine(ToEngine::Broadcast(env.encode()));
            return Some(msg);
        }
        let Some((uid, finish)) = about_user(&msg) else { return Some(msg) };
        if finish && core.in_call(uid) {
            return Some(msg);
        }
        if finish && self.send_to_holder(uid, &msg) {
            return None;
        }
        if self.sessions.contains_key(&uid) || !self.up {
            return Some(msg);
        }
        // A user of another server (or of none).
        let env = Envelope::BizDown { from: self.me.clone(), frame: frame_of_client(&msg) }.encode();
        self.engine(ToEngine::ToUser { uid, env });
        None
    }

    /// A forced finish of local user `uid`, whose call another server
    /// holds, goes there. True when it went.
    fn send_to_holder(&mut self, uid: u32, msg: &ClientMsg) -> bool {
        let Some(owner) = self.away.get(&uid).and_then(|a| a.owner.clone()) else { return false };
        self.send_to(&owner, Envelope::BizDown { from: self.me.clone(), frame: frame_of_client(msg) });
        true
    }

    /// An output of the core for its remote business link: relayed to the
    /// business home. `None` was taken here.
    pub(super) fn business_output(&mut self, out: Output) -> Option<Output> {
        match &out {
            Output::Send(conn, msg) if *conn == REMOTE_BUSINESS => {
                if let Some(home) = self.biz.remote.clone().filter(|_| for_business(msg)) {
                    self.send_to(&home, Envelope::BizUp { from: self.me.clone(), frame: frame_of_server(msg) });
                }
                None
            }
            Output::Close(conn, _) | Output::Media(conn, _) | Output::Resume(conn) if *conn == REMOTE_BUSINESS => None,
            _ => Some(out),
        }
    }

    /// An envelope about the business server from another server.
    pub(super) fn business_inbound(&mut self, core: &mut Core, now: Instant, env: Envelope) {
        match env {
            Envelope::BizUp { from, frame } => self.relay_up(core, now, from, &frame),
            Envelope::BizDown { from, frame } => {
                let Some(msg) = frame_body(&frame).and_then(|b| ClientMsg::decode(b).ok()) else { return };
                if for_all(&msg) && from == self.me {
                    return; // this server's own broadcast
                }
                if let Some((uid, true)) = about_user(&msg) {
                    if !core.in_call(uid) && self.send_to_holder(uid, &msg) {
                        return;
                    }
                }
                if let Some((b, _)) = core.business_link() {
                    core.on_message(now, b, msg);
                }
            }
            Envelope::BizHome { home, token, up } => {
                if up {
                    self.business_at(core, now, Some((home, token)));
                } else if self.biz.remote.as_ref() == Some(&home) {
                    self.business_at(core, now, None);
                }
            }
            _ => {}
        }
    }

    /// On the business home: a message of another server's core for the
    /// business server, its question renumbered.
    fn relay_up(&mut self, core: &Core, now: Instant, from: String, frame: &[u8]) {
        let Some((bras, _)) = local_business(core) else { return };
        let Some(mut msg) = frame_body(frame).and_then(|b| ServerMsg::decode(b).ok()) else { return };
        let call = match &msg {
            ServerMsg::BizAskCall { src, tar, .. } => Some((*src, *tar)),
            _ => None,
        };
        if let Some(query) = question_query(&mut msg) {
            if self.biz.relayed.len() >= MAX_RELAYED {
                tracing::warn!(server = %from, "business server: too many questions waiting, one not relayed");
                return;
            }
            let mut q = self.biz.next.max(QUERY_IDS_END);
            while self.biz.relayed.contains_key(&q) {
                q = q.checked_add(1).unwrap_or(QUERY_IDS_END);
            }
            self.biz.next = q.checked_add(1).unwrap_or(QUERY_IDS_END);
            self.biz.relayed.insert(q, Relayed { from: from.clone(), query: *query, at: now, call });
            *query = q;
        }
        if !self.biz.relaying.contains_key(&from) {
            self.engine(ToEngine::Watch(from.clone()));
        }
        self.biz.relaying.entry(from).or_default().note(&msg);
        self.out.push_back(Output::Send(bras, msg));
    }

    /// Where the business server is now (the engine's word, at each lease
    /// renewal or in a `BizHome` envelope): another server's is attached to
    /// the core, and detached when it goes.
    pub(super) fn business_at(&mut self, core: &mut Core, now: Instant, home: Option<(String, u64)>) {
        // Relayed questions never answered: their askers gave up long ago.
        let ttl = core.config().business_timeout * 2;
        self.biz.relayed.retain(|_, r| now.saturating_duration_since(r.at) < ttl);
        match home {
            Some((home, _)) if home == self.me => {
                if self.biz.local.is_none() {
                    // Left from a link lost while the engine was unreachable.
                    self.engine(ToEngine::ReleaseBusiness);
                }
            }
            Some((home, _)) if self.biz.remote.as_ref() == Some(&home) => {}
            Some((home, token)) => {
                if self.biz.remote.is_some() {
                    core.unlink_business(now, 0);
                } else if core.business_link().is_some() {
                    // Both linked at once: the one published first stays.
                    tracing::warn!(server = %home, "cluster: another server has a business server linked too");
                    return;
                }
                if core.attach_remote_business(now, REMOTE_BUSINESS, token) {
                    tracing::info!(server = %home, "cluster: the business server is linked to that server");
                    self.biz.remote = Some(home);
                }
            }
            None => {
                if self.biz.remote.take().is_some() {
                    tracing::warn!("cluster: the business server of the cluster is gone");
                    core.unlink_business(now, 0);
                }
            }
        }
    }

    /// A business server linked here while another server had one already.
    pub(super) fn business_conflict(&mut self, core: &mut Core, now: Instant, home: String) {
        if local_business(core).is_some() {
            core.unlink_business(now, CODE_SECOND_BUSINESS);
        }
        self.business_at(core, now, Some((home, 0)));
    }

    /// Server `server` died: its relayed questions are forgotten and the
    /// business server is told its calls and sessions are lost; if it was
    /// the business home, the remote link goes.
    pub(super) fn business_dead(&mut self, core: &mut Core, now: Instant, server: &str) {
        self.biz.relayed.retain(|_, r| r.from != server);
        if let Some(told) = self.biz.relaying.remove(server) {
            if let Some((bras, _)) = local_business(core) {
                tracing::info!(
                    server,
                    calls = told.calls.len(),
                    users = told.users.len(),
                    "cluster: lost with its server"
                );
                for msg in told.lost() {
                    self.out.push_back(Output::Send(bras, msg));
                }
            }
        }
        if self.biz.remote.as_deref() == Some(server) {
            self.business_at(core, now, None);
        }
    }

    /// After each step: a business server that linked here (or went) is
    /// published in the engine.
    pub(super) fn business_step(&mut self, core: &Core) {
        let local = local_business(core);
        if local.map(|l| l.0) == self.biz.local {
            return;
        }
        self.biz.local = local.map(|l| l.0);
        match local {
            Some((_, token)) => {
                self.engine(ToEngine::SetBusiness { token });
            }
            None => {
                self.engine(ToEngine::ReleaseBusiness);
                self.biz.relayed.clear();
                self.biz.relaying.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::engine::{test_link, FromEngine};
    use crate::core::CoreConfig;
    use crate::wire::protocol::{CallEvent, Role, PROTOCOL_VERSION};
    use crossbeam_channel::Receiver;

    /// A core with its cluster (no engine behind the channels).
    fn server(me: &str) -> (Core, Cluster, Receiver<ToEngine>, Instant) {
        let (link, cmds, _tell) = test_link();
        (Core::new(CoreConfig::default()), Cluster::new(me.into(), link, "token".into()), cmds, Instant::now())
    }

    /// The core's outputs through the cluster, then the cluster's own.
    fn outputs(core: &mut Core, cl: &mut Cluster) -> Vec<Output> {
        let mut all = Vec::new();
        while let Some(o) = core.poll_output().or_else(|| cl.poll_output()) {
            all.extend(cl.on_output(Instant::now(), o));
        }
        cl.after_step(core);
        all
    }

    /// The next command to the engine, but for the blocks of call room ids
    /// every server asks for.
    fn next(cmds: &Receiver<ToEngine>) -> Result<ToEngine, crossbeam_channel::TryRecvError> {
        loop {
            match cmds.try_recv() {
                Ok(ToEngine::CallRooms) => {}
                other => return other,
            }
        }
    }

    fn hello(role: Role) -> ClientMsg {
        ClientMsg::Hello { version: PROTOCOL_VERSION, role: role as u8, secret: Vec::new(), token: 0 }
    }

    fn envelope(cmd: ToEngine) -> (String, Envelope) {
        match cmd {
            ToEngine::Send { to, env } => (to, Envelope::decode(&env).unwrap()),
            ToEngine::ToUser { uid, env } => (format!("user {uid}"), Envelope::decode(&env).unwrap()),
            ToEngine::Broadcast(env) => ("all".into(), Envelope::decode(&env).unwrap()),
            other => panic!("not an envelope: {other:?}"),
        }
    }

    /// A login question of server 2's core goes to the business server of
    /// server 1 under an id of server 1's, its answer back to server 2 under
    /// server 2's id, and logs the user in there; a late or unknown answer
    /// goes nowhere; a command about a user of server 2 goes to its home;
    /// the business server's loss detaches the remote link.
    #[test]
    fn a_login_question_relayed_and_answered_across_servers() {
        let (mut c1, mut l1, cmds1, now) = server("s1.a");
        let (mut c2, mut l2, cmds2, _) = server("s2.b");
        // The business server links to server 1, which publishes itself.
        let bras = ConnId(1);
        c1.on_connect(now, bras, true, "10.0.0.2".into());
        c1.on_message(now, bras, hello(Role::Business));
        outputs(&mut c1, &mut l1);
        let token = c1.business_link().unwrap().1;
        assert!(matches!(next(&cmds1), Ok(ToEngine::SetBusiness { token: t }) if t == token));
        // Server 2 learns it and attaches it.
        l2.business_at(&mut c2, now, Some(("s1.a".into(), token)));
        assert_eq!(c2.business_link(), Some((REMOTE_BUSINESS, token)));
        outputs(&mut c2, &mut l2);
        assert!(next(&cmds2).is_err(), "server 2 publishes nothing");
        // A login on server 2: its question goes to server 1.
        let user = ConnId(5);
        c2.on_connect(now, user, false, "127.0.0.1".into());
        c2.on_message(now, user, hello(Role::Client));
        let login = ClientMsg::Login { name: b"carol".to_vec(), password: b"pw".to_vec(), pass_enc_type: 0 };
        c2.on_message(now, user, login);
        outputs(&mut c2, &mut l2);
        let (to, up) = envelope(next(&cmds2).unwrap());
        assert_eq!(to, "s1.a");
        let Envelope::BizUp { from, frame } = up.clone() else { panic!("{up:?}") };
        assert_eq!(from, "s2.b");
        let asked = ServerMsg::decode(frame_body(&frame).unwrap()).unwrap();
        let ServerMsg::BizAskVerify { query: q2, .. } = asked else { panic!("{asked:?}") };
        assert!(q2 < QUERY_IDS_END);
        // Server 1 hands it to the business server under an id of its own.
        l1.business_inbound(&mut c1, now, up);
        let out = outputs(&mut c1, &mut l1);
        let [Output::Send(to, ServerMsg::BizAskVerify { query: q1, name, .. })] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((*to, name.as_slice()), (bras, &b"carol"[..]));
        assert!(*q1 >= QUERY_IDS_END);
        let q1 = *q1;
        assert!(matches!(next(&cmds1), Ok(ToEngine::Watch(s)) if s == "s2.b"));
        // Its answer goes back to server 2 with server 2's id.
        let answer = ClientMsg::BizVerifyResult { query: q1, code: 0, user_id: 9000, level: 7, nick: b"C".to_vec() };
        assert_eq!(l1.on_client(&mut c1, now, bras, answer.clone()), None);
        let (to, down) = envelope(next(&cmds1).unwrap());
        assert_eq!(to, "s2.b");
        let Envelope::BizDown { frame, .. } = &down else { panic!("{down:?}") };
        let back = ClientMsg::decode(frame_body(frame).unwrap()).unwrap();
        assert!(matches!(back, ClientMsg::BizVerifyResult { query, user_id: 9000, .. } if query == q2));
        // A second answer goes nowhere; one to server 1's own question goes to its core.
        assert_eq!(l1.on_client(&mut c1, now, bras, answer), None);
        assert!(next(&cmds1).is_err());
        let own = ClientMsg::BizCallVerdict { query: 3, code: 0 };
        assert_eq!(l1.on_client(&mut c1, now, bras, own.clone()), Some(own));
        // Server 2's core logs the user in with the business server's id.
        l2.business_inbound(&mut c2, now, down);
        let out = outputs(&mut c2, &mut l2);
        assert!(
            out.iter().any(
                |o| matches!(o, Output::Send(c, ServerMsg::LoginResult { user_id: 9000, code: 0, .. }) if *c == user)
            ),
            "{out:?}"
        );
        // Where the user is, before the business server hears of it.
        assert!(matches!(next(&cmds2), Ok(ToEngine::Present { uid: 9000, .. })));
        let (_, up) = envelope(next(&cmds2).unwrap());
        let Envelope::BizUp { frame, .. } = &up else { panic!("{up:?}") };
        let told = ServerMsg::decode(frame_body(frame).unwrap()).unwrap();
        assert!(matches!(told, ServerMsg::BizUserLogin { user_id: 9000, .. }), "{told:?}");
        l1.business_inbound(&mut c1, now, up);
        assert_eq!(outputs(&mut c1, &mut l1), vec![Output::Send(bras, told)]);
        let start = ServerMsg::BizCallNote {
            event: BRAC_VIDEOCALL_EVENT_START,
            src: 42,
            tar: 9000,
            error_code: 0,
            flags: 3,
            param: 0x7000_0000,
            user_str: Vec::new(),
        };
        l1.business_inbound(&mut c1, now, Envelope::BizUp { from: "s2.b".into(), frame: frame_of_server(&start) });
        assert_eq!(outputs(&mut c1, &mut l1), vec![Output::Send(bras, start)]);
        // A kick-out of that user, from the business server: to its home.
        let kick = ClientMsg::BizUserControl {
            user_id: 9000,
            ctrl: BRAS_USERINFO_CTRLCODE_KICKOUT,
            wparam: 0,
            lparam: 0,
            text: Vec::new(),
        };
        assert_eq!(l1.on_client(&mut c1, now, bras, kick), None);
        let (to, _) = envelope(next(&cmds1).unwrap());
        assert_eq!(to, "user 9000");
        // Room buffers go to every server and to server 1's core.
        let room = ClientMsg::BizSendRoom { room_id: 1, data: b"x".to_vec() };
        assert_eq!(l1.on_client(&mut c1, now, bras, room.clone()), Some(room));
        assert_eq!(envelope(next(&cmds1).unwrap()).0, "all");
        // Two calls asked about: one vetoed, one still waiting.
        for (src, tar, code) in [(7, 8, Some(4242)), (5, 6, None)] {
            let ask = ServerMsg::BizAskCall { query: 1, src, tar, flags: 1, param: 0, user_str: Vec::new() };
            l1.business_inbound(&mut c1, now, Envelope::BizUp { from: "s2.b".into(), frame: frame_of_server(&ask) });
            let out = outputs(&mut c1, &mut l1);
            let [Output::Send(_, ServerMsg::BizAskCall { query, .. })] = out.as_slice() else { panic!("{out:?}") };
            if let Some(code) = code {
                assert_eq!(l1.on_client(&mut c1, now, bras, ClientMsg::BizCallVerdict { query: *query, code }), None);
                assert!(next(&cmds1).is_ok());
            }
        }
        // A question of a server that died is forgotten.
        l1.business_inbound(&mut c1, now, Envelope::BizUp { from: "s2.b".into(), frame: frame_of_server(&asked) });
        let out = outputs(&mut c1, &mut l1);
        let [Output::Send(_, ServerMsg::BizAskVerify { query, .. })] = out.as_slice() else { panic!("{out:?}") };
        let late = ClientMsg::BizVerifyResult { query: *query, code: 0, user_id: 1, level: 0, nick: Vec::new() };
        l1.engine_event(&mut c1, now, FromEngine::Dead("s2.b".into()));
        assert_eq!(l1.on_client(&mut c1, now, bras, late), None);
        assert!(next(&cmds1).is_err());
        // And the business server hears that its calls (not the vetoed one)
        // and its user are lost.
        let finish = |tar, flags| ServerMsg::BizCallNote {
            event: BRAC_VIDEOCALL_EVENT_FINISH,
            src: 0,
            tar,
            error_code: AC_ERROR_VIDEOCALL_DISCONNECT,
            flags,
            param: 0,
            user_str: Vec::new(),
        };
        let logout = ServerMsg::BizUserLogout { user_id: 9000, code: GV_ERR_CONNECT_ABORT };
        let lost = [finish(6, 1), finish(9000, 3), logout].map(|m| Output::Send(bras, m));
        assert_eq!(outputs(&mut c1, &mut l1), lost.to_vec());
        // The business server unlinks: server 1 withdraws, server 2 detaches.
        c1.on_closed(now, bras);
        outputs(&mut c1, &mut l1);
        assert!(matches!(next(&cmds1), Ok(ToEngine::ReleaseBusiness)));
        let gone = Envelope::BizHome { home: "s1.a".into(), token: 0, up: false };
        l2.business_inbound(&mut c2, now, gone);
        assert_eq!(c2.business_link(), None);
        let out = outputs(&mut c2, &mut l2);
        assert!(out.is_empty(), "nothing reaches a socket: {out:?}");
    }

    #[test]
    fn what_goes_where() {
        let finish = CallEvent {
            event: BRAC_VIDEOCALL_EVENT_FINISH,
            user_id: 7,
            error_code: 1,
            flags: 0,
            param: 0,
            user_str: Vec::new(),
        };
        assert_eq!(about_user(&ClientMsg::BizVideoCall(finish.clone())), Some((7, true)));
        let other = CallEvent { event: BRAC_VIDEOCALL_EVENT_REQUEST, ..finish };
        assert_eq!(about_user(&ClientMsg::BizVideoCall(other)), None);
        let kick = ClientMsg::BizUserControl {
            user_id: 9,
            ctrl: BRAS_USERINFO_CTRLCODE_KICKOUT,
            wparam: 0,
            lparam: 0,
            text: Vec::new(),
        };
        assert_eq!(about_user(&kick), Some((9, false)));
        assert!(!for_all(&kick));
        let block = ClientMsg::BizUserControl {
            user_id: 0,
            ctrl: BRAS_USERINFO_CTRLCODE_BLOCKIP,
            wparam: 0,
            lparam: 0,
            text: b"10.*".to_vec(),
        };
        assert!(for_all(&block));
        assert!(for_all(&ClientMsg::BizSendRoom { room_id: 1, data: Vec::new() }));
        let mut v = ClientMsg::BizVerifyResult { query: 5, code: 0, user_id: 1, level: 0, nick: Vec::new() };
        *answer_query(&mut v).unwrap() = 6;
        assert!(matches!(v, ClientMsg::BizVerifyResult { query: 6, .. }));
        let mut q =
            ServerMsg::BizAskEnter { query: 1, user_id: 1, room_id: 2, room_name: Vec::new(), password: Vec::new() };
        assert_eq!(question_query(&mut q).copied(), Some(1));
        assert!(for_business(&q));
        assert!(!for_business(&ServerMsg::Refused { code: 201 }));
        // Never a remote user's connection.
        assert_eq!(super::super::ghost_uid(REMOTE_BUSINESS), None);
    }
}
