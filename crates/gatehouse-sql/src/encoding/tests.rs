//! Tests of reading client text and writing gatehouse's text, per encoding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use proptest::prelude::*;

fn decode(bytes: &[u8], client: PgEncoding) -> Result<String, EncodingError> {
    decode_client_text(bytes, client, PgEncoding::Utf8).map(Cow::into_owned)
}

fn encode(text: &str, client: PgEncoding) -> Vec<u8> {
    encode_for_client(text, client, PgEncoding::Utf8).into_owned()
}

/// The encodings gatehouse reads and writes.
fn supported() -> impl Iterator<Item = PgEncoding> {
    PgEncoding::ALL
        .into_iter()
        .filter(|encoding| Charset::of(*encoding).is_some())
}

#[test]
fn sjis_characters_ending_in_a_backslash_byte_are_one_character() {
    assert_eq!(decode(&[0x95, 0x5C], PgEncoding::Sjis).unwrap(), "表");
    let mut query = b"SELECT '".to_vec();
    query.extend_from_slice(&[0x95, 0x5C]);
    query.extend_from_slice(b"' , 'x'");
    let text = decode(&query, PgEncoding::Sjis).unwrap();
    assert_eq!(text, "SELECT '表' , 'x'");
    assert!(!text.contains('\\'));
    assert_eq!(decode(&[0x5C], PgEncoding::Sjis).unwrap(), "\\");
    assert_eq!(decode(&[0xB1], PgEncoding::Sjis).unwrap(), "ｱ");
}

#[test]
fn big5_gbk_uhc_and_gb18030_characters() {
    assert_eq!(decode(&[0xA5, 0x5C], PgEncoding::Big5).unwrap(), "功");
    assert_eq!(decode(&[0x81, 0x40], PgEncoding::Gbk).unwrap(), "丂");
    assert_eq!(decode(&[0x81, 0x41], PgEncoding::Uhc).unwrap(), "갂");
    assert_eq!(decode(&[0xB1, 0xED], PgEncoding::Gb18030).unwrap(), "表");
    assert_eq!(
        decode(&[0x81, 0x30, 0x81, 0x30], PgEncoding::Gb18030).unwrap(),
        "\u{80}"
    );
    assert_eq!(
        decode(&[0x90, 0x30, 0x81, 0x30], PgEncoding::Gb18030).unwrap(),
        "\u{10000}"
    );
    assert_eq!(
        decode(&[0x95, 0x32, 0x82, 0x36], PgEncoding::Gb18030).unwrap(),
        "\u{20000}"
    );
    assert_eq!(
        decode(&[0x84, 0x31, 0xA4, 0x39], PgEncoding::Gb18030).unwrap(),
        "\u{FFFF}"
    );
    // GBK has no four-byte characters: the server reads `0x81 0x30` as one character it
    // cannot convert.
    assert_eq!(
        decode(&[0x81, 0x30, 0x81, 0x30], PgEncoding::Gbk),
        Err(EncodingError::NoEquivalent {
            encoding: PgEncoding::Gbk,
            bytes: vec![0x81, 0x30]
        })
    );
}

#[test]
fn euc_characters() {
    assert_eq!(decode(&[0xA4, 0xA2], PgEncoding::EucJp).unwrap(), "あ");
    assert_eq!(decode(&[0x8E, 0xB1], PgEncoding::EucJp).unwrap(), "ｱ");
    assert_eq!(
        decode(&[0x8F, 0xB0, 0xA1], PgEncoding::EucJp).unwrap(),
        "丂"
    );
    assert_eq!(decode(&[0xB0, 0xA1], PgEncoding::EucKr).unwrap(), "가");
    assert_eq!(decode(&[0xB1, 0xED], PgEncoding::EucCn).unwrap(), "表");
    assert_eq!(
        decode(&[0xA1, 0xA4, 0xA1, 0xAA], PgEncoding::EucCn).unwrap(),
        "\u{30FB}\u{2015}"
    );
}

#[test]
fn single_byte_encodings_follow_postgresql_not_whatwg() {
    assert_eq!(
        decode(&[0xE9, 0x80], PgEncoding::Latin1).unwrap(),
        "é\u{80}"
    );
    assert_eq!(decode(&[0xA4], PgEncoding::Latin9).unwrap(), "€");
    assert_eq!(
        decode(&[0xD0, 0xE9, 0x80], PgEncoding::Latin5).unwrap(),
        "Ğé\u{80}"
    );
    assert_eq!(
        decode(&[0xAE, 0xBE, 0xA4], PgEncoding::Koi8U).unwrap(),
        "╝╬є"
    );
    assert_eq!(decode(&[0x80, 0xE9], PgEncoding::Win1252).unwrap(), "€é");
    assert_eq!(decode(&[0xC6], PgEncoding::Win1251).unwrap(), "Ж");
    assert_eq!(decode(&[0x80], PgEncoding::Win866).unwrap(), "А");
    for gap in [0x81, 0x8D, 0x8F, 0x90, 0x9D] {
        assert_eq!(
            decode(&[gap], PgEncoding::Win1252),
            Err(EncodingError::NoEquivalent {
                encoding: PgEncoding::Win1252,
                bytes: vec![gap]
            })
        );
    }
}

