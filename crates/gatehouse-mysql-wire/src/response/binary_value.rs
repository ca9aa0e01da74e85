//! Each type's form in the binary protocol, read and written the same way for the rows of
//! prepared statements and for execute parameters.

use super::column::ColumnType;
use super::value::Value;
use crate::lenenc::{read_lenenc_required, write_lenenc_bytes};
use crate::{WireError, cursor};

/// How a type travels in the binary protocol.
enum BinaryForm {
    /// Nothing (the NULL type).
    Empty,
    /// A little-endian integer of this many bytes.
    Integer(usize),
    Float,
    Double,
    Date,
    Time,
    LengthEncoded,
}

fn binary_form(column_type: ColumnType) -> Result<BinaryForm, WireError> {
    use ColumnType as T;
    Ok(match column_type {
        T::Null => BinaryForm::Empty,
        T::Tiny => BinaryForm::Integer(1),
        T::Short | T::Year => BinaryForm::Integer(2),
        T::Long | T::Int24 => BinaryForm::Integer(4),
        T::LongLong => BinaryForm::Integer(8),
        T::Float => BinaryForm::Float,
        T::Double => BinaryForm::Double,
        T::Date | T::NewDate | T::DateTime | T::Timestamp | T::DateTime2 | T::Timestamp2 => {
            BinaryForm::Date
        }
        T::Time | T::Time2 => BinaryForm::Time,
        T::Decimal
        | T::NewDecimal
        | T::VarChar
        | T::Bit
        | T::Json
        | T::Enum
        | T::Set
        | T::TinyBlob
        | T::MediumBlob
        | T::LongBlob
        | T::Blob
        | T::VarString
        | T::String
        | T::Geometry => BinaryForm::LengthEncoded,
        T::Other(code) => {
            return Err(WireError::malformed(
                "binary value",
                format!("unknown type {code}"),
            ));
        }
    })
}

const WHAT: &str = "binary value";

/// Reads one non-NULL value of `column_type`, advancing past it.
pub(crate) fn read_binary_value(
    input: &mut &[u8],
    column_type: ColumnType,
    unsigned: bool,
) -> Result<Value, WireError> {
    Ok(match binary_form(column_type)? {
        BinaryForm::Empty => Value::Null,
        BinaryForm::Integer(width) => read_integer(input, width, unsigned)?,
        BinaryForm::Float => Value::Float(f32::from_le_bytes(cursor::array(input, WHAT)?)),
        BinaryForm::Double => Value::Double(f64::from_le_bytes(cursor::array(input, WHAT)?)),
        BinaryForm::Date => read_date(input)?,
        BinaryForm::Time => read_time(input)?,
        BinaryForm::LengthEncoded => Value::Bytes(read_lenenc_required(input, WHAT)?.to_vec()),
    })
}

fn read_integer(input: &mut &[u8], width: usize, unsigned: bool) -> Result<Value, WireError> {
    let bytes = cursor::take(input, width, WHAT)?;
    let mut buffer = [0u8; 8];
    for (slot, byte) in buffer.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    let raw = u64::from_le_bytes(buffer);
    if unsigned {
        return Ok(Value::UInt(raw));
    }
    let shift = 64 - 8 * width as u32;
    Ok(Value::Int(((raw << shift) as i64) >> shift))
}

fn read_date(input: &mut &[u8]) -> Result<Value, WireError> {
    let len = cursor::u8(input, WHAT)?;
    let mut body = cursor::take(input, usize::from(len), WHAT)?;
    let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut micros) =
        (0, 0, 0, 0, 0, 0, 0);
    match len {
        0 => {}
        4 | 7 | 11 => {
            year = cursor::u16(&mut body, WHAT)?;
            month = cursor::u8(&mut body, WHAT)?;
            day = cursor::u8(&mut body, WHAT)?;
            if len >= 7 {
                hour = cursor::u8(&mut body, WHAT)?;
                minute = cursor::u8(&mut body, WHAT)?;
                second = cursor::u8(&mut body, WHAT)?;
            }
            if len == 11 {
                micros = cursor::u32(&mut body, WHAT)?;
            }
        }
        other => {
            return Err(WireError::malformed(WHAT, format!("date of {other} bytes")));
        }
    }
    Ok(Value::Date {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micros,
    })
}

