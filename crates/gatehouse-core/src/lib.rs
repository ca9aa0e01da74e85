//! The vocabulary every part of gatehouse shares: who is asking ([`Identity`]), what they ask
//! to reach ([`ConnectionInfo`]) and what they ask to do ([`Action`], whose protocol requests
//! implement [`ProtocolRequest`]).
//!
//! This crate exists so that protocol adapters, the policy engine, the audit log and the CLI
//! agree on one set of types without any of them depending on a network framework, a parser
//! or a storage engine. It has no I/O and no dependencies beyond `serde` and `foldhash` (the
//! hasher of [`TwoGenerationMap`], the bounded map the per-request caches share).

mod action;
mod bounded_map;
mod connection;
mod decision_kind;
mod identity;
pub mod json_text;
mod lineage;
mod request;
mod secret;

pub use action::{Action, SQL_PROTOCOL, SqlKind, SqlStatement, StatementContext};
pub use bounded_map::TwoGenerationMap;
pub use connection::{ADMIN_LOGIN_LEVEL, ConnectionInfo, ConnectionKind};
pub use decision_kind::DecisionKind;
pub use identity::{Identity, IdentityKind};
pub use lineage::{ColumnSource, Derivation, Lineage, Output};
pub use request::{Attribute, Effect, ProtocolRequest, ProtocolSchema};
pub use secret::SecretString;
