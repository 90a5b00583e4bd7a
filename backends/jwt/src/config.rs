//! `auth/<mount>/config`: where a JWT auth mount gets its keys and which issuer it trusts.
//!
//! A write replaces the whole config, as Vault does. Exactly one key source must be given:
//! `jwt_validation_pubkeys` (PEM keys, offline) or `jwks_url` (fetched and cached). Vault's third
//! source, OIDC discovery, and the newer `jwks_pairs` are recognised and refused as not supported
//! yet, so a config that relies on them fails loudly instead of validating nothing.

use leasehold_backend::{BackendError, Fields};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::JwtError;
use super::jwks;
use super::keys::{SigningAlg, VerifyingKey};

/// The stored config of one JWT auth mount. Built only by [`JwtConfig::from_fields`] (or read
/// back from storage), so its fields are always mutually consistent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtConfig {
    /// JWKS endpoint (http or https); `None` when PEM keys are used.
    pub jwks_url: Option<String>,
    /// CA bundle trusted for `jwks_url` instead of the built-in roots.
    pub jwks_ca_pem: Option<String>,
    /// PEM public keys; empty when a JWKS is used.
    pub jwt_validation_pubkeys: Vec<String>,
    /// Required `iss` claim value, if set.
    pub bound_issuer: Option<String>,
    /// Accepted `alg` values; empty means every [`SigningAlg`].
    pub jwt_supported_algs: Vec<SigningAlg>,
    /// Role used when a login names none.
    pub default_role: Option<String>,
}

const KEY_SOURCES_ERROR: &str =
    "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set";

/// Turn a `Fields` accessor's error (which already names the field) into ours.
pub(crate) fn field<T>(r: Result<T, BackendError>) -> Result<T, JwtError> {
    r.map_err(|e| JwtError::InvalidParameter(e.to_string()))
}

/// A string field where `""` means "not given", as Terraform and hvac send unset fields.
pub(crate) fn non_empty(fields: &Fields, name: &str) -> Result<Option<String>, JwtError> {
    Ok(field(fields.str(name))?.filter(|s| !s.trim().is_empty()))
}

