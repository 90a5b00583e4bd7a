//! The mount table: which secrets engine serves which path, with its TTL config and storage view.
//! Persisted (sealed) under `core/mounts`; built-in paths (`sys/`, `auth/token/`) are not mounts.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use leasehold_backend::{Backend, MountStorage};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lease::ttl::MountTtls;
use crate::lease::{MountResolver, ResolvedMount};
use crate::storage::lock::HeldLock;
use crate::storage::sealed::{MountView, SealedKv};

/// Which table: secrets engines (`sys/mounts`) or auth methods (`sys/auth`, served at `auth/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// Secrets engines.
    Secrets,
    /// Auth methods; paths are below `auth/`.
    Auth,
}

impl MountKind {
    fn storage_key(self) -> &'static str {
        match self {
            Self::Secrets => "core/mounts",
            Self::Auth => "core/auth-mounts",
        }
    }

    fn reserved(self) -> &'static [&'static str] {
        match self {
            Self::Secrets => &["sys/", "auth/", "cubbyhole/", "identity/"],
            Self::Auth => &["token/"],
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Secrets => "secrets engine",
            Self::Auth => "auth method",
        }
    }
}

/// A persisted mount.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountEntry {
    /// Path with trailing slash (`database/`).
    pub path: String,
    /// Engine type (`database`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    pub description: String,
    /// Stable id; names the storage view and is recorded on leases.
    pub uuid: String,
    /// `<type>_<8 hex>`, as Vault.
    pub accessor: String,
    /// Default lease TTL in seconds, 0 = system default.
    pub default_lease_ttl: u64,
    /// Max lease TTL in seconds, 0 = system default.
    pub max_lease_ttl: u64,
}

/// A mount with its running backend.
#[derive(Clone)]
pub struct Mount {
    /// What is persisted.
    pub entry: MountEntry,
    /// The engine.
    pub backend: Arc<dyn Backend>,
    /// Its storage view.
    pub view: Arc<dyn MountStorage>,
}

/// Builds a backend for a mount type; `None` for unknown types.
pub type BackendFactory = Arc<dyn Fn(&str) -> Option<Arc<dyn Backend>> + Send + Sync>;

/// The live table.
pub struct MountTable {
    kind: MountKind,
    kv: SealedKv,
    factory: BackendFactory,
    system: MountTtls,
    mounts: RwLock<Vec<Mount>>,
    /// Serialises this process's edits and reloads; the storage lock serialises nodes.
    edit_lock: tokio::sync::Mutex<()>,
}

