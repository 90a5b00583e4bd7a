//! STS credentials against moto. assumed_role credentials are proven to work; moto answers
//! GetFederationToken and GetSessionToken with fixed example keys, so those are checked for shape.

use crate::without_marker;
use leasehold_backend::BackendError;
use serde_json::json;

use crate::support::engine::Engine;
use crate::support::moto::ACCOUNT;
use crate::unique;

#[tokio::test]
async fn assumed_role_gives_working_sts_credentials() {
    let engine = Engine::with_moto().await.unwrap();
    let moto = engine.moto();
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/deployer");
    engine
        .write(
            "roles/assume",
            json!({"credential_type": "assumed_role", "role_arns": [role_arn],
                   "policy_document": {"Version": "2012-10-17",
                                       "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
                   "session_tags": {"team": "core"}, "external_id": "ext-1"}),
        )
        .await
        .unwrap();

    let lease = engine
        .issue(
            "sts/assume",
            json!({"ttl": "30m", "role_session_name": "ci job 7"}),
        )
        .await
        .unwrap();
    assert!(!lease.planned.renewable);
    assert_eq!(lease.planned.kind, "assumed_role");
    assert_eq!(lease.planned.ttl.as_secs(), 1800);
    assert_eq!(lease.planned.account, "ci_job_7");
    let keys = lease.keys();
    assert!(keys.access_key.starts_with("ASIA"), "{}", keys.access_key);
    let token = lease.secret("security_token").unwrap();
    assert_eq!(
        lease.secret("session_token").as_deref(),
        Some(token.as_str())
    );
    let arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci_job_7");
    assert_eq!(lease.data("arn"), json!(arn));
    // Neither secret is in the data that is safe to log, nor in the lease's stored data.
    let visible = format!("{:?} {}", lease.creds.data, lease.ctx.internal);
    assert!(!visible.contains(&token) && !visible.contains(&keys.secret_key));

    assert_eq!(moto.caller_arn(&keys).await.unwrap(), arn);
    // Without its token the key is nobody.
    let tokenless =
        crate::support::moto::Keys::new(keys.access_key.clone(), keys.secret_key.clone());
    assert!(moto
        .caller_arn(&tokenless)
        .await
        .unwrap_err()
        .contains("InvalidClientTokenId"));

    // STS credentials cannot be revoked: revoke succeeds, does nothing and claims no receipt.
    let revoked = engine.revoke(&lease.ctx).await.unwrap();
    assert_eq!(revoked.verified, None);
    assert!(
        moto.caller_arn(&keys).await.is_ok(),
        "STS credentials stop only at expiry"
    );
}

#[tokio::test]
async fn assumed_role_merges_group_policies_and_names_sessions() {
    let engine = Engine::with_moto().await.unwrap();
    let moto = engine.moto();
    let iam = moto.iam(&moto.root).await;
    let group = unique("sts-group");
    iam.create_group().group_name(&group).send().await.unwrap();
    iam.put_group_policy()
        .group_name(&group)
        .policy_name("inline")
        .policy_document(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#)
        .send()
        .await
        .unwrap();
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/merger");
    engine
        .write("roles/grouped", json!({"credential_type": "assumed_role", "role_arns": role_arn, "iam_groups": [group]}))
        .await
        .unwrap();
    let lease = engine.issue("creds/grouped", json!({})).await.unwrap();
    // No session name given: a generated one, in the user-name shape.
    assert!(
        without_marker(&lease.planned.account).starts_with("root-grouped-"),
        "{}",
        lease.planned.account
    );
    assert!(moto
        .caller_arn(&lease.keys())
        .await
        .unwrap()
        .ends_with(&lease.planned.account));

    // A group that does not exist is the role's mistake: 400.
    engine
        .write("roles/grouped", json!({"iam_groups": ["no-such-group"]}))
        .await
        .unwrap();
    let planned = engine.plan("creds/grouped", json!({})).await.unwrap();
    let err = leasehold_backend::SecretEngine::create(&engine.backend, &engine.context(&planned))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::InvalidRequest(t) if t.contains("NoSuchEntity")),
        "{err:?}"
    );
}

#[tokio::test]
async fn federation_and_session_tokens_have_the_expected_shape() {
    let engine = Engine::with_moto().await.unwrap();
    engine
        .write("roles/fed", json!({"credential_type": "federation_token",
                                   "policy_arns": format!("arn:aws:iam::{ACCOUNT}:policy/whatever")}))
        .await
        .unwrap();
    let fed = engine.issue("sts/fed", json!({"ttl": 7200})).await.unwrap();
    assert_eq!(fed.planned.kind, "federation_token");
    assert_eq!(fed.planned.ttl.as_secs(), 7200);
    assert_eq!(fed.planned.account.len(), 32);
    assert!(fed.secret("secret_key").is_some());
    assert!(fed.secret("security_token").is_some());
    assert_eq!(engine.revoke(&fed.ctx).await.unwrap().verified, None);

    engine
        .write(
            "roles/session",
            json!({"credential_type": "session_token", "max_sts_ttl": "2h"}),
        )
        .await
        .unwrap();
    let session = engine
        .issue("sts/session", json!({"ttl": "3h"}))
        .await
        .unwrap();
    assert_eq!(session.planned.kind, "session_token");
    assert_eq!(session.planned.ttl.as_secs(), 7200);
    assert!(session.secret("session_token").is_some());
    assert_eq!(engine.revoke(&session.ctx).await.unwrap().verified, None);

    // A federation role without any policy cannot be served.
    engine
        .write("roles/bare", json!({"credential_type": "federation_token"}))
        .await
        .unwrap();
    let err = engine.plan("sts/bare", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::InvalidRequest(t) if t.contains("policy_arns")),
        "{err:?}"
    );
}
