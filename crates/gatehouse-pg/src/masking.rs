//! Masking in the PostgreSQL data path: rewriting `DataRow` values (and `COPY ... TO STDOUT`
//! text rows) so that every response stays a valid response of its types.
//!
//! Per result set, a [`ResultMasking`] is planned from the `RowDescription`: which columns a
//! column rule masks whole, which are scanned by the content detectors, and how each value is
//! laid out on the wire (type and format). Rules for what a masked value becomes:
//!
//! - text-like types (`text`, `varchar`, `bpchar`, `name`, `char`, `json`, `jsonb`, `xml`,
//!   `unknown`), in either format (their binary form is the text): the masked text; a whole
//!   `json`/`jsonb` column becomes `NULL` (a marker is not JSON);
//! - numbers (integers, `numeric`, `float4`/`float8`, `money`), in either format (binary is
//!   decoded): scanned as written and as their digits (`4.539578763621486e+15` is scanned as
//!   `4539578763621486`, `$1,234.00` as `123400`); unchanged, or `NULL` when something was
//!   found — nothing else is a valid number;
//! - types that cannot hold what the detectors look for (`bool`, dates and times, `uuid`):
//!   never scanned;
//! - any other type: scanned in text format and `NULL` when something was found; in binary
//!   format gatehouse cannot read it, so a scanned column of such a type fails closed;
//! - a column masked whole that is not text-like becomes `NULL` (always valid).
//!
//! Which columns are masked whole comes from the column rules, matched by the column's name,
//! and, for a statement whose lineage the classifier could trace, by what each column derives
//! from (see [`crate::column_lineage`]).

use crate::encoding::TextEncoding;
use gatehouse_core::Lineage;
use gatehouse_mask::{ColumnMask, ColumnRef, MaskCounts, Masked, Masker};
use std::borrow::Cow;

/// Masking configured for one connection.
#[derive(Debug)]
pub struct ConnectionMasking {
    pub masker: Masker,
    /// Whether any column rule exists: COPY cannot be masked by column (the protocol does not
    /// name COPY's columns), so it is refused on such connections.
    pub has_column_rules: bool,
}

/// How a column's values look on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Text,
    Json,
    /// `jsonb` in binary format: a version byte, then the JSON text.
    JsonbBinary,
    /// A number in text format (integer, `numeric`, float, `money`).
    NumberText,
    Int2Binary,
    Int4Binary,
    Int8Binary,
    NumericBinary,
    Float4Binary,
    Float8Binary,
    /// `money` in binary format: an `int8` count of cents.
    MoneyBinary,
    /// Cannot hold detectable content: passed through.
    Inert,
    /// Any other type in text format.
    OtherText,
}

impl Layout {
    /// Values of this layout are text in the session's client encoding.
    fn carries_text(self) -> bool {
        matches!(
            self,
            Layout::Text
                | Layout::Json
                | Layout::JsonbBinary
                | Layout::NumberText
                | Layout::OtherText
        )
    }
}

#[derive(Debug)]
struct PlannedColumn {
    mask: ColumnMask,
    layout: Layout,
    /// The column's name says it holds a secret: its values are scanned as if labelled so,
    /// for detectors that need a label (an AWS secret key).
    secret: bool,
}

/// The label a scanned value of a secret-named column is read after.
const SECRET_LABEL: &str = "secret=";

/// The plan for one result set.
#[derive(Debug)]
pub(crate) struct ResultMasking {
    columns: Vec<PlannedColumn>,
}

/// A result that cannot be masked safely; the message is for the client.
#[derive(Debug)]
pub(crate) struct CannotMask(pub String);

