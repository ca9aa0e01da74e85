//! What encoding an audit event's stored JSON costs: serde_json's generic serializer against
//! `AuditEvent::write_json`, which writes the same bytes. The events are the two a pgbench
//! select stores through a masked session (a request with its resolved context, and its
//! outcome with masked counts), the encoding every forwarded statement pays twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::{DecisionKind, StatementContext};
use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditIdentity, AuditOutcome};
use std::hint::black_box;

fn session_event(kind: AuditEventKind) -> AuditEvent {
    AuditEvent {
        time_unix_ms: 1_796_594_400_123,
        kind,
        identity: AuditIdentity {
            subject: "bench".to_owned(),
            kind: "machine".to_owned(),
            groups: vec!["readers".to_owned()],
        }
        .into(),
        acting_for: Vec::new(),
        session: Some("s-7f3a9c2e41d04b8e".to_owned()),
        connection: Some("bench".to_owned()),
        source_address: Some("127.0.0.1".to_owned()),
        action: None,
        decision: None,
        policies: Vec::new(),
        request: None,
        fingerprint: None,
        outcome: None,
        refers_to: None,
        detail: None,
        context: None,
    }
}

fn encode(c: &mut Criterion) {
    let request = AuditEvent {
        action: Some("sql:select".to_owned()),
        decision: Some(DecisionKind::Allow),
        policies: vec!["readers-may-read".to_owned()],
        request: Some("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;".to_owned()),
        fingerprint: Some("a1b2c3d4e5f60718".to_owned()),
        context: Some(StatementContext {
            parameters: Vec::new(),
            resolved: vec![
                ("search_path".to_owned(), "\"$user\", public".to_owned()),
                ("role".to_owned(), "gatehouse_bench_read".to_owned()),
                ("relation pgbench_accounts".to_owned(), "16397".to_owned()),
            ],
            digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        }),
        ..session_event(AuditEventKind::Request)
    };
    let outcome = AuditEvent {
        outcome: Some(AuditOutcome {
            rows: Some(1),
            status: Some("SELECT 1".to_owned()),
            error: None,
            duration_us: 187,
            masked: [("email".to_owned(), 0)].into_iter().collect(),
            request_bytes: None,
            response_bytes: None,
        }),
        refers_to: Some(1_234_567),
        ..session_event(AuditEventKind::Outcome)
    };
    let mut by_hand = Vec::new();
    for event in [&request, &outcome] {
        by_hand.clear();
        event.write_json(&mut by_hand);
        assert_eq!(by_hand, serde_json::to_vec(event).unwrap());
    }

    let mut body = Vec::with_capacity(1024);
    c.bench_function("audit event JSON, request + outcome (serde_json)", |b| {
        b.iter(|| {
            for event in [&request, &outcome] {
                body.clear();
                serde_json::to_writer(&mut body, black_box(event)).unwrap();
            }
            black_box(body.len())
        })
    });
    c.bench_function("audit event JSON, request + outcome (write_json)", |b| {
        b.iter(|| {
            for event in [&request, &outcome] {
                body.clear();
                black_box(event).write_json(&mut body);
            }
            black_box(body.len())
        })
    });
}

criterion_group!(benches, encode);
criterion_main!(benches);
