//! The public API as the gateway uses it: configuration in TOML, errors that say what to fix,
//! column plans, every strategy on whole columns and on findings, counts, byte values, length
//! limits and `explain`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_mask::{
    ColumnMask, ColumnRef, HashKey, MaskConfig, MaskCounts, MaskError, Masked, MaskedBytes, Masker,
    Strategy,
};

const KEY: [u8; 32] = [11; 32];

fn masker(toml_text: &str) -> Masker {
    let config: MaskConfig = toml::from_str(toml_text).unwrap();
    Masker::new(&config, HashKey::new(KEY)).unwrap()
}

fn error(toml_text: &str) -> String {
    let config: MaskConfig = toml::from_str(toml_text).unwrap();
    Masker::new(&config, HashKey::new(KEY))
        .unwrap_err()
        .to_string()
}

fn column<'a>(name: &'a str, table: Option<&'a str>, type_name: Option<&'a str>) -> ColumnRef<'a> {
    ColumnRef {
        name,
        table,
        type_name,
    }
}

fn scan(masker: &Masker, value: &str) -> String {
    let masked = masker.mask_value(&ColumnMask::Scan, value, &mut MaskCounts::default());
    masked.as_str().unwrap_or("<NULL>").to_owned()
}

#[test]
fn documented_configuration_parses() {
    let config: MaskConfig = toml::from_str(
        r#"
        detectors = ["all"]
        exempt_groups = ["admins"]

        [[columns]]
        name = "*password*"
        strategy = "null"

        [[columns]]
        name = "billing.card_*"
        types = ["text", "varchar"]
        strategy = { partial = 4 }

        [strategies]
        email = "redact"
        payment_card = { partial = 4 }

        [[custom]]
        name = "order_ref"
        pattern = "ORD-[0-9]{8}"
        validator = "none"
        strategy = "redact"
        "#,
    )
    .unwrap();
    assert_eq!(
        config.columns[1].strategy,
        Strategy::Partial { keep_last: 4 }
    );
    assert_eq!(config.strategies["email"], Strategy::Redact);
    let masker = Masker::new(&config, HashKey::new(KEY)).unwrap();
    assert_eq!(masker.exempt_groups(), ["admins"]);
    assert_eq!(
        scan(&masker, "ORD-12345678 for a@b.io"),
        "[REDACTED:order_ref] for [REDACTED:email]"
    );
    assert!(format!("{masker:?}").contains("order_ref"));
}

#[test]
fn an_empty_table_enables_every_builtin_with_its_default() {
    let masker = masker("");
    let detectors: Vec<(&str, Strategy)> = masker.detectors().collect();
    assert_eq!(detectors.len(), 17);
    assert!(detectors.contains(&("email", Strategy::Hash)));
    assert!(detectors.contains(&("payment_card", Strategy::Partial { keep_last: 4 })));
    assert!(detectors.contains(&("private_key", Strategy::Redact)));
}