impl ResultMasking {
    /// Plan masking for the columns of a `RowDescription`. `tables` are the relations the
    /// statement reads (from the classifier): a `table.column` rule matches a column when it
    /// matches under any of them. `lineage`, when the classifier traced it, masks whole the
    /// columns computed from masked columns, whatever their names.
    pub fn plan(
        masker: &Masker,
        fields: &[crate::wire::FieldDescription],
        tables: &[String],
        lineage: Option<&Lineage>,
    ) -> Result<ResultMasking, CannotMask> {
        let by_lineage = lineage
            .map(|lineage| {
                crate::column_lineage::result_masks(masker, lineage, tables, fields.len())
            })
            .unwrap_or_default();
        let mut columns = Vec::with_capacity(fields.len());
        for (index, field) in fields.iter().enumerate() {
            let type_name = type_name(field.type_oid);
            let mask = match by_lineage.get(index) {
                Some(Some(mask)) => mask.clone(),
                _ => column_mask(masker, &field.name, type_name, tables),
            };
            let binary = field.format == 1;
            let layout = layout(field.type_oid, binary);
            let layout = match (layout, binary) {
                (Some(layout), _) => layout,
                (None, false) => Layout::OtherText,
                (None, true) => {
                    if matches!(mask, ColumnMask::Scan) {
                        return Err(CannotMask(format!(
                            "column `{}` (type oid {}) arrives in binary format, which gatehouse cannot inspect for masking; request text format for it (or ask for an exemption from masking)",
                            field.name, field.type_oid
                        )));
                    }
                    Layout::Inert
                }
            };
            let secret = matches!(mask, ColumnMask::Scan)
                && layout == Layout::Text
                && field.name.to_ascii_lowercase().contains("secret");
            columns.push(PlannedColumn {
                mask,
                layout,
                secret,
            });
        }
        Ok(ResultMasking { columns })
    }

    /// Mask one `DataRow` body; `Ok(None)` when nothing in it changed (forward the original).
    /// A row that does not decode, or does not have one value per described column, cannot
    /// be checked and is refused (fail closed) rather than forwarded as it came.
    pub fn mask_row(
        &self,
        masker: &Masker,
        body: &[u8],
        counts: &mut MaskCounts,
        encoding: TextEncoding,
    ) -> Result<Option<Vec<u8>>, CannotMask> {
        let values = crate::wire::data_row(body).map_err(|error| {
            CannotMask(format!(
                "the server sent a row gatehouse cannot read to mask it ({error})"
            ))
        })?;
        if values.len() != self.columns.len() {
            return Err(CannotMask(format!(
                "the server sent a row of {} values for {} described columns",
                values.len(),
                self.columns.len()
            )));
        }
        let mut outcomes = Vec::with_capacity(values.len());
        let mut any_changed = false;
        for (index, value) in values.iter().enumerate() {
            let outcome = match (value, self.columns.get(index)) {
                (Some(value), Some(column)) => mask_value(masker, column, value, counts, encoding)?,
                _ => None,
            };
            any_changed |= outcome.is_some();
            outcomes.push(outcome);
        }
        if !any_changed {
            return Ok(None);
        }
        let mut row = Vec::with_capacity(body.len() + 64);
        row.extend_from_slice(
            &i16::try_from(values.len())
                .unwrap_or(i16::MAX)
                .to_be_bytes(),
        );
        for (value, outcome) in values.iter().zip(outcomes) {
            match outcome {
                None => push_value(&mut row, *value),
                Some(replacement) => push_value(&mut row, replacement.as_deref()),
            }
        }
        Ok(Some(row))
    }
}

fn push_value(row: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => row.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(bytes) => {
            row.extend_from_slice(&i32::try_from(bytes.len()).unwrap_or(i32::MAX).to_be_bytes());
            row.extend_from_slice(bytes);
        }
    }
}

