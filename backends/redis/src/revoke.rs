//! Destroying a user, the one destruction path (revocation, expiry, and clean-up after a failed
//! creation all come here).
//!
//! 1. `ACL SETUSER name off resetpass`: no new connection can authenticate as it;
//! 2. `CLIENT KILL USER name`: its open connections end (while the user still exists: Redis
//!    answers "No such user" once it is gone);
//! 3. `ACL DELUSER name` (Redis also disconnects the user's clients itself here);
//! 4. success only once `ACL GETUSER` finds no user and `CLIENT LIST` no connection of it.
//!
//! A user that does not exist is success: deletion is idempotent. Revocation statements are not
//! run, as in Vault: there is nothing else to undo.
//!
//! The sessions ended are what `CLIENT KILL USER` answers (the connections it closed). A user that
//! does not exist, or vanished before the kill (another revocation), reports `None` (unknown).

use std::time::Duration;

use leasehold_database::{DriverError, Revoked};

use crate::driver::{Failure, RedisDriver};
use crate::error::{from_redis, is_no_such_user};

/// How long to wait for killed connections to be gone.
const SESSION_END_TIMEOUT: Duration = Duration::from_secs(10);
const SESSION_POLL: Duration = Duration::from_millis(20);

impl RedisDriver {
    /// Destroy `name`; see the module docs.
    pub(crate) async fn destroy_user(&self, name: &str) -> Result<Revoked, DriverError> {
        if !self.user_exists(name).await? {
            tracing::debug!("user {name} does not exist: nothing to revoke");
            return Ok(Revoked::unknown());
        }
        // Should another revocation delete the user meanwhile, this re-creates it disabled and
        // without a password; the DELUSER below removes it again.
        let _: () = self
            .run(
                redis::cmd("ACL")
                    .arg("SETUSER")
                    .arg(name)
                    .arg("off")
                    .arg("resetpass"),
                "cannot disable the user",
            )
            .await?;
        let revoked = match self
            .run_raw::<i64>(redis::cmd("CLIENT").arg("KILL").arg("USER").arg(name))
            .await
        {
            Ok(n) => Revoked::sessions(u64::try_from(n).unwrap_or(0)),
            Err(Failure::Command(e)) if is_no_such_user(&e) => Revoked::unknown(),
            Err(Failure::Command(e)) => {
                return Err(from_redis("cannot end the user's connections", &e))
            }
            Err(Failure::Connect(e)) => return Err(e),
        };
        let _: i64 = self
            .run(
                redis::cmd("ACL").arg("DELUSER").arg(name),
                "cannot delete the user",
            )
            .await?;

        let deadline = tokio::time::Instant::now() + SESSION_END_TIMEOUT;
        loop {
            let exists = self.user_exists(name).await?;
            let sessions = self.sessions(name).await?;
            if !exists && sessions == 0 {
                return Ok(revoked);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DriverError::NotRemoved(format!(
                    "user {name:?} still exists ({exists}) or has {sessions} connection(s) after ACL DELUSER"
                )));
            }
            tokio::time::sleep(SESSION_POLL).await;
        }
    }

    /// How many connections `CLIENT LIST` shows authenticated as `username`.
    async fn sessions(&self, username: &str) -> Result<usize, DriverError> {
        let list: String = self
            .run(redis::cmd("CLIENT").arg("LIST"), "cannot list connections")
            .await?;
        let field = format!("user={username}");
        Ok(list
            .lines()
            .filter(|line| line.split_whitespace().any(|f| f == field))
            .count())
    }
}
