//! Client text as the server reads it: a `COM_QUERY` arrives in the session's client
//! character set, and gatehouse classifies the same characters the server will lex. Text that
//! is not valid in that set, or a set gatehouse does not decode, gives `None`, which the
//! session decides as an unknown statement.

/// `bytes` decoded in MariaDB character set `charset` (lowercase name).
pub(crate) fn decode(bytes: &[u8], charset: &str) -> Option<String> {
    match charset {
        "utf8mb4" | "utf8mb3" | "utf8" | "binary" => {
            std::str::from_utf8(bytes).ok().map(str::to_owned)
        }
        "ascii" => bytes
            .is_ascii()
            .then(|| String::from_utf8_lossy(bytes).into_owned()),
        // MariaDB's latin1 is Windows-1252.
        "latin1" => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(std::borrow::Cow::into_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn text_is_read_in_the_client_character_set_and_invalid_text_is_not_read() {
        assert_eq!(decode("é".as_bytes(), "utf8mb4").as_deref(), Some("é"));
        assert_eq!(decode(b"\xE9", "latin1").as_deref(), Some("é"));
        assert_eq!(decode(b"\xE9", "utf8mb4"), None);
        assert_eq!(decode(b"\xE9", "ascii"), None);
        assert_eq!(decode(b"select 1", "ucs2"), None);
    }
}
