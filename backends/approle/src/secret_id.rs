//! Secret ids of a role: generate (`role/:name/secret-id`), register a caller's own
//! (`custom-secret-id`), list by accessor, look up and destroy by value or by accessor.
//!
//! A secret id is handed out once and stored only as its HMAC (`secret_id_entry.rs`); its
//! accessor (a UUID) is the public handle administrators use. A new secret id may narrow its
//! role's limits (fewer uses, a shorter life, a narrower CIDR binding) but never widen them.
//! Expired entries are removed when something touches them (login, lookup, list); there is no
//! background tidy.
//!
//! Every function that reads and then writes a role's secret ids holds the role's lock.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use leasehold_backend::{BackendError, Fields, MountStorage, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::error::AppRoleError;
use super::mac::Purpose;
use super::role::{self, RoleEntry};
use super::secret_id_entry::{self as entries, SecretIdEntry};
use super::{unknown_fields_warning, AppRoleBackend};
use leasehold_backend::cidr;

const CREATE_FIELDS: &[&str] = &[
    "role_name",
    "secret_id",
    "metadata",
    "cidr_list",
    "token_bound_cidrs",
    "num_uses",
    "ttl",
];

/// `POST role/:name/secret-id`: a new random secret id.
pub(super) async fn generate(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let secret = SecretString::from(uuid::Uuid::new_v4().to_string());
    create(be, req, name, secret).await
}

/// `POST role/:name/custom-secret-id`: register the caller's `secret_id`.
pub(super) async fn custom(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let secret = SecretString::from(req.fields.required_str("secret_id")?);
    create(be, req, name, secret).await
}

/// The limits a new secret id gets, from the request and its role.
struct NewSecretId {
    metadata: BTreeMap<String, String>,
    cidr_list: Vec<String>,
    token_bound_cidrs: Vec<String>,
    num_uses: u64,
    ttl_secs: u64,
}

impl NewSecretId {
    fn parse(f: &Fields, role: &RoleEntry) -> Result<Self, BackendError> {
        let cidr_list =
            cidr::validate("cidr_list", f.comma_list("cidr_list")?.unwrap_or_default())?;
        if !cidr::within(&cidr_list, &role.secret_id_bound_cidrs) {
            return Err(AppRoleError::field(
                "cidr_list",
                "must lie within the role's secret_id_bound_cidrs",
            )
            .into());
        }
        let token_bound_cidrs = cidr::validate(
            "token_bound_cidrs",
            f.comma_list("token_bound_cidrs")?.unwrap_or_default(),
        )?;
        if !cidr::within(&token_bound_cidrs, &role.token.bound_cidrs) {
            return Err(AppRoleError::field(
                "token_bound_cidrs",
                "must lie within the role's token_bound_cidrs",
            )
            .into());
        }
        let num_uses = match f.int("num_uses")? {
            None => role.secret_id_num_uses,
            Some(n) => u64::try_from(n)
                .map_err(|_| AppRoleError::field("num_uses", "must not be negative"))?,
        };
        let ttl_secs = f
            .duration("ttl")?
            .map_or(role.secret_id_ttl_secs, |d| d.as_secs());
        let uses_limit = role.secret_id_num_uses;
        check_limit("num_uses", num_uses, uses_limit, "secret_id_num_uses", "")?;
        check_limit(
            "ttl",
            ttl_secs,
            role.secret_id_ttl_secs,
            "secret_id_ttl",
            "s",
        )?;
        Ok(Self {
            metadata: parse_metadata(f)?,
            cidr_list,
            token_bound_cidrs,
            num_uses,
            ttl_secs,
        })
    }
}

/// Refuse `value` unless the role's `limit` (zero: none) allows it. Zero means "unlimited" for
/// the secret id too, so it is refused under a limited role.
fn check_limit(
    field: &'static str,
    value: u64,
    limit: u64,
    role_field: &str,
    unit: &str,
) -> Result<(), AppRoleError> {
    if limit != 0 && (value == 0 || value > limit) {
        let reason = format!("must be between 1{unit} and the role's {role_field} ({limit}{unit})");
        return Err(AppRoleError::field(field, reason));
    }
    Ok(())
}

/// When a secret id with `ttl_secs` of life made at `now` expires; `None` for never.
fn expiry(now: DateTime<Utc>, ttl_secs: u64) -> Result<Option<DateTime<Utc>>, AppRoleError> {
    if ttl_secs == 0 {
        return Ok(None);
    }
    let too_long = || AppRoleError::field("ttl", "is too long");
    let ttl = chrono::Duration::from_std(Duration::from_secs(ttl_secs)).map_err(|_| too_long())?;
    now.checked_add_signed(ttl).map(Some).ok_or_else(too_long)
}

