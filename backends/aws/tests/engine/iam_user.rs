//! `iam_user` credentials against moto: the key works within its policy, is rejected after
//! revoke, and a failed create leaves nothing behind.

use crate::without_marker;
use anyhow::Context;
use leasehold_backend::{BackendError, Renew, SecretEngine};
use serde_json::json;

use crate::support::engine::Engine;
use crate::support::moto::{assert_no_such_entity, rejection, ACCOUNT};
use crate::unique;

/// A valid inline policy document (moto rejects documents without a statement).
const SMALL_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#;

/// A customer-managed policy allowing `action`, made by root; its ARN.
async fn managed_policy(engine: &Engine, action: &str) -> anyhow::Result<String> {
    let moto = engine.moto();
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]});
    let out = moto
        .iam(&moto.root)
        .await
        .create_policy()
        .policy_name(unique("allow"))
        .policy_document(doc.to_string())
        .send()
        .await?;
    let arn = out.policy().and_then(|p| p.arn());
    Ok(arn.context("CreatePolicy answered no ARN")?.to_owned())
}

/// A group whose inline policy allows `action`, made by root; its name.
async fn group_allowing(engine: &Engine, action: &str) -> anyhow::Result<String> {
    let moto = engine.moto();
    let iam = moto.iam(&moto.root).await;
    let name = unique("readers");
    iam.create_group().group_name(&name).send().await?;
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]});
    iam.put_group_policy()
        .group_name(&name)
        .policy_name("read")
        .policy_document(doc.to_string())
        .send()
        .await?;
    Ok(name)
}

#[tokio::test]
async fn issued_user_works_within_its_policy_and_is_destroyed_by_revoke() {
    let engine = Engine::with_moto().await.unwrap();
    let moto = engine.moto();
    let policy_arn = managed_policy(&engine, "iam:ListUsers").await.unwrap();
    let group = group_allowing(&engine, "iam:ListGroups").await.unwrap();
    engine
        .write("config/lease", json!({"lease": "1h", "lease_max": "2h"}))
        .await
        .unwrap();
    engine
        .write(
            "roles/deploy",
            json!({
                "credential_type": "iam_user",
                "policy_arns": [policy_arn],
                "policy_document": {"Version": "2012-10-17",
                                    "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]},
                "iam_groups": [group],
                "iam_tags": ["team=core"],
                "user_path": "/leasehold/",
            }),
        )
        .await
        .unwrap();

    let lease = engine.issue("creds/deploy", json!({})).await.unwrap();
    let user = lease.planned.account.clone();
    assert!(without_marker(&user).starts_with("root-deploy-"), "{user}");
    assert!(lease.planned.renewable);
    assert_eq!(lease.planned.ttl.as_secs(), 3600);
    let keys = lease.keys();
    assert!(keys.access_key.starts_with("AKIA"));
    assert_eq!(keys.secret_key.len(), 40);
    assert!(lease.data("security_token").is_null());
    assert!(lease.secret("session_token").is_none());
    let user_arn = format!("arn:aws:iam::{ACCOUNT}:user/leasehold/{user}");
    assert_eq!(lease.data("arn"), json!(user_arn));
    // create recorded the key for revoke; the secret is nowhere in the lease data.
    assert_eq!(
        lease.ctx.internal["access_key_ids"],
        json!([keys.access_key])
    );
    assert!(!lease.ctx.internal.to_string().contains(&keys.secret_key));

    // The key works, as the user, and only within its policies.
    assert_eq!(moto.caller_arn(&keys).await.unwrap(), user_arn);
    let as_user = moto.iam(&keys).await;
    as_user
        .list_users()
        .send()
        .await
        .expect("managed policy allows iam:ListUsers");
    as_user
        .list_groups()
        .send()
        .await
        .expect("group policy allows iam:ListGroups");
    as_user
        .get_user()
        .user_name(&user)
        .send()
        .await
        .expect("inline policy allows iam:GetUser");
    let denied = as_user
        .create_user()
        .user_name(unique("intruder"))
        .send()
        .await
        .unwrap_err();
    assert!(
        rejection(&denied).contains("AccessDenied"),
        "{}",
        rejection(&denied)
    );

    let root = moto.iam(&moto.root).await;
    let tags = root.list_user_tags().user_name(&user).send().await.unwrap();
    assert_eq!(
        tags.tags()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect::<Vec<_>>(),
        vec![("team", "core")]
    );
    let groups = root
        .list_groups_for_user()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.groups().len(), 1);

    // Renew has nothing to do on AWS.
    engine.backend.renew(&lease.ctx).await.unwrap();

    // The receipt names what IAM answered after the deletion.
    let revoked = engine.revoke(&lease.ctx).await.unwrap();
    assert_eq!(revoked.verified, Some(receipt(&user)));
    assert_eq!(revoked.sessions_terminated, None);
    let rejected = moto.caller_arn(&keys).await.unwrap_err();
    assert!(rejected.contains("InvalidClientTokenId"), "{rejected}");
    assert_no_such_entity("GetUser", root.get_user().user_name(&user).send().await);
    assert!(!engine.user_names().await.unwrap().contains(&user));
    // The group and policy themselves are untouched.
    root.get_group().group_name(&group).send().await.unwrap();

    // Revoking again (a retry, an expiry racing an explicit revoke) is success, proved again.
    let again = engine.revoke(&lease.ctx).await.unwrap();
    assert_eq!(again.verified, Some(receipt(&user)));
}

