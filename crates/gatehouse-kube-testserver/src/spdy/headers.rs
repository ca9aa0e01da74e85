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
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

/// Names and values in the order the block carries them; a value holding several values
/// separated by NUL is split into one pair each.
pub type Headers = Vec<(String, String)>;

/// The inflate window: the deflate maximum, a power of two as a wrapping window must be.
const WINDOW: usize = 32 * 1024;

/// The receiving side's decompression context.
pub struct Inflater {
    state: Box<DecompressorOxide>,
    window: Vec<u8>,
    position: usize,
    /// The 2-byte zlib header (and 4-byte dictionary id) not yet read.
    header: Vec<u8>,
    header_done: bool,
}

impl Inflater {
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
    pub fn block(&mut self, compressed: &[u8]) -> Result<Headers, String> {
        let deflated = self.skip_zlib_header(compressed)?;
        let plain = self.inflate(deflated)?;
        decode(&plain)
    }

    /// The zlib header opens the first block only; it must name the SPDY dictionary if it
    /// names one.
    fn skip_zlib_header<'a>(&mut self, mut rest: &'a [u8]) -> Result<&'a [u8], String> {
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

    fn check_zlib_header(&self) -> Result<(), String> {
        let [cmf, flags, id @ ..] = self.header.as_slice() else {
            return Err("header block too short for a zlib header".into());
        };
        if cmf & 0x0f != 8 || (u16::from(*cmf) << 8 | u16::from(*flags)) % 31 != 0 {
            return Err("header block is not a zlib stream".into());
        }
        match <[u8; 4]>::try_from(id) {
            Ok(id) if u32::from_be_bytes(id) != dictionary::id() => Err(format!(
                "header block names dictionary {:#x}, not SPDY/3's",
                u32::from_be_bytes(id)
            )),
            _ => Ok(()),
        }
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, String> {
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
            self.position = end % WINDOW;
            input = input.get(read..).unwrap_or_default();
            match status {
                TINFLStatus::HasMoreOutput => {}
                TINFLStatus::NeedsMoreInput if input.is_empty() => return Ok(plain),
                TINFLStatus::NeedsMoreInput => {}
                TINFLStatus::Done => return Err("header compression stream ended".into()),
                failed => return Err(format!("header block does not inflate: {failed:?}")),
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

fn encode(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    let count = u32::try_from(headers.len()).unwrap_or_default();
    out.extend_from_slice(&count.to_be_bytes());
    for text in headers.iter().flat_map(|(name, value)| [name, value]) {
        let length = u32::try_from(text.len()).unwrap_or_default();
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out
}

fn decode(plain: &[u8]) -> Result<Headers, String> {
    let mut reader = Fields { rest: plain };
    let count = reader.word("the count")?;
    let mut headers = Headers::new();
    for _ in 0..count {
        let name = String::from_utf8_lossy(reader.field("a name")?).to_lowercase();
        let values = String::from_utf8_lossy(reader.field("a value")?).into_owned();
        for value in values.split('\0') {
            headers.push((name.clone(), value.to_owned()));
        }
    }
    Ok(headers)
}

/// The rest of a header block, read field by field.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn word(&mut self, what: &str) -> Result<u32, String> {
        let (word, tail) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or_else(|| format!("header block truncated in {what}"))?;
        self.rest = tail;
        Ok(u32::from_be_bytes(*word))
    }

    fn field(&mut self, what: &str) -> Result<&'a [u8], String> {
        let length = usize::try_from(self.word(what)?).unwrap_or(usize::MAX);
        let (field, tail) = self
            .rest
            .split_at_checked(length)
            .ok_or_else(|| format!("header block truncated in {what}"))?;
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
}
