//! This server cut off from the engine for longer than its lease (see
//! "Failure modes" in `docs/CLUSTER.md`).
//!
//! Once the lease has run out, the other servers count this server's users
//! offline: they have ended, with 100106, the calls they hold with them and
//! the calls of theirs this server holds. This server does the same on its
//! side, so that no call is left that only one side still believes in:
//! its users in a call held elsewhere get `FINISH(100106)` (`REPLY(100106)`
//! while ringing), and the remote users attached here are detached as lost
//! connections (their peers here get the same), and its users in rooms
//! held elsewhere leave them. Calls within this server go on.
//!
//! The two sides need not see the same thing: this server may heal just
//! after its lease ran out by its own clock and before the others looked
//! (they then never see it gone), and another server may see the lease gone
//! while this server still thinks it holds (a late renewal). So each side
//! tells the other what it ended — this server once the engine is back, the
//! others at once — with the envelopes that end a call that is still there
//! (`Gone` to a holder, `Ended` to a home) and do nothing otherwise.
#![forbid(unsafe_code)]

use super::envelope::Envelope;
use super::{ended_envelope, ghost_conn, Cluster};
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
        let me = self.me.clone();
        for uid in away {
            if let Some(owner) = self.away.get(&uid).and_then(|a| a.owner.clone()) {
                self.after_heal.push((owner, Envelope::Gone { home: me.clone(), uid, logout: false }));
            }
            self.away_lost(core, uid);
        }
        for uid in ghosts {
            if let Some(g) = self.ghosts.remove(&uid) {
                self.after_heal.push((g.home.clone(), ended_envelope(&me, uid, &g)));
            }
            core.detach_remote(ghost_conn(uid), false);
        }
        // Local users in rooms held elsewhere leave them, as when their
        // holder is lost (and the holder is told once the engine is back).
        for (uid, rr) in &self.roomed {
            self.after_heal.push((rr.owner.clone(), Envelope::Gone { home: me.clone(), uid: *uid, logout: false }));
        }
        let holders: std::collections::BTreeSet<String> = self.roomed.values().map(|r| r.owner.clone()).collect();
        for holder in holders {
            self.rooms_lost(&holder);
        }
    }

    /// The engine is reachable again: the other servers learn what this
    /// one ended while cut off.
    pub(super) fn healed(&mut self) {
        for (to, env) in std::mem::take(&mut self.after_heal) {
            self.send_to(&to, env);
        }
    }

    /// `server`'s lease ran out: what this server ends with it (its users'
    /// calls and rooms held there, the remote users of it attached here) is
    /// told to it too, in case it lives on (a late renewal).
    pub(super) fn tell_dead(&mut self, server: &str) {
        let me = self.me.clone();
        let ended: Vec<Envelope> =
            self.ghosts.iter().filter(|(_, g)| g.home == server).map(|(u, g)| ended_envelope(&me, *u, g)).collect();
        for env in ended {
            self.send_to(server, env);
        }
        let away = self.away.iter().filter(|(_, a)| a.owner.as_deref() == Some(server)).map(|(u, _)| *u);
        let roomed = self.roomed.iter().filter(|(_, r)| r.owner == server).map(|(u, _)| *u);
        let gone: std::collections::BTreeSet<u32> = away.chain(roomed).collect();
        for uid in gone {
            self.send_to(server, Envelope::Gone { home: me.clone(), uid, logout: false });
        }
    }
}