#[test]
fn invalid_sequences_are_refused_with_the_servers_message() {
    let cases: &[(PgEncoding, &[u8], &str)] = &[
        (PgEncoding::Sjis, &[0x81, 0x20], "\"SJIS\": 0x81 0x20"),
        (PgEncoding::Sjis, &[b'a', 0x81], "\"SJIS\": 0x81"),
        (PgEncoding::Sjis, &[0x80, 0x40], "\"SJIS\": 0x80 0x40"),
        (PgEncoding::Big5, &[0xA5], "\"BIG5\": 0xa5"),
        (PgEncoding::Gb18030, &[0x80], "\"GB18030\": 0x80"),
        (
            PgEncoding::Gb18030,
            &[0x81, 0x30, 0x81],
            "\"GB18030\": 0x81 0x30 0x81",
        ),
        (PgEncoding::EucJp, &[0x8E, 0x41], "\"EUC_JP\": 0x8e 0x41"),
        (PgEncoding::EucKr, &[0xB0, 0x5C], "\"EUC_KR\": 0xb0 0x5c"),
        (PgEncoding::Utf8, &[0xC0, 0xAF], "\"UTF8\": 0xc0 0xaf"),
        (
            PgEncoding::Utf8,
            &[0xED, 0xA0, 0x80],
            "\"UTF8\": 0xed 0xa0 0x80",
        ),
        (PgEncoding::Utf8, b"a\0b", "\"UTF8\": 0x00"),
        (PgEncoding::Latin1, b"a\0b", "\"LATIN1\": 0x00"),
    ];
    for (encoding, bytes, detail) in cases {
        let error = decode(bytes, *encoding).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("invalid byte sequence for encoding {detail}"),
            "{bytes:x?}"
        );
    }
}

