//! Reading the SPDY/3.1 streams of an exec, attach or port-forward as they are relayed
//! (`gatehouse_k8s::spdy` reads the frames). The client opens one SPDY stream per channel; its
//! SYN_STREAM headers say which (`streamType`: stdin, stdout, stderr, error, resize; `port`
//! for port-forward's data and error streams). The client's header blocks form one zlib stream
//! across frames, so each direction keeps its own inflater.
//!
//! - exec and attach: stdin, stdout, stderr and resizes are recorded as the same terminal
//!   events the WebSocket tap records (`exec_tap.rs`), the error stream as the exec status.
//! - port-forward: each stream's port is decided before its SYN_STREAM goes on
//!   (`ports.rs`). Over plain SPDY a refused stream is answered with RST_STREAM
//!   (REFUSED_STREAM) towards the client and its frames are dropped, so the API server never
//!   sees it; since the API server's inflater would then miss part of the client's zlib
//!   stream, the tap compresses the headers it forwards itself (stored blocks, which every
//!   SPDY reader inflates). Inside WebSocket messages (kubectl 1.31 and later) frames cannot
//!   be injected without re-framing the messages, so a refused port ends the whole
//!   connection there, before the SYN_STREAM's last byte is forwarded.
//!
//! Frames are forwarded whole, so what the tap adds lands between frames. A frame the tap
//! cannot read ends the stream: nothing unrecorded or undecided passes.

use crate::ports::PortGate;
use crate::stream_record::StreamRecord;
use crate::websocket_frames;
use gatehouse_http::upgrade::{Direction, Observed, Passage, StreamTap};
use gatehouse_k8s::spdy::{self, Deflater, Frame, FrameReader, Headers, Inflater};
use gatehouse_recording::TerminalStream;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

/// The largest SPDY frame payload the tap reads (kubectl writes at most 32 KiB per frame).
const MAX_FRAME: usize = 1 << 20;

/// What a stream carries, from its `streamType` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Stdin,
    Stdout,
    Stderr,
    Error,
    Resize,
    /// A port-forward's data or error (their streams name a `port`), or a type this tap
    /// records nothing of.
    Other,
}

impl Channel {
    fn of(headers: &Headers) -> Channel {
        if spdy::header(headers, "port").is_some() {
            return Channel::Other;
        }
        match spdy::header(headers, "streamtype") {
            Some("stdin") => Channel::Stdin,
            Some("stdout") => Channel::Stdout,
            Some("stderr") => Channel::Stderr,
            Some("error") => Channel::Error,
            Some("resize") => Channel::Resize,
            _ => Channel::Other,
        }
    }
}

/// What becomes of one frame.
enum Verdict {
    /// Forwarded as it came.
    Pass,
    /// Forwarded as these bytes instead (its headers compressed by the tap).
    Replace(Vec<u8>),
    /// A stream the tap refused, answered with RST_STREAM; the frame is dropped.
    Refuse(u32),
    /// Dropped: it belongs to a refused stream.
    Drop,
}

/// One direction's reading state.
struct Reading {
    /// The WebSocket messages the SPDY frames travel in, when they do.
    websocket: Option<websocket_frames::FrameReader>,
    frames: FrameReader,
    inflater: Inflater,
    /// Compresses the header blocks the tap forwards itself (port-forward over plain SPDY).
    deflater: Deflater,
    /// Streams refused towards the client; their later frames are dropped.
    refused: HashSet<u32>,
}

/// Reads a SPDY exec, attach or port-forward as it is relayed.
pub struct SpdyTap {
    record: Option<StreamRecord>,
    ports: Option<Box<dyn PortGate>>,
    tunnelled: bool,
    /// What each stream the client opened carries.
    channels: Mutex<HashMap<u32, Channel>>,
    /// To the target, to the client; each is only ever read by its own direction's relay.
    readings: [tokio::sync::Mutex<Reading>; 2],
}

