//! One SPDY/3.1 connection, server side: a task reads frames and hands each stream the client
//! opens to the handler with its headers, its incoming data and a writer; a task writes what
//! the handler and the reader queue, in order, so a stream's SYN_REPLY always precedes its
//! data. PINGs are answered, RST_STREAM and FIN end a stream's incoming data, and closing says
//! GOAWAY and waits a while for the client to hang up, as kubelet's end of a session does.

use bytes::Bytes;
use gatehouse_k8s::spdy::{self as frame, Deflater, Frame, FrameReader, Headers, Inflater};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long closing waits for the client to hang up.
const LINGER: Duration = Duration::from_secs(5);
/// The largest DATA frame this side writes.
const CHUNK: usize = 32 * 1024;

/// What arrives on a stream.
#[derive(Debug, PartialEq)]
pub enum Event {
    Data(Bytes),
    /// FIN: the client sends no more on this stream.
    End,
    /// RST_STREAM: the client abandoned the stream.
    Reset,
}

/// A stream the client opened.
pub struct Stream {
    pub headers: Headers,
    /// Ends after `End` or `Reset`, or without either when the connection goes.
    pub events: mpsc::Receiver<Event>,
    pub writer: StreamWriter,
}

impl Stream {
    pub fn header(&self, name: &str) -> Option<&str> {
        frame::header(&self.headers, name)
    }
}

enum Out {
    Reply(u32),
    Data { stream: u32, fin: bool, data: Bytes },
    Reset(u32),
    Ping(u32),
    GoAway(u32),
}

/// Writes to one stream.
#[derive(Clone)]
pub struct StreamWriter {
    stream: u32,
    out: mpsc::Sender<Out>,
}

impl StreamWriter {
    /// Send data; false once the connection is gone.
    pub async fn write(&self, data: Bytes) -> bool {
        let mut rest = data;
        while !rest.is_empty() {
            let chunk = rest.split_to(rest.len().min(CHUNK));
            let out = Out::Data {
                stream: self.stream,
                fin: false,
                data: chunk,
            };
            if self.out.send(out).await.is_err() {
                return false;
            }
        }
        true
    }

    /// FIN: this side sends no more on the stream.
    pub async fn finish(&self) {
        let out = Out::Data {
            stream: self.stream,
            fin: true,
            data: Bytes::new(),
        };
        let _ = self.out.send(out).await;
    }

    /// RST_STREAM: refuse the stream.
    pub async fn reset(&self) {
        let _ = self.out.send(Out::Reset(self.stream)).await;
    }
}

/// The connection: the streams the client opens, in order.
pub struct Connection {
    streams: mpsc::Receiver<Stream>,
    out: mpsc::Sender<Out>,
    last_stream: Arc<AtomicU32>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

pub fn start<S>(io: S) -> Connection
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, write) = tokio::io::split(io);
    let (out, queued) = mpsc::channel(64);
    let (opened, streams) = mpsc::channel(16);
    let last_stream = Arc::new(AtomicU32::new(0));
    let reader = tokio::spawn(read_frames(read, out.clone(), opened, last_stream.clone()));
    let writer = tokio::spawn(write_frames(write, queued));
    Connection {
        streams,
        out,
        last_stream,
        reader,
        writer,
    }
}

impl Connection {
    /// The next stream the client opens; `None` once the client has gone.
    pub async fn next_stream(&mut self) -> Option<Stream> {
        self.streams.recv().await
    }

    /// Say GOAWAY, let what is queued go out, and wait (a while) for the client to hang up
    /// and for the streams' writers to be done.
    pub async fn close(self) {
        let Self {
            streams,
            out,
            last_stream,
            mut reader,
            mut writer,
        } = self;
        drop(streams);
        let _ = out
            .send(Out::GoAway(last_stream.load(Ordering::Relaxed)))
            .await;
        drop(out);
        for task in [&mut reader, &mut writer] {
            if tokio::time::timeout(LINGER, &mut *task).await.is_err() {
                task.abort();
            }
        }
    }
}

async fn read_frames<S: AsyncRead>(
    mut read: ReadHalf<S>,
    out: mpsc::Sender<Out>,
    opened: mpsc::Sender<Stream>,
    last_stream: Arc<AtomicU32>,
) {
    let mut reader = FrameReader::new(frame::MAX_PAYLOAD);
    let mut buffer = vec![0; CHUNK];
    let mut state = Reading {
        inflater: Inflater::new(),
        streams: HashMap::new(),
        out,
        opened,
        last_stream,
    };
    loop {
        match read.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => reader.push(buffer.get(..read).unwrap_or_default()),
        }
        loop {
            let wire = match reader.next_frame() {
                Ok(Some(wire)) => wire,
                Ok(None) => break,
                Err(_) => return,
            };
            let Ok(frame) = Frame::parse(&wire) else {
                return;
            };
            if !state.frame(frame).await {
                return;
            }
        }
    }
}

/// What the reading task keeps across frames.
struct Reading {
    inflater: Inflater,
    streams: HashMap<u32, mpsc::Sender<Event>>,
    out: mpsc::Sender<Out>,
    opened: mpsc::Sender<Stream>,
    last_stream: Arc<AtomicU32>,
}

