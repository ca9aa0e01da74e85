//! The policy engine: a loaded, validated policy set and the pure `decide` function.
//!
//! Loading is rare and may be slow; deciding happens for every SQL statement through the proxy,
//! so the engine keeps the parsed policy set, split per action, and everything
//! request-independent, and `decide` only builds the request's entities and context before
//! asking Cedar. Any error while
//! deciding — building the request or evaluating a policy — denies (fail closed).
//!
//! A verdict is a pure function of what Cedar is given and of the engine: the principal
//! entity (subject, kind, acting_for, groups), the resource entity (connection name, kind,
//! environment, tags), the action, and the context (`source_address`, `now`, `hour` and the
//! request's attributes); the determining policies, hold and row cap then follow from the
//! engine's own tables. So the engine memoises verdicts ([`crate::memo`]), keyed by an exact
//! encoding of all of it ([`crate::decision_key`]), except the values of context attributes
//! that no policy of the action's slice can read: each policy's Cedar JSON is walked at load
//! for every use of `context` ([`crate::context_reads`]), and a use other than reading a
//! named attribute counts as reading them all. Verdicts with evaluation errors are not
//! memoised, and neither are requests whose key would be over 4 KiB.

use crate::approval::{self, ApprovalRequirement};
use crate::context::{self, Surroundings};
use crate::context_reads::ContextReads;
use crate::decision_key::{self, KeyInputs};
use crate::entities::{ActionEntry, Vocabulary};
use crate::error::PolicyError;
use crate::load::{self, Loaded};
use crate::memo::Memo;
use crate::schema::PolicySchema;
use crate::source::Source;
use cedar_policy::{Authorizer, Decision, PolicyId, PolicySet, Request};
use gatehouse_core::{Action, Attribute, ConnectionInfo, Identity};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

/// A loaded, validated policy set. `Send + Sync`; share it in an `Arc` and swap the `Arc` to
/// reload.
pub struct PolicyEngine {
    /// Every policy.
    policies: PolicySet,
    /// For each request action, only the policies whose action scope can match it: Cedar
    /// evaluates every policy of a set, so this keeps decisions cheap as policy sets grow.
    by_action: HashMap<&'static str, ActionPolicies>,
    authorizer: Authorizer,
    vocabulary: Vocabulary,
    /// Policy ids in load order.
    ids: Vec<String>,
    /// Load position of each policy id, to report determining policies in load order.
    order: HashMap<String, usize>,
    version: String,
    warnings: Vec<String>,
    /// What each `@approval`-annotated policy asks before its permit counts.
    approvals: HashMap<String, ApprovalRequirement>,
    /// `@max_rows` caps by policy id.
    row_caps: HashMap<String, u64>,
    /// Verdicts of recent requests.
    pub(crate) memo: Memo,
}

/// The policies that can apply to one action, and the context attributes they can read.
struct ActionPolicies {
    policies: PolicySet,
    reads: ContextReads,
    /// Whether an `@approval` policy is among them: only then can a verdict be a hold.
    may_hold: bool,
}

/// How many verdicts an engine memoises.
const MEMO_CAPACITY: usize = 4096;

/// One request to decide.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRequest<'a> {
    pub identity: &'a Identity,
    pub connection: &'a ConnectionInfo,
    pub action: &'a Action,
    /// The client's address; policies see `0.0.0.0` when it is `None`.
    pub source_address: Option<IpAddr>,
    /// Decision time; policies see it as `context.now` and its UTC hour as `context.hour`.
    pub now_unix_seconds: i64,
}

