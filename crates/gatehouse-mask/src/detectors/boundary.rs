//! Looking at the characters around a candidate match. The `regex` crate has no look-around, so
//! detectors check here that a match is not a slice of a longer word, number or dotted sequence.

/// The character just before byte offset `at`.
pub(super) fn before(text: &str, at: usize) -> Option<char> {
    text.get(..at)?.chars().next_back()
}

/// The character starting at byte offset `at`.
pub(super) fn after(text: &str, at: usize) -> Option<char> {
    text.get(at..)?.chars().next()
}

/// The character following the one at byte offset `at`.
pub(super) fn second_after(text: &str, at: usize) -> Option<char> {
    let mut rest = text.get(at..)?.chars();
    rest.next();
    rest.next()
}

/// Letters (any script), digits and `_`: characters that glue tokens together.
pub(super) fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether a match ending at `end` is cut out of something longer: a word character follows, or
/// one of `joiners` followed by a digit (`1.5`, `12-34`).
pub(super) fn continues_after(text: &str, end: usize, joiners: &[char]) -> bool {
    match after(text, end) {
        Some(c) if is_word(c) => true,
        Some(c) if joiners.contains(&c) => {
            second_after(text, end).is_some_and(|d| d.is_ascii_digit())
        }
        _ => false,
    }
}

/// The word just before `start`, skipping spaces and the punctuation that usually separates a
/// label from its value (`version: 1.2.3.4`, `ver. 2`).
pub(super) fn word_before(text: &str, start: usize) -> &str {
    let head = text.get(..start).unwrap_or_default();
    let head = head.trim_end_matches([' ', '\t', ':', '=', '.', '#']);
    let word_start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic())
        .last()
        .map_or(head.len(), |(i, _)| i);
    head.get(word_start..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours() {
        let text = "a 1.5 é";
        assert_eq!(before(text, 0), None);
        assert_eq!(before(text, 2), Some(' '));
        assert_eq!(after(text, 6), Some('é'));
        assert_eq!(second_after(text, 3), Some('5'));
        assert!(continues_after(text, 3, &['.']));
        assert!(!continues_after(text, 5, &['.']));
    }

    #[test]
    fn label_word() {
        assert_eq!(word_before("Version: 1.2.3.4", 9), "Version");
        assert_eq!(word_before("ver. 1.2", 5), "ver");
        assert_eq!(word_before("1.2", 0), "");
        assert_eq!(word_before("x 42 1.2", 5), "");
    }
}
