//! Friends' status and infos across servers.
//!
//! A core knows whether a friend is online, and its infos, only among its
//! own users. So for every friend a local user has (the core's `FriendSet`
//! going out, or its lists sent again by `SYNCDATA`), this server joins the
//! friend's watchers in the engine (`anychat:watchers:<id>`,
//! [`ToEngine::WatchFriend`]): it learns at once where the friend is logged
//! in and its infos (`anychat:info:<id>`, kept by the friend's server while
//! it is online; sent to the user as `SyncInfo`), and hears a `Presence`
//! envelope whenever the friend logs in or out on another server, an
//! `InfoSet` whenever its infos change there (the friend's server publishes
//! them to each watcher; the core's `UserInfo` to a user about itself is
//! what makes its server publish). A friend online elsewhere is reported to the local users
//! who have it as a friend as the core reports a local one
//! (`WM_GV_FRIENDSTATUS`, [`Core::friend_status`]); a `FriendSet` going
//! out for a friend known to be online elsewhere says so. The
//! `UserDataUpdated` that ends a business server's burst waits until the
//! status of the friends it added is known, so that an app reading its
//! friends' status on `WM_GV_USERINFOUPDATE` (the call centre's habit)
//! finds it right. The last local user to drop a friend leaves its
//! watchers; a friend's server that dies takes it offline.
#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};

use super::{Cluster, ToEngine};
use crate::core::Core;
use crate::wire::protocol::ServerMsg;

/// What this server knows of local users' friends.
#[derive(Debug, Default)]
pub(super) struct Friends {
    /// Friend → the local users who have it as a friend.
    watching: HashMap<u32, HashSet<u32>>,
    /// Local user → its friends (to leave when it goes).
    of_user: HashMap<u32, HashSet<u32>>,
    /// Friends logged in to another server: which.
    elsewhere: HashMap<u32, String>,
    /// Friends whose status the engine is looking up → the local users
    /// waiting for it.
    looking: HashMap<u32, Vec<u32>>,
    /// Local users waiting for their friends' status: how many lookups,
    /// and whether a `UserDataUpdated` is held meanwhile.
    waiting: HashMap<u32, (usize, bool)>,
}

impl Cluster {
    /// A message of the core for local user `uid`, before it goes out:
    /// `None` is held here (a `UserDataUpdated` waiting for a status).
    pub(super) fn friends_out(&mut self, uid: u32, msg: ServerMsg) -> Option<ServerMsg> {
        match msg {
            ServerMsg::FriendSet { user_id: fid, online, group } if fid != uid => {
                let f = &mut self.friends;
                let new = f.watching.entry(fid).or_default().insert(uid);
                f.of_user.entry(uid).or_default().insert(fid);
                if new {
                    self.look_up(uid, fid);
                }
                let online = online || self.friends.elsewhere.contains_key(&fid);
                Some(ServerMsg::FriendSet { user_id: fid, online, group })
            }
            ServerMsg::UserDataReset => {
                // SYNCDATA: the friends' infos are sent again too.
                let fids: Vec<u32> = self.friends.of_user.get(&uid).into_iter().flatten().copied().collect();
                for fid in fids {
                    self.look_up(uid, fid);
                }
                Some(msg)
            }
            ServerMsg::UserInfo { user_id, info_id, ref value } if user_id == uid => {
                // The user's own info changed: its friends elsewhere hear it.
                self.engine(ToEngine::SetInfo { uid, info_id, value: value.clone() });
                Some(msg)
            }
            ServerMsg::FriendGone { user_id: fid } => {
                self.unwatch_friend(uid, fid);
                Some(msg)
            }
            ServerMsg::UserDataUpdated => match self.friends.waiting.get_mut(&uid) {
                Some(w) => {
                    w.1 = true;
                    None
                }
                None => Some(msg),
            },
            msg => Some(msg),
        }
    }

