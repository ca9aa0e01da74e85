//! What a statement's meaning depends on besides its text, so that the audit log records it
//! and an approval binds to it: the parameter values a Bind gave the statement
//! (`DELETE FROM t WHERE id = $1` with 11 is not the statement with 12), and the session state
//! its names resolve in — `search_path`, the role, and the relation each name resolves to (a
//! temporary table can shadow `canary` without any `search_path` change).
//!
//! Parameters are recorded as text (binary ones as `\x` hex), masked when the session's
//! results are masked; the digest covers their exact bytes and formats, so masking what is
//! shown never makes two different values bind alike. Session state is read from the server
//! itself (`resolution_query`), only for statements that policy holds for approval.

use crate::PgError;
use crate::encoding::TextEncoding;
use crate::wire::BodyReader;
use gatehouse_core::{SqlStatement, StatementContext};
use gatehouse_mask::{ColumnMask, MaskCounts, Masked, Masker};
use sha2::{Digest, Sha256};

/// Domain separation for the context digest.
const DIGEST_TAG: &[u8] = b"gatehouse-statement-context-v1\0";

/// The parameters of one Bind, as a portal carries them until it is executed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BoundParameters {
    /// As shown to reviewers and the audit log.
    shown: Vec<Option<String>>,
    /// SHA-256 of the parameter formats and values exactly as the client sent them.
    exact: [u8; 32],
}

impl BoundParameters {
    /// Read the parameters of a Bind message (`rest`: everything after the portal and
    /// statement names). `masker`: the session's, when its results are masked.
    pub fn read(
        rest: &[u8],
        encoding: TextEncoding,
        masker: Option<&Masker>,
    ) -> Result<BoundParameters, PgError> {
        let mut reader = BodyReader::new(rest, "Bind");
        let format_count = usize::try_from(reader.i16()?).unwrap_or(0);
        let mut formats = Vec::with_capacity(format_count.min(1600));
        for _ in 0..format_count {
            formats.push(reader.i16()?);
        }
        let value_count = usize::try_from(reader.i16()?).unwrap_or(0);
        let mut shown = Vec::with_capacity(value_count.min(1600));
        for index in 0..value_count {
            let length = reader.i32()?;
            let Ok(length) = usize::try_from(length) else {
                shown.push(None);
                continue;
            };
            let value = reader.take(length)?;
            let binary = match formats.as_slice() {
                [] => false,
                [all] => *all == 1,
                each => each.get(index).is_some_and(|format| *format == 1),
            };
            shown.push(Some(show(value, binary, encoding, masker)));
        }
        let consumed = rest.len().saturating_sub(reader.remaining().len());
        let mut hasher = Sha256::new();
        hasher.update(rest.get(..consumed).unwrap_or(rest));
        Ok(BoundParameters {
            shown,
            exact: hasher.finalize().into(),
        })
    }

    /// The context of a statement run with these parameters (and no session state yet).
    pub fn context(&self) -> Option<StatementContext> {
        if self.shown.is_empty() {
            return None;
        }
        Some(StatementContext {
            parameters: self.shown.clone(),
            resolved: Vec::new(),
            digest: digest(&self.exact, &[]),
        })
    }
}

/// One parameter value as text: decoded from the client's encoding (or hex when it is binary
/// or not text), and masked in a masked session.
fn show(value: &[u8], binary: bool, encoding: TextEncoding, masker: Option<&Masker>) -> String {
    let text = match (binary, encoding.decode(value)) {
        (false, Ok(text)) => text.into_owned(),
        _ => format!("\\x{}", hex::encode(value)),
    };
    match masker {
        Some(masker) => {
            match masker.mask_value(&ColumnMask::Scan, &text, &mut MaskCounts::default()) {
                Masked::Unchanged(_) => text,
                Masked::Replaced(masked) => masked,
                Masked::Null => "(masked)".to_owned(),
            }
        }
        None => text,
    }
}

/// `context` with the session state the server reported added, its digest recomputed.
pub(crate) fn with_resolution(
    context: Option<&StatementContext>,
    parameters: Option<&BoundParameters>,
    resolved: Vec<(String, String)>,
) -> StatementContext {
    let exact = parameters.map(|p| p.exact).unwrap_or_default();
    StatementContext {
        parameters: context.map(|c| c.parameters.clone()).unwrap_or_default(),
        digest: digest(&exact, &resolved),
        resolved,
    }
}

