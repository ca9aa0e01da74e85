//! What of the connections' configuration can change while the gateway runs (a configuration
//! reload): which connections clients may name and their attributes, each connection's
//! masking, and which connections record result rows. A session reads them when it starts; a
//! replacement tells open sessions (through the pipeline's reconsider signal) so that one
//! whose connection was removed, or whose masking changed, ends instead of running on under
//! rules that are no longer in force.

use crate::masking::ConnectionMasking;
use gatehouse_core::ConnectionInfo;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

/// The reloadable part of the connections' configuration.
#[derive(Debug, Default)]
pub struct ConnectionSettings {
    /// Connections clients may name as their `database`.
    pub connections: HashMap<String, Arc<ConnectionInfo>>,
    /// Masking per connection; connections without an entry are not masked.
    pub masking: HashMap<String, Arc<ConnectionMasking>>,
    /// Connections whose session recordings include result rows.
    pub record_results: HashSet<String>,
}

/// The settings in force, replaceable as a whole.
#[derive(Debug)]
pub struct ConnectionSettingsInForce {
    current: RwLock<Arc<ConnectionSettings>>,
}

impl ConnectionSettingsInForce {
    pub fn new(settings: ConnectionSettings) -> Self {
        ConnectionSettingsInForce {
            current: RwLock::new(Arc::new(settings)),
        }
    }

    /// The settings in force now.
    pub fn current(&self) -> Arc<ConnectionSettings> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Put `settings` in force for sessions that start from now on; returns what it replaced.
    /// Open sessions learn of it when the pipeline is told to reconsider
    /// (`Pipeline::reconsider_sessions`).
    pub fn replace(&self, settings: ConnectionSettings) -> Arc<ConnectionSettings> {
        std::mem::replace(
            &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
            Arc::new(settings),
        )
    }
}
