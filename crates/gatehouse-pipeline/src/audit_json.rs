//! An audit event's stored JSON, written by hand on the hot path.
//!
//! Every forwarded statement stores two events, and serde_json's generic serializer spent
//! about 15,000 instructions on them: each of the ≈ 27 field names went through the same
//! byte-by-byte escaping as the values. [`AuditEvent::write_json`] writes the field names as
//! constant bytes and escapes values a word at a time ([`gatehouse_core::json_text`]). Its output is byte for byte what
//! `serde_json::to_vec(&event)` produces (the tests compare them over random events), so the
//! stored form, its MAC and every reader stay as they are: the serde derive remains the
//! definition of the format, and this is only a faster way to write it.

use crate::{AuditEvent, AuditIdentity, AuditOutcome};
use gatehouse_core::StatementContext;
use gatehouse_core::json_text::{
    write_count_map, write_i64, write_nullable_string_list, write_string, write_string_list,
    write_u64,
};

impl AuditEvent {
    /// Append this event's JSON, exactly as `serde_json::to_writer` would write it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time_unix_ms\":");
        write_i64(out, self.time_unix_ms);
        out.extend_from_slice(b",\"kind\":\"");
        out.extend_from_slice(self.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"identity\":");
        write_identity(out, &self.identity);
        if !self.acting_for.is_empty() {
            out.extend_from_slice(b",\"acting_for\":");
            write_string_list(out, &self.acting_for);
        }
        write_optional_string(out, b",\"session\":", self.session.as_deref());
        write_optional_string(out, b",\"connection\":", self.connection.as_deref());
        write_optional_string(out, b",\"source_address\":", self.source_address.as_deref());
        write_optional_string(out, b",\"action\":", self.action.as_deref());
        if let Some(decision) = self.decision {
            out.extend_from_slice(b",\"decision\":\"");
            out.extend_from_slice(decision.as_str().as_bytes());
            out.push(b'"');
        }
        if !self.policies.is_empty() {
            out.extend_from_slice(b",\"policies\":");
            write_string_list(out, &self.policies);
        }
        write_optional_string(out, b",\"request\":", self.request.as_deref());
        write_optional_string(out, b",\"fingerprint\":", self.fingerprint.as_deref());
        if let Some(outcome) = &self.outcome {
            out.extend_from_slice(b",\"outcome\":");
            write_outcome(out, outcome);
        }
        if let Some(refers_to) = self.refers_to {
            out.extend_from_slice(b",\"refers_to\":");
            write_i64(out, refers_to);
        }
        write_optional_string(out, b",\"detail\":", self.detail.as_deref());
        if let Some(context) = &self.context {
            out.extend_from_slice(b",\"context\":");
            write_context(out, context);
        }
        out.push(b'}');
    }
}

fn write_identity(out: &mut Vec<u8>, identity: &AuditIdentity) {
    out.extend_from_slice(b"{\"subject\":");
    write_string(out, &identity.subject);
    out.extend_from_slice(b",\"kind\":");
    write_string(out, &identity.kind);
    if !identity.groups.is_empty() {
        out.extend_from_slice(b",\"groups\":");
        write_string_list(out, &identity.groups);
    }
    out.push(b'}');
}

fn write_outcome(out: &mut Vec<u8>, outcome: &AuditOutcome) {
    // `duration_us` is always present, so every other field can lead with a comma after it
    // or after the opening brace: track whether one was written.
    out.push(b'{');
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, name: &[u8]| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(name);
        out.extend_from_slice(b"\":");
    };
    if let Some(rows) = outcome.rows {
        field(out, b"rows");
        write_u64(out, rows);
    }
    if let Some(status) = &outcome.status {
        field(out, b"status");
        write_string(out, status);
    }
    if let Some(error) = &outcome.error {
        field(out, b"error");
        write_string(out, error);
    }
    field(out, b"duration_us");
    write_u64(out, outcome.duration_us);
    if !outcome.masked.is_empty() {
        field(out, b"masked");
        write_count_map(out, &outcome.masked);
    }
    if let Some(bytes) = outcome.request_bytes {
        field(out, b"request_bytes");
        write_u64(out, bytes);
    }
    if let Some(bytes) = outcome.response_bytes {
        field(out, b"response_bytes");
        write_u64(out, bytes);
    }
    out.push(b'}');
}

