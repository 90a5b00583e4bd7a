//! The open connections of one mount: which factory serves a plugin, and a cache of drivers by
//! connection name, each wrapped by the error scrubber.
//!
//! A driver holds a pool, so it is opened once per connection and reused; writing, deleting or
//! resetting a connection drops it (the next use opens a fresh one from the stored config). One
//! [`crate::DatabaseBackend`] serves one mount, so connection names are unique here.

use std::collections::HashMap;
use std::sync::Arc;

use leasehold_backend::MountStorage;
use tokio::sync::Mutex;

use crate::config;
use crate::driver::{ConnectionConfig, Driver, DriverFactory};
use crate::error::DatabaseError;
use crate::scrub::{self, ScrubbingDriver};

/// Factories plus the driver cache.
pub(crate) struct Connections {
    factories: Vec<Arc<dyn DriverFactory>>,
    /// An async mutex because a cache miss holds it across the storage read that loads the
    /// config: a concurrent config write stores first and evicts second, so a miss either reads
    /// the old config before the write (and its driver is then evicted) or the new one after it.
    /// A std mutex released between read and insert could cache a driver for a stale config.
    open: Mutex<HashMap<String, Arc<dyn Driver>>>,
}

impl Connections {
    pub(crate) fn new(factories: Vec<Arc<dyn DriverFactory>>) -> Self {
        Self {
            factories,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The factory serving `plugin`, or a 400 that lists what is supported.
    pub(crate) fn factory(&self, plugin: &str) -> Result<&Arc<dyn DriverFactory>, DatabaseError> {
        self.factories
            .iter()
            .find(|f| f.plugin_names().contains(&plugin))
            .ok_or_else(|| DatabaseError::UnknownPlugin {
                plugin: plugin.to_owned(),
                supported: self.supported().join(", "),
            })
    }

    fn supported(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .factories
            .iter()
            .flat_map(|f| f.plugin_names().iter().copied())
            .collect();
        names.sort_unstable();
        names
    }

    /// A new, uncached, scrubbed driver for `config`. Open errors come back scrubbed too.
    pub(crate) fn open(&self, config: &ConnectionConfig) -> Result<Arc<dyn Driver>, DatabaseError> {
        let factory = self.factory(&config.plugin_name)?;
        let driver = factory.open(config).map_err(|e| {
            let secrets = scrub::config_secrets(config);
            let refs: Vec<_> = secrets.iter().collect();
            e.map_message(|text| scrub::scrub_text(text, &refs))
        })?;
        Ok(Arc::new(ScrubbingDriver::new(driver, config)))
    }

    /// The cached driver of connection `name`, opened from storage on first use.
    pub(crate) async fn driver(
        &self,
        storage: &dyn MountStorage,
        name: &str,
    ) -> Result<Arc<dyn Driver>, DatabaseError> {
        let mut open = self.open.lock().await;
        if let Some(driver) = open.get(name) {
            return Ok(driver.clone());
        }
        let entry = config::load(storage, name).await?.ok_or_else(|| {
            DatabaseError::ConnectionNotFound {
                name: name.to_owned(),
            }
        })?;
        let driver = self.open(&entry.driver_config(name))?;
        open.insert(name.to_owned(), driver.clone());
        Ok(driver)
    }

    /// Drop and close the cached driver of `name`, if any. Calls already holding it may fail
    /// with a closed pool; the lease engine retries those.
    pub(crate) async fn forget(&self, name: &str) {
        let removed = self.open.lock().await.remove(name);
        if let Some(driver) = removed {
            driver.close().await;
        }
    }

    /// Close every driver (mount disabled or server stopping).
    pub(crate) async fn close_all(&self) {
        let drained: Vec<_> = self.open.lock().await.drain().map(|(_, d)| d).collect();
        for driver in drained {
            driver.close().await;
        }
    }
}
