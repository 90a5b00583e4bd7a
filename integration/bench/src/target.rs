//! The PostgreSQL target (a throwaway SCRAM cluster from the testkit) and the baselines' direct
//! tools: the same creation SQL through a deadpool-postgres pool of the same size as the
//! server's, and a lease-row write to a SQLite file with the server's durability settings.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use leasehold_testkit::PgCluster;
use rand::distributions::{Alphanumeric, DistString};
use tokio_postgres::NoTls;

/// What each issued account is: a login role that expires on its own and may read everything.
/// No grant on a shared schema: concurrent GRANTs on one schema collide in the catalog ("tuple
/// concurrently updated"), which would measure PostgreSQL's retries rather than either side.
pub const CREATION_STATEMENTS: &[&str] = &[
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    "GRANT pg_read_all_data TO \"{{name}}\";",
];

/// The target cluster and a direct pool to it.
pub struct Target {
    pub cluster: PgCluster,
    pub pool: Pool,
}

/// A random name suffix from a safe alphabet.
pub fn suffix(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), n)
}

impl Target {
    /// Start a cluster; the direct pool holds up to `pool_size` connections.
    pub async fn start(pool_size: usize) -> Result<Self> {
        let cluster = PgCluster::start().await?;
        let config: tokio_postgres::Config = cluster.admin_url("postgres").parse()?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .build()?;
        Ok(Self { cluster, pool })
    }

    /// The connection URL leasehold is configured with (placeholders it fills) and the
    /// superuser's name and password.
    pub fn leasehold_connection(&self) -> (String, &'static str, String) {
        (
            format!(
                "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres",
                self.cluster.port()
            ),
            "postgres",
            self.cluster.superuser_password().to_owned(),
        )
    }

    /// The creation statements for `name`, run directly in one transaction, as leasehold's
    /// driver runs them.
    pub async fn create_direct(&self, name: &str, valid_until: &str) -> Result<()> {
        let password = suffix(20);
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        for stmt in CREATION_STATEMENTS {
            let sql = stmt
                .replace("{{name}}", name)
                .replace("{{password}}", &password)
                .replace("{{expiration}}", valid_until);
            tx.batch_execute(&sql).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The cluster's processes that `pg_stat_activity` lists (client backends, this pool's
    /// own included, and the background processes), only those connected to `database` if
    /// one is named.
    pub async fn process_ids(&self, database: Option<&str>) -> Result<Vec<u32>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT pid FROM pg_stat_activity WHERE $1::text IS NULL OR datname = $1",
                &[&database],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| u32::try_from(r.get::<_, i32>(0)).ok())
            .collect())
    }

    /// `DROP ROLE`, directly.
    pub async fn drop_direct(&self, name: &str) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""))
            .await?;
        Ok(())
    }

    /// `ALTER ROLE ... VALID UNTIL`, directly.
    pub async fn extend_direct(&self, name: &str, valid_until: &str) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .batch_execute(&format!(
                "ALTER ROLE \"{name}\" VALID UNTIL '{valid_until}'"
            ))
            .await?;
        Ok(())
    }

    /// Roles whose name starts with `prefix`.
    pub async fn roles(&self, prefix: &str) -> Result<Vec<String>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)",
                &[&prefix],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Drop every role starting with `prefix` (clean-up between benchmarks).
    pub async fn drop_all(&self, prefix: &str) -> Result<usize> {
        let roles = self.roles(prefix).await?;
        for r in &roles {
            self.drop_direct(r).await?;
        }
        Ok(roles.len())
    }
}

/// `VALID UNTIL` text for `secs` from now.
pub fn valid_until(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .format("%Y-%m-%d %H:%M:%S+00")
        .to_string()
}

/// The baseline's lease table: one SQLite file in WAL mode with `synchronous=FULL`, as the
/// server's, each write its own committed transaction.
#[derive(Clone)]
pub struct RowLog {
    conn: Arc<Mutex<rusqlite::Connection>>,
}

impl RowLog {
    /// Open (creating) `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS leases (id TEXT PRIMARY KEY, account TEXT NOT NULL, \
             expire_time INTEGER NOT NULL, internal BLOB NOT NULL)",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Insert one row (on the blocking pool, as the server does).
    pub async fn insert(&self, id: String, account: String) -> Result<()> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let c = conn.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            c.execute(
                "INSERT INTO leases (id, account, expire_time, internal) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![
                    id,
                    account,
                    chrono::Utc::now().timestamp_millis(),
                    vec![0u8; 64]
                ],
            )?;
            Ok(())
        })
        .await
        .context("row write task")?
    }

    /// Move one row's expire time (a renewal's write).
    pub async fn touch(&self, id: String) -> Result<()> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let c = conn.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            c.execute(
                "UPDATE leases SET expire_time = ?2 WHERE id = ?1",
                rusqlite::params![id, chrono::Utc::now().timestamp_millis()],
            )?;
            Ok(())
        })
        .await
        .context("row write task")?
    }
}
