//! JSON numbers one byte at a time. A number has no closing delimiter: it ends at the first byte
//! that cannot continue it, which may arrive in a later chunk, or at the end of the input.

/// Where the scanner is in `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumScanner {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exponent,
    ExponentSign,
    ExponentDigits,
}

impl NumScanner {
    /// The scanner after a number's first byte, if `byte` can start one.
    pub(super) fn start(byte: u8) -> Option<Self> {
        match byte {
            b'-' => Some(NumScanner::Minus),
            b'0' => Some(NumScanner::Zero),
            b'1'..=b'9' => Some(NumScanner::Int),
            _ => None,
        }
    }

    /// Reads one byte: `Ok(true)` if it continues the number, `Ok(false)` if the number ended
    /// before it (the byte belongs to what follows), an error if the number stops incomplete.
    pub(super) fn byte(&mut self, byte: u8) -> Result<bool, &'static str> {
        let digit = byte.is_ascii_digit();
        let next = match (*self, byte) {
            (NumScanner::Minus, b'0') => NumScanner::Zero,
            (NumScanner::Minus, _) if digit => NumScanner::Int,
            (NumScanner::Int, _) if digit => NumScanner::Int,
            (NumScanner::Zero | NumScanner::Int, b'.') => NumScanner::Dot,
            (NumScanner::Dot | NumScanner::Frac, _) if digit => NumScanner::Frac,
            (NumScanner::Zero | NumScanner::Int | NumScanner::Frac, b'e' | b'E') => {
                NumScanner::Exponent
            }
            (NumScanner::Exponent, b'+' | b'-') => NumScanner::ExponentSign,
            (NumScanner::Exponent | NumScanner::ExponentSign | NumScanner::ExponentDigits, _)
                if digit =>
            {
                NumScanner::ExponentDigits
            }
            _ if self.complete() => return Ok(false),
            _ => return Err("an incomplete number"),
        };
        *self = next;
        Ok(true)
    }

    /// Whether the number read so far is a whole number, so it may end here.
    pub(super) fn complete(&self) -> bool {
        matches!(
            self,
            NumScanner::Zero | NumScanner::Int | NumScanner::Frac | NumScanner::ExponentDigits
        )
    }
}

#[cfg(test)]
mod tests {
    use super::NumScanner;

    /// How many bytes of `text` (followed by a space) the number takes, or the error.
    fn length(text: &str) -> Result<usize, &'static str> {
        let mut bytes = text.bytes().chain([b' ']);
        let mut scanner = bytes
            .next()
            .and_then(NumScanner::start)
            .ok_or("not a number")?;
        let mut taken = 1;
        for byte in bytes {
            if !scanner.byte(byte)? {
                return Ok(taken);
            }
            taken += 1;
        }
        Ok(taken)
    }

    #[test]
    fn numbers_end_where_json_says() {
        for number in [
            "0", "-0", "7", "-12", "3.25", "1e5", "1E+5", "-2.5e-10", "0.0",
        ] {
            assert_eq!(length(number), Ok(number.len()), "{number}");
        }
        assert_eq!(length("01"), Ok(1));
        assert_eq!(length("12,"), Ok(2));
        assert_eq!(length("1]"), Ok(1));
    }

    #[test]
    fn incomplete_numbers_are_errors() {
        for bad in ["-", "-a", "1.", "1.e5", "1e", "1e+", "-.5"] {
            assert!(length(bad).is_err(), "{bad}");
        }
        assert!(length(".5").is_err());
        assert!(length("+1").is_err());
    }
}