/// What to send instead of `value`: `Some(None)` is SQL NULL, `None` means unchanged. A
/// value to be scanned that is not UTF-8 cannot be scanned (the detectors read text), so it
/// is refused rather than passed on unread.
fn mask_value<'v>(
    masker: &Masker,
    column: &PlannedColumn,
    value: &'v [u8],
    counts: &mut MaskCounts,
    encoding: TextEncoding,
) -> Result<Option<Option<Cow<'v, [u8]>>>, CannotMask> {
    let whole = matches!(column.mask, ColumnMask::Whole { .. });
    if !encoding.is_utf8() && column.layout.carries_text() {
        return mask_transcoded(masker, column, value, whole, counts, encoding);
    }
    let scanned = !whole && column.layout != Layout::Inert;
    if scanned && std::str::from_utf8(value_text(column.layout, value)).is_err() {
        return Err(not_utf8());
    }
    Ok(mask_checked_value(masker, column, value, whole, counts))
}

/// A text value of a session whose client encoding is not UTF-8: read as the server wrote
/// it (in the client's encoding), masked as text, and written back in that encoding. A value
/// the encoding does not allow cannot be scanned, so it is refused.
fn mask_transcoded(
    masker: &Masker,
    column: &PlannedColumn,
    value: &[u8],
    whole: bool,
    counts: &mut MaskCounts,
    encoding: TextEncoding,
) -> Result<Option<Option<Cow<'static, [u8]>>>, CannotMask> {
    let prefix_len = usize::from(column.layout == Layout::JsonbBinary);
    let (prefix, text) = value.split_at(prefix_len.min(value.len()));
    let decoded = encoding.decode(text).map_err(|error| {
        CannotMask(format!(
            "the server sent a value gatehouse cannot read in the session's client encoding ({error}), so it cannot scan it for masking"
        ))
    })?;
    let mut utf8 = prefix.to_vec();
    utf8.extend_from_slice(decoded.as_bytes());
    let outcome = mask_checked_value(masker, column, &utf8, whole, counts);
    Ok(outcome.map(|replaced| {
        replaced.map(|bytes| {
            let (prefix, text) = bytes.split_at(prefix_len.min(bytes.len()));
            let mut out = prefix.to_vec();
            out.extend_from_slice(&encoding.encode(&String::from_utf8_lossy(text)));
            Cow::Owned(out)
        })
    }))
}

/// The text part of a value laid out as `layout` (binary `jsonb` starts with a version byte).
fn value_text(layout: Layout, value: &[u8]) -> &[u8] {
    match layout {
        Layout::JsonbBinary => value.get(1..).unwrap_or_default(),
        Layout::Int2Binary
        | Layout::Int4Binary
        | Layout::Int8Binary
        | Layout::NumericBinary
        | Layout::Float4Binary
        | Layout::Float8Binary
        | Layout::MoneyBinary => &[],
        _ => value,
    }
}

fn not_utf8() -> CannotMask {
    CannotMask(
        "the server sent a value that is not valid in the session's client encoding, so gatehouse \
         cannot scan it for masking (a COPY ... ENCODING other than the session's cannot be masked)"
            .to_owned(),
    )
}

