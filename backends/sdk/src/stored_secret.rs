//! Serde for secrets kept in mount storage (root passwords, static-role passwords, pending
//! rotations). `SecretString` will not serialize itself; these functions are the one place that
//! says where a stored secret is exposed. Mount storage is sealed by the core, and the encoded
//! bytes are zeroized after the write (`put_json`).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serializer};

/// For `Option<SecretString>` fields: `#[serde(with = "leasehold_backend::stored_secret::option")]`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<SecretString>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(secret) => serializer.serialize_some(secret.expose_secret()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Option::<SecretString>::deserialize(deserializer)
    }
}

/// For `SecretString` fields: `#[serde(with = "leasehold_backend::stored_secret")]`.
pub fn serialize<S: Serializer>(value: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.expose_secret())
}

/// See [`serialize`].
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    SecretString::deserialize(deserializer)
}
