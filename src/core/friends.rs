//! Friends, groups and user infos, as the business server sets them
//! (`BRAS_UserInfoControl`, `BRAS_SetUserInfo`), and the address rules of
//! `BRAS_USERINFO_CTRLCODE_BLOCKIP` / `UNBLOCKIP`.
//!
//! The model (see `docs/ARCHITECTURE.md`, "Friends, groups and user infos"):
//!
//! - each user online has a [`Profile`]: its groups (id, name), its friends
//!   (id, the group it is in or 0) and its infos (id, value), all in the
//!   order the business server added them, each list capped
//!   ([`MAX_GROUPS`], [`MAX_FRIENDS`], [`MAX_INFOS`]). It is made empty at
//!   login and forgotten at logout: a vendor-style business server fills it
//!   from its login callback. Controls naming a user who is not online are
//!   ignored;
//! - every change is sent to the user at once (`GroupSet`, `GroupGone`,
//!   `FriendSet`, `FriendGone`; a friend added brings its infos along as
//!   `SyncInfo`), and one `UserDataUpdated` (`WM_GV_USERINFOUPDATE(0, 0)`)
//!   follows at the end of the business server's burst (the core's next
//!   `on_timeout`), however many changes it made;
//! - `SYNCDATA` sends the whole profile again: `UserDataReset`, the groups,
//!   the friends with their status, the user's infos and its friends'
//!   (`SyncInfo`), then `UserDataUpdated`;
//! - an info set (`BRAS_SetUserInfo`) goes to the user and to every user
//!   online who has it as a friend (`UserInfo`: `WM_GV_USERINFOUPDATE(user,
//!   info id)`);
//! - when a user logs in or out, every user online who has it as a friend
//!   gets `FriendStatus` (`WM_GV_FRIENDSTATUS(user, 1 or 0)`).
#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::time::Instant;

use super::{Core, Timer};
use crate::wire::constants::*;
use crate::wire::protocol::{ServerMsg, MAX_FRIENDS, MAX_GROUPS, MAX_GROUP_NAME_LEN, MAX_INFOS, MAX_INFO_LEN};

/// Address rules at most (`BLOCKIP` and `UNBLOCKIP` patterns).
pub const MAX_IP_RULES: usize = 1024;

/// What the business server set for one user online.
#[derive(Debug, Default)]
pub(super) struct Profile {
    /// Groups in the order added: (id, name).
    groups: Vec<(u32, Vec<u8>)>,
    /// Friends in the order added: (user id, group id or 0).
    friends: Vec<(u32, u32)>,
    /// Infos: (info id, value).
    infos: Vec<(u32, Vec<u8>)>,
    /// A `UserDataUpdated` is due at the end of the burst.
    notice_due: bool,
}

/// `*` matches any run of characters (none included); other characters
/// match themselves, ASCII case ignored.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p].eq_ignore_ascii_case(&text[t]) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            // Let the last star take one more character.
            star = Some((sp, st + 1));
            p = sp + 1;
            t = st + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// Whether `pattern` matches the address `ip`, or the IPv4 address inside an
/// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
fn ip_matches(pattern: &[u8], ip: &str) -> bool {
    glob(pattern, ip.as_bytes()) || ip.strip_prefix("::ffff:").is_some_and(|v4| glob(pattern, v4.as_bytes()))
}

impl Core {
    /// `BRAS_UserInfoControl` with any code but KICKOUT.
    pub(super) fn user_control(&mut self, now: Instant, uid: u32, ctrl: u32, wparam: u32, lparam: u32, text: Vec<u8>) {
        match ctrl {
            BRAS_USERINFO_CTRLCODE_BLOCKIP => return self.ip_rule(text, true),
            BRAS_USERINFO_CTRLCODE_UNBLOCKIP => return self.ip_rule(text, false),
            _ => {}
        }
        if !self.users.contains_key(&uid) {
            tracing::debug!(user = uid, ctrl, "user control for a user not online: ignored");
            return;
        }
        match ctrl {
            BRAS_USERINFO_CTRLCODE_SYNCDATA => self.sync_user_data(uid),
            BRAS_USERINFO_CTRLCODE_ADDGROUP => self.add_group(now, uid, wparam, text),
            BRAS_USERINFO_CTRLCODE_DELGROUP => self.del_group(now, uid, wparam),
            BRAS_USERINFO_CTRLCODE_ADDFRIEND => {
                self.add_friend(now, uid, wparam);
            }
            BRAS_USERINFO_CTRLCODE_DELFRIEND => self.del_friend(now, uid, wparam),
            BRAS_USERINFO_CTRLCODE_SETGROUPRELATION => self.set_relation(now, uid, wparam, lparam),
            _ => tracing::debug!(user = uid, ctrl, "user control code not handled by the core server: ignored"),
        }
    }

