//! Which Unicode character each character of an encoding stands for, in both directions, as
//! close to PostgreSQL's conversion tables as `encoding_rs` (the WHATWG Encoding Standard)
//! allows, with PostgreSQL's own choices written out where the two differ:
//! - LATIN1 is byte = code point (WHATWG's `iso-8859-1` label means windows-1252), and LATIN5
//!   is ISO-8859-9 (WHATWG's `iso-8859-9` label means windows-1254), both written by hand;
//! - KOI8U is RFC 2319's KOI8-U, with box drawing at `0xAE` and `0xBE`, where WHATWG's
//!   `koi8-u` is KOI8-RU (`ў`, `Ў`);
//! - EUC_CN maps `0xA1A4` to U+30FB and `0xA1AA` to U+2015 as PostgreSQL's table does, where
//!   WHATWG's GBK (used for the rest of EUC_CN) has U+00B7 and U+2014;
//! - the WINxxx encodings have no character at the positions Microsoft's tables leave empty
//!   (`0x81` in WIN1252, ...), which WHATWG fills with C1 controls.
//!
//! Measured against PostgreSQL 15.20 (`convert_from` to UTF8 of every one- and two-byte
//! sequence, every three-byte EUC_JP sequence and 100,000 four-byte GB18030 ones), the
//! single-byte encodings agree everywhere but WIN1255 `0xCA` (gatehouse reads U+05BA, the
//! server refuses it). The multi-byte ones differ only in characters beyond ASCII:
//! - gatehouse reads characters the server refuses: SJIS's user-defined area, BIG5's HKSCS
//!   additions, a few Private Use Area codes of GBK, EUC_CN and EUC_JP;
//! - the server reads characters gatehouse refuses: `0xA2E8` (U+327E) and the user-defined
//!   area of EUC_KR and UHC, about a hundred IBM extensions among EUC_JP's three-byte codes;
//! - both read, as different characters: 267 BIG5 codes (`0xA145` is U+2022 to the server and
//!   U+2027 here), 21 GB18030 codes (the server's table is GB18030-2000, with Private Use Area
//!   code points where WHATWG has the later standard's), EUC_JP `0x8FA2C3` (U+FFE4 against
//!   U+00A6).
//!
//! So a literal's value can differ in those characters, but no multi-byte character is ASCII
//! on either side, and token boundaries agree.

use encoding_rs::{DecoderResult, EncoderResult, Encoding};

use super::PgEncoding;
use super::characters::Layout;

/// How gatehouse maps the characters of one encoding.
#[derive(Debug, Clone, Copy)]
pub(super) enum Charset {
    Utf8,
    Latin1,
    Latin5,
    Koi8U,
    EucCn,
    /// A single-byte encoding `encoding_rs` has. `c1_is_a_gap`: a byte that decodes to a C1
    /// control is a position the encoding leaves empty.
    SingleByte {
        encoding: &'static Encoding,
        c1_is_a_gap: bool,
    },
    MultiByte {
        encoding: &'static Encoding,
        layout: Layout,
    },
}

/// The characters of ISO-8859-9 (LATIN5) that differ from ISO-8859-1 (LATIN1).
const LATIN5_TURKISH: [(u8, char); 6] = [
    (0xD0, 'Ğ'),
    (0xDD, 'İ'),
    (0xDE, 'Ş'),
    (0xF0, 'ğ'),
    (0xFD, 'ı'),
    (0xFE, 'ş'),
];

/// KOI8-U's characters where WHATWG's `koi8-u` (KOI8-RU) has others.
const KOI8U_BOX_DRAWING: [(u8, char); 2] = [(0xAE, '╝'), (0xBE, '╬')];

/// EUC_CN's characters where WHATWG's GBK has others.
const EUC_CN_PUNCTUATION: [([u8; 2], char); 2] =
    [([0xA1, 0xA4], '\u{30FB}'), ([0xA1, 0xAA], '\u{2015}')];

