//! Detector quality, measured: precision and recall of every built-in detector over the
//! labelled corpus in `tests/corpus/` (format in its README), printed as a table and held to
//! at least 0.99 precision and 0.98 recall.
//!
//! A finding counts as a true positive only if a marked span of the same detector has exactly
//! its bounds; any other finding is a false positive, any marked span not found a false
//! negative. Every line of every file is scanned by every detector, so a phone number found on
//! an email line counts against `phone` unless it is marked there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_mask::{HashKey, MaskConfig, Masker};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

const OPEN: char = '\u{27e6}';
const CLOSE: char = '\u{27e7}';

const STRUCTURED: &[&str] = &[
    "email",
    "payment_card",
    "iban",
    "us_ssn",
    "phone",
    "ipv4",
    "ipv6",
    "jwt",
];

struct Line {
    file: String,
    positive: bool,
    text: String,
    /// (detector, start, end) in `text`.
    expected: Vec<(String, usize, usize)>,
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                other => panic!("bad escape \\{other:?} in {text}"),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Removes the `⟦detector:value⟧` marks, recording where each value ends up.
fn parse_marks(marked: &str) -> (String, Vec<(String, usize, usize)>) {
    let mut text = String::new();
    let mut expected = Vec::new();
    let mut rest = marked;
    while let Some(open) = rest.find(OPEN) {
        text.push_str(&rest[..open]);
        let after = &rest[open + OPEN.len_utf8()..];
        let close = after
            .find(CLOSE)
            .unwrap_or_else(|| panic!("unclosed mark in {marked}"));
        let (detector, value) = after[..close]
            .split_once(':')
            .unwrap_or_else(|| panic!("mark without detector in {marked}"));
        let start = text.len();
        text.push_str(value);
        expected.push((detector.to_owned(), start, text.len()));
        rest = &after[close + CLOSE.len_utf8()..];
    }
    text.push_str(rest);
    (text, expected)
}

fn load_corpus() -> Vec<Line> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "tsv"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for path in files {
        let file = path.file_stem().unwrap().to_string_lossy().into_owned();
        for row in fs::read_to_string(&path).unwrap().lines() {
            if row.starts_with('#') || row.is_empty() {
                continue;
            }
            let (label, marked) = row
                .split_once('\t')
                .unwrap_or_else(|| panic!("{file}: no tab in {row}"));
            let (text, expected) = parse_marks(&unescape(marked));
            // In a detector's file, labels are about that detector; elsewhere about any.
            let counted = expected
                .iter()
                .filter(|(d, ..)| *d == file || file == "mixed")
                .count();
            match label {
                "pos" => assert!(counted > 0, "{file}: positive without a mark: {row}"),
                "neg" => assert_eq!(counted, 0, "{file}: negative with a mark: {row}"),
                _ => panic!("{file}: label must be pos or neg: {row}"),
            }
            lines.push(Line {
                file: file.clone(),
                positive: label == "pos",
                text,
                expected,
            });
        }
    }
    lines
}

#[derive(Default)]
struct Score {
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
}

impl Score {
    fn precision(&self) -> f64 {
        let found = self.true_positives + self.false_positives;
        if found == 0 {
            1.0
        } else {
            self.true_positives as f64 / found as f64
        }
    }

    fn recall(&self) -> f64 {
        let expected = self.true_positives + self.false_negatives;
        if expected == 0 {
            1.0
        } else {
            self.true_positives as f64 / expected as f64
        }
    }
}

#[test]
fn detectors_meet_precision_and_recall_targets() {
    let masker = Masker::new(&MaskConfig::default(), HashKey::new([3; 32])).unwrap();
    let lines = load_corpus();
    let mut scores: BTreeMap<String, Score> = masker
        .detectors()
        .map(|(name, _)| (name.to_owned(), Score::default()))
        .collect();
    let mut mistakes = Vec::new();
    for line in &lines {
        let found: Vec<(String, usize, usize)> = masker
            .explain(&line.text)
            .into_iter()
            .map(|f| (f.detector, f.start, f.end))
            .collect();
        for finding in &found {
            let score = scores.get_mut(&finding.0).unwrap();
            if line.expected.contains(finding) {
                score.true_positives += 1;
            } else {
                score.false_positives += 1;
                let (detector, start, end) = finding;
                let span = &line.text[*start..*end];
                mistakes.push(format!(
                    "FP {detector} {span:?} in {}: {:?}",
                    line.file, line.text
                ));
            }
        }
        for expected in &line.expected {
            if !found.contains(expected) {
                scores.get_mut(&expected.0).unwrap().false_negatives += 1;
                let (detector, start, end) = expected;
                let span = &line.text[*start..*end];
                mistakes.push(format!(
                    "FN {detector} {span:?} in {}: {:?}",
                    line.file, line.text
                ));
            }
        }
    }

    println!(
        "\n{:<18} {:>5} {:>5} {:>4} {:>4} {:>9} {:>7}",
        "detector", "lines", "TP", "FP", "FN", "precision", "recall"
    );
    for (detector, score) in &scores {
        let positives = lines
            .iter()
            .filter(|l| l.file == *detector && l.positive)
            .count();
        let negatives = lines
            .iter()
            .filter(|l| l.file == *detector && !l.positive)
            .count();
        println!(
            "{detector:<18} {:>5} {:>5} {:>4} {:>4} {:>9.3} {:>7.3}",
            format!("{positives}+{negatives}"),
            score.true_positives,
            score.false_positives,
            score.false_negatives,
            score.precision(),
            score.recall()
        );
    }
    for mistake in &mistakes {
        println!("{mistake}");
    }

    for (detector, score) in &scores {
        let positives = lines
            .iter()
            .filter(|l| l.file == *detector && l.positive)
            .count();
        let negatives = lines
            .iter()
            .filter(|l| l.file == *detector && !l.positive)
            .count();
        let minimum = if STRUCTURED.contains(&detector.as_str()) {
            40
        } else {
            10
        };
        assert!(
            positives >= minimum && negatives >= minimum,
            "{detector}: corpus needs {minimum} positive and {minimum} negative lines"
        );
        assert!(
            score.precision() >= 0.99,
            "{detector}: precision {:.3}",
            score.precision()
        );
        assert!(
            score.recall() >= 0.98,
            "{detector}: recall {:.3}",
            score.recall()
        );
    }
}
