//! Fuzz target: a PostgreSQL client's bytes, as the gateway's listener reads them.
//!
//! Input: byte 0 picks how many bytes each read returns (1..=64, so frames arrive split at
//! every point), byte 1 the message size limit (8..=8192); the rest is the stream. It goes
//! through the startup phase as `handshake::accept` reads it (SSLRequest, GSSENCRequest,
//! CancelRequest, StartupMessage with its parameters), then the password message, then every
//! regular message through the decoder the session uses for its type. The same bytes are also
//! handed to every body decoder directly.
//!
//! Checked: nothing panics or hangs; no frame exceeds the limit; a decoded frame is exactly the
//! bytes read (length header included); every decoded Parse/Bind/Execute/Describe/Close/Query
//! re-encodes (as the gateway re-encodes them with renamed objects) to exactly the body it was
//! decoded from, so what the server receives is what was classified.

use bytes::BytesMut;
use gatehouse_fuzz::{Chunked, block_on};
use gatehouse_pg::wire::tags::frontend;
use gatehouse_pg::wire::{self, BodyReader, FrameReader};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if data.len() < 2 {
            return;
        }
        let chunk = usize::from(data[0] % 64) + 1;
        let limit = 8 + usize::from(data[1]) * 32;
        let stream = &data[2..];
        decode_bodies(stream);
        block_on(session(stream, chunk, limit));
    });
}

async fn session(stream: &[u8], chunk: usize, limit: usize) {
    let mut reader = FrameReader::new(Chunked::new(stream, chunk), limit, "client");
    // Startup phase, as `handshake::accept`.
    loop {
        let frame = match reader.next_startup().await {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => return,
        };
        assert!(
            frame.body.len() + 8 <= limit,
            "startup frame over the limit"
        );
        match frame.code {
            wire::SSL_REQUEST_CODE | wire::GSSENC_REQUEST_CODE => continue,
            wire::CANCEL_REQUEST_CODE => {
                let mut body = BodyReader::new(&frame.body, "CancelRequest");
                let _ = (body.i32(), body.i32());
                return;
            }
            code if code >> 16 == 3 => {
                if let Ok(params) = wire::startup_parameters(&frame.body) {
                    let pairs: Vec<(&str, &str)> = params
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    // A startup message re-encodes to what was read (the gateway sends the
                    // client's allowed parameters on to the server this way).
                    let encoded = wire::startup_message(&pairs);
                    assert_eq!(&encoded[8..], &frame.body[..], "startup re-encoding");
                }
                break;
            }
            _ => return,
        }
    }
    // The password message, then the session's messages.
    let mut first = true;
    loop {
        let frame = match reader.next().await {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => return,
        };
        assert!(frame.raw.len() <= limit, "frame over the limit");
        assert!(frame.raw.len() >= 5, "frame shorter than its header");
        let declared = i32::from_be_bytes(frame.raw[1..5].try_into().unwrap_or_default());
        assert_eq!(usize::try_from(declared).ok(), Some(frame.raw.len() - 1));
        if first {
            first = false;
            if frame.tag == frontend::PASSWORD_MESSAGE {
                let _ = BodyReader::new(frame.body(), "PasswordMessage").cstr();
                continue;
            }
        }
        if !session_message(frame.tag, frame.body()) {
            return;
        }
        let _ = reader.has_buffered_frame();
    }
}

/// One message of a running session, decoded as `session::inbound` does; false ends it.
fn session_message(tag: u8, body: &[u8]) -> bool {
    match tag {
        frontend::QUERY => wire::query_message(body).is_ok(),
        frontend::PARSE => wire::parse_message(body).is_ok(),
        frontend::BIND => wire::bind_message(body).is_ok(),
        frontend::EXECUTE => wire::execute_message(body).is_ok(),
        frontend::DESCRIBE | frontend::CLOSE => wire::target_message(body, "Describe").is_ok(),
        frontend::SYNC
        | frontend::FLUSH
        | frontend::COPY_DATA
        | frontend::COPY_DONE
        | frontend::COPY_FAIL
        | frontend::FUNCTION_CALL => true,
        _ => false,
    }
}

/// Every decoder on the raw bytes, with the re-encoding checks.
fn decode_bodies(body: &[u8]) {
    let mut out = BytesMut::new();
    if let Ok(text) = wire::query_message(body) {
        assert_eq!([text, b"\0"].concat(), body, "Query text is the whole body");
    }
    if let Ok(parse) = wire::parse_message(body) {
        wire::parse(
            &mut out,
            parse.statement,
            parse.query,
            parse.parameter_types,
        );
        assert_eq!(&out[5..], body, "Parse re-encoding");
        out.clear();
    }
    if let Ok(bind) = wire::bind_message(body) {
        wire::bind(&mut out, bind.portal, bind.statement, bind.rest);
        assert_eq!(&out[5..], body, "Bind re-encoding");
        out.clear();
    }
    if let Ok((portal, max_rows)) = wire::execute_message(body) {
        wire::execute(&mut out, portal, max_rows);
        assert_eq!(&out[5..], body, "Execute re-encoding");
        out.clear();
    }
    for (tag, what) in [(frontend::DESCRIBE, "Describe"), (frontend::CLOSE, "Close")] {
        if let Ok((kind, name)) = wire::target_message(body, what) {
            wire::target(&mut out, tag, kind, name);
            assert_eq!(&out[5..], body, "{what} re-encoding");
            out.clear();
        }
    }
    let _ = wire::startup_parameters(body);
    let mut reader = BodyReader::new(body, "PasswordMessage");
    let _ = reader.cstr();
    let _ = reader.finish();
}