impl Charset {
    /// How gatehouse maps `encoding`, or `None` for the encodings it cannot read: SQL_ASCII
    /// (no mapping at all), MULE_INTERNAL, EUC_TW and JOHAB (no mapping in `encoding_rs`), and
    /// EUC_JIS_2004 and SHIFT_JIS_2004 (JIS X 0213, which `encoding_rs` lacks; reading them as
    /// EUC_JP and SJIS would be wrong where it matters most, since PostgreSQL's SHIFT_JIS_2004
    /// table turns the two-byte `0x815F` into a backslash and `0x81B0` into a tilde).
    pub(super) fn of(encoding: PgEncoding) -> Option<Charset> {
        let single = |encoding, c1_is_a_gap| Charset::SingleByte {
            encoding,
            c1_is_a_gap,
        };
        let multi = |encoding, layout| Charset::MultiByte { encoding, layout };
        let charset = match encoding {
            PgEncoding::SqlAscii
            | PgEncoding::MuleInternal
            | PgEncoding::EucTw
            | PgEncoding::Johab
            | PgEncoding::EucJis2004
            | PgEncoding::ShiftJis2004 => return None,
            PgEncoding::Utf8 => Charset::Utf8,
            PgEncoding::Latin1 => Charset::Latin1,
            PgEncoding::Latin5 => Charset::Latin5,
            PgEncoding::Koi8U => Charset::Koi8U,
            PgEncoding::EucCn => Charset::EucCn,
            PgEncoding::Latin2 => single(encoding_rs::ISO_8859_2, false),
            PgEncoding::Latin3 => single(encoding_rs::ISO_8859_3, false),
            PgEncoding::Latin4 => single(encoding_rs::ISO_8859_4, false),
            PgEncoding::Latin6 => single(encoding_rs::ISO_8859_10, false),
            PgEncoding::Latin7 => single(encoding_rs::ISO_8859_13, false),
            PgEncoding::Latin8 => single(encoding_rs::ISO_8859_14, false),
            PgEncoding::Latin9 => single(encoding_rs::ISO_8859_15, false),
            PgEncoding::Latin10 => single(encoding_rs::ISO_8859_16, false),
            PgEncoding::Iso8859_5 => single(encoding_rs::ISO_8859_5, false),
            PgEncoding::Iso8859_6 => single(encoding_rs::ISO_8859_6, false),
            PgEncoding::Iso8859_7 => single(encoding_rs::ISO_8859_7, false),
            PgEncoding::Iso8859_8 => single(encoding_rs::ISO_8859_8, false),
            PgEncoding::Koi8R => single(encoding_rs::KOI8_R, false),
            PgEncoding::Win866 => single(encoding_rs::IBM866, false),
            PgEncoding::Win874 => single(encoding_rs::WINDOWS_874, true),
            PgEncoding::Win1250 => single(encoding_rs::WINDOWS_1250, true),
            PgEncoding::Win1251 => single(encoding_rs::WINDOWS_1251, true),
            PgEncoding::Win1252 => single(encoding_rs::WINDOWS_1252, true),
            PgEncoding::Win1253 => single(encoding_rs::WINDOWS_1253, true),
            PgEncoding::Win1254 => single(encoding_rs::WINDOWS_1254, true),
            PgEncoding::Win1255 => single(encoding_rs::WINDOWS_1255, true),
            PgEncoding::Win1256 => single(encoding_rs::WINDOWS_1256, true),
            PgEncoding::Win1257 => single(encoding_rs::WINDOWS_1257, true),
            PgEncoding::Win1258 => single(encoding_rs::WINDOWS_1258, true),
            PgEncoding::EucJp => multi(encoding_rs::EUC_JP, Layout::EucJp),
            PgEncoding::EucKr => multi(encoding_rs::EUC_KR, Layout::EucKr),
            PgEncoding::Sjis => multi(encoding_rs::SHIFT_JIS, Layout::Sjis),
            PgEncoding::Big5 => multi(encoding_rs::BIG5, Layout::TwoByte),
            PgEncoding::Gbk => multi(encoding_rs::GBK, Layout::TwoByte),
            PgEncoding::Uhc => multi(encoding_rs::EUC_KR, Layout::TwoByte),
            PgEncoding::Gb18030 => multi(encoding_rs::GB18030, Layout::Gb18030),
        };
        Some(charset)
    }

    /// Where the server puts character boundaries in this encoding.
    pub(super) fn layout(self) -> Layout {
        match self {
            Charset::Utf8 => Layout::Utf8,
            Charset::EucCn => Layout::EucCn,
            Charset::MultiByte { layout, .. } => layout,
            Charset::Latin1 | Charset::Latin5 | Charset::Koi8U | Charset::SingleByte { .. } => {
                Layout::SingleByte
            }
        }
    }

