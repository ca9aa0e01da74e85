//! Fuzz target: arbitrary bytes as a JSON response body (or a watch) streamed through
//! `gatehouse_mask::JsonStreamMasker`, as the Kubernetes and HTTP adapters stream answers,
//! under the rules the Kubernetes adapter masks Secrets with plus quoted and indexed patterns.
//!
//! Input: byte 0 picks the mode (bit 0: newline-delimited) and whether the detectors scan
//! unmatched values (bit 1); bytes 1–2 (little-endian) pick where the body is cut in two
//! chunks (modulo its length + 1); the rest is the body.
//!
//! Checked: nothing panics or hangs; cut in two, the body gives the same output or the same
//! error as fed whole; a body serde_json reads (one document) is accepted; an accepted body is
//! JSON serde_json reads (numbers past f64's range and nesting past its 128 aside) and its
//! output is too, with the same
//! documents, keys and array lengths, and: every string, number and boolean a rule matches
//! (by itself or inside a matched object or array) is that rule's replacement, so its original
//! text is gone; every `null` and unmatched boolean is unchanged; without the detectors every
//! unmatched value is unchanged; with them an unmatched string is what `mask_value` makes of
//! it and an unmatched number is unchanged or a string without findings.

use gatehouse_mask::{
    ColumnMask, HashKey, JsonMaskRules, JsonMode, JsonReplacement, JsonStreamMasker,
    JsonStreamOptions, MaskConfig, MaskCounts, MaskError, Masked, Masker, Strategy,
};
use serde_json::Value;
use std::sync::{Arc, LazyLock};

/// A pattern segment, matched here independently of the crate's own matcher.
#[derive(Clone, Copy)]
enum Seg {
    Key(&'static str),
    AnyKey,
    AnyIndex,
    Index(usize),
    Deep,
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The rules: pattern, its segments, the replacement and the JSON string it writes.
const RULES: &[(&str, &[Seg], Replacement)] = &[
    (
        "**.data.*",
        &[Seg::Deep, Seg::Key("data"), Seg::AnyKey],
        Replacement::Base64,
    ),
    (
        "**.stringData.*",
        &[Seg::Deep, Seg::Key("stringData"), Seg::AnyKey],
        Replacement::Text,
    ),
    (
        r#"**.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]"#,
        &[
            Seg::Deep,
            Seg::Key("metadata"),
            Seg::Key("annotations"),
            Seg::Key(LAST_APPLIED),
        ],
        Replacement::Text,
    ),
    (
        "status.token",
        &[Seg::Key("status"), Seg::Key("token")],
        Replacement::Redact,
    ),
    (
        r#"items[*]["a.b"][1]"#,
        &[
            Seg::Key("items"),
            Seg::AnyIndex,
            Seg::Key("a.b"),
            Seg::Index(1),
        ],
        Replacement::Text,
    ),
    ("secret", &[Seg::Key("secret")], Replacement::Redact),
];

#[derive(Clone, Copy)]
enum Replacement {
    Text,
    Base64,
    Redact,
}

impl Replacement {
    fn json(self) -> JsonReplacement {
        match self {
            Replacement::Text => JsonReplacement::Text("gatehouse:masked".to_owned()),
            Replacement::Base64 => JsonReplacement::Base64Of("gatehouse:masked".to_owned()),
            Replacement::Redact => JsonReplacement::Strategy(Strategy::Redact),
        }
    }

    fn written(self) -> &'static str {
        match self {
            Replacement::Text => "gatehouse:masked",
            Replacement::Base64 => "Z2F0ZWhvdXNlOm1hc2tlZA==",
            Replacement::Redact => "[REDACTED]",
        }
    }
}

/// The rules without and with the detectors.
static RULE_SETS: LazyLock<[Arc<JsonMaskRules>; 2]> = LazyLock::new(|| {
    [false, true].map(|scan| {
        let mut rules = JsonMaskRules::new().scan_unmatched(scan);
        for (pattern, _, replacement) in RULES {
            rules = rules
                .rule(pattern, replacement.json())
                .expect("the rules parse");
        }
        Arc::new(rules)
    })
});

static MASKER: LazyLock<Arc<Masker>> = LazyLock::new(|| {
    Arc::new(
        Masker::new(&MaskConfig::default(), HashKey::new([7; 32]))
            .expect("the default masking configuration compiles"),
    )
});

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (Some(&flags), Some(&low), Some(&high)) = (data.first(), data.get(1), data.get(2))
        else {
            return;
        };
        let body = &data[3..];
        let mode = if flags & 1 == 1 {
            JsonMode::Lines
        } else {
            JsonMode::Document
        };
        let scan = flags & 2 == 2;
        let cut = usize::from(u16::from_le_bytes([low, high])) % (body.len() + 1);
        let options = JsonStreamOptions {
            mode,
            max_depth: 256,
            ..JsonStreamOptions::default()
        };
        let rules = &RULE_SETS[usize::from(scan)];
        let run = |pieces: &[&[u8]]| {
            let mut masker = JsonStreamMasker::new(Arc::clone(&MASKER), Arc::clone(rules), options);
            let mut out = Vec::new();
            for piece in pieces {
                out.extend(masker.push(piece)?);
            }
            out.extend(masker.finish()?);
            Ok::<_, MaskError>(out)
        };
        let whole = run(&[body]);
        assert_eq!(run(&[&body[..cut], &body[cut..]]), whole, "cut at {cut}");
        if let Err(error) = &whole {
            assert!(!error.to_string().is_empty());
        }

