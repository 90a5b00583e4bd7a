//! Response wrapping, as Vault does it: a caller that sends `X-Vault-Wrap-TTL` gets, instead of
//! the response, a single-use *wrapping token* whose only power is to hand that response over
//! once (`sys/wrapping/unwrap`). A middleman that relays the wrapping token never sees the secret,
//! and if it unwraps first, the intended receiver's unwrap fails and says so.
//!
//! How it fits:
//! - `http::request` parses the headers ([`parse_headers`]) into `ApiRequest::wrap_ttl`;
//!   `Core::handle` refuses a TTL above the system max lease TTL before serving
//!   ([`Core::check_wrap_request`]), and after serving turns a 200 envelope into a wrapped one
//!   ([`Core::wrap_response`]) before the audit entry is written, so the log shows the
//!   wrapped response (the wrapping token HMAC'd like any token). Errors and 204s are not
//!   wrapped. Rules with `min_wrapping_ttl`/`max_wrapping_ttl` are enforced inside every
//!   authorization (`Core::authorize`, with the same ACL as the capability check).
//! - The wrapping token is an orphan, non-renewable, one-use token holding only the
//!   `response-wrapping` policy, with an expiry row in the lease table like any token. The
//!   response is stored sealed under `wrapping/response/<accessor>` and its creation details under
//!   `wrapping/info/<accessor>`; both are deleted whenever the token is revoked, which is what
//!   expiry, unwrap and rewrap all end in (the token store's revocation calls [`forget`]).
//! - "Exactly once" rests on the token's use count, taken atomically in storage
//!   (`TokenStore::take_use`): whoever takes the one use reads the response; everyone else is
//!   told the token is not valid.
//! - The endpoints are [`handle`] (`sys/wrapping/wrap|unwrap|rewrap`, authenticated) and
//!   [`lookup`] (no token, as in Vault, but audited).
//!
//! Past 400 lines because wrapping is one lifecycle — mint, store, claim, open, forget — whose
//! steps share the storage keys and the "exactly once" argument above; split, each part would
//! have to restate it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Map, Value};
use tracing::info;
use zeroize::Zeroizing;

use super::api::{ApiRequest, ApiResponse, Envelope, Method, WrapInfo};
use super::Core;
use crate::auth::policy::RESPONSE_WRAPPING_POLICY_NAME;
use crate::auth::token::{generate_accessor, generate_token, TokenEntry};
use crate::error::{Error, Result};
use crate::storage::sealed::SealedKv;

/// Vault's answer for a wrapping token that is unknown, used, expired or no wrapping token.
pub const INVALID_TOKEN: &str = "wrapping token is not valid or does not exist";

const INFO_PREFIX: &str = "wrapping/info/";
const RESPONSE_PREFIX: &str = "wrapping/response/";

/// The wrapping paths that name a wrapping token (in the body, or as the caller's token).
const TOKEN_PATHS: &[&str] = &["sys/wrapping/unwrap", "sys/wrapping/rewrap"];

/// Parse `X-Vault-Wrap-TTL` and `X-Vault-Wrap-Format`: `None` when the response is not to be
/// wrapped (header absent, empty or zero). The TTL is Vault's duration (seconds or a Go duration
/// string); negative, unparseable or under a second is a 400. The only format Vault knows is
/// `jwt` (signed wrapping tokens, used for replication and plugin bootstrapping); leasehold
/// issues opaque tokens only, and refuses any format rather than quietly ignore it.
pub fn parse_headers(ttl: Option<&str>, format: Option<&str>) -> Result<Option<Duration>> {
    if let Some(format) = format.map(str::trim).filter(|f| !f.is_empty()) {
        return Err(Error::invalid(format!(
            "X-Vault-Wrap-Format {format:?} is not supported: leasehold issues only opaque wrapping tokens; leave the header out"
        )));
    }
    let Some(ttl) = ttl.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if ttl.starts_with('-') {
        return Err(Error::invalid(
            "error parsing X-Vault-Wrap-TTL header: requested wrap ttl cannot be negative",
        ));
    }
    let parsed = leasehold_backend::duration::parse_duration(ttl)
        .map_err(|e| Error::invalid(format!("error parsing X-Vault-Wrap-TTL header: {e}")))?;
    if parsed.is_zero() {
        return Ok(None);
    }
    // Wrap info speaks whole seconds; a token that lives under one would be dead on arrival.
    let secs = parsed.as_secs();
    if secs == 0 {
        return Err(Error::invalid(format!(
            "error parsing X-Vault-Wrap-TTL header: {ttl:?} is shorter than one second"
        )));
    }
    Ok(Some(Duration::from_secs(secs)))
}

