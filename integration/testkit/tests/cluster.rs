//! The cluster itself: password auth is enforced, an outage keeps data and port, drop cleans up.

use leasehold_testkit::PgCluster;

#[tokio::test]
async fn password_auth_outage_and_cleanup() {
    let cluster = PgCluster::start().await.unwrap();
    let password = cluster.superuser_password().to_owned();
    let port = cluster.port();
    let dir = cluster.dir().to_owned();
    assert!(dir.exists());

    cluster.create_database("t_kit").await.unwrap();
    let admin = cluster.admin("t_kit").await.unwrap();
    admin
        .batch_execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
        .await
        .unwrap();
    // A wrong password is refused: the whole point of this cluster.
    assert!(cluster.connect("postgres", "wrong", "t_kit").await.is_err());
    assert!(cluster
        .admin_url("t_kit")
        .contains(&format!(":{password}@127.0.0.1:{port}/t_kit")));

    cluster.stop().await.unwrap();
    assert!(
        admin.simple_query("SELECT 1").await.is_err(),
        "session survived stop"
    );
    assert!(cluster.admin("t_kit").await.is_err(), "login while stopped");

    cluster.start_again().await.unwrap();
    assert_eq!(cluster.port(), port);
    let admin = cluster.admin("t_kit").await.unwrap();
    let row = admin.query_one("SELECT x FROM kept", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 7);

    drop(admin);
    drop(cluster);
    assert!(!dir.exists(), "cluster directory left behind");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server still listening"
    );
}

#[tokio::test]
async fn shared_cluster_is_one_per_process() {
    let a = PgCluster::shared().await;
    let b = PgCluster::shared().await;
    assert!(std::ptr::eq(a, b));
    a.create_database("t_shared").await.unwrap();
    a.admin("t_shared")
        .await
        .unwrap()
        .simple_query("SELECT 1")
        .await
        .unwrap();
}
