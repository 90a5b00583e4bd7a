//! `leasehold::auth::policy::parse` on any text (HCL, JSON, base64 of either): a policy or a
//! `PolicyError`, never a panic; an accepted policy keeps its decoded text and answers
//! capability questions for any path.

#![no_main]

use leasehold::auth::policy::{parse, Acl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (text, path) = input;
    let Ok(policy) = parse("fuzz", text) else {
        return;
    };
    assert_eq!(policy.name(), "fuzz");
    let acl = Acl::new([&policy]);
    let _ = acl.capabilities(path);
    let _ = acl.capability_names(path);
    for rule in policy.rules() {
        let _ = acl.capabilities(rule.path());
    }
});
