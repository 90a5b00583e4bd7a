//! Test support for the JWT module: key pairs generated for these tests only (inline PEM, never
//! used anywhere else), token minting, and a JWKS endpoint served by axum on 127.0.0.1:0 whose
//! document and status a test can change to simulate rotation and outages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// Request fields from a JSON object literal.
pub(crate) fn fields(v: Value) -> leasehold_backend::Fields {
    match v {
        Value::Object(m) => leasehold_backend::Fields::new(m),
        _ => panic!("fields() takes a JSON object"),
    }
}

/// A fixed instant tests measure from: `at(0)` is 2030-01-01T00:00:00Z.
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_893_456_000 + secs, 0).unwrap()
}

/// The public half of a test key as a JWK, without `kid`.
pub(crate) enum TestJwk {
    Rsa { n: &'static str, e: &'static str },
    Ec { x: &'static str, y: &'static str },
    Okp { x: &'static str },
}

/// A test key pair in every shape the tests need.
pub(crate) struct TestKey {
    pub private_pem: &'static str,
    pub public_pem: &'static str,
    pub jwk: TestJwk,
    pub alg: Algorithm,
}

impl TestKey {
    /// The public key as a JWK with this `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        match self.jwk {
            TestJwk::Rsa { n, e } => {
                json!({"kty": "RSA", "kid": kid, "use": "sig", "n": n, "e": e})
            }
            TestJwk::Okp { x } => json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": x}),
            TestJwk::Ec { x, y } => {
                json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": x, "y": y})
            }
        }
    }

    /// A token over `claims` signed with this key's default algorithm.
    pub fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        self.sign_as(self.alg, kid, claims)
    }

    /// A token over `claims` signed with `alg` (must suit the key).
    pub fn sign_as(&self, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let key = match self.jwk {
            TestJwk::Rsa { .. } => EncodingKey::from_rsa_pem(self.private_pem.as_bytes()),
            TestJwk::Ec { .. } => EncodingKey::from_ec_pem(self.private_pem.as_bytes()),
            TestJwk::Okp { .. } => EncodingKey::from_ed_pem(self.private_pem.as_bytes()),
        }
        .unwrap();
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}

/// A token with an arbitrary header and signature, for algorithms no honest library signs with.
pub(crate) fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

struct Shared {
    doc: Mutex<Value>,
    status: AtomicU16,
    hits: AtomicUsize,
}