fn mask_checked_value<'v>(
    masker: &Masker,
    column: &PlannedColumn,
    value: &'v [u8],
    whole: bool,
    counts: &mut MaskCounts,
) -> Option<Option<Cow<'v, [u8]>>> {
    match column.layout {
        Layout::Inert if !whole => None,
        Layout::Text if column.secret => {
            let text = std::str::from_utf8(value).ok()?;
            let labelled = format!("{SECRET_LABEL}{text}");
            match masker.mask_value(&column.mask, &labelled, counts) {
                Masked::Unchanged(_) => None,
                Masked::Null => Some(None),
                Masked::Replaced(masked) => {
                    let value = masked
                        .strip_prefix(SECRET_LABEL)
                        .unwrap_or("[REDACTED]")
                        .to_owned();
                    Some(Some(Cow::Owned(value.into_bytes())))
                }
            }
        }
        Layout::Text => text_outcome(masker.mask_bytes(&column.mask, value, None, counts)),
        Layout::Json | Layout::JsonbBinary if whole => {
            // Counted as masked by its rule; a marker would not be valid JSON.
            let _ = masker.mask_bytes(&column.mask, value, None, counts);
            Some(None)
        }
        Layout::Json => text_outcome(masker.mask_bytes(&column.mask, value, None, counts)),
        Layout::JsonbBinary => {
            let (version, json) = value.split_first()?;
            match masker.mask_bytes(&column.mask, json, None, counts) {
                gatehouse_mask::MaskedBytes::Unchanged(_) => None,
                gatehouse_mask::MaskedBytes::Null => Some(None),
                gatehouse_mask::MaskedBytes::Replaced(text) => {
                    let mut bytes = Vec::with_capacity(text.len() + 1);
                    bytes.push(*version);
                    bytes.extend_from_slice(text.as_bytes());
                    Some(Some(Cow::Owned(bytes)))
                }
            }
        }
        _ if whole => {
            // Counted as masked by its rule; only NULL is valid for every other type.
            let _ = masker.mask_bytes(&column.mask, value, None, counts);
            Some(None)
        }
        Layout::OtherText => {
            let text = std::str::from_utf8(value).ok()?;
            match masker.mask_value(&column.mask, text, counts) {
                Masked::Unchanged(_) => None,
                Masked::Replaced(_) | Masked::Null => Some(None),
            }
        }
        Layout::NumberText => {
            let text = std::str::from_utf8(value).ok()?;
            number_outcome(masker, &column.mask, text, counts)
        }
        Layout::Int2Binary
        | Layout::Int4Binary
        | Layout::Int8Binary
        | Layout::NumericBinary
        | Layout::Float4Binary
        | Layout::Float8Binary
        | Layout::MoneyBinary => match decode_number(column.layout, value) {
            Some(written) => number_outcome(masker, &column.mask, &written, counts),
            // a number that does not decode cannot be checked: withheld
            None => Some(None),
        },
        Layout::Inert => None,
    }
}

/// A number is scanned as written, as its digits alone (a float's written out in full), and
/// as those digits without trailing zeros (a fraction's scale, `money`'s cents): `NULL` when
/// any shows something.
fn number_outcome<'v>(
    masker: &Masker,
    mask: &ColumnMask,
    written: &str,
    counts: &mut MaskCounts,
) -> Option<Option<Cow<'v, [u8]>>> {
    let digits = number_digits(written);
    let trimmed = digits.trim_end_matches('0');
    let mut readings = vec![written];
    if !digits.is_empty() && digits != written {
        readings.push(&digits);
    }
    if !trimmed.is_empty() && trimmed != digits {
        readings.push(trimmed);
    }
    readings
        .into_iter()
        .any(|reading| {
            !matches!(
                masker.mask_value(mask, reading, counts),
                Masked::Unchanged(_)
            )
        })
        .then_some(None)
}

/// The digits of a number as written: a float in exponent notation is written out in full
/// first (`4.539578763621486e+15` → `4539578763621486`); sign, point, group separators and
/// currency symbols are dropped.
pub(crate) fn number_digits(written: &str) -> String {
    let expanded;
    let text = if written.contains(['e', 'E'])
        && let Ok(value) = written.trim().parse::<f64>()
        && value.is_finite()
    {
        expanded = format!("{value}");
        expanded.as_str()
    } else {
        written
    };
    text.chars().filter(char::is_ascii_digit).collect()
}

