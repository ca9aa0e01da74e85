//! Masking of sensitive values in query results and JSON streams, with no network or protocol
//! dependency: the PostgreSQL adapter calls it per result column and per value; the Kubernetes
//! and HTTP adapters run response bodies through a [`JsonStreamMasker`] (path rules such as
//! `items[*].data.*`, the detectors on free text; see [JSON streams](#json-streams)).
//!
//! Two kinds of rules decide what is masked:
//!
//! - **Column rules** mask a whole column chosen by its name (`ssn`, `users.ssn`, globs such as
//!   `*password*` or `*_token`, case-insensitive) and/or its type name. First match wins.
//! - **Detectors** scan the values of every other column for sensitive content. Each detector
//!   pairs a regex with a validator (check digits, issuer and length tables, decodable
//!   structure, a label nearby), so it fires on a card number, not on any 16 digits.
//!
//! # Use
//!
//! ```
//! use gatehouse_mask::{ColumnRef, HashKey, MaskConfig, MaskCounts, Masked, Masker};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config: MaskConfig = toml::from_str(r#"
//!     [[columns]]
//!     name = "*password*"
//!     strategy = "null"
//! "#)?;
//! let masker = Masker::new(&config, HashKey::new([42; 32]))?;
//!
//! // Once per result set: what happens to each column.
//! let plan = masker.plan(&[
//!     ColumnRef { name: "password_hash", table: Some("users"), type_name: Some("text") },
//!     ColumnRef { name: "note", table: Some("users"), type_name: Some("text") },
//! ]);
//! let [password, note] = plan.columns() else { unreachable!() };
//!
//! // Per value; counts go to the audit log (numbers only, never values).
//! let mut counts = MaskCounts::default();
//! assert_eq!(masker.mask_value(password, "$2b$12$abc", &mut counts), Masked::Null);
//! assert_eq!(masker.mask_value(note, "all good", &mut counts), Masked::Unchanged("all good"));
//! let masked = masker.mask_value(note, "card 4111 1111 1111 1111", &mut counts);
//! assert_eq!(masked.as_str(), Some("card **** **** **** 1111"));
//! assert_eq!(counts.detectors().get("payment_card"), Some(&1));
//! assert_eq!(counts.column_rules().get("*password*"), Some(&1));
//! # Ok(())
//! # }
//! ```
//!
//! - [`Masker::new`]`(&MaskConfig, HashKey) -> Result<Masker, MaskError>` compiles a
//!   configuration; errors say what to fix.
//! - [`Masker::plan`]`(&[ColumnRef]) -> ColumnPlan`: per column, [`ColumnMask::Whole`] (a column
//!   rule matched; carries the rule and its [`Strategy`]) or [`ColumnMask::Scan`].
//! - [`Masker::mask_value`]`(&ColumnMask, &str, &mut MaskCounts) -> Masked`:
//!   [`Masked::Unchanged`] (borrows the input; nothing is allocated when nothing matches),
//!   [`Masked::Replaced`] or [`Masked::Null`] (send SQL `NULL`).
//! - [`Masker::mask_value_within`] adds a length limit, [`Masker::mask_bytes`] takes the value
//!   as bytes (not UTF-8: never scanned, returned unchanged; column rules still apply).
//! - [`Masker::sensitive_column`]`(relation, column, reads) -> Option<SensitiveColumn>`: the
//!   rule naming a stored column, for masking by lineage (a value computed from the column,
//!   a condition on it); [`Masker::may_hold_sensitive`] whether a relation could have one.
//! - [`Masker::explain`]`(&str) -> Vec<Finding>`: what would be masked, by which detector, and
//!   what it would become (serializable, for `gatehouse mask test --text`).
//! - [`MaskCounts`]: values masked per detector and per column rule.
//!
//! # Configuration
//!
//! [`MaskConfig`] deserializes from a table such as `[connections.<name>.masking]`; unknown keys
//! are errors. Every key is optional.
//!
//! ```toml
//! detectors = ["all"]              # default; or a list of built-in names, e.g. ["email", "iban"]
//! exempt_groups = ["admins"]       # carried for the caller, which applies it
//!
//! [[columns]]                      # column rules, first match wins
//! name = "*password*"              # `column` or `table.column`, globs `*` and `?`
//! strategy = "null"
//!
//! [[columns]]
//! name = "billing.card_*"
//! types = ["text", "varchar"]      # optional: only columns of these types (globs too)
//! strategy = { partial = 4 }
//!
//! [[columns]]
//! name = "people.email"
//! strategy = "hash"
//! allow = ["equality"]             # optional: masked identities may compare it with `=`,
//!                                  # `IN`, `IS NULL`, and group on it (default: nothing)
//!
//! [strategies]                     # per built-in detector, overriding the defaults below
//! email = "redact"
//! payment_card = { partial = 4 }
//!
//! [[custom]]                       # operator-defined detectors; they always run
//! name = "order_ref"               # lowercase letters, digits, `_`
//! pattern = "ORD-[0-9]{8}"         # `regex` crate syntax; the whole match is masked
//! validator = "none"               # "luhn", "mod97" or "none" (default)
//! strategy = "redact"              # default "redact"
//! ```
//!
//! A strategy is written `"redact"`, `"hash"`, `"null"` or `{ partial = N }`.
//!
//! # Detectors and default strategies
//!
//! | detector | finds | default |
//! |---|---|---|
//! | `email` | `local@domain.tld`, alphabetic TLD; not `logo@2x.png`, `pkg@1.2.3` | `hash` |
//! | `payment_card` | 13–19 digits, plain or grouped by spaces/dashes; known issuer prefix and length (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro, Mir); Luhn | `{ partial = 4 }` |
//! | `iban` | country code, that country's length, mod-97; plain or in groups of four | `{ partial = 4 }` |
//! | `us_ssn` | `AAA-GG-SSSS`; undashed only after `SSN`/`Social Security number`; unissued areas, groups, serials refused | `{ partial = 4 }` |
//! | `phone` | `+` and 8–15 digits; `(415) 555-2671`, `415-555-2671`, `1-800-…`; `020 7946 0958`, `01 23 45 67 89`; never bare digit runs, dates, ISBNs | `{ partial = 4 }` |
//! | `ipv4` | valid octets, no leading zeros; not in longer dotted sequences, not after `version`/`build`/`section`… | `hash` |
//! | `ipv6` | what [`std::net::Ipv6Addr`] parses; not `::` alone or MAC-like `aa:bb:…` | `hash` |
//! | `jwt` | three base64url segments, header JSON with `alg`, payload a JSON object | `redact` |
//! | `aws_access_key_id` | `AKIA`/`ASIA` + 16 uppercase letters or digits | `redact` |
//! | `aws_secret_key` | 40 base64 characters right after a `secret`-style label (`aws_secret_access_key=`, `"SecretAccessKey": "…"`) | `redact` |
//! | `github_token` | `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36, `github_pat_` + 22 + `_` + 59 | `redact` |
//! | `gitlab_token` | `glpat-` + 20 or more | `redact` |
//! | `slack_token` | `xox[abposr]-` + dash-separated parts | `redact` |
//! | `google_api_key` | `AIza` + 35 | `redact` |
//! | `stripe_key` | `sk_live_`, `sk_test_`, `rk_live_`, `rk_test_`, `pk_live_` + 16 or more | `redact` |
//! | `private_key` | PEM `-----BEGIN … PRIVATE KEY-----` through its END line (to the end of the text if cut) | `redact` |
//! | `bearer_token` | the credential after `Bearer ` (16+ characters with letters and digits) | `redact` |
//! | custom | its `pattern`, then its `validator` | `redact` |
//!
//! The table is also the priority order (first = highest) used when findings overlap: the
//! longest finding wins, then the higher-priority detector, then the earliest.
//!
//! # Strategies
//!
//! | strategy | content finding | whole column |
//! |---|---|---|
//! | `redact` | `[REDACTED:<detector>]` | `[REDACTED]` |
//! | `{ partial = N }` | letters and digits become `*` except the last `N` of them, never more than half; separators stay: `****-****-****-1111`, `***-**-6789` | same |
//! | `hash` | `<detector>:<12 hex>` | `masked:<12 hex>` |
//! | `null` | the whole value becomes SQL `NULL` | `NULL` |
//!
//! `hash` is HMAC-SHA256 keyed by the [`HashKey`] over the exact bytes of the span: equal inputs
//! give equal tokens under the same key (joins and `GROUP BY` on masked data line up, and the
//! hex part is the same whichever label a token carries), different keys give unrelated tokens,
//! and nobody without the key can test a guess. No normalization: `A@x.io` and `a@x.io` differ.
//!
//! # Lengths and leftovers
//!
//! [`Masker::mask_value`] can lengthen a value: `[REDACTED:email]` is longer than `a@b.co`.
//! [`Masker::mask_value_within`] guarantees at most `max_chars` characters (or the input's length,
//! if that is larger): when the natural result does not fit, every replacement is made no
//! longer than what it replaces (`redact` becomes one `*` per character, `hash` keeps as many hex
//! digits as fit, `partial` never lengthens).
//!
//! Masking never leaves anything detectable: the masked value is scanned again and masked again
//! until a scan finds nothing (replacing one finding can expose a neighbour that lost an overlap
//! to it); if three more passes do not settle it, the whole value becomes `[REDACTED]`. A
//! `partial` replacement that would itself still be detected (the visible tail of an IPv6
//! address can be an address) is masked completely instead. [`Masker::explain`] shows the first
//! scan.
//!
//! # Text and bytes
//!
//! Detectors work on `&str`. [`Masker::mask_bytes`] takes a value as it comes off the wire: if
//! it is UTF-8 it is masked as text; if not (a database in another encoding), content detectors
//! cannot read it and it is returned unchanged, while column rules still apply.
//!
//! # Cost
//!
//! Each value first pays two cheap passes: one loop counting digits, uppercase letters, dots,
//! colons and `@` (which the compiler vectorizes), and one Aho-Corasick search for the
//! detectors' fixed literals (`-----BEGIN`, `eyJ`, `AKIA`, `ghp_`, `xoxb-`, `AIza`, `sk_live_`,
//! `secret`/`Secret`/`SECRET`, `bearer`/`Bearer`/`BEARER`, …), case-sensitive so that its SIMD
//! prefilter stays on; custom detectors add one `RegexSet` test. Only detectors whose trigger
//! fired run their regex: a card needs a run of 13 digits (single spaces or dashes allowed), an
//! email an `@`, an IPv6 address a `::` or seven colons, and so on. Nothing is allocated unless
//! something is found. `benches/mask.rs` measures it; `BENCHMARKS.md` has the figures.
//!
//! # JSON streams
//!
//! [`JsonStreamMasker`] masks JSON as it streams, with memory bounded by the nesting depth and
//! the longest value held, never by the document's size. Only the values replaced change;
//! everything else (key order, whitespace, escapes, number forms) is written through byte for
//! byte as it arrives, never re-serialised.
//!
//! ## Use
//!
//! ```
//! use gatehouse_mask::{HashKey, JsonMaskRules, JsonReplacement, JsonStreamMasker,
//!     JsonStreamOptions, MaskConfig, Masker, Strategy};
//! use std::sync::Arc;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let masker = Arc::new(Masker::new(&MaskConfig::default(), HashKey::new([42; 32]))?);
//! let rules = Arc::new(
//!     JsonMaskRules::new()
//!         .rule("**.data.*", JsonReplacement::Base64Of("gatehouse:masked".into()))?
//!         .rule("status.token", JsonReplacement::Strategy(Strategy::Redact))?
//!         .scan_unmatched(true),
//! );
//! let mut stream = JsonStreamMasker::new(masker, rules, JsonStreamOptions::default());
//! let mut out = stream.push(br#"{"data": {"password": "hun"#)?;
//! out.extend(stream.push(br#"ter2"}, "note": "mail jane@example.com"}"#)?);
//! out.extend(stream.finish()?);
//! assert_eq!(
//!     String::from_utf8(out)?,
//!     r#"{"data": {"password": "Z2F0ZWhvdXNlOm1hc2tlZA=="}, "note": "mail email:44fae1752e7e"}"#,
//! );
//! assert_eq!(stream.counts().path_rules().get("**.data.*"), Some(&1));
//! assert_eq!(stream.counts().detectors().get("email"), Some(&1));
//! # Ok(())
//! # }
//! ```
//!
//! ## Path patterns
//!
//! A pattern names values by the object keys and array positions leading to them from the
//! document's root (each line's own root in [`JsonMode::Lines`]):
//!
//! | segment | matches |
//! |---|---|
//! | `name` (first, or after `.`) | the member with key `name`; any characters but `.`, `[`, `]`, `"`, `\`, `*` and spaces |
//! | `["any key"]` | the member with that key, written as a JSON string (escapes allowed), for keys with dots, slashes, spaces, quotes, or empty |
//! | `*` | any one member of an object |
//! | `[*]` | any one element of an array |
//! | `[3]` | the array element at position 3 (from 0) |
//! | `**` | any number of members and elements, none included |
//!
//! For example `items[*].data.*`, `**.data.*`, `stringData.*`, `status.token`, and
//! `metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]`. Keys compare
//! exactly (case matters) with the document's keys after JSON unescaping, so `"\u0064ata"`
//! is `data`. A key repeated in an object is matched every time it occurs.
//!
//! Rules are tried in the order they were added; the first whose pattern matches a value, or
//! an object or array enclosing it, decides its replacement.
//!
//! ## What is replaced
//!
//! - A matched string, number, `true` or `false` becomes the rule's [`JsonReplacement`]: a
//!   JSON string (or `null` for [`Strategy::Null`]). A matched `null`
//!   stays `null`: it hides nothing.
//! - A matched object or array keeps its keys, its shape and its `null`s; every other scalar
//!   in it, at any depth, is replaced as above. So `data` and `data.*` mask a Secret alike,
//!   and the object still decodes as a Secret.
//! - Keys are never replaced.
//! - With [`JsonMaskRules::scan_unmatched`], every string and number no rule matches goes
//!   through the [`Masker`]'s content detectors as
//!   [`Masker::mask_value`] does with a column without rules: a
//!   string with a finding becomes the masked string, a number with a finding becomes a
//!   string; a detector with the `null` strategy makes the value `null`.
//!
//! [`JsonStreamMasker::counts`] reports values replaced per rule (by its pattern as written)
//! and per detector, as [`MaskCounts`].
//!
//! ## Limits and errors
//!
//! The input must be JSON as RFC 8259 has it, in UTF-8: strings with only its escapes,
//! surrogate escapes in pairs, no control characters; numbers in its form; nothing but
//! whitespace after the document ([`JsonMode::Document`]) or before the newline ending a line
//! ([`JsonMode::Lines`]). Anything else, including an input that ends inside a document, is a
//! [`MaskError::MalformedJson`] with its byte offset. Nesting
//! deeper than [`JsonStreamOptions::max_depth`] is
//! [`MaskError::JsonTooDeep`]; a key, or a value that must be
//! held (scanned by the detectors, or replaced by `hash` or `partial`), longer than
//! [`JsonStreamOptions::max_value_bytes`] is
//! [`MaskError::JsonValueTooLong`]. An error is final: the
//! caller ends the stream. What was returned before it was masked as the rules say; nothing
//! is ever passed through unmasked.
//!
//! Memory: the path stack (per open object or array, the rules' positions in its path) and
//! the key or value being held. Values written through, and values replaced by a fixed text,
//! are streamed and never held. [`JsonStreamMasker::peak_held_bytes`] reports the high-water
//! mark.

mod columns;
mod config;
mod counts;
mod custom;
mod detectors;
mod error;
mod finding;
mod glob;
mod hash_key;
mod json_stream;
mod lines;
mod masked;
mod masker;
mod render;
mod scan;
mod strategy;

pub use columns::{ColumnMask, ColumnPlan, ColumnRef, SensitiveColumn};
pub use config::{AllowedUse, ColumnRuleConfig, CustomDetectorConfig, MaskConfig, Validator};
pub use counts::MaskCounts;
pub use error::MaskError;
pub use finding::Finding;
pub use hash_key::HashKey;
pub use json_stream::{
    JsonMaskRules, JsonMode, JsonReplacement, JsonStreamMasker, JsonStreamOptions,
};
pub use lines::LineMasker;
pub use masked::{Masked, MaskedBytes};
pub use masker::Masker;
pub use strategy::Strategy;
