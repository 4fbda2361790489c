//! What core servers send each other through the engine: one envelope per
//! pub/sub message, binary, decoded without panicking (a bad one is `None`).
#![forbid(unsafe_code)]

use crate::wire::protocol::{RoomUser, FRAME_HEADER_LEN};

/// A message between two core servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// For the local user `to`: one server message (a whole frame, as the
    /// user's connection carries it).
    Deliver { to: u32, frame: Vec<u8> },
    /// For the local user `to`: a media frame of user `from` (a whole frame).
    Media { to: u32, from: u32, video: bool, key: bool, frame: Vec<u8> },
    /// From user `user` of server `home`: a message (a whole client frame)
    /// for the call (or call room) this server holds. `call` is the home's
    /// number for the call a Request starts, `visit` for the stay in an
    /// ordinary room an entry starts (0 with every other message).
    Ghost { home: String, user: RoomUser, call: u64, visit: u64, frame: Vec<u8> },
    /// User `uid` of server `home` left (`logout`: its own doing; else a
    /// lost connection).
    Gone { home: String, uid: u32, logout: bool },
    /// A newer login of `uid` elsewhere: close its session `conn` here.
    Kick { uid: u32, conn: u64 },
    /// Remote user `uid` is detached from server `owner`: its call there is
    /// over, and it is in no room there. `call` and `visit` are the home's
    /// numbers for the last call and room entry it was asked for (0: none).
    Ended { owner: String, uid: u32, call: u64, visit: u64 },
    /// Server `owner` does not hold room `room` (any more): `uid`'s home
    /// looks for its holder again.
    Relocate { owner: String, uid: u32, room: u32 },
    /// Room `room` is the one entered by `name` (sent before an entry by
    /// name to the room's holder).
    RoomName { room: u32, name: Vec<u8> },
    /// User `uid` logged in to server `server` (`online`), or out of it; an
    /// empty `server`: not logged in anywhere.
    Presence { uid: u32, online: bool, server: String },
    /// User `uid`'s info `info_id` is `value` now (`BRAS_SetUserInfo` on
    /// its server).
    InfoSet { uid: u32, info_id: u32, value: Vec<u8> },
    /// For the business server of the cluster, from server `from`'s core:
    /// one server message (a whole frame) to relay to it.
    BizUp { from: String, frame: Vec<u8> },
    /// From the business server of the cluster (relayed by server `from`):
    /// one of its messages (a whole client frame) for this server's core.
    BizDown { from: String, frame: Vec<u8> },
    /// Server `home` has the business server linked (`up`, with reconnect
    /// token `token`), or not any more.
    BizHome { home: String, token: u64, up: bool },
}