/// True for a token minted by [`Core::wrap_response`]: it holds `response-wrapping` and nothing
/// else (no other token can hold it: `create_token` refuses to assign it).
pub fn is_wrapping_token(entry: &TokenEntry) -> bool {
    matches!(entry.policies.as_slice(), [only] if only == RESPONSE_WRAPPING_POLICY_NAME)
}

/// True for an unwrap that names no wrapping token in its body: the caller's own token is the
/// wrapping token, and a failure to authenticate it means the token is not (or no longer)
/// valid. (A first-party rewrap is refused by policy, with a 403, as in Vault.)
pub fn is_first_party_unwrap(req: &ApiRequest, bare: &str) -> bool {
    bare == "sys/wrapping/unwrap" && body_token(req).is_none()
}

/// The body's `token`; a JSON `null` (vaultrs sends `{"token": null}` to unwrap with its own
/// token) counts as absent, as it does in Vault.
fn body_token(req: &ApiRequest) -> Option<&Value> {
    req.data.get("token").filter(|v| !v.is_null())
}

/// What is kept beside a wrapped response: `sys/wrapping/lookup` answers from it without
/// opening the response itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WrapRecord {
    creation_ttl: u64,
    creation_time: DateTime<Utc>,
    creation_path: String,
    #[serde(default)]
    wrapped_accessor: String,
    #[serde(default)]
    wrapped_lease_id: String,
}

/// A response as it would have been returned, for storage. Secret values are written out only
/// into a zeroized buffer that is sealed straight away.
#[derive(Serialize, Deserialize)]
struct StoredResponse {
    request_id: String,
    lease_id: String,
    renewable: bool,
    lease_duration: u64,
    data: Option<Map<String, Value>>,
    #[serde(serialize_with = "expose_pairs")]
    secret_data: Vec<(String, SecretString)>,
    warnings: Vec<String>,
    auth: Option<Value>,
    /// The token `auth` hands out; absent in responses stored before it was kept apart.
    #[serde(default, serialize_with = "expose_option")]
    client_token: Option<SecretString>,
    mount_type: String,
}

fn expose_option<S: Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_some(&secret.as_ref().map(ExposeSecret::expose_secret))
}

fn expose_pairs<S: Serializer>(
    pairs: &[(String, SecretString)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(pairs.iter().map(|(k, v)| (k, v.expose_secret())))
}

impl StoredResponse {
    fn from_envelope(env: Envelope, request_id: String) -> Self {
        Self {
            request_id,
            lease_id: env.lease_id,
            renewable: env.renewable,
            lease_duration: env.lease_duration,
            data: env.data,
            secret_data: env.secret_data,
            warnings: env.warnings,
            auth: env.auth,
            client_token: env.client_token,
            mount_type: env.mount_type,
        }
    }

    fn into_envelope(self) -> Envelope {
        Envelope {
            lease_id: self.lease_id,
            renewable: self.renewable,
            lease_duration: self.lease_duration,
            data: self.data,
            secret_data: self.secret_data,
            warnings: self.warnings,
            auth: self.auth,
            client_token: self.client_token,
            mount_type: self.mount_type,
            request_id: Some(self.request_id),
            ..Envelope::default()
        }
    }

    fn seal_ready(&self) -> Result<Zeroizing<Vec<u8>>> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|e| Error::Internal(format!("wrapped response: {e}")))
    }
}

/// Delete what a wrapping token guards. Called for every revoked token (a no-op for the
/// others); storage deletes of absent keys succeed.
pub(crate) async fn forget(kv: &SealedKv, accessor: &str) -> Result<()> {
    kv.delete(&response_key(accessor)).await?;
    kv.delete(&info_key(accessor)).await?;
    Ok(())
}

fn info_key(accessor: &str) -> String {
    format!("{INFO_PREFIX}{accessor}")
}

fn response_key(accessor: &str) -> String {
    format!("{RESPONSE_PREFIX}{accessor}")
}

