//! This server cut off from the engine for longer than its lease (see
//! "Failure modes" in `docs/CLUSTER.md`).
//!
//! Once the lease has run out, the other servers count this server's users
//! offline: they have ended, with 100106, the calls they hold with them and
//! the calls of theirs this server holds. This server does the same on its
//! side, so that no call is left that only one side still believes in:
//! its users in a call held elsewhere get `FINISH(100106)` (`REPLY(100106)`
//! while ringing), and the remote users attached here are detached as lost
//! connections (their peers here get the same). Calls within this server
//! go on.
#![forbid(unsafe_code)]

use super::{ghost_conn, Cluster};
use crate::core::Core;

impl Cluster {
    /// The engine has been unreachable since this server's lease ran out.
    pub(super) fn lease_lost(&mut self, core: &mut Core) {
        let away: Vec<u32> = self.away.keys().copied().collect();
        let ghosts: Vec<u32> = self.ghosts.keys().copied().collect();
        tracing::warn!(
            away = away.len(),
            remote = ghosts.len(),
            "cluster: lease lost, ending the calls across servers of this server's users"
        );
        for uid in away {
            self.away_lost(core, uid);
        }
        for uid in ghosts {
            self.ghosts.remove(&uid);
            core.detach_remote(ghost_conn(uid), false);
        }
    }
}
