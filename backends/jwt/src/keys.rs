//! The keys a JWT's signature is checked against, and the algorithms we accept.
//!
//! A [`KeySet`] is built from a [`JwtConfig`]: either a fixed list of PEM public keys
//! (`jwt_validation_pubkeys`) or a JWKS document fetched from `jwks_url` and cached (see
//! [`super::jwks`] for the cache's refetch rules). Each key records its family (RSA, EC, Ed25519)
//! and, when its JWK says so, the one algorithm it is for; a signature is only ever checked with a
//! key of the family the token's `alg` names. That pairing is what stops the classic confusion
//! attacks (an RSA public key used as an HMAC secret) and is why symmetric keys are never loaded.
//!
//! Past 400 lines only through its tests.

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::JwtConfig;
use super::error::{JwtError, TokenProblem};
use super::jwks::{JwksCache, JwksCachePolicy, Refetch};

/// A signing algorithm we verify. HMAC algorithms and `none` are deliberately absent: a server
/// holding only public keys has no business accepting shared-secret or unsigned tokens.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

/// Which kind of public key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFamily {
    Rsa,
    Ec,
    Ed,
}

impl SigningAlg {
    /// Every algorithm we verify, which is also the default for `jwt_supported_algs`.
    pub const ALL: [SigningAlg; 9] = [
        SigningAlg::RS256,
        SigningAlg::RS384,
        SigningAlg::RS512,
        SigningAlg::PS256,
        SigningAlg::PS384,
        SigningAlg::PS512,
        SigningAlg::ES256,
        SigningAlg::ES384,
        SigningAlg::EdDSA,
    ];

    /// The algorithm with this JOSE name (`RS256`), if we verify it; `None` for `none`, `HS*`,
    /// `ES512` and anything unknown.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The JOSE name, as it appears in a token header and in `jwt_supported_algs`.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::RS384 => "RS384",
            SigningAlg::RS512 => "RS512",
            SigningAlg::PS256 => "PS256",
            SigningAlg::PS384 => "PS384",
            SigningAlg::PS512 => "PS512",
            SigningAlg::ES256 => "ES256",
            SigningAlg::ES384 => "ES384",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    fn family(self) -> KeyFamily {
        match self {
            SigningAlg::RS256
            | SigningAlg::RS384
            | SigningAlg::RS512
            | SigningAlg::PS256
            | SigningAlg::PS384
            | SigningAlg::PS512 => KeyFamily::Rsa,
            SigningAlg::ES256 | SigningAlg::ES384 => KeyFamily::Ec,
            SigningAlg::EdDSA => KeyFamily::Ed,
        }
    }

