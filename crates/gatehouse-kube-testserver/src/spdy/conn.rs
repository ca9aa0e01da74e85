//! One SPDY/3.1 connection, server side: a task reads frames and hands each stream the client
//! opens to the handler with its headers, its incoming data and a writer; a task writes what
//! the handler and the reader queue, in order, so a stream's SYN_REPLY always precedes its
//! data. PINGs are answered, RST_STREAM and FIN end a stream's incoming data, and closing says
//! GOAWAY and waits a while for the client to hang up, as kubelet's end of a session does.

use super::frame::{self, Frame};
use super::headers::{Deflater, Headers, Inflater};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
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
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
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
    let mut inflater = Inflater::new();
    let mut streams: HashMap<u32, mpsc::Sender<Event>> = HashMap::new();
    while let Ok(Some(frame)) = frame::read(&mut read).await {
        match frame {
            Frame::SynStream { stream, fin, block } => {
                let Ok(headers) = inflater.block(&block) else {
                    // The compression context is lost: nothing more can be read.
                    return;
                };
                last_stream.fetch_max(stream, Ordering::Relaxed);
                let (events, received) = mpsc::channel(64);
                if out.send(Out::Reply(stream)).await.is_err() {
                    return;
                }
                if fin {
                    let _ = events.send(Event::End).await;
                } else {
                    streams.insert(stream, events);
                }
                let writer = StreamWriter {
                    stream,
                    out: out.clone(),
                };
                let _ = opened
                    .send(Stream {
                        headers,
                        events: received,
                        writer,
                    })
                    .await;
            }
            Frame::Data { stream, fin, data } => {
                let Some(events) = streams.get(&stream) else {
                    continue;
                };
                if !data.is_empty() {
                    let _ = events.send(Event::Data(data)).await;
                }
                if fin && let Some(events) = streams.remove(&stream) {
                    let _ = events.send(Event::End).await;
                }
            }
            Frame::RstStream { stream } => {
                if let Some(events) = streams.remove(&stream) {
                    let _ = events.send(Event::Reset).await;
                }
            }
            // Client pings have odd ids; an even one would answer a ping this side never sends.
            Frame::Ping { id } if id % 2 == 1 => {
                if out.send(Out::Ping(id)).await.is_err() {
                    return;
                }
            }
            Frame::Headers { block } => {
                if inflater.block(&block).is_err() {
                    return;
                }
            }
            Frame::Ping { .. } | Frame::GoAway | Frame::Ignored => {}
        }
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
        let length = u8::try_from(10 + block.len()).unwrap();
        let mut frame = vec![0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, length];
        frame.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&block);
        frame
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

        // The SYN_REPLY (read here as an ignored frame), then the ping's echo.
        let reply = frame::read(&mut from_server).await.unwrap();
        assert_eq!(reply, Some(Frame::Ignored));
        let echo = frame::read(&mut from_server).await.unwrap();
        assert_eq!(echo, Some(Frame::Ping { id: 1 }));

        stream.writer.write(Bytes::from_static(b"out")).await;
        stream.writer.finish().await;
        let data = frame::read(&mut from_server).await.unwrap();
        assert_eq!(
            data,
            Some(Frame::Data {
                stream: 1,
                fin: false,
                data: Bytes::from_static(b"out")
            })
        );
        let fin = frame::read(&mut from_server).await.unwrap();
        assert_eq!(
            fin,
            Some(Frame::Data {
                stream: 1,
                fin: true,
                data: Bytes::new()
            })
        );
        drop(stream);
        to_server.shutdown().await.unwrap();
        conn.close().await;
        assert_eq!(
            frame::read(&mut from_server).await.unwrap(),
            Some(Frame::GoAway)
        );
    }
}
