//! The connection's credential never reaches the client: a target that echoes it — an error
//! page quoting the request's headers, a debug endpoint — has every occurrence replaced as the
//! answer streams, across chunk boundaries (the last `longest secret - 1` bytes are held until
//! the next chunk shows whether they start one). Secrets shorter than [`MIN_SCRUBBED`] bytes
//! cannot be told apart from ordinary text and are not looked for (a connection's password
//! should not be that short).

use gatehouse_http::body::BoxError;
use gatehouse_http::transformed::ChunkTransform;

/// What an echoed credential becomes.
pub const SCRUBBED_HEADER: &str = "[gatehouse:credential]";
const SCRUBBED: &[u8] = SCRUBBED_HEADER.as_bytes();

/// Secrets shorter than this are not looked for.
pub const MIN_SCRUBBED: usize = 8;

/// Replaces the connection's secrets in a stream.
pub struct Scrubber {
    secrets: Vec<Vec<u8>>,
    held: Vec<u8>,
    /// Bytes to hold back: the longest secret's length minus one.
    keep: usize,
}

impl Scrubber {
    /// `None` when there is nothing long enough to look for.
    pub fn new(secrets: &[Vec<u8>]) -> Option<Scrubber> {
        let secrets: Vec<Vec<u8>> = secrets
            .iter()
            .filter(|secret| secret.len() >= MIN_SCRUBBED)
            .cloned()
            .collect();
        let longest = secrets.iter().map(Vec::len).max()?;
        Some(Scrubber {
            secrets,
            held: Vec::new(),
            keep: longest - 1,
        })
    }

    /// `text` with every secret replaced.
    pub fn scrub(&self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        let mut at = 0;
        while at < text.len() {
            let rest = text.get(at..).unwrap_or_default();
            if let Some(secret) = self.secrets.iter().find(|s| rest.starts_with(s)) {
                out.extend_from_slice(SCRUBBED);
                at += secret.len();
            } else {
                out.extend_from_slice(rest.get(..1).unwrap_or_default());
                at += 1;
            }
        }
        out
    }

    /// Whether `text` holds a secret.
    pub fn finds_in(&self, text: &[u8]) -> bool {
        self.secrets.iter().any(|secret| {
            text.windows(secret.len())
                .any(|window| window == secret.as_slice())
        })
    }
}

impl ChunkTransform for Scrubber {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, BoxError> {
        self.held.extend_from_slice(chunk);
        // Hold back a tail that may be the start of a secret the next chunk completes.
        let tail = self.held.split_off(self.safe_prefix());
        let out = self.scrub(&self.held);
        self.held = tail;
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<u8>, BoxError> {
        let held = std::mem::take(&mut self.held);
        Ok(self.scrub(&held))
    }
}

impl Scrubber {
    /// How much of what is held can be scrubbed and sent now: everything but the longest tail
    /// that may be the start of a secret (so a stream that carries none is never held back),
    /// moved back past any whole secret that straddles the cut.
    fn safe_prefix(&self) -> usize {
        let len = self.held.len();
        let mut cut = (len.saturating_sub(self.keep)..len)
            .find(|&start| {
                let tail = self.held.get(start..).unwrap_or_default();
                self.secrets.iter().any(|secret| secret.starts_with(tail))
            })
            .unwrap_or(len);
        for start in cut.saturating_sub(self.keep)..cut {
            let rest = self.held.get(start..).unwrap_or_default();
            if self
                .secrets
                .iter()
                .any(|secret| rest.starts_with(secret) && start + secret.len() > cut)
            {
                cut = start;
                break;
            }
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scrub_in_chunks(secret: &str, text: &str, size: usize) -> String {
        let mut scrubber = Scrubber::new(&[secret.as_bytes().to_vec()]).unwrap();
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(size) {
            out.extend(scrubber.push(chunk).unwrap());
        }
        out.extend(scrubber.finish().unwrap());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_echoed_secret_is_replaced_however_the_answer_is_chunked() {
        let text = "error: header Authorization: Bearer s3cr3t-t0ken was refused; s3cr3t-t0ken";
        let want = "error: header Authorization: Bearer [gatehouse:credential] was refused; [gatehouse:credential]";
        for size in 1..=text.len() {
            assert_eq!(
                scrub_in_chunks("s3cr3t-t0ken", text, size),
                want,
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn a_chunk_that_cannot_begin_a_secret_is_passed_on_whole() {
        let mut scrubber = Scrubber::new(&[b"s3cr3t-t0ken".to_vec()]).unwrap();
        assert_eq!(
            scrubber.push(b"data: first event\n\n").unwrap(),
            b"data: first event\n\n"
        );
        assert_eq!(scrubber.push(b"token s3cr").unwrap(), b"token ");
        assert_eq!(
            scrubber.push(b"3t-t0ken!").unwrap(),
            b"[gatehouse:credential]!"
        );
    }

    #[test]
    fn short_secrets_are_not_looked_for() {
        assert!(Scrubber::new(&[b"guest".to_vec()]).is_none());
    }

    #[test]
    fn text_without_the_secret_passes_unchanged() {
        let text = "s3cr3t-t0kex and s3cr3t-t0k";
        assert_eq!(scrub_in_chunks("s3cr3t-t0ken", text, 5), text);
    }
}
