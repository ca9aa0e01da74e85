//! Fuzz target: the bytes of one direction of a SPDY/3.1 connection (what kubectl or a
//! malicious client sends through the gateway on an exec, attach or port-forward) through
//! `gatehouse_k8s::spdy`: `FrameReader` cutting the stream into frames as it arrives in pieces,
//! `Frame::parse`, and every header block through one `Inflater` (one zlib stream across
//! frames, the SPDY dictionary as its history), as the gateway's SPDY tap reads them.
//!
//! Input: one byte for the piece size (1–256 bytes), one for the reader's payload limit (its
//! value × 64 bytes, 0 meaning the SPDY maximum), then the stream.
//!
//! Checked: nothing panics or hangs; a frame handed out is whole (its header's length plus 8)
//! and within the limit, and the frames handed out are exactly the stream's first bytes;
//! decoded headers have lowercase names and, compressed
//! again by `Deflater` (as the tap does for port-forward) and read back by a fresh
//! `Inflater`, are the same headers; a header block put back into its frame with
//! `with_header_block` parses to the same frame.

use gatehouse_k8s::spdy::{Deflater, Frame, FrameReader, Inflater, MAX_PAYLOAD, with_header_block};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let [piece, limit, stream @ ..] = data else {
            return;
        };
        let piece = usize::from(*piece) + 1;
        let limit = match usize::from(*limit) * 64 {
            0 => MAX_PAYLOAD,
            limit => limit,
        };
        let mut reader = FrameReader::new(limit);
        let mut inflater = Inflater::new();
        let mut handed_out = Vec::new();
        'pieces: for bytes in stream.chunks(piece) {
            reader.push(bytes);
            loop {
                let wire = match reader.next_frame() {
                    Ok(Some(wire)) => wire,
                    Ok(None) => break,
                    Err(_) => break 'pieces,
                };
                assert!(wire.len() >= 8 && wire.len() - 8 <= limit);
                let length = usize::from(wire[5]) << 16 | usize::from(wire[6]) << 8 | usize::from(wire[7]);
                assert_eq!(wire.len(), length + 8);
                handed_out.extend_from_slice(&wire);
                let Ok(frame) = Frame::parse(&wire) else {
                    break 'pieces;
                };
                let block = match frame {
                    Frame::SynStream { block, .. }
                    | Frame::SynReply { block, .. }
                    | Frame::Headers { block, .. } => block,
                    _ => continue,
                };
                let rewrapped = with_header_block(&wire, block).unwrap();
                assert_eq!(Frame::parse(&rewrapped).unwrap(), frame);
                let Ok(headers) = inflater.block(block) else {
                    break 'pieces;
                };
                assert!(headers.iter().all(|(name, _)| name.to_ascii_lowercase() == *name));
                let pairs: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let again = Inflater::new().block(&Deflater::default().block(&pairs));
                assert_eq!(again.as_ref(), Ok(&headers));
            }
        }
        assert!(stream.starts_with(&handed_out));
    });
}
