//! The canonical request path, made once at the edge.
//!
//! Everything downstream — the ACL and sudo checks, routing to `sys/`, `auth/token/` or a mount,
//! the backend's own path matching, lease ids and the audit log — uses the one value built here,
//! so no part of the server can see a different path from the one that was authorized.
//!
//! The rules:
//! - The path after `/v1/` is percent-decoded once (as Go's `URL.Path`, which Vault uses, is);
//!   bytes that are not UTF-8, control characters and NUL are refused (400).
//! - A path with empty segments (`a//b`), `.` or `..` segments never reaches a handler. Vault's Go
//!   mux answers such a path with a redirect to the cleaned one; we do too, with **308** rather
//!   than Go's 301, because 308 obliges the client to repeat the same method and body (a client
//!   following a 301 may turn a `POST` into a `GET`). The redirect is followed by the client, so
//!   the cleaned path is authorized on its own request, like any other.
//! - A trailing `/` is kept and is significant: `database/creds/admin/` is not
//!   `database/creds/admin` (backends match anchored). List requests always carry exactly one
//!   trailing `/`, as Vault appends it, so that policies see list paths the way Vault's do.
//! - Case is kept: every path in leasehold is case-sensitive, except policy names, which Vault
//!   lowercases when it stores them. `sys/policies/acl/<name>` and `sys/policy/<name>` are
//!   therefore lowercased here, so the ACL sees the name that will be written (Vault checks the
//!   path as typed and writes the lowercased name, which lets `Admin` past a deny on `admin`).

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::error::{Error, Result};

/// What the edge makes of a raw request path.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Serve it: the canonical path below `/v1/`.
    Canonical(CanonicalPath),
    /// Answer 308 with this `Location` (path and query), the cleaned spelling of the request.
    Redirect(String),
}

/// A request path below `/v1/`, decoded and cleaned: no leading `/`, no empty, `.` or `..`
/// segments, at most one trailing `/`. Only [`resolve`] and [`CanonicalPath::parse`] build one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalPath(String);

impl CanonicalPath {
    /// A canonical path from text that is already clean (tests, internal callers). Refuses a
    /// path that [`resolve`] would have redirected or refused.
    pub fn parse(path: &str) -> Result<Self> {
        match resolve(&format!("/v1/{path}"), None)? {
            Resolved::Canonical(p) => Ok(p),
            Resolved::Redirect(_) => Err(Error::invalid(format!("path {path:?} is not canonical"))),
        }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same path as a list request sees it: with its trailing `/` (Vault appends one).
    pub fn for_list(self) -> Self {
        if self.0.ends_with('/') || self.0.is_empty() {
            self
        } else {
            Self(format!("{}/", self.0))
        }
    }
}

impl fmt::Display for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for CanonicalPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Characters escaped when a cleaned path is written back into a `Location` header: controls,
/// space and the characters that would end or change the meaning of a path.
const PATH_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Resolve the raw (still percent-encoded) URI path of a request, and its raw query for a
/// redirect.
pub fn resolve(raw: &str, query: Option<&str>) -> Result<Resolved> {
    let Some(rest) = raw.strip_prefix("/v1/") else {
        return Err(Error::NoRoute(raw.trim_start_matches('/').to_owned()));
    };
    let decoded = percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| Error::invalid("request path is not valid UTF-8"))?;
    if decoded.chars().any(char::is_control) {
        return Err(Error::invalid("request path contains a control character"));
    }
    let cleaned = clean(&decoded);
    if cleaned != decoded {
        if cleaned.is_empty() {
            return Err(Error::NoRoute(String::new()));
        }
        let mut location = format!("/v1/{}", utf8_percent_encode(&cleaned, PATH_ESCAPE));
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            location.push('?');
            location.push_str(q);
        }
        return Ok(Resolved::Redirect(location));
    }
    if cleaned.is_empty() {
        return Err(Error::NoRoute(String::new()));
    }
    Ok(Resolved::Canonical(CanonicalPath(
        mount_path_without_slash(lowercase_policy_name(cleaned)),
    )))
}

/// The canonical path a request to `/v1/<spelled>` is authorized and served as, once the
/// client has followed the edge's redirect (if any): `spelled` is a path as typed in a URL
/// (percent-encoded, maybe with `//`, `.`, `..` or a leading `/`). For `sys/capabilities*`,
/// whose answer must be the one the request itself would get. `None` when the spelling reaches
/// no path at all (empty once cleaned); an error when the edge would refuse it (400).
pub fn as_requested(spelled: &str) -> Result<Option<CanonicalPath>> {
    // In a URL, `?` starts the query and `#` the fragment: neither is part of the path.
    let spelled_path = spelled.split(['?', '#']).next().unwrap_or_default();
    let first = format!("/v1/{}", spelled_path.trim_start_matches('/'));
    let resolved = match resolve(&first, None) {
        Err(Error::NoRoute(_)) => return Ok(None),
        other => other?,
    };
    match resolved {
        Resolved::Canonical(p) => Ok(Some(p)),
        // The redirect's target is itself canonical: resolve it as the followed request is.
        Resolved::Redirect(location) => match resolve(&location, None) {
            Ok(Resolved::Canonical(p)) => Ok(Some(p)),
            Err(Error::NoRoute(_)) => Ok(None),
            Ok(Resolved::Redirect(_)) => Err(Error::invalid(format!(
                "path {spelled:?} does not settle on one canonical spelling"
            ))),
            Err(e) => Err(e),
        },
    }
}

