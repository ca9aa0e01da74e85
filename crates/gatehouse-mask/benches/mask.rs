//! What masking costs: (a) typical result rows, 8 mixed columns with PII in 10% of the rows,
//! per row; (b) one large text value (1 MiB of notes with scattered PII), as throughput;
//! (c) clean short values, the fast path most values take.
//!
//! The rows are `bench/presidio/rows.tsv`, the same file the Presidio baseline analyzes, and the
//! large text is built from their notes the same way `bench/presidio/baseline.py` builds it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_mask::{ColumnMask, ColumnRef, HashKey, MaskConfig, MaskCounts, Masker};
use std::hint::black_box;
use std::time::Duration;

const ROWS_TSV: &str = include_str!("../../../bench/presidio/rows.tsv");
const LARGE_TEXT_BYTES: usize = 1 << 20;

fn rows() -> (Vec<&'static str>, Vec<Vec<&'static str>>) {
    let mut lines = ROWS_TSV.lines();
    let header = lines.next().unwrap().split('\t').collect();
    let rows = lines.map(|line| line.split('\t').collect()).collect();
    (header, rows)
}

/// The notes of all rows joined by spaces, repeated up to 1 MiB.
fn large_text(rows: &[Vec<&str>]) -> String {
    let notes: Vec<&str> = rows.iter().map(|row| row[7]).collect();
    let block = notes.join(" ");
    let mut text = String::with_capacity(LARGE_TEXT_BYTES + block.len());
    while text.len() < LARGE_TEXT_BYTES {
        text.push_str(&block);
        text.push(' ');
    }
    text.truncate(text.floor_char_boundary(LARGE_TEXT_BYTES));
    text
}

fn bench(c: &mut Criterion) {
    let masker = Masker::new(&MaskConfig::default(), HashKey::new([5; 32])).unwrap();
    let (header, rows) = rows();
    let columns: Vec<ColumnRef<'_>> = header
        .iter()
        .map(|name| ColumnRef {
            name,
            table: Some("orders"),
            type_name: Some("text"),
        })
        .collect();
    let plan = masker.plan(&columns);

    let mut group = c.benchmark_group("mask");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);

    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function(
        "typical rows (8 columns, 10% with PII), per 1000 rows",
        |b| {
            b.iter(|| {
                let mut counts = MaskCounts::default();
                for row in &rows {
                    for (mask, value) in plan.columns().iter().zip(row) {
                        black_box(masker.mask_value(mask, black_box(value), &mut counts));
                    }
                }
                counts
            })
        },
    );

    let clean: Vec<&str> = rows
        .iter()
        .filter(|row| row.iter().all(|value| masker.explain(value).is_empty()))
        .take(100)
        .flat_map(|row| row.iter().copied())
        .collect();
    group.throughput(Throughput::Elements(clean.len() as u64));
    group.bench_function("clean values (fast path), per 800 values", |b| {
        b.iter(|| {
            let mut counts = MaskCounts::default();
            for value in &clean {
                black_box(masker.mask_value(&ColumnMask::Scan, black_box(value), &mut counts));
            }
            counts
        })
    });

    let text = large_text(&rows);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("1 MiB text with scattered PII", |b| {
        b.iter(|| {
            let mut counts = MaskCounts::default();
            black_box(masker.mask_value(&ColumnMask::Scan, black_box(&text), &mut counts));
            counts
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
