//! Streaming JSON masking as the Kubernetes and HTTP adapters use it: path rules with every
//! replacement, matched objects and arrays, quoted keys and escapes, the detectors on free
//! text, watches as newline-delimited JSON, counts, and every way a stream is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_mask::{
    HashKey, JsonMaskRules, JsonMode, JsonReplacement, JsonStreamMasker, JsonStreamOptions,
    MaskConfig, MaskCounts, MaskError, Masker, Strategy,
};
use std::sync::{Arc, LazyLock};

static MASKER: LazyLock<Arc<Masker>> =
    LazyLock::new(|| Arc::new(Masker::new(&MaskConfig::default(), HashKey::new([5; 32])).unwrap()));

const PLACEHOLDER: &str = "gatehouse:masked";
/// `PLACEHOLDER` in base64.
const PLACEHOLDER_B64: &str = "Z2F0ZWhvdXNlOm1hc2tlZA==";
const LAST_APPLIED: &str =
    r#"metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]"#;

fn text(replacement: &str) -> JsonReplacement {
    JsonReplacement::Text(replacement.to_owned())
}

/// The rules the Kubernetes adapter needs for Secrets.
fn secret_rules() -> JsonMaskRules {
    JsonMaskRules::new()
        .rule("**.data.*", JsonReplacement::Base64Of(PLACEHOLDER.into()))
        .unwrap()
        .rule("**.stringData.*", text(PLACEHOLDER))
        .unwrap()
        .rule(&format!("**.{LAST_APPLIED}"), text(PLACEHOLDER))
        .unwrap()
        .rule("status.token", text(PLACEHOLDER))
        .unwrap()
}

fn stream(rules: JsonMaskRules, options: JsonStreamOptions) -> JsonStreamMasker {
    JsonStreamMasker::new(Arc::clone(&MASKER), Arc::new(rules), options)
}

/// Masks `input` fed in chunks of `chunk` bytes; the output and the counts.
fn mask_with(
    rules: JsonMaskRules,
    options: JsonStreamOptions,
    input: &str,
    chunk: usize,
) -> Result<(String, MaskCounts), MaskError> {
    let mut masker = stream(rules, options);
    let mut out = Vec::new();
    for piece in input.as_bytes().chunks(chunk.max(1)) {
        out.extend(masker.push(piece)?);
    }
    out.extend(masker.finish()?);
    Ok((String::from_utf8(out).unwrap(), masker.counts().clone()))
}

fn mask(rules: JsonMaskRules, input: &str) -> Result<String, MaskError> {
    mask_with(rules, JsonStreamOptions::default(), input, 7).map(|(out, _)| out)
}

#[test]
fn a_secret_is_masked_and_everything_else_is_byte_for_byte() {
    let input = r#"{
  "apiVersion" : "v1",   "kind":"Secret",
  "metadata": {"name": "db", "annotations": {
      "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}\n",
      "owner": "team-a"}},
  "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="},
  "stringData": {"token": "s3cr\u0065t"},
  "type": "Opaque", "immutable": false, "replicas": 1.50e+2, "none": null
}"#;
    let expected = format!(
        r#"{{
  "apiVersion" : "v1",   "kind":"Secret",
  "metadata": {{"name": "db", "annotations": {{
      "kubectl.kubernetes.io/last-applied-configuration": "{PLACEHOLDER}",
      "owner": "team-a"}}}},
  "data": {{"password": "{PLACEHOLDER_B64}", "user": "{PLACEHOLDER_B64}"}},
  "stringData": {{"token": "{PLACEHOLDER}"}},
  "type": "Opaque", "immutable": false, "replicas": 1.50e+2, "none": null
}}"#
    );
    let (out, counts) = mask_with(secret_rules(), JsonStreamOptions::default(), input, 5).unwrap();
    assert_eq!(out, expected);
    assert_eq!(counts.path_rules().get("**.data.*"), Some(&2));
    assert_eq!(counts.path_rules().get("**.stringData.*"), Some(&1));
    assert_eq!(counts.path_rules().len(), 3);
    assert!(counts.detectors().is_empty() && counts.column_rules().is_empty());
}