/// Go's `path.Clean` on a relative path, keeping a trailing `/`: empty and `.` segments dropped,
/// `..` removes the segment before it (and nothing at the top).
fn clean(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = segments.join("/");
    if path.ends_with('/') && !out.is_empty() {
        out.push('/');
    }
    out
}

/// Policy names are case-insensitive (stored lowercased): the canonical path names the policy
/// that will be read or written.
fn lowercase_policy_name(path: String) -> String {
    for prefix in ["sys/policies/acl/", "sys/policy/"] {
        if let Some(name) = path.strip_prefix(prefix) {
            if name.chars().any(|c| c.is_uppercase()) {
                return format!("{prefix}{}", name.to_lowercase());
            }
        }
    }
    path
}

/// `sys/mounts/<path>` and `sys/auth/<path>` (and the tables themselves) name a mount whose path Vault writes with or without
/// its trailing `/` (the Go CLI adds one, hvac does not). One spelling is canonical — without — so
/// that a policy on `sys/mounts/database` decides both.
fn mount_path_without_slash(path: String) -> String {
    let is_mount_path = ["sys/mounts/", "sys/auth/"]
        .iter()
        .any(|p| path.starts_with(p));
    match path.strip_suffix('/') {
        Some(stripped) if is_mount_path => stripped.to_owned(),
        _ => path,
    }
}

/// The rest of `path` below `prefix` on a segment boundary: `Some("")` for `prefix` itself,
/// `Some("x/y")` for `prefix/x/y`, `None` for anything else (`prefixx`, `prefi`). `prefix` has no
/// trailing `/`.
pub fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('/')
    }
}

/// Token endpoints that take the token itself as the last part of the path (Vault keeps this
/// deprecated form). The token must not reach the server log or the audit log in clear.
const TOKEN_IN_PATH: &[&str] = &[
    "auth/token/lookup/",
    "auth/token/renew/",
    "auth/token/revoke/",
    "auth/token/revoke-orphan/",
];

