//! Reconciliation: accounts on a mount's targets that look like ours (they carry the mount's
//! generated-name prefix) but that no live lease describes — orphans left by other tools, by a
//! lost or restored lease table, or by hand. Listed on request (and at start-up, report only);
//! destroyed only when an admin asks, and then only those whose name proves this mount made
//! them ([`Account::marked`]: the mount's marker in the name). A prefix alone proves nothing: a
//! database shared with Vault holds Vault's own `v-` users, and static roles name users the
//! mount manages but never made. Unmarked orphans (names issued before markers existed, or by
//! a custom template) are reported with `marked: false` and left for an operator to judge.
//!
//! Race-free with issuance because of write-ahead: an account can only exist after its lease row
//! was written, so listing the accounts *before* reading the lease table can never mistake an
//! account being created for an orphan.

use std::collections::HashSet;

use leasehold_backend::Account;
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use super::Core;
use crate::error::{Error, Result};

/// One orphan found.
#[derive(Debug, Clone)]
pub struct Orphan {
    /// Mount path.
    pub mount: String,
    /// The account.
    pub account: Account,
    /// Outcome when destruction was asked for: `Ok` destroyed, `Err` why not.
    pub destroyed: Option<std::result::Result<(), String>>,
}

/// What a reconciliation found.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    /// Mounts whose accounts were listed.
    pub mounts_checked: Vec<String>,
    /// Mounts that could not be listed, with the reason.
    pub mount_errors: Vec<(String, String)>,
    /// Accounts with no live lease.
    pub orphans: Vec<Orphan>,
}

impl ReconcileReport {
    /// The report as response data.
    pub fn to_json(&self) -> Map<String, Value> {
        let orphans: Vec<Value> = self
            .orphans
            .iter()
            .map(|o| {
                json!({
                    "mount": o.mount, "target": o.account.target, "account": o.account.name,
                    "marked": o.account.marked,
                    "destroyed": o.destroyed.as_ref().map(|r| r.is_ok()),
                    "error": o.destroyed.as_ref().and_then(|r| r.as_ref().err()),
                })
            })
            .collect();
        let errors: Map<String, Value> = self
            .mount_errors
            .iter()
            .map(|(m, e)| (m.clone(), json!(e)))
            .collect();
        let mut m = Map::new();
        m.insert("mounts_checked".into(), json!(self.mounts_checked));
        m.insert("orphan_count".into(), json!(self.orphans.len()));
        m.insert("orphans".into(), Value::Array(orphans));
        m.insert("mount_errors".into(), Value::Object(errors));
        m
    }
}

impl Core {
    /// Find (and with `destroy`, destroy) accounts no live lease describes, on every secrets
    /// mount or on `only` (a mount path).
    pub async fn reconcile(&self, only: Option<&str>, destroy: bool) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        let wanted = only.map(|m| format!("{}/", m.trim_matches('/')));
        let mounts: Vec<_> = self
            .mounts
            .list()
            .into_iter()
            .filter(|m| wanted.as_ref().is_none_or(|w| &m.entry.path == w))
            .collect();
        if let (Some(w), true) = (&wanted, mounts.is_empty()) {
            return Err(Error::invalid(format!(
                "no secrets engine is mounted at {w}"
            )));
        }
        for mount in mounts {
            let path = mount.entry.path.clone();
            // Accounts first, then the table: see the module comment.
            let Some(secrets) = mount.backend.secrets() else {
                continue;
            };
            let accounts = match secrets.list_accounts(mount.view.clone()).await {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(e) => {
                    warn!(mount = %path, error = %e, "cannot list accounts of mount {path} for reconciliation");
                    report.mount_errors.push((path, e.to_string()));
                    continue;
                }
            };
            // Ask about the target's accounts rather than load the mount's leases: memory stays
            // proportional to what the target holds, not to the lease table.
            let names: Vec<String> = accounts.iter().map(|a| a.name.clone()).collect();
            let leased: HashSet<String> = self
                .leases
                .storage()
                .lease_live_accounts(&path, &names)
                .await?;
            report.mounts_checked.push(path.clone());
            for account in accounts.into_iter().filter(|a| !leased.contains(&a.name)) {
                let destroyed = if destroy && account.marked {
                    let outcome = secrets
                        .destroy_account(mount.view.clone(), &account)
                        .await
                        .map_err(|e| e.to_string());
                    match &outcome {
                        Ok(()) => {
                            info!(mount = %path, account = %account.name, "reconcile destroyed orphan account {} on {path}", account.name)
                        }
                        Err(e) => {
                            warn!(mount = %path, account = %account.name, error = %e, "reconcile could not destroy orphan account {}", account.name)
                        }
                    }
                    Some(outcome)
                } else if account.marked {
                    warn!(mount = %path, account = %account.name, target = %account.target,
                        "orphan account {} on {path} has no lease; destroy it with sys/leases/reconcile destroy=true", account.name);
                    None
                } else {
                    warn!(mount = %path, account = %account.name, target = %account.target,
                        "account {} on {path} has our prefix but not this mount's marker and no lease; \
                         reconcile never destroys it (check by hand whether it is ours)", account.name);
                    None
                };
                let outcome = destroyed
                    .as_ref()
                    .map(|r| r.as_ref().map(|_| ()).map_err(String::as_str));
                self.leases.observers.emit(
                    &crate::lease::events::LeaseEvent::Orphan {
                        mount: &path,
                        account: &account.name,
                        destroyed: outcome,
                    },
                    self.clock.now(),
                );
                report.orphans.push(Orphan {
                    mount: path.clone(),
                    account,
                    destroyed,
                });
            }
        }
        Ok(report)
    }
}
