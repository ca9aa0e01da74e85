//! PostgreSQL's encodings and their names, so that gatehouse reads `client_encoding` (from the
//! startup packet, `SET client_encoding` or `ParameterStatus`) exactly as the server does.
//!
//! The official names are those of `pg_enc2name_tbl` and the aliases those of
//! `pg_encname_tbl`, both in PostgreSQL's `src/common/encnames.c`.

use std::fmt;

/// One of PostgreSQL's character encodings, in the order of the server's `pg_enc` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgEncoding {
    SqlAscii,
    EucJp,
    EucCn,
    EucKr,
    EucTw,
    EucJis2004,
    Utf8,
    MuleInternal,
    Latin1,
    Latin2,
    Latin3,
    Latin4,
    Latin5,
    Latin6,
    Latin7,
    Latin8,
    Latin9,
    Latin10,
    Win1256,
    Win1258,
    Win866,
    Win874,
    Koi8R,
    Win1251,
    Win1252,
    Iso8859_5,
    Iso8859_6,
    Iso8859_7,
    Iso8859_8,
    Win1250,
    Win1253,
    Win1254,
    Win1255,
    Win1257,
    Koi8U,
    Sjis,
    Big5,
    Gbk,
    Uhc,
    Gb18030,
    Johab,
    ShiftJis2004,
}

/// PostgreSQL's `NAMEDATALEN`: a name this long or longer is no encoding name.
const NAME_DATA_LEN: usize = 64;

impl PgEncoding {
    /// Every encoding, in the server's order.
    pub const ALL: [PgEncoding; 42] = [
        PgEncoding::SqlAscii,
        PgEncoding::EucJp,
        PgEncoding::EucCn,
        PgEncoding::EucKr,
        PgEncoding::EucTw,
        PgEncoding::EucJis2004,
        PgEncoding::Utf8,
        PgEncoding::MuleInternal,
        PgEncoding::Latin1,
        PgEncoding::Latin2,
        PgEncoding::Latin3,
        PgEncoding::Latin4,
        PgEncoding::Latin5,
        PgEncoding::Latin6,
        PgEncoding::Latin7,
        PgEncoding::Latin8,
        PgEncoding::Latin9,
        PgEncoding::Latin10,
        PgEncoding::Win1256,
        PgEncoding::Win1258,
        PgEncoding::Win866,
        PgEncoding::Win874,
        PgEncoding::Koi8R,
        PgEncoding::Win1251,
        PgEncoding::Win1252,
        PgEncoding::Iso8859_5,
        PgEncoding::Iso8859_6,
        PgEncoding::Iso8859_7,
        PgEncoding::Iso8859_8,
        PgEncoding::Win1250,
        PgEncoding::Win1253,
        PgEncoding::Win1254,
        PgEncoding::Win1255,
        PgEncoding::Win1257,
        PgEncoding::Koi8U,
        PgEncoding::Sjis,
        PgEncoding::Big5,
        PgEncoding::Gbk,
        PgEncoding::Uhc,
        PgEncoding::Gb18030,
        PgEncoding::Johab,
        PgEncoding::ShiftJis2004,
    ];

