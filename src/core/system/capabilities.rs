//! `sys/capabilities-self`, `sys/capabilities` and `sys/capabilities-accessor`: what a token may
//! do on given paths, as Vault answers it (one key per path as asked, plus `capabilities` when
//! one path was asked).
//!
//! Each path is first settled exactly as a request to it would be ([`as_requested`]): decoded
//! once, `//`, `.` and `..` cleaned as the redirect the client follows does, policy names
//! lowercased. So the answer for any spelling is the answer for the path the request would be
//! authorized as, and cannot disagree with what the request itself is allowed. Like Vault,
//! none of the three is root-protected: `capabilities-self` is granted by the `default` policy;
//! the two that name another token need `update` on their own path.

use leasehold_backend::Fields;
use serde_json::{json, Map};

use crate::auth::policy::{Acl, Capability};
use crate::auth::TokenEntry;
use crate::core::api::{ApiRequest, ApiResponse, Envelope, Method};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::http::path::as_requested;

/// Which token a capabilities path asks about.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The caller's (`sys/capabilities-self`).
    Caller,
    /// A token given in the body (`sys/capabilities`).
    Token,
    /// A token named by its accessor (`sys/capabilities-accessor`).
    Accessor,
}

/// Serve one of the three paths.
pub async fn handle(
    core: &Core,
    req: &ApiRequest,
    caller: &TokenEntry,
    whose: Whose,
) -> Result<ApiResponse> {
    if req.method != Method::Write {
        return Err(Error::UnsupportedOperation);
    }
    let fields = Fields::new(req.data.clone());
    let paths = paths(&fields)?;
    let now = core.clock.now();
    let subject = match whose {
        Whose::Caller => caller.clone(),
        Whose::Token => {
            let token = fields
                .str("token")
                .map_err(Error::from)?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::invalid("missing token"))?;
            core.tokens
                .lookup(&token, now)
                .await?
                .ok_or_else(|| Error::invalid("invalid token"))?
        }
        Whose::Accessor => {
            let accessor = fields
                .str("accessor")
                .map_err(Error::from)?
                .filter(|a| !a.is_empty())
                .ok_or_else(|| Error::invalid("missing accessor"))?;
            match core.tokens.by_accessor(&accessor).await? {
                Some(e) if e.is_live(now) && core.tokens.ancestors_live(&e, now).await? => e,
                _ => return Err(Error::invalid("invalid accessor")),
            }
        }
    };
    let acl = core.policies.acl(&subject.policies).await?;
    let mut data = Map::new();
    let mut single = None;
    for spelled in &paths {
        let names = names_for(&acl, spelled)?;
        if paths.len() == 1 {
            single = Some(names.clone());
        }
        data.insert(spelled.clone(), json!(names));
    }
    if let Some(names) = single {
        data.insert("capabilities".into(), json!(names));
    }
    Ok(ApiResponse::Ok(Envelope {
        data: Some(data),
        mount_type: "system".into(),
        data_at_top_level: true,
        ..Envelope::default()
    }))
}

/// The capability words for `spelled`, looked up on the path a request to it is served as. A
/// spelling that reaches no path gets `deny`, as nothing there can be done.
pub fn names_for(acl: &Acl, spelled: &str) -> Result<Vec<&'static str>> {
    Ok(match as_requested(spelled)? {
        Some(path) => acl.capability_names(path.as_str()),
        None => vec![Capability::Deny.as_str()],
    })
}

