//! The Cedar entities of one request: the identity with its groups, the connection, the action.
//!
//! Needed for every request (every SQL statement through the proxy), so everything that does
//! not depend on the request — entity type names, action uids and the action entities with
//! their action-group parents — is computed once per engine in [`Vocabulary`], and built entity
//! sets are kept in a small per-thread cache: Cedar recomputes the transitive closure of the
//! hierarchy whenever a store is built, which costs more than the whole policy evaluation, and
//! a session sends many statements with the same identity, connection and action.
//!
//! The cache is keyed by the whole `Identity`, the whole `ConnectionInfo` and the action name,
//! compared with their derived `PartialEq`, so a field added to those types later can only
//! lower the hit rate, never return another request's entities.

use crate::error::PolicyError;
use crate::schema::{ACTION_TYPE, CONNECTION_TYPE, GROUP_TYPE, IDENTITY_TYPE, PolicySchema};
use cedar_policy::{
    ActionConstraint, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression,
};
use gatehouse_core::{ConnectionInfo, Identity};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::str::FromStr;

/// One request action, ready to use.
pub(crate) struct ActionEntry {
    pub(crate) name: &'static str,
    pub(crate) uid: EntityUid,
    /// The action groups it is in, directly or not.
    ancestors: Vec<EntityUid>,
    /// The action entity, with its action groups as parents (as the schema declares them).
    entity: Entity,
}

impl ActionEntry {
    /// Whether a policy with this action scope can apply to this action. A policy that cannot
    /// is never satisfied and never evaluates its conditions (Cedar checks the scope first),
    /// so leaving it out of this action's policy set changes no decision and hides no error.
    pub(crate) fn in_scope(&self, constraint: &ActionConstraint) -> bool {
        match constraint {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(uid) => *uid == self.uid,
            ActionConstraint::In(uids) => uids
                .iter()
                .any(|uid| *uid == self.uid || self.ancestors.contains(uid)),
        }
    }
}

/// Everything about entities that does not change between requests.
pub(crate) struct Vocabulary {
    /// Tells this vocabulary's cached entity sets from another's: engines built on other
    /// schemas may give an action other action-group parents.
    generation: u64,
    identity_type: EntityTypeName,
    group_type: EntityTypeName,
    connection_type: EntityTypeName,
    actions: HashMap<&'static str, ActionEntry>,
}

/// The entities and uids of one request.
pub(crate) struct RequestEntities {
    pub(crate) principal: EntityUid,
    pub(crate) resource: EntityUid,
    pub(crate) entities: Entities,
}

/// How many entity sets each thread keeps.
const CACHE_CAPACITY: usize = 64;

/// Source of [`Vocabulary::generation`].
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One cached entity set and everything it was built from.
struct CacheEntry {
    generation: u64,
    identity: Identity,
    connection: ConnectionInfo,
    action: &'static str,
    built: Rc<RequestEntities>,
}

thread_local! {
    /// Most recently used first. Entity sets depend only on the request and the vocabulary's
    /// schema, so one cache serves every engine (entries carry their vocabulary's generation).
    static CACHE: RefCell<VecDeque<CacheEntry>> = const { RefCell::new(VecDeque::new()) };
}

