//! aws_iam: IAM users issued and revoked through the API against moto (authentication
//! enforced), vs the same IAM calls made directly with the SDK. A counting proxy between the
//! caller and moto records every IAM action, so the figures include calls per issue and per
//! revoke; afterwards no user may be left.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::json;

#[path = "../../../../backends/aws/tests/support/moto.rs"]
#[allow(dead_code)]
mod moto;

use crate::report::Figure;
use crate::server::{free_port, Server};
use crate::target::suffix;
use crate::Ctx;

/// The inline policy each issued user gets.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:GetCallerIdentity"],"Resource":"*"}]}"#;

/// IAM/STS actions seen by the proxy, by name.
type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

#[derive(Clone)]
struct Proxy {
    http: reqwest::Client,
    upstream: String,
    counts: Counts,
}

/// Forward one request to moto unchanged (the Host header included, so signatures still
/// verify), counting its `Action`.
async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let query = uri.query().unwrap_or_default();
    let action = url_param(&String::from_utf8_lossy(&body), "Action")
        .or_else(|| url_param(query, "Action"))
        .unwrap_or_else(|| "?".into());
    if let Ok(mut c) = p.counts.lock() {
        *c.entry(action).or_default() += 1;
    }
    let url = format!(
        "{}{}",
        p.upstream,
        uri.path_and_query().map_or("/", |pq| pq.as_str())
    );
    let sent = p
        .http
        .request(method, url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.unwrap_or_default();
            (status, headers, body)
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            HeaderMap::new(),
            Bytes::from(e.to_string()),
        ),
    }
}

fn url_param(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// Start the proxy in this process; its address.
async fn start_proxy(upstream: String, counts: Counts) -> Result<String> {
    let port = free_port()?;
    let app = axum::Router::new().fallback(forward).with_state(Proxy {
        http: reqwest::Client::new(),
        upstream,
        counts,
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://127.0.0.1:{port}"))
}

fn take(counts: &Counts) -> BTreeMap<String, u64> {
    counts
        .lock()
        .map(|mut c| std::mem::take(&mut *c))
        .unwrap_or_default()
}

fn per_op(counts: &BTreeMap<String, u64>, ops: usize) -> serde_json::Value {
    let total: u64 = counts.values().sum();
    json!({"calls_per_op": total as f64 / ops as f64, "by_action": counts})
}

pub async fn run(ctx: &Ctx) -> Result<Vec<Figure>> {
    let moto = moto::Moto::start().await?;
    let counts: Counts = Arc::default();
    let proxy = start_proxy(moto.endpoint.clone(), counts.clone()).await?;
    let mut server = Server::new(&ctx.binary, &ctx.dir("aws_iam")?, "")?;
    server.start().await?;
    server
        .call("POST", "sys/mounts/aws", Some(json!({"type": "aws"})))
        .await?;
    server
        .call(
            "POST",
            "aws/config/root",
            Some(
                json!({"access_key": moto.root.access_key, "secret_key": moto.root.secret_key,
                        "region": "us-east-1", "iam_endpoint": proxy, "sts_endpoint": proxy}),
            ),
        )
        .await?;
    server
        .call(
            "POST",
            "aws/config/lease",
            Some(json!({"lease": "1h", "lease_max": "2h"})),
        )
        .await?;
    server
        .call(
            "POST",
            "aws/roles/deploy",
            Some(json!({"credential_type": "iam_user", "policy_document": POLICY})),
        )
        .await?;
    let n = if ctx.quick { 10 } else { 50 };
    take(&counts);

    // Through leasehold: n issues, then n sync revokes.
    let t = Instant::now();
    let mut leases = Vec::new();
    for _ in 0..n {
        let r = server.call("GET", "aws/creds/deploy", None).await?;
        leases.push(r["lease_id"].as_str().context("no lease_id")?.to_owned());
    }
    let issue_secs = t.elapsed().as_secs_f64();
    let issue_counts = take(&counts);
    let t = Instant::now();
    for lease in &leases {
        server
            .call(
                "PUT",
                "sys/leases/revoke",
                Some(json!({ "lease_id": lease })),
            )
            .await?;
    }
    let revoke_secs = t.elapsed().as_secs_f64();
    let revoke_counts = take(&counts);

    // Directly: the calls an IAM user with an inline policy and a key needs, through the proxy.
    let iam = {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&proxy)
            .credentials_provider(aws_sdk_iam::config::Credentials::new(
                &moto.root.access_key,
                &moto.root.secret_key,
                None,
                None,
                "bench",
            ))
            .load()
            .await;
        aws_sdk_iam::Client::new(&conf)
    };
    let names: Vec<String> = (0..n)
        .map(|i| format!("d-bench-{i}-{}", suffix(6)))
        .collect();
    let t = Instant::now();
    for name in &names {
        iam.create_user()
            .user_name(name)
            .send()
            .await
            .context("CreateUser")?;
        iam.put_user_policy()
            .user_name(name)
            .policy_name("p")
            .policy_document(POLICY)
            .send()
            .await
            .context("PutUserPolicy")?;
        iam.create_access_key()
            .user_name(name)
            .send()
            .await
            .context("CreateAccessKey")?;
    }
    let direct_issue_secs = t.elapsed().as_secs_f64();
    let direct_issue_counts = take(&counts);
    let t = Instant::now();
    for name in &names {
        let keys = iam
            .list_access_keys()
            .user_name(name)
            .send()
            .await
            .context("ListAccessKeys")?;
        for k in keys.access_key_metadata() {
            if let Some(id) = k.access_key_id() {
                iam.delete_access_key()
                    .user_name(name)
                    .access_key_id(id)
                    .send()
                    .await?;
            }
        }
        iam.delete_user_policy()
            .user_name(name)
            .policy_name("p")
            .send()
            .await?;
        iam.delete_user()
            .user_name(name)
            .send()
            .await
            .context("DeleteUser")?;
    }
    let direct_revoke_secs = t.elapsed().as_secs_f64();
    let direct_revoke_counts = take(&counts);
    // Every user but the bootstrapped root: what either side left behind.
    let left = iam
        .list_users()
        .send()
        .await?
        .users()
        .iter()
        .filter(|u| u.user_name() != moto::ROOT_USER)
        .count();
    server.stop().await;

    let rate = |secs: f64| n as f64 / secs.max(1e-9);
    let fig = |case: &str,
               ours: (f64, &BTreeMap<String, u64>),
               base: (f64, &BTreeMap<String, u64>),
               target: &str| {
        let mut a = per_op(ours.1, n);
        a["per_sec"] = json!(rate(ours.0));
        let mut b = per_op(base.1, n);
        b["per_sec"] = json!(rate(base.0));
        Figure {
            bench: "aws_iam".into(),
            case: case.into(),
            leasehold: a,
            baseline: b,
            ratio: Some(base.0 / ours.0.max(1e-9)),
            target: target.into(),
            notes: json!({ "iam_users_left": left }),
        }
    };
    Ok(vec![
        fig(
            &format!("issue, {n} sequential"),
            (issue_secs, &issue_counts),
            (direct_issue_secs, &direct_issue_counts),
            "3 + policies IAM calls per issue",
        ),
        fig(
            &format!("revoke (sync), {n} sequential"),
            (revoke_secs, &revoke_counts),
            (direct_revoke_secs, &direct_revoke_counts),
            "0 users left",
        ),
    ])
}
