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
//!   SPDY reader inflates). Inside WebSocket messages (kubectl 1.31 and later) the same is
//!   done to the SPDY frames the client's binary messages carry: each frame that goes on is
//!   sent as a new masked binary message (control frames go on as they came, in order), the
//!   RST_STREAM back as an unmasked one, and the server's messages are forwarded whole, so
//!   the answer lands between them.
//!
//! Frames are forwarded whole, so what the tap adds lands between frames. A frame the tap
//! cannot read ends the stream: nothing unrecorded or undecided passes.

use crate::ports::PortGate;
use crate::stream_record::StreamRecord;
use gatehouse_http::upgrade::{Direction, Observed, Passage, StreamTap};
use gatehouse_http::websocket as websocket_frames;
use gatehouse_k8s::spdy::{self, Deflater, Frame, FrameReader, Headers, Inflater};
use gatehouse_recording::TerminalStream;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

/// The largest SPDY frame payload the tap reads (kubectl writes at most 32 KiB per frame).
const MAX_FRAME: usize = 1 << 20;

/// The mask of the client messages the tap writes: any key is valid (RFC 6455 5.3), and the
/// connection to the API server is the tap's own, so its masking protects nothing here.
const MASK: [u8; 4] = [0x67, 0x68, 0x74, 0x70];

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
    /// The server's messages, let through whole (SPDY inside WebSocket).
    messages: websocket_frames::WholeMessages,
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
                messages: websocket_frames::WholeMessages::default(),
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
        let mut passage = Rewritten::default();
        self.frames(direction, &mut reading, &mut passage, |wire| wire.to_vec())
            .await?;
        Ok(passage.into())
    }

    /// The complete SPDY frames pushed into `reading`, each as its verdict says: what goes
    /// on wrapped by `wrap` (the frame as it is, or in a WebSocket message).
    async fn frames(
        &self,
        direction: Direction,
        reading: &mut Reading,
        passage: &mut Rewritten,
        wrap: impl Fn(&[u8]) -> Vec<u8>,
    ) -> Result<(), String> {
        while let Some(wire) = reading.frames.next_frame().map_err(|e| e.to_string())? {
            match self.frame(direction, reading, &wire).await? {
                Verdict::Pass => passage.onward.extend(wrap(&wire)),
                Verdict::Replace(bytes) => passage.onward.extend(wrap(&bytes)),
                Verdict::Refuse(stream) => {
                    let reset = spdy::rst_stream(stream, spdy::REFUSED_STREAM);
                    passage.back.extend(match reading.websocket {
                        Some(_) => websocket_frames::binary_message(&reset, None),
                        None => reset,
                    });
                }
                Verdict::Drop => {}
            }
        }
        Ok(())
    }

    /// SPDY inside WebSocket messages. The client's binary messages are read as one SPDY byte
    /// stream and what goes on of it is re-framed; its control frames go on as they came.
    /// The server's side carries nothing the tap decides or records: its messages go on as
    /// they came, whole, so that a refusal sent back lands between them. Without port
    /// decisions nothing is re-framed or sent back, and both sides pass unchanged.
    async fn pass_tunnelled(
        &self,
        direction: Direction,
        reading: &mut Reading,
        bytes: &[u8],
    ) -> Result<Passage, String> {
        let Some(websocket) = reading.websocket.as_mut() else {
            return Err("no WebSocket reader".to_owned());
        };
        let messages = websocket.frames(bytes).map_err(|error| error.to_string())?;
        if direction == Direction::ToClient {
            if self.ports.is_none() {
                return Ok(Passage::Unchanged);
            }
            let onward = reading
                .messages
                .release(messages)
                .map_err(|error| error.to_string())?;
            return Ok(Passage::Rewritten {
                onward,
                back: Vec::new(),
            });
        }
        let mut passage = Rewritten::default();
        for message in messages {
            if message.extended {
                return Err("a WebSocket extension's frame".to_owned());
            }
            match message.opcode {
                0 | websocket_frames::BINARY => {
                    reading.frames.push(&message.payload);
                    self.frames(direction, reading, &mut passage, |wire| {
                        websocket_frames::binary_message(wire, Some(MASK))
                    })
                    .await?;
                }
                8..=10 => passage.onward.extend(message.wire),
                other => return Err(format!("WebSocket opcode {other} in a SPDY tunnel")),
            }
        }
        if self.ports.is_none() {
            return Ok(Passage::Unchanged);
        }
        Ok(passage.into())
    }

    async fn frame(
        &self,
        direction: Direction,
        reading: &mut Reading,
        wire: &[u8],
    ) -> Result<Verdict, String> {
        let frame = Frame::parse(wire).map_err(|e| e.to_string())?;
        let rewrite_headers = self.ports.is_some();
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

/// What a direction sends on and back for the bytes it was shown.
#[derive(Default)]
struct Rewritten {
    onward: Vec<u8>,
    back: Vec<u8>,
}

impl From<Rewritten> for Passage {
    fn from(rewritten: Rewritten) -> Passage {
        Passage::Rewritten {
            onward: rewritten.onward,
            back: rewritten.back,
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

    /// One client WebSocket frame (masked), `fin` when it ends its message.
    fn websocket_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = websocket_frames::binary_message(payload, Some([3, 1, 4, 1]));
        frame[0] = if fin { 0x80 } else { 0 } | opcode;
        frame
    }

    /// The frames of `bytes` read as the API server would: (opcode, payload), each checked
    /// to be a whole message, masked when `masked`.
    fn websocket_frames_of(bytes: &[u8], masked: bool) -> Vec<(u8, Vec<u8>)> {
        let mut reader = websocket_frames::FrameReader::default();
        let frames = reader.frames(bytes).unwrap();
        assert!(reader.frames(&[]).unwrap().is_empty());
        frames
            .into_iter()
            .map(|frame| {
                assert!(frame.fin && !frame.extended);
                assert_eq!(frame.wire[1] & 0x80 != 0, masked);
                (frame.opcode, frame.payload)
            })
            .collect()
    }

    /// The SPDY frames carried by the binary messages among `frames`.
    fn spdy_in(frames: &[(u8, Vec<u8>)]) -> Vec<String> {
        let payloads: Vec<u8> = frames
            .iter()
            .filter(|(opcode, _)| *opcode == websocket_frames::BINARY)
            .flat_map(|(_, payload)| payload.iter().copied())
            .collect();
        read_all(&payloads)
    }

    #[tokio::test]
    async fn inside_websocket_a_refused_port_is_reset_and_its_frames_dropped() {
        let spdy = client_streams(&["8080", "9090", "8080"]);
        // One message in three fragments, a ping between the first two, then a close. The
        // first fragment completes the first SYN_STREAM and a few bytes more.
        let mut reader = FrameReader::new(MAX_FRAME);
        reader.push(&spdy);
        let first_frame = reader.next_frame().unwrap().unwrap().len();
        let (first, rest) = spdy.split_at(first_frame + 3);
        let (second, third) = rest.split_at(rest.len() / 2);
        let client = [
            websocket_frame(2, false, first),
            websocket_frame(9, true, b"are you there"),
            websocket_frame(0, false, second),
            websocket_frame(0, true, third),
            websocket_frame(8, true, &1000u16.to_be_bytes()),
        ]
        .concat();
        for split in 0..=client.len() {
            let tap = port_forward(true);
            let (mut onward, mut back) = (Vec::new(), Vec::new());
            for piece in [&client[..split], &client[split..]] {
                match tap.observe(Direction::ToTarget, piece).await {
                    Passage::Rewritten { onward: o, back: b } => {
                        onward.extend(o);
                        back.extend(b);
                    }
                    other => panic!("split at {split}: {other:?}"),
                }
            }
            let sent = websocket_frames_of(&onward, true);
            assert_eq!(
                spdy_in(&sent),
                ["open 1 port 8080", "open 5 port 8080", "data 1", "data 5"],
                "split at {split}"
            );
            let control: Vec<_> = sent.iter().filter(|(opcode, _)| *opcode >= 8).collect();
            assert_eq!(
                control,
                [
                    &(9, b"are you there".to_vec()),
                    &(8, 1000u16.to_be_bytes().to_vec())
                ],
                "split at {split}"
            );
            // The ping goes on where it came: after the frames the first fragment completed.
            let ping = sent.iter().position(|(opcode, _)| *opcode == 9).unwrap();
            assert_eq!(
                spdy_in(&sent[..ping]),
                ["open 1 port 8080"],
                "split at {split}"
            );
            assert_eq!(sent.last().unwrap().0, 8, "the close comes last");
            let answered = websocket_frames_of(&back, false);
            assert_eq!(spdy_in(&answered), ["reset 3 status 3"], "split at {split}");
        }
    }

    #[tokio::test]
    async fn inside_websocket_the_servers_messages_go_on_whole() {
        let server = [
            websocket_frames::binary_message(b"one", None),
            // A message in two fragments with a pong between them.
            vec![0x02, 3, b't', b'w', b'o'],
            vec![0x8a, 0],
            vec![0x80, 4, b' ', b'a', b'n', b'd'],
            websocket_frames::binary_message(b"three", None),
        ];
        let whole = server.concat();
        let ends: Vec<usize> = server
            .iter()
            .scan(0, |end, frame| {
                *end += frame.len();
                Some(*end)
            })
            .collect();
        for split in 0..=whole.len() {
            let tap = port_forward(true);
            let mut released = Vec::new();
            for piece in [&whole[..split], &whole[split..]] {
                match tap.observe(Direction::ToClient, piece).await {
                    Passage::Rewritten { onward, back } => {
                        assert!(back.is_empty());
                        released.push(onward);
                    }
                    other => panic!("split at {split}: {other:?}"),
                }
            }
            // The first piece goes on up to the end of the last whole message in it.
            let first_release = [0, ends[0], ends[3], ends[4]]
                .into_iter()
                .filter(|end| *end <= split)
                .max()
                .unwrap();
            assert_eq!(released[0], whole[..first_release], "split at {split}");
            assert_eq!(released.concat(), whole, "split at {split}");
        }
    }

    #[tokio::test]
    async fn inside_websocket_what_the_tap_cannot_read_ends_the_stream() {
        let spdy = client_streams(&["8080"]);
        let text = websocket_frame(1, true, &spdy);
        let mut compressed = websocket_frame(2, true, &spdy);
        compressed[0] |= 0x40;
        let not_spdy = websocket_frame(2, true, &[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
        let too_long = [0x82, 0xff, 0, 0, 0, 0, 0x10, 0, 0, 0];
        for bytes in [&text[..], &compressed, &not_spdy, &too_long] {
            let tap = port_forward(true);
            assert_eq!(tap.observe(Direction::ToTarget, bytes).await, Passage::End);
        }
        // A server message never finished is held only so far.
        let tap = port_forward(true);
        let mut fragment = [vec![0x02, 127], 0x10_0000u64.to_be_bytes().to_vec()].concat();
        fragment.resize(fragment.len() + 0x10_0000, b'x');
        let mut ended = false;
        for _ in 0..8 {
            if tap.observe(Direction::ToClient, &fragment).await == Passage::End {
                ended = true;
                break;
            }
        }
        assert!(ended, "an endless message was held");
    }
}
