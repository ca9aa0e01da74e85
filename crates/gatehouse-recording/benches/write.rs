//! What recording costs on the data path: pushing realistic SQL events (a request and a result
//! per statement) through the writer, chunking and compression included, and how small they get.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_recording::*;
use std::collections::BTreeMap;
use std::hint::black_box;
use time::macros::datetime;

const TEMPLATES: [(&str, &str, &[&str]); 4] = [
    (
        "sql:select",
        "SELECT o.id, o.state, o.total_cents, c.email FROM orders o \
         JOIN customers c ON c.id = o.customer_id \
         WHERE o.customer_id = {} ORDER BY o.created_at DESC LIMIT 20",
        &["id", "state", "total_cents", "email"],
    ),
    (
        "sql:update",
        "UPDATE orders SET state = 'shipped', updated_at = now() WHERE id = {}",
        &[],
    ),
    (
        "sql:insert",
        "INSERT INTO order_events (order_id, kind, payload) VALUES ({}, 'note', '{{\"by\":\"ci-deploy\"}}')",
        &[],
    ),
    (
        "sql:select",
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'shop' AND pid <> {}",
        &["count"],
    ),
];

/// `statements` requests, each followed by its result, 2 ms apart. `varied` draws tables,
/// columns and literals pseudo-randomly instead of repeating four statement shapes.
fn events(statements: u64, varied: bool) -> Vec<RecordingEvent> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let mut events = Vec::new();
    for n in 0..statements {
        let (action, sql, columns) = TEMPLATES[(n % 4) as usize];
        let (statement, columns): (String, Vec<String>) = if varied {
            let table = format!("t{}_{:x}", random(40), random(1 << 20));
            let columns: Vec<String> = (0..1 + random(6))
                .map(|_| format!("c{}", random(200)))
                .collect();
            let statement = format!(
                "SELECT {} FROM {table} WHERE {} = '{:x}' AND {} > {}",
                columns.join(", "),
                columns[0],
                random(u64::MAX),
                columns[columns.len() - 1],
                random(1_000_000)
            );
            (statement, columns)
        } else {
            let literal = (10_000 + n * 7919 % 5000).to_string();
            (
                sql.replace("{}", &literal),
                columns.iter().map(|c| (*c).to_string()).collect(),
            )
        };
        let at_us = n * 2_000;
        events.push(RecordingEvent {
            at_us,
            kind: EventKind::Request(Request {
                request: n,
                action: action.into(),
                decision: DecisionKind::Allow,
                policies: vec!["writers-write".into()],
                text: Some(statement),
                fingerprint: Some(format!(
                    "{:016x}",
                    if varied { random(u64::MAX) } else { n % 4 }
                )),
                audit_seq: Some(100_000 + n as i64),
            }),
        });
        let rows = random(20);
        events.push(RecordingEvent {
            at_us: at_us + 350 + random(300),
            kind: EventKind::Result(ResultSummary {
                request: n,
                rows,
                bytes: rows * (40 + random(100)),
                duration_us: 350 + random(300),
                status: Some(if columns.is_empty() {
                    "UPDATE 1".into()
                } else {
                    format!("SELECT {rows}")
                }),
                error: None,
                masked: if columns.len() == 4 {
                    BTreeMap::from([("email".into(), rows)])
                } else {
                    BTreeMap::new()
                },
                columns: columns
                    .into_iter()
                    .map(|name| Column {
                        name,
                        type_name: Some("text".into()),
                    })
                    .collect(),
            }),
        });
    }
    events
}

fn header() -> RecordingHeader {
    RecordingHeader {
        session: "s-0123456789abcdef".into(),
        subject: "ci-deploy".into(),
        connection: "shop".into(),
        started_at: datetime!(2026-05-01 09:00 UTC),
        gatehouse_version: "0.1.0".into(),
    }
}

fn record(events: &[RecordingEvent], config: WriterConfig) -> usize {
    let mut writer = RecordingWriter::with_config(header(), config).unwrap();
    let mut bytes = 0;
    for event in events {
        if let Some(chunk) = writer.push(black_box(event)).unwrap() {
            bytes += chunk.bytes.len();
        }
    }
    bytes
        + writer
            .finish()
            .unwrap()
            .chunk
            .map_or(0, |chunk| chunk.bytes.len())
}

fn bench(c: &mut Criterion) {
    for (name, varied) in [("templated", false), ("varied", true)] {
        let events = events(2_048, varied);
        let json: usize = events
            .iter()
            .map(|event| serde_json::to_vec(event).unwrap().len() + 1)
            .sum();
        for level in [1, 3] {
            let stored = record(
                &events,
                WriterConfig {
                    level,
                    ..WriterConfig::default()
                },
            );
            eprintln!(
                "{name}, zstd level {level}: {} events, {json} bytes of NDJSON -> {stored} bytes, ratio {:.1}",
                events.len(),
                json as f64 / stored as f64
            );
        }
        let mut group = c.benchmark_group(format!("record {name} events"));
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function("encode only (serde_json)", |b| {
            let mut buffer = Vec::new();
            b.iter(|| {
                buffer.clear();
                for event in &events {
                    serde_json::to_writer(&mut buffer, black_box(event)).unwrap();
                }
                buffer.len()
            })
        });
        group.bench_function("push + chunk + compress", |b| {
            b.iter(|| record(&events, WriterConfig::default()))
        });
        let mut bytes = Vec::new();
        let mut writer = RecordingWriter::new(header()).unwrap();
        for event in &events {
            bytes.extend(
                writer
                    .push(event)
                    .unwrap()
                    .map(|chunk| chunk.bytes)
                    .unwrap_or_default(),
            );
        }
        bytes.extend(
            writer
                .finish()
                .unwrap()
                .chunk
                .map(|chunk| chunk.bytes)
                .unwrap_or_default(),
        );
        group.bench_function("parse + decode every event", |b| {
            b.iter(|| {
                Recording::parse(black_box(bytes.clone()))
                    .unwrap()
                    .events()
                    .count()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
