//! `PgDriver` against the real thing.

use leasehold_database::{DeleteUser, DriverError, DriverFactory, NewUser, UpdateExpiry};
use leasehold_postgres::PgDriverFactory;
use secrecy::ExposeSecret;

use crate::support::*;

#[tokio::test]
async fn issued_user_logs_in_with_scram_and_is_gone_after_delete() {
    let t = Target::new().await;
    let (user, password, expiration) = (new_username(), new_password(), in_an_hour());
    t.create(&user, &password, expiration).await;

    let session = t
        .login(&user, &password)
        .await
        .expect("issued credential cannot log in");
    session.simple_query("SELECT 1").await.unwrap();
    assert_eq!(
        t.role(&user).await,
        Some((true, Some(expiration.timestamp())))
    );
    // A wrong password is refused: the cluster really checks.
    assert!(t.login(&user, &new_password()).await.is_err());
    drop(session);

    t.delete(&user).await.unwrap();
    assert!(
        t.login(&user, &password).await.is_err(),
        "deleted user still logs in"
    );
    assert_eq!(t.role(&user).await, None, "role still in pg_roles");
}

#[tokio::test]
async fn valid_until_is_set_even_when_the_template_forgets_it() {
    let t = Target::new().await;
    let (user, password, expiration) = (new_username(), new_password(), in_an_hour());
    t.driver
        .new_user(NewUser {
            username: &user,
            password: &password,
            expiration,
            creation_statements: &[
                "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}'".to_owned()
            ],
            rollback_statements: &[],
        })
        .await
        .unwrap();
    assert_eq!(
        t.role(&user).await,
        Some((true, Some(expiration.timestamp())))
    );
    t.delete(&user).await.unwrap();
}

#[tokio::test]
async fn owned_objects_survive_and_pass_to_the_connection_user() {
    let t = Target::new().await;
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password, in_an_hour()).await;
    let session = t.login(&user, &password).await.unwrap();
    session
        .batch_execute("CREATE TABLE made_by_lease (x int); INSERT INTO made_by_lease VALUES (42)")
        .await
        .unwrap();

    t.delete(&user).await.unwrap();
    let admin = t.admin().await;
    let row = admin
        .query_one("SELECT tableowner::text, (SELECT x FROM made_by_lease) FROM pg_tables WHERE tablename = 'made_by_lease'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "postgres");
    assert_eq!(row.get::<_, i32>(1), 42);
    assert_eq!(t.role(&user).await, None);
}

#[tokio::test]
async fn owned_objects_pass_to_reassign_owned_to() {
    let t = Target::new().await;
    let heir = format!("app owner {}", random_lower(6)); // a name that needs quoting
    t.admin()
        .await
        .batch_execute(&format!("CREATE ROLE \"{heir}\" NOLOGIN"))
        .await
        .unwrap();
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password, in_an_hour()).await;
    t.login(&user, &password)
        .await
        .unwrap()
        .batch_execute("CREATE TABLE inherited (x int)")
        .await
        .unwrap();

    t.driver
        .delete_user(DeleteUser {
            username: &user,
            revocation_statements: &[],
            reassign_owned_to: Some(&heir),
        })
        .await
        .unwrap();
    let owner: String = t
        .admin()
        .await
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'inherited'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, heir);
}

