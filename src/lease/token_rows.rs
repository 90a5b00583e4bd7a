//! Token expiry rows: a token with a TTL has a row in the lease table (kind
//! [`TOKEN_LEASE_KIND`](super::TOKEN_LEASE_KIND)), so tokens expire through the same queue,
//! worker and retrying destruction path as secrets. Such a row names no account on a target and
//! belongs to no mount: the engine hands it, by its kind, to the [`TokenRevoker`] it was built
//! with (the token store), which revokes the token, its descendants and every lease obtained
//! with them.

use async_trait::async_trait;
use serde::Deserialize;

use super::engine::LeaseEngine;
use crate::storage::LeaseRecord;

/// Ends tokens whose expiry rows come due (or are revoked); implemented by the token store.
#[async_trait]
pub trait TokenRevoker: Send + Sync {
    /// Revoke the token `accessor`, its descendants and every lease obtained with them. `leases`
    /// is the engine itself, for those leases. An error (some lease not destroyed yet) leaves
    /// the row `revoking`, retried like any failed destruction; it says whose fault that is
    /// ([`DestroyError::TokenTree`]).
    async fn revoke_expired(
        &self,
        accessor: &str,
        leases: &LeaseEngine,
    ) -> Result<(), DestroyError>;
}

/// What a token expiry row's sealed internal data holds.
#[derive(Deserialize)]
struct TokenRowData {
    accessor: String,
}

use super::destroy_error::DestroyError;

impl LeaseEngine {
    /// End a token expiry row: revoke its token through the token revoker. A row whose internal
    /// data does not name its token is an error, recorded and retried like a failed destruction
    /// (never a silent success that would leave the token alive).
    pub(super) async fn end_token_row(&self, lease: &LeaseRecord) -> Result<(), DestroyError> {
        let accessor = self
            .token_row_accessor(lease)
            .await
            .map_err(DestroyError::Sealed)?;
        self.tokens.revoke_expired(&accessor, self).await
    }

    /// The accessor a token row's internal data names; it must be the row's own token.
    async fn token_row_accessor(&self, lease: &LeaseRecord) -> Result<String, String> {
        let unreadable = |why: String| {
            format!(
                "token expiry row {} has internal data that does not name its token ({why}); \
                 token {} is not revoked by this row",
                lease.id, lease.token_accessor
            )
        };
        let internal = self
            .open_internal(lease)
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        // The decode error's category and position only: its text may quote the data.
        let data: TokenRowData = serde_json::from_slice(&internal).map_err(|e| {
            unreadable(format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if data.accessor.is_empty() || data.accessor != lease.token_accessor {
            return Err(unreadable("accessor missing or not the row's token".into()));
        }
        Ok(data.accessor)
    }
}

/// A revoker for engines under test that never see a token row.
#[cfg(test)]
pub(crate) struct NoTokens;

#[cfg(test)]
#[async_trait]
impl TokenRevoker for NoTokens {
    async fn revoke_expired(
        &self,
        accessor: &str,
        _leases: &LeaseEngine,
    ) -> Result<(), DestroyError> {
        Err(DestroyError::TokenTree {
            error: format!("no token revoker here (token {accessor})"),
            fault: super::Fault::Ours,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::Utc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::lease::engine::{LeaseSettings, MountResolver, ResolvedMount, TOKEN_LEASE_KIND};
    use crate::lease::LeaseState;
    use crate::storage::seal::Aad;
    use crate::storage::seal::Seal;
    use crate::storage::sqlite::SqliteStorage;
    use crate::storage::Storage;

    struct NoMounts;

    impl MountResolver for NoMounts {
        fn resolve(&self, _uuid: &str) -> Option<ResolvedMount> {
            None
        }
    }

    /// Records the tokens it is asked to revoke.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait]
    impl TokenRevoker for Recorder {
        async fn revoke_expired(
            &self,
            accessor: &str,
            _: &LeaseEngine,
        ) -> Result<(), DestroyError> {
            self.0.lock().unwrap().push(accessor.to_owned());
            Ok(())
        }
    }

    fn engine(revoker: Arc<Recorder>) -> LeaseEngine {
        let storage: Arc<dyn Storage> =
            Arc::new(SqliteStorage::open(std::path::Path::new(":memory:")).unwrap());
        LeaseEngine::new(
            storage,
            Seal::generate(),
            Arc::new(ManualClock::at(Utc::now())),
            Arc::new(NoMounts),
            revoker,
            LeaseSettings::default(),
        )
    }

    #[tokio::test]
    async fn a_token_row_is_ended_by_the_token_revoker() {
        let revoker = Arc::new(Recorder::default());
        let engine = engine(revoker.clone());
        let expire = engine.now();
        let id = "auth/token/create/acc1";
        engine
            .insert_token_lease(id, "acc1", expire, expire, false)
            .await
            .unwrap();
        engine.destroy(id).await.unwrap();
        assert_eq!(*revoker.0.lock().unwrap(), vec!["acc1".to_owned()]);
        let row = engine.get(id).await.unwrap().unwrap();
        assert_eq!(row.state, LeaseState::Revoked);
    }

    /// Internal data that does not name the token fails the destruction (retried, counted),
    /// where it used to "succeed" and leave the token alive.
    #[tokio::test]
    async fn a_token_row_that_does_not_name_its_token_fails_and_is_retried() {
        let revoker = Arc::new(Recorder::default());
        let engine = engine(revoker.clone());
        let id = "auth/token/create/acc2";
        engine
            .insert_token_lease(id, "acc2", engine.now(), engine.now(), false)
            .await
            .unwrap();
        let mut row = engine.get(id).await.unwrap().unwrap();
        assert_eq!(row.kind, TOKEN_LEASE_KIND);
        row.internal = engine
            .seal
            .seal(br#"{"secret":"do-not-log"}"#, &Aad::lease(id))
            .unwrap();
        assert!(engine
            .update_row(&mut row, LeaseState::Active)
            .await
            .unwrap());
        let error = engine.destroy(id).await.unwrap_err().to_string();
        assert!(error.contains("does not name its token"), "{error}");
        assert!(!error.contains("do-not-log"), "{error}");
        assert!(revoker.0.lock().unwrap().is_empty());
        let row = engine.get(id).await.unwrap().unwrap();
        assert_eq!(row.state, LeaseState::Revoking);
        assert_eq!(row.attempts, 1);
        assert_eq!(row.last_error.as_deref(), Some(error.as_str()));
    }
}
