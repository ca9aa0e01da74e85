//! Rows of the binary protocol (answers to COM_STMT_EXECUTE): a 0x00 header, a NULL bitmap
//! whose first two bits are unused, then each non-NULL value in its column type's binary form.

use super::binary_value::{read_binary_value, write_binary_value};
use super::column::ColumnDefinition;
use super::value::Value;
use crate::{WireError, cursor};

const ROW_HEADER: u8 = 0x00;
/// The number of unused bits at the start of a row's NULL bitmap.
const NULL_BITMAP_OFFSET: usize = 2;
const WHAT: &str = "binary row";

/// The values of a binary row of `columns`.
pub fn parse_binary_row(
    payload: &[u8],
    columns: &[ColumnDefinition],
) -> Result<Vec<Value>, WireError> {
    let mut input = payload;
    let header = cursor::u8(&mut input, WHAT)?;
    if header != ROW_HEADER {
        return Err(WireError::malformed(WHAT, format!("header {header:#04x}")));
    }
    let bitmap = cursor::take(&mut input, bitmap_len(columns.len()), WHAT)?;
    let mut values = Vec::with_capacity(columns.len());
    for (index, column) in columns.iter().enumerate() {
        if is_null(bitmap, index + NULL_BITMAP_OFFSET) {
            values.push(Value::Null);
        } else {
            values.push(read_binary_value(
                &mut input,
                column.column_type,
                column.is_unsigned(),
            )?);
        }
    }
    cursor::finish(input, WHAT)?;
    Ok(values)
}

/// A binary row of `values` (one per column), each in its column's binary form; `Malformed`
/// if the counts differ or a value does not fit its column's type.
pub fn encode_binary_row(
    values: &[Value],
    columns: &[ColumnDefinition],
) -> Result<Vec<u8>, WireError> {
    if values.len() != columns.len() {
        return Err(WireError::malformed(
            WHAT,
            format!("{} values for {} columns", values.len(), columns.len()),
        ));
    }
    let mut bitmap = vec![0u8; bitmap_len(columns.len())];
    let mut body = Vec::new();
    for (index, (value, column)) in values.iter().zip(columns).enumerate() {
        if *value == Value::Null {
            set_null(&mut bitmap, index + NULL_BITMAP_OFFSET);
        } else {
            write_binary_value(&mut body, value, column.column_type, column.is_unsigned())?;
        }
    }
    let mut out = Vec::with_capacity(1 + bitmap.len() + body.len());
    out.push(ROW_HEADER);
    out.extend_from_slice(&bitmap);
    out.extend_from_slice(&body);
    Ok(out)
}

fn bitmap_len(columns: usize) -> usize {
    (columns + NULL_BITMAP_OFFSET).div_ceil(8)
}

/// Whether bit `bit` of a NULL bitmap is set.
pub(crate) fn is_null(bitmap: &[u8], bit: usize) -> bool {
    bitmap
        .get(bit / 8)
        .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
}

/// Sets bit `bit` of a NULL bitmap.
pub(crate) fn set_null(bitmap: &mut [u8], bit: usize) {
    if let Some(byte) = bitmap.get_mut(bit / 8) {
        *byte |= 1 << (bit % 8);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::super::column::{ColumnType, UNSIGNED_FLAG};
    use super::*;

    fn column(column_type: ColumnType, flags: u16) -> ColumnDefinition {
        ColumnDefinition {
            catalog: b"def".to_vec(),
            schema: Vec::new(),
            table: Vec::new(),
            org_table: Vec::new(),
            name: b"c".to_vec(),
            org_name: Vec::new(),
            charset: 63,
            length: 20,
            column_type,
            flags,
            decimals: 0,
        }
    }

    #[test]
    fn round_trip_with_nulls_across_bitmap_bytes() {
        let columns: Vec<ColumnDefinition> = (0..9)
            .map(|i| match i % 3 {
                0 => column(ColumnType::LongLong, UNSIGNED_FLAG),
                1 => column(ColumnType::VarString, 0),
                _ => column(ColumnType::Double, 0),
            })
            .collect();
        let values: Vec<Value> = (0..9)
            .map(|i| match (i % 3, i % 4 == 0) {
                (_, true) => Value::Null,
                (0, _) => Value::UInt(i),
                (1, _) => Value::Bytes(vec![b'a'; i as usize]),
                _ => Value::Double(i as f64 / 2.0),
            })
            .collect();
        let bytes = encode_binary_row(&values, &columns).unwrap();
        assert_eq!(bytes[0], 0);
        assert_eq!(parse_binary_row(&bytes, &columns), Ok(values));
        assert!(matches!(
            parse_binary_row(&bytes[..bytes.len() - 1], &columns),
            Err(WireError::Truncated { .. })
        ));
        assert!(encode_binary_row(&[Value::Null], &columns).is_err());
    }

    #[test]
    fn the_first_two_bitmap_bits_are_unused() {
        let columns = [column(ColumnType::Tiny, 0)];
        let bytes = encode_binary_row(&[Value::Null], &columns).unwrap();
        assert_eq!(bytes, [0x00, 0b100]);
        assert_eq!(
            parse_binary_row(&[0x00, 0b011, 0xFF], &columns),
            Ok(vec![Value::Int(-1)])
        );
    }
}
