//! Decoding the message bodies gatehouse must understand. Every decoder takes untrusted bytes
//! and returns an error (never panics) on truncation or malformed content.

use super::tags::{error_field, target_kind};
use crate::PgError;

/// A cursor over a message body.
pub struct BodyReader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> BodyReader<'a> {
    pub fn new(body: &'a [u8], what: &'static str) -> Self {
        BodyReader { rest: body, what }
    }

    fn malformed(&self, detail: &str) -> PgError {
        PgError::Protocol(format!("malformed {} message: {detail}", self.what))
    }

    /// A NUL-terminated string, which must be UTF-8.
    pub fn cstr(&mut self) -> Result<&'a str, PgError> {
        let text = self.cbytes()?;
        std::str::from_utf8(text).map_err(|_| self.malformed("string is not valid UTF-8"))
    }

    /// A NUL-terminated string whose invalid UTF-8 becomes U+FFFD: for text that is only
    /// shown or recorded (a server's error message in another encoding), where losing the
    /// whole message would be worse than a replaced byte.
    pub fn cstr_lossy(&mut self) -> Result<String, PgError> {
        Ok(String::from_utf8_lossy(self.cbytes()?).into_owned())
    }

    /// A NUL-terminated string as bytes: text in the client's encoding, decoded by the caller.
    pub fn cbytes(&mut self) -> Result<&'a [u8], PgError> {
        let end = self
            .rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| self.malformed("missing string terminator"))?;
        let (text, rest) = self.rest.split_at(end);
        self.rest = rest.get(1..).unwrap_or_default();
        Ok(text)
    }

    pub fn i32(&mut self) -> Result<i32, PgError> {
        let bytes = self.take(4)?;
        let array: [u8; 4] = bytes
            .try_into()
            .map_err(|_| self.malformed("short integer"))?;
        Ok(i32::from_be_bytes(array))
    }

    pub fn i16(&mut self) -> Result<i16, PgError> {
        let bytes = self.take(2)?;
        let array: [u8; 2] = bytes
            .try_into()
            .map_err(|_| self.malformed("short integer"))?;
        Ok(i16::from_be_bytes(array))
    }

    pub fn u8(&mut self) -> Result<u8, PgError> {
        let bytes = self.take(1)?;
        bytes
            .first()
            .copied()
            .ok_or_else(|| self.malformed("missing byte"))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], PgError> {
        if self.rest.len() < n {
            return Err(self.malformed("truncated"));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    /// Everything not yet read.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Fail unless the body was consumed exactly.
    pub fn finish(&self) -> Result<(), PgError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.malformed("unexpected trailing bytes"))
        }
    }
}

/// Startup parameters as (name, value) pairs, in order.
pub fn startup_parameters(body: &[u8]) -> Result<Vec<(String, String)>, PgError> {
    let mut reader = BodyReader::new(body, "startup");
    let mut params = Vec::new();
    loop {
        let name = reader.cstr()?;
        if name.is_empty() {
            break;
        }
        let value = reader.cstr()?;
        params.push((name.to_owned(), value.to_owned()));
    }
    reader.finish()?;
    Ok(params)
}

/// `Parse`: statement name, query text (in the client's encoding), and the parameter-type
/// bytes that follow.
pub struct ParseMessage<'a> {
    pub statement: &'a str,
    pub query: &'a [u8],
    pub parameter_types: &'a [u8],
}

pub fn parse_message(body: &[u8]) -> Result<ParseMessage<'_>, PgError> {
    let mut reader = BodyReader::new(body, "Parse");
    let statement = reader.cstr()?;
    let query = reader.cbytes()?;
    Ok(ParseMessage {
        statement,
        query,
        parameter_types: reader.remaining(),
    })
}

/// `Bind`: portal, statement, and the parameter bytes that follow (relayed unchanged).
pub struct BindMessage<'a> {
    pub portal: &'a str,
    pub statement: &'a str,
    pub rest: &'a [u8],
}

pub fn bind_message(body: &[u8]) -> Result<BindMessage<'_>, PgError> {
    let mut reader = BodyReader::new(body, "Bind");
    let portal = reader.cstr()?;
    let statement = reader.cstr()?;
    Ok(BindMessage {
        portal,
        statement,
        rest: reader.remaining(),
    })
}

/// `Execute`: portal name and row limit.
pub fn execute_message(body: &[u8]) -> Result<(&str, i32), PgError> {
    let mut reader = BodyReader::new(body, "Execute");
    let portal = reader.cstr()?;
    let max_rows = reader.i32()?;
    reader.finish()?;
    Ok((portal, max_rows))
}

/// `Describe` or `Close`: the [`target_kind`] (statement or portal) and a name.
pub fn target_message<'a>(body: &'a [u8], what: &'static str) -> Result<(u8, &'a str), PgError> {
    let mut reader = BodyReader::new(body, what);
    let kind = reader.u8()?;
    if kind != target_kind::STATEMENT && kind != target_kind::PORTAL {
        return Err(PgError::Protocol(format!(
            "malformed {what} message: target must be 'S' or 'P'"
        )));
    }
    let name = reader.cstr()?;
    reader.finish()?;
    Ok((kind, name))
}

/// `Query`: the SQL text, in the client's encoding.
pub fn query_message(body: &[u8]) -> Result<&[u8], PgError> {
    let mut reader = BodyReader::new(body, "Query");
    let text = reader.cbytes()?;
    reader.finish()?;
    Ok(text)
}

