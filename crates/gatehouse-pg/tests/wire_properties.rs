//! Properties of the wire decoders over arbitrary bytes from a hostile peer: they never
//! panic, never hand out a frame larger than the limit, and frames they accept re-encode to
//! exactly the bytes that were read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_pg::wire::{self, FrameReader};
use proptest::prelude::*;

const LIMIT: usize = 4096;

fn read_all(bytes: &[u8]) -> (Vec<wire::Frame>, bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut reader = FrameReader::new(bytes, LIMIT, "client");
        let mut frames = Vec::new();
        loop {
            match reader.next().await {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => return (frames, true),
                Err(_) => return (frames, false),
            }
        }
    })
}

/// A well-formed message: tag and body, with a correct length.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(tag, body)| {
        let mut out = vec![tag];
        out.extend(u32::try_from(body.len() + 4).unwrap().to_be_bytes());
        out.extend(body);
        out
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_frames_stay_within_the_limit(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let (frames, _) = read_all(&bytes);
        let mut consumed = Vec::new();
        for frame in &frames {
            prop_assert!(frame.raw.len() <= LIMIT);
            consumed.extend_from_slice(&frame.raw);
        }
        prop_assert_eq!(&bytes[..consumed.len()], &consumed[..]);
    }

    #[test]
    fn well_formed_streams_decode_to_exactly_their_messages(messages in proptest::collection::vec(message(), 0..20)) {
        let stream: Vec<u8> = messages.concat();
        let (frames, clean) = read_all(&stream);
        prop_assert!(clean);
        prop_assert_eq!(frames.len(), messages.len());
        for (frame, message) in frames.iter().zip(&messages) {
            prop_assert_eq!(&frame.raw[..], &message[..]);
        }
    }

    #[test]
    fn body_decoders_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = wire::parse_message(&body);
        let _ = wire::bind_message(&body);
        let _ = wire::execute_message(&body);
        let _ = wire::target_message(&body, "Close");
        let _ = wire::query_message(&body);
        let _ = wire::startup_parameters(&body);
        let _ = wire::error_fields(&body);
    }

    #[test]
    fn truncating_a_stream_is_an_error_not_a_short_frame(message in message(), cut in 1usize..5) {
        let cut = cut.min(message.len());
        let truncated = &message[..message.len() - cut];
        let (frames, clean) = read_all(truncated);
        prop_assert!(frames.is_empty());
        prop_assert_eq!(clean, truncated.is_empty());
    }
}
