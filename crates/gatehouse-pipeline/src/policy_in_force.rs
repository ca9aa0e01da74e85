//! The policy set in force, replaceable while the gateway runs (`SIGHUP`, `gatehouse policy
//! reload`): every decision reads the set once and decides all its actions with it, and open
//! sessions learn of a replacement so they can decide again what they decided once (`connect`,
//! `data:unmasked`).

use gatehouse_policy::PolicyEngine;
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::watch;

/// The policy set decisions are made with, and the news of its replacement.
pub struct PolicyInForce {
    current: RwLock<Arc<PolicyEngine>>,
    /// The version in force; sessions wait on it changing.
    changes: watch::Sender<String>,
}

impl PolicyInForce {
    pub fn new(policy: Arc<PolicyEngine>) -> Self {
        let (changes, _) = watch::channel(policy.version().to_owned());
        PolicyInForce {
            current: RwLock::new(policy),
            changes,
        }
    }

    /// The set in force now. A decision takes it once, so one request is never decided half
    /// by the old set and half by the new.
    pub fn current(&self) -> Arc<PolicyEngine> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Put `policy` in force and tell every subscriber; returns the set it replaced.
    pub fn replace(&self, policy: Arc<PolicyEngine>) -> Arc<PolicyEngine> {
        let version = policy.version().to_owned();
        let previous = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
            policy,
        );
        self.changes.send_replace(version);
        previous
    }

    /// Tell every subscriber to decide again under the set in force, as if it had just been
    /// put in force (its version does not change).
    pub fn reconsider(&self) {
        self.changes.send_modify(|_| {});
    }

    /// A receiver that sees every replacement from now on (its current value is the version
    /// in force).
    pub fn subscribe(&self) -> watch::Receiver<String> {
        self.changes.subscribe()
    }
}