fn text_outcome(masked: gatehouse_mask::MaskedBytes<'_>) -> Option<Option<Cow<'_, [u8]>>> {
    match masked {
        gatehouse_mask::MaskedBytes::Unchanged(_) => None,
        gatehouse_mask::MaskedBytes::Null => Some(None),
        gatehouse_mask::MaskedBytes::Replaced(text) => Some(Some(Cow::Owned(text.into_bytes()))),
    }
}

fn column_mask(
    masker: &Masker,
    name: &str,
    type_name: Option<&str>,
    tables: &[String],
) -> ColumnMask {
    let mut candidates: Vec<ColumnRef<'_>> = tables
        .iter()
        .map(|table| ColumnRef {
            name,
            table: Some(table.as_str()),
            type_name,
        })
        .collect();
    candidates.push(ColumnRef {
        name,
        table: None,
        type_name,
    });
    let plan = masker.plan(&candidates);
    plan.columns()
        .iter()
        .find(|mask| matches!(mask, ColumnMask::Whole { .. }))
        .cloned()
        .unwrap_or(ColumnMask::Scan)
}

/// Names of the built-in types column rules can name with `types = [...]`.
pub(crate) fn type_name(oid: u32) -> Option<&'static str> {
    Some(match oid {
        16 => "bool",
        17 => "bytea",
        18 => "char",
        19 => "name",
        20 => "int8",
        21 => "int2",
        23 => "int4",
        25 => "text",
        26 => "oid",
        114 => "json",
        142 => "xml",
        700 => "float4",
        701 => "float8",
        705 => "unknown",
        790 => "money",
        869 => "inet",
        1042 => "bpchar",
        1043 => "varchar",
        1082 => "date",
        1083 => "time",
        1114 => "timestamp",
        1184 => "timestamptz",
        1186 => "interval",
        1266 => "timetz",
        1700 => "numeric",
        2950 => "uuid",
        3802 => "jsonb",
        _ => return None,
    })
}

fn layout(oid: u32, binary: bool) -> Option<Layout> {
    Some(match (oid, binary) {
        (18 | 19 | 25 | 142 | 705 | 1042 | 1043, _) => Layout::Text,
        (114, _) | (3802, false) => Layout::Json,
        (3802, true) => Layout::JsonbBinary,
        (20 | 21 | 23 | 26 | 700 | 701 | 790 | 1700, false) => Layout::NumberText,
        (21, true) => Layout::Int2Binary,
        (23 | 26, true) => Layout::Int4Binary,
        (20, true) => Layout::Int8Binary,
        (1700, true) => Layout::NumericBinary,
        (700, true) => Layout::Float4Binary,
        (701, true) => Layout::Float8Binary,
        (790, true) => Layout::MoneyBinary,
        (16 | 1082 | 1083 | 1114 | 1184 | 1186 | 1266 | 2950, _) => Layout::Inert,
        (_, false) => Layout::OtherText,
        (_, true) => return None,
    })
}

/// A binary number written in decimal (`numeric` as its digits, sign and point dropped;
/// floats in full, never in exponent notation; `money` as its cents).
fn decode_number(layout: Layout, value: &[u8]) -> Option<String> {
    match layout {
        Layout::Int2Binary => Some(i16::from_be_bytes(value.try_into().ok()?).to_string()),
        Layout::Int4Binary => Some(i32::from_be_bytes(value.try_into().ok()?).to_string()),
        Layout::Int8Binary | Layout::MoneyBinary => {
            Some(i64::from_be_bytes(value.try_into().ok()?).to_string())
        }
        Layout::Float4Binary => Some(f32::from_be_bytes(value.try_into().ok()?).to_string()),
        Layout::Float8Binary => Some(f64::from_be_bytes(value.try_into().ok()?).to_string()),
        Layout::NumericBinary => decode_numeric(value),
        _ => None,
    }
}

/// `numeric` binary: ndigits, weight, sign, dscale (i16 each), then ndigits base-10000 digits.
/// Returns the integer and fraction digits concatenated (the fraction's trailing zeros kept).
fn decode_numeric(value: &[u8]) -> Option<String> {
    let word = |at: usize| -> Option<i16> {
        Some(i16::from_be_bytes([*value.get(at)?, *value.get(at + 1)?]))
    };
    let ndigits = usize::try_from(word(0)?).ok()?;
    let mut digits = String::with_capacity(ndigits * 4);
    for i in 0..ndigits {
        let digit = word(8 + 2 * i)?;
        if i == 0 {
            digits.push_str(&digit.to_string());
        } else {
            digits.push_str(&format!("{digit:04}"));
        }
    }
    Some(digits)
}

