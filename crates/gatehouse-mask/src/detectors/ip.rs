//! `ipv4` and `ipv6` addresses.
//!
//! IPv4: four decimal octets 0–255 without leading zeros. Not taken when the dotted quad is part
//! of a longer dotted or dashed sequence (`1.2.3.4.5`, OIDs, `1.2.3.4-beta`), or when the word
//! before it says it is a version or a section number (`version 1.2.3.4`, `build 10.0.0.1`,
//! `section 1.2.3.4`): such numbers are far more often versions than addresses, while an
//! address is rarely introduced by those words.
//!
//! IPv6: whatever the standard library parses as an [`Ipv6Addr`], taken from runs of hex digits,
//! colons and (for an embedded IPv4 tail) dots. Not taken: `::` alone, and eight colon-separated
//! two-digit groups (MAC/EUI-64 addresses and fingerprints look exactly like that).

use super::Find;
use super::boundary::{after, before, continues_after, is_word, second_after, word_before};
use crate::scan::Hits;
use regex::Regex;
use std::net::Ipv6Addr;

const IPV4_PATTERN: &str = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}";
const IPV6_PATTERN: &str =
    r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})?";

/// Words that, right before a dotted quad, mark it as a version or a numbering.
const NOT_ADDRESS_LABELS: &[&str] = &[
    "version", "ver", "v", "release", "rel", "build", "firmware", "fw", "sdk", "section", "sec",
    "chapter", "clause", "rule", "step", "figure", "table", "item",
];

pub(super) fn ipv4() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(Ipv4 {
        regex: Regex::new(IPV4_PATTERN)?,
    }))
}

pub(super) fn ipv6() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(Ipv6 {
        regex: Regex::new(IPV6_PATTERN)?,
    }))
}

struct Ipv4 {
    regex: Regex,
}

impl Find for Ipv4 {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for candidate in self.regex.find_iter(text) {
            let (start, end) = (candidate.start(), candidate.end());
            let glued = |c: char| is_word(c) || c == '.';
            if before(text, start).is_some_and(glued)
                || continues_after(text, end, &['.'])
                || dashed_suffix(text, end)
                || !candidate.as_str().split('.').all(octet)
            {
                continue;
            }
            let label = word_before(text, start).to_ascii_lowercase();
            if !NOT_ADDRESS_LABELS.contains(&label.as_str()) {
                hits.add(start, end);
            }
        }
    }
}

/// `1.2.3.4-beta`, `1.2.3.4.rc1`: a version with a suffix.
fn dashed_suffix(text: &str, end: usize) -> bool {
    let mut rest = text.get(end..).unwrap_or_default().chars();
    matches!(rest.next(), Some('-' | '.' | '+')) && rest.next().is_some_and(char::is_alphabetic)
}

fn octet(part: &str) -> bool {
    let no_leading_zero = part.len() == 1 || !part.starts_with('0');
    no_leading_zero && part.parse::<u8>().is_ok()
}

struct Ipv6 {
    regex: Regex,
}

impl Find for Ipv6 {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for candidate in self.regex.find_iter(text) {
            let mut start = candidate.start();
            let mut address = candidate.as_str();
            // A colon of the surrounding text (`addr:…`, `…: refused`) may have been taken along.
            if address.starts_with(':')
                && !parses(address)
                && let Some(rest) = address.get(1..)
            {
                address = rest;
                start += 1;
            }
            if address.ends_with(':')
                && !parses(address)
                && let Some(rest) = address.get(..address.len() - 1)
            {
                address = rest;
            }
            let end = start + address.len();
            let glued = |c: char| is_word(c) || c == '.';
            // More groups follow than an address can have.
            let more_groups = after(text, end) == Some(':')
                && second_after(text, end).is_some_and(|c| c.is_ascii_hexdigit());
            if before(text, start).is_some_and(glued)
                || continues_after(text, end, &['.'])
                || more_groups
                || !plausible_ipv6(address)
            {
                continue;
            }
            hits.add(start, end);
        }
    }
}

fn parses(address: &str) -> bool {
    address.parse::<Ipv6Addr>().is_ok()
}

fn plausible_ipv6(address: &str) -> bool {
    if !parses(address) || !address.bytes().any(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let looks_like_mac =
        !address.contains("::") && address.split(':').all(|group| group.len() == 2);
    !looks_like_mac
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    #[test]
    fn ipv4_addresses_not_versions() {
        let ipv4 = |text| spans_of("ipv4", text);
        assert_eq!(ipv4("from 192.168.1.20:5432"), ["192.168.1.20"]);
        assert_eq!(ipv4("10.0.0.1/24"), ["10.0.0.1"]);
        assert_eq!(ipv4("host 8.8.8.8."), ["8.8.8.8"]);
        for text in [
            "version 1.2.3.4",
            "Version: 10.0.0.1",
            "v1.2.3.4",
            "1.2.3.4.5",
            "1.2.3.4-beta",
            "256.1.1.1",
            "01.02.03.04",
            "1.3.6.1.4.1.311",
        ] {
            assert!(ipv4(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn ipv6_addresses_not_times_or_paths() {
        let ipv6 = |text| spans_of("ipv6", text);
        assert_eq!(ipv6("[2001:db8::1]:443"), ["2001:db8::1"]);
        assert_eq!(
            ipv6("addr:fe80::1ff:fe23:4567:890a"),
            ["fe80::1ff:fe23:4567:890a"]
        );
        assert_eq!(ipv6("::ffff:192.0.2.1"), ["::ffff:192.0.2.1"]);
        assert_eq!(ipv6("loopback ::1."), ["::1"]);
        assert_eq!(ipv6("addr:::2"), ["::2"]);
        assert_eq!(ipv6("fe80::1: refused"), ["fe80::1"]);
        for text in [
            "10:30:45",
            "std::io::Read",
            "Foo::bar()",
            "00:1A:2B:3C:4D:5E:6F:70",
            "::",
            "2001:db8:::1",
            "2001:db8:0:0:0:0:0:0:1",
        ] {
            assert!(ipv6(text).is_empty(), "{text}");
        }
    }
}
