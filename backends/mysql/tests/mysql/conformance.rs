//! The engine's driver conformance suite (`leasehold_database::suite`) against MariaDB/MySQL.

use leasehold_database::suite::Fixture;
use leasehold_database::Driver;
use mysql_async::Conn;
use secrecy::SecretString;

use crate::support::*;

#[async_trait::async_trait]
impl Fixture for Target {
    type Session = Conn;

    fn driver(&self) -> &dyn Driver {
        self.driver.as_ref()
    }

    fn creation_statements(&self) -> Vec<String> {
        vec![CREATE.to_owned()]
    }

    async fn login(&self, user: &str, password: &SecretString) -> Result<Conn, String> {
        Target::login(self, user, password)
            .await
            .map_err(|e| e.to_string())
    }

    async fn alive(&self, session: &mut Conn) -> bool {
        alive(session).await
    }

    async fn has_user(&self, user: &str) -> bool {
        !self.accounts(user).await.is_empty()
    }
}

leasehold_database::conformance_suite!(Target::new());