/// The accessor Vault puts in `wrapped_accessor`: the token's for a token response, the secret
/// id's for an AppRole secret-id response.
fn wrapped_accessor(env: &Envelope) -> String {
    let from_auth = env
        .auth
        .as_ref()
        .and_then(|a| a.get("accessor"))
        .and_then(Value::as_str);
    let from_approle = (env.auth.is_none() && env.mount_type == "approle")
        .then(|| {
            env.data
                .as_ref()
                .and_then(|d| d.get("secret_id_accessor"))
                .and_then(Value::as_str)
        })
        .flatten();
    from_auth.or(from_approle).unwrap_or_default().to_owned()
}

fn invalid_token() -> Error {
    Error::invalid(INVALID_TOKEN)
}

/// The wrapping token a request names: `token` in the body, else the caller's own token.
fn named_token(req: &ApiRequest) -> Result<SecretString> {
    match body_token(req) {
        Some(Value::String(t)) if !t.trim().is_empty() => {
            Ok(SecretString::from(t.trim().to_owned()))
        }
        Some(_) => Err(Error::invalid(
            "\"token\" must be a non-empty string holding a wrapping token",
        )),
        None => req.token.clone().ok_or_else(invalid_token),
    }
}

impl Core {
    /// Before anything is served: refuse a wrap TTL above the system max lease TTL. Vault's
    /// source (as read in OpenBao) sets no bound here; a wrapping token that outlives every
    /// lease is a secret left lying about for longer than the operator allows anything to
    /// live, so leasehold refuses it, as the issue asks.
    pub(crate) fn check_wrap_request(&self, req: &ApiRequest) -> Result<()> {
        let Some(ttl) = req.wrap_ttl else {
            return Ok(());
        };
        let max = self.mounts.system_ttls().max_ttl;
        if ttl > max {
            return Err(Error::invalid(format!(
                "requested wrap ttl of {}s exceeds the system max lease ttl of {}s",
                ttl.as_secs(),
                max.as_secs()
            )));
        }
        Ok(())
    }

    /// For unwrap and rewrap, before the caller is authenticated (the wrapping token may be
    /// the caller): a token that is not a live wrapping token gets Vault's 400, not a 403.
    pub(crate) async fn check_named_wrapping_token(
        &self,
        req: &ApiRequest,
        bare: &str,
    ) -> Result<()> {
        if !TOKEN_PATHS.contains(&bare) {
            return Ok(());
        }
        let token = named_token(req)?;
        match self
            .tokens
            .lookup(token.expose_secret(), self.clock.now())
            .await?
        {
            Some(entry) if is_wrapping_token(&entry) => {
                // An approval request's token: its one use is kept until it can be collected.
                match self.approvals.request(&entry.accessor).await? {
                    Some(request) => super::approvals::collect::check_collectable(
                        &request,
                        bare,
                        self.clock.now(),
                    ),
                    None => Ok(()),
                }
            }
            _ => Err(invalid_token()),
        }
    }

    /// Wrap `result` if the request asked for it: a 200 envelope becomes a wrapping token;
    /// errors, empty answers (204, 202) and already wrapped answers pass as they are; a body
    /// outside the envelope (metrics text) cannot be wrapped and is refused. If wrapping fails,
    /// a credential the response carried is revoked: nobody will ever see it.
    pub(crate) async fn wrap_response(
        &self,
        req: &ApiRequest,
        caller: Option<&TokenEntry>,
        result: Result<ApiResponse>,
    ) -> Result<ApiResponse> {
        let Some(ttl) = req.wrap_ttl else {
            return result;
        };
        let env = match result {
            Ok(ApiResponse::Ok(env) | ApiResponse::AcceptedEnvelope(env))
                if env.wrap_info.is_none() =>
            {
                env
            }
            Ok(ApiResponse::Raw { .. } | ApiResponse::Text { .. }) => {
                return Err(Error::invalid(format!(
                    "response wrapping is not supported on {:?}",
                    req.route_path()
                )))
            }
            other => return other,
        };
        let lease_id = env.lease_id.clone();
        let record = WrapRecord {
            creation_ttl: ttl.as_secs(),
            creation_time: self.leases.now_ms(),
            creation_path: req.route_path().to_owned(),
            wrapped_accessor: wrapped_accessor(&env),
            wrapped_lease_id: lease_id.clone(),
        };
        let request_id = env
            .request_id
            .clone()
            .unwrap_or_else(|| req.request_id.clone());
        let display_name = caller.map(|c| c.display_name.clone()).unwrap_or_default();
        let wrapped = async {
            let response = StoredResponse::from_envelope(env, request_id).seal_ready()?;
            self.mint_wrapping_token(display_name, record, &response)
                .await
        };
        match wrapped.await {
            Ok(info) => Ok(wrapped_envelope(info)),
            Err(e) => {
                // A token the response carried is left to its TTL: it may be the caller's own
                // (a renewal answers with an auth block too), which must not be revoked here.
                if !lease_id.is_empty() {
                    let _ = self.leases.revoke(&lease_id, true).await;
                }
                Err(e)
            }
        }
    }

