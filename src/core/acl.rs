//! Authorization: policies are stored (sealed) under `policy/acl/<name>`, parsed once and cached;
//! every request is checked against the union of its token's policies before it is served.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use serde_json::{Map, Value};

use super::api::ApiRequest;
use super::Core;
use crate::auth::policy::{self, Acl, Capability, Policy};
use crate::auth::TokenEntry;
use crate::error::{Error, Result};
use crate::storage::sealed::SealedKv;

/// Policy texts in storage, with a parsed cache.
pub struct PolicyStore {
    kv: SealedKv,
    cache: RwLock<HashMap<String, Policy>>,
    /// Bumped by every invalidation. A read that started before one must not fill the cache
    /// with what it read: it may be the text the invalidation replaced.
    generation: AtomicU64,
}

const PREFIX: &str = "policy/acl/";

impl PolicyStore {
    /// A store over `kv`.
    pub fn new(kv: SealedKv) -> Self {
        Self {
            kv,
            cache: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Another node wrote `key` (a storage key); forget the policy it holds. Any other key
    /// under the policy prefix, or an empty `key`, clears the whole cache.
    pub fn invalidate(&self, key: &str) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        match key.strip_prefix(PREFIX) {
            Some(name) if !name.is_empty() => {
                cache.remove(name);
            }
            _ => cache.clear(),
        }
    }

    /// True for storage keys that hold policies.
    pub fn owns_key(key: &str) -> bool {
        key.starts_with(PREFIX)
    }

    /// The policy named `name`: built-in `root`/`default` unless `default` was rewritten.
    pub async fn get(&self, name: &str) -> Result<Option<Policy>> {
        if name == "root" {
            return Ok(Some(policy::root_policy()));
        }
        if name == policy::RESPONSE_WRAPPING_POLICY_NAME {
            // Built in and immutable: never read from storage, where someone could have put
            // a wider text under this name.
            return Ok(Some(policy::response_wrapping_policy()));
        }
        if let Some(p) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(Some(p.clone()));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let stored = self.kv.get(&format!("{PREFIX}{name}")).await?;
        let parsed = match stored {
            Some(text) => {
                let text = String::from_utf8_lossy(&text).into_owned();
                Some(
                    policy::parse(name, &text)
                        .map_err(|e| Error::Internal(format!("stored policy {name}: {e}")))?,
                )
            }
            None if name == "default" => Some(policy::default_policy()),
            None => None,
        };
        if let Some(p) = &parsed {
            let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
            if self.generation.load(Ordering::SeqCst) == generation {
                cache.insert(name.to_owned(), p.clone());
            }
        }
        Ok(parsed)
    }

    /// Parse and store a policy; a parse error is the caller's (400).
    pub async fn put(&self, name: &str, text: &str) -> Result<()> {
        if name == "root" || name == policy::RESPONSE_WRAPPING_POLICY_NAME {
            return Err(Error::invalid(format!("cannot update the {name} policy")));
        }
        let parsed = policy::parse(name, text).map_err(|e| Error::invalid(e.to_string()))?;
        // Stored as parsed (base64 already decoded), so a read returns the policy text.
        self.kv
            .put(&format!("{PREFIX}{name}"), parsed.raw().as_bytes())
            .await?;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), parsed);
        Ok(())
    }

    /// Delete a policy; `root` and `default` cannot be deleted.
    pub async fn delete(&self, name: &str) -> Result<()> {
        if name == "root" || name == "default" || name == policy::RESPONSE_WRAPPING_POLICY_NAME {
            return Err(Error::invalid(format!("cannot delete the {name} policy")));
        }
        self.kv.delete(&format!("{PREFIX}{name}")).await?;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        Ok(())
    }

    /// Names of all policies, with `default` and `root`.
    pub async fn names(&self) -> Result<Vec<String>> {
        let mut names = self.kv.list(PREFIX).await?;
        if !names.iter().any(|n| n == "default") {
            names.push("default".into());
        }
        names.sort();
        names.push("root".into());
        Ok(names)
    }

    /// The ACL of a set of policy names; unknown names grant nothing.
    pub async fn acl(&self, names: &[String]) -> Result<Acl> {
        let mut policies = Vec::new();
        for n in names {
            if let Some(p) = self.get(n).await? {
                policies.push(p);
            }
        }
        Ok(Acl::new(policies.iter()))
    }
}

