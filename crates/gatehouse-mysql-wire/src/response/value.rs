//! The values of the binary protocol (rows of prepared statements and execute parameters), and
//! the text an audit records for each.

/// A value of the binary protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Strings, decimals, bits, enums, sets, JSON and geometry, as sent.
    Bytes(Vec<u8>),
    /// DATE, DATETIME and TIMESTAMP.
    Date {
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
    },
    /// TIME: a signed duration.
    Time {
        negative: bool,
        days: u32,
        hours: u8,
        minutes: u8,
        seconds: u8,
        micros: u32,
    },
}

impl Value {
    /// The value as text (what is audited): `None` for NULL, bytes as lossy UTF-8, dates as
    /// `YYYY-MM-DD[ HH:MM:SS[.ffffff]]`, times as `[-]H:MM:SS[.ffffff]` in hours.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Self::Null => return None,
            Self::Int(value) => value.to_string(),
            Self::UInt(value) => value.to_string(),
            Self::Float(value) => value.to_string(),
            Self::Double(value) => value.to_string(),
            Self::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Self::Date {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            } => {
                let date = format!("{year:04}-{month:02}-{day:02}");
                if (hour, minute, second, micros) == (&0, &0, &0, &0) {
                    date
                } else {
                    format!(
                        "{date} {hour:02}:{minute:02}:{second:02}{}",
                        fraction(*micros)
                    )
                }
            }
            Self::Time {
                negative,
                days,
                hours,
                minutes,
                seconds,
                micros,
            } => {
                let sign = if *negative { "-" } else { "" };
                let hours = u64::from(*days) * 24 + u64::from(*hours);
                format!(
                    "{sign}{hours:02}:{minutes:02}:{seconds:02}{}",
                    fraction(*micros)
                )
            }
        })
    }
}

fn fraction(micros: u32) -> String {
    if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn text_forms() {
        assert_eq!(Value::Null.to_text(), None);
        assert_eq!(Value::Int(-5).to_text().as_deref(), Some("-5"));
        assert_eq!(Value::Double(1.5).to_text().as_deref(), Some("1.5"));
        assert_eq!(
            Value::Bytes(b"caf\xc3\xa9".to_vec()).to_text().as_deref(),
            Some("café")
        );
    }
}