/// Mask one row of `COPY ... TO STDOUT` output (text or CSV format, one `CopyData`); `Ok(None)`
/// when nothing changed. Every field is scanned: COPY does not describe its columns. A CSV row
/// that does not split into fields with PostgreSQL's default delimiter and quote (a `COPY` with
/// other `DELIMITER` or `QUOTE` options) cannot be checked field by field and is refused
/// rather than forwarded unscanned.
pub(crate) fn mask_copy_row(
    masker: &Masker,
    row: &[u8],
    csv: bool,
    counts: &mut MaskCounts,
    encoding: TextEncoding,
) -> Result<Option<Vec<u8>>, CannotMask> {
    let decoded = if encoding.is_utf8() {
        Cow::Borrowed(std::str::from_utf8(row).map_err(|_| not_utf8())?)
    } else {
        encoding.decode(row).map_err(|_| not_utf8())?
    };
    let text = decoded.as_ref();
    let (line, ending) = match text.strip_suffix("\r\n") {
        Some(line) => (line, "\r\n"),
        None => match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (text, ""),
        },
    };
    let fields = if csv {
        split_csv(line).ok_or_else(|| {
            CannotMask(
                "a COPY ... CSV row does not split into fields with the default delimiter and quote, so gatehouse cannot mask it; use COPY without DELIMITER/QUOTE options, or SELECT".to_owned(),
            )
        })?
    } else {
        line.split('\t').map(unescape_copy_text).collect()
    };
    let mut changed = false;
    let mut out = String::with_capacity(row.len() + 32);
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(if csv { ',' } else { '\t' });
        }
        let Some(value) = field else {
            out.push_str(if csv { "" } else { "\\N" });
            continue;
        };
        let masked = masker.mask_value(&ColumnMask::Scan, value, counts);
        let value: Option<&str> = match &masked {
            Masked::Unchanged(v) => Some(v),
            Masked::Replaced(v) => {
                changed = true;
                Some(v)
            }
            Masked::Null => {
                changed = true;
                None
            }
        };
        match (value, csv) {
            (None, true) => {}
            (None, false) => out.push_str("\\N"),
            (Some(v), true) => push_csv(&mut out, v),
            (Some(v), false) => push_copy_text(&mut out, v),
        }
    }
    if !changed {
        return Ok(None);
    }
    out.push_str(ending);
    if encoding.is_utf8() {
        return Ok(Some(out.into_bytes()));
    }
    Ok(Some(encoding.encode(&out).into_owned()))
}

/// A COPY text-format field: `\N` is NULL; backslash escapes decoded.
fn unescape_copy_text(field: &str) -> Option<Cow<'_, str>> {
    if field == "\\N" {
        return None;
    }
    if !field.contains('\\') {
        return Some(Cow::Borrowed(field));
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(Cow::Owned(out))
}

fn push_copy_text(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            other => out.push(other),
        }
    }
}

/// Split a CSV line (PostgreSQL's defaults: `,`, `"` quoting, unquoted empty = NULL).
fn split_csv(line: &str) -> Option<Vec<Option<Cow<'_, str>>>> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                let (at, c) = chars.next()?;
                if c != '"' {
                    value.push(c);
                } else if quoted.get(at + 1..).is_some_and(|r| r.starts_with('"')) {
                    value.push('"');
                    chars.next();
                } else {
                    break at + 1;
                }
            };
            fields.push(Some(Cow::Owned(value)));
            rest = quoted.get(end..)?;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let raw = rest.get(..end)?;
            fields.push((!raw.is_empty()).then_some(Cow::Borrowed(raw)));
            rest = rest.get(end..)?;
        }
        match rest.strip_prefix(',') {
            Some(next) => rest = next,
            None if rest.is_empty() => return Some(fields),
            None => return None,
        }
    }
}

fn push_csv(out: &mut String, value: &str) {
    if value.is_empty() || value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}
