//! `RedisDriver` against the real server.

use leasehold_database::{DriverError, DriverFactory, NewUser, UpdateExpiry, UpdatePassword};
use leasehold_redis::RedisDriverFactory;
use secrecy::ExposeSecret;

use crate::support::*;

#[tokio::test]
async fn issued_user_logs_in_within_its_rules_and_is_gone_after_delete() {
    let t = Target::new();
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password).await;

    let mut session = t
        .login(&user, &password)
        .await
        .expect("issued credential cannot log in");
    let key = format!("lh-test:{user}");
    redis::cmd("SET")
        .arg(&key)
        .arg("1")
        .query_async::<()>(&mut session)
        .await
        .expect("the rules do not allow writing lh-test:*");
    // The rules really apply: a key outside ~lh-test:* is refused.
    let denied = redis::cmd("GET")
        .arg("elsewhere")
        .query_async::<Option<String>>(&mut session)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("NOPERM"), "{denied}");
    // A wrong password is refused: the server really checks.
    assert!(t.login(&user, &new_password()).await.is_err());

    t.delete(&user).await.unwrap();
    assert!(
        !alive(&mut session).await,
        "a connection opened before the delete survived it"
    );
    assert!(
        t.login(&user, &password).await.is_err(),
        "deleted user still logs in"
    );
    assert!(!t.exists(&user).await, "user still in the ACL");
    let mut admin = connect(None).await.unwrap();
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_creation_statement_leaves_no_user() {
    let t = Target::new();
    let (user, password) = (new_username(), new_password());
    let err = t
        .driver
        .new_user(NewUser {
            username: &user,
            password: &password,
            expiration: in_an_hour(),
            creation_statements: &[r#"["+@read", "+no-such-command"]"#.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Rejected(_)), "{err:?}");
    assert!(err.to_string().contains("no-such-command"), "{err}");
    assert!(!t.exists(&user).await, "half-made user left behind");
    assert!(t.login(&user, &password).await.is_err());
}

#[tokio::test]
async fn rules_that_touch_passwords_are_refused_before_the_server() {
    let t = Target::new();
    let user = new_username();
    for rules in [
        r#"["+@all", "nopass"]"#,
        r#"["+@all", ">known"]"#,
        "+@all off",
    ] {
        let err = t
            .driver
            .new_user(NewUser {
                username: &user,
                password: &new_password(),
                expiration: in_an_hour(),
                creation_statements: &[rules.to_owned()],
                rollback_statements: &[],
            })
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::Refused(_)), "{rules}: {err:?}");
    }
    assert!(!t.exists(&user).await);
}

#[tokio::test]
async fn creation_refuses_an_existing_user_and_leaves_it_alone() {
    let t = Target::new();
    let user = new_username();
    let mut admin = connect(None).await.unwrap();
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">Theirs-123")
        .arg("+ping")
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let err = t
        .driver
        .new_user(NewUser {
            username: &user,
            password: &new_password(),
            expiration: in_an_hour(),
            creation_statements: &[RULES.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(
        connect(Some((&user, "Theirs-123"))).await.is_ok(),
        "someone else's user was touched"
    );
    t.delete(&user).await.unwrap();
}

#[tokio::test]
async fn update_password_changes_it_and_the_old_one_stops_working() {
    let t = Target::new();
    let (user, old) = (new_username(), new_password());
    t.create(&user, &old).await;
    let new = new_password();
    t.driver
        .update_password(UpdatePassword {
            username: &user,
            password: &new,
            statements: &[],
        })
        .await
        .unwrap();
    assert!(
        t.login(&user, &old).await.is_err(),
        "old password still works"
    );
    t.login(&user, &new)
        .await
        .expect("new password does not work");
    t.delete(&user).await.unwrap();

    // SETUSER would create a user that does not exist; update_password must not.
    let err = t
        .driver
        .update_password(UpdatePassword {
            username: &user,
            password: &new,
            statements: &[],
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!t.exists(&user).await);
}

#[tokio::test]
async fn list_users_finds_ours_by_prefix() {
    let t = Target::new();
    let prefix = format!("v-l{}-", random_lower(8));
    let ours = [format!("{prefix}a"), format!("{prefix}b")];
    for user in &ours {
        t.create(user, &new_password()).await;
    }
    assert_eq!(t.driver.list_users(&prefix).await.unwrap(), ours.to_vec());
    for user in &ours {
        t.delete(user).await.unwrap();
    }
    assert!(t.driver.list_users(&prefix).await.unwrap().is_empty());
}

#[tokio::test]
async fn update_expiry_has_nothing_to_move() {
    let t = Target::new();
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password).await;
    t.driver
        .update_expiry(UpdateExpiry {
            username: &user,
            expiration: in_an_hour(),
            renew_statements: &[],
        })
        .await
        .unwrap();
    t.login(&user, &password).await.unwrap();
    t.delete(&user).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_or_refusing_server_is_an_outage_without_secrets() {
    let free_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let driver = RedisDriverFactory::new().open(&config(free_port)).unwrap();
    let err = driver.verify().await.unwrap_err();
    assert!(matches!(err, DriverError::Unreachable(_)), "{err:?}");
    let password = new_password();
    let err = driver
        .new_user(NewUser {
            username: &new_username(),
            password: &password,
            expiration: in_an_hour(),
            creation_statements: &[RULES.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Unreachable(_)), "{err:?}");
    assert!(!err.to_string().contains(password.expose_secret()));

    // Credentials the server refuses make the connection unusable: an outage, too.
    let mut wrong = config(port());
    wrong.username = Some(new_username());
    wrong.password = Some(new_password());
    let driver = RedisDriverFactory::new().open(&wrong).unwrap();
    let err = driver.verify().await.unwrap_err();
    assert!(matches!(err, DriverError::Unreachable(_)), "{err:?}");
    driver.close().await;
    let driver = RedisDriverFactory::new().open(&config(port())).unwrap();
    driver.verify().await.unwrap();
    driver.close().await;
    assert!(
        driver.verify().await.is_err(),
        "a closed driver still works"
    );
}
