//! Masking of one result set of a masked session. Column rules apply by the column's name and
//! by where MariaDB says it comes from (`org_table`.`org_name`, which an alias does not
//! hide); a column with no origin (an expression) in a statement that reads a table some
//! column rule covers is masked whole, because gatehouse cannot tell what it was computed
//! from. Every other value is scanned by the detectors. A typed value (a number, a date) that
//! would have to change becomes NULL: a marker in its place would break the client's parsing.

use gatehouse_mask::{ColumnMask, ColumnRef, MaskCounts, MaskedBytes, Masker, Strategy};
use gatehouse_mysql_wire::response::{ColumnDefinition, ColumnType, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How each column of a result set is masked, and what was masked so far.
pub(crate) struct ResultMasking {
    masker: Arc<Masker>,
    columns: Vec<PlannedColumn>,
    counts: MaskCounts,
}

struct PlannedColumn {
    mask: ColumnMask,
    /// Values are typed (numbers, dates): a changed value becomes NULL.
    typed: bool,
}

/// The rule name counted for expression columns masked whole.
const COMPUTED_FROM_MASKED: &str = "computed from a table with masked columns";

impl ResultMasking {
    /// Plan a result set of `columns`; `expressions_masked`: columns without an origin are
    /// masked whole (see [`expressions_masked`]).
    pub fn plan(
        masker: Arc<Masker>,
        columns: &[ColumnDefinition],
        expressions_masked: bool,
    ) -> Self {
        let planned = columns
            .iter()
            .map(|column| PlannedColumn {
                mask: column_mask(&masker, column, expressions_masked),
                typed: is_typed(column.column_type),
            })
            .collect();
        ResultMasking {
            masker,
            columns: planned,
            counts: MaskCounts::default(),
        }
    }

    /// A text row's values masked; `None` when nothing changed.
    pub fn mask_text_row(&mut self, values: &[Option<&[u8]>]) -> Option<Vec<Option<Vec<u8>>>> {
        let mut changed = false;
        let mut out = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            let Some(bytes) = value else {
                out.push(None);
                continue;
            };
            let Some(column) = self.columns.get(index) else {
                out.push(Some(bytes.to_vec()));
                continue;
            };
            match self
                .masker
                .mask_bytes(&column.mask, bytes, None, &mut self.counts)
            {
                MaskedBytes::Unchanged(bytes) => out.push(Some(bytes.to_vec())),
                MaskedBytes::Replaced(_) | MaskedBytes::Null if column.typed => {
                    changed = true;
                    out.push(None);
                }
                MaskedBytes::Replaced(text) => {
                    changed = true;
                    out.push(Some(text.into_bytes()));
                }
                MaskedBytes::Null => {
                    changed = true;
                    out.push(None);
                }
            }
        }
        changed.then_some(out)
    }

    /// A binary row's values masked; `None` when nothing changed. A non-string value that
    /// would change becomes NULL.
    pub fn mask_binary_row(&mut self, values: &[Value]) -> Option<Vec<Value>> {
        let mut changed = false;
        let mut out = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            let Some(column) = self.columns.get(index) else {
                out.push(value.clone());
                continue;
            };
            let masked = match value {
                Value::Null => Value::Null,
                Value::Bytes(bytes) => {
                    match self
                        .masker
                        .mask_bytes(&column.mask, bytes, None, &mut self.counts)
                    {
                        MaskedBytes::Unchanged(_) => value.clone(),
                        MaskedBytes::Replaced(_) | MaskedBytes::Null if column.typed => Value::Null,
                        MaskedBytes::Replaced(text) => Value::Bytes(text.into_bytes()),
                        MaskedBytes::Null => Value::Null,
                    }
                }
                other => {
                    let text = other.to_text().unwrap_or_default();
                    match self
                        .masker
                        .mask_value(&column.mask, &text, &mut self.counts)
                    {
                        gatehouse_mask::Masked::Unchanged(_) => value.clone(),
                        _ => Value::Null,
                    }
                }
            };
            changed |= masked != *value;
            out.push(masked);
        }
        changed.then_some(out)
    }

    /// Values masked so far, per detector and per column rule (`column:<rule>`).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        counts_of(&self.counts)
    }
}

