//! Streaming JSON masking does not depend on where chunks end: the same input split at every
//! position (or anywhere, for generated documents) gives the same output or the same error as
//! the input fed whole, and that output is what masking the parsed document says it should be.
//! A 10,000-item list is masked holding a few hundred bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_mask::{
    HashKey, JsonMaskRules, JsonMode, JsonReplacement, JsonStreamMasker, JsonStreamOptions,
    MaskConfig, MaskError, Masker,
};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::fmt::Write;
use std::sync::{Arc, LazyLock};

static MASKER: LazyLock<Arc<Masker>> =
    LazyLock::new(|| Arc::new(Masker::new(&MaskConfig::default(), HashKey::new([6; 32])).unwrap()));

/// A test-side pattern segment, matched independently of the crate's parser.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Key(&'static str),
    AnyKey,
    AnyIndex,
    Index(u64),
    Deep,
}

/// The rules of the property tests: the pattern as the crate reads it, the same as segments,
/// and the replacement text.
const RULES: &[(&str, &[Seg], &str)] = &[
    (
        "items[*].data.*",
        &[
            Seg::Key("items"),
            Seg::AnyIndex,
            Seg::Key("data"),
            Seg::AnyKey,
        ],
        "R0",
    ),
    ("**.token", &[Seg::Deep, Seg::Key("token")], "R1"),
    (r#"["a.b"][1]"#, &[Seg::Key("a.b"), Seg::Index(1)], "R2"),
    (
        "meta.**.x",
        &[Seg::Key("meta"), Seg::Deep, Seg::Key("x")],
        "R3",
    ),
    ("é[*]", &[Seg::Key("é"), Seg::AnyIndex], "R4"),
];

fn rules(scan: bool) -> Arc<JsonMaskRules> {
    let mut rules = JsonMaskRules::new().scan_unmatched(scan);
    for (pattern, _, replacement) in RULES {
        rules = rules
            .rule(pattern, JsonReplacement::Text((*replacement).to_owned()))
            .unwrap();
    }
    Arc::new(rules)
}

fn options(mode: JsonMode) -> JsonStreamOptions {
    JsonStreamOptions {
        mode,
        ..JsonStreamOptions::default()
    }
}

/// Feeds `input` cut at `cuts` (sorted offsets) and returns the output or the first error.
fn run(
    rules: &Arc<JsonMaskRules>,
    mode: JsonMode,
    input: &[u8],
    cuts: &[usize],
) -> Result<Vec<u8>, MaskError> {
    let mut masker = JsonStreamMasker::new(Arc::clone(&MASKER), Arc::clone(rules), options(mode));
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain([&input.len()]) {
        let cut = cut.clamp(from, input.len());
        out.extend(masker.push(&input[from..cut])?);
        from = cut;
    }
    out.extend(masker.finish()?);
    Ok(out)
}

/// Documents with escapes, surrogate pairs, multi-byte characters, numbers of every form (one
/// ending the input), literals, nesting, matched and unmatched values, detector findings, and
/// broken ones.
const DOCUMENTS: &[(JsonMode, &str)] = &[
    (
        JsonMode::Document,
        r#"{"items": [{"data": {"k": "v\"\\\/\b\f\n\r\t", "n": -1.5e+3, "t": true}}, {"data": {"k": "\ud83d\ude00 \u00e9 日本"}}], "token": null}"#,
    ),
    (
        JsonMode::Document,
        "{\"meta\": {\"a\": [{\"x\": 1}, {\"y\": {\"x\": [false, \"s\"]}}]},\n \"\\u00e9\": [\"é\", {\"z\": 0}], \"a.b\": [0, [1, 2], 3]}",
    ),
    (
        JsonMode::Document,
        r#"{"note": "mail jane.doe@example.com or call +44 20 7946 0958", "card": 4111111111111111, "token": "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"}"#,
    ),
    (JsonMode::Document, "  -12.75E-2 \n"),
    (JsonMode::Document, "4111111111111111"),
    (
        JsonMode::Document,
        "[1e999, -0.0E-0, 123456789012345678901234567890]",
    ),
    (JsonMode::Document, "[[], {}, [[{}]], \"\", 0, null]"),
    (
        JsonMode::Lines,
        "{\"type\":\"ADDED\",\"object\":{\"token\":\"a\"}}\n{\"type\":\"MODIFIED\",\"object\":{\"items\":[{\"data\":{\"k\":1}}]}}\r\n\n7\n",
    ),
    (
        JsonMode::Document,
        r#"{"items": [{"data": {"k": "v"}}], "x": "\ud800"}"#,
    ),
    (JsonMode::Document, r#"{"items": [{"data": {"k": "v"}}]"#),
    (JsonMode::Document, r#"{"token": "a"} {"token": "b"}"#),
    (JsonMode::Lines, "{\"token\": 1}\n{\"token\": 2} [3]\n"),
    (JsonMode::Document, "[1, 2, 01]"),
];

#[test]
fn every_split_position_gives_the_same_output_or_error() {
    for scan in [false, true] {
        let rules = rules(scan);
        for (mode, document) in DOCUMENTS {
            let input = document.as_bytes();
            let whole = run(&rules, *mode, input, &[]);
            for at in 0..=input.len() {
                assert_eq!(
                    run(&rules, *mode, input, &[at]),
                    whole,
                    "{document:?} split at {at}"
                );
            }
            let bytes: Vec<usize> = (1..input.len()).collect();
            assert_eq!(
                run(&rules, *mode, input, &bytes),
                whole,
                "{document:?} byte by byte"
            );
        }
    }
}

#[test]
fn a_list_of_10_000_secrets_is_masked_in_bounded_memory() {
    let mut input = String::from(
        r#"{"apiVersion":"v1","kind":"SecretList","metadata":{"resourceVersion":"1"},"items":["#,
    );
    for i in 0..10_000 {
        if i > 0 {
            input.push(',');
        }
        write!(
            input,
            r#"{{"metadata":{{"name":"s{i}","annotations":{{"kubectl.kubernetes.io/last-applied-configuration":"{{\"data\":{{\"password\":\"aHVudGVy{i}\"}}}}"}}}},"data":{{"password":"aHVudGVy{i}","user":"YWRtaW4="}},"type":"Opaque","note":"owner ops{i}@example.com"}}"#
        )
        .unwrap();
    }
    input.push_str("]}");
    let rules = JsonMaskRules::new()
        .rule(
            "items[*].data.*",
            JsonReplacement::Base64Of("gatehouse:masked".into()),
        )
        .unwrap()
        .rule(
            r#"items[*].metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]"#,
            JsonReplacement::Text("{}".into()),
        )
        .unwrap()
        .scan_unmatched(true);
    let mut masker = JsonStreamMasker::new(
        Arc::clone(&MASKER),
        Arc::new(rules),
        JsonStreamOptions::default(),
    );
    let mut out = Vec::new();
    for chunk in input.as_bytes().chunks(16 * 1024) {
        let masked = masker.push(chunk).unwrap();
        // Output keeps pace with input: nothing accumulates across chunks.
        assert!(
            masked.len() + 1024 >= chunk.len() / 2,
            "{} out for {} in",
            masked.len(),
            chunk.len()
        );
        out.extend(masked);
    }
    out.extend(masker.finish().unwrap());
    assert!(input.len() > 2_000_000, "{}", input.len());
    let peak = masker.peak_held_bytes();
    assert!(peak < 1024, "held up to {peak} bytes");
    assert!(peak > 0);

    let value: Value = serde_json::from_slice(&out).unwrap();
    let items = value["items"].as_array().unwrap();
    assert_eq!(items.len(), 10_000);
    for item in items {
        assert_eq!(item["data"]["password"], "Z2F0ZWhvdXNlOm1hc2tlZA==");
        assert_eq!(item["data"]["user"], "Z2F0ZWhvdXNlOm1hc2tlZA==");
        assert_eq!(
            item["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{}"
        );
        assert_eq!(item["type"], "Opaque");
        assert!(item["note"].as_str().unwrap().starts_with("owner email:"));
    }
    let counts = masker.counts();
    assert_eq!(counts.path_rules().get("items[*].data.*"), Some(&20_000));
    assert_eq!(counts.path_rules().values().sum::<u64>(), 30_000);
    assert_eq!(counts.detectors().get("email"), Some(&10_000));
    assert!(!String::from_utf8(out).unwrap().contains("aHVudGVy"));
}

/// The reference: the parsed document with every value the rules match replaced.
fn reference(value: &Value, path: &mut Vec<Step>, inherited: Option<usize>) -> Value {
    let matched = inherited
        .into_iter()
        .chain(
            RULES
                .iter()
                .position(|(_, segments, _)| matches(segments, path)),
        )
        .min();
    match value {
        Value::Object(members) => {
            let mut out = Map::new();
            for (key, member) in members {
                path.push(Step::Key(key.clone()));
                out.insert(key.clone(), reference(member, path, matched));
                path.pop();
            }
            Value::Object(out)
        }
        Value::Array(elements) => {
            let mut out = Vec::new();
            for (index, element) in elements.iter().enumerate() {
                path.push(Step::Index(index as u64));
                out.push(reference(element, path, matched));
                path.pop();
            }
            Value::Array(out)
        }
        Value::Null => Value::Null,
        scalar => match matched {
            Some(rule) => Value::String(RULES[rule].2.to_owned()),
            None => scalar.clone(),
        },
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(u64),
}

fn matches(segments: &[Seg], path: &[Step]) -> bool {
    match (segments.first(), path.first()) {
        (None, None) => true,
        (Some(Seg::Deep), _) => {
            matches(&segments[1..], path) || (!path.is_empty() && matches(segments, &path[1..]))
        }
        (None, Some(_)) | (Some(_), None) => false,
        (Some(segment), Some(step)) => {
            let takes = match (segment, step) {
                (Seg::Key(key), Step::Key(name)) => key == name,
                (Seg::AnyKey, Step::Key(_)) | (Seg::AnyIndex, Step::Index(_)) => true,
                (Seg::Index(index), Step::Index(at)) => index == at,
                _ => false,
            };
            takes && matches(&segments[1..], &path[1..])
        }
    }
}

/// Writes `value` as JSON, letting `choices` decide whitespace and how characters of strings
/// and keys are written (as they are, or as `\u` escapes, surrogate pairs included).
fn write_json(value: &Value, choices: &mut impl Iterator<Item = u8>, out: &mut String) {
    match value {
        Value::Object(members) => {
            out.push('{');
            for (index, (key, member)) in members.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                space(out, choices);
                write_string(key, choices, out);
                space(out, choices);
                out.push(':');
                space(out, choices);
                write_json(member, choices, out);
            }
            space(out, choices);
            out.push('}');
        }
        Value::Array(elements) => {
            out.push('[');
            for (index, element) in elements.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                space(out, choices);
                write_json(element, choices, out);
            }
            out.push(']');
        }
        Value::String(text) => write_string(text, choices, out),
        other => out.push_str(&other.to_string()),
    }
}

fn space(out: &mut String, choices: &mut impl Iterator<Item = u8>) {
    out.push_str(["", "", " ", "\n  ", "\t"][usize::from(choices.next().unwrap_or(0) % 5)]);
}

fn write_string(text: &str, choices: &mut impl Iterator<Item = u8>, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        let escape = choices.next().unwrap_or(0).is_multiple_of(4);
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if escape || u32::from(c) < 0x20 => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{unit:04X}").unwrap();
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "items", "data", "token", "a.b", "meta", "x", "é", "k", "a\"b", "😀",
    ])
    .prop_map(str::to_owned)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "plain",
            "x\u{1}y",
            "é日😀",
            "q\"b\\s",
            "R0",
            "mail a.b@example.com",
            "4111 1111 1111 1111"
        ])
        .prop_map(Value::from),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_documents_mask_as_the_reference_says_wherever_chunks_end(
        value in document(),
        choices in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut text = String::new();
        write_json(&value, &mut choices.iter().copied().cycle(), &mut text);
        let input = text.as_bytes();
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let rules = rules(false);
        let whole = run(&rules, JsonMode::Document, input, &[]).unwrap();
        prop_assert_eq!(&run(&rules, JsonMode::Document, input, &cuts).unwrap(), &whole);
        // The reference starts from the text as serde_json reads it (floats included).
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let expected = reference(&parsed, &mut Vec::new(), None);
        let masked: Value = serde_json::from_slice(&whole).unwrap();
        prop_assert_eq!(&masked, &expected, "{}", text);

        // With the detectors too: still independent of the chunks, and nothing left to find.
        let scanning = rules_scanning();
        let whole = run(scanning, JsonMode::Document, input, &[]).unwrap();
        prop_assert_eq!(&run(scanning, JsonMode::Document, input, &cuts).unwrap(), &whole);
        let masked: Value = serde_json::from_slice(&whole).unwrap();
        assert_nothing_detectable(&masked);

        // As a watch: one document per line, each with its own root.
        let lines = format!("{}\n{}\n", serde_json::to_string(&value).unwrap(), text.replace('\n', " "));
        let out = run(&rules, JsonMode::Lines, lines.as_bytes(), &cuts).unwrap();
        for line in String::from_utf8(out).unwrap().lines() {
            prop_assert_eq!(serde_json::from_str::<Value>(line).unwrap(), expected.clone());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_chunks_do_not_matter(
        bytes in prop::collection::vec(prop::sample::select(b"{}[]\":,\\u0123456789.eE+-tfnrl a\xc3\xa9\n".to_vec()), 0..64),
        cut in any::<prop::sample::Index>(),
    ) {
        let at = cut.index(bytes.len() + 1);
        for mode in [JsonMode::Document, JsonMode::Lines] {
            let rules = rules_scanning();
            let whole = run(rules, mode, &bytes, &[]);
            prop_assert_eq!(run(rules, mode, &bytes, &[at]), whole.clone());
            if mode == JsonMode::Document {
                // serde_json accepts what the grammar does, but refuses numbers out of f64's
                // range (`1e999`), which the masker passes through as written.
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(_) => prop_assert!(whole.is_ok(), "{:?}", whole),
                    Err(error) if whole.is_ok() => {
                        prop_assert!(error.to_string().starts_with("number out of range"), "{}", error);
                    }
                    Err(_) => {}
                }
            }
        }
    }
}

fn rules_scanning() -> &'static Arc<JsonMaskRules> {
    static RULES_SCANNING: LazyLock<Arc<JsonMaskRules>> = LazyLock::new(|| rules(true));
    &RULES_SCANNING
}

fn assert_nothing_detectable(value: &Value) {
    match value {
        Value::String(text) => assert!(MASKER.explain(text).is_empty(), "{text:?}"),
        Value::Array(elements) => elements.iter().for_each(assert_nothing_detectable),
        Value::Object(members) => members.values().for_each(assert_nothing_detectable),
        _ => {}
    }
}