    fn profile(&mut self, uid: u32) -> Option<&mut Profile> {
        self.users.get_mut(&uid).map(|u| &mut u.profile)
    }

    /// A change the business server made beyond a cap: ignored and counted.
    fn over_cap(&mut self, uid: u32, what: &'static str) {
        tracing::warn!(user = uid, "business server: {what} over the limit, ignored");
        self.stats.user_data_refused += 1;
    }

    /// `uid`'s lists changed: one `UserDataUpdated` at the end of the burst.
    fn user_data_changed(&mut self, now: Instant, uid: u32) {
        let Some(p) = self.profile(uid) else { return };
        if p.notice_due {
            return;
        }
        p.notice_due = true;
        if self.notices.is_empty() {
            self.timers.push(Reverse((now, Timer::UserData)));
        }
        self.notices.push(uid);
    }

    /// The end of a burst: `UserDataUpdated` to every user whose lists changed.
    pub(super) fn send_notices(&mut self) {
        for uid in std::mem::take(&mut self.notices) {
            if let Some(p) = self.profile(uid).filter(|p| p.notice_due) {
                p.notice_due = false;
                self.send_user(uid, ServerMsg::UserDataUpdated);
            }
        }
    }

    fn add_group(&mut self, now: Instant, uid: u32, gid: u32, name: Vec<u8>) {
        if gid == 0 || gid == u32::MAX {
            tracing::debug!(user = uid, "group id 0 or -1: ignored");
            return;
        }
        if name.len() > MAX_GROUP_NAME_LEN {
            return self.over_cap(uid, "group name");
        }
        let Some(p) = self.profile(uid) else { return };
        match p.groups.iter().position(|(g, _)| *g == gid) {
            Some(i) if p.groups[i].1 == name => return,
            Some(i) => p.groups[i].1 = name.clone(),
            None if p.groups.len() >= MAX_GROUPS => return self.over_cap(uid, "groups"),
            None => p.groups.push((gid, name.clone())),
        }
        self.send_user(uid, ServerMsg::GroupSet { group_id: gid, name });
        self.user_data_changed(now, uid);
    }

    fn del_group(&mut self, now: Instant, uid: u32, gid: u32) {
        let Some(p) = self.profile(uid) else { return };
        let before = p.groups.len();
        p.groups.retain(|(g, _)| *g != gid);
        if p.groups.len() == before {
            return;
        }
        // Its friends stay friends, in no group (the client does the same).
        for f in p.friends.iter_mut().filter(|f| f.1 == gid) {
            f.1 = 0;
        }
        self.send_user(uid, ServerMsg::GroupGone { group_id: gid });
        self.user_data_changed(now, uid);
    }

    /// Makes `fid` a friend of `uid` (with its infos sent along); whether it
    /// is one now.
    fn add_friend(&mut self, now: Instant, uid: u32, fid: u32) -> bool {
        if fid == 0 || fid == u32::MAX {
            tracing::debug!(user = uid, "friend id 0 or -1: ignored");
            return false;
        }
        let online = self.users.contains_key(&fid);
        let Some(p) = self.profile(uid) else { return false };
        if p.friends.iter().any(|(f, _)| *f == fid) {
            return true;
        }
        if p.friends.len() >= MAX_FRIENDS {
            self.over_cap(uid, "friends");
            return false;
        }
        p.friends.push((fid, 0));
        self.friend_of.entry(fid).or_default().push(uid);
        self.send_user(uid, ServerMsg::FriendSet { user_id: fid, online, group: 0 });
        if fid != uid {
            let infos = self.users.get(&fid).map(|f| f.profile.infos.clone()).unwrap_or_default();
            for (info_id, value) in infos {
                self.send_user(uid, ServerMsg::SyncInfo { user_id: fid, info_id, value });
            }
        }
        self.user_data_changed(now, uid);
        true
    }

