//! The sftp subsystem, decided one operation at a time: every client request is read whole
//! (bounded) before anything is forwarded; a path operation (`open` for read or write,
//! `remove`, `rename`, `mkdir`, listings and stats) is an `ssh:sftp` decision, and a refused
//! one is answered by gatehouse itself with `SSH_FX_PERMISSION_DENIED` while the session goes
//! on. Reads and writes work only on handles the target returned for a permitted `open`, so a
//! handle cannot be guessed into a file policy never saw. Each opened file's bytes are
//! counted and become its decision's outcome and a recording event when it is closed.

use crate::decide::{Allowed, Ended, Verdict, decide};
use crate::handler::Established;
use bytes::Bytes;
use gatehouse_recording::{EventKind, ProtocolEvent};
use gatehouse_ssh::SshError;
use gatehouse_ssh::request::SshRequest;
use gatehouse_ssh::sftp::{
    PacketReader, SSH_FX_FAILURE, SSH_FX_OP_UNSUPPORTED, SSH_FX_PERMISSION_DENIED, SftpOperation,
    SftpRequest, SftpRequestKind, SftpResponse, SftpResponseKind, status_packet,
};
use russh::ChannelWriteHalf;
use std::collections::HashMap;
use std::sync::Arc;

/// Handles the target may have open for one client at once.
const MAX_HANDLES: usize = 1024;

/// A permitted operation waiting for the target's answer, or an open file.
struct Operation {
    allowed: Allowed,
    operation: SftpOperation,
    path: String,
    destination: Option<String>,
    read: u64,
    written: u64,
}

/// What an answered request id refers to.
enum Pending {
    /// A path operation (its outcome is the answer).
    Decided(Operation),
    /// A read on an open handle (the answer's data is counted for the handle).
    Read(Vec<u8>),
    /// A close of an open handle (the handle's transfer ends with the answer).
    Close(Vec<u8>),
}

pub(crate) struct SftpFilter {
    established: Arc<Established>,
    requests: PacketReader,
    responses: PacketReader,
    pending: HashMap<u32, Pending>,
    handles: HashMap<Vec<u8>, Operation>,
}

impl SftpFilter {
    pub fn new(established: Arc<Established>) -> Self {
        SftpFilter {
            established,
            requests: PacketReader::default(),
            responses: PacketReader::default(),
            pending: HashMap::new(),
            handles: HashMap::new(),
        }
    }

