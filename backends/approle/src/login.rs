//! `POST login`: exchange a role id (and, when the role binds one, a secret id) for an
//! [`AuthGrant`].
//!
//! Order of checks: the role id names a role; the client address is inside the role's
//! `secret_id_bound_cidrs`; the secret id exists, has not expired and the client is inside its
//! `cidr_list`; the client is inside the token's bound CIDRs. Only when all pass is a use taken
//! from the secret id, so a refused login never costs a use. An unknown role id and an unknown,
//! expired or used-up secret id get the same answer, `invalid role or secret ID`.
//!
//! Login takes no lock. Every server sharing the storage may be serving a login with the same
//! secret id at the same moment, so the use is taken with a compare-and-put against the entry
//! as this login read it ([`entries::take_use`]); a login that loses that race reads the entry
//! again and checks it again, so a secret id limited to N uses admits at most N logins across
//! all servers. (Vault takes a per-secret-id lock in one process, which holds for one active
//! node only; here every node serves logins.)
//!
//! The file runs past 400 lines only because of its tests; the login itself is about 200.

use std::net::IpAddr;

use leasehold_backend::{AuthGrant, BackendError, Request, Response};
use secrecy::{ExposeSecret, SecretString};

use super::error::AppRoleError;
use super::mac::Purpose;
use super::role::{self, RoleEntry};
use super::secret_id_entry::{self as entries, SecretIdEntry, StoredEntry, UseTaken};
use super::AppRoleBackend;
use leasehold_backend::cidr;

/// How many times one login re-reads a secret id that changed under it before it gives up.
/// Every lost race means another login took a use, so a one-use secret id is settled on the
/// first re-read (it is gone); only a secret id with many uses left and more concurrent logins
/// than this can exhaust it, and then the login is refused without having taken a use.
const MAX_LOST_RACES: usize = 16;

/// Log and return a refusal. Refusals are the caller's fault, so they are logged at info, and
/// never with the values that were sent.
fn refuse(role: Option<&str>, reason: &'static str, err: AppRoleError) -> BackendError {
    tracing::info!(
        role.name = role.unwrap_or(""),
        reason,
        "refused an AppRole login: {reason}"
    );
    err.into()
}

/// Refuse unless `addr` passes the CIDR binding `blocks` (of the role, a secret id or tokens).
fn check_address(
    blocks: &[String],
    addr: Option<IpAddr>,
    name: &str,
    bound_to: &'static str,
) -> Result<(), BackendError> {
    if cidr::allows(blocks, addr) {
        return Ok(());
    }
    Err(refuse(
        Some(name),
        "client address outside a CIDR binding",
        AppRoleError::SourceAddressRefused {
            addr: addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string()),
            bound_to,
        },
    ))
}

/// The role a login names through its `role_id` (for role rate-limit quotas), without checking
/// anything else: the login itself decides whether it succeeds.
pub(super) async fn role_of(
    be: &AppRoleBackend,
    req: &Request,
) -> Result<Option<String>, BackendError> {
    let Some(role_id) = req.fields.str("role_id")?.filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    let storage = req.storage.as_ref();
    let key = be.key(storage).await?;
    role::name_for_role_id(storage, key, &role_id).await
}

