//! The first start and root-token recovery: the "initialised" marker that makes a root token be
//! minted once, and `leasehold operator generate-root`, which mints one with the seal key.

use secrecy::{ExposeSecret, SecretString};
use tracing::info;

use super::{load_seal, open_storage, DevOptions};
use crate::auth::TokenStore;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::storage::sealed::SealedKv;

/// Storage key of the "initialised" marker. Absent: nothing was ever set up here. `pending`: a
/// first start minted a root token but stopped before it was shown. `done`: the root token was
/// shown (or the store predates the marker); no start mints one again.
pub const INIT_MARKER: &str = "core/initialized";

/// The marker's value.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum InitState {
    Pending,
    Done,
}

/// What a first start creates, if it is missing: the root token (always in dev mode, unless
/// a dev storage file's kept token is still live) and the cluster id. A new root token is passed to `announce` and
/// returned with the cluster id. The caller holds the `core/init` lock.
///
/// A root token is minted outside dev mode only when the marker says nothing was set up yet (or
/// a first start stopped before showing its token), so revoking the root token and restarting
/// never mints another. The order makes a crash at any point safe:
/// 1. marker `pending` is written, then the token is stored;
/// 2. the token is shown (`announce`), then the marker becomes `done`.
///
/// A start that finds `pending` knows no token was ever served (serving begins after `done`),
/// so it deletes whatever tokens the interrupted start stored and mints one afresh: never two
/// live root tokens, never none. A crash after showing the token but before `done` means the
/// shown token is replaced by the next start's one. A store with tokens and no marker predates
/// the marker: it is marked `done` and nothing is minted.
pub(super) async fn first_start(
    kv: &SealedKv,
    tokens: &TokenStore,
    dev: Option<&DevOptions>,
    clock: &SharedClock,
    announce: impl FnOnce(&SecretString),
) -> anyhow::Result<(Option<SecretString>, String)> {
    let mut new_root_token = None;
    if let Some(dev) = dev {
        // A dev storage file restarted with its kept token: that token is still there.
        let kept = match &dev.root_token {
            Some(t) => tokens
                .lookup(t.expose_secret(), clock.now())
                .await?
                .is_some(),
            None => false,
        };
        let token = match (&dev.root_token, kept) {
            (Some(t), true) => t.clone(),
            _ => {
                tokens
                    .create_root(dev.root_token.clone(), clock.now())
                    .await?
                    .0
            }
        };
        announce(&token);
        new_root_token = Some(token);
        kv.put_json(INIT_MARKER, &InitState::Done).await?;
    } else {
        let state: Option<InitState> = kv.get_json(INIT_MARKER).await?;
        let mint = match state {
            Some(InitState::Done) => false,
            None if tokens.any_tokens().await? => {
                info!("storage predates the initialised marker; marking it initialised");
                kv.put_json(INIT_MARKER, &InitState::Done).await?;
                false
            }
            None => true,
            Some(InitState::Pending) => {
                tracing::warn!(
                    "the last first start stopped before its root token was shown; \
                     replacing that token"
                );
                for accessor in tokens.accessors().await? {
                    tokens.delete(&accessor).await?;
                }
                true
            }
        };
        if mint {
            kv.put_json(INIT_MARKER, &InitState::Pending).await?;
            let token = tokens.create_root(None, clock.now()).await?.0;
            announce(&token);
            kv.put_json(INIT_MARKER, &InitState::Done).await?;
            new_root_token = Some(token);
        }
    }
    let cluster_id = match kv.get("core/cluster-id").await? {
        Some(id) => String::from_utf8_lossy(&id).into_owned(),
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            kv.put("core/cluster-id", id.as_bytes()).await?;
            id
        }
    };
    Ok((new_root_token, cluster_id))
}

/// `leasehold operator generate-root`: mint a new root token on the storage `settings` name,
/// opened with the seal key from the same settings. Refuses storage that was never initialised
/// and a key that does not open it. The token is returned for the caller to show once; its
/// accessor is logged (never the token).
pub async fn generate_root(settings: &Settings) -> anyhow::Result<SecretString> {
    let seal = load_seal(settings, None)?;
    let (storage, _) = open_storage(settings, None).await?;
    // The keyring first, as a server start does (its background rewrite is the server's job).
    crate::storage::keyring::load(&seal, &storage, &crate::clock::SystemClock)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the storage with this seal key (is seal.key_file the server's key?): {e}"
            )
        })?;
    let kv = SealedKv::new(storage, seal);
    // Reading the marker proves the key: a wrong key cannot open it.
    let state: Option<InitState> = kv.get_json(INIT_MARKER).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot read the storage with this seal key (is seal.key_file the server's key?): {e}"
        )
    })?;
    if state.is_none() {
        anyhow::bail!(
            "this storage was never initialised (no marker): start the server once first, \
             which creates the root token"
        );
    }
    let tokens = TokenStore::open(kv.clone()).await?;
    let now = crate::clock::Clock::now(&SystemClock);
    let token = tokens.create_root(None, now).await?;
    let accessor = tokens
        .lookup(token.0.expose_secret(), now)
        .await?
        .map(|e| e.accessor)
        .unwrap_or_default();
    // Mark it done too: a generate-root over an interrupted first start ends that start.
    kv.put_json(INIT_MARKER, &InitState::Done).await?;
    tracing::warn!(
        token.accessor = %accessor,
        "operator generate-root: a new root token was minted with the seal key"
    );
    Ok(token.0)
}
