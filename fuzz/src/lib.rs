//! Helpers shared by the fuzz targets in `src/bin/` (one AFL++ target per binary).
//!
//! Build and run them with `scripts/fuzz.sh`; a target also reads one input from stdin when
//! run directly, which is how a crash is reproduced:
//! `target/release/<target> < fuzz-out/<target>/default/crashes/<file>`.

pub mod tunnel;

use gatehouse_mask::{HashKey, MaskConfig, Masker};
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, ReadBuf};

/// Run a future whose I/O never waits (in-memory readers) to completion.
///
/// Panics if the future returns `Pending` many times in a row: with in-memory I/O that is a
/// hang, not a wait.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("an in-memory future kept returning Pending");
}

/// An in-memory stream that hands out at most `chunk` bytes per read, so framing sees
/// messages split at every possible point, as from a slow or adversarial peer.
pub struct Chunked<'a> {
    rest: &'a [u8],
    chunk: usize,
}

impl<'a> Chunked<'a> {
    pub fn new(bytes: &'a [u8], chunk: usize) -> Self {
        Chunked {
            rest: bytes,
            chunk: chunk.max(1),
        }
    }
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.rest.len().min(self.chunk).min(buf.remaining());
        let (now, later) = self.rest.split_at(n);
        buf.put_slice(now);
        self.rest = later;
        Poll::Ready(Ok(()))
    }
}

/// Split `data` at the first occurrence of `separator`: `(before, after)`.
pub fn split_once<'a>(data: &'a [u8], separator: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data
        .windows(separator.len())
        .position(|window| window == separator)
    {
        Some(at) => (&data[..at], &data[at + separator.len()..]),
        None => (data, &[]),
    }
}

/// CRC-32 (IEEE, the zlib one), as the recording format uses.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The masking configurations the masking targets use: every built-in detector with its
/// default strategy, the same with every strategy forced to each of `redact`, `hash` and
/// `partial`, and a configuration with column rules and custom detectors.
pub static MASKERS: LazyLock<Vec<Masker>> = LazyLock::new(|| {
    let default = MaskConfig::default();
    let mut configs = vec![default.clone()];
    let names: Vec<String> = Masker::new(&default, HashKey::new([7; 32]))
        .expect("the default masking configuration compiles")
        .detectors()
        .map(|(name, _)| name.to_owned())
        .collect();
    for strategy in ["\"redact\"", "\"hash\"", "{ partial = 4 }", "\"null\""] {
        let text: String = names
            .iter()
            .map(|name| format!("{name} = {strategy}\n"))
            .collect();
        configs.push(
            toml::from_str(&format!("[strategies]\n{text}")).expect("a strategies table parses"),
        );
    }
    configs.push(toml::from_str(RULES).expect("the rules configuration parses"));
    configs
        .iter()
        .map(|config| Masker::new(config, HashKey::new([7; 32])).expect("it compiles"))
        .collect()
});

/// Column rules (by name, `table.column`, glob and type) and custom detectors.
pub const RULES: &str = r#"
detectors = ["all"]
exempt_groups = ["admins"]

[[columns]]
name = "*password*"
strategy = "null"

[[columns]]
name = "users.ssn"
strategy = { partial = 4 }

[[columns]]
name = "*_token"
strategy = "hash"

[[columns]]
types = ["json*"]
strategy = "redact"

[[columns]]
name = "note?"
types = ["text", "varchar"]
strategy = "redact"

[strategies]
email = "redact"

[[custom]]
name = "order_ref"
pattern = "ORD-[0-9]{8}"

[[custom]]
name = "card_like"
pattern = "[0-9]{4}(?: [0-9]{4}){3}"
validator = "luhn"
strategy = { partial = 4 }

[[custom]]
name = "account"
pattern = "[A-Z]{2}[0-9]{2}[A-Z0-9]{12}"
validator = "mod97"
strategy = "hash"
"#;
