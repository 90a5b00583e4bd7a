//! Assemble and run a server: storage, seal, mount table, lease engine, expiry worker, HTTP.

pub mod dev;
pub mod init;
pub mod listener;

pub use dev::DevOptions;

use init::first_start;
pub use init::{generate_root, INIT_MARKER};

use std::sync::Arc;

use anyhow::Context;
use leasehold_backend::Backend;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use tracing::info;

use crate::auth::TokenStore;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Settings, StorageSettings};
use crate::core::mounts::{BackendFactory, MountKind, MountTable};
use crate::core::Core;
use crate::lease::ttl::MountTtls;
use crate::lease::{expiry, LeaseEngine};
use crate::storage::lock::HeldLock;
use crate::storage::postgres::{PostgresSettings, PostgresStorage};
use crate::storage::seal::Seal;
use crate::storage::sealed::SealedKv;
use crate::storage::sqlite::SqliteStorage;
use crate::storage::Storage;

/// The secrets engines this build knows, by mount type, each on the core's `clock`.
pub fn backend_factory(clock: SharedClock) -> BackendFactory {
    Arc::new(move |kind: &str| -> Option<Arc<dyn Backend>> {
        match kind {
            "database" => Some(Arc::new(leasehold_database::DatabaseBackend::with_clock(
                vec![
                    Arc::new(leasehold_postgres::PgDriverFactory),
                    Arc::new(leasehold_mysql::MySqlDriverFactory),
                    Arc::new(leasehold_redis::RedisDriverFactory),
                ],
                clock.clone(),
            ))),
            "aws" => Some(Arc::new(leasehold_aws::AwsBackend::with_clock(
                clock.clone(),
            ))),
            "rabbitmq" => Some(Arc::new(leasehold_rabbitmq::RabbitMqBackend::new(
                clock.clone(),
            ))),
            _ => None,
        }
    })
}

/// The auth methods this build knows, by type, each on the core's `clock`.
pub fn auth_factory(clock: SharedClock) -> BackendFactory {
    Arc::new(move |kind: &str| -> Option<Arc<dyn Backend>> {
        match kind {
            "approle" => Some(Arc::new(leasehold_approle::AppRoleBackend::new(
                clock.clone(),
            ))),
            "jwt" => Some(Arc::new(leasehold_jwt::JwtBackend::new(clock.clone()))),
            _ => None,
        }
    })
}

/// The storage the settings name, and its type as `sys/seal-status` reports it. Dev mode keeps
/// its data in memory unless it was given a file.
pub(crate) async fn open_storage(
    settings: &Settings,
    dev: Option<&DevOptions>,
) -> anyhow::Result<(Arc<dyn Storage>, &'static str)> {
    let sqlite = |path: &std::path::Path| -> anyhow::Result<Arc<dyn Storage>> {
        Ok(Arc::new(SqliteStorage::open(path).with_context(|| {
            format!("opening storage {}", path.display())
        })?))
    };
    if let Some(dev) = dev {
        return Ok(match &dev.storage_path {
            Some(p) => (sqlite(p)?, "sqlite"),
            None => (sqlite(std::path::Path::new(":memory:"))?, "inmem"),
        });
    }
    Ok(match &settings.storage {
        StorageSettings::Sqlite(path) => (sqlite(path)?, "sqlite"),
        StorageSettings::Postgres {
            connection_url,
            max_parallel,
        } => {
            let storage = PostgresStorage::open(PostgresSettings {
                connection_url: connection_url.clone(),
                max_connections: *max_parallel,
            })
            .await
            .context("opening the postgresql storage")?;
            (Arc::new(storage), "postgresql")
        }
    })
}

/// The seal the settings name: the key file, or (dev mode only) the key kept beside the dev
/// storage file, or a generated key.
pub(crate) fn load_seal(settings: &Settings, dev: Option<&DevOptions>) -> anyhow::Result<Seal> {
    if let Some(key) = dev.and_then(|d| d.seal_key.as_ref()) {
        return Seal::from_key_file_contents(key.as_bytes()).context("the dev key file");
    }
    Ok(match (&settings.key_file, dev.is_some()) {
        (Some(path), _) => {
            warn_if_key_file_shared(path);
            let bytes = zeroize::Zeroizing::new(
                std::fs::read(path).with_context(|| format!("reading seal.key_file {}", path.display()))?,
            );
            Seal::from_key_file_contents(&bytes).with_context(|| format!("seal.key_file {}", path.display()))?
        }
        (None, true) => Seal::generate(),
        (None, false) => anyhow::bail!("seal.key_file is required: a file holding a 32-byte key (e.g. `openssl rand -hex 32 > leasehold.key`)"),
    })
}