#[test]
fn mistakes_are_refused_with_what_to_fix() {
    let unknown_key = toml::from_str::<MaskConfig>("detector = [\"email\"]").unwrap_err();
    assert!(unknown_key.to_string().contains("unknown field `detector`"));
    let bad_strategy = toml::from_str::<MaskConfig>("[strategies]\nemail = \"mask\"").unwrap_err();
    assert!(bad_strategy.to_string().contains("unknown variant `mask`"));

    let message = error(r#"detectors = ["emails"]"#);
    assert!(
        message.contains("unknown detector `emails` in `detectors`"),
        "{message}"
    );
    assert!(message.contains("payment_card"), "{message}");
    let message = error("[strategies]\ncard = \"redact\"");
    assert!(
        message.contains("unknown detector `card` in `strategies`"),
        "{message}"
    );
    let message =
        error("[strategies]\nref = \"hash\"\n[[custom]]\nname = \"ref\"\npattern = \"R[0-9]+\"");
    assert!(
        message.contains("belongs in its [[custom]] entry"),
        "{message}"
    );
    let message = error("[[custom]]\nname = \"ref\"\npattern = \"R[0-9+\"");
    assert!(
        message.contains("detector `ref`: invalid pattern"),
        "{message}"
    );
    let message = error("[[custom]]\nname = \"email\"\npattern = \"x\"");
    assert!(message.contains("reserved"), "{message}");
    let message = error("[[custom]]\nname = \"Ref\"\npattern = \"x\"");
    assert!(message.contains("lowercase letter"), "{message}");
    let message = error(
        "[[custom]]\nname = \"a\"\npattern = \"x\"\n[[custom]]\nname = \"a\"\npattern = \"y\"",
    );
    assert!(message.contains("another custom detector"), "{message}");
    let message = error("[[columns]]\nname = \"card_[0-9]\"\nstrategy = \"redact\"");
    assert!(
        message.contains("column rule 1: invalid glob `card_[0-9]`"),
        "{message}"
    );
    let message = error("[[columns]]\nname = \"users.\"\nstrategy = \"redact\"");
    assert!(
        message.contains("column rule 1: invalid glob ``: it is empty"),
        "{message}"
    );
    let message = error("[[columns]]\nstrategy = \"redact\"");
    assert!(message.contains("neither `name` nor `types`"), "{message}");
}

#[test]
fn hash_keys_read_hex_and_stay_secret() {
    let key = HashKey::from_hex(&"ab".repeat(32)).unwrap();
    assert_eq!(key, HashKey::new([0xab; 32]));
    assert!(!format!("{key:?}").contains("ab"));
    assert_eq!(HashKey::from_hex("abcd"), Err(MaskError::InvalidHashKey));
    assert_eq!(
        HashKey::from_hex(&"zz".repeat(32)),
        Err(MaskError::InvalidHashKey)
    );
}

#[test]
fn plans_pick_the_first_matching_rule() {
    let masker = masker(
        r#"
        [[columns]]
        name = "SSN"
        strategy = "redact"
        [[columns]]
        name = "billing.*_token"
        strategy = "hash"
        [[columns]]
        types = ["bytea"]
        strategy = "null"
        [[columns]]
        name = "*password*"
        types = ["text"]
        strategy = { partial = 2 }
        "#,
    );
    let plan = masker.plan(&[
        column("ssn", None, None),
        column("api_token", Some("public.Billing"), Some("text")),
        column("api_token", Some("users"), Some("text")),
        column("api_token", None, Some("text")),
        column("avatar", Some("users"), Some("bytea")),
        column("Password_Hash", Some("users"), Some("TEXT")),
        column("password_hash", Some("users"), Some("varchar")),
    ]);
    let rule = |columns: &ColumnMask| match columns {
        ColumnMask::Whole { rule, strategy } => format!("{rule} {strategy:?}"),
        ColumnMask::Scan => "scan".to_owned(),
    };
    let planned: Vec<String> = plan.columns().iter().map(rule).collect();
    assert_eq!(
        planned,
        [
            "SSN Redact",
            "billing.*_token Hash",
            "scan",
            "scan",
            "types:bytea Null",
            "*password* Partial { keep_last: 2 }",
            "scan",
        ]
    );
    assert_eq!(plan.get(7), None);
}

#[test]
fn whole_column_strategies_and_counts() {
    let masker = masker(
        r#"
        [[columns]]
        name = "a"
        strategy = "redact"
        [[columns]]
        name = "b"
        strategy = "hash"
        [[columns]]
        name = "c"
        strategy = { partial = 4 }
        [[columns]]
        name = "d"
        strategy = "null"
        "#,
    );
    let plan = masker.plan(&[
        column("a", None, None),
        column("b", None, None),
        column("c", None, None),
        column("d", None, None),
    ]);
    let [a, b, c, d] = plan.columns() else {
        panic!("four columns")
    };
    let mut counts = MaskCounts::default();
    let value = "hunter2-secret";
    assert_eq!(
        masker.mask_value(a, value, &mut counts),
        Masked::Replaced("[REDACTED]".into())
    );
    let hashed = masker.mask_value(b, value, &mut counts);
    assert!(hashed.as_str().unwrap().starts_with("masked:"));
    assert_eq!(hashed, masker.mask_value(b, value, &mut counts));
    assert_eq!(
        masker.mask_value(c, value, &mut counts).as_str(),
        Some("*******-**cret")
    );
    assert_eq!(masker.mask_value(d, value, &mut counts), Masked::Null);
    assert_eq!(counts.column_rules().get("b"), Some(&2));
    assert_eq!(counts.column_rules().len(), 4);
    assert!(counts.detectors().is_empty());
    let audit = serde_json::to_value(&counts).unwrap();
    assert_eq!(audit["column_rules"]["a"], 1);
}

#[test]
fn findings_are_masked_with_their_strategies_and_counted_once_per_value() {
    let masker = masker(
        r#"
        [strategies]
        ipv4 = "redact"
        phone = { partial = 2 }
        "#,
    );
    let mut counts = MaskCounts::default();
    let value = "from 10.0.0.1 and 10.0.0.2, call (415) 555-2671";
    let masked = masker.mask_value(&ColumnMask::Scan, value, &mut counts);
    assert_eq!(
        masked.into_cow().unwrap(),
        "from [REDACTED:ipv4] and [REDACTED:ipv4], call (***) ***-**71"
    );
    assert_eq!(counts.detectors().get("ipv4"), Some(&1));
    assert_eq!(counts.detectors().get("phone"), Some(&1));

    let clean = "nothing to see";
    let masked = masker.mask_value(&ColumnMask::Scan, clean, &mut counts);
    assert!(matches!(masked, Masked::Unchanged(text) if std::ptr::eq(text, clean)));
}

#[test]
fn equal_values_hash_alike_across_columns_and_differently_across_keys() {
    let masker = masker("");
    let first = scan(&masker, "owner: a.b@example.com");
    let second = scan(&masker, "a.b@example.com");
    assert_eq!(first.strip_prefix("owner: "), Some(second.as_str()));
    let other_key = Masker::new(&MaskConfig::default(), HashKey::new([12; 32])).unwrap();
    assert_ne!(scan(&other_key, "a.b@example.com"), second);
}

#[test]
fn a_null_detector_nulls_the_whole_value() {
    let masker = masker("[strategies]\nus_ssn = \"null\"");
    let mut counts = MaskCounts::default();
    let masked = masker.mask_value(&ColumnMask::Scan, "ssn 123-45-6789 ok", &mut counts);
    assert_eq!(masked, Masked::Null);
    assert_eq!(counts.detectors().get("us_ssn"), Some(&1));
    let findings = masker.explain("ssn 123-45-6789 ok");
    assert_eq!(findings[0].replacement, None);
}

#[test]
fn only_the_listed_detectors_run() {
    let masker = masker(r#"detectors = ["email"]"#);
    assert_eq!(
        scan(&masker, "4111 1111 1111 1111 x@y.io")
            .split(' ')
            .count(),
        5
    );
    assert!(scan(&masker, "4111 1111 1111 1111").starts_with("4111"));
    let none = masker_with_no_builtins();
    assert_eq!(
        scan(&none, "x@y.io 4111111111111111"),
        "x@y.io 4111111111111111"
    );
}

fn masker_with_no_builtins() -> Masker {
    masker("detectors = []")
}

#[test]
fn custom_validators_check_their_matches() {
    let masker = masker(
        r#"
        detectors = []
        [[custom]]
        name = "loyalty_card"
        pattern = "LC[0-9]{10}"
        validator = "luhn"
        [[custom]]
        name = "account"
        pattern = "[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}"
        validator = "mod97"
        strategy = "hash"
        "#,
    );
    assert_eq!(scan(&masker, "LC4111111111"), "LC4111111111");
    assert_eq!(scan(&masker, "LC0000000000"), "[REDACTED:loyalty_card]");
    assert!(scan(&masker, "GB82WEST12345698765432").starts_with("account:"));
    assert_eq!(
        scan(&masker, "GB82WEST12345698765433"),
        "GB82WEST12345698765433"
    );
}

#[test]
fn limits_shorten_replacements_to_what_they_replace() {
    let masker = masker("[[columns]]\nname = \"pin\"\nstrategy = \"redact\"");
    let plan = masker.plan(&[column("pin", None, None)]);
    let mut counts = MaskCounts::default();
    let pin = &plan.columns()[0];
    assert_eq!(
        masker.mask_value(pin, "1234", &mut counts).as_str(),
        Some("[REDACTED]")
    );
    assert_eq!(
        masker
            .mask_value_within(pin, "1234", 4, &mut counts)
            .as_str(),
        Some("****")
    );
    assert_eq!(
        masker
            .mask_value_within(pin, "1234", 10, &mut counts)
            .as_str(),
        Some("[REDACTED]")
    );
    let short = masker.mask_value_within(&ColumnMask::Scan, "a@b.co", 6, &mut counts);
    let short = short.as_str().unwrap();
    assert_eq!(short.len(), 6);
    assert!(short.bytes().all(|b| b.is_ascii_hexdigit()), "{short}");
}

#[test]
fn bytes_that_are_not_utf8_follow_column_rules_only() {
    let masker = masker(
        r#"
        [[columns]]
        name = "blob"
        strategy = { partial = 4 }
        [[columns]]
        name = "digest"
        strategy = "hash"
        "#,
    );
    let plan = masker.plan(&[column("blob", None, None), column("digest", None, None)]);
    let latin1 = b"caf\xe9 4111111111111111";
    let mut counts = MaskCounts::default();
    assert_eq!(
        masker.mask_bytes(&ColumnMask::Scan, latin1, None, &mut counts),
        MaskedBytes::Unchanged(latin1)
    );
    assert!(counts.is_empty());
    let blob = masker.mask_bytes(&plan.columns()[0], latin1, None, &mut counts);
    assert_eq!(blob.as_bytes(), Some("*".repeat(latin1.len()).as_bytes()));
    let digest = masker.mask_bytes(&plan.columns()[1], b"\xff\xfe\x00", Some(2), &mut counts);
    assert_eq!(digest.as_bytes().map(<[u8]>::len), Some(3));
    let utf8 = masker.mask_bytes(
        &ColumnMask::Scan,
        b"card 4111111111111111",
        None,
        &mut counts,
    );
    assert_eq!(utf8.as_bytes(), Some(&b"card ************1111"[..]));
}

#[test]
fn explain_reports_spans_strategies_and_replacements() {
    let masker = masker("");
    let text = "mail x@y.io, card 4111-1111-1111-1111";
    let findings = serde_json::to_value(masker.explain(text)).unwrap();
    assert_eq!(findings[0]["detector"], "email");
    assert_eq!(findings[0]["start"], 5);
    assert_eq!(findings[0]["end"], 11);
    assert_eq!(findings[0]["strategy"], "hash");
    assert!(
        findings[0]["replacement"]
            .as_str()
            .unwrap()
            .starts_with("email:")
    );
    assert_eq!(findings[1]["strategy"], serde_json::json!({ "partial": 4 }));
    assert_eq!(findings[1]["replacement"], "****-****-****-1111");
}

#[test]
fn maskers_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Masker>();
}