/// The receipt of a revoked `iam_user` credential whose user is `user`.
fn receipt(user: &str) -> String {
    format!("iam:GetUser NoSuchEntity and iam:ListAccessKeys NoSuchEntity for user {user:?}")
}

#[tokio::test]
async fn a_root_that_may_not_ask_iam_revokes_without_a_receipt() {
    let engine = Engine::with_moto().await.unwrap();
    let moto = engine.moto();
    // An admin with an explicit Deny on iam:GetUser: it can delete users but not look one up.
    let admin = unique("blind-admin");
    let keys = moto.admin_user(&admin).await.unwrap();
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:GetUser","Resource":"*"}]}"#;
    let root = moto.iam(&moto.root).await;
    root.put_user_policy()
        .user_name(&admin)
        .policy_name("no-get-user")
        .policy_document(deny)
        .send()
        .await
        .unwrap();
    engine.configure_root(&keys).await.unwrap();
    engine
        .write("roles/blind", json!({"credential_type": "iam_user"}))
        .await
        .unwrap();
    let lease = engine.issue("creds/blind", json!({})).await.unwrap();
    let user = lease.planned.account.clone();

    // Unproven is not failed: the user is deleted, and no receipt is claimed.
    let revoked = engine.revoke(&lease.ctx).await.unwrap();
    assert_eq!(revoked.verified, None);
    assert!(!engine.user_names().await.unwrap().contains(&user));
    let rejected = moto.caller_arn(&lease.keys()).await.unwrap_err();
    assert!(rejected.contains("InvalidClientTokenId"), "{rejected}");
}

#[tokio::test]
async fn failure_half_way_through_create_leaves_no_user() {
    let engine = Engine::with_moto().await.unwrap();
    let policy_arn = managed_policy(&engine, "iam:ListUsers").await.unwrap();
    let missing_policy = format!("arn:aws:iam::{ACCOUNT}:policy/does-not-exist");
    let cases = [
        // Fails at the second AttachUserPolicy, after one policy was attached.
        (
            "bad-policy",
            json!({"credential_type": "iam_user", "policy_arns": [policy_arn, missing_policy]}),
            "iam:AttachUserPolicy",
        ),
        // Fails at AddUserToGroup, after a managed and an inline policy were put on the user:
        // moto refuses DeleteUser while policies remain, so this also proves they were removed.
        (
            "bad-group",
            json!({"credential_type": "iam_user", "policy_arns": [policy_arn],
                             "policy_document": SMALL_POLICY,
                             "iam_groups": ["no-such-group"]}),
            "iam:AddUserToGroup",
        ),
    ];
    for (role, body, action) in cases {
        engine.write(&format!("roles/{role}"), body).await.unwrap();
        let planned = engine
            .plan(&format!("creds/{role}"), json!({}))
            .await
            .unwrap();
        let ctx = engine.context(&planned);
        let err = engine.backend.create(&ctx).await.unwrap_err();
        assert!(
            matches!(&err, BackendError::InvalidRequest(t) if t.contains(action) && t.contains("NoSuchEntity")),
            "{err:?}"
        );
        assert!(
            !engine
                .user_names()
                .await
                .unwrap()
                .contains(&planned.account),
            "{role}: user left behind"
        );
        // The core calls revoke after a failed create; with nothing left, that is success.
        engine.revoke(&ctx).await.unwrap();
    }
}