    /// The encoding a name stands for, as the server's `pg_char_to_encoding` finds it: every
    /// character but ASCII letters and digits is dropped, letters are lowercased, and the
    /// result is looked up among the official names and aliases (`UTF-8`, `unicode`,
    /// `Latin-9`, `ISO_8859_15`, `windows-1252`, `Shift_JIS`, `mskanji`, `koi8`, `alt`,
    /// `tcvn`, `win936`, ...). Empty names and names of 64 bytes or more are no encoding.
    pub fn from_name(name: &str) -> Option<PgEncoding> {
        if name.is_empty() || name.len() >= NAME_DATA_LEN {
            return None;
        }
        let key: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|character| character.to_ascii_lowercase())
            .collect();
        let encoding = match key.as_str() {
            "sqlascii" => PgEncoding::SqlAscii,
            "eucjp" => PgEncoding::EucJp,
            "euccn" => PgEncoding::EucCn,
            "euckr" => PgEncoding::EucKr,
            "euctw" => PgEncoding::EucTw,
            "eucjis2004" => PgEncoding::EucJis2004,
            "utf8" | "unicode" => PgEncoding::Utf8,
            "muleinternal" => PgEncoding::MuleInternal,
            "latin1" | "iso88591" => PgEncoding::Latin1,
            "latin2" | "iso88592" => PgEncoding::Latin2,
            "latin3" | "iso88593" => PgEncoding::Latin3,
            "latin4" | "iso88594" => PgEncoding::Latin4,
            "latin5" | "iso88599" => PgEncoding::Latin5,
            "latin6" | "iso885910" => PgEncoding::Latin6,
            "latin7" | "iso885913" => PgEncoding::Latin7,
            "latin8" | "iso885914" => PgEncoding::Latin8,
            "latin9" | "iso885915" => PgEncoding::Latin9,
            "latin10" | "iso885916" => PgEncoding::Latin10,
            "win1256" | "windows1256" => PgEncoding::Win1256,
            "win1258" | "windows1258" | "abc" | "tcvn" | "tcvn5712" | "vscii" => {
                PgEncoding::Win1258
            }
            "win866" | "windows866" | "alt" => PgEncoding::Win866,
            "win874" | "windows874" => PgEncoding::Win874,
            "koi8r" | "koi8" => PgEncoding::Koi8R,
            "win1251" | "windows1251" | "win" => PgEncoding::Win1251,
            "win1252" | "windows1252" => PgEncoding::Win1252,
            "iso88595" => PgEncoding::Iso8859_5,
            "iso88596" => PgEncoding::Iso8859_6,
            "iso88597" => PgEncoding::Iso8859_7,
            "iso88598" => PgEncoding::Iso8859_8,
            "win1250" | "windows1250" => PgEncoding::Win1250,
            "win1253" | "windows1253" => PgEncoding::Win1253,
            "win1254" | "windows1254" => PgEncoding::Win1254,
            "win1255" | "windows1255" => PgEncoding::Win1255,
            "win1257" | "windows1257" => PgEncoding::Win1257,
            "koi8u" => PgEncoding::Koi8U,
            "sjis" | "shiftjis" | "mskanji" | "win932" | "windows932" => PgEncoding::Sjis,
            "big5" | "win950" | "windows950" => PgEncoding::Big5,
            "gbk" | "win936" | "windows936" => PgEncoding::Gbk,
            "uhc" | "win949" | "windows949" => PgEncoding::Uhc,
            "gb18030" => PgEncoding::Gb18030,
            "johab" => PgEncoding::Johab,
            "shiftjis2004" => PgEncoding::ShiftJis2004,
            _ => return None,
        };
        Some(encoding)
    }

    /// The server's official name, as `SHOW client_encoding` reports it.
    pub fn name(self) -> &'static str {
        match self {
            PgEncoding::SqlAscii => "SQL_ASCII",
            PgEncoding::EucJp => "EUC_JP",
            PgEncoding::EucCn => "EUC_CN",
            PgEncoding::EucKr => "EUC_KR",
            PgEncoding::EucTw => "EUC_TW",
            PgEncoding::EucJis2004 => "EUC_JIS_2004",
            PgEncoding::Utf8 => "UTF8",
            PgEncoding::MuleInternal => "MULE_INTERNAL",
            PgEncoding::Latin1 => "LATIN1",
            PgEncoding::Latin2 => "LATIN2",
            PgEncoding::Latin3 => "LATIN3",
            PgEncoding::Latin4 => "LATIN4",
            PgEncoding::Latin5 => "LATIN5",
            PgEncoding::Latin6 => "LATIN6",
            PgEncoding::Latin7 => "LATIN7",
            PgEncoding::Latin8 => "LATIN8",
            PgEncoding::Latin9 => "LATIN9",
            PgEncoding::Latin10 => "LATIN10",
            PgEncoding::Win1256 => "WIN1256",
            PgEncoding::Win1258 => "WIN1258",
            PgEncoding::Win866 => "WIN866",
            PgEncoding::Win874 => "WIN874",
            PgEncoding::Koi8R => "KOI8R",
            PgEncoding::Win1251 => "WIN1251",
            PgEncoding::Win1252 => "WIN1252",
            PgEncoding::Iso8859_5 => "ISO_8859_5",
            PgEncoding::Iso8859_6 => "ISO_8859_6",
            PgEncoding::Iso8859_7 => "ISO_8859_7",
            PgEncoding::Iso8859_8 => "ISO_8859_8",
            PgEncoding::Win1250 => "WIN1250",
            PgEncoding::Win1253 => "WIN1253",
            PgEncoding::Win1254 => "WIN1254",
            PgEncoding::Win1255 => "WIN1255",
            PgEncoding::Win1257 => "WIN1257",
            PgEncoding::Koi8U => "KOI8U",
            PgEncoding::Sjis => "SJIS",
            PgEncoding::Big5 => "BIG5",
            PgEncoding::Gbk => "GBK",
            PgEncoding::Uhc => "UHC",
            PgEncoding::Gb18030 => "GB18030",
            PgEncoding::Johab => "JOHAB",
            PgEncoding::ShiftJis2004 => "SHIFT_JIS_2004",
        }
    }

    /// Whether a database can use this encoding (`PG_VALID_BE_ENCODING`). The others are
    /// client-only: SJIS, BIG5, GBK, UHC, GB18030, JOHAB and SHIFT_JIS_2004.
    pub fn is_server_encoding(self) -> bool {
        !matches!(
            self,
            PgEncoding::Sjis
                | PgEncoding::Big5
                | PgEncoding::Gbk
                | PgEncoding::Uhc
                | PgEncoding::Gb18030
                | PgEncoding::Johab
                | PgEncoding::ShiftJis2004
        )
    }

    /// Whether a byte below 0x80 can be part of a multi-byte character: in SJIS `0x95 0x5C` is
    /// one character whose second byte is a backslash, and BIG5, GBK, UHC, GB18030, JOHAB and
    /// SHIFT_JIS_2004 allow the same. Text in these "ASCII-unsafe" encodings must never be
    /// read byte by byte as ASCII. They are exactly the client-only encodings: PostgreSQL
    /// refuses them as database encodings for this reason. (JOHAB is defined with such
    /// trailing bytes although the server's own check of JOHAB text rejects them.)
    pub fn is_ascii_unsafe(self) -> bool {
        !self.is_server_encoding()
    }
}

