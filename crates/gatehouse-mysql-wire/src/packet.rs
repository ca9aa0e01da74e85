//! Packet framing: every message is cut into packets of at most 0xFFFFFF payload bytes behind a
//! 3-byte length and a 1-byte sequence id. The reader reassembles logical messages from a
//! byte stream that arrives in arbitrary pieces and refuses an oversized message as soon as its
//! declared lengths say so, before buffering it.

use crate::WireError;

/// The largest payload one packet carries; a packet this full is continued by the next one.
pub const MAX_PACKET_PAYLOAD: usize = 0xFF_FFFF;

const HEADER_LEN: usize = 4;

/// One logical message: the payloads of its packets joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The sequence id of its first packet.
    pub first_sequence: u8,
    /// The sequence id of its last packet (the next message's first is one more, wrapping).
    pub last_sequence: u8,
    pub payload: Vec<u8>,
}

/// Reassembles messages from the bytes of a stream.
#[derive(Debug)]
pub struct PacketReader {
    max_message: usize,
    buffer: Vec<u8>,
}

/// Where the packets of the first complete message in a buffer are.
struct Frames {
    first_sequence: u8,
    last_sequence: u8,
    /// (start, end) of each packet's payload in the buffer.
    payloads: Vec<(usize, usize)>,
    /// The bytes the message takes in the buffer, headers included.
    consumed: usize,
}

impl PacketReader {
    /// A reader refusing messages of more than `max_message` payload bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            buffer: Vec::new(),
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes pushed and not yet returned in a message.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete message, `None` if more bytes are needed. `Oversized` as soon as the
    /// packet headers seen declare more than the limit; `Sequence` if a continuation packet's
    /// sequence id does not follow its predecessor's.
    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        let Some(frames) = self.locate()? else {
            return Ok(None);
        };
        let size = frames.payloads.iter().map(|(start, end)| end - start).sum();
        let mut payload = Vec::with_capacity(size);
        for &(start, end) in &frames.payloads {
            payload.extend_from_slice(self.buffer.get(start..end).unwrap_or_default());
        }
        self.buffer.drain(..frames.consumed.min(self.buffer.len()));
        Ok(Some(Message {
            first_sequence: frames.first_sequence,
            last_sequence: frames.last_sequence,
            payload,
        }))
    }

    fn locate(&self) -> Result<Option<Frames>, WireError> {
        let mut offset = 0usize;
        let mut declared = 0usize;
        let mut payloads = Vec::new();
        let mut first_sequence = None;
        let mut last_sequence = 0u8;
        loop {
            let Some(&[a, b, c, sequence]) = self.buffer.get(offset..offset + HEADER_LEN) else {
                return Ok(None);
            };
            match first_sequence {
                None => first_sequence = Some(sequence),
                Some(_) => {
                    let expected = last_sequence.wrapping_add(1);
                    if sequence != expected {
                        return Err(WireError::Sequence {
                            expected,
                            got: sequence,
                        });
                    }
                }
            }
            last_sequence = sequence;
            let len = u32::from_le_bytes([a, b, c, 0]) as usize;
            declared += len;
            if declared > self.max_message {
                return Err(WireError::Oversized {
                    size: declared,
                    limit: self.max_message,
                });
            }
            let start = offset + HEADER_LEN;
            let end = start + len;
            if self.buffer.len() < end {
                return Ok(None);
            }
            payloads.push((start, end));
            offset = end;
            if len < MAX_PACKET_PAYLOAD {
                return Ok(Some(Frames {
                    first_sequence: first_sequence.unwrap_or(sequence),
                    last_sequence,
                    payloads,
                    consumed: offset,
                }));
            }
        }
    }
}