/// `paths` (a list, or a comma-separated string), else the older single `path`.
fn paths(fields: &Fields) -> Result<Vec<String>> {
    let mut paths = fields
        .comma_list("paths")
        .map_err(Error::from)?
        .unwrap_or_default();
    if paths.is_empty() {
        if let Some(p) = fields.str("path").map_err(Error::from)? {
            paths.push(p);
        }
    }
    paths.retain(|p| !p.trim().is_empty());
    if paths.is_empty() {
        return Err(Error::invalid("missing paths"));
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy::parse;
    use proptest::prelude::*;

    const RULES: &str = r#"
path "database/creds/ro" { capabilities = ["read"] }
path "database/creds/admin" { capabilities = ["deny"] }
path "database/creds/*" { capabilities = ["list"] }
path "database/+/x" { capabilities = ["update"] }
path "sys/policy/dba" { capabilities = ["read", "update"] }
"#;

    /// One way of writing a segment differently without naming another path.
    #[derive(Debug, Clone)]
    enum Respell {
        /// An empty segment before it (`a//b`).
        Empty(usize),
        /// A `.` segment before it.
        Dot(usize),
        /// A detour: `q/..` before it.
        Detour(usize),
        /// Its `n`th character percent-encoded.
        Encode(usize, usize),
        /// A leading `/`.
        Leading,
    }

    fn respell(canonical: &str, how: &[Respell]) -> String {
        // Each segment as a list of pieces, so that edits never see each other's output.
        let mut prefix: Vec<String> = canonical.split('/').map(|_| String::new()).collect();
        let mut segs: Vec<String> = canonical.split('/').map(str::to_owned).collect();
        let mut leading = false;
        let n = segs.len();
        for h in how {
            match h {
                Respell::Empty(i) => prefix[i % n].push('/'),
                Respell::Dot(i) => prefix[i % n].push_str("./"),
                Respell::Detour(i) => prefix[i % n].push_str("q/../"),
                Respell::Encode(i, c) => {
                    let seg = &segs[i % n];
                    // Only plain characters: encoding an escape's `%` would name another path.
                    let chars: Vec<char> = seg.chars().collect();
                    let at = c % chars.len().max(1);
                    if chars.get(at).is_some_and(|ch| ch.is_ascii_alphanumeric())
                        && !seg.contains('%')
                    {
                        let mut out = String::new();
                        for (k, ch) in chars.iter().enumerate() {
                            if k == at {
                                out.push_str(&format!("%{:02X}", *ch as u32));
                            } else {
                                out.push(*ch);
                            }
                        }
                        segs[i % n] = out;
                    }
                }
                Respell::Leading => leading = true,
            }
        }
        let body: Vec<String> = prefix
            .iter()
            .zip(&segs)
            .map(|(p, s)| format!("{p}{s}"))
            .collect();
        format!("{}{}", if leading { "/" } else { "" }, body.join("/"))
    }

    fn respelling() -> impl Strategy<Value = Respell> {
        prop_oneof![
            any::<usize>().prop_map(Respell::Empty),
            any::<usize>().prop_map(Respell::Dot),
            any::<usize>().prop_map(Respell::Detour),
            (any::<usize>(), any::<usize>()).prop_map(|(i, c)| Respell::Encode(i, c)),
            Just(Respell::Leading),
        ]
    }

    #[test]
    fn respellings_are_what_they_say() {
        use Respell::*;
        assert_eq!(
            respell(
                "a/bc",
                &[Empty(1), Dot(0), Detour(1), Encode(1, 1), Leading]
            ),
            "/./a//q/../b%63"
        );
        assert_eq!(
            as_requested("/./a//q/../b%63").unwrap().unwrap().as_str(),
            "a/bc"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn a_respelled_path_answers_as_its_canonical_form(
            which in 0usize..6,
            how in prop::collection::vec(respelling(), 0..5),
        ) {
            let canonical = [
                "database/creds/ro",
                "database/creds/admin",
                "database/creds/other",
                "database/y/x",
                "sys/policy/dba",
                "secret/nothing",
            ][which];
            let policy = parse("p", RULES).unwrap();
            let acl = Acl::new([&policy]);
            let spelled = respell(canonical, &how);
            prop_assert_eq!(
                names_for(&acl, &spelled).unwrap(),
                names_for(&acl, canonical).unwrap(),
                "{}", spelled
            );
        }
    }

    #[test]
    fn every_spelling_answers_as_the_canonical_path() {
        let policy = parse(
            "p",
            r#"
path "secret/foo" { capabilities = ["read"] }
path "secret/foo/" { capabilities = ["list"] }
path "secret/bar*" { capabilities = ["update"] }
path "sys/policy/admin" { capabilities = ["deny"] }
path "sys/policy/*" { capabilities = ["read"] }
"#,
        )
        .unwrap();
        let acl = Acl::new([&policy]);
        for s in [
            "secret/foo",
            "/secret/foo",
            "secret//foo",
            "secret/./foo",
            "secret/%66oo",
        ] {
            assert_eq!(names_for(&acl, s).unwrap(), ["read"], "{s}");
        }
        assert_eq!(names_for(&acl, "secret//foo//").unwrap(), ["list"]);
        // The policy name is lowercased on the way in, so the deny on `admin` holds for `Admin`.
        assert_eq!(names_for(&acl, "sys/policy/Admin").unwrap(), ["deny"]);
        assert_eq!(names_for(&acl, "sys/policy/other").unwrap(), ["read"]);
        assert_eq!(names_for(&acl, "").unwrap(), ["deny"]);
        assert!(names_for(&acl, "secret/%00").is_err());
    }
}
