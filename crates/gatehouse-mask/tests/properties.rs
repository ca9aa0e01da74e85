//! Properties masking must keep on any input: it never panics, leaves values without findings
//! untouched (borrowed), never leaves anything detectable behind, respects length limits, and
//! hashes deterministically under one key and differently under another.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_mask::Strategy as MaskStrategy;
use gatehouse_mask::{ColumnMask, HashKey, MaskConfig, MaskCounts, Masked, Masker};
use proptest::prelude::*;
use std::sync::LazyLock;

/// Sensitive values of every built-in detector, in the shapes they are written in.
const SENSITIVE: &[&str] = &[
    "jane.doe@example.com",
    "x@y.io",
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "378282246310005",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "123-45-6789",
    "SSN: 234567890",
    "+44 20 7946 0958",
    "(415) 555-2671",
    "01 23 45 67 89",
    "192.168.1.20",
    "2001:db8::1",
    "fe80::1ff:fe23:4567:890a",
    "::ffff:192.0.2.1",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "glpat-xYz12AbCdEfGhIjKlMnO",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "AIzaSyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1v",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg\n-----END EC PRIVATE KEY-----",
    "Authorization: Bearer 8f2d1c9a7b6e5d4c3b2a19f8e7d6c5b4",
];

/// Text around the sensitive values: words, numbers and punctuation detectors look at.
const FILLER: &[&str] = &[
    " ",
    ", ",
    ". ",
    "\n",
    "\t",
    ": ",
    "=",
    "-",
    "/",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "'",
    "@",
    ":",
    "the order",
    "id 42",
    "2024-01-15",
    "10:30:00",
    "v1.2.3",
    "$19.99",
    "#",
    "+",
    "ok",
    "0",
    "x",
    "é",
    "日本",
    "1234",
    "SSN",
    "secret",
    "bearer",
    "eyJ",
    "AKIA",
    "::",
    "ab",
];

static MASKERS: LazyLock<Vec<Masker>> = LazyLock::new(|| {
    let mut configs = vec![MaskConfig::default()];
    for strategy in [
        MaskStrategy::Redact,
        MaskStrategy::Hash,
        MaskStrategy::Partial { keep_last: 4 },
        MaskStrategy::Partial { keep_last: 40 },
    ] {
        let mut config = MaskConfig::default();
        for (name, _) in default_masker().detectors() {
            config.strategies.insert(name.to_owned(), strategy);
        }
        configs.push(config);
    }
    configs
        .iter()
        .map(|config| Masker::new(config, HashKey::new([9; 32])).unwrap())
        .collect()
});

fn default_masker() -> Masker {
    Masker::new(&MaskConfig::default(), HashKey::new([9; 32])).unwrap()
}

/// Strings made of sensitive values and filler, so detectors actually fire and interact.
fn mixed_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(SENSITIVE).prop_map(str::to_owned),
        prop::sample::select(FILLER).prop_map(str::to_owned),
        "[0-9a-fA-F:. @+()\\-]{0,12}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

fn text_of(masked: &Masked<'_>) -> String {
    masked.as_str().map(str::to_owned).unwrap_or_default()
}

proptest! {
    // 256 cases by default; `PROPTEST_CASES=5000 cargo test --release` searches harder.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn never_panics_and_unchanged_means_nothing_found(text in any::<String>()) {
        for masker in MASKERS.iter() {
            let mut counts = MaskCounts::default();
            let masked = masker.mask_value(&ColumnMask::Scan, &text, &mut counts);
            if masker.explain(&text).is_empty() {
                prop_assert_eq!(masked, Masked::Unchanged(&text));
                prop_assert!(counts.is_empty());
            } else {
                prop_assert!(!matches!(masked, Masked::Unchanged(_)));
                prop_assert!(!counts.is_empty());
            }
        }
    }

    #[test]
    fn masked_values_hold_nothing_detectable(text in mixed_text()) {
        for masker in MASKERS.iter() {
            let mut counts = MaskCounts::default();
            let masked = text_of(&masker.mask_value(&ColumnMask::Scan, &text, &mut counts));
            let left = masker.explain(&masked);
            prop_assert!(left.is_empty(), "{:?} masked to {:?} still has {:?}", text, masked, left);
        }
    }

    #[test]
    fn limits_are_respected_and_still_mask(text in mixed_text(), slack in 0usize..8) {
        let input_chars = text.chars().count();
        let limit = input_chars.saturating_sub(slack);
        for masker in MASKERS.iter() {
            let mut counts = MaskCounts::default();
            let masked = masker.mask_value_within(&ColumnMask::Scan, &text, limit, &mut counts);
            let masked = text_of(&masked);
            prop_assert!(masked.chars().count() <= limit.max(input_chars));
            prop_assert!(masker.explain(&masked).is_empty(), "{:?} -> {:?}", text, masked);
        }
    }

    #[test]
    fn hashing_is_deterministic_and_keyed(local in "[a-z][a-z0-9_]{0,10}", key in any::<[u8; 32]>()) {
        let mut config = MaskConfig::default();
        config.strategies.insert("email".to_owned(), MaskStrategy::Hash);
        let text = format!("{local}@example.com");
        let mask = |key: [u8; 32]| {
            let masker = Masker::new(&config, HashKey::new(key)).unwrap();
            text_of(&masker.mask_value(&ColumnMask::Scan, &text, &mut MaskCounts::default()))
        };
        let first = mask(key);
        prop_assert!(first.starts_with("email:") && first.len() == 18, "{}", first);
        prop_assert_eq!(&first, &mask(key));
        let mut other = key;
        other[0] ^= 1;
        prop_assert_ne!(first, mask(other));
    }

    #[test]
    fn byte_values_that_are_not_utf8_are_never_scanned(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let masker = &MASKERS[0];
        let mut counts = MaskCounts::default();
        let masked = masker.mask_bytes(&ColumnMask::Scan, &bytes, None, &mut counts);
        if std::str::from_utf8(&bytes).is_err() {
            prop_assert_eq!(masked.as_bytes(), Some(bytes.as_slice()));
            prop_assert!(counts.is_empty());
        }
    }
}
