//! `private_key`: PEM private key blocks (`-----BEGIN RSA PRIVATE KEY-----` … `-----END RSA
//! PRIVATE KEY-----`, also `PRIVATE KEY`, `EC`, `DSA`, `OPENSSH`, `ENCRYPTED` and PGP
//! `PRIVATE KEY BLOCK`), from the BEGIN line through the END line. A block whose END line is
//! missing (a truncated value) is taken to the end of the text.

use super::Find;
use crate::scan::Hits;
use regex::Regex;

const BEGIN_PATTERN: &str = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----";
const END_PATTERN: &str = r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----";

pub(super) fn build() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(PrivateKey {
        begin: Regex::new(BEGIN_PATTERN)?,
        end: Regex::new(END_PATTERN)?,
    }))
}

struct PrivateKey {
    begin: Regex,
    end: Regex,
}

impl Find for PrivateKey {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        let mut from = 0;
        while let Some(begin) = self.begin.find_at(text, from) {
            let end = self
                .end
                .find_at(text, begin.end())
                .map_or(text.len(), |end| end.end());
            hits.add(begin.start(), end);
            from = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    #[test]
    fn whole_block_or_rest_of_text() {
        let block =
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
        assert_eq!(
            spans_of("private_key", &format!("key:\n{block}\nok")),
            [block]
        );
        let cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA";
        assert_eq!(spans_of("private_key", cut), [cut]);
        let public = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----";
        assert!(spans_of("private_key", public).is_empty());
    }
}
