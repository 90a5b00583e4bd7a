//! [`Freshness`]: what a cache of storage reads needs so that a read never fills it with a value
//! a write replaced, and so that it keeps nothing while other nodes' writes cannot reach it. The
//! token cache (`auth::token_store::cache`) and mount data's (`storage::kv_cache`) each hold one
//! beside the maps whose meaning they know.
//!
//! - A fill carries a [`Ticket`] taken before its storage read; every forget bumps the
//!   generation, and a fill whose ticket is older is dropped (its read may predate the write).
//! - While the change feed is down ([`Freshness::suspend`] until [`Freshness::resume`]) no
//!   ticket is given, so nothing is kept; the cache clears its maps on both.

/// What a fill must present: the generation before its storage read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// The generation and whether filling is suspended.
#[derive(Debug, Default)]
pub struct Freshness {
    generation: u64,
    suspended: bool,
}

impl Freshness {
    /// Taken before a storage read whose result may fill the cache; `None` while suspended.
    pub fn ticket(&self) -> Option<Ticket> {
        (!self.suspended).then_some(Ticket(self.generation))
    }

    /// Whether a fill with `ticket` may keep what it read: nothing was forgotten since.
    pub fn admits(&self, ticket: Ticket) -> bool {
        !self.suspended && self.generation == ticket.0
    }

    /// Something is being forgotten: fills from reads that started before are dropped.
    pub fn forget(&mut self) {
        self.generation += 1;
    }

    /// The change feed stopped: no tickets until [`Freshness::resume`].
    pub fn suspend(&mut self) {
        self.forget();
        self.suspended = true;
    }

    /// The change feed is back: tickets again, none from before.
    pub fn resume(&mut self) {
        self.forget();
        self.suspended = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_from_before_a_forget_or_a_suspension_is_not_admitted() {
        let mut f = Freshness::default();
        let before = f.ticket().unwrap();
        f.forget();
        assert!(!f.admits(before));
        let current = f.ticket().unwrap();
        assert!(f.admits(current));
        f.suspend();
        assert!(f.ticket().is_none());
        assert!(!f.admits(current));
        f.resume();
        assert!(!f.admits(current));
        assert!(f.admits(f.ticket().unwrap()));
    }
}