impl JwtConfig {
    /// The field names a config write understands; the HTTP layer warns about any others
    /// (`Fields::unknown`), as Vault does, e.g. for the OIDC browser-flow fields.
    pub const FIELDS: &'static [&'static str] = &[
        "jwks_url",
        "jwks_ca_pem",
        "jwt_validation_pubkeys",
        "bound_issuer",
        "jwt_supported_algs",
        "default_role",
        "oidc_discovery_url",
        "oidc_discovery_ca_pem",
        "jwks_pairs",
    ];

    /// Parse and check a config write. Every PEM key is parsed, the URL and CA bundle checked
    /// and each algorithm name recognised, so a config that is stored can always be turned into
    /// a [`super::KeySet`]. Errors name the field.
    pub fn from_fields(fields: &Fields) -> Result<Self, JwtError> {
        let pubkeys = field(fields.comma_list("jwt_validation_pubkeys"))?.unwrap_or_default();
        let jwks_url = non_empty(fields, "jwks_url")?;
        let discovery = non_empty(fields, "oidc_discovery_url")?;
        let pairs = fields
            .raw("jwks_pairs")
            .is_some_and(|v| !matches!(v, Value::Array(a) if a.is_empty()));
        let sources = [
            !pubkeys.is_empty(),
            jwks_url.is_some(),
            discovery.is_some(),
            pairs,
        ];
        if sources.iter().filter(|given| **given).count() != 1 {
            return Err(JwtError::InvalidParameter(KEY_SOURCES_ERROR.to_owned()));
        }
        if discovery.is_some() || non_empty(fields, "oidc_discovery_ca_pem")?.is_some() {
            return Err(JwtError::InvalidParameter(
                "oidc_discovery_url is not supported yet: set jwks_url or jwt_validation_pubkeys"
                    .to_owned(),
            ));
        }
        if pairs {
            return Err(JwtError::InvalidParameter(
                "jwks_pairs is not supported yet: set jwks_url and jwks_ca_pem".to_owned(),
            ));
        }

        let jwks_ca_pem = non_empty(fields, "jwks_ca_pem")?;
        if let Some(url) = &jwks_url {
            jwks::parse_url(url)?;
            jwks::build_client(jwks_ca_pem.as_deref(), std::time::Duration::from_secs(10))?;
        } else if jwks_ca_pem.is_some() {
            return Err(JwtError::InvalidParameter(
                "jwks_ca_pem is only used with jwks_url".to_owned(),
            ));
        }
        for (i, pem) in pubkeys.iter().enumerate() {
            // Only the first block of an entry would be read; say so rather than drop the rest.
            if pem.matches("-----BEGIN ").count() > 1 {
                return Err(JwtError::InvalidParameter(format!(
                    "jwt_validation_pubkeys[{i}] holds more than one PEM block: give one key per entry"
                )));
            }
            VerifyingKey::from_pem(pem).map_err(|e| {
                JwtError::InvalidParameter(format!(
                    "error parsing jwt_validation_pubkeys[{i}]: {e}"
                ))
            })?;
        }

        Ok(Self {
            jwks_url,
            jwks_ca_pem,
            jwt_validation_pubkeys: pubkeys,
            bound_issuer: non_empty(fields, "bound_issuer")?,
            jwt_supported_algs: parse_algs(fields)?,
            default_role: non_empty(fields, "default_role")?,
        })
    }

    /// True if tokens signed with `alg` are acceptable under `jwt_supported_algs`.
    pub fn allows(&self, alg: SigningAlg) -> bool {
        self.jwt_supported_algs.is_empty() || self.jwt_supported_algs.contains(&alg)
    }

    /// The `data` of a config read, in Vault's shape: unset strings are `""`, unset lists `[]`,
    /// and the OIDC fields we do not support are present and empty so clients that read them
    /// find what they expect.
    pub fn to_read_json(&self) -> Value {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let algs: Vec<&str> = self.jwt_supported_algs.iter().map(|a| a.as_str()).collect();
        json!({
            "jwks_url": text(&self.jwks_url),
            "jwks_ca_pem": text(&self.jwks_ca_pem),
            "jwks_pairs": [],
            "jwt_validation_pubkeys": self.jwt_validation_pubkeys,
            "jwt_supported_algs": algs,
            "bound_issuer": text(&self.bound_issuer),
            "default_role": text(&self.default_role),
            "oidc_discovery_url": "",
            "oidc_discovery_ca_pem": "",
            "oidc_client_id": "",
            "oidc_response_mode": "",
            "oidc_response_types": [],
        })
    }
}