/// A built server, not yet listening.
pub struct Server {
    /// Shared state.
    pub core: Arc<Core>,
    /// The root token created at this start (dev mode, or first start), to print once.
    pub new_root_token: Option<SecretString>,
    limits: crate::config::ListenerLimits,
    /// Serve the web console at `/ui/`.
    ui: bool,
    shutdown: watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
    membership: tokio::task::JoinHandle<()>,
}

/// Warn (naming the file) when the seal key file can be read by its group or by anyone: whoever
/// reads it can open every sealed value and forge lease rows' integrity tags. A warning, not a
/// refusal, so that an operator's deliberate layout (a group-readable secret mount) still starts.
fn warn_if_key_file_shared(path: &std::path::Path) {
    if let Some(mode) = shared_key_file_mode(path) {
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "seal key file {} is readable by group or others (mode {mode:o}); make it 0600 \
                 (chmod 600 {})",
                path.display(),
                path.display()
            );
        }
    }
}

/// The file's permission bits when its group or others may read or write it.
fn shared_key_file_mode(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

impl Server {
    /// Build from settings. `dev`: in-memory storage unless a path is set, a generated (or
    /// kept) seal key, and a root token; no secrets engine is mounted, as in Vault's dev mode.
    pub async fn build(settings: &Settings, dev: Option<DevOptions>) -> anyhow::Result<Self> {
        Self::build_announcing(settings, dev, |_| {}).await
    }

    /// [`Server::build`], showing a root token minted at this start through `announce` before
    /// the start is recorded as done (see [`INIT_MARKER`]); `leasehold server` prints it there.
    pub async fn build_announcing(
        settings: &Settings,
        dev: Option<DevOptions>,
        announce: impl FnOnce(&SecretString),
    ) -> anyhow::Result<Self> {
        let clock: SharedClock = Arc::new(SystemClock);
        let dev_mode = dev.is_some();
        let (storage, storage_type) = open_storage(settings, dev.as_ref()).await?;
        // Follow other nodes' writes from before the first read, so none falls in between.
        let changes = storage.changes();
        let seal = load_seal(settings, dev.as_ref())?;
        // The keyring before anything is read: it creates it on a new storage, migrates a store
        // written by an earlier version (once, under a storage lock), and resumes a rotation's
        // rewrite that a stop cut short.
        if crate::storage::keyring::load(&seal, &storage, clock.as_ref())
            .await
            .context("loading the keyring")?
        {
            crate::storage::keyring::spawn_rewrite(seal.clone(), storage.clone());
        }
        let kv = SealedKv::new(storage.clone(), seal.clone());
        let system = MountTtls {
            default_ttl: settings.default_lease_ttl,
            max_ttl: settings.max_lease_ttl,
        };
        // Secrets engines and auth methods alike run on the core's clock.
        let table = |kind, factory| MountTable::load(kind, kv.clone(), factory, system);
        let mounts = Arc::new(table(MountKind::Secrets, backend_factory(clock.clone())).await?);
        let auth_mounts = Arc::new(table(MountKind::Auth, auth_factory(clock.clone())).await?);
        // The token store before the lease engine: the engine ends expired tokens through it,
        // and the store is handed the engine on each call that touches leases (no cycle).
        let tokens = Arc::new(TokenStore::open(kv.clone()).await?);
        let leases = Arc::new(LeaseEngine::new(
            storage.clone(),
            seal,
            clock.clone(),
            mounts.clone(),
            tokens.clone(),
            settings.lease.clone(),
        ));
        leases.stamp_untagged_rows().await?;
        leases.recover().await?;
        let api_addr = settings.api_addr.clone().unwrap_or_else(|| {
            let scheme = if settings.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", settings.address)
        });
        let cluster = crate::core::cluster::Cluster::join(
            storage.clone(),
            leases.clone(),
            clock.clone(),
            api_addr,
        )
        .await
        .context("joining the cluster")?;
        let policies = crate::core::acl::PolicyStore::new(kv.clone());
        let quotas = crate::core::quotas::Quotas::load(kv.clone()).await?;
        // Nodes starting together on an empty storage: one creates the root token and the
        // cluster id, the others see them.
        let init = HeldLock::acquire(&storage, "core/init").await?;
        let first_start = first_start(&kv, &tokens, dev.as_ref(), &clock, announce).await;
        init.release().await;
        let (new_root_token, cluster_id) = first_start?;
        let audit = crate::audit::AuditBroker::load(kv.clone(), leases.node_id()).await?;
        leases.observers.add(Arc::new(crate::audit::AuditObserver {
            broker: audit.clone(),
            node: leases.node_id().to_owned(),
        }));
        let metrics = Arc::new(crate::metrics::Metrics::new(
            mounts.clone(),
            settings.unauthenticated_metrics_access,
        )?);
        leases.observers.add(metrics.clone());
        let core = Arc::new(Core {
            audit,
            mounts,
            auth_mounts,
            leases: leases.clone(),
            tokens,
            policies,
            clock: clock.clone(),
            storage_type,
            cluster_id,
            metrics,
            cluster: cluster.clone(),
            quotas,
            approvals: Arc::new(crate::approval::Approvals::new(
                kv.clone(),
                Arc::new(crate::approval::notify::Notifier::new(clock.clone())),
            )),
        });
        // Report-only at start-up: orphans are logged, never destroyed without an admin's call.
        let startup = core.clone();
        tokio::spawn(async move {
            match startup.reconcile(None, false).await {
                Ok(r) if r.orphans.is_empty() => {
                    info!(
                        mounts = r.mounts_checked.len(),
                        "start-up reconciliation found no orphan accounts"
                    )
                }
                Ok(r) => tracing::warn!(
                    orphans = r.orphans.len(),
                    "start-up reconciliation found {} orphan accounts (see above)",
                    r.orphans.len()
                ),
                Err(e) => tracing::warn!(error = %e, "start-up reconciliation failed"),
            }
        });
        let (shutdown, rx) = watch::channel(false);
        tokio::spawn(crate::lease::integrity_sweep::run(
            leases.clone(),
            rx.clone(),
        ));
        tokio::spawn(crate::core::tidy_sweep::run(
            leases.clone(),
            cluster.leader_watch(),
            rx.clone(),
        ));
        let worker = tokio::spawn(expiry::run(leases, rx.clone()));
        tokio::spawn(crate::core::ticker::run(
            core.mounts.clone(),
            core.clock.clone(),
            cluster.leader_watch(),
            rx.clone(),
        ));
        tokio::spawn(crate::core::approvals::sweep::run(
            core.clone(),
            cluster.leader_watch(),
            rx.clone(),
        ));
        if let Some(changes) = changes {
            tokio::spawn(crate::core::follow::run(core.clone(), changes, rx.clone()));
        }
        let membership = tokio::spawn(cluster.run(rx));
        Ok(Self {
            core,
            new_root_token,
            limits: settings.limits,
            // On by default in dev mode only, where the operator is trying leasehold out.
            ui: settings.ui.unwrap_or(dev_mode),
            shutdown,
            worker,
            membership,
        })
    }

    /// Stop the background work, close the audit chains (a signed closing checkpoint on each
    /// device, once nothing else will be written), then leave the cluster (others take over at
    /// once).
    async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.worker.await;
        let _ = self.membership.await;
        self.core.audit.close().await;
        self.core.cluster.leave().await;
    }

    /// Serve HTTP on `listener` until `stop` resolves, then let in-flight requests finish and stop
    /// the expiry worker.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve_with(listener, None, stop).await
    }

    /// Serve HTTPS (with `tls`, from [`listener::load_tls`]) or HTTP on `listener` until `stop`
    /// resolves, then let in-flight requests finish and stop the expiry worker.
    pub async fn serve_with(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = crate::http::router(self.core.clone(), self.ui);
        let served = listener::serve(listener, tls, self.limits, app, stop).await;
        self.stop().await;
        served
    }
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    info!("shutting down: finishing in-flight requests");
}

/// Print a root token created at this start once: dev mode's banner (see [`dev::banner`]), or
/// the first start's notice.
pub fn announce_root_token(token: &SecretString, dev: Option<(&str, Option<&std::path::Path>)>) {
    match dev {
        Some((address, storage)) => dev::banner(token, address, storage),
        None => {
            println!("A root token was created at first start. It is shown only this once:");
            println!("Root Token: {}", token.expose_secret());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_file_readable_by_others_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("seal.key");
        std::fs::write(&key, "00".repeat(32)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(super::shared_key_file_mode(&key), Some(0o644));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(super::shared_key_file_mode(&key), Some(0o640));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(super::shared_key_file_mode(&key), None);
    }
}