impl MountTable {
    /// Load persisted mounts, building each backend.
    pub async fn load(
        kind: MountKind,
        kv: SealedKv,
        factory: BackendFactory,
        system: MountTtls,
    ) -> Result<Self> {
        let entries: Vec<MountEntry> = kv.get_json(kind.storage_key()).await?.unwrap_or_default();
        let mut mounts = Vec::new();
        for entry in entries {
            let backend = factory(&entry.kind).ok_or_else(|| {
                Error::Internal(format!(
                    "mount {} has unknown type {}",
                    entry.path, entry.kind
                ))
            })?;
            let view: Arc<dyn MountStorage> = Arc::new(MountView::new(kv.clone(), &entry.uuid));
            mounts.push(Mount {
                entry,
                backend,
                view,
            });
        }
        Ok(Self {
            kind,
            kv,
            factory,
            system,
            mounts: RwLock::new(mounts),
            edit_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The sealed key/value handle the mounts' views read through (its cache follows the
    /// change feed).
    pub fn kv(&self) -> &SealedKv {
        &self.kv
    }

    /// System-wide TTL defaults.
    pub fn system_ttls(&self) -> MountTtls {
        self.system
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Mount>> {
        self.mounts.read().unwrap_or_else(|p| p.into_inner())
    }

    /// All mounts, by path.
    pub fn list(&self) -> Vec<Mount> {
        let mut all = self.read().clone();
        all.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
        all
    }

    /// The mount serving `path` (longest prefix match) and the path below it.
    pub fn route(&self, path: &str) -> Option<(Mount, String)> {
        let mounts = self.read();
        mounts
            .iter()
            .filter(|m| {
                let mp = m.entry.path.as_str();
                path.starts_with(mp) || path == mp.trim_end_matches('/')
            })
            .max_by_key(|m| m.entry.path.len())
            .map(|m| {
                let rest = path
                    .get(m.entry.path.len()..)
                    .unwrap_or_default()
                    .to_owned();
                (m.clone(), rest)
            })
    }

    /// The mount at exactly `path` (with trailing slash).
    pub fn get(&self, path: &str) -> Option<Mount> {
        self.read().iter().find(|m| m.entry.path == path).cloned()
    }

    /// Effective TTLs of a mount entry.
    pub fn ttls(&self, entry: &MountEntry) -> MountTtls {
        let pick = |secs: u64, default: Duration| {
            if secs == 0 {
                default
            } else {
                Duration::from_secs(secs)
            }
        };
        MountTtls {
            default_ttl: pick(entry.default_lease_ttl, self.system.default_ttl),
            max_ttl: pick(entry.max_lease_ttl, self.system.max_ttl),
        }
    }

    async fn persist(&self) -> Result<()> {
        let entries: Vec<MountEntry> = self.read().iter().map(|m| m.entry.clone()).collect();
        self.kv.put_json(self.kind.storage_key(), &entries).await?;
        Ok(())
    }

    /// The mount whose storage view is `logical/<uuid>/`.
    pub fn by_uuid(&self, uuid: &str) -> Option<Mount> {
        self.read().iter().find(|m| m.entry.uuid == uuid).cloned()
    }

    /// Re-read the table after another node changed it: mounts still there keep their running
    /// backend, new ones get one, removed ones are shut down.
    pub async fn reload(&self) -> Result<()> {
        let _edit = self.edit_lock.lock().await;
        self.reload_locked().await
    }

    async fn reload_locked(&self) -> Result<()> {
        let entries: Vec<MountEntry> = self
            .kv
            .get_json(self.kind.storage_key())
            .await?
            .unwrap_or_default();
        let removed = {
            let mut mounts = self.mounts.write().unwrap_or_else(|p| p.into_inner());
            let mut next = Vec::with_capacity(entries.len());
            for entry in entries {
                if let Some(m) = mounts.iter().find(|m| m.entry.uuid == entry.uuid) {
                    next.push(Mount {
                        entry,
                        backend: m.backend.clone(),
                        view: m.view.clone(),
                    });
                    continue;
                }
                match (self.factory)(&entry.kind) {
                    Some(backend) => {
                        let view: Arc<dyn MountStorage> =
                            Arc::new(MountView::new(self.kv.clone(), &entry.uuid));
                        next.push(Mount {
                            entry,
                            backend,
                            view,
                        });
                    }
                    None => tracing::error!(
                        mount = %entry.path,
                        "mount {} has unknown type {}; a newer server wrote it",
                        entry.path,
                        entry.kind
                    ),
                }
            }
            let removed: Vec<Mount> = mounts
                .iter()
                .filter(|m| !next.iter().any(|n| n.entry.uuid == m.entry.uuid))
                .cloned()
                .collect();
            *mounts = next;
            removed
        };
        for m in removed {
            m.backend.shutdown().await;
        }
        Ok(())
    }

    /// Run one edit of the table under both locks, on the table as stored now, so that edits
    /// made at once on two nodes both land.
    async fn edit<T>(&self, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let _edit = self.edit_lock.lock().await;
        let held = HeldLock::acquire(self.kv.storage(), self.kind.storage_key()).await?;
        let result = match self.reload_locked().await {
            Ok(()) => f.await,
            Err(e) => Err(e),
        };
        held.release().await;
        result
    }

    /// Enable a mount. Fails if the path overlaps another mount or a reserved path.
    pub async fn enable(&self, entry: MountEntry) -> Result<()> {
        self.edit(self.enable_now(entry)).await
    }

    async fn enable_now(&self, mut entry: MountEntry) -> Result<()> {
        let backend = (self.factory)(&entry.kind).ok_or_else(|| {
            Error::invalid(format!(
                "unknown {} type: {:?}",
                self.kind.noun(),
                entry.kind
            ))
        })?;
        for reserved in self.kind.reserved() {
            if entry.path.starts_with(reserved) || reserved.starts_with(&entry.path) {
                return Err(Error::invalid(format!(
                    "cannot mount under reserved path {reserved}"
                )));
            }
        }
        {
            let mounts = self.read();
            if let Some(m) = mounts.iter().find(|m| {
                m.entry.path.starts_with(&entry.path) || entry.path.starts_with(&m.entry.path)
            }) {
                return Err(Error::invalid(format!(
                    "path is already in use at {}",
                    m.entry.path
                )));
            }
        }
        entry.uuid = uuid::Uuid::new_v4().to_string();
        entry.accessor = format!("{}_{:08x}", entry.kind, rand::thread_rng().gen::<u32>());
        let view: Arc<dyn MountStorage> = Arc::new(MountView::new(self.kv.clone(), &entry.uuid));
        {
            let mut mounts = self.mounts.write().unwrap_or_else(|p| p.into_inner());
            // Re-check under the write lock: two enables of one path may race.
            if mounts.iter().any(|m| m.entry.path == entry.path) {
                return Err(Error::invalid(format!(
                    "path is already in use at {}",
                    entry.path
                )));
            }
            mounts.push(Mount {
                entry,
                backend,
                view,
            });
        }
        self.persist().await
    }

    /// Change a mount's TTLs.
    pub async fn tune(
        &self,
        path: &str,
        default_ttl: Option<u64>,
        max_ttl: Option<u64>,
    ) -> Result<()> {
        self.edit(self.tune_now(path, default_ttl, max_ttl)).await
    }

    async fn tune_now(
        &self,
        path: &str,
        default_ttl: Option<u64>,
        max_ttl: Option<u64>,
    ) -> Result<()> {
        {
            let mut mounts = self.mounts.write().unwrap_or_else(|p| p.into_inner());
            let m = mounts
                .iter_mut()
                .find(|m| m.entry.path == path)
                .ok_or_else(|| Error::invalid(format!("no mount at {path}")))?;
            if let Some(d) = default_ttl {
                m.entry.default_lease_ttl = d;
            }
            if let Some(x) = max_ttl {
                m.entry.max_lease_ttl = x;
            }
        }
        self.persist().await
    }

    /// Remove a mount and its storage. The caller revokes its leases first.
    pub async fn disable(&self, path: &str) -> Result<Option<Mount>> {
        self.edit(self.disable_now(path)).await
    }

    async fn disable_now(&self, path: &str) -> Result<Option<Mount>> {
        let removed = {
            let mut mounts = self.mounts.write().unwrap_or_else(|p| p.into_inner());
            let idx = mounts.iter().position(|m| m.entry.path == path);
            idx.map(|i| mounts.remove(i))
        };
        if let Some(m) = &removed {
            self.persist().await?;
            self.kv
                .delete_prefix(&MountView::prefix_for(&m.entry.uuid))
                .await?;
            m.backend.shutdown().await;
        }
        Ok(removed)
    }
}

impl MountResolver for MountTable {
    fn resolve(&self, uuid: &str) -> Option<ResolvedMount> {
        let mounts = self.read();
        let m = mounts.iter().find(|m| m.entry.uuid == uuid)?;
        Some(ResolvedMount {
            backend: m.backend.clone(),
            storage: m.view.clone(),
            ttls: self.ttls(&m.entry),
        })
    }
}
