//! Property tests for the parsers at the HTTP edge: the request parser and the ACL policy parser
//! take any bytes a caller sends and answer with a value or a client error (4xx), never a panic.
//! `fuzz/` runs the same properties with coverage guidance; `integration/hvac/test_fuzz_api.py`
//! sends such requests to the running server.

use axum::body::Body;
use axum::http::Request;
use leasehold::auth::policy::{parse as parse_policy, Acl};
use leasehold::core::api::Method;
use leasehold::http::error::status_and_messages;
use leasehold::http::path::{resolve, Resolved};
use leasehold::http::request::parse as parse_request;
use proptest::prelude::*;

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("HEAD".to_owned()),
        Just("LIST".to_owned()),
        Just("PUT".to_owned()),
        Just("POST".to_owned()),
        Just("DELETE".to_owned()),
        Just("PATCH".to_owned()),
        "[A-Za-z!#$%&'*+.^_`|~-]{1,10}",
    ]
}

/// Paths with the characters that trouble routers: `..`, `%00`, `?`, `&`, `=`, `#`, unicode.
fn uri() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("sys".to_owned()),
        Just("database".to_owned()),
        Just("auth".to_owned()),
        Just("..".to_owned()),
        Just("%00".to_owned()),
        Just("%ff".to_owned()),
        "[a-z0-9_.%-]{0,12}",
    ];
    let query = prop_oneof![
        Just(String::new()),
        Just("?list=true".to_owned()),
        Just("?list=maybe".to_owned()),
        "\\?[a-z=&%+;0-9]{0,20}",
    ];
    (
        prop_oneof![Just("/v1/"), Just("/"), Just("/v2/")],
        prop::collection::vec(segment, 0..6),
        query,
    )
        .prop_map(|(prefix, segments, query)| format!("{prefix}{}{query}", segments.join("/")))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"   ".to_vec()),
        Just(b"{\"ttl\": 1e400}".to_vec()),
        Just(b"[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]".to_vec()),
        "\\{\"[a-z]{1,5}\": ?(\"[^\"\\\\]{0,8}\"|[0-9]{1,30}|true|null|\\[\\]|\\{\\})\\}"
            .prop_map(String::into_bytes),
        "[a-z]{1,5}=[a-z%0-9+]{0,8}(&[a-z]{1,5}=[^&]{0,5}){0,3}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json")),
        Just(Some("application/x-www-form-urlencoded")),
        Just(Some("text/plain; charset=latin1")),
    ]
}

proptest! {
    // No regression files written next to the sources: the failures found are pinned as unit
    // tests where they were fixed.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn request_parser_answers_any_request_with_a_value_or_a_4xx(
        method in method(),
        uri in uri(),
        body in body(),
        content_type in content_type(),
        token in prop::option::of("[ -~]{0,20}"),
    ) {
        let mut builder = Request::builder().method(method.as_str()).uri(uri.as_str());
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        if let Some(t) = &token {
            builder = builder.header("x-vault-token", t.as_str());
        }
        // What hyper would not hand us (a bad method token or URI) is not our concern.
        let Ok(req) = builder.body(Body::from(body)) else { return Ok(()) };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let resolved = resolve(req.uri().path(), req.uri().query());
        let parsed = match resolved {
            Ok(Resolved::Canonical(path)) => runtime.block_on(parse_request(req, path.clone(), Default::default())).map(|api| (api, path)),
            Ok(Resolved::Redirect(location)) => {
                // One redirect reaches the canonical spelling.
                let (path, query) = location.split_once('?').unwrap_or((&location, ""));
                prop_assert!(matches!(resolve(path, Some(query)), Ok(Resolved::Canonical(_))), "{} -> {}", uri, location);
                return Ok(());
            }
            Err(e) => Err(e),
        };
        match parsed {
            Ok((api, path)) => {
                // The path served is the canonical one (a list path with its one `/`).
                let with_slash = format!("{}/", path.as_str());
                prop_assert!(api.path.as_str() == path.as_str() || api.path.as_str() == with_slash);
                let expected = match method.as_str() {
                    "PUT" | "POST" => vec![Method::Write],
                    "DELETE" => vec![Method::Delete],
                    "LIST" => vec![Method::List],
                    "HEAD" => vec![Method::Head],
                    "GET" => vec![Method::Get, Method::List],
                    _ => vec![],
                };
                prop_assert!(expected.contains(&api.method), "{} read as {:?}", method, api.method);
            }
            Err(e) => {
                let (status, messages) = status_and_messages(&e);
                prop_assert!(status.is_client_error(), "{} for {:?}", status, e);
                prop_assert!(!messages.is_empty());
            }
        }
    }

    #[test]
    fn policy_parser_never_panics(text in prop_oneof![".*", hcl_like(), json_like()], path in ".{0,20}") {
        if let Ok(policy) = parse_policy("p", &text) {
            let acl = Acl::new([&policy]);
            let _ = acl.capabilities(&path);
            for rule in policy.rules() {
                let _ = acl.capability_names(rule.path());
            }
        }
    }
}

/// Text close to a policy, so the parser gets past the syntax and into the rules.
fn hcl_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("capabilities"),
        Just("allowed_parameters"),
        Just("denied_parameters"),
        Just("required_parameters"),
        Just("min_wrapping_ttl"),
        Just("max_wrapping_ttl"),
        Just("policy"),
        Just("bogus"),
    ];
    let value = prop_oneof![
        Just("[\"read\", \"list\"]".to_owned()),
        Just("[\"deny\", \"sudo\"]".to_owned()),
        Just("{ \"*\" = [] }".to_owned()),
        Just("{ \"ttl\" = [\"1h\", 2] }".to_owned()),
        Just("\"1e400h\"".to_owned()),
        Just("1e300".to_owned()),
        Just("-5".to_owned()),
        "\"[a-z0-9.]{0,6}\"",
        "\\[[\"a-z, ]{0,12}\\]",
    ];
    let rule = (
        "[a-z/*+{}.-]{0,16}",
        prop::collection::vec((key, value), 0..4),
    )
        .prop_map(|(path, items)| {
            let items: String = items
                .into_iter()
                .map(|(k, v)| format!("  {k} = {v}\n"))
                .collect();
            format!("path \"{path}\" {{\n{items}}}\n")
        });
    prop::collection::vec(rule, 0..4).prop_map(|rules| rules.concat())
}

fn json_like() -> impl Strategy<Value = String> {
    (
        "[a-z/*+]{0,10}",
        prop_oneof![
            Just("\"capabilities\": [\"read\"]"),
            Just("\"capabilities\": \"read\""),
            Just("\"capabilities\": [1, null]"),
            Just("\"min_wrapping_ttl\": 1e300"),
            Just("\"allowed_parameters\": {\"a\": 7}"),
            Just(""),
        ],
    )
        .prop_map(|(path, body)| format!("{{\"path\": {{\"{path}\": {{{body}}}}}}}"))
}

/// Found by `policy_parser_never_panics`: a float TTL too big for a `Duration` panicked.
#[test]
fn a_wrapping_ttl_too_big_for_a_duration_is_a_policy_error() {
    for text in [
        "{\"path\": {\"a\": {\"min_wrapping_ttl\": 1e300}}}",
        "path \"a\" {\n  capabilities = [\"read\"]\n  max_wrapping_ttl = 1e300\n}",
    ] {
        assert!(parse_policy("p", text).is_err(), "{text}");
    }
}
