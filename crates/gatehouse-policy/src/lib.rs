//! The policy decision point of gatehouse: every request (a `connect`, one SQL statement, ...)
//! is decided here by Cedar policy, validated against a schema made of a base and one fragment
//! per protocol ([`PolicySchema`]).
//!
//! This crate exists so that the rest of gatehouse never touches Cedar directly: it loads
//! `.cedar` files (refusing them with `file:line:col` errors when they do not parse or do not
//! match the schema), and turns a [`PolicyRequest`] built from `gatehouse-core` types into a
//! [`PolicyVerdict`] without I/O. Any evaluation error denies (fail closed). A request
//! permitted only by policies annotated `@approval("GROUP")` is *held* (see [`approval`]).
//! Each engine memoises recent verdicts, keyed by every input Cedar sees except context
//! attributes no policy can read (see the `engine` module), so a session's repeated requests
//! skip Cedar; a reloaded policy set is a new engine with an empty memo.
//!
//! Policies see:
//! - `principal`: `Gatehouse::Identity::"<subject>"` with attributes `kind` (`"human"` or
//!   `"machine"`) and `acting_for` (set of strings), member of `Gatehouse::Group::"<group>"`
//!   for each of its groups;
//! - `action`: `Gatehouse::Action::"connect"`, `"data:unmasked"`, or a protocol's action
//!   (`"sql:<kind>"`, with the action groups `sql:read`, `sql:write` and `sql:any`);
//! - `resource`: `Gatehouse::Connection::"<name>"` with `kind`, `environment` and `tags`;
//! - `context`: `source_address` (ipaddr, `0.0.0.0` when unknown), `now` (unix seconds) and
//!   `hour` (UTC, 0-23); for a protocol request also the request's own attributes (for SQL
//!   `statement`, `fingerprint`, `reads`, `writes`, `tables` (reads and writes), `functions`
//!   and `all_rows`, see `SqlStatement::all_rows`).

mod approval;
mod context;
mod context_reads;
mod decision_key;
mod engine;
mod entities;
mod error;
mod load;
mod memo;
#[cfg(test)]
mod memo_tests;
mod row_cap;
mod schema;
mod source;

pub use approval::ApprovalRequirement;
pub use engine::{PolicyEngine, PolicyRequest, PolicyVerdict};
pub use error::PolicyError;
pub use schema::{BASE_SCHEMA, PolicySchema};

/// The quickstart policy shipped to users: group-based grants for `readers`, `writers` and
/// `admins`, and nobody runs `sql:unknown`.
pub const QUICKSTART_POLICY: &str = include_str!("../../../policies/quickstart.cedar");