impl fmt::Display for PgEncoding {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn official_names_name_their_encoding() {
        for encoding in PgEncoding::ALL {
            assert_eq!(PgEncoding::from_name(encoding.name()), Some(encoding));
            assert_eq!(
                PgEncoding::from_name(&encoding.name().to_lowercase()),
                Some(encoding)
            );
        }
    }

    #[test]
    fn every_alias_of_the_servers_table() {
        let aliases: &[(&str, &[&str])] = &[
            ("SQL_ASCII", &["sqlascii", "SQL-ASCII"]),
            ("EUC_JP", &["eucjp", "EUC-JP"]),
            ("EUC_CN", &["euccn", "EUC-CN"]),
            ("EUC_KR", &["euckr"]),
            ("EUC_TW", &["euctw"]),
            ("EUC_JIS_2004", &["eucjis2004", "EUC-JIS-2004"]),
            ("UTF8", &["utf8", "UTF-8", "utf_8", "unicode", "Unicode"]),
            ("MULE_INTERNAL", &["muleinternal"]),
            (
                "LATIN1",
                &["latin1", "iso88591", "ISO-8859-1", "iso_8859_1"],
            ),
            ("LATIN2", &["latin2", "iso88592"]),
            ("LATIN3", &["latin3", "iso88593"]),
            ("LATIN4", &["latin4", "iso88594"]),
            ("LATIN5", &["latin5", "iso88599"]),
            ("LATIN6", &["latin6", "iso885910"]),
            ("LATIN7", &["latin7", "iso885913"]),
            ("LATIN8", &["latin8", "iso885914"]),
            ("LATIN9", &["latin9", "Latin-9", "iso885915", "ISO-8859-15"]),
            ("LATIN10", &["latin10", "iso885916"]),
            ("WIN1256", &["win1256", "windows1256"]),
            (
                "WIN1258",
                &[
                    "win1258",
                    "windows-1258",
                    "abc",
                    "tcvn",
                    "TCVN5712",
                    "vscii",
                ],
            ),
            ("WIN866", &["win866", "windows866", "alt"]),
            ("WIN874", &["win874", "windows874"]),
            ("KOI8R", &["koi8r", "KOI8-R", "koi8"]),
            ("WIN1251", &["win1251", "windows-1251", "win"]),
            ("WIN1252", &["win1252", "Windows-1252", "WINDOWS1252"]),
            ("ISO_8859_5", &["iso88595"]),
            ("ISO_8859_6", &["iso88596"]),
            ("ISO_8859_7", &["iso88597"]),
            ("ISO_8859_8", &["iso88598"]),
            ("WIN1250", &["win1250", "windows1250"]),
            ("WIN1253", &["win1253", "windows1253"]),
            ("WIN1254", &["win1254", "windows1254"]),
            ("WIN1255", &["win1255", "windows1255"]),
            ("WIN1257", &["win1257", "windows1257"]),
            ("KOI8U", &["koi8u", "KOI8-U"]),
            (
                "SJIS",
                &[
                    "sjis",
                    "shiftjis",
                    "Shift_JIS",
                    "mskanji",
                    "win932",
                    "windows932",
                ],
            ),
            ("BIG5", &["big5", "Big-5", "win950", "windows950"]),
            ("GBK", &["gbk", "win936", "windows936"]),
            ("UHC", &["uhc", "win949", "windows949"]),
            ("GB18030", &["gb18030", "GB-18030"]),
            ("JOHAB", &["johab"]),
            ("SHIFT_JIS_2004", &["shiftjis2004", "Shift_JIS-2004"]),
        ];
        assert_eq!(aliases.len(), PgEncoding::ALL.len());
        for (official, names) in aliases {
            for name in *names {
                assert_eq!(
                    PgEncoding::from_name(name).map(PgEncoding::name),
                    Some(*official),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn names_the_server_does_not_know() {
        // Not in the server's table, though other software knows them.
        for name in [
            "", "cp936", "cp949", "cp1252", "utf", "ascii", "latin", "euc", "é",
        ] {
            assert_eq!(PgEncoding::from_name(name), None, "{name}");
        }
        let padded = format!("utf8{}", "-".repeat(60));
        assert_eq!(PgEncoding::from_name(&padded), None);
        assert_eq!(PgEncoding::from_name(&padded[..63]), Some(PgEncoding::Utf8));
    }

    #[test]
    fn the_ascii_unsafe_encodings_are_the_client_only_ones() {
        let unsafe_names: Vec<&str> = PgEncoding::ALL
            .into_iter()
            .filter(|encoding| encoding.is_ascii_unsafe())
            .map(PgEncoding::name)
            .collect();
        assert_eq!(
            unsafe_names,
            [
                "SJIS",
                "BIG5",
                "GBK",
                "UHC",
                "GB18030",
                "JOHAB",
                "SHIFT_JIS_2004"
            ]
        );
    }
}