    fn library_alg(self) -> Algorithm {
        match self {
            SigningAlg::RS256 => Algorithm::RS256,
            SigningAlg::RS384 => Algorithm::RS384,
            SigningAlg::RS512 => Algorithm::RS512,
            SigningAlg::PS256 => Algorithm::PS256,
            SigningAlg::PS384 => Algorithm::PS384,
            SigningAlg::PS512 => Algorithm::PS512,
            SigningAlg::ES256 => Algorithm::ES256,
            SigningAlg::ES384 => Algorithm::ES384,
            SigningAlg::EdDSA => Algorithm::EdDSA,
        }
    }
}

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One public key that can check signatures.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Option<String>,
    family: KeyFamily,
    /// The only algorithm this key may verify, when its JWK (`alg`, or an EC `crv`) says so.
    pinned: Option<SigningAlg>,
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Parse one PEM public key: `PUBLIC KEY` (RSA, EC P-256/P-384 or Ed25519), `RSA PUBLIC KEY`,
    /// or a `CERTIFICATE` whose public key is used. Private keys are refused, so a pasted private
    /// key never ends up stored in the config. The error text is safe to show.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let label = pem_label(pem).ok_or("not a PEM block")?;
        if !matches!(label, "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE") {
            return Err(format!(
                "PEM type {label:?} is not a public key or certificate"
            ));
        }
        let bytes = pem.trim().as_bytes();
        let (family, key) = if let Ok(k) = DecodingKey::from_rsa_pem(bytes) {
            (KeyFamily::Rsa, k)
        } else if let Ok(k) = DecodingKey::from_ec_pem(bytes) {
            (KeyFamily::Ec, k)
        } else if let Ok(k) = DecodingKey::from_ed_pem(bytes) {
            (KeyFamily::Ed, k)
        } else {
            return Err("not an RSA, EC or Ed25519 public key".to_owned());
        };
        Ok(Self {
            kid: None,
            family,
            pinned: None,
            key,
        })
    }

    /// Parse one JWK from a JWKS. `Ok(None)` for keys that are not ours to use: encryption keys
    /// (`use: enc`), symmetric keys, curves we do not verify, algorithms we do not accept.
    /// `Err` for a signing key whose parameters are malformed.
    pub(crate) fn from_jwk(jwk: &Value) -> Result<Option<Self>, String> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        if text("use").is_some_and(|u| u != "sig") {
            return Ok(None);
        }
        let pinned = match text("alg") {
            None => None,
            Some(name) => match SigningAlg::parse(name) {
                Some(alg) => Some(alg),
                None => return Ok(None),
            },
        };
        let kid = text("kid").map(str::to_owned);
        let required = |name: &str| text(name).ok_or_else(|| format!("JWK lacks {name:?}"));
        let (family, pinned, key) = match text("kty") {
            Some("RSA") => {
                let key = DecodingKey::from_rsa_components(required("n")?, required("e")?)
                    .map_err(|e| format!("bad RSA JWK: {e}"))?;
                (KeyFamily::Rsa, pinned, key)
            }
            Some("EC") => {
                let (alg, len) = match text("crv") {
                    Some("P-256") => (SigningAlg::ES256, 32),
                    Some("P-384") => (SigningAlg::ES384, 48),
                    _ => return Ok(None),
                };
                if pinned.is_some_and(|p| p != alg) {
                    return Ok(None);
                }
                let (x, y) = (required("x")?, required("y")?);
                if decoded_len(x) != Some(len) || decoded_len(y) != Some(len) {
                    return Err("bad EC JWK: coordinates do not fit the curve".to_owned());
                }
                let key = DecodingKey::from_ec_components(x, y)
                    .map_err(|e| format!("bad EC JWK: {e}"))?;
                (KeyFamily::Ec, Some(alg), key)
            }
            Some("OKP") if text("crv") == Some("Ed25519") => {
                let x = required("x")?;
                if decoded_len(x) != Some(32) {
                    return Err("bad Ed25519 JWK: x is not 32 bytes".to_owned());
                }
                let key = DecodingKey::from_ed_components(x)
                    .map_err(|e| format!("bad Ed25519 JWK: {e}"))?;
                (KeyFamily::Ed, pinned, key)
            }
            _ => return Ok(None),
        };
        if pinned.is_some_and(|p| p.family() != family) {
            return Ok(None);
        }
        Ok(Some(Self {
            kid,
            family,
            pinned,
            key,
        }))
    }

    /// The key id from the JWK, if any (PEM keys have none).
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// True if this key may check a signature made with `alg`.
    pub fn accepts(&self, alg: SigningAlg) -> bool {
        self.family == alg.family() && self.pinned.is_none_or(|p| p == alg)
    }

    /// Check `signature` (base64url, the JWT's third segment) over `message` (the first two
    /// segments with their dot). False for a wrong key, a wrong curve or a garbled signature.
    pub fn verify(&self, alg: SigningAlg, message: &[u8], signature: &str) -> bool {
        // The family check is not only a filter: the library reads an RSA key's bytes as an
        // HMAC secret or an EC point if handed the wrong algorithm, so never let it see one.
        self.accepts(alg)
            && jsonwebtoken::crypto::verify(signature, message, &self.key, alg.library_alg())
                .unwrap_or(false)
    }
}

/// The `X` of the first `-----BEGIN X-----` line.
fn pem_label(pem: &str) -> Option<&str> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = pem.get(start..)?;
    let end = rest.find("-----")?;
    rest.get(..end)
}

fn decoded_len(b64url: &str) -> Option<usize> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64url.trim_end_matches('='))
        .ok()
        .map(|v| v.len())
}

/// The verification keys of one JWT auth mount. Build it from the config whenever the config is
/// written and keep it in memory beside the config (it is never stored); it is cheap to share
/// behind an `Arc`, and the JWKS variant keeps its cache inside.
#[derive(Debug)]
pub struct KeySet {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Static(Arc<[VerifyingKey]>),
    // Boxed: the cache (client, lock, URL) dwarfs a key list.
    Jwks(Box<JwksCache>),
}

impl KeySet {
    /// Keys for `config` with the default JWKS cache policy. Fails only on a config that
    /// [`JwtConfig::from_fields`] would have refused (bad PEM, bad URL or CA).
    pub fn from_config(config: &JwtConfig) -> Result<Self, JwtError> {
        Self::with_policy(config, JwksCachePolicy::default())
    }

    /// Keys for `config`, caching a JWKS according to `policy`.
    pub fn with_policy(config: &JwtConfig, policy: JwksCachePolicy) -> Result<Self, JwtError> {
        if let Some(url) = &config.jwks_url {
            let cache = JwksCache::new(url, config.jwks_ca_pem.as_deref(), policy)?;
            return Ok(Self {
                source: Source::Jwks(Box::new(cache)),
            });
        }
        Self::from_pems(&config.jwt_validation_pubkeys)
    }