fn parse_algs(fields: &Fields) -> Result<Vec<SigningAlg>, JwtError> {
    let names = field(fields.comma_list("jwt_supported_algs"))?.unwrap_or_default();
    let mut algs = Vec::with_capacity(names.len());
    for name in names {
        let alg = SigningAlg::parse(&name).ok_or_else(|| {
            let supported: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
            JwtError::InvalidParameter(format!(
                "invalid jwt_supported_algs value {name:?}: supported are {}",
                supported.join(", ")
            ))
        })?;
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    Ok(algs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::testing::{fields, EC1, RSA1, TEST_CA_PEM};

    fn refused(v: Value) -> String {
        JwtConfig::from_fields(&fields(v)).unwrap_err().to_string()
    }

    #[test]
    fn exactly_one_key_source() {
        assert_eq!(refused(json!({})), KEY_SOURCES_ERROR);
        assert_eq!(
            refused(
                json!({"jwks_url": "https://idp.example/keys", "jwt_validation_pubkeys": [RSA1.public_pem]})
            ),
            KEY_SOURCES_ERROR
        );
        // Empty strings are "not given", as Terraform sends them.
        let cfg = JwtConfig::from_fields(&fields(json!({
            "jwks_url": "https://idp.example/keys", "oidc_discovery_url": "",
            "jwt_validation_pubkeys": [], "jwks_ca_pem": "", "bound_issuer": "https://idp.example",
        })))
        .unwrap();
        assert_eq!(cfg.jwks_url.as_deref(), Some("https://idp.example/keys"));
        assert_eq!(cfg.jwks_ca_pem, None);
        assert_eq!(cfg.bound_issuer.as_deref(), Some("https://idp.example"));
    }

    #[test]
    fn discovery_and_pairs_are_not_supported_yet() {
        let err = refused(json!({"oidc_discovery_url": "https://idp.example"}));
        assert!(err.contains("not supported yet"), "{err}");
        let err = refused(json!({"jwks_pairs": [{"jwks_url": "https://idp.example/keys"}]}));
        assert!(err.contains("not supported yet"), "{err}");
    }

    #[test]
    fn keys_urls_cas_and_algs_are_checked() {
        let err = refused(json!({"jwt_validation_pubkeys": [RSA1.public_pem, "junk"]}));
        assert!(err.contains("jwt_validation_pubkeys[1]"), "{err}");
        let both = format!("{}{}", RSA1.public_pem, EC1.public_pem);
        let err = refused(json!({"jwt_validation_pubkeys": [both]}));
        assert!(err.contains("more than one PEM block"), "{err}");
        let err = refused(json!({"jwks_url": "ftp://idp.example/keys"}));
        assert!(err.contains("jwks_url"), "{err}");
        let pinned = JwtConfig::from_fields(&fields(
            json!({"jwks_url": "https://idp.example/keys", "jwks_ca_pem": TEST_CA_PEM}),
        ))
        .unwrap();
        assert_eq!(pinned.jwks_ca_pem.as_deref(), Some(TEST_CA_PEM));
        crate::KeySet::from_config(&pinned).unwrap();
        let err = refused(json!({"jwks_url": "https://idp.example/keys", "jwks_ca_pem": "junk"}));
        assert!(err.starts_with("jwks_ca_pem"), "{err}");
        let err = refused(json!({"jwt_validation_pubkeys": [RSA1.public_pem], "jwks_ca_pem": "x"}));
        assert!(err.contains("only used with jwks_url"), "{err}");
        for bad in ["HS256", "none", "ES512"] {
            let err = refused(
                json!({"jwt_validation_pubkeys": [RSA1.public_pem], "jwt_supported_algs": [bad]}),
            );
            assert!(
                err.contains("jwt_supported_algs") && err.contains(bad),
                "{err}"
            );
        }
    }

    #[test]
    fn pubkeys_config_round_trips_through_storage_and_reads_like_vault() {
        let cfg = JwtConfig::from_fields(&fields(json!({
            "jwt_validation_pubkeys": [RSA1.public_pem, EC1.public_pem],
            "jwt_supported_algs": "RS256,ES256",
            "default_role": "ci",
        })))
        .unwrap();
        assert!(cfg.allows(SigningAlg::ES256) && !cfg.allows(SigningAlg::PS256));
        let stored = serde_json::to_vec(&cfg).unwrap();
        assert_eq!(serde_json::from_slice::<JwtConfig>(&stored).unwrap(), cfg);

        let read = cfg.to_read_json();
        assert_eq!(read["jwt_supported_algs"], json!(["RS256", "ES256"]));
        assert_eq!(read["jwt_validation_pubkeys"].as_array().unwrap().len(), 2);
        assert_eq!(read["jwks_url"], "");
        assert_eq!(read["default_role"], "ci");
        assert_eq!(read["oidc_discovery_url"], "");
        assert!(JwtConfig::default().allows(SigningAlg::EdDSA));
    }
}
