//! Which quota governs a request: pure logic over a quota's scope and the request's canonical
//! path, so the rules can be read (and tested) without a server.
//!
//! A quota's `path` is one of: empty (global), a mount (`database/`), a path below a mount
//! (`database/creds/ro`), or a path below a mount ending in `*` (`database/creds/ro-*`).
//! Exactly one quota of a kind applies to a request, the most specific one that matches, in this
//! order (Vault's precedence, without namespaces):
//! 1. a path below a mount: the longest match wins; a path without `*` matches itself and what
//!    lies below it on a `/` boundary (`database/creds/ro` never covers `database/creds/rogue`),
//!    one with `*` matches by plain string prefix; at equal length the exact form wins;
//! 2. a mount with a `role` (lease-count quotas; the lease's role must be that role);
//! 3. a mount;
//! 4. the global quota.
//!
//! Deliberate difference from Vault: Vault's non-glob path quota matches only that exact path;
//! ours also covers the paths below it, because a quota on `database/creds/ro` that a request
//! for `database/creds/ro/` or a deeper variant could step around would be no cap at all.

/// Where a quota applies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every request (`path` empty).
    Global,
    /// A whole mount, as the mount table spells it (`database/`, `auth/approle/`).
    Mount(String),
    /// A path below a mount without its trailing `*` (`database/creds/ro`), and whether it
    /// ended in `*` (string prefix) or not (itself and below on a segment boundary).
    Path {
        /// The path, no leading or trailing `/`, no `*`.
        path: String,
        /// True when written with a trailing `*`.
        glob: bool,
    },
}

impl Scope {
    /// Read a quota's `path` given `mount_of`, which answers the mount path (`database/`) that
    /// serves a path, if any. Errors are the caller's (400).
    pub fn parse(raw: &str, mount_of: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let trimmed = raw.trim().trim_start_matches('/');
        if trimmed.is_empty() {
            return Ok(Scope::Global);
        }
        let (body, glob) = match trimmed.strip_suffix('*') {
            Some(b) => (b, true),
            None => (trimmed, false),
        };
        if body.contains('*') {
            return Err(format!(
                "invalid quota path {raw:?}: '*' is only allowed at the end"
            ));
        }
        if body.split('/').any(|s| s == "." || s == "..") {
            return Err(format!("invalid quota path {raw:?}"));
        }
        let mount = mount_of(body).ok_or_else(|| {
            format!("invalid mount path {raw:?}: no secrets engine or auth method is mounted there")
        })?;
        let bare = body.trim_end_matches('/');
        if !glob && bare == mount.trim_end_matches('/') {
            return Ok(Scope::Mount(mount));
        }
        if glob && bare.len() < mount.trim_end_matches('/').len() {
            return Err(format!(
                "invalid quota path {raw:?}: a '*' path must lie below a mount"
            ));
        }
        Ok(Scope::Path {
            path: if glob {
                body.to_owned()
            } else {
                bare.to_owned()
            },
            glob,
        })
    }

    /// The `path` as it is shown back (`database/`, `database/creds/ro`, `database/creds/r*`).
    pub fn display(&self) -> String {
        match self {
            Scope::Global => String::new(),
            Scope::Mount(m) => m.clone(),
            Scope::Path { path, glob: true } => format!("{path}*"),
            Scope::Path { path, glob: false } => path.clone(),
        }
    }

    /// The lease-id prefix of every lease this scope covers (lease ids are `<request path>/…`).
    pub fn lease_prefix(&self) -> String {
        match self {
            Scope::Global => String::new(),
            Scope::Mount(m) => m.clone(),
            Scope::Path { path, glob: true } => path.clone(),
            Scope::Path { path, glob: false } => format!("{path}/"),
        }
    }

    /// True when a request on `path` (canonical, no leading `/`) falls in this scope.
    pub fn covers(&self, path: &str) -> bool {
        match self {
            Scope::Global => true,
            Scope::Mount(m) => below(path, m.trim_end_matches('/')),
            Scope::Path {
                path: p,
                glob: true,
            } => path.starts_with(p.as_str()),
            Scope::Path {
                path: p,
                glob: false,
            } => below(path, p),
        }
    }

    /// Precedence key: higher wins. See the module header for the order.
    fn rank(&self, has_role: bool) -> (u8, usize, u8) {
        match self {
            Scope::Path { path, glob } => (3, path.len(), u8::from(!glob)),
            Scope::Mount(_) if has_role => (2, 0, 0),
            Scope::Mount(_) => (1, 0, 0),
            Scope::Global => (0, 0, 0),
        }
    }
}

