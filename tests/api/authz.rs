//! The adversarial authorization suite: an attacker holding an ordinary token spells each
//! request every way it can (extra slashes, dot segments, a trailing slash, case,
//! percent-encodings), through every path that reaches the same handler, and must get exactly
//! the decision the canonical form gets — proven on the target (no role in `pg_roles`, a victim's
//! lease still live, a policy unchanged), not only by a status code.
//!
//! Requests go over a raw TCP connection: an HTTP client library would clean the path itself
//! (`url` resolves `.` and `..`, `%2e` included) and the server would never see the spelling.

use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::{issue, PgTarget, TestApp};

/// A raw response: status, `Location`, parsed body (`Null` when empty).
#[derive(Debug)]
pub(crate) struct Raw {
    pub(crate) status: u16,
    location: Option<String>,
    pub(crate) body: Value,
}

/// Send `method target` exactly as written (target = path and query, not normalised).
pub(crate) async fn raw(
    addr: &str,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("X-Vault-Token: {t}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let location = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim().to_owned());
    let body = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{target}: {e}: {body:?}"))
    };
    Raw {
        status,
        location,
        body,
    }
}

/// What a client that follows redirects sees: the statuses of every hop, then the last answer.
/// A redirect must keep the method and body (308) and must land on a canonical path in one hop.
pub(crate) async fn follow(
    addr: &str,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (Vec<u16>, Raw) {
    let mut hops = Vec::new();
    let mut target = target.to_owned();
    for _ in 0..3 {
        let r = raw(addr, method, &target, token, body).await;
        hops.push(r.status);
        if r.status != 308 {
            return (hops, r);
        }
        assert!(
            hops.len() < 2,
            "{target}: a redirect led to another redirect"
        );
        target = r.location.clone().expect("308 without Location");
    }
    panic!("{target}: redirect loop");
}

/// The attacker's policy: broad grants with narrow denials, parameter constraints, and no sudo.
const ATTACKER: &str = r#"
path "database/*"               { capabilities = ["read", "list"] }
path "database/creds/admin"     { capabilities = ["deny"] }
path "database/roles/*" {
  capabilities      = ["create", "update", "read", "list"]
  denied_parameters = { creation_statements = ["*SUPERUSER*", "*superuser*", "*CREATEROLE*"] }
}
path "sys/leases/*"             { capabilities = ["create", "update", "read", "list"] }
path "sys/leases"               { capabilities = ["read", "list"] }
path "sys/revoke-prefix/*"      { capabilities = ["update"] }
path "sys/revoke-force/*"       { capabilities = ["update"] }
path "sys/policies/acl/*"       { capabilities = ["create", "update", "read", "list"] }
path "sys/policies/acl/admin"   { capabilities = ["deny"] }
path "sys/policy/*"             { capabilities = ["create", "update", "read"] }
path "sys/policy/admin"         { capabilities = ["deny"] }
path "sys/mounts/*" {
  capabilities       = ["create", "update", "read"]
  allowed_parameters = { type = ["database"], "*" = [] }
}
path "auth/token/create" {
  capabilities        = ["update"]
  allowed_parameters  = { policies = ["attacker"], ttl = ["1m", "5m"], "*" = [] }
  required_parameters = ["ttl"]
}
"#;

const ADMIN_POLICY: &str = r#"path "database/*" { capabilities = ["read"] }"#;

/// What a case must end in, after following any redirect.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// 403 permission denied.
    Denied,
    /// This exact status (a 404 for a path no handler matches, 400, 405...).
    Status(u16),
}

struct Fixture {
    app: TestApp,
    pg: PgTarget,
    token: String,
    /// A lease the attacker must not be able to end, with its user.
    victim: (String, String),
}

