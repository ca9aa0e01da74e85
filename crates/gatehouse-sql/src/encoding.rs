//! Client encodings as the server handles them, so that gatehouse reads the same characters
//! (and so the same tokens) as the server from a client whose `client_encoding` is not UTF-8,
//! and answers it in its own encoding.
//!
//! The server converts every query from `client_encoding` to the database encoding before its
//! lexer sees it, refusing bytes that are not valid in the client encoding. Gatehouse does the
//! same with [`decode_client_text`]: it splits the bytes into characters by the server's own
//! rules (`src/common/wchar.c`) and maps each character to Unicode on its own, so that in SJIS
//! `0x95 0x5C` is `表` and never a backslash, and refuses what the server refuses, with the
//! server's message. [`encode_for_client`] turns gatehouse's own messages into the client's
//! encoding.
//!
//! Character mappings come from `encoding_rs` with PostgreSQL's choices written out where they
//! differ (see the `charsets` module); the differences that remain are between non-ASCII
//! characters, so they can change a literal's value but never where a token ends, and a
//! multi-byte character that would map to ASCII is refused. Gatehouse cannot read
//! MULE_INTERNAL, EUC_TW, JOHAB, EUC_JIS_2004 and SHIFT_JIS_2004 text (no mapping it trusts;
//! PostgreSQL's SHIFT_JIS_2004 table even turns two-byte characters into a backslash or a
//! tilde)
//! and says so with [`EncodingError::Unsupported`] unless the text is all ASCII, which every
//! encoding reads alike.

mod characters;
mod charsets;
mod names;

use std::borrow::Cow;

pub use names::PgEncoding;

use charsets::Charset;

/// Why client text cannot be read. The messages of the first three are the server's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// Bytes that are not a character of the encoding (or a NUL byte).
    #[error("invalid byte sequence for encoding \"{encoding}\": {}", show_bytes(.bytes))]
    InvalidByteSequence {
        encoding: PgEncoding,
        bytes: Vec<u8>,
    },
    /// A byte that is not ASCII, from a client-only encoding to a SQL_ASCII database: the
    /// server cannot convert it, and refuses it.
    #[error("invalid byte value for encoding \"SQL_ASCII\": 0x{byte:02x}")]
    InvalidByteValue { byte: u8 },
    /// A well-formed character that stands for no Unicode character gatehouse knows.
    #[error(
        "character with byte sequence {} in encoding \"{encoding}\" has no equivalent in Unicode",
        show_bytes(.bytes)
    )]
    NoEquivalent {
        encoding: PgEncoding,
        bytes: Vec<u8>,
    },
    /// Text in an encoding gatehouse cannot read (see the module documentation).
    #[error("gatehouse cannot read text in encoding \"{encoding}\"; use UTF8")]
    Unsupported { encoding: PgEncoding },
    /// The "server encoding" given is a client-only encoding, which no database can have.
    #[error("\"{encoding}\" is not a server encoding")]
    NotServerEncoding { encoding: PgEncoding },
}

/// Bytes as the server's messages show them: `0x95 0x5c`.
fn show_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| format!("0x{byte:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Read the bytes of a client message (a query, a parameter in text format) as the server
/// will, given the session's `client_encoding` and the database's `server_encoding`:
/// - the same encoding on both sides, or a SQL_ASCII client: no conversion, but the bytes
///   must be valid in the server encoding;
/// - a SQL_ASCII database: no conversion; bytes must be valid in the client encoding, and a
///   client-only (ASCII-unsafe) client encoding may send ASCII only;
/// - otherwise: converted from the client encoding, so they must be valid in it and stand for
///   a character.
///
/// A SQL_ASCII database with a SQL_ASCII client gives its bytes no meaning: each byte above
/// 0x7F becomes the character of that code point (U+0080 to U+00FF), which keeps the server's
/// characters and token boundaries, not their meaning. NUL bytes are always refused.
///
/// ASCII text, and valid UTF-8 read as UTF-8, is borrowed, not copied.
pub fn decode_client_text(
    bytes: &[u8],
    client: PgEncoding,
    server: PgEncoding,
) -> Result<Cow<'_, str>, EncodingError> {
    if !server.is_server_encoding() {
        return Err(EncodingError::NotServerEncoding { encoding: server });
    }
    let reading = if client == server || client == PgEncoding::SqlAscii {
        server
    } else if server == PgEncoding::SqlAscii && client.is_ascii_unsafe() {
        return ascii_only(bytes);
    } else {
        client
    };
    if let Some(text) = borrowed_ascii(bytes) {
        return Ok(Cow::Borrowed(text));
    }
    if reading == PgEncoding::SqlAscii {
        if bytes.contains(&0) {
            return Err(EncodingError::InvalidByteSequence {
                encoding: reading,
                bytes: vec![0],
            });
        }
        return Ok(Cow::Owned(bytes.iter().copied().map(char::from).collect()));
    }
    let charset = Charset::of(reading).ok_or(EncodingError::Unsupported { encoding: reading })?;
    if matches!(charset, Charset::Utf8)
        && !bytes.contains(&0)
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        return Ok(Cow::Borrowed(text));
    }
    decode_characters(bytes, reading, charset).map(Cow::Owned)
}

