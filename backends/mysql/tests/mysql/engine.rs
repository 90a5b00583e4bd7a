//! The whole engine (`DatabaseBackend` + `MySqlDriverFactory`) through the `Backend` trait, the
//! way the core drives it: config, role, creds (planned only), create, renew, revoke.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leasehold_backend::{
    Backend, BackendError, Fields, MountStorage, Operation, Request, Response, SecretContext,
    StorageError,
};
use leasehold_database::DatabaseBackend;
use leasehold_mysql::MySqlDriverFactory;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::support::*;

#[derive(Default)]
struct MemoryStorage(Mutex<BTreeMap<String, Vec<u8>>>);

#[async_trait]
impl MountStorage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        Ok(self.0.lock().unwrap().get(key).cloned().map(Zeroizing::new))
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.0
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(str::to_owned)
            .collect())
    }
}

struct Engine {
    backend: DatabaseBackend,
    storage: Arc<MemoryStorage>,
}

impl Engine {
    fn new() -> Self {
        Self {
            backend: DatabaseBackend::new(vec![Arc::new(MySqlDriverFactory::new())]),
            storage: Arc::new(MemoryStorage::default()),
        }
    }

    async fn call(
        &self,
        operation: Operation,
        path: &str,
        body: Value,
    ) -> Result<Option<Response>, BackendError> {
        let Value::Object(map) = body else {
            unreachable!()
        };
        self.backend
            .handle(Request {
                operation,
                path: path.into(),
                fields: Fields::new(map),
                storage: self.storage.clone(),
                mount_path: "database/".into(),
                display_name: "token".into(),
                remote_addr: None,
            })
            .await
    }

    fn ctx(
        &self,
        secret: &leasehold_backend::PlannedSecret,
        expire: DateTime<Utc>,
    ) -> SecretContext {
        SecretContext {
            storage: self.storage.clone(),
            kind: secret.kind.clone(),
            internal: secret.internal.clone(),
            expire_time: expire,
        }
    }
}

/// Vault's connection form. The engine's default username template makes names of up to 40
/// characters, more than MySQL's 32, so the connection sets one that fits.
fn connection(port: u16) -> Value {
    json!({
        "plugin_name": "mysql-database-plugin",
        "connection_url": format!("{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{port})/"),
        "username": "root",
        "allowed_roles": "reader",
        "username_template": "v-{{.RoleName | truncate 8}}-{{random 20}}",
    })
}

#[tokio::test]
async fn issue_renew_revoke_through_the_engine() {
    let e = Engine::new();
    e.call(Operation::Create, "config/my", connection(port()))
        .await
        .unwrap();
    e.call(
        Operation::Create,
        "roles/reader",
        json!({"db_name": "my", "creation_statements": CREATE, "default_ttl": "1h", "max_ttl": "2h"}),
    )
    .await
    .unwrap();

    let secret = e
        .call(Operation::Read, "creds/reader", json!({}))
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    let user = secret.account.clone();
    assert!(user.starts_with("v-reader-"), "{user}");
    assert!(user.len() <= 32, "{user}");
    let t = Target::new();
    assert!(
        t.accounts(&user).await.is_empty(),
        "creds must only plan the user"
    );

    let expire = in_an_hour();
    let creds = e.backend.create(&e.ctx(&secret, expire)).await.unwrap();
    assert_eq!(creds.data["username"], json!(user));
    let password = creds.secrets[0].1.clone();
    let mut session = t
        .login(&user, &password)
        .await
        .expect("issued credential cannot log in");

    // Renewal has nothing to move in MySQL, and succeeds.
    let later = expire + chrono::Duration::minutes(30);
    e.backend.renew(&e.ctx(&secret, later)).await.unwrap();

    e.backend.revoke(&e.ctx(&secret, later)).await.unwrap();
    assert!(!alive(&mut session).await, "session survived revocation");
    assert!(t.login(&user, &password).await.is_err());
    assert!(t.accounts(&user).await.is_empty());
    // Revoking again (a retry, a crash replay) is success.
    e.backend.revoke(&e.ctx(&secret, later)).await.unwrap();
    e.backend.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_server_fails_verification_with_a_400() {
    let e = Engine::new();
    let free_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let err = e
        .call(Operation::Create, "config/my", connection(free_port))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("error creating database object: error verifying connection: "),
        "{err}"
    );
    assert!(e
        .call(Operation::Read, "config/my", json!({}))
        .await
        .unwrap()
        .is_none());
}
