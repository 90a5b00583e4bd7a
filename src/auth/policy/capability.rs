//! The words a policy grants on a path (`read`, `update`, `sudo`, ...) and a small bitset of them.
//!
//! A request is checked by turning its operation into the one capability it needs
//! ([`Capability::for_operation`]) and asking whether the matched rule's [`CapSet`] holds it.

use std::fmt;
use std::str::FromStr;

use leasehold_backend::Operation;

/// One capability a policy rule can grant, spelled on the wire as [`Capability::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Write to a path whose item does not exist yet (paths with an existence check).
    Create,
    /// GET.
    Read,
    /// POST/PUT to an existing item, or to any path without an existence check.
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// LIST or `GET ?list=true`.
    List,
    /// Additionally required on root-protected paths (see [`super::requires_sudo`]).
    Sudo,
    /// Refuses everything on the path; wins over every grant it is merged with.
    Deny,
    /// Event subscriptions; accepted for compatibility, leasehold serves no events.
    Subscribe,
}

impl Capability {
    /// Every capability, in declaration order.
    pub const ALL: [Capability; 9] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
        Capability::Subscribe,
    ];

    /// The lowercase word used in policy text and in `sys/capabilities-self` answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
            Capability::Subscribe => "subscribe",
        }
    }

    /// The capability a request with this operation needs (§5.4's operation table). Sudo is
    /// never implied here: whether a path also needs `sudo` is [`super::requires_sudo`]'s call.
    pub fn for_operation(op: Operation) -> Capability {
        match op {
            Operation::Read => Capability::Read,
            Operation::List => Capability::List,
            Operation::Create => Capability::Create,
            Operation::Update => Capability::Update,
            Operation::Delete => Capability::Delete,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The word was not one of [`Capability::ALL`]; holds the word as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability {0:?} (expected one of create, read, update, patch, delete, list, sudo, deny, subscribe)")]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;

    /// Exact, lowercase match, as Vault compares capability words.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCapability(s.to_owned()))
    }
}

/// A set of capabilities. The empty set grants nothing; a set holding [`Capability::Deny`] is
/// produced only as `{deny}` by parsing and merging, so "contains deny" means "refuse".
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapSet(u16);

impl CapSet {
    /// No capabilities.
    pub const fn empty() -> CapSet {
        CapSet(0)
    }

    /// Every capability except `deny`: what a root token holds.
    pub fn all_grants() -> CapSet {
        Capability::ALL
            .into_iter()
            .filter(|c| *c != Capability::Deny)
            .collect()
    }

    /// True if `cap` is in the set.
    pub fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Add `cap`.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// The set with every capability of `self` and `other`.
    pub fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    /// True if no capability is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True if the set refuses the path (it holds `deny`).
    pub fn is_deny(self) -> bool {
        self.contains(Capability::Deny)
    }

    /// The capabilities in the set, in [`Capability::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = CapSet::empty();
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Capability::as_str))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for cap in Capability::ALL {
            assert_eq!(cap.as_str().parse::<Capability>(), Ok(cap));
        }
        let err = "Read".parse::<Capability>().unwrap_err();
        assert!(err.to_string().contains("\"Read\""), "{err}");
        assert!("root".parse::<Capability>().is_err());
    }

    #[test]
    fn set_operations() {
        let mut set = CapSet::empty();
        assert!(set.is_empty());
        set.insert(Capability::Read);
        set.insert(Capability::List);
        assert!(set.contains(Capability::Read));
        assert!(!set.contains(Capability::Update));
        let both = set.union([Capability::Update].into_iter().collect());
        assert_eq!(
            both.iter().collect::<Vec<_>>(),
            vec![Capability::Read, Capability::Update, Capability::List]
        );
        assert_eq!(format!("{both:?}"), r#"{"read", "update", "list"}"#);
        assert!(!CapSet::all_grants().is_deny());
        assert!(CapSet::all_grants().contains(Capability::Sudo));
    }

    #[test]
    fn operations_map_to_capabilities() {
        assert_eq!(Capability::for_operation(Operation::Read), Capability::Read);
        assert_eq!(Capability::for_operation(Operation::List), Capability::List);
        assert_eq!(
            Capability::for_operation(Operation::Create),
            Capability::Create
        );
        assert_eq!(
            Capability::for_operation(Operation::Update),
            Capability::Update
        );
        assert_eq!(
            Capability::for_operation(Operation::Delete),
            Capability::Delete
        );
    }
}