    /// A wrapping token for an approval request on `path`: it guards no response (the request
    /// is stored by `crate::approval`); unwrapping it once approved replays the request.
    pub(crate) async fn mint_control_group_token(
        &self,
        display_name: String,
        path: &str,
        ttl: Duration,
    ) -> Result<WrapInfo> {
        let record = WrapRecord {
            creation_ttl: ttl.as_secs().max(1),
            creation_time: self.leases.now_ms(),
            creation_path: path.to_owned(),
            wrapped_accessor: String::new(),
            wrapped_lease_id: String::new(),
        };
        self.mint_wrapping_token(display_name, record, b"").await
    }

    /// Mint a wrapping token for `response` (serialized [`StoredResponse`]) with `record`'s TTL,
    /// path and accessor. Vault: one use, TTL and explicit max both the wrap TTL, an orphan,
    /// not renewable, `response-wrapping` alone (no `default`).
    async fn mint_wrapping_token(
        &self,
        display_name: String,
        mut record: WrapRecord,
        response: &[u8],
    ) -> Result<WrapInfo> {
        let now = self.leases.now_ms();
        record.creation_time = now;
        let ttl = Duration::from_secs(record.creation_ttl);
        let expire = now
            + chrono::Duration::from_std(ttl)
                .map_err(|_| Error::invalid("wrap ttl is too long"))?;
        let entry = TokenEntry {
            accessor: generate_accessor(),
            policies: vec![RESPONSE_WRAPPING_POLICY_NAME.to_owned()],
            display_name,
            path: record.creation_path.clone(),
            creation_time: now,
            creation_ttl: record.creation_ttl,
            expire_time: Some(expire),
            max_expire_time: Some(expire),
            explicit_max_ttl: record.creation_ttl,
            num_uses: 1,
            renewable: false,
            orphan: true,
            ..TokenEntry::default()
        };
        let token = generate_token();
        let stored = async {
            let kv = self.tokens.kv();
            kv.put(&response_key(&entry.accessor), response).await?;
            kv.put_json(&info_key(&entry.accessor), &record).await?;
            self.tokens.insert(&token, &entry).await?;
            self.leases
                .insert_token_lease(&entry.lease_id(), &entry.accessor, expire, expire, false)
                .await
        };
        if let Err(e) = stored.await {
            // Whatever got written goes: the records, the token, its expiry row.
            let _ = self.revoke_token(&entry.accessor, false, true).await;
            return Err(e);
        }
        info!(token.accessor = %entry.accessor, wrap.path = %record.creation_path, ttl = record.creation_ttl, "wrapped the response of {} behind token {}", record.creation_path, entry.accessor);
        Ok(WrapInfo {
            token,
            accessor: entry.accessor,
            ttl: record.creation_ttl,
            creation_time: now,
            creation_path: record.creation_path,
            wrapped_accessor: record.wrapped_accessor,
            wrapped_lease_id: record.wrapped_lease_id,
        })
    }

    /// Take the one use of the wrapping token a request names (`token` in the body), or, when
    /// it names none, accept the caller's: that use was taken when the caller was
    /// authenticated. Either way the winner of that atomic use is the only one to get here
    /// with a given token. Returns the wrapping token's accessor.
    async fn claim_wrapping_token(&self, req: &ApiRequest, caller: &TokenEntry) -> Result<String> {
        let entry = match body_token(req) {
            None => caller.clone(),
            Some(_) => {
                let token = named_token(req)?;
                // A use is only taken from a live token: lookup first (take_use does not look
                // at expiry).
                let live = self
                    .tokens
                    .lookup(token.expose_secret(), self.clock.now())
                    .await?
                    .filter(is_wrapping_token)
                    .ok_or_else(invalid_token)?;
                let taken = self
                    .tokens
                    .take_use(token.expose_secret())
                    .await?
                    .ok_or_else(invalid_token)?;
                if taken.accessor != live.accessor {
                    return Err(invalid_token());
                }
                taken
            }
        };
        if !is_wrapping_token(&entry) {
            return Err(invalid_token());
        }
        Ok(entry.accessor)
    }