fn read_time(input: &mut &[u8]) -> Result<Value, WireError> {
    let len = cursor::u8(input, WHAT)?;
    let mut body = cursor::take(input, usize::from(len), WHAT)?;
    let (mut negative, mut days, mut hours, mut minutes, mut seconds, mut micros) =
        (false, 0, 0, 0, 0, 0);
    match len {
        0 => {}
        8 | 12 => {
            negative = cursor::u8(&mut body, WHAT)? != 0;
            days = cursor::u32(&mut body, WHAT)?;
            hours = cursor::u8(&mut body, WHAT)?;
            minutes = cursor::u8(&mut body, WHAT)?;
            seconds = cursor::u8(&mut body, WHAT)?;
            if len == 12 {
                micros = cursor::u32(&mut body, WHAT)?;
            }
        }
        other => {
            return Err(WireError::malformed(WHAT, format!("time of {other} bytes")));
        }
    }
    Ok(Value::Time {
        negative,
        days,
        hours,
        minutes,
        seconds,
        micros,
    })
}

/// Appends non-NULL `value` in the binary form of `column_type`; `Malformed` if the value
/// does not fit the type (a string for an integer column, an integer out of its range).
pub(crate) fn write_binary_value(
    out: &mut Vec<u8>,
    value: &Value,
    column_type: ColumnType,
    unsigned: bool,
) -> Result<(), WireError> {
    let mismatch = || {
        WireError::malformed(
            WHAT,
            format!("{value:?} does not fit type {}", column_type.to_u8()),
        )
    };
    match (binary_form(column_type)?, value) {
        (BinaryForm::Empty, _) => {}
        (BinaryForm::Integer(width), Value::Int(_) | Value::UInt(_)) => {
            let bytes = integer_bytes(value, width, unsigned).ok_or_else(mismatch)?;
            out.extend_from_slice(bytes.get(..width).unwrap_or_default());
        }
        (BinaryForm::Float, Value::Float(float)) => out.extend_from_slice(&float.to_le_bytes()),
        (BinaryForm::Double, Value::Double(double)) => {
            out.extend_from_slice(&double.to_le_bytes());
        }
        (BinaryForm::LengthEncoded, Value::Bytes(bytes)) => write_lenenc_bytes(out, bytes),
        (
            BinaryForm::Date,
            Value::Date {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            },
        ) => {
            let len = if *micros != 0 {
                11
            } else if (hour, minute, second) != (&0, &0, &0) {
                7
            } else if (year, month, day) != (&0, &0, &0) {
                4
            } else {
                0
            };
            out.push(len);
            if len >= 4 {
                out.extend_from_slice(&year.to_le_bytes());
                out.extend_from_slice(&[*month, *day]);
            }
            if len >= 7 {
                out.extend_from_slice(&[*hour, *minute, *second]);
            }
            if len == 11 {
                out.extend_from_slice(&micros.to_le_bytes());
            }
        }
        (
            BinaryForm::Time,
            Value::Time {
                negative,
                days,
                hours,
                minutes,
                seconds,
                micros,
            },
        ) => {
            let len = if *micros != 0 {
                12
            } else if *negative || (days, hours, minutes, seconds) != (&0, &0, &0, &0) {
                8
            } else {
                0
            };
            out.push(len);
            if len >= 8 {
                out.push(u8::from(*negative));
                out.extend_from_slice(&days.to_le_bytes());
                out.extend_from_slice(&[*hours, *minutes, *seconds]);
            }
            if len == 12 {
                out.extend_from_slice(&micros.to_le_bytes());
            }
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// The little-endian bytes of an integer that fits `width` bytes with the given signedness.
fn integer_bytes(value: &Value, width: usize, unsigned: bool) -> Option<[u8; 8]> {
    let wide = match value {
        Value::Int(int) => i128::from(*int),
        Value::UInt(uint) => i128::from(*uint),
        _ => return None,
    };
    let bits = 8 * width as u32;
    let (min, max) = if unsigned {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    };
    (min..=max)
        .contains(&wide)
        .then(|| (wide as u64).to_le_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn round_trip(value: Value, column_type: ColumnType, unsigned: bool) -> (Value, usize) {
        let mut out = Vec::new();
        write_binary_value(&mut out, &value, column_type, unsigned).unwrap();
        let mut input = out.as_slice();
        let read = read_binary_value(&mut input, column_type, unsigned).unwrap();
        assert!(input.is_empty());
        (read, out.len())
    }

    #[test]
    fn integers_keep_their_sign_and_width() {
        use ColumnType as T;
        for (value, column_type, unsigned, len) in [
            (Value::Int(-1), T::Tiny, false, 1),
            (Value::UInt(255), T::Tiny, true, 1),
            (Value::Int(-32768), T::Short, false, 2),
            (Value::UInt(2024), T::Year, true, 2),
            (Value::Int(-8_388_608), T::Int24, false, 4),
            (Value::Int(i32::MIN.into()), T::Long, false, 4),
            (Value::Int(i64::MIN), T::LongLong, false, 8),
            (Value::UInt(u64::MAX), T::LongLong, true, 8),
        ] {
            assert_eq!(
                round_trip(value.clone(), column_type, unsigned),
                (value, len)
            );
        }
        let mut out = Vec::new();
        assert!(write_binary_value(&mut out, &Value::Int(256), T::Tiny, true).is_err());
        assert!(write_binary_value(&mut out, &Value::Int(-1), T::Long, true).is_err());
        assert!(write_binary_value(&mut out, &Value::Bytes(vec![]), T::Long, false).is_err());
    }

    #[test]
    fn dates_and_times_use_their_shortest_forms() {
        let date = |hour, micros| Value::Date {
            year: 2024,
            month: 2,
            day: 29,
            hour,
            minute: 0,
            second: 0,
            micros,
        };
        assert_eq!(round_trip(date(0, 0), ColumnType::Date, false).1, 5);
        assert_eq!(round_trip(date(13, 0), ColumnType::DateTime, false).1, 8);
        assert_eq!(round_trip(date(13, 5), ColumnType::Timestamp, false).1, 12);
        let zero = Value::Date {
            year: 0,
            month: 0,
            day: 0,
            hour: 0,
            minute: 0,
            second: 0,
            micros: 0,
        };
        assert_eq!(round_trip(zero.clone(), ColumnType::Date, false), (zero, 1));
        let time = Value::Time {
            negative: true,
            days: 1,
            hours: 2,
            minutes: 3,
            seconds: 4,
            micros: 500,
        };
        assert_eq!(
            round_trip(time.clone(), ColumnType::Time, false),
            (time.clone(), 13)
        );
        assert_eq!(time.to_text().as_deref(), Some("-26:03:04.000500"));
        assert_eq!(
            date(13, 0).to_text().as_deref(),
            Some("2024-02-29 13:00:00")
        );
        assert_eq!(date(0, 0).to_text().as_deref(), Some("2024-02-29"));
    }

    #[test]
    fn bad_lengths_and_unknown_types() {
        assert!(matches!(
            read_binary_value(&mut &[5, 0, 0, 0, 0, 0][..], ColumnType::Date, false),
            Err(WireError::Malformed { .. })
        ));
        assert!(matches!(
            read_binary_value(&mut &[7, 0][..], ColumnType::DateTime, false),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            read_binary_value(&mut &[1][..], ColumnType::Other(100), false),
            Err(WireError::Malformed { .. })
        ));
    }
}
