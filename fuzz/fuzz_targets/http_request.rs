//! `leasehold::http::request::parse` on any request hyper could hand it: arbitrary method, URI,
//! headers and body. It must never panic, and every refusal must be the caller's fault (4xx):
//! a 5xx here would blame the server for a client's bytes.

#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::Request;
use leasehold::core::api::Method;
use leasehold::http::error::status_and_messages;
use leasehold::http::request::parse;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    method: MethodChoice,
    /// Appended to `/v1/` unless `raw_uri` is set, so most inputs reach the body parser.
    uri: String,
    raw_uri: bool,
    content_type: ContentType,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
enum MethodChoice {
    Get,
    Head,
    List,
    Put,
    Post,
    Delete,
    Patch,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum ContentType {
    None,
    Json,
    Form,
    Other(String),
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fuzz_target!(|input: Input| {
    let method = match &input.method {
        MethodChoice::Get => "GET",
        MethodChoice::Head => "HEAD",
        MethodChoice::List => "LIST",
        MethodChoice::Put => "PUT",
        MethodChoice::Post => "POST",
        MethodChoice::Delete => "DELETE",
        MethodChoice::Patch => "PATCH",
        MethodChoice::Other(m) => m.as_str(),
    };
    let uri = if input.raw_uri {
        input.uri.clone()
    } else {
        format!("/v1/{}", input.uri)
    };
    let mut builder = Request::builder().method(method).uri(uri.as_str());
    match &input.content_type {
        ContentType::None => {}
        ContentType::Json => builder = builder.header("content-type", "application/json"),
        ContentType::Form => {
            builder = builder.header("content-type", "application/x-www-form-urlencoded")
        }
        ContentType::Other(ct) => builder = builder.header("content-type", ct.as_bytes()),
    }
    for (name, value) in &input.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    // What hyper itself would refuse (bad method token, URI or header) never reaches us.
    let Ok(req) = builder.body(Body::from(input.body.clone())) else {
        return;
    };
    let path_in = req.uri().path().to_owned();
    let method_in = req.method().as_str().to_owned();
    match runtime().block_on(parse(req)) {
        Ok(api) => {
            assert_eq!(Some(api.path.as_str()), path_in.strip_prefix("/v1/"));
            match method_in.as_str() {
                "PUT" | "POST" => assert_eq!(api.method, Method::Write),
                "DELETE" => assert_eq!(api.method, Method::Delete),
                "LIST" => assert_eq!(api.method, Method::List),
                "HEAD" => assert_eq!(api.method, Method::Head),
                "GET" => assert!(matches!(api.method, Method::Get | Method::List)),
                other => panic!("{other} was accepted"),
            }
        }
        Err(e) => {
            let (status, messages) = status_and_messages(&e);
            assert!(
                status.is_client_error(),
                "{status} for a client's request: {e}"
            );
            assert!(!messages.is_empty(), "an error without a message: {e:?}");
        }
    }
});
