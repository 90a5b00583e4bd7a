//! The whole engine (`DatabaseBackend` + `PgDriverFactory`) through the `Backend` trait, the way
//! the core drives it: config, role, creds (planned only), create, renew, revoke.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leasehold_backend::{
    Backend, BackendError, Fields, MountStorage, Operation, Request, Response, SecretContext,
    StorageError,
};
use leasehold_database::DatabaseBackend;
use leasehold_postgres::PgDriverFactory;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::support::*;

#[derive(Default)]
pub struct MemoryStorage(pub Mutex<BTreeMap<String, Vec<u8>>>);

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

pub struct Engine {
    pub backend: DatabaseBackend,
    pub storage: Arc<MemoryStorage>,
}

impl Engine {
    pub fn new() -> Self {
        Self {
            backend: DatabaseBackend::new(vec![Arc::new(PgDriverFactory::new())]),
            storage: Arc::new(MemoryStorage::default()),
        }
    }

    /// An engine on `clock` and `storage` (a restart keeps the storage).
    pub fn with(clock: leasehold_database::Clock, storage: Arc<MemoryStorage>) -> Self {
        Self {
            backend: DatabaseBackend::with_clock(vec![Arc::new(PgDriverFactory::new())], clock),
            storage,
        }
    }

    pub async fn call(
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

    pub fn ctx(
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

fn connection(t: &Target, password: &str) -> Value {
    json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/{}", t.cluster.port(), t.db),
        "username": "postgres",
        "password": password,
        "allowed_roles": "migrate",
    })
}

#[tokio::test]
async fn issue_renew_revoke_through_the_engine() {
    let t = Target::new().await;
    let e = Engine::new();
    e.call(
        Operation::Create,
        "config/pg",
        connection(&t, t.cluster.superuser_password()),
    )
    .await
    .unwrap();
    e.call(
        Operation::Create,
        "roles/migrate",
        json!({"db_name": "pg", "creation_statements": CREATE, "default_ttl": "1h", "max_ttl": "2h"}),
    )
    .await
    .unwrap();

    let secret = e
        .call(Operation::Read, "creds/migrate", json!({}))
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    let user = secret.account.clone();
    assert!(user.starts_with("v-token-migrate-"), "{user}");
    assert_eq!(t.role(&user).await, None, "creds must only plan the user");

    let expire = in_an_hour();
    let creds = e.backend.create(&e.ctx(&secret, expire)).await.unwrap();
    assert_eq!(creds.data["username"], json!(user));
    let password = creds.secrets[0].1.clone();
    t.login(&user, &password)
        .await
        .expect("issued credential cannot log in");
    assert_eq!(t.role(&user).await, Some((true, Some(expire.timestamp()))));

    let later = expire + chrono::Duration::minutes(30);
    e.backend.renew(&e.ctx(&secret, later)).await.unwrap();
    assert_eq!(t.role(&user).await, Some((true, Some(later.timestamp()))));

    let session = t.login(&user, &password).await.unwrap();
    e.backend.revoke(&e.ctx(&secret, later)).await.unwrap();
    assert!(session.simple_query("SELECT 1").await.is_err());
    assert!(t.login(&user, &password).await.is_err());
    assert_eq!(t.role(&user).await, None);
    // Revoking again (a retry, a crash replay) is success.
    e.backend.revoke(&e.ctx(&secret, later)).await.unwrap();
    e.backend.shutdown().await;
}

/// A `password_charset` with `$` would make some generated passwords unusable in statements (and
/// every issue that drew one fail): refused when the connection is written, naming the field.
#[tokio::test]
async fn a_password_charset_statements_cannot_hold_is_a_400() {
    let t = Target::new().await;
    let e = Engine::new();
    let mut body = connection(&t, t.cluster.superuser_password());
    body["password_charset"] = json!("abcdefghijklmnopqrstuvwxyz0123456789$");
    let err = e
        .call(Operation::Create, "config/pg", body.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
    assert!(
        err.to_string().contains("password_charset holds \"$\""),
        "{err}"
    );
    assert!(e
        .call(Operation::Read, "config/pg", json!({}))
        .await
        .unwrap()
        .is_none());
    // Without it the same connection is accepted.
    body["password_charset"] = json!("abcdefghijklmnopqrstuvwxyz0123456789-");
    e.call(Operation::Create, "config/pg", body).await.unwrap();
}

#[tokio::test]
async fn a_wrong_root_password_fails_verification_with_a_400() {
    let t = Target::new().await;
    let e = Engine::new();
    let wrong = "Wrong-Root-Pass-1";
    let err = e
        .call(Operation::Create, "config/pg", connection(&t, wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("error creating database object: error verifying connection: "),
        "{text}"
    );
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert!(e
        .call(Operation::Read, "config/pg", json!({}))
        .await
        .unwrap()
        .is_none());
}
