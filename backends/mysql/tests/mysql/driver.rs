//! `MySqlDriver` against the real server.

use leasehold_database::{
    DeleteUser, DriverError, DriverFactory, NewUser, UpdateExpiry, UpdatePassword,
};
use leasehold_mysql::MySqlDriverFactory;
use mysql_async::prelude::Queryable;
use secrecy::ExposeSecret;

use crate::support::*;

#[tokio::test]
async fn issued_user_logs_in_and_is_gone_after_delete() {
    let t = Target::new();
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password).await;

    let mut session = t
        .login(&user, &password)
        .await
        .expect("issued credential cannot log in");
    let tables: Vec<String> = session
        .query("SHOW TABLES FROM test")
        .await
        .expect("the grant on test.* does not work");
    drop(tables);
    assert_eq!(t.accounts(&user).await, vec!["%".to_owned()]);
    // A wrong password is refused: the server really checks.
    assert!(t.login(&user, &new_password()).await.is_err());

    t.delete(&user).await.unwrap();
    assert!(
        !alive(&mut session).await,
        "a session opened before the delete survived it"
    );
    assert!(
        t.login(&user, &password).await.is_err(),
        "deleted user still logs in"
    );
    assert!(
        t.accounts(&user).await.is_empty(),
        "user still in mysql.user"
    );
}

#[tokio::test]
async fn a_failing_creation_leaves_no_account_on_any_host_and_runs_rollback() {
    let t = Target::new();
    let log = format!("test.rollback_{}", random_lower(10));
    let mut admin = t.admin().await;
    admin
        .query_drop(format!("CREATE TABLE {log} (name VARCHAR(80))"))
        .await
        .unwrap();
    let (user, password) = (new_username(), new_password());
    let err = t
        .driver
        .new_user(NewUser {
            username: &user,
            password: &password,
            expiration: in_an_hour(),
            creation_statements: &[format!(
                "{CREATE}\nCREATE USER '{{{{name}}}}'@'localhost' IDENTIFIED BY '{{{{password}}}}';\n\
                 GRANT SELECT ON test.no_such_table_{} TO '{{{{name}}}}'@'%';",
                random_lower(6)
            )],
            rollback_statements: &[format!("INSERT INTO {log} VALUES ('{{{{name}}}}')")],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Rejected(_)), "{err:?}");
    assert!(err.to_string().contains("creation statement 4"), "{err}");
    assert!(
        t.accounts(&user).await.is_empty(),
        "half-made user left behind"
    );
    assert!(t.login(&user, &password).await.is_err());
    let logged: Vec<String> = admin
        .exec(format!("SELECT name FROM {log}"), ())
        .await
        .unwrap();
    assert_eq!(logged, vec![user], "rollback statements did not run");
    admin.query_drop(format!("DROP TABLE {log}")).await.unwrap();
}

