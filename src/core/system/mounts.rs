//! `sys/mounts` and `sys/auth`: list, enable, read, tune and disable secrets engines and auth
//! methods. Disabling a secrets engine destroys its leases' accounts first, and fails (keeping the
//! mount) if any cannot be destroyed; disabling an auth method revokes every token it issued and
//! the leases obtained with them.

use std::time::Duration;

use leasehold_backend::duration::parse_duration_value;
use serde_json::{json, Map, Value};

use crate::core::api::{ApiRequest, ApiResponse, Envelope, Method};
use crate::core::mounts::{Mount, MountEntry, MountKind, MountTable};
use crate::core::Core;
use crate::error::{Error, Result};

/// Serve `sys/mounts[/<path>[/tune]]` or `sys/auth[/<path>[/tune]]` (`bare` has no trailing
/// slash).
pub async fn handle(
    core: &Core,
    req: &ApiRequest,
    bare: &str,
    kind: MountKind,
) -> Result<ApiResponse> {
    let (table, base): (&MountTable, &str) = match kind {
        MountKind::Secrets => (&core.mounts, "sys/mounts"),
        MountKind::Auth => (&core.auth_mounts, "sys/auth"),
    };
    let rest = bare
        .strip_prefix(base)
        .unwrap_or_default()
        .trim_start_matches('/');
    if rest.is_empty() {
        return match req.method {
            Method::Get => Ok(list(core, table, kind)),
            _ => Err(Error::UnsupportedOperation),
        };
    }
    if let Some(path) = rest.strip_suffix("/tune") {
        let path = mount_path(path)?;
        return match req.method {
            Method::Get => read_tune(table, &path),
            Method::Write => tune(core, table, req, &path).await,
            _ => Err(Error::UnsupportedOperation),
        };
    }
    let path = mount_path(rest)?;
    match req.method {
        Method::Get => table
            .get(&path)
            .map(|m| ApiResponse::data("system", entry_json(core, &m)))
            .ok_or(Error::NotFound),
        Method::Write => enable(core, table, req, path).await,
        Method::Delete => disable(core, table, kind, &path).await,
        _ => Err(Error::UnsupportedOperation),
    }
}

/// Validate a mount path and give it its trailing slash.
fn mount_path(raw: &str) -> Result<String> {
    let p = raw.trim_matches('/');
    let ok = !p.is_empty()
        && p.split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if !ok {
        return Err(Error::invalid(format!(
            "invalid mount path {raw:?}: use letters, digits, '-', '_', '.' and '/'"
        )));
    }
    Ok(format!("{p}/"))
}

fn entry_json(core: &Core, m: &Mount) -> Map<String, Value> {
    let e = &m.entry;
    let mut o = Map::new();
    o.insert("type".into(), json!(e.kind));
    o.insert("description".into(), json!(e.description));
    o.insert("accessor".into(), json!(e.accessor));
    o.insert("uuid".into(), json!(e.uuid));
    o.insert(
        "config".into(),
        json!({"default_lease_ttl": e.default_lease_ttl, "max_lease_ttl": e.max_lease_ttl, "force_no_cache": false}),
    );
    o.insert("options".into(), Value::Null);
    o.insert("local".into(), json!(false));
    o.insert("seal_wrap".into(), json!(false));
    o.insert("external_entropy_access".into(), json!(false));
    o.insert("plugin_version".into(), json!(""));
    o.insert(
        "running_plugin_version".into(),
        json!(format!("v{}+builtin.leasehold", env!("CARGO_PKG_VERSION"))),
    );
    o.insert("running_sha256".into(), json!(""));
    o.insert("deprecation_status".into(), json!("supported"));
    let _ = core;
    o
}

