//! What a protocol adapter decodes a client's request into, in the terms the pipeline, policy,
//! audit log and approvals share: a Cedar action in the protocol's namespace, the request's
//! *effect*, its canonical text, what else its meaning depends on, and typed attributes for the
//! Cedar context. A protocol implements [`ProtocolRequest`] for its own request type and ships
//! a [`ProtocolSchema`] fragment; nothing else in gatehouse names its actions.
//!
//! Cedar conventions every protocol follows (Cedar has strings, longs, booleans, sets and
//! records with declared keys, and no ordered lists):
//! - the request's whole text is a `String` attribute (`statement`, `command`, `path`) so that
//!   policies can match it with `like`;
//! - argv-like data is a `program` string (the base name of the first word) and an `args` Set of
//!   the other words; header- or parameter-like data is a Set of `"name=value"` strings;
//! - data whose keys are open-ended goes into entity tags, not into declared record keys;
//! - names are lowercase `snake_case`; every attribute a fragment declares is always present.

use crate::StatementContext;
use std::fmt::Debug;

/// What a request does to its target, as far as the pipeline must know without knowing the
/// protocol: it decides whether the request's audit event is fsynced before forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Reads data (a `SELECT`, a `GET`, `kubectl get`).
    Read,
    /// Changes data (an `INSERT`, a `PATCH`).
    Write,
    /// Changes the target's schema, privileges or configuration, or reaches beyond it.
    Admin,
    /// Changes only the session's own state (`BEGIN`, `SET`), or nothing at all.
    SessionState,
    /// Its effect cannot be known from the request (dynamic SQL, an unparsable request).
    Unknown,
}

impl Effect {
    /// Whether forwarding a request with this effect can change the target's state, so that
    /// its audit event must be on disk first.
    pub fn changes_state(self) -> bool {
        !matches!(self, Effect::Read | Effect::SessionState)
    }
}

/// One value of a request's Cedar context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    String(String),
    Long(i64),
    Bool(bool),
    Set(Vec<String>),
}

/// A decoded request of some protocol, decided by policy as one action.
pub trait ProtocolRequest: std::any::Any + Debug + Send + Sync {
    /// The Cedar action, in the protocol's namespace (`sql:select`); one of its schema
    /// fragment's `request_actions`.
    fn action(&self) -> &'static str;
    /// What forwarding it does to the target.
    fn effect(&self) -> Effect;
    /// The canonical request text: what is audited and what an approval binds to.
    fn text(&self) -> &str;
    /// The normalised form of the text (constants stripped), stable across literal values.
    fn fingerprint(&self) -> &str;
    /// What else the request's meaning depends on (parameters, bodies, session state) and its
    /// digest, when the adapter knows it: audited, and part of what an approval binds to.
    fn context(&self) -> Option<&StatementContext> {
        None
    }
    /// The protocol's attributes of the Cedar context, beside the connect context every action
    /// has; exactly the keys its schema fragment declares for the action's context type.
    fn attributes(&self) -> Vec<(&'static str, Attribute)>;
    /// Why the request got a stronger action than its form suggests, for refusal messages.
    fn explanation(&self) -> Option<&str> {
        None
    }
}

impl dyn ProtocolRequest {
    /// The adapter's own request type behind this one, if it is `T`.
    pub fn downcast_ref<T: ProtocolRequest>(&self) -> Option<&T> {
        (self as &dyn std::any::Any).downcast_ref::<T>()
    }
}

/// A protocol's part of the Cedar schema: a fragment in namespace `Gatehouse` declaring its
/// actions (with their context types and action groups), and the actions a request can carry.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolSchema {
    /// The protocol's action prefix, e.g. `sql`.
    pub name: &'static str,
    /// Cedar schema text (human-readable syntax).
    pub fragment: &'static str,
    /// Every action a request of this protocol can carry (not the action groups).
    pub request_actions: &'static [&'static str],
}