impl Vocabulary {
    pub(crate) fn new(schema: &PolicySchema) -> Result<Self, PolicyError> {
        let type_name = |name: &str| {
            EntityTypeName::from_str(name)
                .map_err(|error| PolicyError::Internal(format!("entity type `{name}`: {error}")))
        };
        let action_type = type_name(ACTION_TYPE)?;
        let action_entities = schema
            .schema
            .action_entities()
            .map_err(|error| PolicyError::Schema(error.to_string()))?;
        let mut actions = HashMap::with_capacity(schema.request_actions.len());
        for &name in &schema.request_actions {
            let uid = EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(name));
            let entity = action_entities
                .get(&uid)
                .cloned()
                .ok_or_else(|| PolicyError::Schema(format!("action `{name}` is not declared")))?;
            let ancestors = action_entities
                .ancestors(&uid)
                .map(|ancestors| ancestors.cloned().collect())
                .unwrap_or_default();
            actions.insert(
                name,
                ActionEntry {
                    name,
                    uid,
                    ancestors,
                    entity,
                },
            );
        }
        Ok(Vocabulary {
            generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            identity_type: type_name(IDENTITY_TYPE)?,
            group_type: type_name(GROUP_TYPE)?,
            connection_type: type_name(CONNECTION_TYPE)?,
            actions,
        })
    }

    /// Every request action.
    pub(crate) fn actions(&self) -> impl Iterator<Item = &ActionEntry> {
        self.actions.values()
    }

    /// The entry for an action name from `Action::name()`.
    pub(crate) fn action(&self, name: &str) -> Option<&ActionEntry> {
        self.actions.get(name)
    }

    /// The entities of one request, from the thread's cache or built. Errors are Cedar's
    /// messages; the caller denies.
    pub(crate) fn entities(
        &self,
        identity: &Identity,
        connection: &ConnectionInfo,
        action: &ActionEntry,
    ) -> Result<Rc<RequestEntities>, String> {
        let cached = CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            let position = cache.iter().position(|entry| {
                entry.generation == self.generation
                    && entry.action == action.name
                    && entry.identity == *identity
                    && entry.connection == *connection
            })?;
            let entry = cache.remove(position)?;
            let built = Rc::clone(&entry.built);
            cache.push_front(entry);
            Some(built)
        });
        if let Some(built) = cached {
            return Ok(built);
        }
        let built = Rc::new(self.build(identity, connection, action)?);
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            cache.truncate(CACHE_CAPACITY - 1);
            cache.push_front(CacheEntry {
                generation: self.generation,
                identity: identity.clone(),
                connection: connection.clone(),
                action: action.name,
                built: Rc::clone(&built),
            });
        });
        Ok(built)
    }

    /// Build the entities of one request. Errors are Cedar's messages; the caller denies.
    pub(crate) fn build(
        &self,
        identity: &Identity,
        connection: &ConnectionInfo,
        action: &ActionEntry,
    ) -> Result<RequestEntities, String> {
        let principal = EntityUid::from_type_name_and_id(
            self.identity_type.clone(),
            EntityId::new(&identity.subject),
        );
        let resource = EntityUid::from_type_name_and_id(
            self.connection_type.clone(),
            EntityId::new(&connection.name),
        );
        let groups: Vec<EntityUid> = identity
            .groups
            .iter()
            .map(|group| {
                EntityUid::from_type_name_and_id(self.group_type.clone(), EntityId::new(group))
            })
            .collect();

        let identity_entity = Entity::new_with_tags(
            principal.clone(),
            [
                (
                    "kind".to_owned(),
                    RestrictedExpression::new_string(identity.kind.as_str().to_owned()),
                ),
                ("acting_for".to_owned(), string_set(&identity.acting_for)),
            ],
            groups.iter().cloned(),
            no_tags(),
        )
        .map_err(|error| format!("identity `{}`: {error}", identity.subject))?;
        let connection_entity = Entity::new_with_tags(
            resource.clone(),
            [
                (
                    "kind".to_owned(),
                    RestrictedExpression::new_string(connection.kind.as_str().to_owned()),
                ),
                (
                    "environment".to_owned(),
                    RestrictedExpression::new_string(connection.environment.clone()),
                ),
                ("tags".to_owned(), string_set(&connection.tags)),
            ],
            [],
            no_tags(),
        )
        .map_err(|error| format!("connection `{}`: {error}", connection.name))?;

        let mut all = Vec::with_capacity(groups.len() + 3);
        all.push(identity_entity);
        all.push(connection_entity);
        all.push(action.entity.clone());
        // A group listed twice is one entity.
        let mut seen = Vec::with_capacity(groups.len());
        for group in groups {
            if !seen.contains(&group) {
                seen.push(group.clone());
                all.push(Entity::new_no_attrs(group, Default::default()));
            }
        }
        let entities = Entities::from_entities(all, None).map_err(|error| error.to_string())?;
        Ok(RequestEntities {
            principal,
            resource,
            entities,
        })
    }
}

/// A Cedar set of strings.
pub(crate) fn string_set(values: &[String]) -> RestrictedExpression {
    RestrictedExpression::new_set(
        values
            .iter()
            .map(|value| RestrictedExpression::new_string(value.clone())),
    )
}

fn no_tags() -> [(String, RestrictedExpression); 0] {
    []
}