impl SpdyTap {
    /// `record`: where exec and attach streams are recorded; `ports`: a port-forward's per-port
    /// decisions; `tunnelled`: SPDY inside WebSocket binary messages.
    pub fn new(
        record: Option<StreamRecord>,
        ports: Option<Box<dyn PortGate>>,
        tunnelled: bool,
    ) -> Self {
        let reading = || {
            tokio::sync::Mutex::new(Reading {
                websocket: tunnelled.then(websocket_frames::FrameReader::default),
                frames: FrameReader::new(MAX_FRAME),
                inflater: Inflater::new(),
                deflater: Deflater::default(),
                refused: HashSet::new(),
            })
        };
        SpdyTap {
            record,
            ports,
            tunnelled,
            channels: Mutex::new(HashMap::new()),
            readings: [reading(), reading()],
        }
    }

    async fn pass(&self, direction: Direction, bytes: &[u8]) -> Result<Passage, String> {
        if let Some(record) = &self.record {
            record.count(direction, bytes.len());
        }
        let index = usize::from(direction == Direction::ToClient);
        let Some(reading) = self.readings.get(index) else {
            return Err("no such direction".to_owned());
        };
        let mut reading = reading.lock().await;
        if self.tunnelled {
            return self.pass_tunnelled(direction, &mut reading, bytes).await;
        }
        reading.frames.push(bytes);
        let mut onward = Vec::new();
        let mut back = Vec::new();
        while let Some(wire) = reading.frames.next_frame().map_err(|e| e.to_string())? {
            match self.frame(direction, &mut reading, &wire).await? {
                Verdict::Pass => onward.extend_from_slice(&wire),
                Verdict::Replace(bytes) => onward.extend(bytes),
                Verdict::Refuse(stream) => {
                    back.extend(spdy::rst_stream(stream, spdy::REFUSED_STREAM));
                }
                Verdict::Drop => {}
            }
        }
        Ok(Passage::Rewritten { onward, back })
    }

    /// SPDY inside WebSocket messages: the messages go on as they came, unless a stream in
    /// them is refused, which ends the relay. The target's side carries nothing the tap
    /// decides or records.
    async fn pass_tunnelled(
        &self,
        direction: Direction,
        reading: &mut Reading,
        bytes: &[u8],
    ) -> Result<Passage, String> {
        if direction == Direction::ToClient {
            return Ok(Passage::Unchanged);
        }
        let Some(websocket) = reading.websocket.as_mut() else {
            return Err("no WebSocket reader".to_owned());
        };
        let messages = websocket
            .frames(bytes)
            .map_err(|()| "not WebSocket framing".to_owned())?;
        for message in messages.iter().filter(|m| matches!(m.opcode, 0 | 2)) {
            reading.frames.push(&message.payload);
        }
        while let Some(wire) = reading.frames.next_frame().map_err(|e| e.to_string())? {
            if let Verdict::Refuse(_) = self.frame(direction, reading, &wire).await? {
                return Ok(Passage::End);
            }
        }
        Ok(Passage::Unchanged)
    }

    async fn frame(
        &self,
        direction: Direction,
        reading: &mut Reading,
        wire: &[u8],
    ) -> Result<Verdict, String> {
        let frame = Frame::parse(wire).map_err(|e| e.to_string())?;
        let rewrite_headers = self.ports.is_some() && !self.tunnelled;
        Ok(match (direction, frame) {
            (Direction::ToTarget, Frame::SynStream { stream, block, .. }) => {
                let headers = reading.inflater.block(block).map_err(|e| e.to_string())?;
                if let Some(ports) = &self.ports {
                    let port = spdy::header(&headers, "port")
                        .and_then(|port| port.parse::<u16>().ok())
                        .filter(|port| *port > 0);
                    let allowed = match port {
                        Some(port) => ports.allows(port).await,
                        None => false,
                    };
                    if !allowed {
                        reading.refused.insert(stream);
                        return Ok(Verdict::Refuse(stream));
                    }
                }
                self.channels
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(stream, Channel::of(&headers));
                if rewrite_headers {
                    Verdict::Replace(recompressed(reading, wire, &headers)?)
                } else {
                    Verdict::Pass
                }
            }
            (Direction::ToTarget, Frame::Headers { stream, block, .. }) => {
                let headers = reading.inflater.block(block).map_err(|e| e.to_string())?;
                if reading.refused.contains(&stream) {
                    Verdict::Drop
                } else if rewrite_headers {
                    Verdict::Replace(recompressed(reading, wire, &headers)?)
                } else {
                    Verdict::Pass
                }
            }
            (Direction::ToTarget, Frame::Data { stream, .. } | Frame::RstStream { stream, .. })
                if reading.refused.contains(&stream) =>
            {
                Verdict::Drop
            }
            (direction, Frame::Data { stream, data, .. }) => {
                self.record_data(direction, stream, data);
                Verdict::Pass
            }
            _ => Verdict::Pass,
        })
    }