    /// Read what wrapping token `accessor` guards, then revoke the token (which deletes it).
    pub(crate) async fn open_wrapped(
        &self,
        accessor: &str,
    ) -> Result<(WrapRecord, Zeroizing<Vec<u8>>)> {
        let kv = self.tokens.kv();
        let record: Option<WrapRecord> = kv.get_json(&info_key(accessor)).await?;
        let response = kv.get(&response_key(accessor)).await?;
        self.revoke_token(accessor, false, true).await?;
        match (record, response) {
            (Some(r), Some(resp)) => Ok((r, resp)),
            // Expired and reaped between the check and now.
            _ => Err(invalid_token()),
        }
    }
}

fn wrapped_envelope(info: WrapInfo) -> ApiResponse {
    ApiResponse::Ok(Envelope {
        wrap_info: Some(info),
        ..Envelope::default()
    })
}

/// `sys/wrapping/<rest>` for an authenticated caller: `wrap`, `unwrap`, `rewrap` (and `lookup`,
/// though it is normally answered before authentication).
pub async fn handle(
    core: &Core,
    req: &ApiRequest,
    caller: &TokenEntry,
    rest: &str,
) -> Result<ApiResponse> {
    let write = req.method == Method::Write;
    match rest {
        "wrap" if write => wrap(req),
        "unwrap" if write => unwrap(core, req, caller).await,
        "rewrap" if write => rewrap(core, req, caller).await,
        "lookup" if write || req.method == Method::Get => lookup(core, req).await,
        "wrap" | "unwrap" | "rewrap" | "lookup" => Err(Error::UnsupportedOperation),
        _ => Err(Error::NoRoute(format!("sys/wrapping/{rest}"))),
    }
}

/// `sys/wrapping/wrap`: the body's fields, to be wrapped by [`Core::wrap_response`].
fn wrap(req: &ApiRequest) -> Result<ApiResponse> {
    if req.wrap_ttl.is_none() {
        return Err(Error::invalid(
            "endpoint requires response wrapping to be used",
        ));
    }
    Ok(ApiResponse::data("system", req.data.clone()))
}

/// `sys/wrapping/unwrap`: the response as it would have been returned, once.
async fn unwrap(core: &Core, req: &ApiRequest, caller: &TokenEntry) -> Result<ApiResponse> {
    let accessor = core.claim_wrapping_token(req, caller).await?;
    if let Some(request) = core.approvals.request(&accessor).await? {
        return core.collect(req, &accessor, request).await;
    }
    let (_, response) = core.open_wrapped(&accessor).await?;
    let stored: StoredResponse = serde_json::from_slice(&response)
        .map_err(|e| Error::Internal(format!("wrapped response of {accessor}: {e}")))?;
    info!(token.accessor = %accessor, "unwrapped the response behind token {accessor}");
    Ok(ApiResponse::Ok(stored.into_envelope()))
}

/// `sys/wrapping/rewrap`: the same response behind a new wrapping token with the original
/// creation TTL (or the request's wrap TTL, if shorter) and path; the old token is revoked.
async fn rewrap(core: &Core, req: &ApiRequest, caller: &TokenEntry) -> Result<ApiResponse> {
    let accessor = core.claim_wrapping_token(req, caller).await?;
    let (mut record, response) = core.open_wrapped(&accessor).await?;
    if let Some(ttl) = req.wrap_ttl {
        record.creation_ttl = record.creation_ttl.min(ttl.as_secs());
    }
    let info = core
        .mint_wrapping_token(caller.display_name.clone(), record, &response)
        .await?;
    Ok(wrapped_envelope(info))
}