/// The outcome of [`PolicyEngine::decide`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyVerdict {
    pub allowed: bool,
    /// Ids of the policies that determined the outcome, in load order: the permitting policies
    /// on allow, the forbidding ones on an explicit deny; empty when nothing permitted (default
    /// deny) and when a permit matched but an error overrode it.
    pub determining_policies: Vec<String>,
    /// Evaluation errors; any error makes the verdict a deny (fail closed), even if some permit
    /// matched.
    pub errors: Vec<String>,
    /// Set when only `@approval` policies permit the request: it is held (not allowed, so
    /// `allowed` is false) until the approval this asks for exists. `determining_policies`
    /// are then those policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<ApprovalRequirement>,
    /// The most rows the permitted (or held) statement may change (`@max_rows` of the
    /// permitting policies; the widest applies, and a permit without a cap lifts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
}

impl PolicyVerdict {
    fn failed(error: String) -> Self {
        PolicyVerdict {
            allowed: false,
            determining_policies: Vec::new(),
            errors: vec![error],
            hold: None,
            max_rows: None,
        }
    }
}

impl PolicyEngine {
    /// Load and validate `.cedar` files against `schema`. Any parse or validation error
    /// refuses with file path, line, column and Cedar's reason (all errors, not just the
    /// first). Files are named by their path as given.
    pub fn load_files(paths: &[PathBuf], schema: &PolicySchema) -> Result<Self, PolicyError> {
        let mut sources = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
                path: path.clone(),
                source,
            })?;
            sources.push((path.display().to_string(), text));
        }
        Self::from_sources(&sources, schema)
    }

    /// Load and validate in-memory `(name, text)` pairs; `name` is what error messages and
    /// `name:line` policy ids call the file.
    pub fn from_sources(
        sources: &[(String, String)],
        schema: &PolicySchema,
    ) -> Result<Self, PolicyError> {
        let texts: Vec<Source<'_>> = sources
            .iter()
            .map(|(name, text)| Source { name, text })
            .collect();
        let Loaded {
            policies,
            ids,
            warnings,
        } = load::load(&texts, &schema.schema)?;
        let approvals =
            approval::requirements(&policies).map_err(|errors| PolicyError::Approval { errors })?;
        let row_caps =
            crate::row_cap::row_caps(&policies).map_err(|errors| PolicyError::RowCap { errors })?;
        let vocabulary = Vocabulary::new(schema)?;
        let policy_reads: Vec<ContextReads> =
            policies.policies().map(ContextReads::of_policy).collect();
        let mut by_action = HashMap::new();
        for action in vocabulary.actions() {
            let mut reads = ContextReads::nothing();
            let mut applicable = Vec::new();
            let mut may_hold = false;
            for (policy, policy_reads) in policies.policies().zip(&policy_reads) {
                if action.in_scope(&policy.action_constraint()) {
                    reads.extend(policy_reads);
                    may_hold |= approvals.contains_key(&policy.id().to_string());
                    applicable.push(policy.clone());
                }
            }
            let set = PolicySet::from_policies(applicable)
                .map_err(|error| PolicyError::Internal(error.to_string()))?;
            by_action.insert(
                action.name,
                ActionPolicies {
                    policies: set,
                    reads,
                    may_hold,
                },
            );
        }
        let order = ids
            .iter()
            .enumerate()
            .map(|(position, id)| (id.clone(), position))
            .collect();
        Ok(PolicyEngine {
            policies,
            by_action,
            authorizer: Authorizer::new(),
            vocabulary,
            ids,
            order,
            version: version_of(sources),
            warnings,
            approvals,
            row_caps,
            memo: Memo::new(MEMO_CAPACITY),
        })
    }

    /// Short content hash (first 16 hex chars of sha256 over names and texts) identifying this
    /// policy set version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Ids of all loaded policies, in load order.
    pub fn policy_ids(&self) -> Vec<String> {
        self.ids.clone()
    }

    /// The Cedar annotations of a policy (`@id("x")` is `id` → `x`; an annotation without a
    /// value maps to `""`), or `None` when no policy has that id.
    pub fn annotations(&self, policy_id: &str) -> Option<BTreeMap<String, String>> {
        self.policies
            .policy(&PolicyId::new(policy_id))
            .map(|policy| {
                policy
                    .annotations()
                    .map(|(key, value)| (key.to_owned(), value.to_owned()))
                    .collect()
            })
    }

    /// Validator warnings that did not refuse the load (e.g. mixed-script strings), as
    /// `file:line:col: reason`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Decide one request. Pure: no I/O, no clock; never fails, denies instead.
    ///
    /// The engine memoises the verdicts of its last few thousand distinct requests (see the
    /// module docs), and each thread keeps the entity sets of its last 64 (identity,
    /// connection, action) combinations and the `ip` values of its last 64 addresses; none of
    /// this changes an outcome.
    pub fn decide(&self, request: &PolicyRequest<'_>) -> PolicyVerdict {
        let action_name = request.action.name();
        let (Some(action), Some(slice)) = (
            self.vocabulary.action(action_name),
            self.by_action.get(action_name),
        ) else {
            return PolicyVerdict::failed(format!("action `{action_name}` is not in the schema"));
        };
        let surroundings = Surroundings {
            source_address: request.source_address,
            now_unix_seconds: request.now_unix_seconds,
        };
        let attributes = request.action.request().map(|request| request.attributes());
        let key = decision_key::encode(
            &KeyInputs {
                identity: request.identity,
                connection: request.connection,
                action: action_name,
                surroundings: &surroundings,
                attributes: attributes.as_deref(),
            },
            &slice.reads,
        );
        if let Some(verdict) = key.as_deref().and_then(|key| self.memo.get(key)) {
            return verdict;
        }
        let verdict = self.evaluate(request, action, &slice.policies, attributes, &surroundings);
        if let Some(key) = key
            && verdict.errors.is_empty()
        {
            self.memo.insert(key, verdict.clone());
        }
        verdict
    }

    /// Decide one request with Cedar.
    fn evaluate(
        &self,
        request: &PolicyRequest<'_>,
        action: &ActionEntry,
        policies: &PolicySet,
        attributes: Option<Vec<(&'static str, Attribute)>>,
        surroundings: &Surroundings,
    ) -> PolicyVerdict {
        let built = match self
            .vocabulary
            .entities(request.identity, request.connection, action)
        {
            Ok(built) => built,
            Err(error) => return PolicyVerdict::failed(error),
        };
        let context = match context::build(attributes, surroundings) {
            Ok(context) => context,
            Err(error) => return PolicyVerdict::failed(error),
        };
        let cedar_request = match Request::new(
            built.principal.clone(),
            action.uid.clone(),
            built.resource.clone(),
            context,
            None,
        ) {
            Ok(cedar_request) => cedar_request,
            Err(error) => return PolicyVerdict::failed(format!("request: {error}")),
        };
        let response = self
            .authorizer
            .is_authorized(&cedar_request, policies, &built.entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        let allowed = response.decision() == Decision::Allow && errors.is_empty();
        let determining_policies = if allowed || response.decision() == Decision::Deny {
            let mut ids: Vec<(usize, String)> = response
                .diagnostics()
                .reason()
                .map(|id| {
                    let id = id.to_string();
                    (self.order.get(&id).copied().unwrap_or(usize::MAX), id)
                })
                .collect();
            ids.sort_unstable();
            ids.into_iter().map(|(_, id)| id).collect()
        } else {
            Vec::new()
        };
        // Allowed by a permit that asks for no approval: allowed. Allowed only by permits
        // that do: held, for the first of them in load order.
        let hold = if allowed
            && determining_policies
                .iter()
                .all(|id| self.approvals.contains_key(id))
        {
            determining_policies
                .first()
                .and_then(|id| self.approvals.get(id))
                .cloned()
        } else {
            None
        };
        let max_rows = if allowed {
            crate::row_cap::cap_of(&self.row_caps, &determining_policies)
        } else {
            None
        };
        PolicyVerdict {
            allowed: allowed && hold.is_none(),
            determining_policies,
            errors,
            hold,
            max_rows,
        }
    }

    /// This engine, memoising nothing: what the memo's verdicts are compared with.
    #[cfg(test)]
    pub(crate) fn without_memo(mut self) -> Self {
        self.memo = Memo::new(0);
        self
    }

    /// Whether any verdict for `action_name` can be a hold: an `@approval` policy's action
    /// scope includes it. When not, nobody needs to ask before deciding whether a request
    /// with it would be held (an adapter gathers what an approval binds to only for these).
    pub fn may_hold(&self, action_name: &str) -> bool {
        self.by_action
            .get(action_name)
            .is_none_or(|action| action.may_hold)
    }

    /// What the `@approval` policy `policy_id` asks, if it is one.
    pub fn approval_requirement(&self, policy_id: &str) -> Option<&ApprovalRequirement> {
        self.approvals.get(policy_id)
    }
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("version", &self.version)
            .field("policies", &self.ids)
            .finish_non_exhaustive()
    }
}