    fn record_data(&self, direction: Direction, stream: u32, data: &[u8]) {
        let Some(record) = &self.record else {
            return;
        };
        let channel = self
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&stream)
            .copied();
        match (direction, channel) {
            (Direction::ToTarget, Some(Channel::Stdin)) => {
                record.terminal(TerminalStream::Input, data);
            }
            (Direction::ToTarget, Some(Channel::Resize)) => record.resizes(data),
            (Direction::ToClient, Some(Channel::Stdout)) => {
                record.terminal(TerminalStream::Output, data);
            }
            (Direction::ToClient, Some(Channel::Stderr)) => {
                record.terminal(TerminalStream::Error, data);
            }
            (Direction::ToClient, Some(Channel::Error)) if !data.is_empty() => record.status(data),
            _ => {}
        }
    }
}

/// `wire` with its headers compressed by this direction's own deflater.
fn recompressed(reading: &mut Reading, wire: &[u8], headers: &Headers) -> Result<Vec<u8>, String> {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    spdy::with_header_block(wire, &reading.deflater.block(&pairs)).map_err(|e| e.to_string())
}

impl StreamTap for SpdyTap {
    fn observe<'a>(&'a self, direction: Direction, bytes: &'a [u8]) -> Observed<'a> {
        Box::pin(async move {
            match self.pass(direction, bytes).await {
                Ok(passage) => passage,
                Err(why) => {
                    tracing::warn!(?direction, %why, "a SPDY stream could not be read; it was ended");
                    if let Some(record) = &self.record {
                        record.event(
                            "unreadable stream",
                            serde_json::json!({ "direction": format!("{direction:?}"), "why": why }),
                        );
                    }
                    Passage::End
                }
            }
        })
    }