    /// Client bytes: forward each whole permitted request, answer refused ones.
    pub async fn client_sent<S, C>(
        &mut self,
        data: &[u8],
        to_target: &ChannelWriteHalf<S>,
        to_client: &ChannelWriteHalf<C>,
    ) -> Result<(), SshError>
    where
        S: From<(russh::ChannelId, russh::ChannelMsg)> + Send + Sync + 'static,
        C: From<(russh::ChannelId, russh::ChannelMsg)> + Send + Sync + 'static,
    {
        self.requests.push(data);
        while let Some(packet) = self.requests.next_packet()? {
            let request = SftpRequest::decode(&packet)?;
            let answer = self.consider(request).await;
            let sent = match answer {
                None => to_target.data_bytes(Bytes::from(packet)).await,
                Some(refusal) => to_client.data_bytes(Bytes::from(refusal)).await,
            };
            if sent.is_err() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// `None` to forward the request; otherwise the status packet that answers it.
    async fn consider(&mut self, request: SftpRequest) -> Option<Vec<u8>> {
        let id = request.id.unwrap_or(0);
        match request.kind {
            SftpRequestKind::Init { .. } => None,
            SftpRequestKind::Path {
                operation,
                path,
                destination,
                name,
            } => {
                let decided = SshRequest::sftp(
                    operation,
                    path.clone(),
                    destination.clone().unwrap_or_default(),
                );
                match decide(&self.established, decided).await {
                    Verdict::Refused(message) => {
                        self.record(name, &path, destination.as_deref(), false, 0, 0);
                        Some(status_packet(id, SSH_FX_PERMISSION_DENIED, &message))
                    }
                    Verdict::Allowed(allowed) => {
                        if self.pending.len() + self.handles.len() >= MAX_HANDLES {
                            allowed.finish(
                                &self.established,
                                Ended::failed("too many open sftp requests"),
                            );
                            return Some(status_packet(
                                id,
                                SSH_FX_FAILURE,
                                "gatehouse: too many open sftp requests; close some files",
                            ));
                        }
                        self.pending.insert(
                            id,
                            Pending::Decided(Operation {
                                allowed,
                                operation,
                                path,
                                destination,
                                read: 0,
                                written: 0,
                            }),
                        );
                        None
                    }
                }
            }
            SftpRequestKind::Handle {
                handle,
                name,
                bytes,
            } => {
                let Some(open) = self.handles.get_mut(&handle) else {
                    return Some(status_packet(
                        id,
                        SSH_FX_FAILURE,
                        "gatehouse: no such open handle",
                    ));
                };
                match name {
                    "write" => open.written += bytes,
                    "read" | "readdir" => {
                        self.pending.insert(id, Pending::Read(handle));
                    }
                    "close" => {
                        self.pending.insert(id, Pending::Close(handle));
                    }
                    _ => {}
                }
                None
            }
            SftpRequestKind::Unknown { name } => Some(status_packet(
                id,
                SSH_FX_OP_UNSUPPORTED,
                &format!("gatehouse: the sftp request `{name}` is not supported through gatehouse"),
            )),
        }
    }

    /// Target bytes: follow handles and count data; the bytes themselves pass unchanged.
    pub fn target_sent(&mut self, data: &[u8]) -> Result<(), SshError> {
        self.responses.push(data);
        while let Some(packet) = self.responses.next_packet()? {
            let response = SftpResponse::decode(&packet)?;
            let Some(id) = response.id else {
                continue;
            };
            match (self.pending.remove(&id), response.kind) {
                (Some(Pending::Decided(open)), SftpResponseKind::Handle(handle)) => {
                    self.handles.insert(handle, open);
                }
                (Some(Pending::Decided(done)), kind) => {
                    let status = match kind {
                        SftpResponseKind::Status { code } => format!("status {code}"),
                        _ => "ok".to_owned(),
                    };
                    self.close(done, status);
                }
                (Some(Pending::Read(handle)), SftpResponseKind::Data { bytes }) => {
                    if let Some(open) = self.handles.get_mut(&handle) {
                        open.read += bytes;
                    }
                }
                (Some(Pending::Close(handle)), SftpResponseKind::Status { code }) => {
                    if let Some(open) = self.handles.remove(&handle) {
                        self.close(open, format!("status {code}"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn close(&self, done: Operation, status: String) {
        let name = done.operation.as_str();
        self.record(
            name,
            &done.path,
            done.destination.as_deref(),
            true,
            done.read,
            done.written,
        );
        done.allowed.finish(
            &self.established,
            Ended {
                status: Some(status),
                sent: done.written,
                received: done.read,
                ..Ended::default()
            },
        );
    }

    fn record(
        &self,
        name: &str,
        path: &str,
        destination: Option<&str>,
        allowed: bool,
        read: u64,
        written: u64,
    ) {
        if let Some(recorder) = &self.established.context.recorder {
            recorder.record(EventKind::Protocol(ProtocolEvent {
                request: None,
                protocol: gatehouse_ssh::SSH.as_str().to_owned(),
                name: "sftp".to_owned(),
                data: serde_json::json!({
                    "operation": name,
                    "path": path,
                    "destination": destination,
                    "allowed": allowed,
                    "bytes_read": read,
                    "bytes_written": written,
                }),
            }));
        }
    }

    /// The channel ended: transfers still open end with it.
    pub fn finish(&mut self) {
        let open: Vec<Operation> = self
            .handles
            .drain()
            .map(|(_, open)| open)
            .chain(
                self.pending
                    .drain()
                    .filter_map(|(_, pending)| match pending {
                        Pending::Decided(open) => Some(open),
                        _ => None,
                    }),
            )
            .collect();
        for operation in open {
            self.close(operation, "channel closed".to_owned());
        }
    }
}
