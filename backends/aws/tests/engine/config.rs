//! `config/root`, `config/lease` and `config/rotate-root`.

use leasehold_backend::{Backend, BackendError, Operation, SecretEngine};
use serde_json::json;

use crate::support::engine::Engine;
use crate::support::moto::Keys;
use crate::unique;

async fn exists(engine: &Engine) -> Result<Option<bool>, BackendError> {
    let req = engine.request(Operation::Update, "config/root", json!({}));
    engine.backend.exists(&req).await
}

#[tokio::test]
async fn config_root_create_resets_update_merges_and_read_hides_the_secret() {
    let engine = Engine::offline();
    assert_eq!(exists(&engine).await.unwrap(), Some(false));
    assert!(engine.read("config/root").await.unwrap().is_none());

    engine
        .call(
            Operation::Create,
            "config/root",
            json!({"access_key": "AKIAFIRST", "secret_key": "very-secret-value", "region": "eu-west-1",
                   "iam_endpoint": "http://127.0.0.1:1/", "username_template": "x-{{unix_time}}-{{random 8}}"}),
        )
        .await
        .unwrap();
    assert_eq!(exists(&engine).await.unwrap(), Some(true));
    let read = engine.read("config/root").await.unwrap().unwrap();
    assert_eq!(read["access_key"], "AKIAFIRST");
    assert_eq!(read["region"], "eu-west-1");
    assert_eq!(read["iam_endpoint"], "http://127.0.0.1:1");
    assert_eq!(read["max_retries"], -1);
    assert_eq!(read["username_template"], "x-{{unix_time}}-{{random 8}}");
    assert!(read.get("secret_key").is_none());
    assert!(!read.to_string().contains("very-secret-value"));

    // An update changes what it names, keeps the rest, and always rewrites username_template.
    engine
        .write(
            "config/root",
            json!({"region": "us-west-2", "max_retries": 5}),
        )
        .await
        .unwrap();
    let read = engine.read("config/root").await.unwrap().unwrap();
    assert_eq!(read["access_key"], "AKIAFIRST");
    assert_eq!(read["region"], "us-west-2");
    assert_eq!(read["max_retries"], 5);
    assert_eq!(read["username_template"], "");

    // A create resets everything it does not name.
    engine
        .call(
            Operation::Create,
            "config/root",
            json!({"region": "ap-south-1"}),
        )
        .await
        .unwrap();
    let read = engine.read("config/root").await.unwrap().unwrap();
    assert_eq!(read["access_key"], "");
    assert_eq!(read["iam_endpoint"], "");

    for (fields, field) in [
        (json!({"access_key": "AKIAONLY"}), "secret_key"),
        (json!({"sts_endpoint": "localhost:5000"}), "sts_endpoint"),
        (json!({"max_retries": -3}), "max_retries"),
        (
            json!({"username_template": "{{ .Nope }}"}),
            "username_template",
        ),
    ] {
        let err = engine.write("config/root", fields).await.unwrap_err();
        assert!(
            matches!(&err, BackendError::InvalidRequest(t) if t.contains(field)),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn config_lease_needs_both_fields_and_reads_as_go_durations() {
    let engine = Engine::offline();
    assert!(engine.read("config/lease").await.unwrap().is_none());
    let err = engine
        .write("config/lease", json!({"lease": "30m"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::InvalidRequest(t) if t == "'lease_max' is a required parameter"),
        "{err:?}"
    );
    engine
        .write("config/lease", json!({"lease": "30m", "lease_max": 43200}))
        .await
        .unwrap();
    let read = engine.read("config/lease").await.unwrap().unwrap();
    assert_eq!(read, json!({"lease": "30m0s", "lease_max": "12h0m0s"}));
}

#[tokio::test]
async fn rotate_root_switches_to_a_new_key_and_deletes_the_old() {
    let engine = Engine::with_moto().await.unwrap();
    let moto = engine.moto();
    // Rotate a dedicated admin, so the bootstrap root stays usable for checking.
    let admin_name = unique("rotating-admin");
    let old = moto.admin_user(&admin_name).await.unwrap();
    engine.configure_root(&old).await.unwrap();

    let answer = engine
        .write("config/rotate-root", json!({}))
        .await
        .unwrap()
        .unwrap();
    let new_access_key = answer.data.unwrap()["access_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_access_key, old.access_key);
    assert!(new_access_key.starts_with("AKIA"), "{new_access_key}");

    let read = engine.read("config/root").await.unwrap().unwrap();
    assert_eq!(read["access_key"], new_access_key.as_str());
    assert!(read.get("secret_key").is_none());

    // The old key is gone from IAM and rejected; the admin now has exactly the new key.
    let rejected = moto.caller_arn(&old).await.unwrap_err();
    assert!(rejected.contains("InvalidClientTokenId"), "{rejected}");
    let keys = moto
        .iam(&moto.root)
        .await
        .list_access_keys()
        .user_name(&admin_name)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = keys
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .collect();
    assert_eq!(ids, vec![new_access_key.as_str()]);
    // The engine signs with the new key: issuing still works.
    engine
        .write("roles/after", json!({"credential_type": "iam_user"}))
        .await
        .unwrap();
    let lease = engine.issue("creds/after", json!({})).await.unwrap();
    engine.revoke(&lease.ctx).await.unwrap();
    // The stored secret is the new one, and nothing else in storage knows the old one.
    assert!(!engine.storage.dump().contains(&old.secret_key));
}

#[tokio::test]
async fn rotate_root_needs_static_keys() {
    let engine = Engine::offline();
    let err = engine
        .write("config/rotate-root", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidRequest(_)), "{err:?}");
    engine
        .call(
            Operation::Create,
            "config/root",
            json!({"region": "us-east-1"}),
        )
        .await
        .unwrap();
    let err = engine
        .write("config/rotate-root", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::InvalidRequest(t) if t.contains("access_key and secret_key")),
        "{err:?}"
    );
}

#[tokio::test]
async fn aws_errors_never_carry_the_secret_key() {
    let engine = Engine::with_moto().await.unwrap();
    let moto = engine.moto();
    let wrong = Keys::new(
        moto.root.access_key.clone(),
        "wrong-secret-that-must-not-leak-0123456789",
    );
    engine.configure_root(&wrong).await.unwrap();
    engine
        .write("roles/leak", json!({"credential_type": "iam_user"}))
        .await
        .unwrap();
    let planned = engine.plan("creds/leak", json!({})).await.unwrap();
    let err = engine
        .backend
        .create(&engine.context(&planned))
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, BackendError::Target(_)), "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(!text.contains("wrong-secret-that-must-not-leak"), "{text}");
    assert!(!engine
        .user_names()
        .await
        .unwrap()
        .contains(&planned.account));
}
