//! SPDY/3 header blocks: a count and length-prefixed names and values, zlib-compressed with
//! one compression context per direction for the whole connection.
//!
//! Inflating what kubectl sends needs the SPDY dictionary as a preset dictionary, which
//! `miniz_oxide` does not take; a raw inflater whose 32 KiB history window starts out holding
//! the dictionary is the same thing, since a preset dictionary is only history that was never
//! output. What this side sends is a zlib stream of stored (uncompressed) blocks, each header
//! block ending in a sync flush as Go's writer ends them: valid zlib that names no dictionary,
//! which Go's reader accepts, and nothing here needs it smaller.

use super::dictionary;
use crate::AttributionError;
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

/// Names (lowercased) and values in the order the block carries them; a value holding several
/// values separated by NUL is split into one pair each.
pub type Headers = Vec<(String, String)>;

/// The inflate window: the deflate maximum, a power of two as a wrapping window must be.
const WINDOW: usize = 32 * 1024;
/// The most one header block may inflate to: kubectl's are a few hundred bytes, and a block
/// that inflates further (a compression bomb) is refused before it is held.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// The receiving side's decompression context.
pub struct Inflater {
    state: Box<DecompressorOxide>,
    window: Vec<u8>,
    position: usize,
    /// The 2-byte zlib header (and 4-byte dictionary id) not yet read.
    header: Vec<u8>,
    header_done: bool,
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    /// A context at the start of a direction's zlib stream, its history holding the
    /// dictionary.
    pub fn new() -> Self {
        let dictionary = dictionary::bytes();
        let mut window = vec![0; WINDOW];
        if let Some(start) = window.get_mut(..dictionary.len()) {
            start.copy_from_slice(dictionary);
        }
        Self {
            state: Box::default(),
            window,
            position: dictionary.len(),
            header: Vec::new(),
            header_done: false,
        }
    }

    /// Inflate one frame's compressed block and parse the headers in it.
    pub fn block(&mut self, compressed: &[u8]) -> Result<Headers, AttributionError> {
        let deflated = self.skip_zlib_header(compressed)?;
        let plain = self.inflate(deflated)?;
        decode(&plain)
    }

    /// The zlib header opens the first block only; it must name the SPDY dictionary if it
    /// names one.
    fn skip_zlib_header<'a>(&mut self, mut rest: &'a [u8]) -> Result<&'a [u8], AttributionError> {
        while !self.header_done {
            let needed = match self.header.get(1) {
                Some(flags) if flags & 0x20 != 0 => 6,
                _ => 2,
            };
            if self.header.len() == needed {
                self.check_zlib_header()?;
                self.header_done = true;
                break;
            }
            let Some((&byte, tail)) = rest.split_first() else {
                break;
            };
            self.header.push(byte);
            rest = tail;
        }
        Ok(rest)
    }

    fn check_zlib_header(&self) -> Result<(), AttributionError> {
        let [cmf, flags, id @ ..] = self.header.as_slice() else {
            return Err(bad_block("it is too short for a zlib header"));
        };
        if cmf & 0x0f != 8 || (u16::from(*cmf) << 8 | u16::from(*flags)) % 31 != 0 {
            return Err(bad_block("it is not a zlib stream"));
        }
        match <[u8; 4]>::try_from(id) {
            Ok(id) if u32::from_be_bytes(id) != dictionary::id() => Err(bad_block(&format!(
                "it names dictionary {:#x}, not SPDY/3's",
                u32::from_be_bytes(id)
            ))),
            _ => Ok(()),
        }
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, AttributionError> {
        let mut plain = Vec::new();
        loop {
            let (status, read, written) = decompress(
                &mut self.state,
                input,
                &mut self.window,
                self.position,
                inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
            );
            let end = self.position + written;
            plain.extend_from_slice(self.window.get(self.position..end).unwrap_or_default());
            if plain.len() > MAX_HEADER_BLOCK {
                return Err(AttributionError::SpdyHeadersTooLarge(MAX_HEADER_BLOCK));
            }
            self.position = end % WINDOW;
            input = input.get(read..).unwrap_or_default();
            match status {
                TINFLStatus::HasMoreOutput => {}
                TINFLStatus::NeedsMoreInput if input.is_empty() => return Ok(plain),
                TINFLStatus::NeedsMoreInput if read == 0 && written == 0 => {
                    return Err(bad_block("it does not inflate"));
                }
                TINFLStatus::NeedsMoreInput => {}
                TINFLStatus::Done => return Err(bad_block("the compression stream ended")),
                failed => return Err(bad_block(&format!("it does not inflate ({failed:?})"))),
            }
        }
    }
}

/// The sending side's compression context: it only has to remember whether the zlib header
/// has gone out.
#[derive(Default)]
pub struct Deflater {
    started: bool,
}

impl Deflater {
    /// One header block, compressed as the next part of this direction's zlib stream.
    pub fn block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let plain = encode(headers);
        let mut out = Vec::with_capacity(plain.len() + 16);
        if !self.started {
            // CM 8 (deflate), 32 KiB window, no dictionary, fastest level.
            out.extend_from_slice(&[0x78, 0x01]);
            self.started = true;
        }
        for chunk in plain.chunks(usize::from(u16::MAX)) {
            let length = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
            // A stored block that is not the last: BFINAL 0, BTYPE 00, padded to the byte.
            out.push(0);
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&(!length).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // The empty stored block of a sync flush: Go's inflater hands over what it has only
        // when it reaches one (or the stream's end), so without it the block would wait for
        // the next frame's bytes and fail on the frame's end.
        out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
        out
    }
}

