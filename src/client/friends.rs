//! The friends and groups the business server gave this client
//! (`BRAS_UserInfoControl`), as `BRAC_GetUserFriends`,
//! `BRAC_GetFriendStatus`, `BRAC_GetUserGroups`, `BRAC_GetGroupFriends` and
//! `BRAC_GetGroupName` read them, and what the server's messages about them
//! do to [`State`] (see `docs/PROTOCOL.md`, "Friends, groups and user
//! infos"). Pure, like the rest of the state.
#![forbid(unsafe_code)]

use super::state::{Code, State};
use crate::wire::constants::*;
use crate::wire::protocol::{ServerMsg, MAX_FRIENDS, MAX_GROUPS};

/// A friend: its id, whether it is online, its group (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Friend {
    pub user_id: u32,
    pub online: bool,
    pub group: u32,
}

/// This client's friends and groups, in the order the business server
/// added them. Bounded as the core server bounds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Friends {
    pub friends: Vec<Friend>,
    /// (group id, name).
    pub groups: Vec<(u32, Vec<u8>)>,
}

impl Friends {
    pub fn clear(&mut self) {
        self.friends.clear();
        self.groups.clear();
    }

    fn set_group(&mut self, group_id: u32, name: Vec<u8>) {
        match self.groups.iter().position(|(g, _)| *g == group_id) {
            Some(i) => self.groups[i].1 = name,
            None if self.groups.len() < MAX_GROUPS => self.groups.push((group_id, name)),
            None => {}
        }
    }

    fn remove_group(&mut self, group_id: u32) {
        self.groups.retain(|(g, _)| *g != group_id);
        for f in self.friends.iter_mut().filter(|f| f.group == group_id) {
            f.group = 0;
        }
    }

    fn set_friend(&mut self, friend: Friend) {
        match self.friends.iter().position(|f| f.user_id == friend.user_id) {
            Some(i) => self.friends[i] = friend,
            None if self.friends.len() < MAX_FRIENDS => self.friends.push(friend),
            None => {}
        }
    }

    fn friend(&self, user_id: u32) -> Option<&Friend> {
        self.friends.iter().find(|f| f.user_id == user_id)
    }

    fn has_group(&self, group_id: u32) -> bool {
        self.groups.iter().any(|(g, _)| *g == group_id)
    }
}

/// Applies a server message of the friends family (`UserDataReset`,
/// `GroupSet`, `GroupGone`, `FriendSet`, `FriendGone`, `FriendStatus`,
/// `SyncInfo`, `UserDataUpdated`); gives the notification for the app, if
/// any, as `(message, wParam, lParam)`.
pub fn on_message(st: &mut State, msg: ServerMsg) -> Option<(u32, u32, u32)> {
    let f = &mut st.friends;
    match msg {
        ServerMsg::UserDataReset => f.clear(),
        ServerMsg::GroupSet { group_id, name } => f.set_group(group_id, name),
        ServerMsg::GroupGone { group_id } => f.remove_group(group_id),
        ServerMsg::FriendSet { user_id, online, group } => f.set_friend(Friend { user_id, online, group }),
        ServerMsg::FriendGone { user_id } => f.friends.retain(|x| x.user_id != user_id),
        ServerMsg::FriendStatus { user_id, online } => {
            if let Some(x) = f.friends.iter_mut().find(|x| x.user_id == user_id) {
                x.online = online;
            }
            return Some((WM_GV_FRIENDSTATUS, user_id, online as u32));
        }
        ServerMsg::SyncInfo { user_id, info_id, value } => {
            st.infos.insert((user_id, info_id), value);
        }
        ServerMsg::UserDataUpdated => return Some((WM_GV_USERINFOUPDATE, 0, 0)),
        _ => {}
    }
    None
}

// ----- the API side of the BRAC_ calls ---------------------------------

impl State {
    fn logged_in_friends(&self) -> Result<&Friends, Code> {
        if self.logged_in {
            Ok(&self.friends)
        } else {
            Err(GV_ERR_NOTLOGIN)
        }
    }

    /// `BRAC_GetUserFriends`: the friends' ids (none without a business server).
    pub fn friend_ids(&self) -> Result<Vec<u32>, Code> {
        Ok(self.logged_in_friends()?.friends.iter().map(|f| f.user_id).collect())
    }

    /// `BRAC_GetFriendStatus`: 1 online, 0 offline; 205 for a user who is
    /// not a friend.
    pub fn friend_status(&self, user_id: u32) -> Result<u32, Code> {
        let f = self.logged_in_friends()?;
        f.friend(user_id).map(|f| f.online as u32).ok_or(GV_ERR_INVALID_USERID)
    }

    /// `BRAC_GetUserGroups`: the groups' ids.
    pub fn group_ids(&self) -> Result<Vec<u32>, Code> {
        Ok(self.logged_in_friends()?.groups.iter().map(|(g, _)| *g).collect())
    }

    /// `BRAC_GetGroupFriends`: the friends in a group; 21 for a group this
    /// client does not have.
    pub fn group_friends(&self, group_id: u32) -> Result<Vec<u32>, Code> {
        let f = self.logged_in_friends()?;
        if !f.has_group(group_id) {
            return Err(GV_ERR_FUNCOPTERROR);
        }
        Ok(f.friends.iter().filter(|x| x.group == group_id).map(|x| x.user_id).collect())
    }

    /// `BRAC_GetGroupName`: 21 for a group this client does not have.
    pub fn group_name(&self, group_id: u32) -> Result<Vec<u8>, Code> {
        let f = self.logged_in_friends()?;
        f.groups.iter().find(|(g, _)| *g == group_id).map(|(_, n)| n.clone()).ok_or(GV_ERR_FUNCOPTERROR)
    }
}
