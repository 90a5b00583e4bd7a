//! CIDR blocks for tokens' bound CIDRs and AppRole's `secret_id_bound_cidrs`, `cidr_list` and
//! `token_bound_cidrs`: parsing, "is this client inside", "is this list narrower than that one",
//! and "what do two lists both allow" (a child token's binding under its parent's). Here because
//! both the core (token bindings, checked on every request) and the AppRole engine use it.
//!
//! Blocks are stored as the caller wrote them (trimmed) after validation, so reads give back what
//! was written; they are parsed again when used. A bare address is a block of one host. An
//! IPv4 client seen through an IPv4-mapped IPv6 socket address matches IPv4 blocks.

use std::net::IpAddr;

use crate::BackendError;

/// One parsed block: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CidrBlock {
    addr: IpAddr,
    prefix: u8,
}

impl CidrBlock {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address. Host bits may be set (`10.1.2.3/8`).
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        };
        Some(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// True if every address of `inner` is in `self`.
    fn covers(&self, inner: &CidrBlock) -> bool {
        self.addr.is_ipv4() == inner.addr.is_ipv4()
            && self.prefix <= inner.prefix
            && self.contains(inner.addr)
    }
}

/// Validate a list given for `field`, returning it trimmed, without blanks and duplicates. A
/// malformed block is the caller's fault, named with its field.
pub fn validate(field: &'static str, items: Vec<String>) -> Result<Vec<String>, BackendError> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let item = item.trim();
        if item.is_empty() || out.iter().any(|seen| seen == item) {
            continue;
        }
        if CidrBlock::parse(item).is_none() {
            return Err(BackendError::invalid(format!(
                "invalid {field}: {item:?} is not an IP address or CIDR block"
            )));
        }
        out.push(item.to_owned());
    }
    Ok(out)
}

/// Whether a client at `addr` may pass a binding to `blocks`. An empty list binds nothing; an
/// unknown address never passes a non-empty list.
pub fn allows(blocks: &[String], addr: Option<IpAddr>) -> bool {
    if blocks.is_empty() {
        return true;
    }
    let Some(addr) = addr else {
        return false;
    };
    blocks
        .iter()
        .filter_map(|b| CidrBlock::parse(b))
        .any(|b| b.contains(addr))
}

/// Whether every block of `inner` lies within some block of `outer`; an empty `outer` is no
/// restriction. A secret id may narrow its role's binding, never widen it.
pub fn within(inner: &[String], outer: &[String]) -> bool {
    if outer.is_empty() {
        return true;
    }
    let outer: Vec<CidrBlock> = outer.iter().filter_map(|b| CidrBlock::parse(b)).collect();
    inner
        .iter()
        .all(|b| CidrBlock::parse(b).is_some_and(|inner| outer.iter().any(|o| o.covers(&inner))))
}

/// The addresses both lists allow, as blocks: for each pair of blocks, the narrower one when one
/// lies within the other (two CIDR blocks either nest or are disjoint, so this is exact). An
/// empty list is no restriction, so the other list is the answer; two non-empty lists that share
/// no address give an empty list, which the caller must treat as "nowhere", not "anywhere".
pub fn narrowest(a: &[String], b: &[String]) -> Vec<String> {
    if a.is_empty() {
        return b.to_vec();
    }
    if b.is_empty() {
        return a.to_vec();
    }
    let parsed = |list: &[String]| -> Vec<(String, CidrBlock)> {
        list.iter()
            .filter_map(|s| CidrBlock::parse(s).map(|c| (s.clone(), c)))
            .collect()
    };
    let (a, b) = (parsed(a), parsed(b));
    let mut out: Vec<String> = Vec::new();
    for (sa, ca) in &a {
        for (sb, cb) in &b {
            let narrower = if ca.covers(cb) {
                Some(sb)
            } else if cb.covers(ca) {
                Some(sa)
            } else {
                None
            };
            if let Some(n) = narrower {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn membership() {
        let blocks = list(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]);
        assert!(allows(&blocks, ip("10.255.0.1")));
        assert!(allows(&blocks, ip("192.168.1.7")));
        assert!(!allows(&blocks, ip("192.168.1.8")));
        assert!(allows(&blocks, ip("2001:db8:1::5")));
        assert!(allows(&blocks, ip("::ffff:10.1.1.1")));
        assert!(!allows(&blocks, ip("11.0.0.1")));
        assert!(!allows(&blocks, None));
        assert!(allows(&[], None));
        assert!(allows(&list(&["0.0.0.0/0"]), ip("8.8.8.8")));
    }

    #[test]
    fn validation_and_narrowing() {
        assert_eq!(
            validate("cidr_list", list(&[" 10.0.0.0/8", "", "10.0.0.0/8"])).unwrap(),
            list(&["10.0.0.0/8"])
        );
        for bad in ["10.0.0.0/33", "10.0.0/8", "host", "::/129", "1.2.3.4/x"] {
            let err = validate("cidr_list", list(&[bad])).unwrap_err();
            assert!(err.to_string().contains("cidr_list"), "{bad}: {err}");
        }
        let outer = list(&["10.0.0.0/8"]);
        assert!(within(&list(&["10.1.0.0/16", "10.2.3.4"]), &outer));
        assert!(!within(&list(&["10.0.0.0/7"]), &outer));
        assert!(!within(&list(&["11.0.0.0/16"]), &outer));
        assert!(within(&list(&["11.0.0.0/16"]), &[]));
    }

    #[test]
    fn narrowing_two_bindings() {
        let parent = list(&["10.0.0.0/8", "192.168.1.7"]);
        assert_eq!(narrowest(&parent, &[]), parent);
        assert_eq!(narrowest(&[], &parent), parent);
        assert_eq!(
            narrowest(&parent, &list(&["10.1.0.0/16", "0.0.0.0/0"])),
            list(&["10.1.0.0/16", "10.0.0.0/8", "192.168.1.7"])
        );
        assert_eq!(
            narrowest(&list(&["10.1.2.3/32"]), &list(&["10.0.0.0/8"])),
            list(&["10.1.2.3/32"])
        );
        assert!(narrowest(&parent, &list(&["11.0.0.0/8", "2001:db8::/32"])).is_empty());
    }
}
