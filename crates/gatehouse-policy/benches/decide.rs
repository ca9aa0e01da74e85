//! How long one decision takes: a reader's SELECT over three tables under the quickstart
//! policy, the common case on the proxy's hot path (target: well under 20 µs).
//!
//! `warm` repeats one request, as a session does: its verdict comes from the engine's memo.
//! `warm, 2 threads` does so from two threads at once (each iteration is one decision per
//! thread), to show what the memo's lock costs when shared. `memo miss` gives every request a
//! new statement text under a policy set that reads `context.statement`, so the verdict is
//! evaluated by Cedar (the entity set comes from the per-thread cache); `cold` gives every
//! request a new subject, so the entity set is built afresh too. Both cycle through more
//! requests than the memo holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::{
    Action, ConnectionInfo, ConnectionKind, Identity, IdentityKind, SqlKind, SqlStatement,
};
use gatehouse_policy::{PolicyEngine, PolicyRequest, QUICKSTART_POLICY};
use std::hint::black_box;

fn decide(c: &mut Criterion) {
    let schema = gatehouse_policy::PolicySchema::new(&[
        &gatehouse_core::SQL_PROTOCOL,
        &gatehouse_k8s::K8S_PROTOCOL,
        &gatehouse_httpapi::HTTP_PROTOCOL,
        &gatehouse_ssh::SSH_PROTOCOL,
    ])
    .unwrap();
    let engine = PolicyEngine::from_sources(
        &[("quickstart.cedar".to_owned(), QUICKSTART_POLICY.to_owned())],
        &schema,
    )
    .unwrap();
    let identities: Vec<Identity> = (0..16_384)
        .map(|n| {
            Identity::new(
                format!("user-{n}"),
                IdentityKind::Human,
                vec!["readers".to_owned()],
            )
        })
        .collect();
    let connection = ConnectionInfo {
        name: "prod-db".to_owned(),
        kind: ConnectionKind::POSTGRES,
        environment: "prod".to_owned(),
        tags: vec!["pii".to_owned()],
        description: String::new(),
    };
    let select = |id: u32| {
        Action::of(SqlStatement {
            text: format!(
                "SELECT o.id, c.name, i.sku FROM orders o JOIN customers c ON c.id = o.customer_id \
                 JOIN items i ON i.order_id = o.id WHERE o.id = {id}"
            ),
            kind: SqlKind::Select,
            reads: vec![
                "orders".to_owned(),
                "customers".to_owned(),
                "items".to_owned(),
            ],
            writes: Vec::new(),
            functions: Vec::new(),
            fingerprint: "select o.id, c.name, i.sku from orders o join customers c \
                      on c.id = o.customer_id join items i on i.order_id = o.id where o.id = $1"
                .to_owned(),
            reason: None,
            all_rows: false,
            context: None,
            lineage: None,
        })
    };
    let action = select(42);
    let request = |identity| PolicyRequest {
        identity,
        connection: &connection,
        action: &action,
        source_address: Some("10.0.0.7".parse().unwrap()),
        now_unix_seconds: 1_700_000_000,
    };
    assert!(engine.decide(&request(&identities[0])).allowed);

    let warm = request(&identities[0]);
    c.bench_function("decide reader select 3 tables (warm)", |b| {
        b.iter(|| engine.decide(black_box(&warm)))
    });
    c.bench_function("decide reader select 3 tables (warm, 2 threads)", |b| {
        b.iter_custom(|iterations| {
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    scope.spawn(|| {
                        for _ in 0..iterations {
                            black_box(engine.decide(black_box(&warm)));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });

    let reading_text = PolicyEngine::from_sources(
        &[
            ("quickstart.cedar".to_owned(), QUICKSTART_POLICY.to_owned()),
            (
                "text.cedar".to_owned(),
                r#"forbid (principal, action in Gatehouse::Action::"sql:any", resource)
                   when { context.statement like "*pg_sleep*" };"#
                    .to_owned(),
            ),
        ],
        &schema,
    )
    .unwrap();
    let texts: Vec<Action> = (0..16_384).map(select).collect();
    let mut next_text = 0;
    c.bench_function("decide reader select 3 tables (memo miss)", |b| {
        b.iter(|| {
            next_text = (next_text + 1) % texts.len();
            reading_text.decide(black_box(&PolicyRequest {
                action: &texts[next_text],
                ..warm
            }))
        })
    });
    let mut next = 0;
    c.bench_function("decide reader select 3 tables (cold)", |b| {
        b.iter(|| {
            next = (next + 1) % identities.len();
            engine.decide(black_box(&request(&identities[next])))
        })
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);
