//! A database of its own on the shared cluster, a driver pointed at it, and look-ups in pg_roles.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use leasehold_database::{ConnectionConfig, DeleteUser, Driver, DriverFactory, NewUser};
use leasehold_postgres::PgDriverFactory;
use leasehold_testkit::PgCluster;
use rand::distributions::{Alphanumeric, DistString};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::Client;

pub const CREATE: &str =
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';\n\
     GRANT ALL ON SCHEMA public TO \"{{name}}\";";

pub fn random_lower(n: usize) -> String {
    Alphanumeric
        .sample_string(&mut rand::thread_rng(), n)
        .to_lowercase()
}

pub fn new_username() -> String {
    format!("v-test-{}", random_lower(16))
}

pub fn new_password() -> SecretString {
    SecretString::from(format!(
        "Aa1-{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 16)
    ))
}

/// Whole seconds: that is what `{{expiration}}` carries.
pub fn in_an_hour() -> DateTime<Utc> {
    (Utc::now() + chrono::Duration::hours(1)).trunc_subsecs(0)
}

pub struct Target {
    pub cluster: &'static PgCluster,
    pub db: String,
    pub driver: Arc<dyn Driver>,
}

impl Target {
    pub async fn new() -> Target {
        let cluster = PgCluster::shared().await;
        let db = format!("t_{}", random_lower(12));
        cluster.create_database(&db).await.unwrap();
        let driver = PgDriverFactory::new()
            .open(&Self::config(cluster, &db, cluster.port()))
            .unwrap();
        Target {
            cluster,
            db,
            driver,
        }
    }

    pub fn config(cluster: &PgCluster, db: &str, port: u16) -> ConnectionConfig {
        ConnectionConfig {
            name: "pg".into(),
            plugin_name: "postgresql-database-plugin".into(),
            connection_url: format!(
                "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/{db}"
            ),
            username: Some("postgres".into()),
            password: Some(SecretString::from(cluster.superuser_password())),
            disable_escaping: false,
            max_open_connections: 2,
            max_idle_connections: 2,
            max_connection_lifetime: Duration::ZERO,
            ..Default::default()
        }
    }

    pub async fn admin(&self) -> Client {
        self.cluster.admin(&self.db).await.unwrap()
    }

    pub async fn login(&self, user: &str, password: &SecretString) -> anyhow::Result<Client> {
        self.cluster
            .connect(user, password.expose_secret(), &self.db)
            .await
    }

    /// (rolcanlogin, rolvaliduntil as Unix seconds) of `user`, or None if it does not exist.
    pub async fn role(&self, user: &str) -> Option<(bool, Option<i64>)> {
        self.admin()
            .await
            .query_opt(
                "SELECT rolcanlogin, extract(epoch FROM rolvaliduntil)::int8 FROM pg_roles WHERE rolname = $1",
                &[&user],
            )
            .await
            .unwrap()
            .map(|row| (row.get(0), row.get(1)))
    }

    /// Create `user` with the standard statements, expiring at `expiration`.
    pub async fn create(&self, user: &str, password: &SecretString, expiration: DateTime<Utc>) {
        self.driver
            .new_user(NewUser {
                username: user,
                password,
                expiration,
                creation_statements: &[CREATE.to_owned()],
                rollback_statements: &[],
            })
            .await
            .unwrap();
    }

    pub async fn delete(
        &self,
        user: &str,
    ) -> Result<leasehold_database::Revoked, leasehold_database::DriverError> {
        self.driver
            .delete_user(DeleteUser {
                username: user,
                revocation_statements: &[],
                reassign_owned_to: None,
            })
            .await
    }
}
