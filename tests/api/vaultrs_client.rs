//! vaultrs 0.8.0, unchanged, against the server: the calls its users make for dynamic secrets.
//! vaultrs is strict: every 200 must carry `request_id`, `lease_id`,
//! `lease_duration` and `renewable`, and each response struct has required fields, so a call
//! that returns Ok here proves the shape; the effects are checked in PostgreSQL.

use serde_json::json;
use vaultrs::api::database::requests::{
    PostgreSQLConnectionRequest, SetRoleRequest, SetStaticRoleRequest,
};
use vaultrs::api::token::requests::CreateTokenRequest;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use vaultrs::{database, sys, token};

use crate::app::*;

fn client(app: &TestApp, token: &str) -> VaultClient {
    // vaultrs builds its HTTP client on rustls's process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = VaultClientSettingsBuilder::default()
        .address(format!("http://{}", app.addr))
        .token(token)
        .build()
        .unwrap();
    VaultClient::new(settings).unwrap()
}

#[tokio::test]
async fn database_connections_roles_and_credentials() {
    let app = TestApp::spawn().await;
    let pg = PgTarget::new().await;
    let c = client(&app, &app.token);
    sys::mount::enable(&c, "database", "database", None)
        .await
        .unwrap();

    database::connection::postgres(
        &c,
        "database",
        "pg",
        Some(
            PostgreSQLConnectionRequest::builder()
                .plugin_name("postgresql-database-plugin")
                .connection_url(pg.url_on_port(pg.cluster.port()))
                .username("postgres")
                .password(pg.cluster.superuser_password())
                .allowed_roles(vec!["*".into()]),
        ),
    )
    .await
    .unwrap();
    let conn = database::connection::read(&c, "database", "pg")
        .await
        .unwrap();
    assert_eq!(conn.plugin_name, "postgresql-database-plugin");
    assert_eq!(conn.connection_details.username, "postgres");
    assert!(!conn
        .connection_details
        .connection_url
        .contains(pg.cluster.superuser_password()));

    database::role::set(
        &c,
        "database",
        "migrate",
        Some(
            SetRoleRequest::builder()
                .db_name("pg")
                .creation_statements(vec![
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';".into(),
                ])
                .default_ttl("1h")
                .max_ttl("2h"),
        ),
    )
    .await
    .unwrap();
    let role = database::role::read(&c, "database", "migrate")
        .await
        .unwrap();
    assert_eq!(
        (role.db_name.as_str(), role.default_ttl, role.max_ttl),
        ("pg", 3600, 7200)
    );
    assert!(role.revocation_statements.is_empty());
    let roles = database::role::list(&c, "database").await.unwrap();
    assert_eq!(roles.keys, ["migrate"]);

    // vaultrs hands back only `data` (it drops the lease id); the lease is still ours to end.
    let creds = database::role::creds(&c, "database", "migrate")
        .await
        .unwrap();
    assert!(pg.can_login(&creds.username, &creds.password).await);
    app.ok("sys/leases/revoke-prefix/database/creds/migrate", json!({}))
        .await;
    assert!(!pg.role_exists(&creds.username).await);

    // Static roles: the password vaultrs reads logs in, and rotate changes it.
    let user = format!("app_{}", rand_suffix());
    let admin = pg
        .cluster
        .connect("postgres", pg.cluster.superuser_password(), &pg.db)
        .await
        .unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{user}\" WITH LOGIN PASSWORD 'Init-1'"
        ))
        .await
        .unwrap();
    database::static_role::set(
        &c,
        "database",
        "app",
        Some(
            SetStaticRoleRequest::builder()
                .db_name("pg")
                .username(user.as_str())
                .rotation_period("1h"),
        ),
    )
    .await
    .unwrap();
    let first = database::static_role::creds(&c, "database", "app")
        .await
        .unwrap();
    assert_eq!(first.username, user);
    assert_eq!(first.rotation_period, 3600);
    assert!(first.ttl <= 3600 && !first.last_vault_rotation.is_empty());
    assert!(pg.can_login(&user, &first.password).await);
    assert!(!pg.can_login(&user, "Init-1").await);
    database::static_role::rotate(&c, "database", "app")
        .await
        .unwrap();
    let second = database::static_role::creds(&c, "database", "app")
        .await
        .unwrap();
    assert!(pg.can_login(&user, &second.password).await);
    assert!(!pg.can_login(&user, &first.password).await);
    let read = database::static_role::read(&c, "database", "app")
        .await
        .unwrap();
    assert_eq!((read.db_name.as_str(), read.rotation_period), ("pg", 3600));

    // Errors reach vaultrs as APIError with Vault's messages.
    match database::role::creds(&c, "database", "no-such-role").await {
        Err(ClientError::APIError { code, errors }) => {
            assert!((400..500).contains(&code), "{code}");
            assert!(
                errors.iter().any(|e| e.contains("no-such-role")),
                "{errors:?}"
            );
        }
        other => panic!("expected an APIError, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_mounts_policies_and_health() {
    let app = TestApp::spawn().await;
    let c = client(&app, &app.token);

    let health = sys::health(&c).await.unwrap();
    assert!(health.initialized && !health.sealed);
    sys::mount::enable(&c, "db2", "database", None)
        .await
        .unwrap();
    let mounts = sys::mount::list(&c).await.unwrap();
    assert_eq!(mounts["db2/"].mount_type, "database");

    sys::policy::set(
        &c,
        "reader",
        r#"path "database/creds/*" { capabilities = ["read"] }"#,
    )
    .await
    .unwrap();
    assert!(sys::policy::list(&c)
        .await
        .unwrap()
        .policies
        .contains(&"reader".to_owned()));

    let auth = token::new(
        &c,
        Some(
            CreateTokenRequest::builder()
                .policies(vec!["reader".into()])
                .ttl("1h"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(auth.lease_duration, 3600);
    let child = client(&app, &auth.client_token);
    let me = token::lookup_self(&child).await.unwrap();
    assert_eq!(me.accessor, auth.accessor);
    assert!(me.policies.contains(&"reader".to_owned()));
    assert!(me.ttl <= 3600 && me.ttl > 3500);
    let renewed = token::renew_self(&child, Some("30m")).await.unwrap();
    assert_eq!(renewed.lease_duration, 1800);
    // The child's policy does not reach sys/.
    match sys::mount::list(&child).await {
        Err(ClientError::APIError { code: 403, .. }) => {}
        other => panic!("expected a 403, got {other:?}"),
    }
    token::revoke_self(&child).await.unwrap();
    assert!(token::lookup_self(&child).await.is_err());
}