/// Whether result columns without an origin must be masked whole for statements reading
/// `reads`: they read a table some column rule may cover, or gatehouse could not tell what
/// one of them reads (`unknown`).
pub(crate) fn expressions_masked(masker: &Masker, reads: &[String], unknown: bool) -> bool {
    unknown || (!reads.is_empty() && masker.may_hold_sensitive(None, reads))
}

/// `counts` as an audit outcome names them.
pub(crate) fn counts_of(counts: &MaskCounts) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = counts.detectors().clone();
    for (rule, count) in counts.column_rules() {
        *out.entry(format!("column:{rule}")).or_default() += count;
    }
    out
}

/// A server message (an error, a warning) with whatever the detectors find masked.
pub(crate) fn mask_message(masker: &Masker, message: &[u8], counts: &mut MaskCounts) -> Vec<u8> {
    match masker.mask_bytes(&ColumnMask::Scan, message, None, counts) {
        MaskedBytes::Unchanged(bytes) => bytes.to_vec(),
        MaskedBytes::Replaced(text) => text.into_bytes(),
        MaskedBytes::Null => b"[REDACTED]".to_vec(),
    }
}

fn column_mask(masker: &Masker, column: &ColumnDefinition, reads_masked_table: bool) -> ColumnMask {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let type_name = type_name(column.column_type);
    let origin_table = match (column.schema.is_empty(), column.org_table.is_empty()) {
        (_, true) => None,
        (true, false) => Some(text(&column.org_table)),
        (false, false) => Some(format!(
            "{}.{}",
            text(&column.schema),
            text(&column.org_table)
        )),
    };
    let origin_name = text(&column.org_name);
    let shown_name = text(&column.name);
    let mut candidates = Vec::new();
    if let Some(table) = origin_table.as_deref()
        && !origin_name.is_empty()
    {
        candidates.push(ColumnRef {
            name: &origin_name,
            table: Some(table),
            type_name: Some(type_name),
        });
    }
    candidates.push(ColumnRef {
        name: &shown_name,
        table: origin_table.as_deref(),
        type_name: Some(type_name),
    });
    let plan = masker.plan(&candidates);
    if let Some(whole) = plan
        .columns()
        .iter()
        .find(|mask| matches!(mask, ColumnMask::Whole { .. }))
    {
        return whole.clone();
    }
    if origin_table.is_none() && reads_masked_table {
        return ColumnMask::Whole {
            rule: Arc::from(COMPUTED_FROM_MASKED),
            strategy: Strategy::Redact,
        };
    }
    ColumnMask::Scan
}

/// Whether values of `column_type` are typed (anything but text, blobs, enums, sets, JSON).
fn is_typed(column_type: ColumnType) -> bool {
    !matches!(
        column_type,
        ColumnType::VarChar
            | ColumnType::VarString
            | ColumnType::String
            | ColumnType::TinyBlob
            | ColumnType::MediumBlob
            | ColumnType::LongBlob
            | ColumnType::Blob
            | ColumnType::Enum
            | ColumnType::Set
            | ColumnType::Json
    )
}

/// The name column rules with `types` and recordings see for a column type.
pub(crate) fn type_name(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Decimal | ColumnType::NewDecimal => "decimal",
        ColumnType::Tiny => "tinyint",
        ColumnType::Short => "smallint",
        ColumnType::Long => "int",
        ColumnType::Int24 => "mediumint",
        ColumnType::LongLong => "bigint",
        ColumnType::Float => "float",
        ColumnType::Double => "double",
        ColumnType::Null => "null",
        ColumnType::Timestamp | ColumnType::Timestamp2 => "timestamp",
        ColumnType::Date | ColumnType::NewDate => "date",
        ColumnType::Time | ColumnType::Time2 => "time",
        ColumnType::DateTime | ColumnType::DateTime2 => "datetime",
        ColumnType::Year => "year",
        ColumnType::VarChar | ColumnType::VarString => "varchar",
        ColumnType::String => "char",
        ColumnType::Bit => "bit",
        ColumnType::Json => "json",
        ColumnType::Enum => "enum",
        ColumnType::Set => "set",
        ColumnType::TinyBlob | ColumnType::MediumBlob | ColumnType::LongBlob | ColumnType::Blob => {
            "blob"
        }
        ColumnType::Geometry => "geometry",
        ColumnType::Other(_) => "unknown",
    }
}
