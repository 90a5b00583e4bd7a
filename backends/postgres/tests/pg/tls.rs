//! TLS to the target, against a throwaway cluster serving a certificate for `localhost` (and no
//! address) from a CA made here. What each `sslmode` claims is checked in the server itself:
//! `pg_stat_ssl` says whether the driver's own session is encrypted.

use std::path::PathBuf;
use std::sync::Arc;

use leasehold_database::{DeleteUser, Driver, DriverFactory};
use leasehold_postgres::PgDriverFactory;
use leasehold_testkit::{PgCluster, TestCa};
use tokio::sync::OnceCell;

use crate::support::*;

/// The TLS cluster, its CA's PEM file, and a PEM file of a CA that signed nothing of it.
struct TlsTarget {
    cluster: PgCluster,
    ca: PathBuf,
    other_ca: PathBuf,
}

static TLS: OnceCell<TlsTarget> = OnceCell::const_new();

async fn tls_target() -> &'static TlsTarget {
    TLS.get_or_init(|| async {
        let ca = TestCa::new("leasehold test CA").unwrap();
        let (cert, key) = ca.server_cert(&["localhost"]).unwrap();
        let cluster = PgCluster::start_tls(&cert, &key).await.unwrap();
        // In the cluster's directory, which goes with it.
        let dir = cluster.dir();
        let (ca_path, other_path) = (dir.join("ca.pem"), dir.join("other.pem"));
        std::fs::write(&ca_path, ca.pem()).unwrap();
        std::fs::write(&other_path, TestCa::new("somebody else").unwrap().pem()).unwrap();
        TlsTarget {
            cluster,
            ca: ca_path,
            other_ca: other_path,
        }
    })
    .await
}

/// A driver for a fresh database of `cluster`, at `host`, with `params` after the `?`.
async fn open_driver(cluster: &PgCluster, host: &str, params: &str) -> (Arc<dyn Driver>, String) {
    let db = format!("t_{}", random_lower(12));
    cluster.create_database(&db).await.unwrap();
    let mut config = Target::config(cluster, &db, cluster.port());
    config.connection_url = format!(
        "postgresql://{{{{username}}}}:{{{{password}}}}@{host}:{}/{db}?{params}",
        cluster.port()
    );
    (PgDriverFactory::new().open(&config).unwrap(), db)
}

/// Whether the driver's sessions on `db` are encrypted (None: it has none).
async fn encrypted(cluster: &PgCluster, db: &str) -> Option<bool> {
    let admin = cluster.admin(db).await.unwrap();
    let rows = admin
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.application_name = 'leasehold'",
            &[&db],
        )
        .await
        .unwrap();
    let all: Vec<bool> = rows.iter().map(|r| r.get(0)).collect();
    all.first().map(|first| {
        assert!(all.iter().all(|s| s == first), "{all:?}");
        *first
    })
}

#[tokio::test]
async fn verify_full_with_the_ca_connects_over_tls_and_issues() {
    let t = tls_target().await;
    let params = format!("sslmode=verify-full&sslrootcert={}", t.ca.display());
    let (driver, db) = open_driver(&t.cluster, "localhost", &params).await;
    driver
        .verify()
        .await
        .expect("verify-full with the right CA");
    assert_eq!(encrypted(&t.cluster, &db).await, Some(true));

    // The whole path works over it: create, log in, destroy.
    let (user, password) = (new_username(), new_password());
    driver
        .new_user(leasehold_database::NewUser {
            username: &user,
            password: &password,
            expiration: in_an_hour(),
            creation_statements: &[CREATE.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap();
    use secrecy::ExposeSecret;
    t.cluster
        .connect(&user, password.expose_secret(), &db)
        .await
        .expect("the user made over TLS logs in");
    driver
        .delete_user(DeleteUser {
            username: &user,
            revocation_statements: &[],
            reassign_owned_to: None,
        })
        .await
        .unwrap();
    assert!(t
        .cluster
        .connect(&user, password.expose_secret(), &db)
        .await
        .is_err());
    driver.close().await;
}

#[tokio::test]
async fn verify_full_checks_the_name_and_verify_ca_only_the_chain() {
    let t = tls_target().await;
    // The certificate names localhost, not 127.0.0.1.
    let full = format!("sslmode=verify-full&sslrootcert={}", t.ca.display());
    let (driver_full, _) = open_driver(&t.cluster, "127.0.0.1", &full).await;
    let err = driver_full.verify().await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");

    let ca_only = format!("sslmode=verify-ca&sslrootcert={}", t.ca.display());
    let (driver_ca, db) = open_driver(&t.cluster, "127.0.0.1", &ca_only).await;
    driver_ca
        .verify()
        .await
        .expect("verify-ca ignores the name");
    assert_eq!(encrypted(&t.cluster, &db).await, Some(true));
    driver_ca.close().await;
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused() {
    let t = tls_target().await;
    for mode in ["verify-ca", "verify-full", "require"] {
        // With sslrootcert, require checks the chain too (as libpq).
        let params = format!("sslmode={mode}&sslrootcert={}", t.other_ca.display());
        let (driver, db) = open_driver(&t.cluster, "localhost", &params).await;
        let err = driver.verify().await.unwrap_err();
        assert!(err.to_string().contains("certificate"), "{mode}: {err}");
        assert_eq!(encrypted(&t.cluster, &db).await, None, "{mode}");
    }
}

#[tokio::test]
async fn require_and_prefer_encrypt_without_roots_and_disable_does_not() {
    let t = tls_target().await;
    for (params, tls) in [
        ("sslmode=require", true),
        ("", true),
        ("sslmode=disable", false),
    ] {
        let (driver, db) = open_driver(&t.cluster, "127.0.0.1", params).await;
        driver.verify().await.expect(params);
        assert_eq!(encrypted(&t.cluster, &db).await, Some(tls), "{params:?}");
        driver.close().await;
    }
}

#[tokio::test]
async fn require_fails_against_a_server_without_tls() {
    let plain = PgCluster::shared().await;
    let (driver, db) = open_driver(plain, "127.0.0.1", "sslmode=require").await;
    assert!(driver.verify().await.is_err());
    assert_eq!(encrypted(plain, &db).await, None);
    // The default (prefer) falls back to plain TCP there.
    let (driver, db) = open_driver(plain, "127.0.0.1", "").await;
    driver.verify().await.unwrap();
    assert_eq!(encrypted(plain, &db).await, Some(false));
    driver.close().await;
}