#[tokio::test]
async fn update_expiry_moves_valid_until() {
    let t = Target::new().await;
    let (user, password, first) = (new_username(), new_password(), in_an_hour());
    t.create(&user, &password, first).await;

    let later = first + chrono::Duration::hours(2);
    t.driver
        .update_expiry(UpdateExpiry {
            username: &user,
            expiration: later,
            renew_statements: &[],
        })
        .await
        .unwrap();
    assert_eq!(t.role(&user).await, Some((true, Some(later.timestamp()))));

    // Custom renew statements run, and the backstop still moves even though they do not set it.
    let latest = later + chrono::Duration::hours(1);
    t.driver
        .update_expiry(UpdateExpiry {
            username: &user,
            expiration: latest,
            renew_statements: &["ALTER ROLE \"{{name}}\" CONNECTION LIMIT 3;".to_owned()],
        })
        .await
        .unwrap();
    assert_eq!(t.role(&user).await, Some((true, Some(latest.timestamp()))));
    let limit: i32 = t
        .admin()
        .await
        .query_one(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(limit, 3);

    // Renewing a user that is gone is an error, not a silent success.
    t.delete(&user).await.unwrap();
    let err = t
        .driver
        .update_expiry(UpdateExpiry {
            username: &user,
            expiration: latest,
            renew_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Rejected(_)), "{err:?}");
}

#[tokio::test]
async fn a_creation_failing_half_way_leaves_no_role_and_runs_rollback() {
    let t = Target::new().await;
    t.admin()
        .await
        .batch_execute("CREATE TABLE rollback_log (name text)")
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
                "{CREATE} GRANT SELECT ON no_such_table TO \"{{{{name}}}}\";"
            )],
            rollback_statements: &["INSERT INTO rollback_log VALUES ('{{name}}')".to_owned()],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Rejected(_)), "{err:?}");
    assert!(err.to_string().contains("creation statement 3"), "{err}");
    assert!(err.to_string().contains("no_such_table"), "{err}");
    assert_eq!(t.role(&user).await, None, "half-made role left behind");
    assert!(t.login(&user, &password).await.is_err());
    let logged: i64 = t
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM rollback_log WHERE name = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, 1, "rollback statements did not run");
}