/// The plain block: names in order, the values of consecutive pairs with the same name joined
/// by NUL into one, as SPDY carries several values of a name (and as [`decode`] splits them).
fn encode(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut joined: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, value) in headers {
        match joined.last_mut() {
            Some((last, values)) if last == name => {
                values.push(0);
                values.extend_from_slice(value.as_bytes());
            }
            _ => joined.push((name, value.as_bytes().to_vec())),
        }
    }
    let mut out = Vec::new();
    let count = u32::try_from(joined.len()).unwrap_or_default();
    out.extend_from_slice(&count.to_be_bytes());
    for (name, value) in &joined {
        for text in [name.as_bytes(), value] {
            let length = u32::try_from(text.len()).unwrap_or_default();
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(text);
        }
    }
    out
}

fn decode(plain: &[u8]) -> Result<Headers, AttributionError> {
    let mut reader = Fields { rest: plain };
    let count = reader.word("the count")?;
    let mut headers = Headers::new();
    for _ in 0..count {
        let name = text(reader.field("a name")?)?.to_ascii_lowercase();
        let values = text(reader.field("a value")?)?;
        for value in values.split('\0') {
            headers.push((name.clone(), value.to_owned()));
        }
    }
    Ok(headers)
}

/// Header names and values are text; kubectl's are ASCII.
fn text(field: &[u8]) -> Result<String, AttributionError> {
    String::from_utf8(field.to_vec()).map_err(|_| bad_block("a name or value is not UTF-8"))
}

fn bad_block(why: &str) -> AttributionError {
    AttributionError::SpdyHeaderBlock(why.to_owned())
}

/// The value of the first header `name` (lowercase, as blocks are read).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The rest of a header block, read field by field.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn word(&mut self, what: &str) -> Result<u32, AttributionError> {
        let (word, tail) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad_block(&format!("it is truncated in {what}")))?;
        self.rest = tail;
        Ok(u32::from_be_bytes(*word))
    }

    fn field(&mut self, what: &str) -> Result<&'a [u8], AttributionError> {
        let length = usize::try_from(self.word(what)?).unwrap_or(usize::MAX);
        let (field, tail) = self
            .rest
            .split_at_checked(length)
            .ok_or_else(|| bad_block(&format!("it is truncated in {what}")))?;
        self.rest = tail;
        Ok(field)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn pairs(headers: &[(&str, &str)]) -> Headers {
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Two blocks as Python's zlib wrote them with the SPDY dictionary and a sync flush after
    /// each, as Go's writer does: the second reaches back into the first and the dictionary.
    #[test]
    fn inflates_blocks_compressed_against_the_dictionary() {
        let mut inflater = Inflater::new();
        let first = hex("78f9e3c6a7c202e50e703a2b294a4dcc851625aca9a080c652c670211c07000000ffff");
        assert_eq!(
            inflater.block(&first).unwrap(),
            pairs(&[("streamtype", "error"), ("content-type", "text/plain")])
        );
        let second = hex("c2aa1198d453f2c12538b0402f02d31606160600000000ffff");
        assert_eq!(
            inflater.block(&second).unwrap(),
            pairs(&[("streamtype", "stdout"), ("port", "8080")])
        );
    }

    #[test]
    fn deflated_blocks_inflate_and_split_values() {
        let mut deflater = Deflater::default();
        let mut stream = deflater.block(&[("a", "1\u{0}2")]);
        stream.extend(deflater.block(&[]));
        // A stored-block stream inflates without the dictionary, as Go's reader will.
        let mut plain = Vec::new();
        let mut state = DecompressorOxide::new();
        let mut window = vec![0; WINDOW];
        let (_, _, written) = decompress(
            &mut state,
            stream.get(2..).unwrap(),
            &mut window,
            0,
            inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
        );
        plain.extend_from_slice(&window[..written]);
        assert_eq!(
            decode(&plain[..plain.len() - 4]).unwrap(),
            pairs(&[("a", "1"), ("a", "2")])
        );
        assert_eq!(decode(&plain[plain.len() - 4..]).unwrap(), Vec::new());
    }

    #[test]
    fn consecutive_values_of_a_name_travel_joined_by_nul() {
        let plain = encode(&[("a", "1"), ("a", "2"), ("b", "3")]);
        let mut expected = 2u32.to_be_bytes().to_vec();
        for field in [&b"a"[..], b"1\x002", b"b", b"3"] {
            expected.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
            expected.extend_from_slice(field);
        }
        assert_eq!(plain, expected);
        assert_eq!(
            decode(&plain).unwrap(),
            pairs(&[("a", "1"), ("a", "2"), ("b", "3")])
        );
    }

    #[test]
    fn a_block_inflating_beyond_the_limit_is_refused() {
        let big = "x".repeat(MAX_HEADER_BLOCK);
        let block = Deflater::default().block(&[("name", &big)]);
        assert_eq!(
            Inflater::new().block(&block),
            Err(AttributionError::SpdyHeadersTooLarge(MAX_HEADER_BLOCK))
        );
    }

    #[test]
    fn garbage_and_a_foreign_dictionary_are_refused() {
        assert!(Inflater::new().block(b"not zlib at all").is_err());
        // A zlib header naming dictionary 1.
        assert!(Inflater::new().block(&[0x78, 0xbb, 0, 0, 0, 1, 0]).is_err());
        // Valid zlib, but a block whose count promises more than it holds.
        let mut deflater = Deflater::default();
        let mut block = deflater.block(&[]);
        let length = block.len();
        block[length - 9] = 9;
        assert!(Inflater::new().block(&block).is_err());
    }
}