/// The answer to a generate: the secret id, the only time it is shown, and its limits.
fn issued(req: &Request, secret: &SecretString, entry: &SecretIdEntry) -> Response {
    let mut data = Map::new();
    data.insert("secret_id".into(), json!(secret.expose_secret()));
    data.insert("secret_id_accessor".into(), json!(entry.accessor));
    data.insert("secret_id_ttl".into(), json!(entry.ttl_secs));
    data.insert("secret_id_num_uses".into(), json!(entry.num_uses));
    let mut resp = Response::data(data);
    if let Some(w) = unknown_fields_warning(req, CREATE_FIELDS) {
        resp.warnings = w.warnings;
    }
    resp
}

/// `metadata` as a JSON object of strings, or as a string holding one (hvac sends that).
fn parse_metadata(f: &Fields) -> Result<BTreeMap<String, String>, AppRoleError> {
    let bad = || AppRoleError::field("metadata", "must be a JSON object of string values");
    match f.raw("metadata") {
        None => Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(BTreeMap::new()),
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|_| bad()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad()),
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

#[tracing::instrument(skip_all, fields(role.name = %name))]
async fn create(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
    secret: SecretString,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let _guard = be.locks.lock(name).await;
    let role = role::load_existing(storage, name).await?;
    if !role.bind_secret_id {
        return Err(AppRoleError::SecretIdsNotBound {
            role: name.to_owned(),
        }
        .into());
    }
    let new = NewSecretId::parse(&req.fields, &role)?;
    let key = be.key(storage).await?;
    let hash = key.hash(Purpose::SecretId, secret.expose_secret())?;
    if entries::load(storage, name, &hash).await?.is_some() {
        return Err(AppRoleError::SecretIdExists {
            role: name.to_owned(),
        }
        .into());
    }
    let now = be.now();
    let entry = SecretIdEntry {
        accessor: uuid::Uuid::new_v4().to_string(),
        metadata: new.metadata,
        cidr_list: new.cidr_list,
        token_bound_cidrs: new.token_bound_cidrs,
        num_uses: new.num_uses,
        ttl_secs: new.ttl_secs,
        creation_time: now,
        last_updated_time: now,
        expiration_time: expiry(now, new.ttl_secs)?,
        used_up: false,
    };
    entries::insert(storage, name, &hash, &entry).await?;
    tracing::info!(role.name = %name, secret_id.accessor = %entry.accessor, "issued a secret ID for AppRole role {name}");
    Ok(Some(issued(req, &secret, &entry)))
}

/// `LIST role/:name/secret-id`: the accessors of live secret ids. Expired ones are removed.
pub(super) async fn list(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let storage = req.storage.as_ref();
    let _guard = be.locks.lock(name).await;
    role::load_existing(storage, name).await?;
    let mut keys = Vec::new();
    for accessor in entries::accessors(storage, name).await? {
        let Some(hash) = entries::hash_for_accessor(storage, name, &accessor).await? else {
            continue;
        };
        match live(be, storage, name, hash.clone()).await? {
            Some(_) => keys.push(accessor),
            // Expired (and now removed), or left by a crash between the steps of a removal
            // (an accessor alone, or an entry marked used up): finish the removal.
            None => entries::remove(storage, name, &hash, &accessor).await?,
        }
    }
    Ok(Some(leasehold_backend::list::keys(keys)))
}

/// The entry under `hash` and the hash, unless it is absent or expired (then it is removed).
async fn live(
    be: &AppRoleBackend,
    storage: &dyn MountStorage,
    name: &str,
    hash: String,
) -> Result<Option<(String, SecretIdEntry)>, BackendError> {
    match entries::load(storage, name, &hash).await? {
        Some(entry) if entry.is_expired(be.now()) => {
            entries::remove(storage, name, &hash, &entry.accessor).await?;
            Ok(None)
        }
        Some(entry) => Ok(Some((hash, entry))),
        None => Ok(None),
    }
}

/// The live entry named by the request's `secret_id`. The caller holds the role's lock.
async fn find_by_value(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<(String, SecretIdEntry)>, BackendError> {
    let secret = SecretString::from(req.fields.required_str("secret_id")?);
    let storage = req.storage.as_ref();
    role::load_existing(storage, name).await?;
    let hash = be
        .key(storage)
        .await?
        .hash(Purpose::SecretId, secret.expose_secret())?;
    live(be, storage, name, hash).await
}

/// The live entry named by the request's `secret_id_accessor`, or `AccessorNotFound`.
/// The caller holds the role's lock.
async fn find_by_accessor(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<(String, SecretIdEntry), BackendError> {
    let accessor = req.fields.required_str("secret_id_accessor")?;
    let storage = req.storage.as_ref();
    role::load_existing(storage, name).await?;
    let not_found = || -> BackendError {
        AppRoleError::AccessorNotFound {
            role: name.to_owned(),
        }
        .into()
    };
    let hash = entries::hash_for_accessor(storage, name, &accessor)
        .await?
        .ok_or_else(not_found)?;
    live(be, storage, name, hash).await?.ok_or_else(not_found)
}

/// `POST role/:name/secret-id/lookup`: the secret id's properties; nothing if unknown.
#[tracing::instrument(skip_all, fields(role.name = %name))]
pub(super) async fn lookup(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let _guard = be.locks.lock(name).await;
    let found = find_by_value(be, req, name).await?;
    Ok(found.map(|(_, entry)| Response::data(entry.to_lookup_data())))
}

/// `POST role/:name/secret-id/destroy`. Destroying an unknown secret id succeeds.
#[tracing::instrument(skip_all, fields(role.name = %name))]
pub(super) async fn destroy(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let _guard = be.locks.lock(name).await;
    if let Some((hash, entry)) = find_by_value(be, req, name).await? {
        entries::remove(req.storage.as_ref(), name, &hash, &entry.accessor).await?;
        tracing::info!(role.name = %name, secret_id.accessor = %entry.accessor, "destroyed a secret ID of AppRole role {name}");
    }
    Ok(None)
}

/// `POST role/:name/secret-id-accessor/lookup`.
pub(super) async fn lookup_by_accessor(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let _guard = be.locks.lock(name).await;
    let (_, entry) = find_by_accessor(be, req, name).await?;
    Ok(Some(Response::data(entry.to_lookup_data())))
}

/// `POST role/:name/secret-id-accessor/destroy`. An unknown accessor is refused (it is more
/// likely a typo than a secret id already gone, and the caller should know).
pub(super) async fn destroy_by_accessor(
    be: &AppRoleBackend,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, BackendError> {
    let _guard = be.locks.lock(name).await;
    let (hash, entry) = find_by_accessor(be, req, name).await?;
    entries::remove(req.storage.as_ref(), name, &hash, &entry.accessor).await?;
    tracing::info!(role.name = %name, secret_id.accessor = %entry.accessor, "destroyed a secret ID of AppRole role {name}");
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use leasehold_backend::BackendError;
    use serde_json::{json, Map, Value};

    use crate::testing::Harness;

    async fn generate(h: &Harness, role: &str, body: Value) -> Map<String, Value> {
        let resp = h
            .write(&format!("role/{role}/secret-id"), body)
            .await
            .unwrap()
            .unwrap();
        resp.data.unwrap()
    }

    #[tokio::test]
    async fn generate_shape_and_hvac_metadata_string() {
        let h = Harness::new();
        h.write(
            "role/ci",
            json!({"secret_id_num_uses": 3, "secret_id_ttl": "1h"}),
        )
        .await
        .unwrap();
        // hvac: metadata as a JSON string, cidr_list comma-joined.
        let d = generate(
            &h,
            "ci",
            json!({"metadata": "{\"team\": \"infra\"}", "cidr_list": "10.0.0.0/8,127.0.0.1/32"}),
        )
        .await;
        let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "secret_id",
                "secret_id_accessor",
                "secret_id_num_uses",
                "secret_id_ttl"
            ]
        );
        assert_eq!(d["secret_id_num_uses"], 3);
        assert_eq!(d["secret_id_ttl"], 3600);
        let sid = d["secret_id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(sid).is_ok());
        // Only its keyed hash is stored.
        assert!(!h.storage.dump().contains(sid));

        let looked = h
            .write("role/ci/secret-id/lookup", json!({"secret_id": sid}))
            .await
            .unwrap()
            .unwrap()
            .data
            .unwrap();
        assert_eq!(looked["metadata"], json!({"team": "infra"}));
        assert_eq!(looked["cidr_list"], json!(["10.0.0.0/8", "127.0.0.1/32"]));
        assert_eq!(looked["token_bound_cidrs"], json!([]));
        assert_eq!(looked["secret_id_accessor"], d["secret_id_accessor"]);
        assert_eq!(looked["creation_time"], "2030-01-01T00:00:00Z");
        assert_eq!(looked["expiration_time"], "2030-01-01T01:00:00Z");

        // A JSON object works too.
        let d = generate(
            &h,
            "ci",
            json!({"metadata": {"team": "web"}, "num_uses": 1}),
        )
        .await;
        assert_eq!(d["secret_id_num_uses"], 1);
    }

    #[tokio::test]
    async fn limits_may_narrow_but_not_widen_the_role() {
        let h = Harness::new();
        h.write(
            "role/ci",
            json!({"secret_id_num_uses": 3, "secret_id_ttl": 600}),
        )
        .await
        .unwrap();
        for (body, field) in [
            (json!({"num_uses": 4}), "num_uses"),
            (json!({"num_uses": 0}), "num_uses"),
            (json!({"num_uses": -1}), "num_uses"),
            (json!({"ttl": "11m"}), "ttl"),
            (json!({"ttl": 0}), "ttl"),
            (json!({"metadata": "not json"}), "metadata"),
            (json!({"metadata": {"n": 1}}), "metadata"),
            (json!({"cidr_list": "bad"}), "cidr_list"),
        ] {
            let err = h
                .write("role/ci/secret-id", body.clone())
                .await
                .unwrap_err();
            assert!(matches!(err, BackendError::InvalidRequest(_)), "{body}");
            assert!(err.to_string().contains(field), "{body}: {err}");
        }
        let err = h.write("role/nope/secret-id", json!({})).await.unwrap_err();
        assert_eq!(err.to_string(), "role \"nope\" not found");
        assert_eq!(
            h.list("role/ci/secret-id").await.unwrap()["keys"],
            json!([])
        );
    }

    #[tokio::test]
    async fn list_lookup_and_destroy_by_id_and_by_accessor() {
        let h = Harness::new();
        h.write("role/ci", json!({})).await.unwrap();
        let role_id = h.role_id("ci").await;
        let a = generate(&h, "ci", json!({})).await;
        let b = generate(&h, "ci", json!({})).await;
        let mut listed: Vec<Value> = h.list("role/ci/secret-id").await.unwrap()["keys"]
            .as_array()
            .unwrap()
            .clone();
        listed.sort_by_key(|v| v.as_str().unwrap().to_owned());
        let mut expected = vec![
            a["secret_id_accessor"].clone(),
            b["secret_id_accessor"].clone(),
        ];
        expected.sort_by_key(|v| v.as_str().unwrap().to_owned());
        assert_eq!(listed, expected);

        let by_accessor = h
            .write(
                "role/ci/secret-id-accessor/lookup",
                json!({"secret_id_accessor": a["secret_id_accessor"]}),
            )
            .await
            .unwrap()
            .unwrap()
            .data
            .unwrap();
        assert_eq!(by_accessor["secret_id_accessor"], a["secret_id_accessor"]);
        assert_eq!(by_accessor["expiration_time"], "0001-01-01T00:00:00Z");

        h.write(
            "role/ci/secret-id/destroy",
            json!({"secret_id": a["secret_id"]}),
        )
        .await
        .unwrap();
        h.call(
            leasehold_backend::Operation::Delete,
            "role/ci/secret-id-accessor/destroy",
            json!({"secret_id_accessor": b["secret_id_accessor"]}),
            None,
        )
        .await
        .unwrap();
        for d in [&a, &b] {
            let err = h
                .login(
                    json!({"role_id": role_id, "secret_id": d["secret_id"]}),
                    None,
                )
                .await
                .unwrap_err();
            assert_eq!(err.to_string(), "invalid role or secret ID");
        }
        assert_eq!(
            h.list("role/ci/secret-id").await.unwrap()["keys"],
            json!([])
        );
        assert!(h
            .write(
                "role/ci/secret-id/lookup",
                json!({"secret_id": a["secret_id"]})
            )
            .await
            .unwrap()
            .is_none());
        // Destroying by value again is fine; an unknown accessor is reported.
        h.write(
            "role/ci/secret-id/destroy",
            json!({"secret_id": a["secret_id"]}),
        )
        .await
        .unwrap();
        let err = h
            .write(
                "role/ci/secret-id-accessor/destroy",
                json!({"secret_id_accessor": a["secret_id_accessor"]}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("accessor"));
        assert!(h.storage.keys_with("accessor/").is_empty());
    }

    #[tokio::test]
    async fn custom_secret_id() {
        let h = Harness::new();
        h.write("role/ci", json!({})).await.unwrap();
        let role_id = h.role_id("ci").await;
        let d = generate_custom(&h, json!({"secret_id": "s3cret-value", "num_uses": 1})).await;
        assert_eq!(d["secret_id"], "s3cret-value");
        assert_eq!(d["secret_id_num_uses"], 1);
        let err = h
            .write(
                "role/ci/custom-secret-id",
                json!({"secret_id": "s3cret-value"}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already registered"));
        let err = h
            .write("role/ci/custom-secret-id", json!({}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("secret_id"));
        assert!(!h.storage.dump().contains("s3cret-value"));
        h.login(
            json!({"role_id": role_id, "secret_id": "s3cret-value"}),
            None,
        )
        .await
        .unwrap();
    }

    async fn generate_custom(h: &Harness, body: Value) -> Map<String, Value> {
        let resp = h
            .write("role/ci/custom-secret-id", body)
            .await
            .unwrap()
            .unwrap();
        resp.data.unwrap()
    }
}