#[tokio::test]
async fn creation_refuses_an_existing_user_and_leaves_it_alone() {
    let t = Target::new().await;
    let user = new_username();
    t.admin()
        .await
        .batch_execute(&format!(
            "CREATE ROLE \"{user}\" LOGIN PASSWORD 'Theirs-123'"
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
    assert_eq!(
        t.role(&user).await,
        Some((true, None)),
        "someone else's role was touched"
    );
}

#[tokio::test]
async fn custom_revocation_statements_still_end_sessions_and_must_drop_the_user() {
    let t = Target::new().await;
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password, in_an_hour()).await;
    let session = t.login(&user, &password).await.unwrap();
    let drop_it =
        ["REVOKE ALL ON SCHEMA public FROM \"{{name}}\"; DROP ROLE \"{{name}}\";".to_owned()];
    let revoked = t
        .driver
        .delete_user(DeleteUser {
            username: &user,
            revocation_statements: &drop_it,
            reassign_owned_to: None,
        })
        .await
        .unwrap();
    assert_eq!(
        revoked.sessions_terminated,
        Some(1),
        "the session was counted"
    );
    assert!(
        session.simple_query("SELECT 1").await.is_err(),
        "session survived"
    );
    assert_eq!(t.role(&user).await, None);

    // Statements that do not drop the user: an error, never success; and it cannot log in.
    let (user, password) = (new_username(), new_password());
    t.create(&user, &password, in_an_hour()).await;
    let keep_it = ["REVOKE ALL ON SCHEMA public FROM \"{{name}}\"".to_owned()];
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
    assert_eq!(
        t.role(&user).await.map(|r| r.0),
        Some(false),
        "NOLOGIN not set"
    );
    assert!(t.login(&user, &password).await.is_err());
    t.delete(&user).await.unwrap();
}

#[tokio::test]
async fn a_do_block_runs_as_one_statement() {
    let t = Target::new().await;
    let (user, password) = (new_username(), new_password());
    let block = "DO $$\nBEGIN\n  CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}';\n  \
                 EXECUTE 'GRANT ALL ON SCHEMA public TO \"{{name}}\"';\nEND\n$$;";
    t.driver
        .new_user(NewUser {
            username: &user,
            password: &password,
            expiration: in_an_hour(),
            creation_statements: &[block.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap();
    t.login(&user, &password)
        .await
        .unwrap()
        .batch_execute("CREATE TABLE mine (x int)")
        .await
        .unwrap();
    t.delete(&user).await.unwrap();
    assert_eq!(t.role(&user).await, None);
}

#[tokio::test]
async fn unsafe_user_names_are_refused_before_touching_the_database() {
    let t = Target::new().await;
    let err = t
        .driver
        .new_user(NewUser {
            username: "x\"; DROP ROLE postgres; --",
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
}

#[tokio::test]
async fn a_driver_pointed_at_a_wrong_port_errors_without_panicking() {
    let t = Target::new().await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let driver = PgDriverFactory::new()
        .open(&Target::config(t.cluster, &t.db, port))
        .unwrap();
    let err = driver.verify().await.unwrap_err();
    assert!(matches!(err, DriverError::NotConnected(_)), "{err:?}");
    assert!(!err.to_string().contains(t.cluster.superuser_password()));
    let password = new_password();
    let user = new_username();
    let err = driver
        .new_user(NewUser {
            username: &user,
            password: &password,
            expiration: in_an_hour(),
            creation_statements: &[CREATE.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::NotConnected(_)), "{err:?}");
    assert!(!err.to_string().contains(password.expose_secret()));
    let err = driver
        .delete_user(DeleteUser {
            username: &user,
            revocation_statements: &[],
            reassign_owned_to: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::NotConnected(_)), "{err:?}");
}

/// A driver on `t`'s database with room for revocations to run (and batch) together.
fn wide_driver(t: &Target) -> std::sync::Arc<dyn leasehold_database::Driver> {
    let mut config = Target::config(t.cluster, &t.db, t.cluster.port());
    config.max_open_connections = 16;
    PgDriverFactory::new().open(&config).unwrap()
}

/// Delete `users` through `driver` all at once: each one's result.
async fn delete_together(
    driver: &dyn leasehold_database::Driver,
    users: &[String],
) -> Vec<Result<leasehold_database::Revoked, DriverError>> {
    let deletions = users.iter().map(|user| {
        driver.delete_user(DeleteUser {
            username: user,
            revocation_statements: &[],
            reassign_owned_to: None,
        })
    });
    futures_util::future::join_all(deletions).await
}

/// Revocations running together that drop privileges on the same schema collide on its catalog
/// row ("tuple concurrently updated") unless batched or run again; either way all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_revocations_on_one_schema_all_succeed_at_once() {
    let t = Target::new().await;
    let driver = wide_driver(&t);
    for _ in 0..3 {
        let users: Vec<String> = (0..16).map(|_| new_username()).collect();
        let password = new_password();
        for user in &users {
            t.create(user, &password, in_an_hour()).await;
        }
        let results = delete_together(driver.as_ref(), &users).await;
        for (user, result) in users.iter().zip(results) {
            let revoked = result.unwrap_or_else(|e| panic!("{user}: {e}"));
            assert_eq!(
                revoked.sessions_terminated,
                Some(0),
                "{user} had no session"
            );
            assert_eq!(t.role(user).await, None, "{user} is still in pg_roles");
        }
    }
    driver.close().await;
}

/// A burst (destroyed in batches) ends every live session of every user, as one revocation does,
/// and each revocation reports its own user's sessions (two, one or none), not the batch's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_revocations_ends_every_session() {
    let t = Target::new().await;
    let driver = wide_driver(&t);
    let password = new_password();
    let users: Vec<String> = (0..40).map(|_| new_username()).collect();
    let mut sessions = Vec::new();
    for (i, user) in users.iter().enumerate() {
        t.create(user, &password, in_an_hour()).await;
        let mut own = Vec::new();
        for _ in 0..i % 3 {
            own.push(t.login(user, &password).await.unwrap());
        }
        sessions.push(own);
    }
    let results = delete_together(driver.as_ref(), &users).await;
    for ((user, result), own) in users.iter().zip(results).zip(&sessions) {
        let revoked = result.unwrap_or_else(|e| panic!("{user}: {e}"));
        assert_eq!(
            revoked.sessions_terminated,
            Some(own.len() as u64),
            "{user}'s sessions ended"
        );
        // Each user's own receipt, from the batch's read-back of pg_roles.
        assert_eq!(
            revoked.verified.as_deref(),
            Some(format!("pg_roles has no user {user:?}").as_str()),
            "{user} has no destruction receipt"
        );
        assert_eq!(t.role(user).await, None, "{user} is still in pg_roles");
        for session in own {
            assert!(
                session.simple_query("SELECT 1").await.is_err(),
                "a session of {user} survived"
            );
        }
        assert!(t.login(user, &password).await.is_err());
    }
    driver.close().await;
}

/// A user that cannot be dropped (it owns a table in another database, which `DROP OWNED`
/// cannot reach) fails alone, saying why; the others of its burst are destroyed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_undroppable_user_fails_alone_and_the_rest_are_destroyed() {
    let t = Target::new().await;
    let driver = wide_driver(&t);
    let password = new_password();
    let users: Vec<String> = (0..12).map(|_| new_username()).collect();
    for user in &users {
        t.create(user, &password, in_an_hour()).await;
    }
    let stuck = users[5].clone();
    let other_db = format!("o_{}", random_lower(10));
    t.cluster.create_database(&other_db).await.unwrap();
    let other = t.cluster.admin(&other_db).await.unwrap();
    other
        .batch_execute(&format!(
            "CREATE TABLE kept (x int); ALTER TABLE kept OWNER TO \"{stuck}\""
        ))
        .await
        .unwrap();

    let results = delete_together(driver.as_ref(), &users).await;
    for (user, result) in users.iter().zip(results) {
        if *user == stuck {
            let err = result.expect_err("a user owning objects elsewhere was reported dropped");
            assert!(err.to_string().contains("cannot drop the user"), "{err}");
            assert!(
                t.login(user, &password).await.is_err(),
                "the undroppable user can still log in"
            );
        } else {
            assert!(result.is_ok(), "{user}: {:?}", result.err());
            assert_eq!(t.role(user).await, None, "{user} is still in pg_roles");
        }
    }
    // Once the object is gone, the retry succeeds.
    other.batch_execute("DROP TABLE kept").await.unwrap();
    assert!(t.delete(&stuck).await.is_ok());
    assert_eq!(t.role(&stuck).await, None);
    driver.close().await;
}

/// A two-phase creation (`prepare_user`) is invisible until committed: no role in `pg_roles`,
/// no login; the commit makes it real.
#[tokio::test]
async fn a_prepared_user_exists_only_once_committed() {
    let t = Target::new().await;
    let (user, password, expiration) = (new_username(), new_password(), in_an_hour());
    let pending = t
        .driver
        .prepare_user(NewUser {
            username: &user,
            password: &password,
            expiration,
            creation_statements: &[CREATE.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap()
        .expect("PostgreSQL prepares in two phases");
    assert_eq!(t.role(&user).await, None, "visible before its commit");
    assert!(t.login(&user, &password).await.is_err());
    pending.commit().await.unwrap();
    assert_eq!(
        t.role(&user).await,
        Some((true, Some(expiration.timestamp())))
    );
    t.login(&user, &password)
        .await
        .expect("committed user cannot log in");
    let revoked = t.delete(&user).await.unwrap();
    assert_eq!(
        revoked.verified.as_deref(),
        Some(format!("pg_roles has no user {user:?}").as_str()),
        "no destruction receipt"
    );
}

/// Dropped uncommitted (its lease row could not be written), a prepared user never appears,
/// and the pooled connection it held comes back outside any transaction: a later creation on
/// the same two-connection pool commits only its own user.
#[tokio::test]
async fn a_prepared_user_dropped_uncommitted_never_appears() {
    let t = Target::new().await;
    let password = new_password();
    let dropped = new_username();
    let pending = t
        .driver
        .prepare_user(NewUser {
            username: &dropped,
            password: &password,
            expiration: in_an_hour(),
            creation_statements: &[CREATE.to_owned()],
            rollback_statements: &[],
        })
        .await
        .unwrap()
        .expect("PostgreSQL prepares in two phases");
    drop(pending);
    let later: Vec<String> = (0..4).map(|_| new_username()).collect();
    for user in &later {
        t.create(user, &password, in_an_hour()).await;
    }
    assert_eq!(
        t.role(&dropped).await,
        None,
        "a dropped creation was committed"
    );
    assert!(t.login(&dropped, &password).await.is_err());
    for user in &later {
        assert!(t.role(user).await.is_some(), "{user} was not created");
        t.delete(user).await.unwrap();
    }
}
