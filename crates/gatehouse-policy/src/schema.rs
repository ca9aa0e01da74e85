//! The Cedar schema gatehouse policies are validated against, and the names it declares.
//!
//! The schema text lives in `schema/gatehouse.cedarschema` so users can read it; it is embedded
//! here so the engine never depends on files at run time. Entity type and action names are
//! kept next to it so the request builders and the schema cannot drift apart unnoticed (a unit
//! test checks every name below against the parsed schema).

use crate::error::PolicyError;
use cedar_policy::Schema;

/// The Cedar schema (human-readable Cedar schema syntax) every policy is validated against.
pub const SCHEMA: &str = include_str!("../schema/gatehouse.cedarschema");

/// Entity type of the principal; its entity id is the identity's subject.
pub(crate) const IDENTITY_TYPE: &str = "Gatehouse::Identity";
/// Entity type of the groups an identity is in.
pub(crate) const GROUP_TYPE: &str = "Gatehouse::Group";
/// Entity type of the resource; its entity id is the connection's name.
pub(crate) const CONNECTION_TYPE: &str = "Gatehouse::Connection";
/// Entity type of actions.
pub(crate) const ACTION_TYPE: &str = "Gatehouse::Action";

/// Every action a request can carry (not the action groups), as named by `Action::name()`.
pub(crate) const REQUEST_ACTIONS: [&str; 11] = [
    "connect",
    "data:unmasked",
    "sql:select",
    "sql:insert",
    "sql:update",
    "sql:delete",
    "sql:ddl",
    "sql:dcl",
    "sql:admin",
    "sql:session",
    "sql:unknown",
];

/// Parse the embedded schema.
pub(crate) fn parse() -> Result<Schema, PolicyError> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(schema, _warnings)| schema)
        .map_err(|error| PolicyError::Schema(error.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use cedar_policy::{EntityTypeName, EntityUid};
    use std::str::FromStr;

    #[test]
    fn schema_parses_and_declares_every_name() {
        let schema = parse().unwrap();
        let types: Vec<String> = schema.entity_types().map(ToString::to_string).collect();
        for name in [IDENTITY_TYPE, GROUP_TYPE, CONNECTION_TYPE] {
            assert!(types.contains(&name.to_string()), "{name} missing");
        }
        let actions: Vec<EntityUid> = schema.actions().cloned().collect();
        let action_type = EntityTypeName::from_str(ACTION_TYPE).unwrap();
        for name in REQUEST_ACTIONS
            .iter()
            .chain(&["sql:read", "sql:write", "sql:any"])
        {
            let uid = EntityUid::from_type_name_and_id(
                action_type.clone(),
                cedar_policy::EntityId::new(name),
            );
            assert!(actions.contains(&uid), "{name} missing");
        }
    }

    #[test]
    fn request_action_names_match_core() {
        use gatehouse_core::{Action, SqlKind};
        let mut names = vec![Action::Connect.name(), Action::ViewUnmasked.name()];
        names.extend(SqlKind::ALL.iter().map(|kind| kind.action_name()));
        names.sort_unstable();
        let mut ours = REQUEST_ACTIONS.to_vec();
        ours.sort_unstable();
        assert_eq!(names, ours);
    }
}