/// `POST login`.
#[tracing::instrument(skip_all)]
pub(super) async fn login(
    be: &AppRoleBackend,
    req: &Request,
) -> Result<Option<Response>, BackendError> {
    let role_id = match req.fields.str("role_id")? {
        Some(id) if !id.is_empty() => id,
        _ => return Err(AppRoleError::MissingRoleId.into()),
    };
    let storage = req.storage.as_ref();
    let key = be.key(storage).await?;
    let Some(name) = role::name_for_role_id(storage, key, &role_id).await? else {
        return Err(refuse(
            None,
            "unknown role id",
            AppRoleError::InvalidCredentials,
        ));
    };
    // The index may be stale (role deleted, role id replaced); the role's own id decides.
    let role = match role::load(storage, &name).await? {
        Some(role) if role.role_id == role_id => role,
        _ => {
            let err = AppRoleError::InvalidCredentials;
            return Err(refuse(Some(&name), "unknown role id", err));
        }
    };
    let addr = req.remote_addr;
    check_address(&role.secret_id_bound_cidrs, addr, &name, "role")?;
    if !role.bind_secret_id {
        check_address(&role.token.bound_cidrs, addr, &name, "role's tokens")?;
        tracing::info!(role.name = %name, "AppRole login to role {name} without a secret ID");
        return Ok(Some(Response::login(grant(&name, &role, None))));
    }
    let hash = secret_id_hash(be, req, &name).await?;
    for _ in 0..MAX_LOST_RACES {
        let stored = check_secret_id(be, req, &name, &hash).await?;
        let token_cidrs = if stored.entry.token_bound_cidrs.is_empty() {
            &role.token.bound_cidrs
        } else {
            &stored.entry.token_bound_cidrs
        };
        check_address(token_cidrs, addr, &name, "role's tokens")?;
        match entries::take_use(storage, &name, &hash, &stored, be.now()).await? {
            UseTaken::Taken => {
                let accessor = &stored.entry.accessor;
                tracing::info!(role.name = %name, secret_id.accessor = %accessor, "AppRole login to role {name}");
                return Ok(Some(Response::login(grant(
                    &name,
                    &role,
                    Some(&stored.entry),
                ))));
            }
            UseTaken::LostRace => continue,
        }
    }
    Err(refuse(
        Some(&name),
        "secret id changed under the login too often",
        AppRoleError::SecretIdContended,
    ))
}