        let inputs = documents(body);
        if mode == JsonMode::Document && inputs.as_ref().is_ok_and(|documents| documents.len() == 1)
        {
            assert!(
                whole.is_ok(),
                "serde_json reads it but masking refused: {whole:?}"
            );
        }
        let Ok(out) = whole else {
            return;
        };
        let inputs = match inputs {
            Ok(documents) => documents,
            Err(error) => {
                // serde_json is stricter in two ways: numbers past f64's range, and nesting
                // past 128 (the masker's limit here is 256).
                let reason = error.to_string();
                assert!(
                    reason.starts_with("number out of range")
                        || reason.starts_with("recursion limit exceeded"),
                    "accepted, but serde_json: {reason}"
                );
                return;
            }
        };
        let outputs = documents(&out).expect("the output is JSON");
        assert_eq!(inputs.len(), outputs.len(), "documents in and out");
        if mode == JsonMode::Document {
            assert_eq!(inputs.len(), 1);
        }
        for (input, output) in inputs.iter().zip(&outputs) {
            check(input, output, &mut Vec::new(), None, scan);
        }
    });
}

/// The JSON documents in `bytes`, as serde_json reads a whitespace-separated sequence.
fn documents(bytes: &[u8]) -> Result<Vec<Value>, serde_json::Error> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .collect()
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn matches(segments: &[Seg], path: &[Step<'_>]) -> bool {
    match (segments.first(), path.first()) {
        (None, None) => true,
        (Some(Seg::Deep), _) => {
            matches(&segments[1..], path) || (!path.is_empty() && matches(segments, &path[1..]))
        }
        (Some(segment), Some(step)) => {
            let takes = match (segment, step) {
                (Seg::Key(key), Step::Key(name)) => key == name,
                (Seg::AnyKey, Step::Key(_)) | (Seg::AnyIndex, Step::Index(_)) => true,
                (Seg::Index(index), Step::Index(at)) => index == at,
                _ => false,
            };
            takes && matches(&segments[1..], &path[1..])
        }
        _ => false,
    }
}

/// The path written out, for failure messages.
fn describe(path: &[Step<'_>]) -> String {
    path.iter()
        .map(|step| match step {
            Step::Key(key) => format!(".{key:?}"),
            Step::Index(index) => format!("[{index}]"),
        })
        .collect()
}

fn check<'a>(
    input: &'a Value,
    output: &Value,
    path: &mut Vec<Step<'a>>,
    inherited: Option<usize>,
    scan: bool,
) {
    let matched = inherited
        .into_iter()
        .chain(
            RULES
                .iter()
                .position(|(_, segments, _)| matches(segments, path)),
        )
        .min();
    match (input, output) {
        (Value::Object(members), Value::Object(masked)) => {
            assert_eq!(members.len(), masked.len(), "members at {}", describe(path));
            for (key, member) in members {
                let masked = masked
                    .get(key)
                    .unwrap_or_else(|| panic!("{key:?} lost at {}", describe(path)));
                path.push(Step::Key(key));
                check(member, masked, path, matched, scan);
                path.pop();
            }
        }
        (Value::Array(elements), Value::Array(masked)) => {
            assert_eq!(
                elements.len(),
                masked.len(),
                "elements at {}",
                describe(path)
            );
            for (index, (element, masked)) in elements.iter().zip(masked).enumerate() {
                path.push(Step::Index(index));
                check(element, masked, path, matched, scan);
                path.pop();
            }
        }
        (Value::Null, out) => assert_eq!(out, &Value::Null, "null at {}", describe(path)),
        (_, out) if matched.is_some() => {
            let written = RULES[matched.unwrap_or_default()].2.written();
            assert_eq!(
                out,
                &Value::from(written),
                "matched value at {}",
                describe(path)
            );
        }
        (Value::Bool(_), out) => assert_eq!(out, input, "boolean at {}", describe(path)),
        (_, out) if !scan => assert_eq!(out, input, "unmatched value at {}", describe(path)),
        (Value::String(text), out) => {
            let masked = MASKER.mask_value(&ColumnMask::Scan, text, &mut MaskCounts::default());
            let expected = match masked {
                Masked::Null => Value::Null,
                masked => Value::from(masked.as_str().unwrap_or_default()),
            };
            assert_eq!(out, &expected, "scanned string at {}", describe(path));
        }
        (Value::Number(_), Value::String(text)) => {
            assert!(
                MASKER.explain(text).is_empty(),
                "{text:?} at {}",
                describe(path)
            );
        }
        (Value::Number(_), out) => {
            assert!(
                out == input || out.is_null(),
                "number became {out} at {}",
                describe(path)
            );
        }
        (_, out) => panic!("{input} became {out} at {}", describe(path)),
    }
}