fn digest(exact_parameters: &[u8; 32], resolved: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DIGEST_TAG);
    hasher.update(exact_parameters);
    for (name, value) in resolved {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// A query that reads the session state `statement` resolves names in: one row of text
/// columns, `search_path`, the role, then the OID of each relation it names (NULL when the
/// name resolves to nothing). The names are the classifier's, each part quoted exactly.
pub(crate) fn resolution_query(statement: &SqlStatement) -> (String, Vec<String>) {
    let mut relations: Vec<String> = statement
        .reads
        .iter()
        .chain(&statement.writes)
        .filter(|name| name_parts(name).len() <= 2)
        .cloned()
        .collect();
    relations.sort();
    relations.dedup();
    let mut sql = String::from(
        "SELECT pg_catalog.current_setting('search_path'), current_user::pg_catalog.text",
    );
    for name in &relations {
        let quoted: Vec<String> = name_parts(name)
            .iter()
            .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
            .collect();
        let literal = quoted.join(".").replace('\\', "\\\\").replace('\'', "\\'");
        sql.push_str(&format!(
            ", pg_catalog.to_regclass(E'{literal}')::pg_catalog.oid::pg_catalog.text"
        ));
    }
    (sql, relations)
}

/// The `(name, value)` pairs of a resolution query's row.
pub(crate) fn resolved_state(
    relations: &[String],
    row: &[Option<String>],
) -> Vec<(String, String)> {
    let value = |index: usize| row.get(index).cloned().flatten().unwrap_or_default();
    let mut resolved = vec![
        ("search_path".to_owned(), value(0)),
        ("role".to_owned(), value(1)),
    ];
    for (offset, name) in relations.iter().enumerate() {
        resolved.push((format!("relation {name}"), value(offset + 2)));
    }
    resolved
}

/// The parts of a relation name as the classifier renders it (`schema.table`, a part with a
/// dot or quote double-quoted).
fn name_parts(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut chars = name.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                part.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut part)),
            c => part.push(c),
        }
    }
    parts.push(part);
    parts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// A Bind's rest: formats, values, result formats.
    fn rest(formats: &[i16], values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&i16::try_from(formats.len()).unwrap().to_be_bytes());
        for format in formats {
            out.extend_from_slice(&format.to_be_bytes());
        }
        out.extend_from_slice(&i16::try_from(values.len()).unwrap().to_be_bytes());
        for value in values {
            match value {
                Some(bytes) => {
                    out.extend_from_slice(&i32::try_from(bytes.len()).unwrap().to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out.extend_from_slice(&0i16.to_be_bytes());
        out
    }

    #[test]
    fn parameters_are_shown_as_text_and_bound_by_their_exact_bytes() {
        let encoding = TextEncoding::default();
        let eleven =
            BoundParameters::read(&rest(&[], &[Some(b"11"), None]), encoding, None).unwrap();
        let twelve =
            BoundParameters::read(&rest(&[], &[Some(b"12"), None]), encoding, None).unwrap();
        let context = eleven.context().unwrap();
        assert_eq!(context.parameters, [Some("11".to_owned()), None]);
        assert_ne!(context.digest, twelve.context().unwrap().digest);
        // The same text in binary format is another binding.
        let binary =
            BoundParameters::read(&rest(&[1], &[Some(b"11"), None]), encoding, None).unwrap();
        assert_eq!(
            binary.context().unwrap().parameters[0].as_deref(),
            Some("\\x3131")
        );
        assert_ne!(binary.context().unwrap().digest, context.digest);
        assert!(
            BoundParameters::read(&rest(&[], &[]), encoding, None)
                .unwrap()
                .context()
                .is_none()
        );
        assert!(BoundParameters::read(&[0, 0, 0, 1, 0, 0], encoding, None).is_err());
    }

    #[test]
    fn session_state_changes_the_digest() {
        let encoding = TextEncoding::default();
        let parameters = BoundParameters::read(&rest(&[], &[Some(b"11")]), encoding, None).unwrap();
        let context = parameters.context();
        let public = with_resolution(
            context.as_ref(),
            Some(&parameters),
            vec![("search_path".into(), "public".into())],
        );
        let shadow = with_resolution(
            context.as_ref(),
            Some(&parameters),
            vec![("search_path".into(), "shadow".into())],
        );
        assert_ne!(public.digest, shadow.digest);
        assert_eq!(public.parameters, [Some("11".to_owned())]);
    }

    #[test]
    fn the_resolution_query_quotes_every_name_part() {
        let statement =
            gatehouse_sql::classify("DELETE FROM \"Odd\"\"Name\" USING public.t, \"a.b\"")
                .remove(0)
                .statement;
        let (sql, relations) = resolution_query(&statement);
        assert_eq!(relations.len(), 3, "{relations:?}");
        assert!(sql.contains(r#"to_regclass(E'"Odd""Name"')"#), "{sql}");
        assert!(sql.contains(r#"to_regclass(E'"public"."t"')"#), "{sql}");
        assert!(sql.contains(r#"to_regclass(E'"a.b"')"#), "{sql}");
        let resolved = resolved_state(&relations, &[Some("public".into()), Some("ana".into())]);
        assert_eq!(resolved[0], ("search_path".to_owned(), "public".to_owned()));
        assert_eq!(
            resolved[2].1, "",
            "a relation not found resolves to nothing"
        );
    }
}
