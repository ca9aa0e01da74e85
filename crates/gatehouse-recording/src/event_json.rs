//! The NDJSON line of an event, written by hand for the kinds every statement writes.
//!
//! Each forwarded statement adds a `request` and a `result` event (and `rows` where results
//! are recorded). serde's `flatten` (the envelope's `at_us` beside the kind's fields) goes
//! through a generic map serializer; together with escaping every field name that was most of
//! a recording's cost per statement. These kinds are written here instead, byte for byte as
//! the serde derive writes them (the tests compare the two), so the format stays what
//! `FORMAT.md` and the derive say; every other kind is written by serde.

use crate::RecordingEvent;
use crate::event::{EventKind, RequestRef, ResultRows, ResultSummary};
use gatehouse_core::json_text::{
    write_count_map, write_i64, write_nullable_string_list, write_string, write_string_list,
    write_u64,
};

/// Append `event` as JSON (without the line's newline).
pub(crate) fn write_event(out: &mut Vec<u8>, event: &RecordingEvent) -> serde_json::Result<()> {
    match &event.kind {
        EventKind::Request(request) => write_request(out, event.at_us, &request.borrowed()),
        EventKind::Result(summary) => write_result(out, event.at_us, summary),
        EventKind::Rows(rows) => write_rows(out, event.at_us, rows),
        _ => return serde_json::to_writer(out, event),
    }
    Ok(())
}

fn write_envelope(out: &mut Vec<u8>, at_us: u64, kind: &[u8], request: u64) {
    out.extend_from_slice(b"{\"at_us\":");
    write_u64(out, at_us);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(kind);
    out.extend_from_slice(b"\",\"request\":");
    write_u64(out, request);
}

/// A request event, as serde writes [`EventKind::Request`] of the same fields.
pub(crate) fn write_request(out: &mut Vec<u8>, at_us: u64, request: &RequestRef<'_>) {
    write_envelope(out, at_us, b"request", request.request);
    out.extend_from_slice(b",\"action\":");
    write_string(out, request.action);
    out.extend_from_slice(b",\"decision\":\"");
    out.extend_from_slice(request.decision.as_str().as_bytes());
    out.push(b'"');
    if !request.policies.is_empty() {
        out.extend_from_slice(b",\"policies\":");
        write_string_list(out, request.policies);
    }
    if let Some(text) = request.text {
        out.extend_from_slice(b",\"text\":");
        write_string(out, text);
    }
    if let Some(fingerprint) = request.fingerprint {
        out.extend_from_slice(b",\"fingerprint\":");
        write_string(out, fingerprint);
    }
    if let Some(seq) = request.audit_seq {
        out.extend_from_slice(b",\"audit_seq\":");
        write_i64(out, seq);
    }
    out.push(b'}');
}

fn write_result(out: &mut Vec<u8>, at_us: u64, summary: &ResultSummary) {
    write_envelope(out, at_us, b"result", summary.request);
    if !summary.columns.is_empty() {
        out.extend_from_slice(b",\"columns\":[");
        for (index, column) in summary.columns.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"name\":");
            write_string(out, &column.name);
            if let Some(type_name) = &column.type_name {
                out.extend_from_slice(b",\"type\":");
                write_string(out, type_name);
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"rows\":");
    write_u64(out, summary.rows);
    out.extend_from_slice(b",\"bytes\":");
    write_u64(out, summary.bytes);
    out.extend_from_slice(b",\"duration_us\":");
    write_u64(out, summary.duration_us);
    if let Some(status) = &summary.status {
        out.extend_from_slice(b",\"status\":");
        write_string(out, status);
    }
    if let Some(error) = &summary.error {
        out.extend_from_slice(b",\"error\":{\"code\":");
        write_string(out, &error.code);
        out.extend_from_slice(b",\"message\":");
        write_string(out, &error.message);
        out.push(b'}');
    }
    if !summary.masked.is_empty() {
        out.extend_from_slice(b",\"masked\":");
        write_count_map(out, &summary.masked);
    }
    out.push(b'}');
}

fn write_rows(out: &mut Vec<u8>, at_us: u64, batch: &ResultRows) {
    write_envelope(out, at_us, b"rows", batch.request);
    out.extend_from_slice(b",\"rows\":[");
    for (index, row) in batch.rows.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_nullable_string_list(out, row);
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Column, Request, ResultError, SessionEnd};
    use gatehouse_core::DecisionKind;
    use proptest::collection::{btree_map, vec};
    use proptest::option;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z:_ ]{0,12}",
            any::<String>(),
            "[\\x00-\\x7f\"\\\\]{0,30}"
        ]
    }

    fn kind() -> impl Strategy<Value = EventKind> {
        let decision = prop_oneof![
            Just(DecisionKind::Allow),
            Just(DecisionKind::Deny),
            Just(DecisionKind::Hold)
        ];
        prop_oneof![
            (
                (any::<u64>(), text(), decision, vec(text(), 0..3)),
                (
                    option::of(text()),
                    option::of(text()),
                    option::of(any::<i64>())
                ),
            )
                .prop_map(
                    |((request, action, decision, policies), (text, fingerprint, audit_seq))| {
                        EventKind::Request(Request {
                            request,
                            action,
                            decision,
                            policies,
                            text,
                            fingerprint,
                            audit_seq,
                        })
                    }
                ),
            (
                (any::<u64>(), vec((text(), option::of(text())), 0..3)),
                (any::<u64>(), any::<u64>(), any::<u64>(), option::of(text())),
                (
                    option::of((text(), text())),
                    btree_map(text(), any::<u64>(), 0..3)
                ),
            )
                .prop_map(
                    |((request, columns), (rows, bytes, duration_us, status), (error, masked))| {
                        EventKind::Result(ResultSummary {
                            request,
                            columns: columns
                                .into_iter()
                                .map(|(name, type_name)| Column { name, type_name })
                                .collect(),
                            rows,
                            bytes,
                            duration_us,
                            status,
                            error: error.map(|(code, message)| ResultError { code, message }),
                            masked,
                        })
                    }
                ),
            (any::<u64>(), vec(vec(option::of(text()), 0..3), 0..3))
                .prop_map(|(request, rows)| EventKind::Rows(ResultRows { request, rows })),
            text().prop_map(|reason| EventKind::SessionEnd(SessionEnd { reason })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn writes_exactly_what_serde_json_writes(at_us in any::<u64>(), kind in kind()) {
            let event = RecordingEvent { at_us, kind };
            let mut written = Vec::new();
            write_event(&mut written, &event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let expected = serde_json::to_vec(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
        }
    }
}
