//! Token roles (`auth/token/roles/:name`): a named template for `auth/token/create/:role` that
//! fixes which policies its tokens may hold, whether they are orphans, and their TTLs — so a
//! pipeline can be allowed to mint exactly one kind of token without holding those policies.

use std::time::Duration;

use leasehold_backend::Fields;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::Core;
use crate::error::{Error, Result};

const PREFIX: &str = "token/role/";

/// A stored token role.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TokenRole {
    /// Policies its tokens may hold (empty: any the caller could give).
    pub allowed_policies: Vec<String>,
    /// Policies its tokens may never hold.
    pub disallowed_policies: Vec<String>,
    /// Tokens have no parent.
    pub orphan: bool,
    /// Tokens can be renewed.
    pub renewable: bool,
    /// Default TTL, seconds.
    pub token_ttl: u64,
    /// Max TTL, seconds.
    pub token_max_ttl: u64,
    /// Hard cap, seconds.
    pub token_explicit_max_ttl: u64,
    /// Period, seconds.
    pub token_period: u64,
    /// Uses per token.
    pub token_num_uses: u32,
    /// Leave out the default policy.
    pub token_no_default_policy: bool,
}

fn secs(fields: &Fields, names: &[&str], current: u64) -> Result<u64> {
    for n in names {
        if let Some(d) = fields.duration(n)? {
            return Ok(d.as_secs());
        }
    }
    Ok(current)
}

impl TokenRole {
    /// Apply a write over `self` (fields not given keep their value).
    pub fn update(&mut self, f: &Fields) -> Result<()> {
        if let Some(p) = f.comma_list("allowed_policies")? {
            self.allowed_policies = p.into_iter().map(|x| x.to_lowercase()).collect();
        }
        if let Some(p) = f.comma_list("disallowed_policies")? {
            self.disallowed_policies = p.into_iter().map(|x| x.to_lowercase()).collect();
        }
        self.orphan = f.bool("orphan")?.unwrap_or(self.orphan);
        self.renewable = f.bool("renewable")?.unwrap_or(self.renewable);
        self.token_ttl = secs(f, &["token_ttl", "ttl"], self.token_ttl)?;
        self.token_max_ttl = secs(f, &["token_max_ttl", "max_ttl"], self.token_max_ttl)?;
        self.token_explicit_max_ttl = secs(
            f,
            &["token_explicit_max_ttl", "explicit_max_ttl"],
            self.token_explicit_max_ttl,
        )?;
        self.token_period = secs(f, &["token_period", "period"], self.token_period)?;
        if let Some(n) = f.int("token_num_uses")? {
            self.token_num_uses = u32::try_from(n)
                .map_err(|_| Error::invalid("token_num_uses must be zero or positive"))?;
        }
        self.token_no_default_policy = f
            .bool("token_no_default_policy")?
            .unwrap_or(self.token_no_default_policy);
        if self.token_max_ttl > 0 && self.token_ttl > self.token_max_ttl {
            return Err(Error::invalid(
                "token_ttl cannot be greater than token_max_ttl",
            ));
        }
        Ok(())
    }

    /// Check requested policies against the role; empty request = the allowed policies.
    pub fn policies(&self, requested: Option<Vec<String>>) -> Result<Vec<String>> {
        let requested: Vec<String> = requested
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.to_lowercase())
            .collect();
        let policies = if requested.is_empty() {
            self.allowed_policies.clone()
        } else {
            requested
        };
        for p in &policies {
            if p == "root" {
                return Err(Error::invalid("token roles cannot grant the root policy"));
            }
            if self.disallowed_policies.contains(p) {
                return Err(Error::invalid(format!(
                    "token policy {p:?} is disallowed by this role"
                )));
            }
            if !self.allowed_policies.is_empty()
                && p != "default"
                && !self.allowed_policies.contains(p)
            {
                return Err(Error::invalid(format!(
                    "token policy {p:?} is not allowed by this role"
                )));
            }
        }
        Ok(policies)
    }

    /// Read answer.
    pub fn to_json(&self, name: &str) -> Map<String, Value> {
        let v = json!({
            "name": name, "allowed_policies": self.allowed_policies, "disallowed_policies": self.disallowed_policies,
            "orphan": self.orphan, "renewable": self.renewable, "token_ttl": self.token_ttl,
            "token_max_ttl": self.token_max_ttl, "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "token_period": self.token_period, "token_num_uses": self.token_num_uses,
            "token_no_default_policy": self.token_no_default_policy, "token_type": "service",
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Seconds to a duration.
    pub fn dur(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }
}

impl Core {
    /// A token role by name.
    pub async fn token_role(&self, name: &str) -> Result<Option<TokenRole>> {
        Ok(self
            .tokens
            .kv()
            .get_json(&format!("{PREFIX}{name}"))
            .await?)
    }

    /// Create or update a token role.
    pub async fn write_token_role(&self, name: &str, fields: &Fields) -> Result<()> {
        if name.is_empty() || name.contains('/') {
            return Err(Error::invalid("invalid token role name"));
        }
        let mut role = match self.token_role(name).await? {
            Some(r) => r,
            None => TokenRole {
                renewable: true,
                ..TokenRole::default()
            },
        };
        role.update(fields)?;
        self.tokens
            .kv()
            .put_json(&format!("{PREFIX}{name}"), &role)
            .await?;
        Ok(())
    }

    /// Delete a token role.
    pub async fn delete_token_role(&self, name: &str) -> Result<()> {
        self.tokens.kv().delete(&format!("{PREFIX}{name}")).await?;
        Ok(())
    }

    /// Names of token roles.
    pub async fn token_role_names(&self) -> Result<Vec<String>> {
        Ok(self.tokens.kv().list(PREFIX).await?)
    }
}