/// The fields of an `ErrorResponse` or `NoticeResponse`, as (field code, value); invalid
/// UTF-8 in a value is replaced, so the rest of the message is still recorded.
pub fn error_fields(body: &[u8]) -> Result<Vec<(u8, String)>, PgError> {
    let mut reader = BodyReader::new(body, "ErrorResponse");
    let mut fields = Vec::new();
    loop {
        let code = reader.u8()?;
        if code == 0 {
            break;
        }
        fields.push((code, reader.cstr_lossy()?));
    }
    Ok(fields)
}

/// The human-readable summary of an error's fields: "message (SQLSTATE)".
pub fn describe_error(fields: &[(u8, String)]) -> String {
    let field = |code: u8| {
        fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    format!(
        "{} (SQLSTATE {})",
        field(error_field::MESSAGE),
        field(error_field::CODE)
    )
}

/// The command tag of a `CommandComplete` body (`SELECT 3`), if it is well formed.
pub fn command_tag(body: &[u8]) -> Option<&str> {
    let end = body.iter().position(|b| *b == 0)?;
    std::str::from_utf8(body.get(..end)?).ok()
}

/// One column of a `RowDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    pub name: String,
    pub table_oid: u32,
    pub column: i16,
    pub type_oid: u32,
    pub type_size: i16,
    pub type_modifier: i32,
    /// 0 text, 1 binary.
    pub format: i16,
}

/// Decode a `RowDescription` body, reading column names as UTF-8 (invalid bytes replaced).
pub fn row_description(body: &[u8]) -> Result<Vec<FieldDescription>, PgError> {
    row_description_in(body, |name| String::from_utf8_lossy(name).into_owned())
}

/// Decode a `RowDescription` body whose column names are in the session's client encoding
/// (the server sends them in it, like every text): `decode_name` reads them.
pub fn row_description_in(
    body: &[u8],
    decode_name: impl Fn(&[u8]) -> String,
) -> Result<Vec<FieldDescription>, PgError> {
    let mut reader = BodyReader::new(body, "RowDescription");
    let count = reader.i16()?;
    let mut fields = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1600));
    for _ in 0..count {
        fields.push(FieldDescription {
            name: decode_name(reader.cbytes()?),
            table_oid: reader.i32()? as u32,
            column: reader.i16()?,
            type_oid: reader.i32()? as u32,
            type_size: reader.i16()?,
            type_modifier: reader.i32()?,
            format: reader.i16()?,
        });
    }
    reader.finish()?;
    Ok(fields)
}

/// Decode a `DataRow` body into its values (`None` for SQL NULL).
pub fn data_row(body: &[u8]) -> Result<Vec<Option<&[u8]>>, PgError> {
    let mut reader = BodyReader::new(body, "DataRow");
    let count = reader.i16()?;
    let mut values = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1600));
    for _ in 0..count {
        let length = reader.i32()?;
        values.push(match usize::try_from(length) {
            Ok(length) => Some(reader.take(length)?),
            Err(_) => None,
        });
    }
    reader.finish()?;
    Ok(values)
}

/// Check that a `DataRow` body is well formed without decoding it: a column count, then
/// per column a length (-1 for NULL) and exactly that many bytes, and nothing after the last
/// value. Cheap enough for every row of every result.
pub fn check_data_row(body: &[u8]) -> Result<(), PgError> {
    let mut reader = BodyReader::new(body, "DataRow");
    let count = reader.i16()?;
    if count < 0 {
        return Err(reader.malformed("negative column count"));
    }
    for _ in 0..count {
        match reader.i32()? {
            -1 => {}
            length if length < 0 => return Err(reader.malformed("negative value length")),
            length => {
                reader.take(usize::try_from(length).unwrap_or(usize::MAX))?;
            }
        }
    }
    reader.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn truncated_and_unterminated_bodies_are_errors() {
        assert!(parse_message(b"stmt").is_err());
        assert!(execute_message(b"\0\0\0").is_err());
        assert!(target_message(b"X\0", "Close").is_err());
        assert!(startup_parameters(b"user\0ana\0").is_err());
        assert!(query_message(b"SELECT 1\0extra").is_err());
        assert!(query_message(b"SELECT 1").is_err());
        // DataRow: a value past the end, a value short of the end, bad lengths and counts.
        assert!(check_data_row(b"\0\x01\0\0\x03\xe8abc").is_err());
        assert!(check_data_row(b"\0\x01\0\0\0\x01ab").is_err());
        assert!(check_data_row(b"\0\x01\xff\xff\xff\xfe").is_err());
        assert!(check_data_row(b"\xff\xff").is_err());
        assert!(check_data_row(b"\0").is_err());
    }

    #[test]
    fn well_formed_bodies_decode() {
        let params = startup_parameters(b"user\0ana\0database\0demo\0\0").unwrap();
        assert_eq!(params[1], ("database".into(), "demo".into()));
        let (portal, rows) = execute_message(b"p1\0\0\0\0\x05").unwrap();
        assert_eq!((portal, rows), ("p1", 5));
        let parse = parse_message(b"s1\0SELECT 1\0\0\0").unwrap();
        assert_eq!((parse.statement, parse.query), ("s1", &b"SELECT 1"[..]));
        check_data_row(b"\0\x02\0\0\0\x03abc\xff\xff\xff\xff").unwrap();
        check_data_row(b"\0\0").unwrap();
    }
}
