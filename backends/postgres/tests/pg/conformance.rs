//! The engine's driver conformance suite (`leasehold_database::suite`) against the SCRAM cluster.

use leasehold_database::suite::Fixture;
use leasehold_database::Driver;
use secrecy::SecretString;
use tokio_postgres::Client;

use crate::support::*;

#[async_trait::async_trait]
impl Fixture for Target {
    type Session = Client;

    fn driver(&self) -> &dyn Driver {
        self.driver.as_ref()
    }

    fn creation_statements(&self) -> Vec<String> {
        vec![CREATE.to_owned()]
    }

    async fn login(&self, user: &str, password: &SecretString) -> Result<Client, String> {
        Target::login(self, user, password)
            .await
            .map_err(|e| e.to_string())
    }

    async fn alive(&self, session: &mut Client) -> bool {
        session.simple_query("SELECT 1").await.is_ok()
    }

    async fn has_user(&self, user: &str) -> bool {
        self.role(user).await.is_some()
    }
}

leasehold_database::conformance_suite!(Target::new().await);