/// The hash of the request's `secret_id`, under which its entry is stored.
async fn secret_id_hash(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<String, BackendError> {
    let secret = match req.fields.str("secret_id")? {
        Some(s) if !s.is_empty() => SecretString::from(s),
        _ => {
            return Err(refuse(
                Some(name),
                "no secret id",
                AppRoleError::MissingSecretId,
            ))
        }
    };
    let key = be.key(req.storage.as_ref()).await?;
    Ok(key.hash(Purpose::SecretId, secret.expose_secret())?)
}

/// The live secret id stored under `hash`, as read now; expired ones are removed on sight.
async fn check_secret_id(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
    hash: &str,
) -> Result<StoredEntry, BackendError> {
    let storage = req.storage.as_ref();
    let Some(stored) = entries::load_stored(storage, name, hash).await? else {
        return Err(refuse(
            Some(name),
            "unknown secret id",
            AppRoleError::InvalidCredentials,
        ));
    };
    if stored.entry.is_expired(be.now()) {
        // Expiry is final, so removing it races with nothing: a login that read it before it
        // expired and takes a use first has logged in in time; one that does not finds it gone.
        entries::remove(storage, name, hash, &stored.entry.accessor).await?;
        return Err(refuse(
            Some(name),
            "expired secret id",
            AppRoleError::InvalidCredentials,
        ));
    }
    check_address(&stored.entry.cidr_list, req.remote_addr, name, "secret ID")?;
    Ok(stored)
}

/// What the token will be: the role's token settings, the secret id's token CIDRs if it has
/// any, and metadata naming the role (which secret id metadata cannot override).
fn grant(name: &str, role: &RoleEntry, secret: Option<&SecretIdEntry>) -> AuthGrant {
    let mut grant = role.token.grant();
    if let Some(entry) = secret {
        if !entry.token_bound_cidrs.is_empty() {
            grant.bound_cidrs = entry.token_bound_cidrs.clone();
        }
        grant.metadata = entry.metadata.clone();
    }
    grant
        .metadata
        .insert("role_name".to_owned(), name.to_owned());
    grant.display_name = "approle".to_owned();
    // Below the mount: the core records `auth/<mount>role/<name>`.
    grant.workload = format!("role/{name}");
    grant
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use std::sync::Arc;
    use std::time::Duration;

    use leasehold_backend::{AuthGrant, BackendError, MountStorage};
    use serde_json::json;

    use crate::testing::{ip, Harness};

    const REFUSED: &str = "invalid role or secret ID";

    #[tokio::test]
    async fn login_yields_the_grant() {
        let h = Harness::new();
        h.write(
            "role/ci",
            json!({"token_policies": "deploy,read-db", "token_ttl": "20m", "token_max_ttl": "1h",
                   "token_num_uses": 10, "token_period": 0}),
        )
        .await
        .unwrap();
        let role_id = h.role_id("ci").await;
        let gen = h
            .write(
                "role/ci/secret-id",
                json!({"metadata": "{\"pipeline\": \"build-42\", \"role_name\": \"spoof\"}"}),
            )
            .await
            .unwrap()
            .unwrap();
        let sid = gen.data.unwrap()["secret_id"].as_str().unwrap().to_owned();
        let grant = h
            .login(json!({"role_id": role_id, "secret_id": sid}), None)
            .await
            .unwrap();
        assert_eq!(
            grant,
            AuthGrant {
                policies: vec!["deploy".into(), "read-db".into()],
                no_default_policy: false,
                ttl: Duration::from_secs(1200),
                max_ttl: Duration::from_secs(3600),
                period: Duration::ZERO,
                num_uses: 10,
                display_name: "approle".into(),
                metadata: [
                    ("pipeline".to_owned(), "build-42".to_owned()),
                    ("role_name".to_owned(), "ci".to_owned()),
                ]
                .into(),
                workload: "role/ci".into(),
                bound_cidrs: vec![],
            }
        );
    }

    #[tokio::test]
    async fn wrong_halves_get_the_same_answer() {
        let h = Harness::new();
        h.write("role/ci", json!({})).await.unwrap();
        h.write("role/other", json!({})).await.unwrap();
        let role_id = h.role_id("ci").await;
        let sid = h.secret_id("ci").await;
        let other_sid = h.secret_id("other").await;
        for body in [
            json!({"role_id": role_id, "secret_id": "not-it"}),
            json!({"role_id": "no-such-role-id", "secret_id": sid}),
            json!({"role_id": role_id, "secret_id": other_sid}),
        ] {
            let err = h.login(body.clone(), None).await.unwrap_err();
            assert!(matches!(err, BackendError::InvalidRequest(_)), "{body}");
            assert_eq!(err.to_string(), REFUSED, "{body}");
        }
        let err = h.login(json!({"secret_id": sid}), None).await.unwrap_err();
        assert!(matches!(&err, BackendError::InvalidRequest(m) if m == "missing role_id"));
        // hvac sends `secret_id: null` when it is omitted; Fields drops the null.
        let err = h
            .login(json!({"role_id": role_id, "secret_id": null}), None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "missing secret_id");
        // None of the refusals used up the secret id.
        h.login(json!({"role_id": role_id, "secret_id": sid}), None)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn num_uses_allows_exactly_that_many_logins() {
        let h = Harness::new();
        h.write("role/ci", json!({"secret_id_num_uses": 2}))
            .await
            .unwrap();
        let role_id = h.role_id("ci").await;
        let sid = h.secret_id("ci").await;
        let body = json!({"role_id": role_id, "secret_id": sid});
        h.login(body.clone(), None).await.unwrap();
        let d = h
            .write("role/ci/secret-id/lookup", json!({"secret_id": sid}))
            .await
            .unwrap()
            .unwrap()
            .data
            .unwrap();
        assert_eq!(d["secret_id_num_uses"], 1);
        h.login(body.clone(), None).await.unwrap();
        let err = h.login(body, None).await.unwrap_err();
        assert_eq!(err.to_string(), REFUSED);
        assert_eq!(
            h.list("role/ci/secret-id").await.unwrap()["keys"],
            json!([])
        );
    }

    /// Fire `attempts` logins with one fresh secret id of `num_uses` at once, spread over
    /// `nodes` (servers sharing one storage); how many got a grant. Every refusal must be the
    /// ordinary one, and afterwards the secret id must be gone from storage.
    async fn concurrent_logins(nodes: &[Arc<Harness>], num_uses: u64, attempts: usize) -> usize {
        let first = &nodes[0];
        let role_id = first.role_id("ci").await;
        let gen = first
            .write("role/ci/secret-id", json!({"num_uses": num_uses}))
            .await
            .unwrap()
            .unwrap();
        let sid = gen.data.unwrap()["secret_id"].clone();
        let body = json!({"role_id": role_id, "secret_id": sid});
        let tasks: Vec<_> = (0..attempts)
            .map(|i| {
                let (h, body) = (Arc::clone(&nodes[i % nodes.len()]), body.clone());
                tokio::spawn(async move { h.login(body, None).await })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(grant) => {
                    assert_eq!(grant.workload, "role/ci");
                    ok += 1;
                }
                Err(e) => assert_eq!(e.to_string(), REFUSED),
            }
        }
        // Used up: nothing is left to log in with, not even a marked entry.
        assert!(first.storage.keys_with("secret-id/").is_empty());
        assert!(first.storage.keys_with("accessor/").is_empty());
        let err = first.login(body, None).await.unwrap_err();
        assert_eq!(err.to_string(), REFUSED);
        ok
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn num_uses_holds_under_concurrent_logins() {
        let h = Arc::new(Harness::new());
        h.write("role/ci", json!({})).await.unwrap();
        for _ in 0..5 {
            assert_eq!(concurrent_logins(&[Arc::clone(&h)], 1, 16).await, 1);
            assert_eq!(concurrent_logins(&[Arc::clone(&h)], 3, 16).await, 3);
        }
    }

    /// Two servers on one storage: no lock in either process sees the other's logins, so
    /// only the storage's compare-and-put keeps the count.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn num_uses_holds_across_servers_sharing_storage() {
        let a = Arc::new(Harness::new());
        let b = Arc::new(a.second_node());
        a.write("role/ci", json!({})).await.unwrap();
        let nodes = [a, b];
        for _ in 0..5 {
            assert_eq!(concurrent_logins(&nodes, 1, 16).await, 1);
            assert_eq!(concurrent_logins(&nodes, 3, 16).await, 3);
        }
    }

    /// A server that died between marking a secret id's last use and deleting it leaves the
    /// marked entry: it must not log in, and a listing finishes the removal.
    #[tokio::test]
    async fn a_used_up_entry_left_by_a_crash_reads_as_gone() {
        let h = Harness::new();
        h.write("role/ci", json!({"secret_id_num_uses": 1}))
            .await
            .unwrap();
        let role_id = h.role_id("ci").await;
        let sid = h.secret_id("ci").await;
        let key = h.storage.keys_with("secret-id/ci/").pop().unwrap();
        let mut entry: serde_json::Value =
            serde_json::from_slice(&h.storage.get(&key).await.unwrap().unwrap()).unwrap();
        entry["used_up"] = json!(true);
        h.storage
            .put(&key, &serde_json::to_vec(&entry).unwrap())
            .await
            .unwrap();
        let err = h
            .login(json!({"role_id": role_id, "secret_id": sid}), None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), REFUSED);
        let lookup = h
            .write("role/ci/secret-id/lookup", json!({"secret_id": sid}))
            .await
            .unwrap();
        assert!(lookup.is_none());
        assert_eq!(
            h.list("role/ci/secret-id").await.unwrap()["keys"],
            json!([])
        );
        assert!(h.storage.keys_with("secret-id/").is_empty());
        assert!(h.storage.keys_with("accessor/").is_empty());
    }

    #[tokio::test]
    async fn expired_secret_id_is_refused_and_removed() {
        let h = Harness::new();
        h.write("role/ci", json!({"secret_id_ttl": "10m"}))
            .await
            .unwrap();
        let role_id = h.role_id("ci").await;
        let long = h.secret_id("ci").await;
        let short = h
            .write("role/ci/secret-id", json!({"ttl": 60}))
            .await
            .unwrap()
            .unwrap()
            .data
            .unwrap()["secret_id"]
            .clone();
        h.advance(Duration::from_secs(61));
        let err = h
            .login(json!({"role_id": role_id, "secret_id": short}), None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), REFUSED);
        h.login(json!({"role_id": role_id, "secret_id": long}), None)
            .await
            .unwrap();
        h.advance(Duration::from_secs(600));
        let err = h
            .login(json!({"role_id": role_id, "secret_id": long}), None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), REFUSED);
        assert!(h.storage.keys_with("secret-id/").is_empty());
    }

    #[tokio::test]
    async fn cidr_bound_secret_id() {
        let h = Harness::new();
        h.write("role/ci", json!({"secret_id_bound_cidrs": "10.0.0.0/8"}))
            .await
            .unwrap();
        let role_id = h.role_id("ci").await;
        let sid = h
            .write(
                "role/ci/secret-id",
                json!({"cidr_list": "10.1.0.0/16,10.2.0.7"}),
            )
            .await
            .unwrap()
            .unwrap()
            .data
            .unwrap()["secret_id"]
            .clone();
        let body = json!({"role_id": role_id, "secret_id": sid});
        for (addr, bound_to) in [
            (ip("192.168.0.1"), "role"),
            (ip("10.3.0.1"), "secret ID"),
            (None, "role"),
        ] {
            let err = h.login(body.clone(), addr).await.unwrap_err();
            assert!(matches!(err, BackendError::InvalidRequest(_)));
            assert!(err.to_string().contains(bound_to), "{err}");
        }
        h.login(body.clone(), ip("10.1.200.3")).await.unwrap();
        h.login(body, ip("10.2.0.7")).await.unwrap();
        // A secret id may not be bound more widely than its role.
        let err = h
            .write("role/ci/secret-id", json!({"cidr_list": "0.0.0.0/0"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cidr_list"));
    }

    #[tokio::test]
    async fn no_secret_id_with_token_bound_cidrs() {
        let h = Harness::new();
        h.write(
            "role/edge",
            json!({"bind_secret_id": false, "token_bound_cidrs": "192.168.10.0/24",
                   "token_policies": ["edge"]}),
        )
        .await
        .unwrap();
        let role_id = h.role_id("edge").await;
        let grant = h
            .login(json!({"role_id": role_id}), ip("192.168.10.20"))
            .await
            .unwrap();
        assert_eq!(grant.bound_cidrs, vec!["192.168.10.0/24"]);
        assert_eq!(grant.policies, vec!["edge"]);
        assert_eq!(grant.workload, "role/edge");
        let err = h
            .login(json!({"role_id": role_id}), ip("192.168.11.20"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("192.168.11.20"), "{err}");
        // Secret ids make no sense for such a role.
        let err = h.write("role/edge/secret-id", json!({})).await.unwrap_err();
        assert!(err.to_string().contains("bind_secret_id"));
    }

    #[tokio::test]
    async fn secret_id_token_cidrs_override_the_role() {
        let h = Harness::new();
        h.write("role/ci", json!({"token_bound_cidrs": "10.0.0.0/8"}))
            .await
            .unwrap();
        let role_id = h.role_id("ci").await;
        let sid = h
            .write(
                "role/ci/secret-id",
                json!({"token_bound_cidrs": ["10.9.0.0/16"]}),
            )
            .await
            .unwrap()
            .unwrap()
            .data
            .unwrap()["secret_id"]
            .clone();
        let grant = h
            .login(
                json!({"role_id": role_id, "secret_id": sid}),
                ip("10.9.1.1"),
            )
            .await
            .unwrap();
        assert_eq!(grant.bound_cidrs, vec!["10.9.0.0/16"]);
        let err = h
            .login(
                json!({"role_id": role_id, "secret_id": sid}),
                ip("10.8.1.1"),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("10.8.1.1"));
    }

    #[tokio::test]
    async fn deleted_role_refuses_login() {
        let h = Harness::new();
        h.write("role/ci", json!({"role_id": "fixed"}))
            .await
            .unwrap();
        let sid = h.secret_id("ci").await;
        h.delete("role/ci").await.unwrap();
        h.write("role/ci", json!({"role_id": "fixed"}))
            .await
            .unwrap();
        // Same name and role id, but the old secret id died with the old role.
        let err = h
            .login(json!({"role_id": "fixed", "secret_id": sid}), None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), REFUSED);
    }
}