#[tokio::test]
async fn statements_that_make_no_user_fail_the_creation() {
    let t = Target::new();
    let user = new_username();
    let err = t
        .driver
        .new_user(NewUser {
            username: &user,
            password: &new_password(),
            expiration: in_an_hour(),
            creation_statements: &["SELECT '{{name}}'".to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("made no user"), "{err}");
}

#[tokio::test]
async fn creation_refuses_an_existing_user_and_leaves_it_alone() {
    let t = Target::new();
    let user = new_username();
    let mut admin = t.admin().await;
    admin
        .query_drop(format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY 'Theirs-123'"
        ))
        .await
        .unwrap();
    let err = t
        .driver
        .new_user(NewUser {
            username: &user,
            password: &new_password(),
            expiration: in_an_hour(),
            creation_statements: &[CREATE.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(
        connect(&user, Some("Theirs-123")).await.is_ok(),
        "someone else's user was touched"
    );
    admin
        .query_drop(format!("DROP USER '{user}'@'%'"))
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_drops_every_host_and_ends_sessions_of_an_already_dropped_user() {
    let t = Target::new();
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password).await;
    let mut admin = t.admin().await;
    admin
        .query_drop(format!(
            "CREATE USER '{user}'@'localhost' IDENTIFIED BY 'Other-123'"
        ))
        .await
        .unwrap();
    t.delete(&user).await.unwrap();
    assert!(t.accounts(&user).await.is_empty());

    // A session outlives DROP USER in MySQL; a later revocation still ends it.
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password).await;
    let mut session = t.login(&user, &password).await.unwrap();
    admin
        .query_drop(format!("DROP USER '{user}'@'%'"))
        .await
        .unwrap();
    assert!(alive(&mut session).await, "the server ended it by itself");
    t.delete(&user).await.unwrap();
    assert!(!alive(&mut session).await, "orphaned session survived");
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

    // Rotation statements of the role's own.
    let newer = new_password();
    t.driver
        .update_password(UpdatePassword {
            username: &user,
            password: &newer,
            statements: &["SET PASSWORD FOR '{{name}}'@'%' = PASSWORD('{{password}}')".to_owned()],
        })
        .await
        .unwrap();
    assert!(t.login(&user, &new).await.is_err());
    t.login(&user, &newer).await.unwrap();
    t.delete(&user).await.unwrap();

    let err = t
        .driver
        .update_password(UpdatePassword {
            username: &user,
            password: &newer,
            statements: &[],
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn list_users_finds_ours_by_prefix_taken_literally() {
    let t = Target::new();
    let stem = format!("v-l{}", random_lower(8));
    // `_` is a LIKE wildcard: the decoy would match an unescaped pattern.
    let prefix = format!("{stem}_");
    let ours = [format!("{prefix}a"), format!("{prefix}b")];
    let decoy = format!("{stem}xa");
    for user in ours.iter().chain([&decoy]) {
        t.create(user, &new_password()).await;
    }
    assert_eq!(t.driver.list_users(&prefix).await.unwrap(), ours.to_vec());
    assert_eq!(t.driver.list_users(&stem).await.unwrap().len(), 3);
    for user in ours.iter().chain([&decoy]) {
        t.delete(user).await.unwrap();
    }
    assert!(t.driver.list_users(&stem).await.unwrap().is_empty());
}

#[tokio::test]
async fn revocation_statements_run_and_must_drop_the_user() {
    let t = Target::new();
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password).await;
    let mut session = t.login(&user, &password).await.unwrap();
    // Vault's documented MySQL revocation statements.
    let vaults = [
        "REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{{name}}'@'%'; DROP USER '{{name}}'@'%';"
            .to_owned(),
    ];
    t.driver
        .delete_user(DeleteUser {
            username: &user,
            revocation_statements: &vaults,
            reassign_owned_to: None,
        })
        .await
        .unwrap();
    assert!(!alive(&mut session).await, "session survived");
    assert!(t.accounts(&user).await.is_empty());

    // Statements that do not drop the user: an error, never success; and it cannot log in.
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password).await;
    let keep_it = ["REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{{name}}'@'%'".to_owned()];
    let err = t
        .driver
        .delete_user(DeleteUser {
            username: &user,
            revocation_statements: &keep_it,
            reassign_owned_to: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::NotRemoved(_)), "{err:?}");
    assert!(
        t.login(&user, &password).await.is_err(),
        "the account was not locked"
    );
    t.delete(&user).await.unwrap();
    assert!(t.accounts(&user).await.is_empty());
}

#[tokio::test]
async fn update_expiry_runs_renew_statements_or_nothing() {
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
    t.driver
        .update_expiry(UpdateExpiry {
            username: &user,
            expiration: in_an_hour(),
            renew_statements: &["ALTER USER '{{name}}'@'%' WITH MAX_USER_CONNECTIONS 3".to_owned()],
        })
        .await
        .unwrap();
    let limit: Vec<u64> = t
        .admin()
        .await
        .exec(
            "SELECT max_user_connections FROM mysql.user WHERE User = ?",
            (&user,),
        )
        .await
        .unwrap();
    assert_eq!(limit, vec![3]);
    t.login(&user, &password).await.unwrap();
    t.delete(&user).await.unwrap();
}

#[tokio::test]
async fn names_are_checked_before_touching_the_server() {
    let t = Target::new();
    let err = t
        .driver
        .new_user(NewUser {
            username: "x'@'%'; DROP USER root; --",
            password: &new_password(),
            expiration: in_an_hour(),
            creation_statements: &[CREATE.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Refused(_)), "{err:?}");
    assert!(matches!(
        t.delete("Robert'); --").await,
        Err(DriverError::Refused(_))
    ));

    let legacy = Target::with_plugin("mysql-legacy-database-plugin");
    assert_eq!(legacy.driver.max_username_len(), 16);
    let err = legacy
        .driver
        .new_user(NewUser {
            username: &format!("{}x", new_username()),
            password: &new_password(),
            expiration: in_an_hour(),
            creation_statements: &[CREATE.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Refused(_)), "{err:?}");
    // Legacy names (16) work end to end.
    let (user, password) = (new_username(), new_password());
    legacy.create(&user, &password).await;
    legacy.login(&user, &password).await.unwrap();
    legacy.delete(&user).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_or_refusing_server_is_an_outage_without_secrets() {
    let free_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let driver = MySqlDriverFactory::new()
        .open(&config("mysql-database-plugin", free_port))
        .unwrap();
    let err = driver.verify().await.unwrap_err();
    assert!(matches!(err, DriverError::Unreachable(_)), "{err:?}");
    let password = new_password();
    let err = driver
        .new_user(NewUser {
            username: &new_username(),
            password: &password,
            expiration: in_an_hour(),
            creation_statements: &[CREATE.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Unreachable(_)), "{err:?}");
    assert!(!err.to_string().contains(password.expose_secret()));
    let err = driver
        .delete_user(DeleteUser {
            username: &new_username(),
            revocation_statements: &[],
            reassign_owned_to: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Unreachable(_)), "{err:?}");

    // A login the server refuses is an outage of this connection too.
    let mut wrong = config("mysql-database-plugin", port());
    wrong.username = Some(new_username());
    wrong.password = Some(new_password());
    let driver = MySqlDriverFactory::new().open(&wrong).unwrap();
    let err = driver.verify().await.unwrap_err();
    assert!(matches!(err, DriverError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains("Access denied"), "{err}");
    driver.close().await;
    assert!(
        driver.verify().await.is_err(),
        "a closed driver still works"
    );
}