#[test]
fn a_multi_byte_character_never_becomes_ascii() {
    for encoding in supported().filter(|encoding| encoding.is_ascii_unsafe()) {
        for lead in 0x80..=0xFF_u8 {
            for trail in 0x01..=0x7F_u8 {
                if let Ok(text) = decode(&[lead, trail], encoding) {
                    let ascii: Vec<char> = text.chars().filter(char::is_ascii).collect();
                    // Only a trailing byte the server reads as a character of its own may come
                    // out as ASCII, and then it is that byte.
                    assert!(
                        ascii.is_empty() || ascii == [char::from(trail)],
                        "{encoding} {lead:#x} {trail:#x}: {text:?}"
                    );
                    if !ascii.is_empty() {
                        assert_eq!(
                            Charset::of(encoding)
                                .unwrap()
                                .layout()
                                .character_length(&[lead, trail]),
                            Ok(1)
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn which_encoding_is_read() {
    let utf8 = PgEncoding::Utf8;
    let sql_ascii = PgEncoding::SqlAscii;
    let latin1 = PgEncoding::Latin1;
    // A SQL_ASCII client is not converted: its bytes must be valid in the server encoding.
    assert_eq!(
        decode_client_text("é".as_bytes(), sql_ascii, utf8).unwrap(),
        "é"
    );
    assert!(decode_client_text(&[0xE9], sql_ascii, utf8).is_err());
    assert_eq!(decode_client_text(&[0xE9], sql_ascii, latin1).unwrap(), "é");
    // A SQL_ASCII database checks the client encoding, or takes only ASCII from a client-only
    // encoding.
    assert_eq!(decode_client_text(&[0xE9], latin1, sql_ascii).unwrap(), "é");
    assert_eq!(
        decode_client_text(&[b'a', 0x95, 0x5C], PgEncoding::Sjis, sql_ascii),
        Err(EncodingError::InvalidByteValue { byte: 0x95 })
    );
    assert_eq!(
        EncodingError::InvalidByteValue { byte: 0x95 }.to_string(),
        "invalid byte value for encoding \"SQL_ASCII\": 0x95"
    );
    assert_eq!(
        decode_client_text(b"SELECT 1", PgEncoding::Sjis, sql_ascii).unwrap(),
        "SELECT 1"
    );
    // Both SQL_ASCII: bytes as code points.
    assert_eq!(
        decode_client_text(&[b'a', 0xE9, 0xFF], sql_ascii, sql_ascii).unwrap(),
        "a\u{E9}\u{FF}"
    );
    assert!(decode_client_text(b"a\0", sql_ascii, sql_ascii).is_err());
    assert_eq!(
        decode_client_text(b"x", utf8, PgEncoding::Sjis),
        Err(EncodingError::NotServerEncoding {
            encoding: PgEncoding::Sjis
        })
    );
}

#[test]
fn encodings_gatehouse_cannot_read_are_refused_unless_ascii() {
    for encoding in [
        PgEncoding::Johab,
        PgEncoding::MuleInternal,
        PgEncoding::EucTw,
        PgEncoding::EucJis2004,
        PgEncoding::ShiftJis2004,
    ] {
        assert_eq!(decode(b"SELECT 1", encoding).unwrap(), "SELECT 1");
        let error = decode(&[0x81, 0x5F], encoding).unwrap_err();
        assert_eq!(error, EncodingError::Unsupported { encoding });
        assert_eq!(encode("é ok", encoding), b"? ok");
    }
}

#[test]
fn utf8_and_ascii_are_borrowed() {
    let text = "SELECT 'é'";
    assert!(matches!(
        decode_client_text(text.as_bytes(), PgEncoding::Utf8, PgEncoding::Utf8),
        Ok(Cow::Borrowed(_))
    ));
    assert!(matches!(
        decode_client_text(b"SELECT 1", PgEncoding::Sjis, PgEncoding::Utf8),
        Ok(Cow::Borrowed(_))
    ));
    assert!(matches!(
        encode_for_client(text, PgEncoding::Utf8, PgEncoding::Latin1),
        Cow::Borrowed(_)
    ));
}

#[test]
fn messages_are_written_in_the_clients_encoding() {
    assert_eq!(
        encode("naïve → ok", PgEncoding::Latin1),
        b"na\xEFve ? ok".to_vec()
    );
    assert_eq!(encode("表", PgEncoding::Sjis), [0x95, 0x5C]);
    assert_eq!(encode("功", PgEncoding::Big5), [0xA5, 0x5C]);
    assert_eq!(encode("€\u{81}", PgEncoding::Win1252), [0x80, b'?']);
    assert_eq!(encode("╝ў", PgEncoding::Koi8U), [0xAE, b'?']);
    assert_eq!(encode("Ğð", PgEncoding::Latin5), [0xD0, b'?']);
    assert_eq!(
        encode("\u{30FB}\u{B7}", PgEncoding::EucCn),
        [0xA1, 0xA4, b'?']
    );
    assert_eq!(
        encode("\u{10000}", PgEncoding::Gb18030),
        [0x90, 0x30, 0x81, 0x30]
    );
    assert_eq!(encode("\u{10000}", PgEncoding::Gbk), b"?");
    // A SQL_ASCII client reads the server encoding.
    assert_eq!(
        encode_for_client("é", PgEncoding::SqlAscii, PgEncoding::Latin1).as_ref(),
        [0xE9]
    );
    assert_eq!(
        encode_for_client("é", PgEncoding::SqlAscii, PgEncoding::SqlAscii).as_ref(),
        "é".as_bytes()
    );
}

#[test]
fn round_trips() {
    let samples: &[(PgEncoding, &str)] = &[
        (PgEncoding::Utf8, "SELECT 'é表𐀀'"),
        (PgEncoding::Latin1, "SELECT 'café ÿ'"),
        (PgEncoding::Latin2, "SELECT 'żółć'"),
        (PgEncoding::Latin5, "SELECT 'İstanbul ğış'"),
        (PgEncoding::Latin9, "SELECT '€ œ'"),
        (PgEncoding::Win1251, "SELECT 'Привет'"),
        (PgEncoding::Win1252, "SELECT '€ “x”'"),
        (PgEncoding::Koi8R, "SELECT 'Привет'"),
        (PgEncoding::Koi8U, "SELECT 'Привіт ╝'"),
        (PgEncoding::Win866, "SELECT 'Привет'"),
        (PgEncoding::Iso8859_7, "SELECT 'Καλημέρα'"),
        (PgEncoding::Win1255, "SELECT 'שלום'"),
        (PgEncoding::Win874, "SELECT 'สวัสดี'"),
        (PgEncoding::EucJp, "SELECT '表示 ｱ'"),
        (PgEncoding::Sjis, "SELECT '表示 ｱ ソ'"),
        (PgEncoding::EucKr, "SELECT '한국어'"),
        (PgEncoding::Uhc, "SELECT '한국어 똠'"),
        (PgEncoding::EucCn, "SELECT '中文'"),
        (PgEncoding::Gbk, "SELECT '中文 丂'"),
        (PgEncoding::Gb18030, "SELECT '中文 𐀀 €'"),
        (PgEncoding::Big5, "SELECT '中文 功'"),
    ];
    for (encoding, sample) in samples {
        let bytes = encode(sample, *encoding);
        assert!(!bytes.contains(&b'?'), "{encoding}: {bytes:x?}");
        assert_eq!(decode(&bytes, *encoding).unwrap(), *sample, "{encoding}");
    }
}

proptest! {
    #[test]
    fn decoding_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        client in 0..PgEncoding::ALL.len(),
        server in 0..PgEncoding::ALL.len(),
    ) {
        let _ = decode_client_text(&bytes, PgEncoding::ALL[client], PgEncoding::ALL[server]);
    }

    #[test]
    fn what_gatehouse_writes_it_reads_back(text in "[^\u{0}]{0,24}", encoding in 0..PgEncoding::ALL.len()) {
        let encoding = PgEncoding::ALL[encoding];
        let bytes = encode(&text, encoding);
        let read = decode(&bytes, encoding).unwrap();
        prop_assert_eq!(read.chars().count(), text.chars().count());
        for (read, written) in read.chars().zip(text.chars()) {
            prop_assert!(read == written || read == '?', "{} {:?} {:?}", encoding, read, written);
        }
    }
}