    fn del_friend(&mut self, now: Instant, uid: u32, fid: u32) {
        let Some(p) = self.profile(uid) else { return };
        let before = p.friends.len();
        p.friends.retain(|(f, _)| *f != fid);
        if p.friends.len() == before {
            return;
        }
        self.unwatch(uid, fid);
        self.send_user(uid, ServerMsg::FriendGone { user_id: fid });
        self.user_data_changed(now, uid);
    }

    /// `uid` no longer has `fid` as a friend: it stops hearing of its status.
    fn unwatch(&mut self, uid: u32, fid: u32) {
        if let Some(w) = self.friend_of.get_mut(&fid) {
            w.retain(|u| *u != uid);
            if w.is_empty() {
                self.friend_of.remove(&fid);
            }
        }
    }

    /// `SETGROUPRELATION(group, friend)`: the friend is in that group (and
    /// only that one; 0: in none). A friend not yet one is added; a group
    /// the user does not have: ignored.
    fn set_relation(&mut self, now: Instant, uid: u32, gid: u32, fid: u32) {
        let known = gid == 0 || self.profile(uid).is_some_and(|p| p.groups.iter().any(|(g, _)| *g == gid));
        if !known {
            tracing::debug!(user = uid, group = gid, "relation to a group the user does not have: ignored");
            return;
        }
        if !self.add_friend(now, uid, fid) {
            return;
        }
        let online = self.users.contains_key(&fid);
        let Some(p) = self.profile(uid) else { return };
        let Some(f) = p.friends.iter_mut().find(|(f, _)| *f == fid) else { return };
        if f.1 == gid {
            return;
        }
        f.1 = gid;
        self.send_user(uid, ServerMsg::FriendSet { user_id: fid, online, group: gid });
        self.user_data_changed(now, uid);
    }

    /// `SYNCDATA`: the whole profile again, then `UserDataUpdated`.
    fn sync_user_data(&mut self, uid: u32) {
        let Some(user) = self.users.get(&uid) else { return };
        let p = &user.profile;
        let mut msgs = vec![ServerMsg::UserDataReset];
        for (group_id, name) in &p.groups {
            msgs.push(ServerMsg::GroupSet { group_id: *group_id, name: name.clone() });
        }
        for (fid, group) in &p.friends {
            msgs.push(ServerMsg::FriendSet { user_id: *fid, online: self.users.contains_key(fid), group: *group });
        }
        for (info_id, value) in &p.infos {
            msgs.push(ServerMsg::SyncInfo { user_id: uid, info_id: *info_id, value: value.clone() });
        }
        for (fid, _) in p.friends.iter().filter(|(f, _)| *f != uid) {
            for (info_id, value) in self.users.get(fid).map(|f| f.profile.infos.as_slice()).unwrap_or_default() {
                msgs.push(ServerMsg::SyncInfo { user_id: *fid, info_id: *info_id, value: value.clone() });
            }
        }
        msgs.push(ServerMsg::UserDataUpdated);
        for m in msgs {
            self.send_user(uid, m);
        }
        if let Some(p) = self.profile(uid) {
            p.notice_due = false;
        }
    }

    /// `BRAS_SetUserInfo`: kept while the user is online, sent to it and
    /// to every user online who has it as a friend.
    pub(super) fn set_info(&mut self, uid: u32, info_id: u32, value: Vec<u8>) {
        if value.len() > MAX_INFO_LEN {
            return self.over_cap(uid, "info value");
        }
        let Some(p) = self.profile(uid) else {
            tracing::debug!(user = uid, "info of a user not online: not sent");
            return;
        };
        match p.infos.iter().position(|(i, _)| *i == info_id) {
            Some(i) => p.infos[i].1 = value.clone(),
            None if p.infos.len() >= MAX_INFOS => return self.over_cap(uid, "infos"),
            None => p.infos.push((info_id, value.clone())),
        }
        let watchers = self.friend_of.get(&uid).cloned().unwrap_or_default();
        for to in std::iter::once(uid).chain(watchers.into_iter().filter(|w| *w != uid)) {
            self.send_user(to, ServerMsg::UserInfo { user_id: uid, info_id, value: value.clone() });
        }
    }