/// `sys/wrapping/lookup` (no authentication, as in Vault): creation TTL, time and path of the
/// wrapping token in the body (or sent as `X-Vault-Token`). Does not use the token up.
pub async fn lookup(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if !matches!(req.method, Method::Write | Method::Get) {
        return Err(Error::UnsupportedOperation);
    }
    if body_token(req).is_none() && req.token.is_none() {
        return Err(Error::invalid("missing \"token\" value in input"));
    }
    let token = named_token(req)?;
    let entry = core
        .tokens
        .lookup(token.expose_secret(), core.clock.now())
        .await?
        .filter(is_wrapping_token)
        .ok_or_else(invalid_token)?;
    let record: WrapRecord = core
        .tokens
        .kv()
        .get_json(&info_key(&entry.accessor))
        .await?
        .ok_or_else(invalid_token)?;
    let mut data = Map::new();
    data.insert("creation_ttl".into(), json!(record.creation_ttl));
    data.insert(
        "creation_time".into(),
        json!(record
            .creation_time
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
    );
    data.insert("creation_path".into(), json!(record.creation_path));
    Ok(ApiResponse::data("system", data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let ttl = |v| parse_headers(Some(v), None);
        assert_eq!(ttl("60").unwrap(), Some(Duration::from_secs(60)));
        assert_eq!(ttl("5m").unwrap(), Some(Duration::from_secs(300)));
        assert_eq!(ttl("1h30m").unwrap(), Some(Duration::from_secs(5400)));
        assert_eq!(ttl(" 0 ").unwrap(), None);
        assert_eq!(ttl("0s").unwrap(), None);
        assert_eq!(ttl("").unwrap(), None);
        assert_eq!(parse_headers(None, None).unwrap(), None);
        for bad in ["-5", "-1m", "soon", "5 minutes", "500ms"] {
            let e = ttl(bad).unwrap_err().to_string();
            assert!(e.contains("X-Vault-Wrap-TTL"), "{bad}: {e}");
        }
        assert!(ttl("-5").unwrap_err().to_string().contains("negative"));
        let e = parse_headers(Some("60"), Some("jwt")).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(_)));
        assert!(e.to_string().contains("X-Vault-Wrap-Format"));
        assert!(parse_headers(None, Some("uuid")).is_err());
        assert_eq!(
            parse_headers(Some("60"), Some(" ")).unwrap(),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn only_a_lone_response_wrapping_policy_makes_a_wrapping_token() {
        let with = |p: &[&str]| TokenEntry {
            policies: p.iter().map(|s| s.to_string()).collect(),
            ..TokenEntry::default()
        };
        assert!(is_wrapping_token(&with(&["response-wrapping"])));
        assert!(!is_wrapping_token(&with(&["default", "response-wrapping"])));
        assert!(!is_wrapping_token(&with(&["default"])));
        assert!(!is_wrapping_token(&with(&[])));
    }

    #[test]
    fn wrapped_accessor_is_the_token_or_the_secret_id() {
        let token = Envelope {
            auth: Some(json!({"accessor": "tok-acc", "client_token": "x"})),
            mount_type: "token".into(),
            ..Envelope::default()
        };
        assert_eq!(wrapped_accessor(&token), "tok-acc");
        let mut data = Map::new();
        data.insert("secret_id_accessor".into(), json!("sid-acc"));
        let approle = Envelope {
            data: Some(data.clone()),
            mount_type: "approle".into(),
            ..Envelope::default()
        };
        assert_eq!(wrapped_accessor(&approle), "sid-acc");
        let elsewhere = Envelope {
            data: Some(data),
            mount_type: "database".into(),
            ..Envelope::default()
        };
        assert_eq!(wrapped_accessor(&elsewhere), "");
    }

    #[test]
    fn stored_response_round_trips_with_its_secrets() {
        let env = Envelope {
            lease_id: "database/creds/ro/abc".into(),
            renewable: true,
            lease_duration: 60,
            secret_data: vec![("password".into(), SecretString::from("s3cret"))],
            mount_type: "database".into(),
            ..Envelope::default()
        };
        let bytes = StoredResponse::from_envelope(env, "req-1".into())
            .seal_ready()
            .unwrap();
        let back: StoredResponse = serde_json::from_slice(&bytes).unwrap();
        let env = back.into_envelope();
        assert_eq!(env.lease_id, "database/creds/ro/abc");
        assert_eq!(env.request_id.as_deref(), Some("req-1"));
        assert_eq!(env.secret_data[0].1.expose_secret(), "s3cret");
        assert!(env.wrap_info.is_none());
    }
}