#[test]
fn every_replacement() {
    let input = r#"{"a": "4111 1111 1111 1111", "n": 123456, "t": true, "z": null}"#;
    let with = |replacement: JsonReplacement| {
        mask(JsonMaskRules::new().rule("*", replacement).unwrap(), input).unwrap()
    };
    assert_eq!(
        with(text("x\"y")),
        r#"{"a": "x\"y", "n": "x\"y", "t": "x\"y", "z": null}"#
    );
    assert_eq!(
        with(JsonReplacement::Base64Of("hidden".into())),
        r#"{"a": "aGlkZGVu", "n": "aGlkZGVu", "t": "aGlkZGVu", "z": null}"#
    );
    assert_eq!(
        with(JsonReplacement::Strategy(Strategy::Redact)),
        r#"{"a": "[REDACTED]", "n": "[REDACTED]", "t": "[REDACTED]", "z": null}"#
    );
    assert_eq!(
        with(JsonReplacement::Strategy(Strategy::Null)),
        r#"{"a": null, "n": null, "t": null, "z": null}"#
    );
    assert_eq!(
        with(JsonReplacement::Strategy(Strategy::Partial {
            keep_last: 4
        })),
        r#"{"a": "**** **** **** 1111", "n": "***456", "t": "**ue", "z": null}"#
    );
    let hashed = with(JsonReplacement::Strategy(Strategy::Hash));
    let value: serde_json::Value = serde_json::from_str(&hashed).unwrap();
    let token = value["a"].as_str().unwrap();
    assert!(
        token.starts_with("masked:") && token.len() == 19,
        "{hashed}"
    );
    // Keyed and deterministic: the same text gives the same token, as a column rule's does.
    assert_eq!(with(JsonReplacement::Strategy(Strategy::Hash)), hashed);
    assert_ne!(value["a"], value["n"]);
}