fn write_context(out: &mut Vec<u8>, context: &StatementContext) {
    out.push(b'{');
    if !context.parameters.is_empty() {
        out.extend_from_slice(b"\"parameters\":");
        write_nullable_string_list(out, &context.parameters);
        out.push(b',');
    }
    if !context.resolved.is_empty() {
        out.extend_from_slice(b"\"resolved\":[");
        for (index, (name, value)) in context.resolved.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.push(b'[');
            write_string(out, name);
            out.push(b',');
            write_string(out, value);
            out.push(b']');
        }
        out.extend_from_slice(b"],");
    }
    out.extend_from_slice(b"\"digest\":");
    write_string(out, &context.digest);
    out.push(b'}');
}

fn write_optional_string(out: &mut Vec<u8>, field: &[u8], value: Option<&str>) {
    if let Some(value) = value {
        out.extend_from_slice(field);
        write_string(out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuditEventKind;
    use gatehouse_core::DecisionKind;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z:_ ]{0,12}",
            any::<String>(),
            "[\\x00-\\x7f\"\\\\]{0,40}",
        ]
    }

    fn optional_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    fn outcome() -> impl Strategy<Value = AuditOutcome> {
        (
            proptest::option::of(any::<u64>()),
            optional_text(),
            optional_text(),
            any::<u64>(),
            proptest::collection::btree_map(text(), any::<u64>(), 0..3),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(
                |(rows, status, error, duration_us, masked, request_bytes, response_bytes)| {
                    AuditOutcome {
                        rows,
                        status,
                        error,
                        duration_us,
                        masked: masked.into_iter().collect::<BTreeMap<_, _>>(),
                        request_bytes,
                        response_bytes,
                    }
                },
            )
    }

    fn context() -> impl Strategy<Value = StatementContext> {
        (
            proptest::collection::vec(optional_text(), 0..3),
            proptest::collection::vec((text(), text()), 0..3),
            text(),
        )
            .prop_map(|(parameters, resolved, digest)| StatementContext {
                parameters,
                resolved,
                digest,
            })
    }

    fn event() -> impl Strategy<Value = AuditEvent> {
        let kinds = prop_oneof![
            Just(AuditEventKind::Connect),
            Just(AuditEventKind::Request),
            Just(AuditEventKind::Outcome),
            Just(AuditEventKind::KeyChange),
            Just(AuditEventKind::AuthFailure),
        ];
        let decisions = proptest::option::of(prop_oneof![
            Just(DecisionKind::Allow),
            Just(DecisionKind::Deny),
            Just(DecisionKind::Hold),
        ]);
        (
            (
                any::<i64>(),
                kinds,
                text(),
                text(),
                proptest::collection::vec(text(), 0..3),
            ),
            (
                proptest::collection::vec(text(), 0..2),
                optional_text(),
                optional_text(),
                optional_text(),
                optional_text(),
                decisions,
            ),
            (
                proptest::collection::vec(text(), 0..3),
                optional_text(),
                optional_text(),
                proptest::option::of(outcome()),
                proptest::option::of(any::<i64>()),
                optional_text(),
                proptest::option::of(context()),
            ),
        )
            .prop_map(
                |(
                    (time_unix_ms, kind, subject, identity_kind, groups),
                    (acting_for, session, connection, source_address, action, decision),
                    (policies, request, fingerprint, outcome, refers_to, detail, context),
                )| AuditEvent {
                    time_unix_ms,
                    kind,
                    identity: AuditIdentity {
                        subject,
                        kind: identity_kind,
                        groups,
                    }
                    .into(),
                    acting_for,
                    session,
                    connection,
                    source_address,
                    action,
                    decision,
                    policies,
                    request,
                    fingerprint,
                    outcome,
                    refers_to,
                    detail,
                    context,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn writes_exactly_what_serde_json_writes(event in event()) {
            let mut written = Vec::new();
            event.write_json(&mut written);
            let expected = serde_json::to_vec(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
        }
    }
}
