//! The listener's limits against real slow clients over TCP: slow headers, slow bodies, idle
//! keep-alive connections, large unauthenticated bodies and the connection cap. Timeouts are
//! configured short; time is asserted only as an upper bound with slack.

use std::time::{Duration, Instant};

use leasehold::config::ListenerLimits;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::TestApp;

const SHORT: Duration = Duration::from_millis(400);
/// Slack for a loaded CI machine: the bound asserted is the configured time plus this.
const SLACK: Duration = Duration::from_secs(3);

async fn app_with(limits: ListenerLimits) -> TestApp {
    TestApp::spawn_with(|s| s.limits = limits).await
}

/// Read until the server closes the connection (or `within` passes: then panic), returning what
/// was read and when it closed.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            within.saturating_sub(start.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "connection still open after {within:?}; read so far: {}",
                String::from_utf8_lossy(&all)
            ),
        }
    }
    (String::from_utf8_lossy(&all).into_owned(), start.elapsed())
}

/// Read one response (head and `Content-Length` body) from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("no response in time")
            .unwrap();
        assert!(n > 0, "closed before a full response");
        all.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&all).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if all.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_slow_header_client_is_cut_off_at_the_header_timeout() {
    let app = app_with(ListenerLimits {
        header_read_timeout: SHORT,
        ..ListenerLimits::default()
    })
    .await;
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    let (mut read, mut write) = stream.split();
    // One byte of a valid request head every 50 ms, for far longer than the timeout.
    let head = b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let writer = async {
        for b in head.iter() {
            if write.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let start = Instant::now();
    let mut got = Vec::new();
    let reader = async {
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = writer => panic!("the whole slow head was accepted without the connection closing"),
    }
    let elapsed = start.elapsed();
    assert!(elapsed < SHORT + SLACK, "closed only after {elapsed:?}");
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "a slow head was served"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_header_timeout() {
    let app = app_with(ListenerLimits {
        header_read_timeout: SHORT,
        ..ListenerLimits::default()
    })
    .await;
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    let (_, elapsed) = read_to_close(&mut stream, SHORT + SLACK).await;
    assert!(elapsed >= SHORT / 2, "closed too early: {elapsed:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_slow_body_gets_408_and_the_connection_closes() {
    let app = app_with(ListenerLimits {
        body_read_timeout: SHORT,
        ..ListenerLimits::default()
    })
    .await;
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    stream
        .write_all(
            b"PUT /v1/auth/approle/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"role_id\":",
        )
        .await
        .unwrap();
    let (text, elapsed) = read_to_close(&mut stream, SHORT + SLACK).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("http_read_timeout"), "{text}");
    assert!(elapsed < SHORT + SLACK, "{elapsed:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_serving() {
    let app = app_with(ListenerLimits {
        idle_timeout: SHORT,
        ..ListenerLimits::default()
    })
    .await;
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    let req = b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n";
    // Two requests on one connection: keep-alive works within the idle timeout...
    for _ in 0..2 {
        stream.write_all(req).await.unwrap();
        let resp = read_response(&mut stream).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        tokio::time::sleep(SHORT / 4).await;
    }
    // ...and past it the server closes the connection.
    let (rest, elapsed) = read_to_close(&mut stream, SHORT + SLACK).await;
    assert!(rest.is_empty(), "{rest}");
    assert!(elapsed < SHORT + SLACK, "{elapsed:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_large_unauthenticated_body_is_refused_before_it_is_sent() {
    let app = TestApp::spawn().await;
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    // 20 MB announced, not one byte of it sent: the answer comes anyway.
    stream
        .write_all(
            b"PUT /v1/auth/approle/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20000000\r\n\r\n",
        )
        .await
        .unwrap();
    let resp = read_response(&mut stream).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    // The same without a declared length (chunked): refused once past the small limit, while
    // the client is still sending.
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    stream
        .write_all(
            b"PUT /v1/sys/policies/acl/big HTTP/1.1\r\nHost: x\r\nX-Vault-Token: not-a-token\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, " ".repeat(16 * 1024));
    let mut sent = 0;
    let mut text = String::new();
    let mut buf = [0u8; 512];
    for i in 1..=1280 {
        // 20 MiB in 16 KiB chunks, unless the server answers (or closes) first.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
        sent = i;
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
        {
            text = String::from_utf8_lossy(&buf[..n]).into_owned();
            break;
        }
    }
    if text.is_empty() {
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await
        {
            text = String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    }
    assert!(sent < 100, "the server read {sent} chunks before answering");
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_token_holder_may_send_a_body_above_the_unauthenticated_limit() {
    let app = TestApp::spawn().await;
    // 200 KiB of policy: three times the unauthenticated limit.
    let policy = format!(
        "path \"secret/big\" {{ capabilities = [\"read\"] }}\n{}",
        "# padding\n".repeat(20 * 1024)
    );
    let (s, _) = app
        .put("sys/policies/acl/big", json!({ "policy": policy }))
        .await;
    assert_eq!(s, 204);
    let (s, body) = app.get("sys/policies/acl/big").await;
    assert_eq!(s, 200);
    assert_eq!(
        body["data"]["policy"].as_str().map(str::len),
        Some(policy.len())
    );
    // The same body without a token is refused for its size, not read and then denied.
    let (s, body) = app
        .call_as(
            "PUT",
            "sys/policies/acl/big2",
            Some(json!({ "policy": policy })),
            None,
        )
        .await;
    assert_eq!(s, 413, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_connection_cap_holds() {
    let app = app_with(ListenerLimits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(30),
        ..ListenerLimits::default()
    })
    .await;
    let first = TcpStream::connect(&app.addr).await.unwrap();
    let _second = TcpStream::connect(&app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(&app.addr).await.unwrap();
    third
        .write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "a third connection was served at a cap of 2"
    );
    // One slot frees: the waiting client is served.
    drop(first);
    let resp = read_response(&mut third).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    app.stop().await;
}

#[tokio::test]
async fn a_request_past_max_request_duration_gets_503_in_time() {
    let app = app_with(ListenerLimits {
        max_request_duration: SHORT,
        ..ListenerLimits::default()
    })
    .await;
    // A "database" that accepts connections and never answers: verifying it hangs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let (s, _) = app
        .put("sys/mounts/database", json!({"type": "database"}))
        .await;
    assert!(s.is_success(), "{s}");
    let start = Instant::now();
    let (s, body) = app
        .put(
            "database/config/silent",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgres://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/postgres"),
                "username": "postgres",
                "password": "unused",
                "allowed_roles": "*",
            }),
        )
        .await;
    let elapsed = start.elapsed();
    assert_eq!(s, 503, "{body}");
    assert!(body.to_string().contains("max_request_duration"), "{body}");
    assert!(elapsed < SHORT + SLACK, "{elapsed:?}");
    held.abort();
    app.stop().await;
}

#[tokio::test]
async fn https_serves_plain_http_gets_a_hint_and_a_stalled_tls_handshake_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), crate::app::hex_key()).unwrap();
    let ca = leasehold_testkit::TestCa::new("listener test CA").unwrap();
    let (cert, key) = ca.server_cert(&["127.0.0.1"]).unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let acceptor = leasehold::server::listener::load_tls(&cert_path, &key_path).unwrap();
    let mut settings =
        leasehold::config::Settings::for_tests(TestApp::db_path(&dir), dir.path().join("key"));
    settings.limits.header_read_timeout = SHORT;
    let server = leasehold::server::Server::build(&settings, None)
        .await
        .unwrap();
    let tcp = leasehold::server::listener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = tcp.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_with(tcp, Some(acceptor), async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let resp = client
        .get(format!("https://{addr}/v1/sys/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Plain HTTP on the TLS port gets a 400 saying what went wrong, and HTTPS still works after.
    let plain = reqwest::get(format!("http://{addr}/v1/sys/health"))
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
    assert_eq!(
        plain.text().await.unwrap(),
        "Client sent an HTTP request to an HTTPS server.\n"
    );
    let resp = client
        .get(format!("https://{addr}/v1/sys/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A client that connects and never starts the handshake is closed at the header timeout.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (_, elapsed) = read_to_close(&mut silent, SHORT + SLACK).await;
    assert!(elapsed < SHORT + SLACK, "{elapsed:?}");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