    /// `uid`, a user of another server (a cluster hook), has info `info_id`
    /// = `value` now: the users here who have it as a friend hear of it
    /// (`WM_GV_USERINFOUPDATE(uid, info_id)`).
    pub fn friend_info(&mut self, uid: u32, info_id: u32, value: Vec<u8>) {
        if value.len() > MAX_INFO_LEN {
            return;
        }
        let watchers = self.friend_of.get(&uid).cloned().unwrap_or_default();
        for to in watchers.into_iter().filter(|w| *w != uid) {
            self.send_user(to, ServerMsg::UserInfo { user_id: uid, info_id, value: value.clone() });
        }
    }

    /// `uid` logged in (`online`) or out, here or (a cluster hook) on
    /// another server: the users online here who have it as a friend hear
    /// of it.
    pub fn friend_status(&mut self, uid: u32, online: bool) {
        let watchers = self.friend_of.get(&uid).cloned().unwrap_or_default();
        for w in watchers.into_iter().filter(|w| *w != uid) {
            self.send_user(w, ServerMsg::FriendStatus { user_id: uid, online });
        }
    }

    /// `uid`'s session ended (its `User` already removed): its profile goes,
    /// and (`offline`: it was its own session, not a remote user's) the
    /// users who have it as a friend hear it went offline.
    pub(super) fn user_data_gone(&mut self, uid: u32, profile: Profile, offline: bool) {
        for (fid, _) in profile.friends {
            self.unwatch(uid, fid);
        }
        if offline {
            self.friend_status(uid, false);
        }
    }

    // ----- BLOCKIP / UNBLOCKIP ------------------------------------------------

    /// `BLOCKIP pattern` (`block`) or `UNBLOCKIP pattern`: an UNBLOCKIP of a
    /// pattern blocked removes it, of another pattern makes an exception
    /// (an address it matches is admitted even if a block matches it).
    fn ip_rule(&mut self, pattern: Vec<u8>, block: bool) {
        if pattern.is_empty() || pattern.len() > MAX_GROUP_NAME_LEN {
            tracing::debug!("address pattern empty or too long: ignored");
            return;
        }
        let text = String::from_utf8_lossy(&pattern).into_owned();
        let was = self.ip_rules.iter().position(|(p, _)| *p == pattern);
        match (was.map(|i| self.ip_rules[i].1), block) {
            (Some(true), false) => {
                self.ip_rules.retain(|(p, _)| *p != pattern);
                tracing::info!(pattern = %text, "address unblocked");
                return;
            }
            (Some(b), _) if b == block => return,
            _ => {}
        }
        self.ip_rules.retain(|(p, _)| *p != pattern);
        if self.ip_rules.len() >= MAX_IP_RULES {
            tracing::warn!(pattern = %text, "business server: address rules over the limit, ignored");
            self.stats.user_data_refused += 1;
            return;
        }
        self.ip_rules.push((pattern, block));
        if block {
            tracing::info!(pattern = %text, "address blocked");
        } else {
            tracing::info!(pattern = %text, "address exception to the blocks");
        }
    }

    /// Whether clients from `ip` are refused: a block matches it and no
    /// exception does.
    pub(super) fn ip_blocked(&self, ip: &str) -> bool {
        let matching = |block: bool| self.ip_rules.iter().any(|(p, b)| *b == block && ip_matches(p, ip));
        matching(true) && !matching(false)
    }
}

#[cfg(test)]
mod tests {
    use super::{glob, ip_matches};

    #[test]
    fn glob_matches_stars_and_ignores_case() {
        for (p, t) in [
            ("*", ""),
            ("*", "10.0.0.1"),
            ("10.0.0.1", "10.0.0.1"),
            ("10.0.*", "10.0.3.4"),
            ("*.4", "1.2.3.4"),
            ("1.*.*.4", "1.2.3.4"),
            ("1*4", "14"),
            ("FE80::*", "fe80::1"),
            ("a*b*c", "aXbYbZc"),
        ] {
            assert!(glob(p.as_bytes(), t.as_bytes()), "{p} should match {t}");
        }
        for (p, t) in
            [("10.0.0.1", "10.0.0.10"), ("10.0.*", "10.1.0.1"), ("*.5", "1.2.3.4"), ("a*b*c", "aXbY"), ("", "x")]
        {
            assert!(!glob(p.as_bytes(), t.as_bytes()), "{p} should not match {t}");
        }
        assert!(ip_matches(b"192.168.*", "::ffff:192.168.1.2"));
        assert!(!ip_matches(b"192.168.*", "::1"));
    }
}