/// First 16 hex characters of sha256 over the names and texts, each length-prefixed so that
/// moving text between names changes the hash.
fn version_of(sources: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    for (name, text) in sources {
        for part in [name, text] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    let mut version = hex::encode(hasher.finalize());
    version.truncate(16);
    version
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;
    use cedar_policy::Entities;
    use gatehouse_core::{ConnectionKind, IdentityKind, SQL_PROTOCOL, SqlKind, SqlStatement};

    fn sql_schema() -> PolicySchema {
        PolicySchema::new(&[&SQL_PROTOCOL]).unwrap()
    }

    fn sql(kind: SqlKind) -> Action {
        Action::of(SqlStatement {
            text: "select 1".into(),
            kind,
            reads: vec!["a".into(), "b".into()],
            writes: vec!["b".into()],
            functions: vec!["now".into()],
            fingerprint: "select ?".into(),
            reason: None,
            all_rows: false,
            context: None,
            lineage: None,
        })
    }

    /// Every context and entity set `decide` builds conforms to the schema, for every action.
    #[test]
    fn built_requests_conform_to_the_schema() {
        let policy_schema = sql_schema();
        let schema = policy_schema.schema.clone();
        let vocabulary = Vocabulary::new(&policy_schema).unwrap();
        let mut identity = Identity::new(
            "ana",
            IdentityKind::Machine,
            vec!["readers".into(), "ops".into(), "readers".into()],
        );
        identity.acting_for = vec!["bob".into()];
        let connection = ConnectionInfo {
            name: "prod-db".into(),
            kind: ConnectionKind::POSTGRES,
            environment: "prod".into(),
            tags: vec!["pii".into()],
            description: String::new(),
        };
        let mut actions = vec![Action::Connect];
        actions.extend(SqlKind::ALL.into_iter().map(sql));
        for action in &actions {
            for address in [
                None,
                Some("10.1.2.3".parse().unwrap()),
                Some("::1".parse().unwrap()),
            ] {
                let entry = vocabulary.action(action.name()).unwrap();
                let built = vocabulary.build(&identity, &connection, entry).unwrap();
                let context = context::build(
                    action.request().map(|request| request.attributes()),
                    &Surroundings {
                        source_address: address,
                        now_unix_seconds: 1_700_000_000,
                    },
                )
                .unwrap();
                Request::new(
                    built.principal.clone(),
                    entry.uid.clone(),
                    built.resource.clone(),
                    context,
                    Some(&schema),
                )
                .unwrap_or_else(|error| panic!("{}: {error}", action.name()));
                Entities::from_entities(built.entities.iter().cloned(), Some(&schema))
                    .unwrap_or_else(|error| panic!("{}: {error}", action.name()));
            }
        }
    }

    /// Deciding against an action's slice of the policy set gives exactly what the whole set
    /// gives, for every action and every kind of action scope.
    #[test]
    fn action_slices_decide_like_the_whole_set() {
        let engine = PolicyEngine::from_sources(&[(
            "scopes.cedar".into(),
            r#"
            permit (principal in Gatehouse::Group::"a", action, resource);
            permit (principal in Gatehouse::Group::"b", action == Gatehouse::Action::"sql:insert", resource);
            permit (principal in Gatehouse::Group::"c", action in Gatehouse::Action::"sql:write", resource);
            permit (principal in Gatehouse::Group::"d", action in [Gatehouse::Action::"connect", Gatehouse::Action::"sql:read"], resource);
            forbid (principal in Gatehouse::Group::"e", action in Gatehouse::Action::"sql:any", resource);
            forbid (principal in Gatehouse::Group::"f", action in [Gatehouse::Action::"sql:ddl", Gatehouse::Action::"sql:write"], resource)
              when { context.now * 10000000000 > 0 };
            "#
            .into(),
        )], &sql_schema())
        .unwrap();
        let connection = ConnectionInfo {
            name: "db".into(),
            kind: ConnectionKind::POSTGRES,
            environment: "dev".into(),
            tags: Vec::new(),
            description: String::new(),
        };
        let mut actions = vec![Action::Connect];
        actions.extend(SqlKind::ALL.into_iter().map(sql));
        let mut sliced_out = 0;
        for groups in [
            vec![],
            vec!["a"],
            vec!["b"],
            vec!["c"],
            vec!["d"],
            vec!["e", "a"],
            vec!["f", "d", "c"],
        ] {
            let identity = Identity::new(
                "x",
                IdentityKind::Human,
                groups.iter().map(|g| (*g).to_owned()).collect(),
            );
            for action in &actions {
                let entry = engine.vocabulary.action(action.name()).unwrap();
                let slice = &engine.by_action[action.name()].policies;
                sliced_out += engine.policies.num_of_policies() - slice.num_of_policies();
                let built = engine
                    .vocabulary
                    .build(&identity, &connection, entry)
                    .unwrap();
                let surroundings = Surroundings {
                    source_address: None,
                    now_unix_seconds: 1_700_000_000,
                };
                let request = || {
                    Request::new(
                        built.principal.clone(),
                        entry.uid.clone(),
                        built.resource.clone(),
                        context::build(
                            action.request().map(|request| request.attributes()),
                            &surroundings,
                        )
                        .unwrap(),
                        None,
                    )
                    .unwrap()
                };
                let whole =
                    engine
                        .authorizer
                        .is_authorized(&request(), &engine.policies, &built.entities);
                let part = engine
                    .authorizer
                    .is_authorized(&request(), slice, &built.entities);
                assert_eq!(
                    whole.decision(),
                    part.decision(),
                    "{groups:?} {}",
                    action.name()
                );
                let ids = |r: &cedar_policy::Response| {
                    let mut ids: Vec<String> =
                        r.diagnostics().reason().map(ToString::to_string).collect();
                    ids.sort();
                    ids
                };
                assert_eq!(ids(&whole), ids(&part), "{groups:?} {}", action.name());
                let errors = |r: &cedar_policy::Response| {
                    let mut errors: Vec<String> =
                        r.diagnostics().errors().map(ToString::to_string).collect();
                    errors.sort();
                    errors
                };
                assert_eq!(
                    errors(&whole),
                    errors(&part),
                    "{groups:?} {}",
                    action.name()
                );
            }
        }
        assert!(sliced_out > 0, "slicing should leave some policies out");
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PolicyEngine>();
    }

    #[test]
    fn hour_is_utc_hour_of_now() {
        let context = context::build(
            None,
            &Surroundings {
                source_address: None,
                // 2023-11-14T22:13:20Z
                now_unix_seconds: 1_700_000_000,
            },
        )
        .unwrap();
        assert_eq!(
            context.get("hour").unwrap(),
            cedar_policy::EvalResult::Long(22)
        );
    }
}