/// `bytes` as text if they are ASCII without NUL; a NUL byte is left for the slow path, which
/// reports it.
fn borrowed_ascii(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() && !bytes.contains(&0) {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// A client-only encoding to a SQL_ASCII database: ASCII only.
fn ascii_only(bytes: &[u8]) -> Result<Cow<'_, str>, EncodingError> {
    match bytes.iter().find(|&&byte| byte == 0 || byte >= 0x80) {
        Some(&byte) => Err(EncodingError::InvalidByteValue { byte }),
        None => Ok(Cow::Borrowed(borrowed_ascii(bytes).unwrap_or_default())),
    }
}

/// The general path: split `bytes` into the server's characters, refusing what it refuses,
/// and map each one to Unicode.
fn decode_characters(
    bytes: &[u8],
    encoding: PgEncoding,
    charset: Charset,
) -> Result<String, EncodingError> {
    let layout = charset.layout();
    let mut text = String::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(rest) = bytes.get(at..).filter(|rest| !rest.is_empty()) {
        let lead = rest.first().copied().unwrap_or(0);
        if lead == 0 {
            return Err(EncodingError::InvalidByteSequence {
                encoding,
                bytes: vec![0],
            });
        }
        if lead < 0x80 {
            text.push(char::from(lead));
            at += 1;
            continue;
        }
        let length =
            layout
                .character_length(rest)
                .map_err(|shown| EncodingError::InvalidByteSequence {
                    encoding,
                    bytes: rest.get(..shown).unwrap_or(rest).to_vec(),
                })?;
        let character = rest.get(..length).unwrap_or(rest);
        let before = text.len();
        let decoded = charset.decode_character(character, &mut text);
        // A multi-byte character must never become ASCII: that would move a token boundary.
        let stays_non_ascii = text
            .get(before..)
            .is_some_and(|added| !added.is_empty() && !added.bytes().any(|byte| byte.is_ascii()));
        if !(decoded && stays_non_ascii) {
            return Err(EncodingError::NoEquivalent {
                encoding,
                bytes: character.to_vec(),
            });
        }
        at += length;
    }
    Ok(text)
}

/// Gatehouse's own text (an error message, a notice) in the encoding the client reads: its
/// `client_encoding`, or the server encoding when that is SQL_ASCII (the server sends a
/// SQL_ASCII client its bytes unconverted). A character the encoding cannot represent becomes
/// `?`, as does every non-ASCII character for an encoding gatehouse cannot write. Text for a
/// SQL_ASCII client of a SQL_ASCII database is sent as UTF-8. ASCII and UTF-8 text is borrowed.
pub fn encode_for_client(text: &str, client: PgEncoding, server: PgEncoding) -> Cow<'_, [u8]> {
    let target = if client == PgEncoding::SqlAscii {
        server
    } else {
        client
    };
    if text.is_ascii() || matches!(target, PgEncoding::Utf8 | PgEncoding::SqlAscii) {
        return Cow::Borrowed(text.as_bytes());
    }
    let charset = Charset::of(target);
    let mut bytes = Vec::with_capacity(text.len());
    let mut buffer = [0u8; 8];
    for character in text.chars() {
        if character.is_ascii() {
            let mut ascii = [0u8; 4];
            bytes.extend_from_slice(character.encode_utf8(&mut ascii).as_bytes());
            continue;
        }
        match charset.and_then(|charset| encode_character(charset, character, &mut buffer)) {
            Some(encoded) => bytes.extend_from_slice(encoded),
            None => bytes.push(b'?'),
        }
    }
    Cow::Owned(bytes)
}

/// The bytes of one non-ASCII character in `charset`, if they are exactly one character by
/// the server's rules and read back as the same character.
fn encode_character(charset: Charset, character: char, buffer: &mut [u8; 8]) -> Option<&[u8]> {
    let length = charset.encode_character(character, buffer)?;
    let encoded = buffer.get(..length)?;
    if encoded.first().is_none_or(|lead| lead.is_ascii())
        || charset.layout().character_length(encoded) != Ok(length)
    {
        return None;
    }
    let mut read_back = String::new();
    (charset.decode_character(encoded, &mut read_back)
        && read_back.chars().eq(std::iter::once(character)))
    .then_some(encoded)
}

#[cfg(test)]
mod tests;
