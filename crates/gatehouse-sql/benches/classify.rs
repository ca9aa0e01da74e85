//! How much a statement costs to classify: parsed (first sight), a repeat of the same text
//! (full-text cache), and the same statement with a new literal value (template cache).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_sql::{Classifier, classify};
use std::hint::black_box;

const JOIN: &str = "SELECT o.id, c.name, p.title FROM orders o \
    JOIN customers c ON c.id = o.customer_id \
    JOIN products p ON p.id = o.product_id \
    WHERE o.created_at > now() - interval '1 day' AND c.region = 'eu' \
    ORDER BY o.id DESC LIMIT 50";

/// pgbench's simple-protocol statement, with a new `aid` each time.
fn pgbench(aid: u32) -> String {
    format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};")
}

fn bench(c: &mut Criterion) {
    c.bench_function("classify 3-table join (uncached)", |b| {
        b.iter(|| classify(black_box(JOIN)))
    });
    let cache = Classifier::new(1024);
    cache.classify(JOIN);
    c.bench_function("classify 3-table join (cached)", |b| {
        b.iter(|| cache.classify(black_box(JOIN)))
    });

    let texts: Vec<String> = (0..4096).map(|n| pgbench(n * 7919 % 100_000)).collect();
    let first = pgbench(48213);
    c.bench_function("classify pgbench select (uncached)", |b| {
        b.iter(|| classify(black_box(&first)))
    });
    let cache = Classifier::new(1024);
    cache.classify(&first);
    c.bench_function("classify pgbench select (full-text hit)", |b| {
        b.iter(|| cache.classify(black_box(&first)))
    });
    let mut next = texts.iter().cycle();
    c.bench_function("classify pgbench select (template hit, new aid)", |b| {
        b.iter(|| cache.classify(black_box(next.next().unwrap())))
    });
    // a new statement every time: the template's proof on top of the parse
    let mut n = 0u64;
    c.bench_function("classify pgbench select (miss, new table)", |b| {
        b.iter(|| {
            n += 1;
            let sql = format!("SELECT abalance FROM pgbench_accounts_{n} WHERE aid = {n};");
            cache.classify(black_box(&sql))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