fn list(core: &Core, table: &MountTable, kind: MountKind) -> ApiResponse {
    let mut data = Map::new();
    for m in table.list() {
        data.insert(m.entry.path.clone(), Value::Object(entry_json(core, &m)));
    }
    let (builtin, kind_name, description) = match kind {
        MountKind::Secrets => (
            "sys/",
            "system",
            "system endpoints used for control, policy and debugging",
        ),
        MountKind::Auth => ("token/", "token", "token based credentials"),
    };
    data.insert(
        builtin.into(),
        json!({"type": kind_name, "description": description,
               "accessor": format!("{kind_name}_00000000"), "uuid": "", "config": {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": false},
               "options": null, "local": false, "seal_wrap": true, "external_entropy_access": false,
               "plugin_version": "", "running_plugin_version": "", "running_sha256": "", "deprecation_status": "supported"}),
    );
    ApiResponse::Ok(Envelope {
        data: Some(data),
        mount_type: "system".into(),
        data_at_top_level: true,
        ..Envelope::default()
    })
}

/// A TTL from a mount config: a duration string or seconds; `""`/`"system"` = inherit (0).
fn config_ttl(config: &Map<String, Value>, name: &str) -> Result<Option<u64>> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() || s == "system" => Ok(Some(0)),
        Some(v) => parse_duration_value(v)
            .map(|d| Some(d.as_secs()))
            .map_err(|e| Error::invalid(format!("invalid {name}: {e}"))),
    }
}

fn check_ttls(core: &Core, default: u64, max: u64) -> Result<()> {
    let system = core.mounts.system_ttls();
    let eff_max = if max == 0 {
        system.max_ttl
    } else {
        Duration::from_secs(max)
    };
    if Duration::from_secs(default) > eff_max {
        return Err(Error::invalid(
            "default_lease_ttl cannot be greater than max_lease_ttl",
        ));
    }
    Ok(())
}

async fn enable(
    core: &Core,
    table: &MountTable,
    req: &ApiRequest,
    path: String,
) -> Result<ApiResponse> {
    let kind = match req.data.get("type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(Error::invalid(
                "type is required: the secrets engine type to mount, e.g. \"database\"",
            ))
        }
    };
    let description = req
        .data
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let config = match req.data.get("config") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c)) => c.clone(),
        Some(_) => return Err(Error::invalid("config must be an object")),
    };
    let default_lease_ttl = config_ttl(&config, "default_lease_ttl")?.unwrap_or(0);
    let max_lease_ttl = config_ttl(&config, "max_lease_ttl")?.unwrap_or(0);
    check_ttls(core, default_lease_ttl, max_lease_ttl)?;
    table
        .enable(MountEntry {
            path,
            kind,
            description,
            uuid: String::new(),
            accessor: String::new(),
            default_lease_ttl,
            max_lease_ttl,
        })
        .await?;
    Ok(ApiResponse::NoContent)
}

fn read_tune(table: &MountTable, path: &str) -> Result<ApiResponse> {
    let m = table
        .get(path)
        .ok_or_else(|| Error::invalid(format!("no mount at {path}")))?;
    let ttls = table.ttls(&m.entry);
    let mut data = Map::new();
    data.insert(
        "default_lease_ttl".into(),
        json!(ttls.default_ttl.as_secs()),
    );
    data.insert("max_lease_ttl".into(), json!(ttls.max_ttl.as_secs()));
    data.insert("force_no_cache".into(), json!(false));
    data.insert("description".into(), json!(m.entry.description));
    data.insert("options".into(), Value::Null);
    Ok(ApiResponse::data("system", data))
}

async fn tune(
    core: &Core,
    table: &MountTable,
    req: &ApiRequest,
    path: &str,
) -> Result<ApiResponse> {
    let m = table
        .get(path)
        .ok_or_else(|| Error::invalid(format!("no mount at {path}")))?;
    let default = config_ttl(&req.data, "default_lease_ttl")?;
    let max = config_ttl(&req.data, "max_lease_ttl")?;
    check_ttls(
        core,
        default.unwrap_or(m.entry.default_lease_ttl),
        max.unwrap_or(m.entry.max_lease_ttl),
    )?;
    table.tune(path, default, max).await?;
    Ok(ApiResponse::NoContent)
}

async fn disable(
    core: &Core,
    table: &MountTable,
    kind: MountKind,
    path: &str,
) -> Result<ApiResponse> {
    if table.get(path).is_none() {
        // Vault answers 204 for a path with nothing mounted.
        return Ok(ApiResponse::NoContent);
    }
    match kind {
        // Destroy every account first; if one fails the mount stays, so the lease is still revocable.
        MountKind::Secrets => {
            core.leases.revoke_prefix(path, true).await?;
        }
        // Every token the method issued, and what they obtained.
        MountKind::Auth => {
            let mut report = core.revoke_workload(&format!("auth/{path}"), true).await?;
            // Every failed lease named; 502 for the target's faults, 500 for ours.
            if let Some(error) = report.take_failures() {
                return Err(error);
            }
        }
    }
    table.disable(path).await?;
    Ok(ApiResponse::NoContent)
}
