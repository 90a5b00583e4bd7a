//! Following other nodes' writes: each key another server changed drops what this server
//! cached from it (mount tables, policies, tokens, audit devices, a backend's connection pools).
//! Reads that are not cached (leases) need nothing: they always go to storage.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tracing::{debug, warn};

use super::acl::PolicyStore;
use super::quotas::Quotas;
use super::Core;
use crate::audit::AuditBroker;
use crate::storage::StorageChange;

/// Apply changes until `shutdown` turns true or the feed ends.
pub async fn run(
    core: Arc<Core>,
    mut changes: broadcast::Receiver<StorageChange>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let change = tokio::select! {
            c = changes.recv() => c,
            _ = shutdown.changed() => return,
        };
        match change {
            Ok(StorageChange::Key(key)) => apply(&core, &key).await,
            // Lagged: some changes were dropped before we saw them; reload as after a gap.
            Err(RecvError::Lagged(_)) => resync(&core).await,
            Ok(StorageChange::Resync) => {
                core.mounts.kv().cache().resume();
                resync(&core).await;
                core.tokens.follow_feed(true);
            }
            // Until the feed is back (a Resync), token uses read storage every time: a
            // revocation elsewhere would otherwise go unseen for as long as the outage.
            Ok(StorageChange::Interrupted) => {
                warn!("storage change feed interrupted; token entries and mount data read from storage until it is back");
                core.mounts.kv().cache().suspend();
                core.tokens.follow_feed(false);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Drop what was cached from `key`.
pub async fn apply(core: &Core, key: &str) {
    debug!(key, "another node changed a key");
    // First: a backend that reloads below must read the new value, not the kept one.
    core.mounts.kv().cache().follow(key);
    let result = match key {
        "core/mounts" => core.mounts.reload().await,
        "core/auth-mounts" => core.auth_mounts.reload().await,
        // Another node rotated: seal new values under its term at once, so its rewrite does
        // not race writes still made under the term before.
        crate::storage::keyring::KEYRING_KEY => {
            crate::storage::keyring::refresh(core.leases.seal(), core.leases.storage())
                .await
                .map_err(Into::into)
        }
        k if AuditBroker::owns_key(k) => core.audit.reload().await,
        k if Quotas::owns_key(k) => core.quotas.reload().await,
        k if PolicyStore::owns_key(k) => {
            core.policies.invalidate(k);
            Ok(())
        }
        k if k.starts_with("token/") => {
            core.tokens.follow(k);
            Ok(())
        }
        k => {
            if let Some((uuid, rest)) = k.strip_prefix("logical/").and_then(|r| r.split_once('/')) {
                let mount = core
                    .mounts
                    .by_uuid(uuid)
                    .or_else(|| core.auth_mounts.by_uuid(uuid));
                if let Some(m) = mount {
                    m.backend.invalidate(rest).await;
                }
            }
            Ok(())
        }
    };
    if let Err(e) = result {
        warn!(key, error = %e, "could not reload after another node's change; retrying on the next change");
    }
}

/// Changes may have been missed: reload every cache.
pub async fn resync(core: &Core) {
    warn!("storage change feed had a gap; reloading every cache");
    core.mounts.kv().cache().clear();
    for (what, result) in [
        ("secrets mounts", core.mounts.reload().await),
        ("auth mounts", core.auth_mounts.reload().await),
        ("audit devices", core.audit.reload().await),
        ("quotas", core.quotas.reload().await),
    ] {
        if let Err(e) = result {
            warn!(error = %e, "could not reload the {what}");
        }
    }
    core.policies.invalidate("");
    core.tokens.forget_all();
    if let Err(e) =
        crate::storage::keyring::refresh(core.leases.seal(), core.leases.storage()).await
    {
        warn!(error = %e, "could not reload the keyring");
    }
    for m in core
        .mounts
        .list()
        .into_iter()
        .chain(core.auth_mounts.list())
    {
        m.backend.invalidate("").await;
    }
}