#[tokio::test]
async fn revoke_finds_the_key_when_create_could_not_record_it() {
    let engine = Engine::with_moto().await.unwrap();
    let moto = engine.moto();
    engine
        .write("roles/crash", json!({"credential_type": "iam_user"}))
        .await
        .unwrap();
    let lease = engine.issue("creds/crash", json!({})).await.unwrap();
    let keys = lease.keys();
    assert!(moto.caller_arn(&keys).await.is_ok());

    // As if the server died between CreateAccessKey and storing its answer: the lease row still
    // holds the planned data, with no key id.
    let mut planned_ctx = lease.ctx.clone();
    planned_ctx.internal = lease.planned.internal.clone();
    assert_eq!(planned_ctx.internal["access_key_ids"], json!([]));
    engine.revoke(&planned_ctx).await.unwrap();

    let rejected = moto.caller_arn(&keys).await.unwrap_err();
    assert!(rejected.contains("InvalidClientTokenId"), "{rejected}");
    assert!(!engine
        .user_names()
        .await
        .unwrap()
        .contains(&lease.planned.account));
}

#[tokio::test]
async fn revoke_of_a_user_already_deleted_or_never_made_is_ok() {
    let engine = Engine::with_moto().await.unwrap();
    let moto = engine.moto();
    engine
        .write(
            "roles/gone",
            json!({"credential_type": "iam_user", "policy_document": SMALL_POLICY}),
        )
        .await
        .unwrap();

    // Never created (the server died right after writing the lease row).
    let planned = engine.plan("creds/gone", json!({})).await.unwrap();
    engine.revoke(&engine.context(&planned)).await.unwrap();

    // Deleted out of band, all of it, before the lease ended.
    let lease = engine.issue("creds/gone", json!({})).await.unwrap();
    let user = lease.planned.account.clone();
    let root = moto.iam(&moto.root).await;
    root.delete_access_key()
        .user_name(&user)
        .access_key_id(lease.keys().access_key)
        .send()
        .await
        .unwrap();
    root.delete_user_policy()
        .user_name(&user)
        .policy_name("gone")
        .send()
        .await
        .unwrap();
    root.delete_user().user_name(&user).send().await.unwrap();
    let revoked = engine.revoke(&lease.ctx).await.unwrap();
    assert_eq!(revoked.verified, Some(receipt(&user)));
}

#[tokio::test]
async fn revoke_removes_what_was_added_by_hand() {
    let engine = Engine::with_moto().await.unwrap();
    let moto = engine.moto();
    engine
        .write("roles/extra", json!({"credential_type": "iam_user"}))
        .await
        .unwrap();
    let lease = engine.issue("creds/extra", json!({})).await.unwrap();
    let user = lease.planned.account.clone();
    // Someone attaches a policy the lease does not know of; DeleteUser would then conflict.
    let policy_arn = managed_policy(&engine, "iam:ListUsers").await.unwrap();
    let root = moto.iam(&moto.root).await;
    root.attach_user_policy()
        .user_name(&user)
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    root.put_user_policy()
        .user_name(&user)
        .policy_name("by-hand")
        .policy_document(SMALL_POLICY)
        .send()
        .await
        .unwrap();

    engine.revoke(&lease.ctx).await.unwrap();
    assert!(!engine.user_names().await.unwrap().contains(&user));
}

#[tokio::test]
async fn custom_username_template_names_the_user() {
    let engine = Engine::with_moto().await.unwrap();
    let root = engine.moto().root.clone();
    let endpoint = engine.moto().endpoint.clone();
    engine
        .write(
            "config/root",
            json!({"access_key": root.access_key, "secret_key": root.secret_key,
                   "iam_endpoint": endpoint, "sts_endpoint": endpoint,
                   "username_template": "ci_{{.DisplayName}}.{{.RoleName | truncate 4}}.{{random 8}}"}),
        )
        .await
        .unwrap();
    engine
        .write("roles/templated", json!({"credential_type": "iam_user"}))
        .await
        .unwrap();
    let lease = engine.issue("creds/templated", json!({})).await.unwrap();
    let user = &lease.planned.account;
    assert!(user.starts_with("ci_root.temp."), "{user}");
    assert_eq!(user.len(), "ci_root.temp.".len() + 8);
    assert!(engine.user_names().await.unwrap().contains(user));
    engine.revoke(&lease.ctx).await.unwrap();
}
