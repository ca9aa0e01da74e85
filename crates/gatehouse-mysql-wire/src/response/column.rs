//! Result-set metadata: a column's names, character set, type and flags
//! (ColumnDefinition41), which decide how its values are read from binary rows and how they
//! are masked.

use crate::lenenc::{read_lenenc_int, read_lenenc_required, write_lenenc_bytes};
use crate::{WireError, cursor};

/// The column holds unsigned integers.
pub const UNSIGNED_FLAG: u16 = 32;
/// The column holds binary strings (or numbers).
pub const BINARY_FLAG: u16 = 128;

/// The length of the fixed fields after the names.
const FIXED_FIELDS_LEN: u8 = 0x0C;

/// One column of a result set (or one parameter of a prepared statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefinition {
    pub catalog: Vec<u8>,
    pub schema: Vec<u8>,
    pub table: Vec<u8>,
    pub org_table: Vec<u8>,
    pub name: Vec<u8>,
    pub org_name: Vec<u8>,
    /// The collation id of the column's values.
    pub charset: u16,
    /// The column's maximum display length.
    pub length: u32,
    pub column_type: ColumnType,
    pub flags: u16,
    pub decimals: u8,
}

impl ColumnDefinition {
    pub fn parse(payload: &[u8]) -> Result<Self, WireError> {
        const WHAT: &str = "column definition";
        let mut input = payload;
        let mut name = || read_lenenc_required(&mut input, WHAT).map(<[u8]>::to_vec);
        let (catalog, schema, table, org_table, column_name, org_name) =
            (name()?, name()?, name()?, name()?, name()?, name()?);
        let fixed_len = read_lenenc_int(&mut input)?
            .ok_or_else(|| WireError::malformed(WHAT, "NULL length of fixed fields"))?;
        if fixed_len < u64::from(FIXED_FIELDS_LEN) {
            return Err(WireError::malformed(
                WHAT,
                format!("fixed fields of {fixed_len} bytes"),
            ));
        }
        let charset = cursor::u16(&mut input, WHAT)?;
        let length = cursor::u32(&mut input, WHAT)?;
        let column_type = ColumnType::from_u8(cursor::u8(&mut input, WHAT)?);
        let flags = cursor::u16(&mut input, WHAT)?;
        let decimals = cursor::u8(&mut input, WHAT)?;
        cursor::take(&mut input, 2, WHAT)?;
        Ok(Self {
            catalog,
            schema,
            table,
            org_table,
            name: column_name,
            org_name,
            charset,
            length,
            column_type,
            flags,
            decimals,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.name.len() * 2 + self.table.len() * 2);
        for name in [
            &self.catalog,
            &self.schema,
            &self.table,
            &self.org_table,
            &self.name,
            &self.org_name,
        ] {
            write_lenenc_bytes(&mut out, name);
        }
        out.push(FIXED_FIELDS_LEN);
        out.extend_from_slice(&self.charset.to_le_bytes());
        out.extend_from_slice(&self.length.to_le_bytes());
        out.push(self.column_type.to_u8());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.push(self.decimals);
        out.extend_from_slice(&[0, 0]);
        out
    }

    /// Whether integer values of this column are unsigned.
    pub fn is_unsigned(&self) -> bool {
        self.flags & UNSIGNED_FLAG != 0
    }
}

/// A MySQL/MariaDB type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Decimal,
    Tiny,
    Short,
    Long,
    Float,
    Double,
    Null,
    Timestamp,
    LongLong,
    Int24,
    Date,
    Time,
    DateTime,
    Year,
    NewDate,
    VarChar,
    Bit,
    Timestamp2,
    DateTime2,
    Time2,
    Json,
    NewDecimal,
    Enum,
    Set,
    TinyBlob,
    MediumBlob,
    LongBlob,
    Blob,
    VarString,
    String,
    Geometry,
    /// A code this crate does not know.
    Other(u8),
}

impl ColumnType {
    pub fn from_u8(code: u8) -> Self {
        match code {
            0 => Self::Decimal,
            1 => Self::Tiny,
            2 => Self::Short,
            3 => Self::Long,
            4 => Self::Float,
            5 => Self::Double,
            6 => Self::Null,
            7 => Self::Timestamp,
            8 => Self::LongLong,
            9 => Self::Int24,
            10 => Self::Date,
            11 => Self::Time,
            12 => Self::DateTime,
            13 => Self::Year,
            14 => Self::NewDate,
            15 => Self::VarChar,
            16 => Self::Bit,
            17 => Self::Timestamp2,
            18 => Self::DateTime2,
            19 => Self::Time2,
            245 => Self::Json,
            246 => Self::NewDecimal,
            247 => Self::Enum,
            248 => Self::Set,
            249 => Self::TinyBlob,
            250 => Self::MediumBlob,
            251 => Self::LongBlob,
            252 => Self::Blob,
            253 => Self::VarString,
            254 => Self::String,
            255 => Self::Geometry,
            other => Self::Other(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            Self::Decimal => 0,
            Self::Tiny => 1,
            Self::Short => 2,
            Self::Long => 3,
            Self::Float => 4,
            Self::Double => 5,
            Self::Null => 6,
            Self::Timestamp => 7,
            Self::LongLong => 8,
            Self::Int24 => 9,
            Self::Date => 10,
            Self::Time => 11,
            Self::DateTime => 12,
            Self::Year => 13,
            Self::NewDate => 14,
            Self::VarChar => 15,
            Self::Bit => 16,
            Self::Timestamp2 => 17,
            Self::DateTime2 => 18,
            Self::Time2 => 19,
            Self::Json => 245,
            Self::NewDecimal => 246,
            Self::Enum => 247,
            Self::Set => 248,
            Self::TinyBlob => 249,
            Self::MediumBlob => 250,
            Self::LongBlob => 251,
            Self::Blob => 252,
            Self::VarString => 253,
            Self::String => 254,
            Self::Geometry => 255,
            Self::Other(code) => code,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn column(name: &str, column_type: ColumnType, flags: u16) -> ColumnDefinition {
        ColumnDefinition {
            catalog: b"def".to_vec(),
            schema: b"test".to_vec(),
            table: b"t".to_vec(),
            org_table: b"t".to_vec(),
            name: name.as_bytes().to_vec(),
            org_name: name.as_bytes().to_vec(),
            charset: 45,
            length: 11,
            column_type,
            flags,
            decimals: 0,
        }
    }

    #[test]
    fn round_trip_and_truncation() {
        let definition = column("id", ColumnType::Long, UNSIGNED_FLAG | BINARY_FLAG);
        let bytes = definition.encode();
        assert_eq!(ColumnDefinition::parse(&bytes), Ok(definition.clone()));
        assert!(definition.is_unsigned());
        for cut in 0..bytes.len() {
            assert!(matches!(
                ColumnDefinition::parse(&bytes[..cut]),
                Err(WireError::Truncated { .. })
            ));
        }
    }

    #[test]
    fn every_type_code_round_trips() {
        for code in 0..=u8::MAX {
            assert_eq!(ColumnType::from_u8(code).to_u8(), code);
        }
        assert_eq!(ColumnType::from_u8(253), ColumnType::VarString);
        assert_eq!(ColumnType::from_u8(100), ColumnType::Other(100));
    }
}