/// Appends `payload` as packets numbered from `first_sequence` (a payload that is a multiple
/// of 0xFFFFFF bytes, empty included, ends with an empty packet) and returns the sequence id
/// the next message continues with, wrapping after 255.
pub fn write_message(out: &mut Vec<u8>, first_sequence: u8, payload: &[u8]) -> u8 {
    let mut sequence = first_sequence;
    let mut rest = payload;
    loop {
        let len = rest.len().min(MAX_PACKET_PAYLOAD);
        let (chunk, tail) = rest.split_at_checked(len).unwrap_or((rest, &[]));
        out.extend_from_slice((len as u32).to_le_bytes().get(..3).unwrap_or_default());
        out.push(sequence);
        out.extend_from_slice(chunk);
        sequence = sequence.wrapping_add(1);
        rest = tail;
        if len < MAX_PACKET_PAYLOAD {
            return sequence;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn read_all(reader: &mut PacketReader) -> Vec<Message> {
        let mut messages = Vec::new();
        while let Some(message) = reader.next_message().unwrap() {
            messages.push(message);
        }
        messages
    }

    #[test]
    fn small_messages_one_byte_at_a_time() {
        let mut stream = Vec::new();
        let next = write_message(&mut stream, 0, b"hello");
        assert_eq!(next, 1);
        assert_eq!(write_message(&mut stream, next, b""), 2);
        let mut reader = PacketReader::new(1024);
        let mut messages = Vec::new();
        for byte in &stream {
            reader.push(std::slice::from_ref(byte));
            messages.extend(read_all(&mut reader));
        }
        assert_eq!(
            messages,
            vec![
                Message {
                    first_sequence: 0,
                    last_sequence: 0,
                    payload: b"hello".to_vec()
                },
                Message {
                    first_sequence: 1,
                    last_sequence: 1,
                    payload: Vec::new()
                },
            ]
        );
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn reassembly_across_the_packet_boundary() {
        for size in [
            MAX_PACKET_PAYLOAD - 1,
            MAX_PACKET_PAYLOAD,
            MAX_PACKET_PAYLOAD + 1,
            2 * MAX_PACKET_PAYLOAD,
        ] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut stream = Vec::new();
            let next = write_message(&mut stream, 7, &payload);
            let packets = size / MAX_PACKET_PAYLOAD + 1;
            assert_eq!(next, 7 + packets as u8, "size {size}");
            assert_eq!(stream.len(), size + 4 * packets);
            let mut reader = PacketReader::new(2 * MAX_PACKET_PAYLOAD);
            for piece in stream.chunks(1 << 20) {
                reader.push(piece);
            }
            let messages = read_all(&mut reader);
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].first_sequence, 7);
            assert_eq!(messages[0].last_sequence, next - 1);
            assert!(messages[0].payload == payload, "size {size}");
        }
    }

    #[test]
    fn sequence_ids_wrap_after_255() {
        let payload = vec![1u8; MAX_PACKET_PAYLOAD + 5];
        let mut stream = Vec::new();
        assert_eq!(write_message(&mut stream, 255, &payload), 1);
        let mut reader = PacketReader::new(usize::MAX);
        reader.push(&stream);
        let message = reader.next_message().unwrap().unwrap();
        assert_eq!((message.first_sequence, message.last_sequence), (255, 0));
        let mut stream = Vec::new();
        assert_eq!(write_message(&mut stream, 255, b"x"), 0);
    }

    #[test]
    fn a_continuation_out_of_sequence_is_refused() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&[0xFF, 0xFF, 0xFF, 3]);
        stream.extend(std::iter::repeat_n(0u8, MAX_PACKET_PAYLOAD));
        stream.extend_from_slice(&[0, 0, 0, 5]);
        let mut reader = PacketReader::new(usize::MAX);
        reader.push(&stream);
        assert_eq!(
            reader.next_message(),
            Err(WireError::Sequence {
                expected: 4,
                got: 5
            })
        );
    }

    #[test]
    fn oversized_is_raised_from_the_header_alone() {
        let mut reader = PacketReader::new(100);
        reader.push(&[101, 0, 0, 0]);
        assert_eq!(
            reader.next_message(),
            Err(WireError::Oversized {
                size: 101,
                limit: 100
            })
        );
        let mut reader = PacketReader::new(MAX_PACKET_PAYLOAD + 10);
        reader.push(&[0xFF, 0xFF, 0xFF, 0]);
        assert_eq!(reader.next_message(), Ok(None));
        reader.push(&vec![0u8; MAX_PACKET_PAYLOAD]);
        reader.push(&[11, 0, 0, 1]);
        assert_eq!(
            reader.next_message(),
            Err(WireError::Oversized {
                size: MAX_PACKET_PAYLOAD + 11,
                limit: MAX_PACKET_PAYLOAD + 10
            })
        );
    }

    #[test]
    fn a_partial_header_or_body_waits_for_more() {
        let mut reader = PacketReader::new(100);
        reader.push(&[3, 0]);
        assert_eq!(reader.next_message(), Ok(None));
        reader.push(&[0, 0, b'a']);
        assert_eq!(reader.next_message(), Ok(None));
        reader.push(b"bc");
        assert_eq!(reader.next_message().unwrap().unwrap().payload, b"abc");
    }
}
