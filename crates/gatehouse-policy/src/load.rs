//! Turning policy texts into one validated Cedar policy set with gatehouse's policy ids.
//!
//! Cedar parses a text into policies named `policy0`, `policy1`, ...; gatehouse names each
//! policy by its `@id("...")` annotation, or `file:line` when it has none, so that audit
//! events and error messages point at something a person can find. Every problem in every file
//! is reported at once, as `file:line:col: reason`.

use crate::error::PolicyError;
use crate::source::{Source, policy_starts};
use cedar_policy::{
    PolicyId, PolicySet, Schema, ValidationError, ValidationMode, ValidationWarning, Validator,
};
use miette::Diagnostic;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

/// The result of a successful load.
pub(crate) struct Loaded {
    pub(crate) policies: PolicySet,
    /// Policy ids in load order.
    pub(crate) ids: Vec<String>,
    /// Validator warnings that do not refuse the load, as `file:line:col: reason`.
    pub(crate) warnings: Vec<String>,
}

/// Where a renamed policy came from.
struct Origin {
    /// Index into the sources.
    source: usize,
    /// Byte offset of the policy start.
    start: usize,
}

/// Parse, rename and validate `sources` against `schema`.
pub(crate) fn load(sources: &[Source<'_>], schema: &Schema) -> Result<Loaded, PolicyError> {
    let mut parse_errors = Vec::new();
    let mut parsed = Vec::with_capacity(sources.len());
    for source in sources {
        match PolicySet::from_str(source.text) {
            Ok(set) => parsed.push(set),
            Err(errors) => parse_errors.extend(
                errors
                    .iter()
                    .map(|error| source.diagnostic(first_offset(error), &describe(error))),
            ),
        }
    }
    if !parse_errors.is_empty() {
        return Err(PolicyError::Parse {
            errors: parse_errors,
        });
    }

    let mut policies = PolicySet::new();
    let mut ids = Vec::new();
    let mut origins: HashMap<String, Origin> = HashMap::new();
    let mut shape_errors = Vec::new();
    for (index, (source, set)) in sources.iter().zip(&parsed).enumerate() {
        let starts = policy_starts(source.text);
        let count = set.num_of_policies() + set.num_of_templates();
        if starts.len() != count {
            return Err(PolicyError::Internal(format!(
                "found {} policy starts in `{}` but Cedar parsed {count} policies",
                starts.len(),
                source.name
            )));
        }
        for (position, &start) in starts.iter().enumerate() {
            let cedar_id = PolicyId::new(format!("policy{position}"));
            let Some(policy) = set.policy(&cedar_id) else {
                if set.template(&cedar_id).is_some() {
                    shape_errors.push(source.diagnostic(
                        start,
                        "templates (`?principal`, `?resource`) are not supported; write a static policy naming the principal and resource",
                    ));
                    continue;
                }
                return Err(PolicyError::Internal(format!(
                    "policy {position} of `{}` is missing after parsing",
                    source.name
                )));
            };
            let id = match policy.annotation("id") {
                Some("") => {
                    shape_errors.push(source.diagnostic(
                        start,
                        "empty `@id(\"\")`; give the policy a name or remove the annotation",
                    ));
                    continue;
                }
                Some(id) => id.to_owned(),
                None => format!("{}:{}", source.name, source.line_col(start).0),
            };
            if let Some(first) = origins.get(&id) {
                let first_location = sources
                    .get(first.source)
                    .map_or_else(String::new, |first_source| {
                        first_source.location(first.start)
                    });
                return Err(PolicyError::DuplicateId {
                    id,
                    first: first_location,
                    second: source.location(start),
                });
            }
            policies
                .add(policy.new_id(PolicyId::new(&id)))
                .map_err(|error| PolicyError::Internal(error.to_string()))?;
            origins.insert(
                id.clone(),
                Origin {
                    source: index,
                    start,
                },
            );
            ids.push(id);
        }
    }
    if !shape_errors.is_empty() {
        return Err(PolicyError::Validation {
            errors: shape_errors,
        });
    }

    let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
    let locate = |policy_id: &PolicyId, error: &dyn Diagnostic| -> (usize, usize, String) {
        let message = describe(error);
        match origins.get(policy_id.to_string().as_str()) {
            Some(origin) => {
                let offset = labelled_offset(error).unwrap_or(origin.start);
                let text = sources.get(origin.source).map_or_else(
                    || format!("{policy_id}: {message}"),
                    |source| source.diagnostic(offset, &message),
                );
                (origin.source, offset, text)
            }
            None => (usize::MAX, 0, format!("{policy_id}: {message}")),
        }
    };
    let mut errors: Vec<(usize, usize, String)> = result
        .validation_errors()
        .map(|error| locate(error.policy_id(), error))
        .collect();
    // A policy with an error usually also "can never apply"; say so only for policies that
    // are otherwise valid, so each mistake is reported once.
    let erroneous: HashSet<&PolicyId> = result
        .validation_errors()
        .map(ValidationError::policy_id)
        .collect();
    let mut warnings = Vec::new();
    for warning in result.validation_warnings() {
        let located = locate(warning.policy_id(), warning);
        if refuses(warning) {
            if !erroneous.contains(warning.policy_id()) {
                errors.push(located);
            }
        } else {
            warnings.push(located);
        }
    }
    if !errors.is_empty() {
        errors.sort();
        errors.dedup();
        return Err(PolicyError::Validation {
            errors: errors.into_iter().map(|(_, _, text)| text).collect(),
        });
    }
    warnings.sort();
    Ok(Loaded {
        policies,
        ids,
        warnings: warnings.into_iter().map(|(_, _, text)| text).collect(),
    })
}

/// Warnings that mean a policy can never apply: almost always a mistake, and a dangerous one
/// for a `forbid` (it looks like protection but protects nothing), so they refuse the load.
fn refuses(warning: &ValidationWarning) -> bool {
    matches!(
        warning,
        ValidationWarning::ImpossiblePolicy(_) | ValidationWarning::InvalidActionApplication(_)
    )
}

/// Cedar's message, with its help text when it has one.
fn describe(error: &dyn Diagnostic) -> String {
    match error.help() {
        Some(help) => format!("{error} ({help})"),
        None => error.to_string(),
    }
}

/// Byte offset of the first labelled span of a Cedar diagnostic, if it has one.
fn labelled_offset(error: &dyn Diagnostic) -> Option<usize> {
    error
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset())
}

/// Offset for a parse error; errors without a span (rare) point at the file start.
fn first_offset(error: &dyn Diagnostic) -> usize {
    labelled_offset(error).unwrap_or(0)
}