    /// A fixed set of PEM public keys; the error names the offending list entry.
    pub fn from_pems(pems: &[String]) -> Result<Self, JwtError> {
        let keys = pems
            .iter()
            .enumerate()
            .map(|(i, pem)| {
                VerifyingKey::from_pem(pem).map_err(|e| {
                    JwtError::InvalidParameter(format!(
                        "error parsing jwt_validation_pubkeys[{i}]: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            source: Source::Static(keys.into()),
        })
    }

    /// Fetch the JWKS now, whatever the cache holds (subject to the refetch rate limit), and
    /// return how many usable keys it holds. Config writes may call this to report an
    /// unreachable `jwks_url` at once. For PEM keys it only counts them.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<usize, JwtError> {
        match &self.source {
            Source::Static(keys) => Ok(keys.len()),
            Source::Jwks(cache) => cache.keys(now, Refetch::Now).await.map(|k| k.len()),
        }
    }

    /// True when keys come from a JWKS endpoint, so a failed verification may be worth a refetch.
    pub(crate) fn is_remote(&self) -> bool {
        matches!(self.source, Source::Jwks(_))
    }

    /// The keys a token with this `kid` may have been signed with. PEM keys carry no `kid`, so
    /// all of them are candidates whatever the header says. A JWKS is refetched first when the
    /// cache is stale, when `kid` is unknown, or when `refetch` asks for it (always within the
    /// cache's rate limit); a `kid` still unknown afterwards is an error.
    pub(crate) async fn candidates(
        &self,
        kid: Option<&str>,
        now: DateTime<Utc>,
        refetch: Refetch<'_>,
    ) -> Result<Vec<VerifyingKey>, JwtError> {
        match &self.source {
            Source::Static(keys) => Ok(keys.to_vec()),
            Source::Jwks(cache) => {
                let refetch = match kid {
                    Some(kid) if refetch == Refetch::IfStale => Refetch::UnlessKnown(kid),
                    _ => refetch,
                };
                let keys = cache.keys(now, refetch).await?;
                match kid {
                    None => Ok(keys.to_vec()),
                    Some(kid) => {
                        let found: Vec<_> = keys
                            .iter()
                            .filter(|k| k.kid() == Some(kid))
                            .cloned()
                            .collect();
                        if found.is_empty() {
                            return Err(TokenProblem::UnknownKeyId(shorten(kid)).into());
                        }
                        Ok(found)
                    }
                }
            }
        }
    }
}

/// A header value fit for an error text: at most 64 characters.
pub(crate) fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testing::{EC1, RSA1};
    use serde_json::json;

    #[test]
    fn algorithms_exclude_none_and_hmac() {
        assert_eq!(SigningAlg::parse("RS256"), Some(SigningAlg::RS256));
        assert_eq!(SigningAlg::parse("EdDSA"), Some(SigningAlg::EdDSA));
        for bad in ["none", "None", "HS256", "HS512", "ES512", "rs256", ""] {
            assert_eq!(SigningAlg::parse(bad), None, "{bad}");
        }
        for alg in SigningAlg::ALL {
            assert_eq!(SigningAlg::parse(alg.as_str()), Some(alg));
            let json = serde_json::to_value(alg).unwrap();
            assert_eq!(json, json!(alg.as_str()));
        }
    }

    #[test]
    fn pem_keys_parse_by_family() {
        let rsa = VerifyingKey::from_pem(RSA1.public_pem).unwrap();
        assert!(rsa.accepts(SigningAlg::RS256) && rsa.accepts(SigningAlg::PS512));
        assert!(!rsa.accepts(SigningAlg::ES256));
        let ec = VerifyingKey::from_pem(EC1.public_pem).unwrap();
        assert!(ec.accepts(SigningAlg::ES256) && !ec.accepts(SigningAlg::RS256));
        assert!(VerifyingKey::from_pem("hello").is_err());
        let private = VerifyingKey::from_pem(RSA1.private_pem).unwrap_err();
        assert!(private.contains("PRIVATE KEY"), "{private}");
        let err = KeySet::from_pems(&[RSA1.public_pem.to_owned(), "junk".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("jwt_validation_pubkeys[1]"), "{err}");
    }

    #[test]
    fn jwks_entries_that_are_not_signing_keys_are_skipped() {
        let rsa = RSA1.jwk("a");
        assert!(VerifyingKey::from_jwk(&rsa).unwrap().is_some());
        let mut enc = rsa.clone();
        enc["use"] = json!("enc");
        assert!(VerifyingKey::from_jwk(&enc).unwrap().is_none());
        let mut oaep = rsa.clone();
        oaep["alg"] = json!("RSA-OAEP");
        assert!(VerifyingKey::from_jwk(&oaep).unwrap().is_none());
        let hmac = json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"});
        assert!(VerifyingKey::from_jwk(&hmac).unwrap().is_none());
        let mut wrong_family = rsa.clone();
        wrong_family["alg"] = json!("ES256");
        assert!(VerifyingKey::from_jwk(&wrong_family).unwrap().is_none());
        let mut no_n = rsa;
        no_n.as_object_mut().unwrap().remove("n");
        assert!(VerifyingKey::from_jwk(&no_n).is_err());

        let ec = VerifyingKey::from_jwk(&EC1.jwk("e")).unwrap().unwrap();
        assert!(ec.accepts(SigningAlg::ES256) && !ec.accepts(SigningAlg::ES384));
        let mut short = EC1.jwk("e");
        short["x"] = json!("AAAA");
        assert!(VerifyingKey::from_jwk(&short).is_err());
    }
}
