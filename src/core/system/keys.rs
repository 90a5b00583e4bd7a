//! `sys/rotate` and `sys/key-status`: the keyring's terms (see `storage::keyring`).

use serde_json::{json, Value};

use crate::core::api::{ApiRequest, ApiResponse, Envelope, Method};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::storage::keyring;

/// `PUT`/`POST sys/rotate` (sudo, in the sudo list): add a key term that new values are sealed
/// with at once; older values are re-sealed with it in the background. 204, as Vault.
pub async fn rotate(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if req.method != Method::Write {
        return Err(Error::UnsupportedOperation);
    }
    let seal = core.leases.seal().clone();
    let storage = core.leases.storage().clone();
    let term = keyring::rotate(&seal, &storage, core.clock.as_ref()).await?;
    tracing::info!(term, "seal key rotated");
    keyring::spawn_rewrite(seal, storage);
    Ok(ApiResponse::NoContent)
}

/// `GET sys/key-status`: Vault's `{term, install_time, encryptions}`. `encryptions` counts this
/// node's encryptions under the term since it started (Vault's is a cluster-wide estimate).
pub async fn status(core: &Core, req: &ApiRequest) -> Result<ApiResponse> {
    if req.method != Method::Get {
        return Err(Error::UnsupportedOperation);
    }
    let status = keyring::status(core.leases.seal(), core.leases.storage()).await?;
    let data = json!({
        "term": status.term,
        "install_time": status
            .install_time
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "encryptions": status.encryptions,
    });
    let Value::Object(data) = data else {
        return Err(Error::Internal("key status is not an object".into()));
    };
    Ok(ApiResponse::Ok(Envelope {
        data: Some(data),
        mount_type: "system".into(),
        data_at_top_level: true,
        ..Default::default()
    }))
}
