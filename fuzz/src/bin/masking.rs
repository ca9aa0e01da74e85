//! Fuzz target: arbitrary values through the masking engine, as result values arrive from a
//! server (bytes, usually but not always UTF-8).
//!
//! Input: byte 0 picks the masking configuration (see `MASKERS`) and byte 1 a length limit
//! (0 = none); the rest is one value. It goes through `mask_bytes` (as the data path calls it),
//! `mask_value`, `mask_value_within`, `explain`, and whole-column masking by a column rule.
//!
//! Checked: nothing panics or hangs; `Unchanged` exactly when `explain` finds nothing; a
//! masked value, scanned again, has no findings (masking never leaves anything detectable); a
//! limited result is within its limit (or the input's length); `explain`'s spans lie on
//! character boundaries of the value and in order; non-UTF-8 bytes are never scanned.

use gatehouse_fuzz::MASKERS;
use gatehouse_mask::{ColumnMask, ColumnRef, MaskCounts, Masked, MaskedBytes, Masker};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if data.len() < 2 {
            return;
        }
        let masker = &MASKERS[usize::from(data[0]) % MASKERS.len()];
        let limit = usize::from(data[1]);
        let value = &data[2..];
        let mut counts = MaskCounts::default();
        let bytes = masker.mask_bytes(&ColumnMask::Scan, value, None, &mut counts);
        match std::str::from_utf8(value) {
            Ok(text) => check_text(masker, text, limit, &bytes),
            Err(_) => {
                assert_eq!(
                    bytes,
                    MaskedBytes::Unchanged(value),
                    "non-UTF-8 is never scanned"
                );
                assert!(counts.is_empty());
            }
        }
        // A column masked whole by a rule, in every strategy the configuration has rules for.
        let plan = masker.plan(&[
            ColumnRef {
                name: "password_hash",
                table: None,
                type_name: Some("text"),
            },
            ColumnRef {
                name: "ssn",
                table: Some("users"),
                type_name: Some("text"),
            },
            ColumnRef {
                name: "api_token",
                table: None,
                type_name: Some("bytea"),
            },
            ColumnRef {
                name: "doc",
                table: None,
                type_name: Some("jsonb"),
            },
        ]);
        for column in plan.columns() {
            let whole = masker.mask_bytes(column, value, (limit > 0).then_some(limit), &mut counts);
            if let (ColumnMask::Whole { .. }, MaskedBytes::Unchanged(_)) = (column, &whole) {
                panic!("a column rule left a value unchanged");
            }
        }
    });
}

fn check_text(masker: &Masker, text: &str, limit: usize, bytes: &MaskedBytes<'_>) {
    let findings = masker.explain(text);
    let mut end = 0;
    for finding in &findings {
        assert!(
            finding.start < finding.end && finding.start >= end,
            "{findings:?}"
        );
        assert!(text.is_char_boundary(finding.start) && text.is_char_boundary(finding.end));
        end = finding.end;
    }
    let mut counts = MaskCounts::default();
    let masked = masker.mask_value(&ColumnMask::Scan, text, &mut counts);
    assert_eq!(
        findings.is_empty(),
        masked == Masked::Unchanged(text),
        "{text:?} -> {masked:?}"
    );
    assert_eq!(findings.is_empty(), counts.is_empty());
    assert_eq!(
        bytes.as_bytes(),
        masked.as_str().map(str::as_bytes),
        "mask_bytes = mask_value"
    );
    if let Some(out) = masked.as_str() {
        let left = masker.explain(out);
        assert!(
            left.is_empty(),
            "{text:?} masked to {out:?} still has {left:?}"
        );
    }
    if limit > 0 {
        let within = masker.mask_value_within(&ColumnMask::Scan, text, limit, &mut counts);
        if let Some(out) = within.as_str() {
            let chars = out.chars().count();
            assert!(
                chars <= limit.max(text.chars().count()),
                "{text:?} -> {out:?} over {limit}"
            );
            let left = masker.explain(out);
            assert!(
                left.is_empty(),
                "{text:?} masked within {limit} to {out:?} still has {left:?}"
            );
        }
    }
}
