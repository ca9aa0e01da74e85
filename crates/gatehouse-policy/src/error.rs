//! The one error type of this crate: why a policy set could not be loaded.
//!
//! Decisions never fail (they deny instead), so every variant is about loading. Messages name
//! the file, line and column and say what to do, because they are shown to the person who
//! wrote the policy.

use std::path::PathBuf;

/// Why a policy set was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file could not be read.
    #[error("cannot read policy file `{}`: {source}; check the path and its permissions", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Policy text does not parse; one `file:line:col: reason` entry per error, in every file.
    #[error("{} policy syntax error(s); fix them and load again:{}", errors.len(), bullets(errors))]
    Parse { errors: Vec<String> },

    /// Policies parse but do not match the gatehouse schema (unknown action, misspelled
    /// attribute, wrong type, a policy that can never apply, ...); one `file:line:col: reason`
    /// entry per error.
    #[error("{} policy validation error(s) against the gatehouse schema; fix them and load again:{}", errors.len(), bullets(errors))]
    Validation { errors: Vec<String> },

    /// An `@approval`, `@approvals` or `@approval_ttl` annotation is misplaced or malformed;
    /// one `policy id: reason` entry per problem.
    #[error("{} approval annotation error(s); fix them and load again:{}", errors.len(), bullets(errors))]
    Approval { errors: Vec<String> },

    /// `@max_rows` annotations that cannot be used; one `policy id: reason` entry per problem.
    #[error("{} row cap annotation error(s); fix them and load again:{}", errors.len(), bullets(errors))]
    RowCap { errors: Vec<String> },

    /// Two policies carry the same id (`@id` annotation, or `file:line` when they have none).
    #[error(
        "duplicate policy id `{id}` at `{first}` and `{second}`; give each policy a unique `@id(\"...\")`"
    )]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },

    /// The embedded schema did not parse: a bug in gatehouse, not in the policies.
    #[error(
        "the embedded gatehouse schema is invalid: {0}; this is a gatehouse bug, please report it"
    )]
    Schema(String),

    /// An invariant of the loader did not hold: a bug in gatehouse, not in the policies.
    #[error(
        "internal error while loading policies: {0}; this is a gatehouse bug, please report it"
    )]
    Internal(String),
}

fn bullets(errors: &[String]) -> String {
    errors.iter().map(|error| format!("\n  {error}")).collect()
}