impl Reading {
    /// Act on one frame; false when nothing more can be read or answered.
    async fn frame(&mut self, frame: Frame<'_>) -> bool {
        match frame {
            Frame::SynStream { stream, fin, block } => {
                let Ok(headers) = self.inflater.block(block) else {
                    // The compression context is lost: nothing more can be read.
                    return false;
                };
                self.last_stream.fetch_max(stream, Ordering::Relaxed);
                let (events, received) = mpsc::channel(64);
                if self.out.send(Out::Reply(stream)).await.is_err() {
                    return false;
                }
                if fin {
                    let _ = events.send(Event::End).await;
                } else {
                    self.streams.insert(stream, events);
                }
                let writer = StreamWriter {
                    stream,
                    out: self.out.clone(),
                };
                let _ = self
                    .opened
                    .send(Stream {
                        headers,
                        events: received,
                        writer,
                    })
                    .await;
            }
            Frame::Data { stream, fin, data } => {
                let Some(events) = self.streams.get(&stream) else {
                    return true;
                };
                if !data.is_empty() {
                    let _ = events.send(Event::Data(Bytes::copy_from_slice(data))).await;
                }
                if fin && let Some(events) = self.streams.remove(&stream) {
                    let _ = events.send(Event::End).await;
                }
            }
            Frame::RstStream { stream, .. } => {
                if let Some(events) = self.streams.remove(&stream) {
                    let _ = events.send(Event::Reset).await;
                }
            }
            // Client pings have odd ids; an even one would answer a ping this side never sends.
            Frame::Ping { id } if id % 2 == 1 => {
                return self.out.send(Out::Ping(id)).await.is_ok();
            }
            Frame::Headers { block, .. } => return self.inflater.block(block).is_ok(),
            Frame::Ping { .. }
            | Frame::GoAway { .. }
            | Frame::SynReply { .. }
            | Frame::Other { .. } => {}
        }
        true
    }
}

async fn write_frames<S: AsyncWrite>(mut write: WriteHalf<S>, mut queued: mpsc::Receiver<Out>) {
    let mut deflater = Deflater::default();
    while let Some(out) = queued.recv().await {
        let bytes = match out {
            Out::Reply(stream) => frame::syn_reply(stream, &deflater.block(&[])),
            Out::Data { stream, fin, data } => frame::data(stream, fin, &data),
            Out::Reset(stream) => frame::rst_stream(stream, frame::INVALID_STREAM),
            Out::Ping(id) => frame::ping(id),
            Out::GoAway(last) => frame::goaway(last),
        };
        if write.write_all(&bytes).await.is_err() || write.flush().await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A SYN_STREAM for stream 1 whose block (zlib with the SPDY dictionary, as Go writes
    /// it) says `streamtype: error`, `content-type: text/plain`.
    fn syn_stream() -> Vec<u8> {
        let block = [
            0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2, 0x02, 0xe5, 0x0e, 0x70, 0x3a, 0x2b, 0x29, 0x4a,
            0x4d, 0xcc, 0x85, 0x16, 0x25, 0xac, 0xa9, 0xa0, 0x80, 0xc6, 0x52, 0xc6, 0x70, 0x21,
            0x1c, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff,
        ];
        frame::syn_stream(1, false, &block)
    }

    /// The next whole frame the server wrote.
    async fn next_frame(
        from_server: &mut (impl AsyncRead + Unpin),
        reader: &mut FrameReader,
    ) -> Vec<u8> {
        loop {
            if let Some(wire) = reader.next_frame().unwrap() {
                return wire;
            }
            let mut buffer = [0; 512];
            let read = from_server.read(&mut buffer).await.unwrap();
            assert!(read > 0, "the server hung up");
            reader.push(&buffer[..read]);
        }
    }

    #[tokio::test]
    async fn replies_to_a_stream_answers_pings_and_ends_a_stream_at_its_fin() {
        let (client, server) = tokio::io::duplex(4096);
        let mut conn = start(server);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        to_server.write_all(&syn_stream()).await.unwrap();
        to_server.write_all(&frame::ping(1)).await.unwrap();
        to_server
            .write_all(&frame::data(1, true, b"hi"))
            .await
            .unwrap();

        let mut stream = conn.next_stream().await.unwrap();
        assert_eq!(stream.header("streamtype"), Some("error"));
        assert_eq!(stream.header("content-type"), Some("text/plain"));
        assert_eq!(
            stream.events.recv().await,
            Some(Event::Data(Bytes::from_static(b"hi")))
        );
        assert_eq!(stream.events.recv().await, Some(Event::End));
        assert_eq!(stream.events.recv().await, None);

        // The SYN_REPLY, then the ping's echo.
        let mut reader = FrameReader::new(frame::MAX_PAYLOAD);
        let reply = next_frame(&mut from_server, &mut reader).await;
        assert!(matches!(
            Frame::parse(&reply).unwrap(),
            Frame::SynReply { stream: 1, .. }
        ));
        let echo = next_frame(&mut from_server, &mut reader).await;
        assert_eq!(Frame::parse(&echo).unwrap(), Frame::Ping { id: 1 });

        stream.writer.write(Bytes::from_static(b"out")).await;
        stream.writer.finish().await;
        let data = next_frame(&mut from_server, &mut reader).await;
        assert_eq!(data, frame::data(1, false, b"out"));
        let fin = next_frame(&mut from_server, &mut reader).await;
        assert_eq!(fin, frame::data(1, true, b""));
        drop(stream);
        to_server.shutdown().await.unwrap();
        conn.close().await;
        let goaway = next_frame(&mut from_server, &mut reader).await;
        assert!(matches!(
            Frame::parse(&goaway).unwrap(),
            Frame::GoAway { .. }
        ));
    }
}