#[test]
fn a_matched_object_or_array_keeps_its_shape_and_nulls() {
    let rules = || JsonMaskRules::new().rule("data", text("m")).unwrap();
    assert_eq!(
        mask(
            rules(),
            r#"{"data": {"a": "1", "b": [2, {"c": null, "d": false}], "e": {}}, "f": "1"}"#
        )
        .unwrap(),
        r#"{"data": {"a": "m", "b": ["m", {"c": null, "d": "m"}], "e": {}}, "f": "1"}"#
    );
    assert_eq!(
        mask(rules(), r#"{"data": ["x", [], ["y"]]}"#).unwrap(),
        r#"{"data": ["m", [], ["m"]]}"#
    );
}

#[test]
fn patterns_pick_the_values_they_name() {
    let input = r#"{"items": [{"data": {"k": "v0"}, "x": {"data": {"k": "deep"}}}, {"data": {"k": "v1"}}], "data": {"k": "top"}}"#;
    let with = |pattern: &str| {
        mask(
            JsonMaskRules::new().rule(pattern, text("M")).unwrap(),
            input,
        )
    };
    assert_eq!(
        with("items[*].data.*").unwrap(),
        r#"{"items": [{"data": {"k": "M"}, "x": {"data": {"k": "deep"}}}, {"data": {"k": "M"}}], "data": {"k": "top"}}"#
    );
    assert_eq!(
        with("**.data.*").unwrap(),
        r#"{"items": [{"data": {"k": "M"}, "x": {"data": {"k": "M"}}}, {"data": {"k": "M"}}], "data": {"k": "M"}}"#
    );
    assert_eq!(
        with("data.*").unwrap(),
        r#"{"items": [{"data": {"k": "v0"}, "x": {"data": {"k": "deep"}}}, {"data": {"k": "v1"}}], "data": {"k": "M"}}"#
    );
    assert_eq!(
        with("items[1].**").unwrap(),
        r#"{"items": [{"data": {"k": "v0"}, "x": {"data": {"k": "deep"}}}, {"data": {"k": "M"}}], "data": {"k": "top"}}"#
    );
    assert_eq!(
        with("items.*").unwrap(),
        input,
        "`*` takes object members, not array elements"
    );
    assert_eq!(with("**").unwrap().matches("\"M\"").count(), 4);
    // A scalar document is its own root; only `**` reaches it.
    assert_eq!(
        mask(
            JsonMaskRules::new().rule("**", text("M")).unwrap(),
            " \"x\" "
        )
        .unwrap(),
        " \"M\" "
    );
}

#[test]
fn the_first_matching_rule_decides() {
    let rules = JsonMaskRules::new()
        .rule("data.public", text("kept-rule"))
        .unwrap()
        .rule("data", text("whole"))
        .unwrap()
        .rule("data.private", text("never"))
        .unwrap();
    let (out, counts) = mask_with(
        rules,
        JsonStreamOptions::default(),
        r#"{"data": {"public": "a", "private": "b", "other": "c"}}"#,
        3,
    )
    .unwrap();
    assert_eq!(
        out,
        r#"{"data": {"public": "kept-rule", "private": "whole", "other": "whole"}}"#
    );
    assert_eq!(counts.path_rules().get("data"), Some(&2));
    assert_eq!(counts.path_rules().get("data.private"), None);
}

#[test]
fn quoted_keys_and_escaped_keys_match_by_their_text() {
    let rules = || {
        JsonMaskRules::new()
            .rule(r#"["a.b"]["c/d"][" "]"#, text("M"))
            .unwrap()
            .rule(r#"q["say \"hi\""]"#, text("M"))
            .unwrap()
            .rule("é.k", text("M"))
            .unwrap()
    };
    let input = r#"{"a.b": {"c/d": {" ": 1, "x": 2}}, "a": {"b": {"c/d": {" ": 3}}}, "q": {"say \"hi\"": 4}, "\u00e9": {"k": 5}}"#;
    assert_eq!(
        mask(rules(), input).unwrap(),
        r#"{"a.b": {"c/d": {" ": "M", "x": 2}}, "a": {"b": {"c/d": {" ": 3}}}, "q": {"say \"hi\"": "M"}, "\u00e9": {"k": "M"}}"#
    );
    // Escapes cannot hide a key from a rule.
    assert_eq!(
        mask(
            secret_rules(),
            r#"{"\u0064ata": {"p\u0061ss": "c2VjcmV0"}}"#
        )
        .unwrap(),
        format!(r#"{{"\u0064ata": {{"p\u0061ss": "{PLACEHOLDER_B64}"}}}}"#)
    );
    let last_applied = r#"{"metadata": {"annotations": {"kubectl.kubernetes.io\/last-applied-configuration": "{}"}}}"#;
    assert!(
        mask(secret_rules(), last_applied)
            .unwrap()
            .contains(PLACEHOLDER)
    );
}

#[test]
fn escapes_and_unicode_pass_through_as_written() {
    let input = "{\"k\\n\": \"\\ud83d\\ude00 \\u00E9 é 日本 😀 \\/ \\\\ \\\" \\b\\f\\r\\t\", \"n\": [-0, 0.5e-3, 1E9]}";
    let rules = || JsonMaskRules::new().scan_unmatched(true);
    assert_eq!(mask(rules(), input).unwrap(), input);
    // A value the detectors mask is written anew, its escapes decoded first.
    assert_eq!(
        mask(rules(), r#"["card \u0034111 1111 1111 1111 \u00e9\n"]"#).unwrap(),
        r#"["card **** **** **** 1111 é\n"]"#
    );
}

#[test]
fn detectors_catch_secrets_in_free_text() {
    let input = r#"{"kind": "ConfigMap", "data": {"contact": "ops lead: jane.doe@example.com", "card": "4111-1111-1111-1111", "n": 4111111111111111, "plain": "nothing here", "port": 8080},
 "spec": {"containers": [{"env": [{"name": "TOKEN", "value": "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"}]}]}}"#;
    let (out, counts) = mask_with(
        JsonMaskRules::new().scan_unmatched(true),
        JsonStreamOptions::default(),
        input,
        11,
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    let contact = value["data"]["contact"].as_str().unwrap();
    assert!(contact.starts_with("ops lead: email:"), "{contact}");
    assert_eq!(value["data"]["card"], "****-****-****-1111");
    assert_eq!(value["data"]["n"], "************1111");
    assert_eq!(value["data"]["plain"], "nothing here");
    assert_eq!(value["data"]["port"], 8080);
    assert_eq!(
        value["spec"]["containers"][0]["env"][0]["value"],
        "[REDACTED:github_token]"
    );
    assert_eq!(counts.detectors().get("email"), Some(&1));
    assert_eq!(counts.detectors().get("payment_card"), Some(&2));
    assert_eq!(counts.detectors().get("github_token"), Some(&1));
    // Values a rule replaces are not scanned as well; without `scan_unmatched` nothing is.
    let (_, counts) = mask_with(
        JsonMaskRules::new()
            .rule("data", text("M"))
            .unwrap()
            .scan_unmatched(true),
        JsonStreamOptions::default(),
        input,
        11,
    )
    .unwrap();
    assert_eq!(counts.detectors().get("email"), None);
    assert_eq!(counts.path_rules().get("data"), Some(&5));
    assert_eq!(mask(JsonMaskRules::new(), input).unwrap(), input);
}

#[test]
fn a_watch_is_masked_event_by_event() {
    let lines = |mode| JsonStreamOptions {
        mode,
        ..JsonStreamOptions::default()
    };
    let event = |kind: &str, value: &str| {
        format!(r#"{{"type":"{kind}","object":{{"kind":"Secret","data":{{"k":"{value}"}}}}}}"#)
    };
    let input = format!(
        "{}\n{}\r\n\n  {}\n",
        event("ADDED", "YQ=="),
        event("MODIFIED", "Yg=="),
        event("DELETED", "Yw==")
    );
    let rules = || {
        JsonMaskRules::new()
            .rule("object.data.*", text("M"))
            .unwrap()
    };
    let (out, counts) = mask_with(rules(), lines(JsonMode::Lines), &input, 9).unwrap();
    assert_eq!(
        out,
        format!(
            "{}\n{}\r\n\n  {}\n",
            event("ADDED", "M"),
            event("MODIFIED", "M"),
            event("DELETED", "M")
        )
    );
    assert_eq!(counts.path_rules().get("object.data.*"), Some(&3));
    // Paths start at each line's root: `data.*` does not match `object.data.*`.
    let top = JsonMaskRules::new().rule("data.*", text("M")).unwrap();
    assert_eq!(
        mask_with(top, lines(JsonMode::Lines), &input, 4).unwrap().0,
        input
    );
    // An empty watch, and a last event without its newline, are fine.
    assert_eq!(
        mask_with(rules(), lines(JsonMode::Lines), "", 1).unwrap().0,
        ""
    );
    assert!(mask_with(rules(), lines(JsonMode::Lines), "1\n[2]", 1).is_ok());
    // Two documents on a line, or in Document mode, are refused.
    for (mode, input) in [
        (JsonMode::Lines, "{} {}\n"),
        (JsonMode::Lines, "{}{}"),
        (JsonMode::Document, "{}\n{}"),
    ] {
        assert!(
            matches!(
                mask_with(rules(), lines(mode), input, 1),
                Err(MaskError::MalformedJson { .. })
            ),
            "{input:?}"
        );
    }
}

#[test]
fn malformed_json_is_refused_with_where_and_why() {
    let cases = [
        ("", 0, "the input holds no JSON document"),
        ("  ", 2, "the input holds no JSON document"),
        (r#"{"a": 1"#, 7, "the input ends inside an object or array"),
        (r#"{"a": "x"#, 8, "the input ends inside a string"),
        ("[tru", 4, "the input ends inside `true`, `false` or `null`"),
        ("[1.", 3, "the input ends inside a number"),
        (
            "[1}",
            2,
            "a `}` or `]` that does not close the innermost object or array",
        ),
        ("{]", 1, "expected a key or `}`"),
        (r#"{"a" 1}"#, 5, "expected `:` after a key"),
        (r#"{"a":1,}"#, 7, "expected a key after `,`"),
        ("[1,]", 3, "expected a value"),
        ("[1 2]", 3, "expected `,` or the end of the object or array"),
        (r#"["\x"]"#, 3, "an unknown escape sequence in a string"),
        (r#"["\u12"]"#, 6, "a `\\u` escape without four hex digits"),
        (
            r#"["\ud800x"]"#,
            8,
            "a high surrogate escape not followed by a low surrogate escape",
        ),
        (
            r#"["\udc00"]"#,
            7,
            "a low surrogate escape without a high one before it",
        ),
        (
            "[\"a\nb\"]",
            3,
            "a control character in a string (it must be escaped)",
        ),
        ("{} x", 3, "data after the end of the document"),
        ("[1] [2]", 4, "data after the end of the document"),
        ("[01]", 2, "expected `,` or the end of the object or array"),
        ("[-]", 2, "an incomplete number"),
        ("[nul]", 4, "expected `true`, `false` or `null`"),
        ("{'a': 1}", 1, "expected a key or `}`"),
        ("\u{feff}{}", 0, "expected a value"),
    ];
    for (input, offset, reason) in cases {
        for chunk in [1, 3, 100] {
            let rules = JsonMaskRules::new().scan_unmatched(chunk == 3);
            assert_eq!(
                mask_with(rules, JsonStreamOptions::default(), input, chunk).map(|(out, _)| out),
                Err(MaskError::MalformedJson { offset, reason }),
                "{input:?} in chunks of {chunk}"
            );
        }
    }
    let not_utf8: &[&[u8]] = &[b"[\"\xff\"]", b"[\"\xc3\"]", b"[\"\xed\xa0\x80\"]"];
    for input in not_utf8 {
        let mut masker = stream(JsonMaskRules::new(), JsonStreamOptions::default());
        assert!(matches!(
            masker.push(input),
            Err(MaskError::MalformedJson {
                reason: "a string is not valid UTF-8",
                ..
            })
        ));
    }
}

#[test]
fn an_error_is_final() {
    let mut masker = stream(secret_rules(), JsonStreamOptions::default());
    assert_eq!(
        masker.push(br#"{"data": {"k": "#).unwrap(),
        br#"{"data": {"k": "#
    );
    let error = masker.push(b"\"v\" x").unwrap_err();
    assert_eq!(
        error,
        MaskError::MalformedJson {
            offset: 19,
            reason: "expected `,` or the end of the object or array"
        }
    );
    assert_eq!(masker.push(b"}}").unwrap_err(), error);
    assert_eq!(masker.finish().unwrap_err(), error);
    assert!(error.to_string().contains("byte 19"), "{error}");

    let mut done = stream(secret_rules(), JsonStreamOptions::default());
    done.push(b"{}").unwrap();
    assert_eq!(done.finish().unwrap(), b"");
    assert_eq!(done.finish().unwrap(), b"");
    assert!(matches!(
        done.push(b" "),
        Err(MaskError::MalformedJson { .. })
    ));
}

#[test]
fn held_values_over_the_limit_are_refused_and_streamed_ones_are_not() {
    let options = JsonStreamOptions {
        max_value_bytes: 16,
        ..JsonStreamOptions::default()
    };
    let long = "x".repeat(17);
    let exactly = "y".repeat(16);
    let too_long =
        |rules: JsonMaskRules, input: &str| mask_with(rules, options, input, 5).map(|(out, _)| out);
    let limit = |offset| Err(MaskError::JsonValueTooLong { offset, limit: 16 });
    // Keys are always held.
    assert_eq!(
        too_long(JsonMaskRules::new(), &format!(r#"{{"{long}": 1}}"#)),
        limit(1)
    );
    // Values the detectors scan, and values a `hash` or `partial` rule reads.
    let scanned = format!(r#"{{"a": "{long}"}}"#);
    assert_eq!(
        too_long(JsonMaskRules::new().scan_unmatched(true), &scanned),
        limit(6)
    );
    let hashed = JsonMaskRules::new()
        .rule("a", JsonReplacement::Strategy(Strategy::Hash))
        .unwrap();
    assert_eq!(too_long(hashed, &scanned), limit(6));
    let number = format!("[{}]", "9".repeat(17));
    assert_eq!(
        too_long(JsonMaskRules::new().scan_unmatched(true), &number),
        limit(1)
    );
    // At the limit is fine; values written through or replaced whole are never held.
    let at_limit = format!(r#"{{"{exactly}": "{exactly}"}}"#);
    assert_eq!(
        too_long(JsonMaskRules::new().scan_unmatched(true), &at_limit).unwrap(),
        at_limit
    );
    assert_eq!(too_long(JsonMaskRules::new(), &scanned).unwrap(), scanned);
    assert_eq!(too_long(JsonMaskRules::new(), &number).unwrap(), number);
    let redacted = JsonMaskRules::new().rule("a", text("M")).unwrap();
    assert_eq!(too_long(redacted, &scanned).unwrap(), r#"{"a": "M"}"#);
}

#[test]
fn nesting_past_the_limit_is_refused() {
    let options = JsonStreamOptions {
        max_depth: 3,
        ..JsonStreamOptions::default()
    };
    let run = |input: &str| mask_with(JsonMaskRules::new(), options, input, 2).map(|(out, _)| out);
    assert_eq!(run(r#"[{"a": []}]"#).unwrap(), r#"[{"a": []}]"#);
    assert_eq!(
        run(r#"[{"a": [{}]}]"#),
        Err(MaskError::JsonTooDeep {
            offset: 8,
            limit: 3
        })
    );
    let deep = "[".repeat(100_000);
    let default = mask_with(
        JsonMaskRules::new(),
        JsonStreamOptions::default(),
        &deep,
        4096,
    );
    assert_eq!(
        default,
        Err(MaskError::JsonTooDeep {
            offset: 128,
            limit: 128
        })
    );
}

#[test]
fn invalid_patterns_say_what_is_wrong() {
    let error = JsonMaskRules::new().rule("data.", text("M")).unwrap_err();
    assert_eq!(
        error,
        MaskError::InvalidJsonPattern {
            pattern: "data.".into(),
            reason: "it ends with `.`"
        }
    );
    assert_eq!(
        error.to_string(),
        "JSON path pattern `data.`: it ends with `.`"
    );
    let error = JsonMaskRules::new()
        .rule("metadata.annotations.kubectl.kubernetes.io/x y", text("M"))
        .unwrap_err();
    assert!(error.to_string().contains("must be quoted"), "{error}");
}

#[test]
fn counts_serialize_path_rules_only_when_there_are_some() {
    let (_, counts) = mask_with(
        secret_rules(),
        JsonStreamOptions::default(),
        r#"{"data": {"a": "b"}}"#,
        64,
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&counts).unwrap(),
        r#"{"detectors":{},"column_rules":{},"path_rules":{"**.data.*":1}}"#
    );
    assert_eq!(
        serde_json::to_string(&MaskCounts::default()).unwrap(),
        r#"{"detectors":{},"column_rules":{}}"#
    );
    assert!(!counts.is_empty());
}
