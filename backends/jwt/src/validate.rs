//! Checking one JWT against a mount's config and a role: the whole of what `auth/jwt/login`
//! decides before it issues a token.
//!
//! Order: shape and header (`alg` accepted and allowed, no `crit`), signature against the
//! candidate keys, then the registered claims (`exp`, which is required, `nbf` and `iat` with the
//! role's leeways, and `auth_time` when the role sets `max_age`; then `iss`, `aud`, `sub`), then the role's `bound_claims`, the user claim and the claim mappings. Claims
//! are only read after the signature verified, so nothing an attacker writes in an unsigned
//! payload is ever acted on.
//!
//! The file runs past 400 lines only because its tests enumerate every refusal; the checks
//! themselves are about 370 lines.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::config::JwtConfig;
use super::error::{ClaimsProblem, JwtError, TokenProblem};
use super::jwks::Refetch;
use super::keys::{shorten, KeySet, SigningAlg, VerifyingKey};
use super::role::{
    effective_leeway, scalar_text, BoundClaimsType, JwtRole, DEFAULT_CLOCK_SKEW_LEEWAY,
    DEFAULT_EXP_NBF_LEEWAY,
};

/// Tokens longer than this are refused unread; real ones are a few kilobytes.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// What a valid token says, ready for token issuing.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedClaims {
    /// The value of the role's `user_claim`: the display name suffix (`jwt-<user>`) and the
    /// entity alias name.
    pub user: String,
    /// Token metadata from the role's `claim_mappings` (metadata key → claim value). Does not
    /// include `role`; login adds that key itself.
    pub metadata: BTreeMap<String, String>,
    /// The `sub` claim, if the token has one as a string.
    pub subject: Option<String>,
    /// Every claim of the token, as signed.
    pub claims: Value,
}

/// Validate `token` for a login under `role`, with `keys` built from `config`, at time `now`.
///
/// Succeeds only if: the token is a compact JWS whose `alg` is an asymmetric algorithm we
/// implement and the config allows; a key from `keys` (matching the header `kid` when the keys
/// come from a JWKS) verifies the signature; `exp`, `nbf` and `iat` hold within the role's
/// leeways; `iss` equals the config's `bound_issuer` when set; `aud` contains one of the role's
/// `bound_audiences` (and, when the role binds none, the token has no `aud`); `sub` equals
/// `bound_subject` when set; every `bound_claims` entry matches; and the user claim is a
/// non-empty string or a number. A JWKS may be fetched (see [`KeySet`]); nothing else is
/// touched. Errors never contain the token or claim values.
#[tracing::instrument(name = "jwt.validate", skip_all)]
pub async fn validate(
    config: &JwtConfig,
    role: &JwtRole,
    keys: &KeySet,
    token: &str,
    now: DateTime<Utc>,
) -> Result<ValidatedClaims, JwtError> {
    let parts = split(token)?;
    let header = decode_json(parts.header, "header is not base64url-encoded JSON")?;
    let alg = accepted_alg(config, &header)?;
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(TokenProblem::Malformed("kid is not a string").into()),
    };
    verify_signature(keys, kid, alg, &parts, now).await?;
    let claims = decode_json(parts.payload, "payload is not base64url-encoded JSON")?;
    check_times(role, &claims, now)?;
    check_issuer(config, &claims)?;
    check_audience(role, &claims)?;
    check_subject(role, &claims)?;
    check_bound_claims(role, &claims)?;
    Ok(ValidatedClaims {
        user: user_claim(role, &claims)?,
        metadata: mapped_claims(role, &claims)?,
        subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        claims,
    })
}

struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header.payload`, the bytes the signature covers.
    signed: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, TokenProblem> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenProblem::Malformed("token is too large"));
    }
    let not_jws = TokenProblem::Malformed("expected three dot-separated segments");
    let (signed, signature) = token.rsplit_once('.').ok_or(not_jws.clone())?;
    let (header, payload) = signed.split_once('.').ok_or(not_jws.clone())?;
    if header.is_empty() || payload.is_empty() || payload.contains('.') {
        return Err(not_jws);
    }
    if signature.is_empty() {
        return Err(TokenProblem::Malformed("token is not signed"));
    }
    Ok(Parts {
        header,
        payload,
        signature,
        signed,
    })
}

fn decode_json(segment: &str, problem: &'static str) -> Result<Value, TokenProblem> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenProblem::Malformed(problem))?;
    match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(TokenProblem::Malformed(problem)),
    }
}

fn accepted_alg(config: &JwtConfig, header: &Value) -> Result<SigningAlg, TokenProblem> {
    let name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(TokenProblem::Malformed("header has no alg"))?;
    let alg =
        SigningAlg::parse(name).ok_or_else(|| TokenProblem::UnsupportedAlgorithm(shorten(name)))?;
    if !config.allows(alg) {
        return Err(TokenProblem::AlgorithmNotAllowed(name.to_owned()));
    }
    // We implement no JWS extensions, so any critical one means we would misread the token.
    if header.get("crit").is_some() {
        return Err(TokenProblem::CriticalHeader);
    }
    Ok(alg)
}

async fn verify_signature(
    keys: &KeySet,
    kid: Option<&str>,
    alg: SigningAlg,
    parts: &Parts<'_>,
    now: DateTime<Utc>,
) -> Result<(), JwtError> {
    let verifies = |candidates: &[VerifyingKey]| {
        candidates
            .iter()
            .any(|k| k.verify(alg, parts.signed.as_bytes(), parts.signature))
    };
    let candidates = keys.candidates(kid, now, Refetch::IfStale).await?;
    if verifies(&candidates) {
        return Ok(());
    }
    // A JWKS without kids can rotate under us too; one (rate-limited) refetch tells a new
    // key from a bad signature. With a kid, the lookup above already refetched if needed.
    if kid.is_none() && keys.is_remote() {
        let fresh = keys.candidates(None, now, Refetch::Now).await?;
        if verifies(&fresh) {
            return Ok(());
        }
    }
    if candidates.iter().any(|k| k.accepts(alg)) {
        Err(TokenProblem::BadSignature.into())
    } else {
        Err(TokenProblem::NoUsableKey(alg.to_string()).into())
    }
}

/// A NumericDate claim in whole seconds, if present. Fractions are truncated toward the past.
fn numeric_date(claims: &Value, name: &'static str) -> Result<Option<i64>, TokenProblem> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            // `as` saturates for out-of-range floats, which is the right reading of "forever".
            .or_else(|| n.as_f64().map(|f| f.floor() as i64))
            .map(Some)
            .ok_or(TokenProblem::InvalidClaimType(name)),
        Some(_) => Err(TokenProblem::InvalidClaimType(name)),
    }
}

/// The token's validity window, with the role's leeways (a negative leeway is none at all, as
/// in Vault; it never switches a check off).
///
/// `exp` is required. Vault's validator (hashicorp/cap `jwt.Validator`) accepts a token without
/// `exp` when it has `iat` or `nbf`, treating it as expiring `expiration_leeway` after the later
/// of the two, and older Vault releases did not check a missing `exp` at all. We refuse it: a
/// bearer token whose issuer gave it no end is not one whose theft we can bound, and every
/// machine identity issuer we serve (CI systems, Kubernetes projected tokens, cloud workload
/// identity) sets `exp`. There is deliberately no per-role opt-out.
///
/// `max_age`, when the role sets it, requires `auth_time` no older than that (plus the clock
/// skew). Vault only asks the OIDC provider for it in the browser flow and never checks it on
/// a JWT login; a role that sets it here means it, so it is enforced.
fn check_times(role: &JwtRole, claims: &Value, now: DateTime<Utc>) -> Result<(), TokenProblem> {
    let now = now.timestamp();
    let skew = effective_leeway(role.clock_skew_leeway, DEFAULT_CLOCK_SKEW_LEEWAY);
    let exp_leeway = effective_leeway(role.expiration_leeway, DEFAULT_EXP_NBF_LEEWAY);
    let nbf_leeway = effective_leeway(role.not_before_leeway, DEFAULT_EXP_NBF_LEEWAY);
    let exp = numeric_date(claims, "exp")?.ok_or(TokenProblem::MissingExpiry)?;
    if now >= exp.saturating_add(exp_leeway).saturating_add(skew) {
        return Err(TokenProblem::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if now.saturating_add(nbf_leeway).saturating_add(skew) < nbf {
            return Err(TokenProblem::NotYetValid);
        }
    }
    if let Some(iat) = numeric_date(claims, "iat")? {
        if now.saturating_add(skew) < iat {
            return Err(TokenProblem::IssuedInFuture);
        }
    }
    if !role.max_age.is_zero() {
        let max_age = i64::try_from(role.max_age.as_secs()).unwrap_or(i64::MAX);
        let auth_time = numeric_date(claims, "auth_time")?.ok_or(TokenProblem::MissingAuthTime)?;
        if now >= auth_time.saturating_add(max_age).saturating_add(skew) {
            return Err(TokenProblem::AuthenticationTooOld);
        }
        if now.saturating_add(skew) < auth_time {
            return Err(TokenProblem::AuthenticatedInFuture);
        }
    }
    Ok(())
}

fn check_issuer(config: &JwtConfig, claims: &Value) -> Result<(), TokenProblem> {
    match &config.bound_issuer {
        Some(bound) if claims.get("iss").and_then(Value::as_str) != Some(bound.as_str()) => {
            Err(TokenProblem::WrongIssuer)
        }
        _ => Ok(()),
    }
}

fn check_audience(role: &JwtRole, claims: &Value) -> Result<(), JwtError> {
    let audiences: Vec<&str> = match claims.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or(TokenProblem::InvalidClaimType("aud"))?,
        Some(_) => return Err(TokenProblem::InvalidClaimType("aud").into()),
    };
    if role.bound_audiences.is_empty() {
        if audiences.is_empty() {
            return Ok(());
        }
        return Err(JwtError::AudienceNotBound);
    }
    if audiences
        .iter()
        .any(|a| role.bound_audiences.iter().any(|b| b == a))
    {
        Ok(())
    } else {
        Err(TokenProblem::WrongAudience.into())
    }
}

fn check_subject(role: &JwtRole, claims: &Value) -> Result<(), TokenProblem> {
    match &role.bound_subject {
        Some(bound) if claims.get("sub").and_then(Value::as_str) != Some(bound.as_str()) => {
            Err(TokenProblem::WrongSubject)
        }
        _ => Ok(()),
    }
}

/// A claim by name, or by JSON pointer (`/a/b`, RFC 6901) when the name starts with `/`.
/// `null` counts as absent.
fn lookup<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    let found = if name.starts_with('/') {
        claims.pointer(name)
    } else {
        claims.get(name)
    };
    found.filter(|v| !v.is_null())
}

fn check_bound_claims(role: &JwtRole, claims: &Value) -> Result<(), ClaimsProblem> {
    for (name, allowed) in &role.bound_claims {
        let actual =
            lookup(claims, name).ok_or_else(|| ClaimsProblem::BoundClaimMissing(name.clone()))?;
        // A list claim (groups, scopes) matches when any of its members is allowed.
        let values: Vec<String> = match actual {
            Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
            scalar => scalar_text(scalar).into_iter().collect(),
        };
        let matched = values.iter().any(|value| {
            allowed
                .values()
                .iter()
                .any(|pattern| match role.bound_claims_type {
                    BoundClaimsType::String => pattern == value,
                    BoundClaimsType::Glob => glob_matches(pattern, value),
                })
        });
        if !matched {
            return Err(ClaimsProblem::BoundClaimMismatch(name.clone()));
        }
    }
    Ok(())
}

/// `*` matches any run of bytes (including none); every other byte matches itself. Greedy with
/// backtracking to the last star only, so it is linear-ish and cannot blow up on hostile input.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                last_star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match last_star {
                Some((star_p, star_t)) => {
                    pi = star_p + 1;
                    ti = star_t + 1;
                    last_star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == b'*'))
}

fn user_claim(role: &JwtRole, claims: &Value) -> Result<String, ClaimsProblem> {
    let name = &role.user_claim;
    let value = if role.user_claim_json_pointer {
        lookup(claims, name)
    } else {
        claims.get(name).filter(|v| !v.is_null())
    }
    .ok_or_else(|| ClaimsProblem::UserClaimMissing(name.clone()))?;
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(ClaimsProblem::UserClaimNotString(name.clone())),
    }
}

fn mapped_claims(
    role: &JwtRole,
    claims: &Value,
) -> Result<BTreeMap<String, String>, ClaimsProblem> {
    let mut metadata = BTreeMap::new();
    for (claim, key) in &role.claim_mappings {
        if let Some(value) = lookup(claims, claim) {
            let text = scalar_text(value)
                .ok_or_else(|| ClaimsProblem::MappedClaimNotString(claim.clone()))?;
            metadata.insert(key.clone(), text);
        }
    }
    Ok(metadata)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::{at, fields, forge, JwksServer, EC1, ED1, RSA1, RSA2};
    use jsonwebtoken::Algorithm;
    use serde_json::json;

    const ISSUER: &str = "https://ci.example";

    fn role(extra: Value) -> JwtRole {
        let mut v = json!({
            "role_type": "jwt", "user_claim": "email", "bound_audiences": ["leasehold"],
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        JwtRole::from_fields(&fields(v), None).unwrap()
    }

    fn pem_config(extra: Value) -> JwtConfig {
        let mut v = json!({
            "jwt_validation_pubkeys": [RSA1.public_pem, EC1.public_pem, ED1.public_pem],
            "bound_issuer": ISSUER,
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        JwtConfig::from_fields(&fields(v)).unwrap()
    }

    /// Claims valid at `at(0)`.
    fn claims() -> Value {
        json!({
            "iss": ISSUER, "aud": "leasehold", "sub": "repo:acme/app:ref:refs/heads/main",
            "email": "alice@example.com", "iat": at(-10).timestamp(),
            "nbf": at(-10).timestamp(), "exp": at(300).timestamp(),
            "repository": "acme/app", "groups": ["dev", "ops"],
            "ns": {"team": "payments", "tier": 2},
        })
    }

    fn with(changes: Value) -> Value {
        let mut c = claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    async fn check(role: &JwtRole, token: &str) -> Result<ValidatedClaims, JwtError> {
        let config = pem_config(json!({}));
        let keys = KeySet::from_config(&config).unwrap();
        validate(&config, role, &keys, token, at(0)).await
    }

    async fn refusal(role: &JwtRole, token: &str) -> JwtError {
        match check(role, token).await {
            Ok(v) => panic!("token accepted: {v:?}"),
            Err(e) => {
                // Junk shorter than a real token may occur in any text by chance.
                if token.len() > 16 {
                    assert!(!e.to_string().contains(token), "error leaks the token");
                }
                e
            }
        }
    }

    #[tokio::test]
    async fn a_valid_token_yields_the_user_claim_and_mapped_metadata() {
        let role = role(json!({"claim_mappings": {"repository": "repo", "/ns/tier": "tier"}}));
        let v = check(&role, &RSA1.sign(None, &claims())).await.unwrap();
        assert_eq!(v.user, "alice@example.com");
        assert_eq!(
            v.subject.as_deref(),
            Some("repo:acme/app:ref:refs/heads/main")
        );
        assert_eq!(v.metadata.get("repo").map(String::as_str), Some("acme/app"));
        assert_eq!(v.metadata.get("tier").map(String::as_str), Some("2"));
        assert_eq!(v.claims["groups"], json!(["dev", "ops"]));

        // Every family and algorithm of the PEM set works.
        for alg in [
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS512,
        ] {
            check(&role, &RSA1.sign_as(alg, None, &claims()))
                .await
                .unwrap();
        }
        check(&role, &EC1.sign(None, &claims())).await.unwrap();
        check(&role, &ED1.sign(None, &claims())).await.unwrap();
        // A numeric user claim is printed.
        let numeric = role_with_user("uid");
        let v = check(&numeric, &RSA1.sign(None, &with(json!({"uid": 1001}))))
            .await
            .unwrap();
        assert_eq!(v.user, "1001");
    }

    fn role_with_user(claim: &str) -> JwtRole {
        role(json!({"user_claim": claim}))
    }

    #[tokio::test]
    async fn wrong_issuer_audience_and_subject_are_refused() {
        let r = role(json!({}));
        let err = refusal(
            &r,
            &RSA1.sign(None, &with(json!({"iss": "https://evil.example"}))),
        )
        .await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::WrongIssuer)),
            "{err}"
        );
        let err = refusal(&r, &RSA1.sign(None, &with(json!({"iss": null})))).await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::WrongIssuer)),
            "{err}"
        );

        let err = refusal(&r, &RSA1.sign(None, &with(json!({"aud": ["other", "x"]})))).await;
        assert_eq!(
            err.to_string(),
            "error validating token: aud claim matches none of the role's bound_audiences"
        );
        let err = refusal(&r, &RSA1.sign(None, &with(json!({"aud": null})))).await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::WrongAudience)),
            "{err}"
        );
        // A list aud containing a bound audience passes.
        check(
            &r,
            &RSA1.sign(None, &with(json!({"aud": ["other", "leasehold"]}))),
        )
        .await
        .unwrap();

        // A role binding no audience refuses any token that names one.
        let no_aud = role(json!({"bound_audiences": [], "bound_subject": claims()["sub"]}));
        let err = refusal(&no_aud, &RSA1.sign(None, &claims())).await;
        assert_eq!(
            err.to_string(),
            "audience claim found in JWT but no audiences bound to the role"
        );
        check(&no_aud, &RSA1.sign(None, &with(json!({"aud": null}))))
            .await
            .unwrap();

        let sub = role(json!({"bound_subject": "repo:acme/other:ref:refs/heads/main"}));
        let err = refusal(&sub, &RSA1.sign(None, &claims())).await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::WrongSubject)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn time_claims_honour_the_leeways() {
        let r = role(json!({}));
        // exp 100 s ago is within the default 150 + 60 s; 220 s ago is not.
        check(
            &r,
            &RSA1.sign(None, &with(json!({"exp": at(-100).timestamp()}))),
        )
        .await
        .unwrap();
        let err = refusal(
            &r,
            &RSA1.sign(None, &with(json!({"exp": at(-220).timestamp()}))),
        )
        .await;
        assert_eq!(
            err.to_string(),
            "error validating token: token is expired (exp)"
        );
        // With leeways disabled, just past exp is expired.
        let strict = role(
            json!({"clock_skew_leeway": -1, "expiration_leeway": -1, "not_before_leeway": -1}),
        );
        let err = refusal(
            &strict,
            &RSA1.sign(None, &with(json!({"exp": at(-1).timestamp()}))),
        )
        .await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::Expired)),
            "{err}"
        );

        // nbf 200 s ahead is within 150 + 60 s; 300 s ahead is not.
        check(
            &r,
            &RSA1.sign(None, &with(json!({"nbf": at(200).timestamp()}))),
        )
        .await
        .unwrap();
        let err = refusal(
            &r,
            &RSA1.sign(None, &with(json!({"nbf": at(300).timestamp()}))),
        )
        .await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::NotYetValid)),
            "{err}"
        );
        let err = refusal(
            &strict,
            &RSA1.sign(None, &with(json!({"nbf": at(5).timestamp()}))),
        )
        .await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::NotYetValid)),
            "{err}"
        );

        // iat only gets the clock-skew leeway.
        let err = refusal(
            &r,
            &RSA1.sign(None, &with(json!({"iat": at(90).timestamp()}))),
        )
        .await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::IssuedInFuture)),
            "{err}"
        );
        let err = refusal(&r, &RSA1.sign(None, &with(json!({"exp": "tomorrow"})))).await;
        assert!(
            matches!(
                err,
                JwtError::InvalidToken(TokenProblem::InvalidClaimType("exp"))
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_token_without_exp_is_refused_however_fresh() {
        let r = role(json!({}));
        let thirty_days = 30 * 86_400;
        for (what, changes) in [
            (
                "iat only, 30 days old",
                json!({"exp": null, "nbf": null, "iat": at(-thirty_days).timestamp()}),
            ),
            (
                "iat only, just now",
                json!({"exp": null, "nbf": null, "iat": at(0).timestamp()}),
            ),
            ("nbf only", json!({"exp": null, "iat": null})),
            (
                "no time claims",
                json!({"exp": null, "nbf": null, "iat": null}),
            ),
        ] {
            let err = refusal(&r, &RSA1.sign(None, &with(changes))).await;
            assert!(
                matches!(err, JwtError::InvalidToken(TokenProblem::MissingExpiry)),
                "{what}: {err}"
            );
        }
        let mut explicit_null = claims();
        explicit_null["exp"] = Value::Null;
        let err = refusal(&r, &RSA1.sign(None, &explicit_null)).await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::MissingExpiry)),
            "{err}"
        );
        // Disabling every leeway does not disable the requirement.
        let strict = role(
            json!({"clock_skew_leeway": -1, "expiration_leeway": -1, "not_before_leeway": -1}),
        );
        let err = refusal(&strict, &RSA1.sign(None, &with(json!({"exp": null})))).await;
        assert_eq!(
            err.to_string(),
            "error validating token: token has no expiration time (exp)"
        );
        // exp alone is enough.
        check(
            &r,
            &RSA1.sign(None, &with(json!({"iat": null, "nbf": null}))),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn max_age_requires_a_recent_auth_time() {
        let r = role(json!({"max_age": "1h"}));
        let auth = |secs: i64| RSA1.sign(None, &with(json!({"auth_time": at(secs).timestamp()})));
        // 1 h + 60 s of clock skew.
        check(&r, &auth(-3600)).await.unwrap();
        check(&r, &auth(-3650)).await.unwrap();
        let err = refusal(&r, &auth(-3661)).await;
        assert!(
            matches!(
                err,
                JwtError::InvalidToken(TokenProblem::AuthenticationTooOld)
            ),
            "{err}"
        );
        let err = refusal(&r, &auth(-30 * 86_400)).await;
        assert!(
            matches!(
                err,
                JwtError::InvalidToken(TokenProblem::AuthenticationTooOld)
            ),
            "{err}"
        );
        let err = refusal(&r, &RSA1.sign(None, &claims())).await;
        assert_eq!(
            err.to_string(),
            "error validating token: token has no auth_time, which the role's max_age requires"
        );
        let err = refusal(&r, &auth(120)).await;
        assert!(
            matches!(
                err,
                JwtError::InvalidToken(TokenProblem::AuthenticatedInFuture)
            ),
            "{err}"
        );
        let err = refusal(
            &r,
            &RSA1.sign(None, &with(json!({"auth_time": "yesterday"}))),
        )
        .await;
        assert!(
            matches!(
                err,
                JwtError::InvalidToken(TokenProblem::InvalidClaimType("auth_time"))
            ),
            "{err}"
        );
        // Without max_age, auth_time is not looked at.
        check(&role(json!({})), &auth(-30 * 86_400)).await.unwrap();
    }

    #[tokio::test]
    async fn bad_signatures_and_forbidden_algorithms_are_refused() {
        let r = role(json!({}));
        // Signed by a key the config does not hold.
        let err = refusal(&r, &RSA2.sign(None, &claims())).await;
        assert_eq!(
            err.to_string(),
            "error validating token: failed to verify signature"
        );
        // Payload swapped under a genuine signature.
        let good = RSA1.sign(None, &claims());
        let evil = RSA1.sign(None, &with(json!({"email": "root@example.com"})));
        let (head, _) = good.rsplit_once('.').unwrap();
        let (_, evil_sig) = evil.rsplit_once('.').unwrap();
        let err = refusal(&r, &format!("{head}.{evil_sig}")).await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::BadSignature)),
            "{err}"
        );

        // alg none, with and without a signature segment.
        let none = json!({"alg": "none", "typ": "JWT"});
        let err = refusal(&r, &forge(&none, &claims(), b"x")).await;
        assert_eq!(
            err.to_string(),
            "error validating token: unsupported signing algorithm \"none\""
        );
        let unsigned = forge(&none, &claims(), b"");
        let err = refusal(&r, &unsigned).await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::Malformed(_))),
            "{err}"
        );

        // HS256 "signed" with the RSA public key as the secret: the classic confusion attack.
        let hmac = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(RSA1.public_pem.as_bytes()),
        )
        .unwrap();
        let err = refusal(&r, &hmac).await;
        assert!(
            matches!(
                err,
                JwtError::InvalidToken(TokenProblem::UnsupportedAlgorithm(_))
            ),
            "{err}"
        );

        // jwt_supported_algs narrows further.
        let config = pem_config(json!({"jwt_supported_algs": ["ES256"]}));
        let keys = KeySet::from_config(&config).unwrap();
        let err = validate(&config, &r, &keys, &RSA1.sign(None, &claims()), at(0))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                JwtError::InvalidToken(TokenProblem::AlgorithmNotAllowed(_))
            ),
            "{err}"
        );

        // No key of the right family.
        let config =
            JwtConfig::from_fields(&fields(json!({"jwt_validation_pubkeys": [EC1.public_pem]})))
                .unwrap();
        let keys = KeySet::from_config(&config).unwrap();
        let err = validate(&config, &r, &keys, &RSA1.sign(None, &claims()), at(0))
            .await
            .unwrap_err();
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::NoUsableKey(_))),
            "{err}"
        );

        for junk in ["", "abc", "a.b", "a.b.c.d", "!!!.???.sig"] {
            let err = refusal(&r, junk).await;
            assert!(
                matches!(err, JwtError::InvalidToken(TokenProblem::Malformed(_))),
                "{junk}: {err}"
            );
        }
        let crit = forge(&json!({"alg": "RS256", "crit": ["b64"]}), &claims(), b"x");
        let err = refusal(&r, &crit).await;
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::CriticalHeader)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn user_claim_must_exist_and_be_a_string_or_number() {
        let r = role(json!({}));
        let err = refusal(&r, &RSA1.sign(None, &with(json!({"email": null})))).await;
        assert_eq!(
            err.to_string(),
            "error validating claims: user claim \"email\" is missing from the token"
        );
        for bad in [json!(["a"]), json!(""), json!(true), json!({"x": 1})] {
            let err = refusal(&r, &RSA1.sign(None, &with(json!({"email": bad})))).await;
            assert!(
                matches!(
                    err,
                    JwtError::InvalidClaims(ClaimsProblem::UserClaimNotString(_))
                ),
                "{err}"
            );
        }
        // As a JSON pointer when the role says so.
        let pointer = role(json!({"user_claim": "/ns/team", "user_claim_json_pointer": true}));
        let v = check(&pointer, &RSA1.sign(None, &claims())).await.unwrap();
        assert_eq!(v.user, "payments");
        let mapped = role(json!({"claim_mappings": {"ns": "namespace"}}));
        let err = refusal(&mapped, &RSA1.sign(None, &claims())).await;
        assert!(
            matches!(
                err,
                JwtError::InvalidClaims(ClaimsProblem::MappedClaimNotString(_))
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn bound_claims_match_strings_lists_globs_and_pointers() {
        let exact = role(json!({"bound_claims": {"repository": "acme/app"}}));
        check(&exact, &RSA1.sign(None, &claims())).await.unwrap();
        let err = refusal(
            &exact,
            &RSA1.sign(None, &with(json!({"repository": "acme/other"}))),
        )
        .await;
        assert_eq!(
            err.to_string(),
            "error validating claims: claim \"repository\" matches none of the role's bound values"
        );
        let err = refusal(&exact, &RSA1.sign(None, &with(json!({"repository": null})))).await;
        assert!(
            matches!(
                err,
                JwtError::InvalidClaims(ClaimsProblem::BoundClaimMissing(_))
            ),
            "{err}"
        );
        // Glob syntax is literal for string-type roles.
        let literal = role(json!({"bound_claims": {"repository": "acme/*"}}));
        refusal(&literal, &RSA1.sign(None, &claims())).await;

        // Any-of lists, against scalar and list claims.
        let any_of = role(
            json!({"bound_claims": {"repository": ["x/y", "acme/app"], "groups": ["ops", "sec"]}}),
        );
        check(&any_of, &RSA1.sign(None, &claims())).await.unwrap();
        let err = refusal(&any_of, &RSA1.sign(None, &with(json!({"groups": ["dev"]})))).await;
        assert!(
            matches!(err, JwtError::InvalidClaims(ClaimsProblem::BoundClaimMismatch(ref c)) if c == "groups"),
            "{err}"
        );

        // Globs and nested claims.
        let glob = role(json!({
            "bound_claims_type": "glob",
            "bound_claims": {"repository": "acme/*", "/ns/team": "pay*", "sub": "repo:acme/*:ref:refs/heads/main"},
        }));
        check(&glob, &RSA1.sign(None, &claims())).await.unwrap();
        let err = refusal(
            &glob,
            &RSA1.sign(None, &with(json!({"ns": {"team": "search"}}))),
        )
        .await;
        assert!(
            matches!(err, JwtError::InvalidClaims(ClaimsProblem::BoundClaimMismatch(ref c)) if c == "/ns/team"),
            "{err}"
        );
        let err = refusal(
            &glob,
            &RSA1.sign(
                None,
                &with(json!({"sub": "repo:acme/app:ref:refs/heads/dev"})),
            ),
        )
        .await;
        assert!(
            matches!(err, JwtError::InvalidClaims(ClaimsProblem::BoundClaimMismatch(ref c)) if c == "sub"),
            "{err}"
        );
        // Numbers and booleans compare as their text.
        let typed = role(json!({"bound_claims": {"/ns/tier": "2"}}));
        check(&typed, &RSA1.sign(None, &claims())).await.unwrap();
    }

    #[test]
    fn globs() {
        for (p, t) in [
            ("*", ""),
            ("*", "abc"),
            ("a*c", "abbbc"),
            ("a*c", "ac"),
            ("*/main", "x/y/main"),
            ("a*b*c", "axxbyyc"),
            ("abc", "abc"),
            ("a**", "a"),
        ] {
            assert!(glob_matches(p, t), "{p} ~ {t}");
        }
        for (p, t) in [
            ("a*c", "abd"),
            ("abc", "abcd"),
            ("", "a"),
            ("a*b*c", "axxbyy"),
            ("x*", "ax"),
        ] {
            assert!(!glob_matches(p, t), "{p} !~ {t}");
        }
        // A pathological pattern stays fast.
        let text = "a".repeat(10_000);
        assert!(!glob_matches("*a*a*a*a*a*a*b", &text));
    }

    async fn jwks_config(server: &JwksServer) -> JwtConfig {
        JwtConfig::from_fields(&fields(
            json!({"jwks_url": server.url(), "bound_issuer": ISSUER}),
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn jwks_keys_are_found_by_kid_and_rotation_is_picked_up() {
        let server =
            JwksServer::start(json!({"keys": [RSA1.jwk("k1"), EC1.jwk("e1"), ED1.jwk("d1")]}))
                .await;
        let config = jwks_config(&server).await;
        let keys = KeySet::from_config(&config).unwrap();
        let r = role(json!({}));

        let v = validate(&config, &r, &keys, &RSA1.sign(Some("k1"), &claims()), at(0))
            .await
            .unwrap();
        assert_eq!(v.user, "alice@example.com");
        validate(&config, &r, &keys, &EC1.sign(Some("e1"), &claims()), at(1))
            .await
            .unwrap();
        validate(&config, &r, &keys, &ED1.sign(Some("d1"), &claims()), at(1))
            .await
            .unwrap();
        assert_eq!(server.hits(), 1);

        // A key under another key's kid does not verify.
        let err = validate(&config, &r, &keys, &RSA2.sign(Some("k1"), &claims()), at(2))
            .await
            .unwrap_err();
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::BadSignature)),
            "{err}"
        );

        // Unknown kid: refetched (after the rate-limit window), still unknown, refused.
        let err = validate(
            &config,
            &r,
            &keys,
            &RSA2.sign(Some("k2"), &claims()),
            at(30),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "error validating token: no key with kid \"k2\" found in the key set"
        );
        assert_eq!(server.hits(), 2);

        // The IdP rotates to k2; the next login with k2 refetches and passes, k1 is gone.
        server.set(json!({"keys": [RSA2.jwk("k2")]}));
        validate(
            &config,
            &r,
            &keys,
            &RSA2.sign(Some("k2"), &claims()),
            at(60),
        )
        .await
        .unwrap();
        assert_eq!(server.hits(), 3);
        let err = validate(
            &config,
            &r,
            &keys,
            &RSA1.sign(Some("k1"), &claims()),
            at(90),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::UnknownKeyId(_))),
            "{err}"
        );
    }

    #[tokio::test]
    async fn jwks_without_kids_refetches_once_on_a_failed_signature() {
        let mut k1 = RSA1.jwk("x");
        k1.as_object_mut().unwrap().remove("kid");
        let server = JwksServer::start(json!({"keys": [k1]})).await;
        let config = jwks_config(&server).await;
        let keys = KeySet::from_config(&config).unwrap();
        let r = role(json!({}));
        validate(&config, &r, &keys, &RSA1.sign(None, &claims()), at(0))
            .await
            .unwrap();

        let mut k2 = RSA2.jwk("x");
        k2.as_object_mut().unwrap().remove("kid");
        server.set(json!({"keys": [k2]}));
        validate(&config, &r, &keys, &RSA2.sign(None, &claims()), at(30))
            .await
            .unwrap();
        assert_eq!(server.hits(), 2);
        // A forgery right after cannot force another fetch.
        let err = validate(&config, &r, &keys, &RSA1.sign(None, &claims()), at(31))
            .await
            .unwrap_err();
        assert!(
            matches!(err, JwtError::InvalidToken(TokenProblem::BadSignature)),
            "{err}"
        );
        assert_eq!(server.hits(), 2);
    }

    #[tokio::test]
    async fn an_unreachable_jwks_is_not_the_callers_fault() {
        let server = JwksServer::start(json!({"keys": [RSA1.jwk("k1")]})).await;
        server.fail_with(500);
        let config = jwks_config(&server).await;
        let keys = KeySet::from_config(&config).unwrap();
        let err = validate(
            &config,
            &role(json!({})),
            &keys,
            &RSA1.sign(Some("k1"), &claims()),
            at(0),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, JwtError::KeysUnavailable(_)), "{err}");
        assert!(
            err.to_string().starts_with("error validating token: "),
            "{err}"
        );
        assert_eq!(
            keys.refresh(at(60)).await.unwrap_err().to_string(),
            err.to_string()
        );
        server.set(json!({"keys": [RSA1.jwk("k1")]}));
        assert_eq!(keys.refresh(at(120)).await.unwrap(), 1);
    }
}