    /// Append to `out` what the character `bytes` (one whole character by [`Layout`], its
    /// first byte 0x80 or above) stands for. `false` when it stands for nothing.
    pub(super) fn decode_character(self, bytes: &[u8], out: &mut String) -> bool {
        let lead = bytes.first().copied().unwrap_or(0);
        let listed = |table: &[(u8, char)]| {
            table
                .iter()
                .find(|(byte, _)| [*byte].as_slice() == bytes)
                .map(|(_, character)| *character)
        };
        let character = match self {
            Charset::Utf8 => return push_text(std::str::from_utf8(bytes).ok(), out),
            Charset::Latin1 => char::from(lead),
            Charset::Latin5 => listed(&LATIN5_TURKISH).unwrap_or(char::from(lead)),
            Charset::Koi8U => match listed(&KOI8U_BOX_DRAWING) {
                Some(character) => character,
                None => return decode_with(encoding_rs::KOI8_U, bytes, out),
            },
            Charset::EucCn => match EUC_CN_PUNCTUATION
                .iter()
                .find(|(listed, _)| listed.as_slice() == bytes)
            {
                Some((_, character)) => *character,
                None => return decode_with(encoding_rs::GBK, bytes, out),
            },
            Charset::SingleByte {
                encoding,
                c1_is_a_gap,
            } => {
                let before = out.len();
                let is_c1 = |character: char| ('\u{80}'..='\u{9F}').contains(&character);
                return decode_with(encoding, bytes, out)
                    && !(c1_is_a_gap
                        && out
                            .get(before..)
                            .is_some_and(|added| added.chars().any(is_c1)));
            }
            Charset::MultiByte { encoding, .. } => return decode_with(encoding, bytes, out),
        };
        out.push(character);
        true
    }

    /// Write the encoding of `character` (not ASCII) into `buffer`, returning its length, or
    /// `None` when the encoding has no such character.
    pub(super) fn encode_character(self, character: char, buffer: &mut [u8; 8]) -> Option<usize> {
        let listed = |table: &[(u8, char)]| {
            table
                .iter()
                .find(|(_, listed)| *listed == character)
                .map(|(byte, _)| *byte)
        };
        let byte = match self {
            Charset::Utf8 => return Some(character.encode_utf8(buffer).len()),
            Charset::Latin1 => u8::try_from(character).ok()?,
            Charset::Latin5 => listed(&LATIN5_TURKISH).or_else(|| {
                let byte = u8::try_from(character).ok()?;
                let displaced = LATIN5_TURKISH.iter().any(|(turkish, _)| *turkish == byte);
                (!displaced).then_some(byte)
            })?,
            Charset::Koi8U => match listed(&KOI8U_BOX_DRAWING) {
                Some(byte) => byte,
                None => return encode_with(encoding_rs::KOI8_U, character, buffer),
            },
            Charset::EucCn => {
                return match EUC_CN_PUNCTUATION
                    .iter()
                    .find(|(_, listed)| *listed == character)
                {
                    Some((bytes, _)) => put_bytes(bytes, buffer),
                    None => encode_with(encoding_rs::GBK, character, buffer),
                };
            }
            Charset::SingleByte { encoding, .. } | Charset::MultiByte { encoding, .. } => {
                return encode_with(encoding, character, buffer);
            }
        };
        put_bytes(&[byte], buffer)
    }
}

/// Append `text` to `out`, if there is one.
fn push_text(text: Option<&str>, out: &mut String) -> bool {
    text.inspect(|text| out.push_str(text)).is_some()
}

/// Copy `bytes` to the start of `buffer`, returning their length.
fn put_bytes(bytes: &[u8], buffer: &mut [u8; 8]) -> Option<usize> {
    buffer.get_mut(..bytes.len())?.copy_from_slice(bytes);
    Some(bytes.len())
}

/// Decode exactly `bytes` with `encoding_rs`, appending to `out`; `false` if they are not
/// exactly one well-formed sequence.
fn decode_with(encoding: &'static Encoding, bytes: &[u8], out: &mut String) -> bool {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut buffer = [0u8; 16];
    let (result, read, written) =
        decoder.decode_to_utf8_without_replacement(bytes, &mut buffer, true);
    if result != DecoderResult::InputEmpty || read != bytes.len() {
        return false;
    }
    push_text(
        buffer
            .get(..written)
            .and_then(|text| std::str::from_utf8(text).ok()),
        out,
    )
}

/// Encode one character with `encoding_rs` into `buffer`.
fn encode_with(
    encoding: &'static Encoding,
    character: char,
    buffer: &mut [u8; 8],
) -> Option<usize> {
    let mut encoder = encoding.new_encoder();
    let mut utf8 = [0u8; 4];
    let (result, _, written) = encoder.encode_from_utf8_without_replacement(
        character.encode_utf8(&mut utf8),
        buffer,
        true,
    );
    (result == EncoderResult::InputEmpty).then_some(written)
}
