//! How much a statement costs to classify: parsed (first sight) versus cached (repeat).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_sql::{Classifier, classify};
use std::hint::black_box;

const JOIN: &str = "SELECT o.id, c.name, p.title FROM orders o \
    JOIN customers c ON c.id = o.customer_id \
    JOIN products p ON p.id = o.product_id \
    WHERE o.created_at > now() - interval '1 day' AND c.region = 'eu' \
    ORDER BY o.id DESC LIMIT 50";

fn bench(c: &mut Criterion) {
    c.bench_function("classify 3-table join (uncached)", |b| {
        b.iter(|| classify(black_box(JOIN)))
    });
    let cache = Classifier::new(1024);
    cache.classify(JOIN);
    c.bench_function("classify 3-table join (cached)", |b| {
        b.iter(|| cache.classify(black_box(JOIN)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