    /// Asks the engine where friend `fid` of local user `uid` is, and its
    /// infos (joining its watchers): `uid`'s lists are announced once the
    /// answer came.
    fn look_up(&mut self, uid: u32, fid: u32) {
        if let Some(w) = self.friends.looking.get_mut(&fid) {
            if !w.contains(&uid) {
                w.push(uid);
                self.friends.waiting.entry(uid).or_default().0 += 1;
            }
        } else if self.engine(ToEngine::WatchFriend(fid)) {
            self.friends.looking.insert(fid, vec![uid]);
            self.friends.waiting.entry(uid).or_default().0 += 1;
        }
    }

    /// The engine's answer about friend `fid`: the users who asked get its
    /// infos (a friend of another server's), then its status.
    pub(super) fn friend_found(
        &mut self,
        core: &mut Core,
        fid: u32,
        server: Option<String>,
        infos: Vec<(u32, Vec<u8>)>,
    ) {
        if !self.sessions.contains_key(&fid) {
            let asked = self.friends.looking.get(&fid).cloned().unwrap_or_default();
            for w in asked {
                for (info_id, value) in &infos {
                    self.send_local(w, ServerMsg::SyncInfo { user_id: fid, info_id: *info_id, value: value.clone() });
                }
            }
        }
        let online = server.is_some();
        self.presence(core, fid, online, server.unwrap_or_default());
    }

    /// `uid` no longer has `fid` as a friend.
    fn unwatch_friend(&mut self, uid: u32, fid: u32) {
        let f = &mut self.friends;
        if let Some(of) = f.of_user.get_mut(&uid) {
            of.remove(&fid);
        }
        let Some(w) = f.watching.get_mut(&fid) else { return };
        w.remove(&uid);
        if w.is_empty() {
            f.watching.remove(&fid);
            f.elsewhere.remove(&fid);
            self.engine(ToEngine::UnwatchFriend(fid));
        }
    }

    /// Local user `uid`'s session ended: it watches nobody any more.
    pub(super) fn friends_gone(&mut self, uid: u32) {
        self.friends.waiting.remove(&uid);
        for w in self.friends.looking.values_mut() {
            w.retain(|u| *u != uid);
        }
        for fid in self.friends.of_user.remove(&uid).unwrap_or_default() {
            self.unwatch_friend(uid, fid);
        }
    }

    /// A friend logged in or out (`Presence`), or where it is now (the
    /// answer to a `WatchFriend`).
    pub(super) fn presence(&mut self, core: &mut Core, uid: u32, online: bool, server: String) {
        let was = self.friends.elsewhere.contains_key(&uid);
        let f = &mut self.friends;
        if online && server != self.me && f.watching.contains_key(&uid) {
            f.elsewhere.insert(uid, server.clone());
            self.engine(ToEngine::Watch(server));
        } else if !online && f.elsewhere.get(&uid).is_none_or(|s| *s == server || server.is_empty()) {
            f.elsewhere.remove(&uid);
        }
        let now = self.friends.elsewhere.contains_key(&uid);
        // A login or logout here the core reports itself.
        if now != was && !self.sessions.contains_key(&uid) {
            core.friend_status(uid, now);
        }
        for w in self.friends.looking.remove(&uid).unwrap_or_default() {
            let Some(entry) = self.friends.waiting.get_mut(&w) else { continue };
            entry.0 -= 1;
            if entry.0 == 0 {
                let held = entry.1;
                self.friends.waiting.remove(&w);
                if held {
                    self.send_local(w, ServerMsg::UserDataUpdated);
                }
            }
        }
    }

    /// Server `server` is lost: its users are offline.
    pub(super) fn presence_lost(&mut self, core: &mut Core, server: &str) {
        let gone: Vec<u32> =
            self.friends.elsewhere.iter().filter(|(_, s)| s.as_str() == server).map(|(u, _)| *u).collect();
        for uid in gone {
            self.presence(core, uid, false, server.to_string());
        }
    }
}