const DELIVER: u8 = 1;
const MEDIA: u8 = 2;
const GHOST: u8 = 3;
const GONE: u8 = 4;
const KICK: u8 = 5;
const ENDED: u8 = 6;
const RELOCATE: u8 = 7;
const BIZ_UP: u8 = 8;
const BIZ_DOWN: u8 = 9;
const BIZ_HOME: u8 = 10;
const ROOM_NAME: u8 = 11;
const PRESENCE: u8 = 12;
const INFO_SET: u8 = 13;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let hi = self.u32()? as u64;
        Some((hi << 32) | self.u32()? as u64)
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u32()? as usize;
        self.take(n).map(<[u8]>::to_vec)
    }
    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Envelope::Deliver { to, frame } => {
                out.push(DELIVER);
                out.extend_from_slice(&to.to_be_bytes());
                put_bytes(&mut out, frame);
            }
            Envelope::Media { to, from, video, key, frame } => {
                out.push(MEDIA);
                out.extend_from_slice(&to.to_be_bytes());
                out.extend_from_slice(&from.to_be_bytes());
                out.push(*video as u8);
                out.push(*key as u8);
                put_bytes(&mut out, frame);
            }
            Envelope::Ghost { home, user, call, visit, frame } => {
                out.push(GHOST);
                put_bytes(&mut out, home.as_bytes());
                for v in [user.user_id, user.level, user.camera, user.mic] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                out.extend_from_slice(&call.to_be_bytes());
                out.extend_from_slice(&visit.to_be_bytes());
                put_bytes(&mut out, &user.name);
                put_bytes(&mut out, &user.nick);
                put_bytes(&mut out, frame);
            }
            Envelope::Gone { home, uid, logout } => {
                out.push(GONE);
                put_bytes(&mut out, home.as_bytes());
                out.extend_from_slice(&uid.to_be_bytes());
                out.push(*logout as u8);
            }
            Envelope::Kick { uid, conn } => {
                out.push(KICK);
                out.extend_from_slice(&uid.to_be_bytes());
                out.extend_from_slice(&conn.to_be_bytes());
            }
            Envelope::Ended { owner, uid, call, visit } => {
                out.push(ENDED);
                put_bytes(&mut out, owner.as_bytes());
                out.extend_from_slice(&uid.to_be_bytes());
                out.extend_from_slice(&call.to_be_bytes());
                out.extend_from_slice(&visit.to_be_bytes());
            }
            Envelope::Relocate { owner, uid, room } => {
                out.push(RELOCATE);
                put_bytes(&mut out, owner.as_bytes());
                out.extend_from_slice(&uid.to_be_bytes());
                out.extend_from_slice(&room.to_be_bytes());
            }
            Envelope::RoomName { room, name } => {
                out.push(ROOM_NAME);
                out.extend_from_slice(&room.to_be_bytes());
                put_bytes(&mut out, name);
            }
            Envelope::Presence { uid, online, server } => {
                out.push(PRESENCE);
                out.extend_from_slice(&uid.to_be_bytes());
                out.push(*online as u8);
                put_bytes(&mut out, server.as_bytes());
            }
            Envelope::InfoSet { uid, info_id, value } => {
                out.push(INFO_SET);
                out.extend_from_slice(&uid.to_be_bytes());
                out.extend_from_slice(&info_id.to_be_bytes());
                put_bytes(&mut out, value);
            }
            Envelope::BizUp { from, frame } | Envelope::BizDown { from, frame } => {
                out.push(if matches!(self, Envelope::BizUp { .. }) { BIZ_UP } else { BIZ_DOWN });
                put_bytes(&mut out, from.as_bytes());
                put_bytes(&mut out, frame);
            }
            Envelope::BizHome { home, token, up } => {
                out.push(BIZ_HOME);
                put_bytes(&mut out, home.as_bytes());
                out.extend_from_slice(&token.to_be_bytes());
                out.push(*up as u8);
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Envelope> {
        let mut r = Reader(b);
        let env = match r.u8()? {
            DELIVER => Envelope::Deliver { to: r.u32()?, frame: r.bytes()? },
            MEDIA => Envelope::Media {
                to: r.u32()?,
                from: r.u32()?,
                video: r.u8()? != 0,
                key: r.u8()? != 0,
                frame: r.bytes()?,
            },
            GHOST => {
                let home = r.text()?;
                let (user_id, level, camera, mic) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
                let (call, visit) = (r.u64()?, r.u64()?);
                let (name, nick) = (r.bytes()?, r.bytes()?);
                let user = RoomUser { user_id, name, nick, level, camera, mic };
                Envelope::Ghost { home, user, call, visit, frame: r.bytes()? }
            }
            GONE => Envelope::Gone { home: r.text()?, uid: r.u32()?, logout: r.u8()? != 0 },
            KICK => Envelope::Kick { uid: r.u32()?, conn: r.u64()? },
            ENDED => Envelope::Ended { owner: r.text()?, uid: r.u32()?, call: r.u64()?, visit: r.u64()? },
            RELOCATE => Envelope::Relocate { owner: r.text()?, uid: r.u32()?, room: r.u32()? },
            ROOM_NAME => Envelope::RoomName { room: r.u32()?, name: r.bytes()? },
            PRESENCE => Envelope::Presence { uid: r.u32()?, online: r.u8()? != 0, server: r.text()? },
            INFO_SET => Envelope::InfoSet { uid: r.u32()?, info_id: r.u32()?, value: r.bytes()? },
            BIZ_UP => Envelope::BizUp { from: r.text()?, frame: r.bytes()? },
            BIZ_DOWN => Envelope::BizDown { from: r.text()?, frame: r.bytes()? },
            BIZ_HOME => Envelope::BizHome { home: r.text()?, token: r.u64()?, up: r.u8()? != 0 },
            _ => return None,
        };
        r.0.is_empty().then_some(env)
    }
}

/// The body of a whole frame (its length header checked).
pub fn frame_body(frame: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(frame.get(..FRAME_HEADER_LEN)?.try_into().ok()?) as usize;
    let body = &frame[FRAME_HEADER_LEN..];
    (body.len() == len).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let user = RoomUser { user_id: 7, name: b"a".to_vec(), nick: b"b".to_vec(), level: 1, camera: 2, mic: 3 };
        let all = [
            Envelope::Deliver { to: 1, frame: vec![1, 2] },
            Envelope::Media { to: 1, from: 2, video: true, key: false, frame: vec![9] },
            Envelope::Ghost { home: "s1.x".into(), user, call: 9, visit: 10, frame: vec![0; 5] },
            Envelope::Gone { home: "h".into(), uid: 3, logout: true },
            Envelope::Kick { uid: 4, conn: 1 << 40 },
            Envelope::Ended { owner: "s2.y".into(), uid: 5, call: 9, visit: 10 },
            Envelope::Relocate { owner: "s3.z".into(), uid: 6, room: 100 },
            Envelope::RoomName { room: 0x6000_0001, name: b"lobby".to_vec() },
            Envelope::Presence { uid: 8, online: true, server: "s1.x".into() },
            Envelope::InfoSet { uid: 8, info_id: 2, value: b"v".to_vec() },
            Envelope::BizUp { from: "s3.z".into(), frame: vec![1, 2, 3] },
            Envelope::BizDown { from: "s1.x".into(), frame: vec![4] },
            Envelope::BizHome { home: "s1.x".into(), token: 1 << 50, up: true },
        ];
        for e in all {
            let b = e.encode();
            assert_eq!(Envelope::decode(&b), Some(e));
            for cut in 0..b.len() {
                assert_eq!(Envelope::decode(&b[..cut]), None);
            }
        }
        assert_eq!(Envelope::decode(&[99]), None);
    }
}
