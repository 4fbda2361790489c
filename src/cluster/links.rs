//! Media between servers: direct links, the engine as fallback.
//!
//! Relaying media through the engine costs it about 24 µs of CPU per frame
//! (`docs/CLUSTER.md`, "Measured here"): a single Redis would carry a few
//! hundred calls across servers. So media goes over a direct TCP link from
//! the sending server to the receiving one, opened on first use: the
//! engine thread reads the receiver's `peer:<instance>` entry (its address
//! and a token), connects and sends `Hello` (role 3, the token) on a thread
//! of its own, and hands the socket to the loop, which serves it like any
//! connection (the same framing, the same bounded, drop-video-first media
//! queue). Each server sends over the link it opened; the receiver checks
//! the token and takes the link's `Relay` frames as envelopes. Until a link
//! is up, or when it cannot be made (retried after [`DIAL_BACKOFF`]), media
//! goes through the engine as signalling does; signalling always does.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::envelope::Envelope;
use super::{Cluster, ToEngine};
use crate::core::{ConnId, Core, Output};
use crate::wire::protocol::{ClientMsg, MediaOut, Role, FRAME_HEADER_LEN, MAX_FRAME_LEN};

/// After a failed dial, media to that server goes through the engine for
/// this long before the link is tried again.
pub const DIAL_BACKOFF: Duration = Duration::from_secs(2);

/// The state of this server's link to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    Dialing,
    Up(ConnId),
    /// Not tried again before then.
    Failed(Instant),
}

impl Cluster {
    /// Sends `env` (media, for server `server`) over the link, or through
    /// the engine while there is none.
    pub(super) fn send_media(&mut self, now: Instant, server: &str, env: Envelope, from: u32, video: bool, key: bool) {
        match self.links.get(server).copied() {
            Some(Link::Up(conn)) => {
                let mut frame = Vec::new();
                ClientMsg::Relay { env: env.encode() }.encode(&mut frame);
                if frame.len() <= MAX_FRAME_LEN + FRAME_HEADER_LEN {
                    self.out.push_back(Output::Media(conn, Arc::new(MediaOut { bytes: frame, from, video, key })));
                    return;
                }
            }
            Some(Link::Dialing) => {}
            Some(Link::Failed(until)) if now < until => {}
            _ => {
                if self.engine(ToEngine::Dial(server.to_string())) {
                    self.links.insert(server.to_string(), Link::Dialing);
                }
            }
        }
        self.send_to(server, env);
    }

    /// The engine's answer to a dial.
    pub(super) fn dialed(&mut self, now: Instant, server: String, stream: Result<std::net::TcpStream, String>) {
        match stream {
            Ok(tcp) => self.dialed.push((server, tcp)),
            Err(e) => {
                tracing::warn!(%server, "cluster: no media link, media goes through the engine: {e}");
                self.links.insert(server, Link::Failed(now + DIAL_BACKOFF));
            }
        }
    }

    /// Links connected, for the loop to take in (then [`Cluster::link_up`]).
    pub fn take_dialed(&mut self) -> Vec<(String, std::net::TcpStream)> {
        std::mem::take(&mut self.dialed)
    }

    /// The loop took in the link to `server` as connection `conn` (already
    /// made a peer link in the core).
    pub fn link_up(&mut self, server: String, conn: ConnId) {
        tracing::info!(%server, conn = %conn, "cluster: media link up");
        self.links.insert(server, Link::Up(conn));
    }

    /// A `Hello` with the peer role: a link from another server, if its
    /// token is ours. True: taken here.
    pub(super) fn peer_hello(&mut self, core: &mut Core, conn: ConnId, msg: &ClientMsg) -> bool {
        let ClientMsg::Hello { role, secret, .. } = msg else { return false };
        if *role != Role::Peer as u8 || *secret != self.token.as_bytes() {
            return false; // the core refuses the role
        }
        tracing::info!(conn = %conn, "cluster: media link from another server");
        core.make_peer(conn);
        self.peer_in.insert(conn);
        true
    }

    /// A frame on a link from another server.
    pub(super) fn on_link(&mut self, core: &mut Core, now: Instant, msg: ClientMsg) {
        match msg {
            ClientMsg::Relay { env } => match Envelope::decode(&env) {
                Some(env) => self.inbound(core, now, env),
                None => tracing::warn!("cluster: undecodable envelope on a media link dropped"),
            },
            other => tracing::debug!(?other, "cluster: unexpected message on a media link"),
        }
    }

    /// A connection closed: if it was a link, the next media re-dials.
    pub(super) fn link_closed(&mut self, conn: ConnId) {
        self.peer_in.remove(&conn);
        self.links.retain(|server, l| {
            let gone = *l == Link::Up(conn);
            if gone {
                tracing::info!(%server, "cluster: media link closed");
            }
            !gone
        });
    }
}
