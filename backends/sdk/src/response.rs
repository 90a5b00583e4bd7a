//! What a backend answers. A plain response carries data and warnings; a credential-issuing
//! response carries a [`PlannedSecret`] instead, and the core finishes the issue write-ahead.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Map, Value};

/// A backend's answer. `None` from a handler means "nothing" (204, or 404 on a read).
#[derive(Debug, Default)]
pub struct Response {
    /// The `data` object of the envelope.
    pub data: Option<Map<String, Value>>,
    /// Vault's `warnings`.
    pub warnings: Vec<String>,
    /// Set when this request issues a credential; `data` is then ignored.
    pub secret: Option<PlannedSecret>,
    /// Set by an auth method's login: the core creates a token with these properties.
    pub auth: Option<AuthGrant>,
}

impl Response {
    /// A response with data only.
    pub fn data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    /// A response issuing the planned secret.
    pub fn issue(secret: PlannedSecret) -> Self {
        Self {
            secret: Some(secret),
            ..Self::default()
        }
    }

    /// A login response granting a token.
    pub fn login(grant: AuthGrant) -> Self {
        Self {
            auth: Some(grant),
            ..Self::default()
        }
    }

    /// Add a warning.
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }
}

/// An account the backend has decided on but not created. The core records a lease for it
/// (state `creating`) before calling [`crate::Backend::create`], so a crash at any point leaves a
/// row from which [`crate::Backend::revoke`] can destroy whatever was made.
#[derive(Debug, Clone)]
pub struct PlannedSecret {
    /// The secret kind within the backend (`creds`), passed back on create/renew/revoke.
    pub kind: String,
    /// Role the secret was issued for, kept on the lease for audit and workload revocation.
    pub role: String,
    /// Name of the account that will exist on the target (user name), for audit and reconcile.
    pub account: String,
    /// Everything `create`, `renew` and `revoke` need, owned by the backend's own typed struct.
    /// Never holds a password: it is sealed at rest but lives for the lease's whole life.
    pub internal: Value,
    /// The role's TTL; zero means the mount default.
    pub ttl: Duration,
    /// The role's max TTL; zero means the mount max. It can only lower the mount max.
    pub max_ttl: Duration,
    /// Whether the lease may be renewed.
    pub renewable: bool,
    /// The role refuses callers who do not say why they need the credential (`purpose`).
    pub require_purpose: bool,
    /// The approval tier the role names (`approval_tier`, see [`crate::approval`]): `Some`
    /// means the core must not issue this plan until the tier lets it.
    pub approval_tier: Option<String>,
}

/// The secret values of a created account, returned once to the caller and never stored.
#[derive(Debug, Default)]
pub struct Credentials {
    /// Fields safe to log (`username`).
    pub data: Map<String, Value>,
    /// Fields that are secrets (`password`); exposed only when the HTTP response is written.
    pub secrets: Vec<(String, SecretString)>,
    /// Replacement internal data, when creation learned something revoke will need (an access
    /// key id): the core stores it on the lease, sealed, as it marks the lease active. Never a
    /// secret value.
    pub internal: Option<Value>,
}

/// What a successful login grants; the core turns it into a token (an orphan, as Vault's
/// auth-method logins are) and answers with Vault's `auth` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthGrant {
    /// Policies besides `default` (added unless `no_default_policy`).
    pub policies: Vec<String>,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
    /// Token TTL; zero means the auth mount's default.
    pub ttl: Duration,
    /// Token max TTL; zero means the auth mount's max.
    pub max_ttl: Duration,
    /// Periodic token period; zero for none.
    pub period: Duration,
    /// Uses before the token is revoked; zero for unlimited.
    pub num_uses: u32,
    /// Display name, before the mount prefix is added (`approle`, or the JWT user claim).
    pub display_name: String,
    /// `auth.metadata`, also kept on the token (`role_name`).
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The workload identity the token acts for (`approle/<role>`, `jwt/<role>/<subject>`),
    /// recorded on every lease it obtains so a compromised workload can be revoked in one call.
    pub workload: String,
    /// CIDR blocks the token may be used from; empty for anywhere.
    pub bound_cidrs: Vec<String>,
}
