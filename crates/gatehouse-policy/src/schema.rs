//! The Cedar schema gatehouse policies are validated against: the base every protocol shares
//! (`schema/gatehouse.cedarschema`: identities, groups, connections, `connect`,
//! `data:unmasked`) and one fragment per protocol ([`ProtocolSchema`], e.g. `sql:*`), in the
//! same namespace. This crate knows no protocol: whoever builds the engine says which
//! protocols it serves. Entity type names are kept next to the base so that the request
//! builders and the schema cannot drift apart unnoticed (a unit test checks them).

use crate::error::PolicyError;
use cedar_policy::{Schema, SchemaFragment};
use gatehouse_core::ProtocolSchema;

/// The base of the Cedar schema (human-readable Cedar schema syntax).
pub const BASE_SCHEMA: &str = include_str!("../schema/gatehouse.cedarschema");

/// Entity type of the principal; its entity id is the identity's subject.
pub(crate) const IDENTITY_TYPE: &str = "Gatehouse::Identity";
/// Entity type of the groups an identity is in.
pub(crate) const GROUP_TYPE: &str = "Gatehouse::Group";
/// Entity type of the resource; its entity id is the connection's name.
pub(crate) const CONNECTION_TYPE: &str = "Gatehouse::Connection";
/// Entity type of actions.
pub(crate) const ACTION_TYPE: &str = "Gatehouse::Action";

/// The actions of the base schema a request can carry.
const BASE_ACTIONS: [&str; 2] = ["connect", "data:unmasked"];

/// The schema for a set of protocols: parsed once, shared by every policy load (a reload
/// validates against the same schema).
#[derive(Clone)]
pub struct PolicySchema {
    pub(crate) schema: Schema,
    /// Every action a request can carry (not the action groups).
    pub(crate) request_actions: Vec<&'static str>,
    /// The schema's text: the base, then each protocol's fragment.
    text: String,
}

impl PolicySchema {
    /// The base schema plus the fragment of each of `protocols`. Refused when a fragment does
    /// not parse, declares something twice, or misses an action it says requests carry.
    pub fn new(protocols: &[&ProtocolSchema]) -> Result<PolicySchema, PolicyError> {
        let mut fragments = vec![parse_fragment("base", BASE_SCHEMA)?];
        let mut request_actions = BASE_ACTIONS.to_vec();
        let mut text = BASE_SCHEMA.to_owned();
        for protocol in protocols {
            fragments.push(parse_fragment(protocol.name, protocol.fragment)?);
            request_actions.extend_from_slice(protocol.request_actions);
            text.push('\n');
            text.push_str(protocol.fragment);
        }
        let schema = Schema::from_schema_fragments(fragments)
            .map_err(|error| PolicyError::Schema(error.to_string()))?;
        let declared: Vec<String> = schema
            .actions()
            .map(|uid| uid.id().unescaped().to_owned())
            .collect();
        if let Some(missing) = request_actions
            .iter()
            .find(|name| !declared.iter().any(|declared| declared == *name))
        {
            return Err(PolicyError::Schema(format!(
                "action `{missing}` is not declared by any schema fragment"
            )));
        }
        Ok(PolicySchema {
            schema,
            request_actions,
            text,
        })
    }

    /// The whole schema's text, for people writing policies (`gatehouse policy schema`).
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn parse_fragment(name: &str, text: &str) -> Result<SchemaFragment, PolicyError> {
    SchemaFragment::from_cedarschema_str(text)
        .map(|(fragment, _warnings)| fragment)
        .map_err(|error| PolicyError::Schema(format!("the `{name}` schema fragment: {error}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use cedar_policy::{EntityTypeName, EntityUid};
    use gatehouse_core::SQL_PROTOCOL;
    use std::str::FromStr;

    #[test]
    fn the_schema_with_sql_declares_every_name() {
        let schema = PolicySchema::new(&[&SQL_PROTOCOL]).unwrap();
        let types: Vec<String> = schema
            .schema
            .entity_types()
            .map(ToString::to_string)
            .collect();
        for name in [IDENTITY_TYPE, GROUP_TYPE, CONNECTION_TYPE] {
            assert!(types.contains(&name.to_string()), "{name} missing");
        }
        let actions: Vec<EntityUid> = schema.schema.actions().cloned().collect();
        let action_type = EntityTypeName::from_str(ACTION_TYPE).unwrap();
        for name in schema
            .request_actions
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
    fn sql_request_actions_match_core() {
        use gatehouse_core::SqlKind;
        let mut names: Vec<&str> = SqlKind::ALL.iter().map(|kind| kind.action_name()).collect();
        names.sort_unstable();
        let mut ours = SQL_PROTOCOL.request_actions.to_vec();
        ours.sort_unstable();
        assert_eq!(names, ours);
    }

    #[test]
    fn a_fragment_that_misses_a_request_action_is_refused() {
        let broken = ProtocolSchema {
            name: "broken",
            fragment: "namespace Gatehouse { action \"broken:one\" appliesTo { principal: [Identity], resource: [Connection], context: ConnectContext }; }",
            request_actions: &["broken:one", "broken:two"],
        };
        let error = PolicySchema::new(&[&broken]).err().unwrap();
        assert!(error.to_string().contains("broken:two"), "{error}");
    }

    #[test]
    fn a_fragment_that_redeclares_an_action_is_refused() {
        let twice = ProtocolSchema {
            name: "twice",
            fragment: "namespace Gatehouse { action \"connect\" appliesTo { principal: [Identity], resource: [Connection], context: ConnectContext }; }",
            request_actions: &[],
        };
        assert!(PolicySchema::new(&[&twice]).is_err());
    }
}