/// `path` (a trailing `/` ignored) is `prefix` or lies below it on a `/` boundary: the edge's
/// segment rule ([`crate::http::path::below`]), so quotas and routing agree on what is below.
fn below(path: &str, prefix: &str) -> bool {
    crate::http::path::below(path.trim_end_matches('/'), prefix).is_some()
}

/// The most specific of `candidates` (scope, role) that covers a request on `path` whose role
/// is `role` (`None` when the request has no role, e.g. rate limits: role quotas never match).
/// Returns the index into `candidates`.
pub fn most_specific<'a>(
    candidates: impl IntoIterator<Item = (&'a Scope, Option<&'a str>)>,
    path: &str,
    role: Option<&str>,
) -> Option<usize> {
    candidates
        .into_iter()
        .enumerate()
        .filter(|(_, (scope, quota_role))| {
            scope.covers(path)
                && match quota_role {
                    None => true,
                    Some(r) => role == Some(*r),
                }
        })
        .max_by_key(|(_, (scope, quota_role))| scope.rank(quota_role.is_some()))
        .map(|(i, _)| i)
}

/// True when `path` is exempt by one of `exempt` (Vault's form: exact, or a prefix ending `*`).
pub fn exempt(path: &str, exempt: &[String]) -> bool {
    let path = path.trim_end_matches('/');
    exempt.iter().any(|e| match e.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == e.trim_matches('/'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount_of(p: &str) -> Option<String> {
        ["database/", "auth/approle/", "aws/"]
            .into_iter()
            .find(|m| below(p, m.trim_end_matches('/')))
            .map(str::to_owned)
    }

    fn scope(p: &str) -> Scope {
        Scope::parse(p, mount_of).unwrap()
    }

    #[test]
    fn parses_the_four_forms() {
        assert_eq!(scope(""), Scope::Global);
        assert_eq!(scope("database"), Scope::Mount("database/".into()));
        assert_eq!(scope("/database/"), Scope::Mount("database/".into()));
        assert_eq!(
            scope("database/creds/ro/"),
            Scope::Path {
                path: "database/creds/ro".into(),
                glob: false
            }
        );
        assert_eq!(scope("database/creds/r*").display(), "database/creds/r*");
        assert!(Scope::parse("nothing/here", mount_of).is_err());
        assert!(Scope::parse("database/*/ro", mount_of).is_err());
        assert!(Scope::parse("database/../sys", mount_of).is_err());
    }

    #[test]
    fn paths_match_on_segment_boundaries() {
        let ro = scope("database/creds/ro");
        assert!(ro.covers("database/creds/ro"));
        assert!(ro.covers("database/creds/ro/"));
        assert!(ro.covers("database/creds/ro/x"));
        assert!(!ro.covers("database/creds/rogue"));
        assert!(!scope("database").covers("databases/creds/ro"));
        assert!(scope("database/creds/r*").covers("database/creds/rogue"));
        assert_eq!(ro.lease_prefix(), "database/creds/ro/");
        assert_eq!(scope("database").lease_prefix(), "database/");
    }

    #[test]
    fn the_most_specific_quota_wins() {
        let quotas = [
            (scope(""), None),
            (scope("database"), None),
            (scope("database"), Some("ro")),
            (scope("database/creds/r*"), None),
            (scope("database/creds/ro"), None),
        ];
        let pick = |path: &str, role: Option<&str>| {
            most_specific(quotas.iter().map(|(s, r)| (s, r.as_deref())), path, role)
        };
        assert_eq!(pick("database/creds/ro", Some("ro")), Some(4));
        assert_eq!(pick("database/creds/rw", Some("rw")), Some(3));
        assert_eq!(pick("database/creds/admin", Some("ro")), Some(2));
        assert_eq!(pick("database/creds/admin", Some("admin")), Some(1));
        assert_eq!(pick("database/creds/admin", None), Some(1));
        assert_eq!(pick("aws/creds/x", None), Some(0));
        assert_eq!(most_specific([], "aws/creds/x", None), None);
    }

    #[test]
    fn exempt_paths_are_exact_or_star_prefixes() {
        let list = vec!["sys/health".to_owned(), "sys/generate-root/*".to_owned()];
        assert!(exempt("sys/health", &list));
        assert!(!exempt("sys/healthz", &list));
        assert!(exempt("sys/generate-root/attempt", &list));
        assert!(!exempt("database/creds/ro", &list));
    }
}
