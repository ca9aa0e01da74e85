//! Fuzz target: arbitrary text as a connection's `[connections.<name>.masking]` table, parsed
//! as `MaskConfig` (TOML, unknown keys refused) and compiled by `Masker::new` (detector names,
//! globs, custom regex patterns and validators), then used on a few values.
//!
//! Input: the bytes as text (invalid UTF-8 replaced).
//! Checked: nothing panics or hangs (a custom pattern is compiled by the `regex` crate, whose
//! size limits bound it); with a configuration that compiles, masking keeps its invariant:
//! a masked value has no findings left, and a column rule's mask never leaves a value as it
//! was.

use gatehouse_mask::{ColumnMask, ColumnRef, HashKey, MaskConfig, MaskCounts, Masker};

const SAMPLES: &[&str] = &[
    "",
    "nothing to see",
    "mail jane.doe@example.com card 4111 1111 1111 1111",
    "ORD-12345678 DE89370400440532013000 123-45-6789",
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 192.168.1.20 2001:db8::1",
    "Authorization: Bearer 8f2d1c9a7b6e5d4c3b2a19f8e7d6c5b4 AKIAIOSFODNN7EXAMPLE",
];

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data);
        let Ok(config) = toml::from_str::<MaskConfig>(&text) else {
            return;
        };
        let Ok(masker) = Masker::new(&config, HashKey::new([3; 32])) else {
            return;
        };
        let _ = format!("{masker:?}");
        let _ = (masker.exempt_groups(), masker.detectors().count());
        let plan = masker.plan(&[
            ColumnRef {
                name: "password",
                table: Some("users"),
                type_name: Some("text"),
            },
            ColumnRef {
                name: "ssn",
                table: Some("public.users"),
                type_name: Some("varchar"),
            },
            ColumnRef {
                name: "Note",
                table: None,
                type_name: None,
            },
            ColumnRef {
                name: "doc",
                table: None,
                type_name: Some("jsonb"),
            },
        ]);
        let mut counts = MaskCounts::default();
        for sample in SAMPLES {
            let _ = masker.explain(sample);
            let masked = masker.mask_value(&ColumnMask::Scan, sample, &mut counts);
            if let Some(out) = masked.as_str() {
                let left = masker.explain(out);
                assert!(
                    left.is_empty(),
                    "{sample:?} masked to {out:?} still has {left:?}"
                );
            }
            for column in plan.columns() {
                let masked = masker.mask_value_within(column, sample, 12, &mut counts);
                if matches!(column, ColumnMask::Whole { .. }) && !sample.is_empty() {
                    assert_ne!(
                        masked.as_str(),
                        Some(*sample),
                        "a column rule left {sample:?}"
                    );
                }
            }
        }
    });
}
