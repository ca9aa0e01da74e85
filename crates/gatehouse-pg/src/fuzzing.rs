//! Entry points for the coverage-guided fuzz targets in `fuzz/` (not API: hidden from the
//! documentation, may change at any time). They reach the parts of the server-to-client data
//! path that decode a possibly malicious server's bytes but are not public: masking planned
//! from a `RowDescription` and applied to `DataRow`s, and masking of `COPY ... TO STDOUT` rows.

use crate::encoding::TextEncoding;
use crate::masking::{ResultMasking, mask_copy_row};
use gatehouse_mask::{MaskCounts, Masker};

/// One row's fate: `Ok(None)` forwarded unchanged, `Ok(Some(body))` replaced, `Err` refused.
pub type RowOutcome = Result<Option<Vec<u8>>, String>;

/// What a masked session does with a result set: decode the `RowDescription` body, plan
/// masking for its columns (as a statement reading `tables`), then mask each `DataRow` body.
/// Per row, `Err` is a refusal (the session would end there, before the row reaches the
/// client), `Ok(None)` a row forwarded unchanged and `Ok(Some(body))` its masked replacement.
/// The outer `Err` is a refusal of the whole result (from its description).
pub fn mask_result(
    masker: &Masker,
    row_description: &[u8],
    tables: &[String],
    rows: &[&[u8]],
) -> Result<Vec<RowOutcome>, String> {
    let fields = crate::wire::row_description(row_description).map_err(|e| e.to_string())?;
    let plan = ResultMasking::plan(masker, &fields, tables, None).map_err(|refusal| refusal.0)?;
    let mut counts = MaskCounts::default();
    Ok(rows
        .iter()
        .map(|row| {
            plan.mask_row(masker, row, &mut counts, TextEncoding::default())
                .map_err(|refusal| refusal.0)
        })
        .collect())
}

/// What a masked session does with one `CopyData` of a `COPY ... TO STDOUT` in text (or
/// `csv`) format: the replacement, `Ok(None)` when unchanged, `Err` when refused.
pub fn mask_copy_data(masker: &Masker, row: &[u8], csv: bool) -> Result<Option<Vec<u8>>, String> {
    mask_copy_row(
        masker,
        row,
        csv,
        &mut MaskCounts::default(),
        TextEncoding::default(),
    )
    .map_err(|refusal| refusal.0)
}