/// A policy's control group that applies to a request: who must approve it, and how long it
/// may wait (`None`: the default approval TTL).
#[derive(Debug, Clone)]
pub struct HeldBy {
    /// Every factor must be met.
    pub factors: Vec<crate::approval::tier::Factor>,
    /// The wait.
    pub ttl: Option<std::time::Duration>,
}

impl Core {
    /// Refuse (403) unless the token's policies grant `needed` on `path` (and `sudo` where the
    /// path is root-protected), and the request's `fields` (query and body, as sent) meet the
    /// deciding rule's `allowed_parameters`, `denied_parameters` and `required_parameters`.
    /// Its wrapping (`wrap_ttl`, `None` when not wrapped) must meet the rule's
    /// `min_wrapping_ttl`/`max_wrapping_ttl`. `path` is the request's canonical path
    /// ([`crate::http::path`]).
    pub async fn authorize(
        &self,
        token: &TokenEntry,
        path: &str,
        needed: Capability,
        fields: &Map<String, Value>,
        wrap_ttl: Option<std::time::Duration>,
    ) -> Result<()> {
        self.authorize_held(token, path, needed, fields, wrap_ttl)
            .await
            .map(|_| ())
    }

    /// [`Core::authorize`], also answering the control group of the deciding rule when one
    /// applies to `needed` (its factors and wait): the request must then be held for approval,
    /// not served. One ACL build for both questions.
    pub async fn authorize_held(
        &self,
        token: &TokenEntry,
        path: &str,
        needed: Capability,
        fields: &Map<String, Value>,
        wrap_ttl: Option<std::time::Duration>,
    ) -> Result<Option<HeldBy>> {
        if token.is_root() {
            return Ok(None);
        }
        let acl = self.policies.acl(&token.policies).await?;
        if !(acl.allows(path, needed, policy::requires_sudo(path))
            && acl.check_parameters(path, needed, fields)
            && acl.check_wrapping(path, needed, wrap_ttl))
        {
            return Err(Error::PermissionDenied);
        }
        let held = acl
            .rule_for(path, needed)
            .and_then(|rule| rule.control_group())
            .map(|cg| HeldBy {
                factors: cg.factors_for(needed),
                ttl: cg.ttl,
            })
            .filter(|h| !h.factors.is_empty());
        Ok(held)
    }

    /// [`Core::authorize`] for a request as it arrived: its canonical path, all its fields and its
    /// wrapping.
    pub async fn authorize_request(
        &self,
        token: &TokenEntry,
        req: &ApiRequest,
        needed: Capability,
    ) -> Result<()> {
        let held = self
            .authorize_held(token, &req.path, needed, &req.data, req.wrap_ttl)
            .await?;
        if held.is_some() {
            // Requests are held (stored, replayed at collection) only below mounts; anywhere
            // else a control group is refused, never skipped.
            return Err(Error::invalid(format!(
                "a control_group in this token's policies applies to {}; leasehold holds requests for approval only below mounts, so this request is refused",
                req.path.as_str()
            )));
        }
        Ok(())
    }

    /// Root, or `sudo` on `path`: what Vault asks for orphan/periodic tokens and revoke-orphan.
    pub async fn is_privileged(&self, token: &TokenEntry, path: &str) -> Result<bool> {
        if token.is_root() {
            return Ok(true);
        }
        let acl = self.policies.acl(&token.policies).await?;
        Ok(acl.capabilities(path).contains(Capability::Sudo))
    }
}