impl Fixture {
    async fn new() -> Fixture {
        let app = TestApp::spawn().await;
        let pg = PgTarget::new().await;
        pg.configure(&app, pg.cluster.port()).await;
        pg.role(&app, "ro", "1h", "2h").await;
        app.ok(
            "database/roles/admin",
            json!({
                "db_name": "pg",
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH SUPERUSER LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
                "default_ttl": "1h",
            }),
        )
        .await;
        app.ok("sys/policies/acl/attacker", json!({ "policy": ATTACKER }))
            .await;
        app.ok("sys/policies/acl/admin", json!({ "policy": ADMIN_POLICY }))
            .await;
        let (s, v) = app
            .put(
                "auth/token/create",
                json!({"policies": ["attacker"], "ttl": "1h"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let token = v["auth"]["client_token"].as_str().unwrap().to_owned();
        let (lease, user, _, _) = issue(&app, "ro").await;
        Fixture {
            app,
            pg,
            token,
            victim: (lease, user),
        }
    }

    async fn run(&self, method: &str, target: &str, body: Option<Value>, expect: Expect) -> Raw {
        let (hops, last) = follow(
            &self.app.addr,
            method,
            target,
            Some(&self.token),
            body.as_ref(),
        )
        .await;
        let want = match expect {
            Expect::Denied => 403,
            Expect::Status(s) => s,
        };
        assert_eq!(
            last.status, want,
            "{method} {target} (hops {hops:?}): {}",
            last.body
        );
        if want == 403 {
            assert_eq!(
                last.body["errors"][0], "permission denied",
                "{method} {target}"
            );
        }
        last
    }

    /// No SUPERUSER role was ever issued for `admin`.
    async fn no_admin_role(&self, case: &str) {
        let roles = self.pg.roles_for("admin").await;
        assert!(roles.is_empty(), "{case}: admin roles issued: {roles:?}");
    }

    /// The victim's lease is still active and its role still in pg_roles.
    async fn victim_alive(&self, case: &str) {
        let (lease, user) = &self.victim;
        let (s, v) = self.app.lookup(lease).await;
        assert_eq!(s, 200, "{case}: victim lease gone: {v}");
        assert_eq!(v["data"]["state"], "active", "{case}: {v}");
        assert!(
            self.pg.role_exists(user).await,
            "{case}: victim role dropped"
        );
    }

    /// The `admin` policy still has the text root wrote.
    async fn admin_policy_intact(&self, case: &str) {
        let (s, v) = self.app.get("sys/policies/acl/admin").await;
        assert_eq!(s, 200, "{case}: {v}");
        assert_eq!(
            v["data"]["policy"], ADMIN_POLICY,
            "{case}: admin policy rewritten"
        );
    }
}

#[tokio::test]
async fn a_denied_role_cannot_be_reached_by_any_spelling() {
    use Expect::*;
    let f = Fixture::new().await;
    let cases: &[(&str, &str, Expect)] = &[
        ("GET", "/v1/database/creds/admin", Denied),
        // The trailing slash names another path; the backend matches anchored.
        ("GET", "/v1/database/creds/admin/", Status(404)),
        ("GET", "/v1/database/creds/admin%2F", Status(404)),
        ("GET", "/v1/database//creds/admin", Denied),
        ("GET", "/v1//database/creds/admin", Denied),
        ("GET", "/v1/database/creds//admin", Denied),
        ("GET", "/v1/database/./creds/admin", Denied),
        ("GET", "/v1/database/creds/./admin", Denied),
        ("GET", "/v1/database/x/../creds/admin", Denied),
        ("GET", "/v1/database/creds/admin/.", Denied),
        ("GET", "/v1/database/%2e/creds/admin", Denied),
        ("GET", "/v1/database/x/%2E%2E/creds/admin", Denied),
        ("GET", "/v1/database%2F%2Fcreds/admin", Denied),
        ("GET", "/v1/database/creds/%61dmin", Denied),
        ("GET", "/v1/database%2Fcreds%2Fadmin", Denied),
        ("GET", "/v1/%64atabase/creds/admin", Denied),
        // Double encoding is decoded once: `%61dmin` is no role name the engine serves.
        ("GET", "/v1/database/creds/%2561dmin", Status(404)),
        // Case is significant everywhere: other mounts, families and roles, none of which exist.
        ("GET", "/v1/Database/creds/admin", Status(404)),
        ("GET", "/v1/database/CREDS/admin", Status(404)),
        ("GET", "/v1/database/creds/ADMIN", Status(400)),
        ("GET", "/v1/database/creds/admin%00", Status(400)),
        // A list path `database/creds/admin/` falls back to the rule without its slash: denied.
        ("GET", "/v1/database/creds/admin?list=true", Denied),
        ("LIST", "/v1/database/creds/admin", Denied),
        ("LIST", "/v1/database/creds/ro", Status(405)),
        ("PUT", "/v1/database/creds/admin", Denied),
        ("POST", "/v1/database//creds/admin", Denied),
    ];
    for (method, target, expect) in cases {
        f.run(method, target, None, *expect).await;
        f.no_admin_role(&format!("{method} {target}")).await;
    }
    // The control: the same spellings of an allowed role issue, under the canonical lease id.
    for target in [
        "/v1/database/creds/ro",
        "/v1/database//creds/ro",
        "/v1/database/./creds/ro",
        "/v1/database/creds/%72o",
    ] {
        let r = f.run("GET", target, None, Status(200)).await;
        let lease = r.body["lease_id"].as_str().unwrap();
        assert!(lease.starts_with("database/creds/ro/"), "{target}: {lease}");
        assert_eq!(lease.matches('/').count(), 3, "{target}: {lease}");
    }
}

#[tokio::test]
async fn lease_administration_needs_sudo_on_every_path_that_reaches_it() {
    use Expect::*;
    let f = Fixture::new().await;
    let accessor = {
        let (s, v) = f.app.get("auth/token/lookup-self").await;
        assert_eq!(s, 200);
        v["data"]["accessor"].as_str().unwrap().to_owned()
    };
    let workload = format!("auth/token/{accessor}");
    let cases: Vec<(&str, String, Option<Value>, Expect)> = vec![
        (
            "PUT",
            "/v1/sys/leases/revoke-prefix/database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke-prefix/database/creds/ro/".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke-prefix/database".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases//revoke-prefix/database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke-prefix//database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/./revoke-prefix/database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke%2Dprefix/database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "POST",
            "/v1/sys/revoke-prefix/database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys//revoke-prefix/database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke-force/database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases//revoke-force/database".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/revoke-force/database/creds/ro".into(),
            None,
            Denied,
        ),
        // No segment boundary: not granted, and not the handler either.
        (
            "PUT",
            "/v1/sys/leasesrevoke-prefix/database".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/Revoke-Prefix/database".into(),
            None,
            Status(404),
        ),
        // A body cannot stand in for the URL's prefix.
        (
            "PUT",
            "/v1/sys/leases/revoke-prefix".into(),
            Some(json!({"prefix": "database/"})),
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke-workload".into(),
            Some(json!({ "workload": workload })),
            Denied,
        ),
        (
            "PUT",
            format!("/v1/sys/leases/revoke-workload/{workload}"),
            None,
            Denied,
        ),
        (
            "PUT",
            format!("/v1/sys/leases//revoke-workload/{workload}"),
            None,
            Denied,
        ),
        ("LIST", "/v1/sys/leases/lookup/".into(), None, Denied),
        ("LIST", "/v1/sys/leases/lookup".into(), None, Denied),
        (
            "GET",
            "/v1/sys/leases/lookup?list=true".into(),
            None,
            Denied,
        ),
        ("LIST", "/v1/sys/leases//lookup/".into(), None, Denied),
        (
            "LIST",
            "/v1/sys/leases/lookup/database/creds/".into(),
            None,
            Denied,
        ),
        (
            "LIST",
            "/v1/sys/leases/lookup/auth/token/".into(),
            None,
            Denied,
        ),
        ("GET", "/v1/sys/leases/reconcile".into(), None, Denied),
        (
            "PUT",
            "/v1/sys/leases//reconcile".into(),
            Some(json!({"destroy": true})),
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/reconcile/database".into(),
            Some(json!({"destroy": true})),
            Denied,
        ),
        (
            "GET",
            "/v1/sys/leases?type=irrevocable".into(),
            None,
            Denied,
        ),
        // Everyday calls without a lease id: the trailing-slash spelling is no path (as Vault).
        ("PUT", "/v1/sys/leases/revoke/".into(), None, Status(404)),
    ];
    for (method, target, body, expect) in cases {
        f.run(method, &target, body, expect).await;
        f.victim_alive(&format!("{method} {target}")).await;
    }
}

#[tokio::test]
async fn a_denied_policy_cannot_be_rewritten_by_any_spelling() {
    use Expect::*;
    let f = Fixture::new().await;
    let grant_all = json!({ "policy": r#"path "*" { capabilities = ["sudo", "read", "update", "create", "delete", "list"] }"# });
    let cases: &[(&str, &str, Expect)] = &[
        ("PUT", "/v1/sys/policies/acl/admin", Denied),
        ("PUT", "/v1/sys/policies/acl/Admin", Denied),
        ("PUT", "/v1/sys/policies/acl/ADMIN", Denied),
        ("PUT", "/v1/sys/policies/acl/%61dmin", Denied),
        ("PUT", "/v1/sys/policies/acl//admin", Denied),
        ("PUT", "/v1/sys/policies//acl/admin", Denied),
        ("PUT", "/v1/sys/policies/acl/x/../admin", Denied),
        ("PUT", "/v1/sys/policies/acl/admin/", Status(404)),
        // No segment boundary: a path nobody was granted, refused before any routing.
        ("PUT", "/v1/sys/policies/acladmin", Denied),
        ("PUT", "/v1/sys/policy/admin", Denied),
        ("PUT", "/v1/sys/policy/Admin", Denied),
        ("POST", "/v1/sys//policy/admin", Denied),
        ("PUT", "/v1/sys/policyadmin", Denied),
        ("DELETE", "/v1/sys/policies/acl/admin", Denied),
    ];
    for (method, target, expect) in cases {
        f.run(method, target, Some(grant_all.clone()), *expect)
            .await;
        f.admin_policy_intact(&format!("{method} {target}")).await;
    }
    // The control: a policy the attacker may write is written.
    f.run(
        "PUT",
        "/v1/sys/policies/acl/Mine",
        Some(grant_all.clone()),
        Status(204),
    )
    .await;
    let (s, _) = f.app.get("sys/policies/acl/mine").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn parameter_constraints_hold_on_engines_and_the_token_store() {
    use Expect::*;
    let f = Fixture::new().await;
    let statement = |s: &str| {
        format!("CREATE ROLE \"{{{{name}}}}\" WITH {s} LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}';")
    };
    let role = |statements: Value| json!({"db_name": "pg", "creation_statements": statements, "default_ttl": "1h"});
    // A denied value, in each shape the field accepts, on create and on update.
    for (target, body) in [
        (
            "/v1/database/roles/evil",
            role(json!([statement("SUPERUSER")])),
        ),
        (
            "/v1/database/roles/evil",
            role(json!(statement("superuser"))),
        ),
        (
            "/v1/database/roles/evil",
            role(json!([statement(""), statement("SUPERUSER")])),
        ),
        (
            "/v1/database//roles/evil",
            role(json!([statement("CREATEROLE")])),
        ),
        (
            "/v1/database/roles/evil?creation_statements=x",
            role(json!([statement("SUPERUSER")])),
        ),
    ] {
        f.run("PUT", target, Some(body), Denied).await;
        let (s, _) = f.app.get("database/roles/evil").await;
        assert_eq!(s, 404, "{target}: the role was written");
    }
    // The control: an innocent role is written; rewriting it into a superuser is refused.
    f.run(
        "PUT",
        "/v1/database/roles/evil",
        Some(role(json!([statement("")]))),
        Status(204),
    )
    .await;
    f.run(
        "PUT",
        "/v1/database/roles/evil",
        Some(role(json!([statement("SUPERUSER")]))),
        Denied,
    )
    .await;
    // Proven on the target: what the role issues is no superuser.
    let (_, user, _, _) = issue(&f.app, "evil").await;
    let admin =
        f.pg.cluster
            .connect("postgres", f.pg.cluster.superuser_password(), &f.pg.db)
            .await
            .unwrap();
    let row = admin
        .query_one(
            "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1",
            &[&user],
        )
        .await
        .unwrap();
    assert!(
        !row.get::<_, bool>(0) && !row.get::<_, bool>(1),
        "{user} has privileges"
    );

    // `sys/` paths are constrained the same way: only database engines may be mounted.
    for (target, body) in [
        ("/v1/sys/mounts/x1", json!({"type": "aws"})),
        ("/v1/sys/mounts/x1/", json!({"type": "aws"})),
        ("/v1/sys/mounts//x1", json!({"type": "aws"})),
        ("/v1/sys/mounts/x1?type=database", json!({"type": "aws"})),
    ] {
        f.run("POST", target, Some(body), Denied).await;
        let (_, mounts) = f.app.get("sys/mounts").await;
        assert!(mounts["data"].get("x1/").is_none(), "{target}: mounted");
    }
    f.run(
        "POST",
        "/v1/sys/mounts/x2",
        Some(json!({"type": "database"})),
        Status(204),
    )
    .await;
    let (_, mounts) = f.app.get("sys/mounts").await;
    assert_eq!(mounts["data"]["x2/"]["type"], "database");

    // The token store: allowed values, required fields, lists and comma strings.
    for body in [
        json!({"policies": ["attacker"]}),
        json!({"policies": ["attacker"], "ttl": "768h"}),
        json!({"policies": ["attacker", "admin"], "ttl": "1m"}),
        json!({"policies": "attacker,admin", "ttl": "1m"}),
        json!({"policies": ["admin"], "ttl": "5m"}),
    ] {
        let before = f.app.core.tokens.accessors().await.unwrap().len();
        f.run("PUT", "/v1/auth/token/create", Some(body.clone()), Denied)
            .await;
        let after = f.app.core.tokens.accessors().await.unwrap().len();
        assert_eq!(before, after, "{body}: a token was minted");
    }
    let r = f
        .run(
            "PUT",
            "/v1/auth/token/create",
            Some(json!({"policies": ["attacker"], "ttl": "5m"})),
            Status(200),
        )
        .await;
    let child = r.body["auth"]["client_token"].as_str().unwrap();
    let (s, v) = f
        .app
        .call_as("GET", "auth/token/lookup-self", None, Some(child))
        .await;
    assert_eq!(s, 200);
    let mut policies: Vec<String> = serde_json::from_value(v["data"]["policies"].clone()).unwrap();
    policies.sort();
    assert_eq!(policies, ["attacker", "default"]);
}

#[tokio::test]
async fn lease_ids_are_canonical_so_revoke_prefix_finds_them() {
    let f = Fixture::new().await;
    let root = f.app.token.clone();
    let (hops, r) = follow(
        &f.app.addr,
        "GET",
        "/v1/database//creds/./ro",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(hops, [308, 200], "{}", r.body);
    let lease = r.body["lease_id"].as_str().unwrap().to_owned();
    let user = r.body["data"]["username"].as_str().unwrap().to_owned();
    assert!(lease.starts_with("database/creds/ro/"), "{lease}");
    assert!(f.pg.role_exists(&user).await);
    let (s, v) = f
        .app
        .put("sys/leases/revoke-prefix/database/creds/ro", json!({}))
        .await;
    assert_eq!(s, 204, "{v}");
    assert!(
        !f.pg.role_exists(&user).await,
        "revoke-prefix missed {lease}"
    );
}

#[tokio::test]
async fn a_token_in_the_path_never_reaches_the_audit_log_in_clear() {
    let f = Fixture::new().await;
    let log = f.app.dir.path().join("audit.log");
    f.app
        .ok(
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": log}}),
        )
        .await;
    let r = raw(
        &f.app.addr,
        "GET",
        &format!("/v1/auth/token/lookup/{}", f.token),
        Some(&f.app.token),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("auth/token/lookup/hmac-sha256:"), "{text}");
    assert!(!text.contains(&f.token), "the token is in the audit log");
}

/// One cosmetic change to a path: the server must treat the result exactly as the original.
#[derive(Debug, Clone)]
enum Cosmetic {
    DoubleSlash(usize),
    DotSegment(usize),
    DotDot(usize),
    Encode(usize),
}

/// A change that names another path: the server must not treat it as the original.
#[derive(Debug, Clone)]
enum Semantic {
    TrailingSlash,
    Upper(usize),
}

fn spell(canonical: &str, cosmetic: &[Cosmetic], semantic: &Option<Semantic>) -> String {
    let mut segments: Vec<String> = canonical.split('/').map(str::to_owned).collect();
    if let Some(Semantic::Upper(i)) = semantic {
        let i = i % segments.len();
        segments[i] = segments[i].to_uppercase();
    }
    let n = segments.len();
    let mut out: Vec<String> = segments.clone();
    for c in cosmetic {
        match c {
            Cosmetic::Encode(i) => {
                let i = i % n;
                let s = &out[i];
                // Encoding an escape again would be a double encoding: another path.
                if s.starts_with('%') {
                    continue;
                }
                if let Some(ch) = s.chars().next() {
                    out[i] = format!("%{:02X}{}", ch as u32, &s[ch.len_utf8()..]);
                }
            }
            Cosmetic::DoubleSlash(i) => {
                let i = i % n;
                out[i] = format!("/{}", out[i]);
            }
            Cosmetic::DotSegment(i) => {
                let i = i % n;
                out[i] = format!("./{}", out[i]);
            }
            Cosmetic::DotDot(i) => {
                let i = i % n;
                out[i] = format!("zz/../{}", out[i]);
            }
        }
    }
    let mut path = format!("/v1/{}", out.join("/"));
    if let Some(Semantic::TrailingSlash) = semantic {
        path.push('/');
    }
    path
}

fn cosmetic() -> impl Strategy<Value = Cosmetic> {
    prop_oneof![
        any::<usize>().prop_map(Cosmetic::DoubleSlash),
        any::<usize>().prop_map(Cosmetic::DotSegment),
        any::<usize>().prop_map(Cosmetic::DotDot),
        any::<usize>().prop_map(Cosmetic::Encode),
    ]
}

fn semantic() -> impl Strategy<Value = Option<Semantic>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Semantic::TrailingSlash)),
        1 => any::<usize>().prop_map(|i| Some(Semantic::Upper(i))),
    ]
}

/// For generated spellings of a denied and an allowed path: a spelling that only changes the
/// form gets the canonical decision and route (the denied one refused, the allowed one issuing
/// under the canonical lease id); one that names another path never gets the denied path's
/// credential. Proven in `pg_roles` at the end.
#[test]
fn every_spelling_gets_the_decision_of_its_canonical_form() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let f = runtime.block_on(Fixture::new());
    let config = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        denied in any::<bool>(),
        changes in prop::collection::vec(cosmetic(), 0..4),
        semantic in semantic(),
    )| {
        let canonical = if denied { "database/creds/admin" } else { "database/creds/ro" };
        let target = spell(canonical, &changes, &semantic);
        let (hops, last) = runtime.block_on(follow(&f.app.addr, "GET", &target, Some(&f.token), None));
        prop_assert!(hops.len() <= 2, "{}: {:?}", target, hops);
        match (&semantic, denied) {
            (None, true) => prop_assert_eq!(last.status, 403, "{}: {}", target, last.body),
            (None, false) => {
                prop_assert_eq!(last.status, 200, "{}: {}", target, last.body);
                let lease = last.body["lease_id"].as_str().unwrap_or_default();
                prop_assert!(lease.starts_with("database/creds/ro/") && lease.matches('/').count() == 3, "{}: {}", target, lease);
            }
            (Some(_), _) => prop_assert!(last.status != 200, "{}: {} {}", target, last.status, last.body),
        }
        runtime.block_on(f.no_admin_role(&target));
    });
}

