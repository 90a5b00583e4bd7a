//! The engine's driver conformance suite (`leasehold_database::suite`) against Redis.

use leasehold_database::suite::Fixture;
use leasehold_database::Driver;
use redis::aio::MultiplexedConnection;
use secrecy::SecretString;

use crate::support::*;

#[async_trait::async_trait]
impl Fixture for Target {
    type Session = MultiplexedConnection;

    fn driver(&self) -> &dyn Driver {
        self.driver.as_ref()
    }

    fn creation_statements(&self) -> Vec<String> {
        vec![RULES.to_owned()]
    }

    async fn login(
        &self,
        user: &str,
        password: &SecretString,
    ) -> Result<MultiplexedConnection, String> {
        Target::login(self, user, password)
            .await
            .map_err(|e| e.to_string())
    }

    async fn alive(&self, session: &mut MultiplexedConnection) -> bool {
        alive(session).await
    }

    async fn has_user(&self, user: &str) -> bool {
        self.exists(user).await
    }
}

leasehold_database::conformance_suite!(Target::new());
