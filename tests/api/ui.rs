//! The web console's files at `/ui/`: served only when enabled, with the strict headers on every
//! answer, and no spelling of a path under `/ui/` reaching anything but the embedded files.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::TestApp;

/// One raw HTTP/1.1 GET, the path sent exactly as written (an HTTP client library would clean
/// `..` and `%2e%2e` away before sending). Returns the status code and the lower-cased head.
async fn raw_get(addr: &str, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head, buf[split + 4..].to_vec())
}

const HEADERS: &[&str] = &[
    "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "x-frame-options: deny",
    "x-content-type-options: nosniff",
    "referrer-policy: no-referrer",
    "cache-control: no-store",
];

fn assert_secured(path: &str, head: &str) {
    for h in HEADERS {
        assert!(head.contains(h), "{path}: no `{h}` in\n{head}");
    }
    assert!(!head.contains("unsafe-inline"), "{path}: {head}");
    assert!(!head.contains("unsafe-eval"), "{path}: {head}");
}

#[tokio::test]
async fn ui_files_are_served_with_strict_headers_when_enabled() {
    let app = TestApp::spawn_with(|s| s.ui = Some(true)).await;
    for (path, content_type) in [
        ("/ui/", "text/html"),
        ("/ui/index.html", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/api.js", "text/javascript"),
        ("/ui/dom.js", "text/javascript"),
        ("/ui/live.js", "text/javascript"),
        ("/ui/confirm.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ] {
        let (status, head, body) = raw_get(&app.addr, path).await;
        assert_eq!(status, 200, "{path}: {head}");
        assert!(
            head.contains(&format!("content-type: {content_type}")),
            "{path}: {head}"
        );
        assert!(!body.is_empty(), "{path}");
        assert_secured(path, &head);
    }
    // The page itself has no inline script or style for the policy to have to allow.
    let (_, _, html) = raw_get(&app.addr, "/ui/").await;
    let html = String::from_utf8(html).unwrap();
    assert!(!html.contains("<script>"), "inline script in index.html");
    assert!(!html.contains("<style"), "inline style in index.html");
    assert!(
        !html.contains("style="),
        "inline style attribute in index.html"
    );
    // No inline event handler attribute (` onclick=`, ` onload=`, ...).
    for (at, _) in html.match_indices(" on") {
        let rest = &html[at + 3..];
        let name_len = rest.chars().take_while(char::is_ascii_lowercase).count();
        assert!(
            name_len == 0 || !rest[name_len..].starts_with('='),
            "inline handler in index.html at {at}"
        );
    }

    let (status, head, _) = raw_get(&app.addr, "/ui").await;
    assert_eq!(status, 301);
    assert!(head.contains("location: /ui/"), "{head}");
    assert_secured("/ui", &head);

    let (status, head, _) = raw_get(&app.addr, "/ui/nothing-here.js").await;
    assert_eq!(status, 404);
    assert_secured("/ui/nothing-here.js", &head);

    // The API is untouched by the console's routes.
    let (status, _) = app.call("GET", "sys/health", None).await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn path_spellings_under_ui_do_not_escape_or_fail() {
    let app = TestApp::spawn_with(|s| s.ui = Some(true)).await;
    for path in [
        "/ui/../v1/sys/health",
        "/ui/%2e%2e/v1/sys/health",
        "/ui/%2e%2e/",
        "/ui//x",
        "/ui//index.html",
        "/ui/./index.html",
        "/ui/%2fetc%2fpasswd",
        "/ui/..%2f..%2fCargo.toml",
        "/ui/../../Cargo.toml",
        "/ui/index.html%00",
    ] {
        let (status, head, body) = raw_get(&app.addr, path).await;
        assert!(status < 500, "{path}: {status}\n{head}");
        assert_ne!(status, 200, "{path} answered 200");
        let body = String::from_utf8_lossy(&body);
        assert!(
            !body.contains("\"initialized\""),
            "{path} reached sys/health"
        );
        assert!(!body.contains("[package]"), "{path} reached a file");
        assert!(!body.contains("root:"), "{path} reached a file");
        if status == 404 {
            assert_secured(path, &head);
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn ui_is_off_unless_enabled() {
    // The test settings are those of a server run with -config: no `ui` key, so no console.
    let app = TestApp::spawn().await;
    for path in ["/ui", "/ui/", "/ui/app.js", "/ui/index.html"] {
        let (status, _, _) = raw_get(&app.addr, path).await;
        assert_eq!(status, 404, "{path}");
    }
    app.stop().await;
    let app = TestApp::spawn_with(|s| s.ui = Some(false)).await;
    let (status, _, _) = raw_get(&app.addr, "/ui/").await;
    assert_eq!(status, 404);
    app.stop().await;
}