/// Every capability but `sudo`, everywhere: each root-protected handler must still refuse, by
/// every path that reaches it, and nothing it would have done is done.
#[tokio::test]
async fn every_root_protected_handler_refuses_a_token_without_sudo() {
    use Expect::*;
    let f = Fixture::new().await;
    let everything_but_sudo =
        r#"path "*" { capabilities = ["create", "read", "update", "delete", "list", "patch"] }"#;
    f.app
        .ok(
            "sys/policies/acl/nosudo",
            json!({ "policy": everything_but_sudo }),
        )
        .await;
    let (s, v) = f
        .app
        .put("auth/token/create", json!({"policies": ["nosudo"]}))
        .await;
    assert_eq!(s, 200, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let f = Fixture { token, ..f };
    let audit_file = f.app.dir.path().join("nope.log");
    let device = json!({"type": "file", "options": {"file_path": audit_file}});
    let cases: Vec<(&str, String, Option<Value>, Expect)> = vec![
        (
            "POST",
            "/v1/sys/auth/approle".into(),
            Some(json!({"type": "approle"})),
            Denied,
        ),
        (
            "POST",
            "/v1/sys/auth/approle/".into(),
            Some(json!({"type": "approle"})),
            Denied,
        ),
        (
            "POST",
            "/v1/sys//auth/approle".into(),
            Some(json!({"type": "approle"})),
            Denied,
        ),
        (
            "POST",
            "/v1/sys/auth/x/../approle".into(),
            Some(json!({"type": "approle"})),
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/audit/file".into(),
            Some(device.clone()),
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/audit//file".into(),
            Some(device.clone()),
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/audit/file/".into(),
            Some(device.clone()),
            Denied,
        ),
        ("GET", "/v1/sys/audit".into(), None, Denied),
        (
            "PUT",
            "/v1/sys/audit-hash/file".into(),
            Some(json!({"input": "x"})),
            Denied,
        ),
        // The lease table's listing, and who must approve what (issue 19).
        ("LIST", "/v1/sys/leases/list".into(), None, Denied),
        ("GET", "/v1/sys/leases/counts".into(), None, Denied),
        ("GET", "/v1/sys/leases//durations".into(), None, Denied),
        (
            "GET",
            "/v1/sys/leases/workload-tokens?workload=auth/approle/role/ci".into(),
            None,
            Denied,
        ),
        ("GET", "/v1/sys/leases//list?list=true".into(), None, Denied),
        ("LIST", "/v1/sys/approval/tiers".into(), None, Denied),
        (
            "PUT",
            "/v1/sys/approval/./tiers/open".into(),
            Some(json!({"auto_approve": [{"name": "all", "hours": "00:00-24:00"}]})),
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/config/control-group".into(),
            Some(json!({"max_ttl": "1s"})),
            Denied,
        ),
        ("LIST", "/v1/auth/token/accessors".into(), None, Denied),
        (
            "GET",
            "/v1/auth/token/accessors?list=true".into(),
            None,
            Denied,
        ),
        ("LIST", "/v1/auth/token//accessors/".into(), None, Denied),
        (
            "PUT",
            format!("/v1/auth/token/revoke-orphan/{}", f.app.token),
            None,
            Denied,
        ),
        (
            "PUT",
            format!("/v1/auth/token//revoke-orphan/{}", f.app.token),
            None,
            Denied,
        ),
        // The body form is checked by the handler, which answers 400 as Vault does.
        (
            "PUT",
            "/v1/auth/token/revoke-orphan".into(),
            Some(json!({"token": f.app.token})),
            Status(400),
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke-prefix/database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/revoke-prefix/database/creds/ro".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke-force/database".into(),
            None,
            Denied,
        ),
        ("PUT", "/v1/sys/revoke-force/database".into(), None, Denied),
        (
            "LIST",
            "/v1/sys/leases/lookup/database/".into(),
            None,
            Denied,
        ),
        (
            "GET",
            "/v1/sys/leases?type=irrevocable".into(),
            None,
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/reconcile".into(),
            Some(json!({"destroy": true})),
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke-workload".into(),
            Some(json!({"workload": "auth/token"})),
            Denied,
        ),
        (
            "PUT",
            "/v1/sys/leases/revoke-workload/auth/token".into(),
            None,
            Denied,
        ),
    ];
    for (method, target, body, expect) in cases {
        let case = format!("{method} {target}");
        f.run(method, &target, body, expect).await;
        f.victim_alive(&case).await;
        // The root token (the victim of revoke-orphan) still works.
        let (s, _) = f.app.get("auth/token/lookup-self").await;
        assert_eq!(s, 200, "{case}: root token revoked");
        let (_, auths) = f.app.get("sys/auth").await;
        assert!(
            auths["data"].get("approle/").is_none(),
            "{case}: approle enabled"
        );
        let (_, audits) = f.app.get("sys/audit").await;
        assert_eq!(
            audits["data"],
            json!({}),
            "{case}: an audit device was enabled"
        );
        assert!(!audit_file.exists(), "{case}");
    }
    // The control: what needs no sudo is served to the same token.
    f.run("GET", "/v1/sys/mounts", None, Status(200)).await;
}