/// A JWKS endpoint on 127.0.0.1:0 for one test; the task ends with the test's runtime.
pub(crate) struct JwksServer {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

async fn serve_keys(State(shared): State<Arc<Shared>>) -> Response {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap();
    if status != StatusCode::OK {
        return status.into_response();
    }
    let doc = shared.doc.lock().unwrap().clone();
    Json(doc).into_response()
}

impl JwksServer {
    /// Serve `doc` at `/keys`.
    pub async fn start(doc: Value) -> Self {
        let shared = Arc::new(Shared {
            doc: Mutex::new(doc),
            status: AtomicU16::new(200),
            hits: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/keys", get(serve_keys))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, shared }
    }

    /// The JWKS URL.
    pub fn url(&self) -> String {
        format!("http://{}/keys", self.addr)
    }

    /// Replace the document (key rotation); also clears a failure status.
    pub fn set(&self, doc: Value) {
        *self.shared.doc.lock().unwrap() = doc;
        self.shared.status.store(200, Ordering::SeqCst);
    }

    /// Answer every request with this status from now on.
    pub fn fail_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// How many requests the endpoint has answered.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }
}

/// Test key RSA1 (generated for these tests only).
pub(crate) const RSA1: TestKey = TestKey {
    private_pem: r"-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC1mRSFtC3jF9l3
ENM9oOWQ0gxWQkHhltnI64GDjr58NC4Zym0/lcsGSgNa8a7+eWdEPxrI+2ZuaxC3
5kBzr9Sfy05EVit65q43XZ/PBDpfAiVq41WMJiJiwzXth93gvwh+YlvqB8Ipfzf6
3IrWgwl9pN0fJrEXpeqaeMk4sckmf64ov3Nno6wzNUB7ekS6JpCU+k+mS0Fyayll
QErGwu5SG5uwUTZKCsIm/1UqvWrqEBIsguo/D/AQAkP/f6FHDqcX56yn1AYcWfTT
Iz+WuGX+maZtNAc2cSbGLKyx1rNyT6YH1y3qKiFmSiOiFZVCsqmIZZIHDyB4Bmqb
Z5zuCKIPAgMBAAECggEACphdj3ZIp4AvBdiuj0dxoJ/1hhwQ7o6kstzOuyeOav4h
lgtuxIl16+GDzZmq3WalUeC7eT0PWzAWLLloSqrYS64K3HpvyGVohiSi9Z41CHFx
gzyzs1zpBhZTcXVLMQwxFiw6wAfnQHcpA6yinkszhNs9s+euTtQ1QM4wS1I2i4ji
odny7UyU+R0MGE11kO3ld9i99DWHjFdqOAbp6wh+hvQdFiwz0eZj8rLMkwmBXEro
DYoMNZ9czvhhYe07LZuSvmJ2cvVRAiyKFBSVBt3/zjlvtQHuGC1zNgCDFBHzKn2A
dfPJO/IJaWXblNbCqcFU39bBvbIXIcwbFHdnW9NP9QKBgQD+lp7d29b2qqd2BNcE
jIiVGCQi6Nm3+gTFJ9eltBVrKJOD+9YcUSHmcrAqi7+EsA9yPBbG0sVisJ8koPkP
IFXYWmpv9st5ZHNrZbfHGixy4sKuqq8YP8UnfTvsuowxq8pjVzRn3nGXhf5c6blt
6GMLm8mgjbhIKXBnjOuprpU5MwKBgQC2mtosY813rzyZWE4qOcxJJ4phMU2WVWFk
mvT/YTyyNJUcoi1fO5lB00Hpe23JqlyQuZAWdOVymnxHdX0oRBAihMSccy++tFsK
jCqRaLUXv9b472u0y9BKwwfNZ3qMZ5Kv+8/TZMfkreW+mWfiJQZxvtALtxe1XAU+
4QhHCqYLtQKBgQCa+2ZK+QGrt8ep+NhMVKDw4nldJxMjBHjS7KZCoZZIXbMvrady
JZHVkAveWqSESgmdKSdUcgrnQU4gJj54Dt8zjhctgbfsdlItFwcBldVpOtH5Mr7U
rD2BBKPuQMIHmuTiBLxKXwgXjeKC/WV8mvNwpa3gp2V/yHo9D3SHH1iIMQKBgHuu
NNneG1vWSEBA7GhzT2e5LWQZRcjuOZIv1oNm8/pr3RdQzVR0hKBuG3WuETWHezzX
Qr3DHWnbMxQfgs8UEq2eqaCh8BPGCugA+hAVEJtuZ4eiepwxc/o/UPiR/xI8UMF7
2E8BMtcz5amMNC2bEFtYd4eH0roXAsKNHtMnZkIFAoGAUmcyqoW7P8fpBq2p48oL
DKz6y8HiW7tczLWWPmhVVcZVG+tXYHz8v6SwVlsfIMz/FLsyflAXg+yVHVNPgQob
ykURmwnp9sVJC+/QfqtgQD8ZLPEsl4sKCT2AszBXJgrxuWaORHpJFsgxk5TdViP5
BQdFfJXyFC64dH0i2peiJkI=
-----END PRIVATE KEY-----
",
    public_pem: r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtZkUhbQt4xfZdxDTPaDl
kNIMVkJB4ZbZyOuBg46+fDQuGcptP5XLBkoDWvGu/nlnRD8ayPtmbmsQt+ZAc6/U
n8tORFYreuauN12fzwQ6XwIlauNVjCYiYsM17Yfd4L8IfmJb6gfCKX83+tyK1oMJ
faTdHyaxF6XqmnjJOLHJJn+uKL9zZ6OsMzVAe3pEuiaQlPpPpktBcmspZUBKxsLu
UhubsFE2SgrCJv9VKr1q6hASLILqPw/wEAJD/3+hRw6nF+esp9QGHFn00yM/lrhl
/pmmbTQHNnEmxiyssdazck+mB9ct6iohZkojohWVQrKpiGWSBw8geAZqm2ec7gii
DwIDAQAB
-----END PUBLIC KEY-----
",
    jwk: TestJwk::Rsa { n: "tZkUhbQt4xfZdxDTPaDlkNIMVkJB4ZbZyOuBg46-fDQuGcptP5XLBkoDWvGu_nlnRD8ayPtmbmsQt-ZAc6_Un8tORFYreuauN12fzwQ6XwIlauNVjCYiYsM17Yfd4L8IfmJb6gfCKX83-tyK1oMJfaTdHyaxF6XqmnjJOLHJJn-uKL9zZ6OsMzVAe3pEuiaQlPpPpktBcmspZUBKxsLuUhubsFE2SgrCJv9VKr1q6hASLILqPw_wEAJD_3-hRw6nF-esp9QGHFn00yM_lrhl_pmmbTQHNnEmxiyssdazck-mB9ct6iohZkojohWVQrKpiGWSBw8geAZqm2ec7giiDw", e: "AQAB" },
    alg: Algorithm::RS256,
};

/// Test key RSA2 (generated for these tests only).
pub(crate) const RSA2: TestKey = TestKey {
    private_pem: r"-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCzlnEwUomim0mD
SG7o95CbeUglCJbhx54LO6BegUvuOrmiJT9UqkFurhT6JxIDvWRWBBV/vl6WD27R
M+tNr+myEcFlt4LRR8y1m18bvkuaP/rM/yq/yRmYpGScQg39xvXUBG5nAhaPu9lK
wWhN3IUHt1PNlCAEeUpJZ6Vd3IYgYX9tSuQGZWlj6uahWRv0jxfvot2a1swQAGBc
wGlVVnKHFe3+GxgXiBJZJJxkR/vE7t7sT5FF7rtEoPngfnn8Yd8HiCnpOdIMcnNi
3gt1yK/1Sxa0YwQBjvWme/nRbpWhhV74YfGPR+1jCW0jPKYcOrIZnJ960xyqV7zc
NpGiKF3vAgMBAAECggEACTlC2v6CPy3Gms2PlLuSW8ng4LYOOc5s2ZrYY8I0SioN
+rv7Argz4CFkxmxXSoXhr2FKUWNPrFlikbAe98B/OjwbOMQyHdmYNAOk4OHnNCbx
FLJOWcdUXziiSjxCR7R+T8NigDvlOMCnKmXAm68lzf2mejqPYmtwW1DNd4KqCOOj
B0Xn/up+99+e8Puw29XPtufRqqdgKrUmt5qX41QfA4c7Wuyi1SnljWHzwwWvO8fF
u9j9ahshOKPOvbbrW9O9BOF1f1sLF3/e0Wy5g/XSbYEPih71jpRDvq1K9XMbIL4s
7n2WNNgETyoBMDgVdtMCtPXZikjI3GoH2woH9LFBkQKBgQDXfkTy0HwXXbNV8y2c
46k5nUQr1Rv9ySWo5vpIrTQB7v2IV4AkhlP/4GmkHU2XZ8o9X3KrdO3oFyfT6pz7
s/+fbs+4ltqCDBpISS1RuX9puMpXFoft4gNiqcL+7FjQ+tUbicHN7JPOLbKHNPgZ
rxXKVR9Ib+6S1LmRmzq3M6oTGwKBgQDVWF0oDzz9RXMhSlaOKS84KfG9mdfL1jF2
c7JkWfMbl3faw1rHn3I6/MyHCKfG+KynW/sSTRVCPCZLuE1ox0/HYhOt85Ermx5X
uNTbJb+V/i1QLscvQaGa+jW8xx1UZ+ucXYzEr8SdN5jjBg1bYMmF9qSywRhSEj3c
/P/icDn5vQKBgQDMaYvP5TKBG7IdKvMuqsqAy4y6I4pM3/yoTopGXH5EA0deiNoW
S5Hs3Bx5wA41PBAczajBucZfbW+rVxcYsHMf8oZ6bCbUS9S2kyu5JUQWrmLJ36aL
YeSiN7SwCtRpUDbMy40a4HqIjtKV7QoXmv0JlFt7ZCokAEQTOfOliw2e1wKBgQCx
Y9OxZ1oyzPg5ifIGKkBU1qtmFvDTT7m43+JIhnIZUwwZHa3xpaX5XhFBhfTbABGu
5lAQm389n33IH+pdYLv48JekX40pUMUd81UpEm4GbV2H+h0sMcoJbloYKQc+E1pY
nYBaWjuE7aF1wqaAgC2P8dBnwR5Tv08o3ER3JxFNkQKBgQCeydLLoX1z84Xd89uX
uA+ZohWON2fwJ+EzIYiJdlfG4AziMvALUbNs7l/g9tXg/W6t/98aNnxVZq/51kMv
1CqDm2CcvUoZsk0eWng3QE0Hm5wS9VB9CfnJPIYKIQK5WrHNIMqEC+JAMRZY6iIO
1NKg8eAyS5+WL/CFlx4h9+oTkw==
-----END PRIVATE KEY-----
",
    public_pem: r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAs5ZxMFKJoptJg0hu6PeQ
m3lIJQiW4ceeCzugXoFL7jq5oiU/VKpBbq4U+icSA71kVgQVf75elg9u0TPrTa/p
shHBZbeC0UfMtZtfG75Lmj/6zP8qv8kZmKRknEIN/cb11ARuZwIWj7vZSsFoTdyF
B7dTzZQgBHlKSWelXdyGIGF/bUrkBmVpY+rmoVkb9I8X76LdmtbMEABgXMBpVVZy
hxXt/hsYF4gSWSScZEf7xO7e7E+RRe67RKD54H55/GHfB4gp6TnSDHJzYt4Ldciv
9UsWtGMEAY71pnv50W6VoYVe+GHxj0ftYwltIzymHDqyGZyfetMcqle83DaRoihd
7wIDAQAB
-----END PUBLIC KEY-----
",
    jwk: TestJwk::Rsa { n: "s5ZxMFKJoptJg0hu6PeQm3lIJQiW4ceeCzugXoFL7jq5oiU_VKpBbq4U-icSA71kVgQVf75elg9u0TPrTa_pshHBZbeC0UfMtZtfG75Lmj_6zP8qv8kZmKRknEIN_cb11ARuZwIWj7vZSsFoTdyFB7dTzZQgBHlKSWelXdyGIGF_bUrkBmVpY-rmoVkb9I8X76LdmtbMEABgXMBpVVZyhxXt_hsYF4gSWSScZEf7xO7e7E-RRe67RKD54H55_GHfB4gp6TnSDHJzYt4Ldciv9UsWtGMEAY71pnv50W6VoYVe-GHxj0ftYwltIzymHDqyGZyfetMcqle83DaRoihd7w", e: "AQAB" },
    alg: Algorithm::RS256,
};

/// Test key EC1 (generated for these tests only).
pub(crate) const EC1: TestKey = TestKey {
    private_pem: r"-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgN43ISP+uzEM9PDt+
A9hgQCYlpxYsIWSaqRY2esNIMzehRANCAAT8zE/RV1nihzh/QTVVdiKPvv0b0Bxq
A4JntT/mKb/g9XhrgBg5qBqEpjajMUESD6P1E6JTIcAA/QEPAgEdn7Tp
-----END PRIVATE KEY-----
",
    public_pem: r"-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/MxP0VdZ4oc4f0E1VXYij779G9Ac
agOCZ7U/5im/4PV4a4AYOagahKY2ozFBEg+j9ROiUyHAAP0BDwIBHZ+06Q==
-----END PUBLIC KEY-----
",
    jwk: TestJwk::Ec {
        x: "_MxP0VdZ4oc4f0E1VXYij779G9AcagOCZ7U_5im_4PU",
        y: "eGuAGDmoGoSmNqMxQRIPo_UTolMhwAD9AQ8CAR2ftOk",
    },
    alg: Algorithm::ES256,
};

/// Test key ED1 (generated for these tests only).
pub(crate) const ED1: TestKey = TestKey {
    private_pem: r"-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJiC8xz42LZLJvzDPbD3YHNAKk1ulc06NmS4xyWV5DfW
-----END PRIVATE KEY-----
",
    public_pem: r"-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEArfrwIf7eIyNDFHRBOuR8DQMA4CgKDtw8/6+Uq6z7kTI=
-----END PUBLIC KEY-----
",
    jwk: TestJwk::Okp {
        x: "rfrwIf7eIyNDFHRBOuR8DQMA4CgKDtw8_6-Uq6z7kTI",
    },
    alg: Algorithm::EdDSA,
};

/// A self-signed CA certificate (generated for these tests only; its key was discarded).
pub(crate) const TEST_CA_PEM: &str = r"-----BEGIN CERTIFICATE-----
MIIBkDCCATWgAwIBAgIUJO4YIEazDgoCW4EyT2u8/nEnDmwwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRbGVhc2Vob2xkIHRlc3QgQ0EwIBcNMjYxMTIzMDkzNjQyWhgP
MjEyNjEwMzAwOTM2NDJaMBwxGjAYBgNVBAMMEWxlYXNlaG9sZCB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXidi5vG3G4jfynNubofmbS2+c/jJUSAd
rpgpUABkcIfpb9uCmH3DEiucX4y50Wt9N3uJ1Y0QJwPSYzHLmqdRCaNTMFEwHQYD
VR0OBBYEFC7YYTrYHB3UGbGWgaF608FjewoSMB8GA1UdIwQYMBaAFC7YYTrYHB3U
GbGWgaF608FjewoSMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh
AMrEDIJMRGLY3bx8XZu2Nt7Glkhu25eRL9yaWU4+c3dRAiEA+uYEJTr5kLVJGUTm
BYDjXEc1yJh2OpwZRMWrT+olZI4=
-----END CERTIFICATE-----
";