/// `path` with a token carried in it replaced by `replace(token)`: the audit log passes its HMAC,
/// the server log a fixed mark. Paths without a token come back unchanged.
pub fn redact_token(path: &str, replace: impl FnOnce(&str) -> String) -> String {
    for prefix in TOKEN_IN_PATH {
        if let Some(token) = path.strip_prefix(prefix) {
            if !token.is_empty() {
                return format!("{prefix}{}", replace(token));
            }
        }
    }
    path.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(raw: &str) -> String {
        match resolve(raw, None).unwrap() {
            Resolved::Canonical(p) => p.0,
            other => panic!("{raw}: {other:?}"),
        }
    }

    fn redirect(raw: &str, query: Option<&str>) -> String {
        match resolve(raw, query).unwrap() {
            Resolved::Redirect(l) => l,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn clean_paths_pass_unchanged() {
        assert_eq!(canonical("/v1/database/creds/ro"), "database/creds/ro");
        assert_eq!(canonical("/v1/database/roles/"), "database/roles/");
        assert_eq!(canonical("/v1/Database/Creds/RO"), "Database/Creds/RO");
    }

    #[test]
    fn unclean_paths_redirect_to_the_cleaned_one() {
        assert_eq!(
            redirect("/v1/database//creds/admin", None),
            "/v1/database/creds/admin"
        );
        assert_eq!(
            redirect("/v1//database/creds/admin", Some("a=b")),
            "/v1/database/creds/admin?a=b"
        );
        assert_eq!(
            redirect("/v1/database/./creds/admin", None),
            "/v1/database/creds/admin"
        );
        assert_eq!(
            redirect("/v1/database/x/../creds/admin", None),
            "/v1/database/creds/admin"
        );
        assert_eq!(redirect("/v1/sys/leases//", None), "/v1/sys/leases/");
        assert_eq!(redirect("/v1/a/b/..", None), "/v1/a");
        assert_eq!(redirect("/v1/../../sys/raw", None), "/v1/sys/raw");
    }

    #[test]
    fn percent_encoding_is_decoded_once() {
        assert_eq!(
            canonical("/v1/database/creds/%61dmin"),
            "database/creds/admin"
        );
        assert_eq!(
            canonical("/v1/database%2Fcreds%2Fadmin"),
            "database/creds/admin"
        );
        assert_eq!(redirect("/v1/database/%2e%2e/sys/raw", None), "/v1/sys/raw");
        assert_eq!(
            redirect("/v1/database%2F%2Fcreds/admin", None),
            "/v1/database/creds/admin"
        );
        // Decoded once: a double encoding stays a literal `%2F` inside one segment.
        assert_eq!(
            canonical("/v1/database/creds/a%252Fb"),
            "database/creds/a%2Fb"
        );
        // A redirect re-escapes what it must.
        assert_eq!(redirect("/v1/a//b%20c%3F", None), "/v1/a/b%20c%3F");
    }

    #[test]
    fn refused() {
        assert!(matches!(
            resolve("/v1/a/%ff", None),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            resolve("/v1/a/%00b", None),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            resolve("/v1/a%0d%0ab", None),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            resolve("/v2/sys/health", None),
            Err(Error::NoRoute(_))
        ));
        assert!(matches!(resolve("/v1/", None), Err(Error::NoRoute(_))));
        assert!(matches!(resolve("/v1//", None), Err(Error::NoRoute(_))));
        assert!(matches!(resolve("/v1/..", None), Err(Error::NoRoute(_))));
    }

    #[test]
    fn spellings_settle_on_the_path_the_request_is_served_as() {
        let settled = |s: &str| as_requested(s).unwrap().map(|p| p.as_str().to_owned());
        for spelling in [
            "secret/foo",
            "/secret/foo",
            "secret//foo",
            "secret/./foo",
            "secret/x/../foo",
            "secret/%66oo",
            "%73ecret/foo",
            "secret/foo?list=true",
            "secret/foo#frag",
        ] {
            assert_eq!(
                settled(spelling).as_deref(),
                Some("secret/foo"),
                "{spelling}"
            );
        }
        assert_eq!(settled("secret/foo/").as_deref(), Some("secret/foo/"));
        assert_eq!(settled("secret//foo//").as_deref(), Some("secret/foo/"));
        // Decoded once, as a request is: `%2566` is the literal `%66`.
        assert_eq!(settled("secret/%2566oo").as_deref(), Some("secret/%66oo"));
        assert_eq!(
            settled("sys/policy/Admin").as_deref(),
            Some("sys/policy/admin")
        );
        assert_eq!(settled("sys/mounts/db/").as_deref(), Some("sys/mounts/db"));
        assert_eq!(settled(""), None);
        assert_eq!(settled("//./"), None);
        assert_eq!(settled(".."), None);
        assert!(as_requested("a/%00").is_err());
        assert!(as_requested("a/%ff").is_err());
    }

    #[test]
    fn policy_names_are_lowercased() {
        assert_eq!(
            canonical("/v1/sys/policies/acl/Admin"),
            "sys/policies/acl/admin"
        );
        assert_eq!(canonical("/v1/sys/policy/ADMIN"), "sys/policy/admin");
        assert_eq!(canonical("/v1/sys/policy"), "sys/policy");
    }

    #[test]
    fn mount_paths_lose_their_trailing_slash() {
        assert_eq!(canonical("/v1/sys/mounts/database/"), "sys/mounts/database");
        assert_eq!(canonical("/v1/sys/auth/approle/"), "sys/auth/approle");
        assert_eq!(canonical("/v1/sys/mounts/team/db"), "sys/mounts/team/db");
        assert_eq!(canonical("/v1/sys/mounts/"), "sys/mounts");
    }

    #[test]
    fn list_paths_end_in_one_slash() {
        let p = CanonicalPath::parse("database/roles").unwrap();
        assert_eq!(p.for_list().as_str(), "database/roles/");
        let p = CanonicalPath::parse("database/roles/").unwrap();
        assert_eq!(p.for_list().as_str(), "database/roles/");
        assert!(CanonicalPath::parse("a//b").is_err());
    }

    #[test]
    fn tokens_in_paths_are_redacted() {
        let mark = |_: &str| "[redacted]".to_owned();
        assert_eq!(
            redact_token("auth/token/lookup/hvs.secret", mark),
            "auth/token/lookup/[redacted]"
        );
        assert_eq!(
            redact_token("auth/token/revoke-orphan/s.x", mark),
            "auth/token/revoke-orphan/[redacted]"
        );
        assert_eq!(redact_token("auth/token/lookup", mark), "auth/token/lookup");
        assert_eq!(
            redact_token("auth/token/lookup-accessor/abc", mark),
            "auth/token/lookup-accessor/abc"
        );
    }

    #[test]
    fn below_is_on_segment_boundaries() {
        assert_eq!(below("sys/leases", "sys/leases"), Some(""));
        assert_eq!(below("sys/leases/renew", "sys/leases"), Some("renew"));
        assert_eq!(below("sys/leasesrenew", "sys/leases"), None);
        assert_eq!(below("sys/policies/acladmin", "sys/policies/acl"), None);
        assert_eq!(below("sys/lease", "sys/leases"), None);
    }
}