    fn finished(&self, reason: &str) {
        if let Some(record) = &self.record {
            record.finished(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use std::future::Future;
    use std::pin::Pin;

    /// Allows port 8080 only, counting what it was asked.
    struct Only8080(std::sync::Mutex<Vec<u16>>);

    impl PortGate for Only8080 {
        fn allows(&self, port: u16) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
            self.0.lock().unwrap().push(port);
            Box::pin(std::future::ready(port == 8080))
        }
    }

    fn port_forward(tunnelled: bool) -> SpdyTap {
        let gate = Only8080(std::sync::Mutex::new(Vec::new()));
        SpdyTap::new(None, Some(Box::new(gate)), tunnelled)
    }

    /// A client's stream of frames: SYN_STREAMs for `ports` (stream 1, 3, ...), compressed
    /// as one zlib stream, then a data frame on each.
    fn client_streams(ports: &[&str]) -> Vec<u8> {
        let mut deflater = Deflater::default();
        let mut bytes = Vec::new();
        for (index, port) in ports.iter().enumerate() {
            let stream = u32::try_from(index * 2 + 1).unwrap();
            let block = deflater.block(&[("streamtype", "data"), ("port", port)]);
            bytes.extend(spdy::syn_stream(stream, false, &block));
        }
        for index in 0..ports.len() {
            let stream = u32::try_from(index * 2 + 1).unwrap();
            bytes.extend(spdy::data(stream, false, b"payload"));
        }
        bytes
    }

    async fn observe_in_pieces(tap: &SpdyTap, bytes: &[u8], piece: usize) -> (Vec<u8>, Vec<u8>) {
        let (mut onward, mut back) = (Vec::new(), Vec::new());
        for chunk in bytes.chunks(piece) {
            match tap.observe(Direction::ToTarget, chunk).await {
                Passage::Rewritten { onward: o, back: b } => {
                    onward.extend(o);
                    back.extend(b);
                }
                other => panic!("{other:?}"),
            }
        }
        (onward, back)
    }

    /// The frames in `bytes`, header blocks inflated with one context.
    fn read_all(bytes: &[u8]) -> Vec<String> {
        let mut reader = FrameReader::new(MAX_FRAME);
        reader.push(bytes);
        let mut inflater = Inflater::new();
        let mut seen = Vec::new();
        while let Some(wire) = reader.next_frame().unwrap() {
            seen.push(match Frame::parse(&wire).unwrap() {
                Frame::SynStream { stream, block, .. } => {
                    let headers = inflater.block(block).unwrap();
                    format!(
                        "open {stream} port {}",
                        spdy::header(&headers, "port").unwrap()
                    )
                }
                Frame::Data { stream, .. } => format!("data {stream}"),
                Frame::RstStream { stream, status } => format!("reset {stream} status {status}"),
                other => format!("{other:?}"),
            });
        }
        assert!(!reader.is_mid_frame());
        seen
    }

    #[tokio::test]
    async fn a_refused_port_is_reset_towards_the_client_and_never_forwarded() {
        let client = client_streams(&["8080", "9090", "8080"]);
        for piece in [1, 7, client.len()] {
            let tap = port_forward(false);
            let (onward, back) = observe_in_pieces(&tap, &client, piece).await;
            // What goes on inflates with a fresh context: gatehouse compressed it itself.
            assert_eq!(
                read_all(&onward),
                ["open 1 port 8080", "open 5 port 8080", "data 1", "data 5"],
                "pieces of {piece}"
            );
            assert_eq!(read_all(&back), ["reset 3 status 3"]);
        }
    }

    #[tokio::test]
    async fn each_port_is_asked_about_once_per_connection() {
        let gate = std::sync::Arc::new(Only8080(std::sync::Mutex::new(Vec::new())));
        struct Shared(std::sync::Arc<Only8080>);
        impl PortGate for Shared {
            fn allows(&self, port: u16) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
                self.0.allows(port)
            }
        }
        let tap = SpdyTap::new(None, Some(Box::new(Shared(gate.clone()))), false);
        let client = client_streams(&["8080", "9090", "bad", "0"]);
        let (_, back) = observe_in_pieces(&tap, &client, client.len()).await;
        assert_eq!(
            read_all(&back),
            ["reset 3 status 3", "reset 5 status 3", "reset 7 status 3"],
            "a port that is not a number is refused without asking"
        );
        assert_eq!(*gate.0.lock().unwrap(), [8080, 9090]);
    }

    #[tokio::test]
    async fn unreadable_frames_end_the_stream() {
        let tap = port_forward(false);
        // A control frame of SPDY version 2.
        let passage = tap.observe(
            Direction::ToTarget,
            &[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1],
        );
        assert_eq!(passage.await, Passage::End);
        // A header block that is not zlib.
        let tap = port_forward(false);
        let garbage = spdy::syn_stream(1, false, b"not a header block");
        assert_eq!(
            tap.observe(Direction::ToTarget, &garbage).await,
            Passage::End
        );
        // A frame longer than the tap reads, refused from its header.
        let tap = SpdyTap::new(None, None, false);
        let header = [0, 0, 0, 1, 0, 0x10, 0, 1];
        assert_eq!(
            tap.observe(Direction::ToClient, &header).await,
            Passage::End
        );
    }

    /// One masked client WebSocket binary message.
    fn websocket_message(payload: &[u8]) -> Vec<u8> {
        let key = [3, 1, 4, 1];
        let mut frame = vec![0x82, 0x80 | 126];
        frame.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        frame
    }

    #[tokio::test]
    async fn inside_websocket_a_refused_port_ends_the_connection_before_it_is_forwarded() {
        let allowed = websocket_message(&client_streams(&["8080"]));
        let tap = port_forward(true);
        assert_eq!(
            tap.observe(Direction::ToTarget, &allowed).await,
            Passage::Unchanged
        );

        let both = client_streams(&["8080", "9090"]);
        // The SYN_STREAM for 9090 split over two messages: the first passes (the API server
        // cannot act on half a frame), the second, which completes it, ends the relay.
        let syn_streams_end = both.len() - 2 * spdy::data(1, false, b"payload").len();
        let (first, second) = both.split_at(syn_streams_end - 5);
        let tap = port_forward(true);
        assert_eq!(
            tap.observe(Direction::ToTarget, &websocket_message(first))
                .await,
            Passage::Unchanged
        );
        assert_eq!(
            tap.observe(Direction::ToTarget, &websocket_message(second))
                .await,
            Passage::End
        );
    }
}
