//! One client session channel: its terminal and environment requests are kept until it asks
//! for a program — an exec (`ssh:exec`, or `ssh:scp` for legacy scp's far end), a shell
//! (`ssh:shell`) or the sftp subsystem (each operation decided, `sftp`) — which is decided
//! before anything reaches the target. A permitted program runs in a channel of gatehouse's
//! own connection to the target and the two channels are relayed, input and output recorded
//! as terminal events, until either side closes. A refused one gets its reason on stderr and
//! exit status 126, and nothing reaches the target.
//!
//! The output of a command run without a terminal is masked line by line for identities
//! without `data:unmasked` (stdout and stderr alike; output that is not text cannot be masked
//! and ends the command). A terminal's output is not: it is a screen being drawn — echoed
//! keystrokes, cursor movement, lines redrawn in pieces — in which a value is rarely one run
//! of bytes, so masking it would corrupt the screen and still miss values.

use crate::decide::{Allowed, Ended, Verdict, decide};
use crate::handler::Established;
use crate::sftp::SftpFilter;
use bytes::Bytes;
use gatehouse_mask::{LineMasker, Masker};
use gatehouse_recording::{EventKind, TerminalData, TerminalResize, TerminalStream};
use gatehouse_ssh::command::ExecCommand;
use gatehouse_ssh::request::SshRequest;
use russh::server::Msg;
use russh::{Channel, ChannelId, ChannelMsg, client};
use russh::{ChannelReadHalf, ChannelWriteHalf};
use std::sync::Arc;

/// The exit status of a program gatehouse refused to run (POSIX: found, not executable).
pub const REFUSED_EXIT_STATUS: u32 = 126;

/// The extended-data code of stderr (RFC 4254 §5.2).
pub(crate) const STDERR: u32 = 1;

/// The longest output line gatehouse holds to mask it.
const MAX_MASKED_LINE: usize = 64 * 1024;

/// Environment variables a channel may pass on (the target's `AcceptEnv` decides the rest).
const MAX_ENV: usize = 64;

/// A terminal the client asked for.
#[derive(Clone)]
struct Terminal {
    term: String,
    columns: u32,
    rows: u32,
    pixel_width: u32,
    pixel_height: u32,
    modes: Vec<(russh::Pty, u32)>,
}

/// What runs in a relayed channel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Program {
    Exec,
    /// Legacy scp's far end: a file transfer, passed as it is (like sftp).
    Scp,
    Shell,
    Sftp,
}

pub(crate) struct SessionChannel {
    established: Arc<Established>,
    id: ChannelId,
    from_client: ChannelReadHalf,
    to_client: ChannelWriteHalf<Msg>,
    terminal: Option<Terminal>,
    env: Vec<(String, String)>,
    /// Whether policy permitted offering the client's agent to the target's program.
    agent_forwarding: bool,
}

impl SessionChannel {
    pub async fn run(established: Arc<Established>, channel: Channel<Msg>) {
        let id = channel.id();
        let (from_client, to_client) = channel.split();
        let mut this = SessionChannel {
            established: established.clone(),
            id,
            from_client,
            to_client,
            terminal: None,
            env: Vec::new(),
            agent_forwarding: false,
        };
        this.serve().await;
        established.channel_closed(id);
    }

    async fn serve(&mut self) {
        while let Some(message) = self.from_client.wait().await {
            match message {
                ChannelMsg::RequestPty {
                    want_reply,
                    term,
                    col_width,
                    row_height,
                    pix_width,
                    pix_height,
                    terminal_modes,
                } => {
                    self.terminal = Some(Terminal {
                        term,
                        columns: col_width,
                        rows: row_height,
                        pixel_width: pix_width,
                        pixel_height: pix_height,
                        modes: terminal_modes,
                    });
                    self.established.channel_has_terminal(self.id);
                    self.reply(want_reply, true).await;
                }
                ChannelMsg::WindowChange {
                    col_width,
                    row_height,
                    pix_width,
                    pix_height,
                } => {
                    if let Some(terminal) = &mut self.terminal {
                        terminal.columns = col_width;
                        terminal.rows = row_height;
                        terminal.pixel_width = pix_width;
                        terminal.pixel_height = pix_height;
                    }
                }
                ChannelMsg::SetEnv {
                    want_reply,
                    variable_name,
                    variable_value,
                } => {
                    let kept = self.env.len() < MAX_ENV;
                    if kept {
                        self.env.push((variable_name, variable_value));
                    }
                    self.reply(want_reply, kept).await;
                }
                ChannelMsg::Exec {
                    want_reply,
                    command,
                } => return self.exec(want_reply, command).await,
                ChannelMsg::RequestShell { want_reply } => return self.shell(want_reply).await,
                ChannelMsg::RequestSubsystem { want_reply, name } => {
                    if name == "sftp" {
                        return self.sftp(want_reply).await;
                    }
                    self.reply(want_reply, false).await;
                }
                ChannelMsg::RequestX11 { want_reply, .. } => {
                    self.unsupported(SshRequest::X11, want_reply, "X11 forwarding")
                        .await;
                }
                ChannelMsg::AgentForward { want_reply } => {
                    self.agent_forward(want_reply).await;
                }
                ChannelMsg::Close => return,
                _ => {}
            }
        }
    }

    async fn reply(&self, want_reply: bool, success: bool) {
        if !want_reply {
            return;
        }
        let handle = &self.established.handle;
        let _ = if success {
            handle.channel_success(self.id).await
        } else {
            handle.channel_failure(self.id).await
        };
    }

    /// The client's agent offered to the target: decided; when permitted, the target's
    /// program is told an agent is there, and the agent channels the target opens back are
    /// relayed to the client (`target_side`).
    async fn agent_forward(&mut self, want_reply: bool) {
        match decide(&self.established, SshRequest::AgentForward).await {
            Verdict::Allowed(allowed) => {
                self.established
                    .agent_forwarding
                    .store(true, std::sync::atomic::Ordering::Release);
                self.agent_forwarding = true;
                allowed.finish(
                    &self.established,
                    Ended {
                        status: Some("offered".to_owned()),
                        ..Ended::default()
                    },
                );
                self.reply(want_reply, true).await;
            }
            Verdict::Refused(message) => {
                tracing::info!(%message, "SSH agent forwarding refused");
                self.reply(want_reply, false).await;
            }
        }
    }

    /// X11 forwarding: decided and audited, and not relayed (gatehouse opens no X11 channels
    /// from the target back to the client).
    async fn unsupported(&mut self, request: SshRequest, want_reply: bool, what: &str) {
        if let Verdict::Allowed(allowed) = decide(&self.established, request).await {
            allowed.finish(
                &self.established,
                Ended::failed(format!("{what} is not relayed by gatehouse")),
            );
        }
        self.reply(want_reply, false).await;
    }

    async fn exec(&mut self, want_reply: bool, command: Vec<u8>) {
        let Ok(line) = String::from_utf8(command.clone()) else {
            return self
                .refuse(
                    want_reply,
                    "gatehouse: permission denied: the command is not valid UTF-8",
                )
                .await;
        };
        let request = SshRequest::from_exec(ExecCommand::parse(&line));
        let program = match request {
            SshRequest::Scp { .. } => Program::Scp,
            _ => Program::Exec,
        };
        match decide(&self.established, request).await {
            Verdict::Refused(message) => self.refuse(want_reply, &message).await,
            Verdict::Allowed(allowed) => {
                let Some(upstream) = self.open_upstream(want_reply, &allowed).await else {
                    return;
                };
                let _ = upstream.exec(true, command).await;
                self.relay(upstream, allowed, program, want_reply).await;
            }
        }
    }

    async fn shell(&mut self, want_reply: bool) {
        let term = self
            .terminal
            .as_ref()
            .map(|terminal| terminal.term.clone())
            .unwrap_or_default();
        match decide(&self.established, SshRequest::Shell { term }).await {
            Verdict::Refused(message) => self.refuse(want_reply, &message).await,
            Verdict::Allowed(allowed) => {
                let Some(upstream) = self.open_upstream(want_reply, &allowed).await else {
                    return;
                };
                let _ = upstream.request_shell(true).await;
                self.relay(upstream, allowed, Program::Shell, want_reply)
                    .await;
            }
        }
    }

    /// The sftp subsystem itself is not a decision (each operation is); its channel is
    /// audited as the session's sftp use with the bytes it moved.
    async fn sftp(&mut self, want_reply: bool) {
        let Some(upstream) = self.open_upstream_channel(want_reply).await else {
            return;
        };
        let _ = upstream.request_subsystem(true, "sftp").await;
        self.relay_sftp(upstream, want_reply).await;
    }

    /// A channel on gatehouse's connection to the target, with the client's terminal and
    /// environment; on failure the client is told and the request's outcome says why.
    async fn open_upstream(
        &mut self,
        want_reply: bool,
        allowed: &Allowed,
    ) -> Option<Channel<client::Msg>> {
        let opened = self.open_upstream_channel(want_reply).await;
        if opened.is_none() {
            allowed.finish(
                &self.established,
                Ended::failed("the target could not be reached"),
            );
        }
        opened
    }

    async fn open_upstream_channel(&mut self, want_reply: bool) -> Option<Channel<client::Msg>> {
        let opened = match self.established.upstream().await {
            Ok(upstream) => upstream
                .channel_open_session()
                .await
                .map_err(|error| error.to_string()),
            Err(error) => Err(error),
        };
        let channel = match opened {
            Ok(channel) => channel,
            Err(error) => {
                self.refuse_with(
                    want_reply,
                    &format!("gatehouse: the target is unavailable: {error}"),
                    255,
                )
                .await;
                return None;
            }
        };
        if let Some(terminal) = &self.terminal {
            let _ = channel
                .request_pty(
                    false,
                    &terminal.term,
                    terminal.columns,
                    terminal.rows,
                    terminal.pixel_width,
                    terminal.pixel_height,
                    &terminal.modes,
                )
                .await;
        }
        for (name, value) in &self.env {
            let _ = channel.set_env(false, name.clone(), value.clone()).await;
        }
        if self.agent_forwarding {
            let _ = channel.agent_forward(false).await;
        }
        Some(channel)
    }

    async fn refuse(&mut self, want_reply: bool, message: &str) {
        self.refuse_with(want_reply, message, REFUSED_EXIT_STATUS)
            .await;
    }

    /// Accept the request so the client reads why, then end the channel with `status`.
    async fn refuse_with(&mut self, want_reply: bool, message: &str, status: u32) {
        self.reply(want_reply, true).await;
        let line = if self.terminal.is_some() {
            format!("{message}\r\n")
        } else {
            format!("{message}\n")
        };
        let _ = self
            .to_client
            .extended_data_bytes(STDERR, Bytes::from(line))
            .await;
        let _ = self.to_client.exit_status(status).await;
        let _ = self.to_client.eof().await;
        let _ = self.to_client.close().await;
    }

    fn record(&self, allowed: &Allowed, stream: TerminalStream, bytes: &[u8]) {
        if let (Some(recorder), Some(number)) =
            (&self.established.context.recorder, allowed.recording_number)
        {
            recorder.record(EventKind::Terminal(TerminalData::new(
                number, stream, bytes,
            )));
        }
    }

    fn record_resize(&self, allowed: &Allowed, columns: u32, rows: u32) {
        if let (Some(recorder), Some(number)) =
            (&self.established.context.recorder, allowed.recording_number)
        {
            recorder.record(EventKind::TerminalResize(TerminalResize {
                request: number,
                columns: u16::try_from(columns).unwrap_or(u16::MAX),
                rows: u16::try_from(rows).unwrap_or(u16::MAX),
            }));
        }
    }

    /// Target output on its way to the client: masked when the session masks it, recorded,
    /// sent (`ext`: `None` for stdout, else the extended-data code). The bytes sent, or why the
    /// command is cut: `Some(reason)` when the output cannot be masked, `None` when the client
    /// is gone.
    async fn pass_output(
        &self,
        allowed: &Allowed,
        masking: Option<&mut OutputMasking>,
        ext: Option<u32>,
        data: Bytes,
    ) -> Result<u64, Option<String>> {
        let data = match masking {
            None => data,
            Some(masking) => Bytes::from(
                masking
                    .push(ext, &data)
                    .map_err(|error| Some(error.to_string()))?,
            ),
        };
        let sent = data.len() as u64;
        if self.send_output(allowed, ext, data).await {
            Ok(sent)
        } else {
            Err(None)
        }
    }

    /// Record `data` as the target's output and send it to the client; false when the client
    /// is gone.
    async fn send_output(&self, allowed: &Allowed, ext: Option<u32>, data: Bytes) -> bool {
        match ext {
            None => {
                self.record(allowed, TerminalStream::Output, &data);
                self.to_client.data_bytes(data).await.is_ok()
            }
            Some(ext) => {
                self.record(allowed, TerminalStream::Error, &data);
                self.to_client.extended_data_bytes(ext, data).await.is_ok()
            }
        }
    }

    /// Relay an exec or shell between the client and the target until either closes.
    async fn relay(
        &mut self,
        upstream: Channel<client::Msg>,
        allowed: Allowed,
        program: Program,
        mut awaiting_reply: bool,
    ) {
        if let (Some(terminal), true) = (&self.terminal, program != Program::Sftp) {
            self.record_resize(&allowed, terminal.columns, terminal.rows);
        }
        let (mut from_target, to_target) = upstream.split();
        let (mut sent, mut received) = (0u64, 0u64);
        let mut ended = None;
        let mut masking =
            (program == Program::Exec && self.terminal.is_none() && !self.established.unmasked)
                .then(|| OutputMasking::new(&self.established.gateway.masker));
        let mut failure = None;
        loop {
            tokio::select! {
                message = self.from_client.wait() => match message {
                    None | Some(ChannelMsg::Close) => {
                        let _ = to_target.close().await;
                        break;
                    }
                    Some(ChannelMsg::Data { data }) => {
                        sent += data.len() as u64;
                        self.record(&allowed, TerminalStream::Input, &data);
                        if to_target.data_bytes(data).await.is_err() {
                            break;
                        }
                    }
                    Some(ChannelMsg::Eof) => {
                        let _ = to_target.eof().await;
                    }
                    Some(ChannelMsg::WindowChange { col_width, row_height, pix_width, pix_height }) => {
                        self.record_resize(&allowed, col_width, row_height);
                        let _ = to_target.window_change(col_width, row_height, pix_width, pix_height).await;
                    }
                    Some(ChannelMsg::Signal { signal }) => {
                        let _ = to_target.signal(signal).await;
                    }
                    Some(
                        ChannelMsg::Exec { want_reply, .. }
                        | ChannelMsg::RequestShell { want_reply }
                        | ChannelMsg::RequestSubsystem { want_reply, .. }
                        | ChannelMsg::RequestPty { want_reply, .. }
                        | ChannelMsg::SetEnv { want_reply, .. }
                        | ChannelMsg::RequestX11 { want_reply, .. }
                        | ChannelMsg::AgentForward { want_reply },
                    ) => self.reply(want_reply, false).await,
                    Some(_) => {}
                },
                message = from_target.wait() => match message {
                    None | Some(ChannelMsg::Close) => {
                        let _ = self.to_client.close().await;
                        break;
                    }
                    Some(ChannelMsg::Data { data }) => {
                        match self.pass_output(&allowed, masking.as_mut(), None, data).await {
                            Ok(sent) => received += sent,
                            Err(cut) => {
                                failure = cut;
                                break;
                            }
                        }
                    }
                    Some(ChannelMsg::ExtendedData { data, ext }) => {
                        match self.pass_output(&allowed, masking.as_mut(), Some(ext), data).await {
                            Ok(sent) => received += sent,
                            Err(cut) => {
                                failure = cut;
                                break;
                            }
                        }
                    }
                    Some(ChannelMsg::Eof) => {
                        if let Some(masking) = &mut masking {
                            match masking.finish() {
                                Ok((output, errors)) => {
                                    received += (output.len() + errors.len()) as u64;
                                    self.send_output(&allowed, None, Bytes::from(output)).await;
                                    self.send_output(&allowed, Some(STDERR), Bytes::from(errors)).await;
                                }
                                Err(error) => {
                                    failure = Some(error.to_string());
                                    break;
                                }
                            }
                        }
                        let _ = self.to_client.eof().await;
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        ended = Some(format!("exit {exit_status}"));
                        let _ = self.to_client.exit_status(exit_status).await;
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, lang_tag }) => {
                        ended = Some(format!("signal {signal_name:?}"));
                        let _ = self
                            .established
                            .handle
                            .exit_signal_request(self.id, signal_name, core_dumped, error_message, lang_tag)
                            .await;
                    }
                    Some(ChannelMsg::Success) if awaiting_reply => {
                        awaiting_reply = false;
                        self.reply(true, true).await;
                    }
                    Some(ChannelMsg::Failure) if awaiting_reply => {
                        awaiting_reply = false;
                        ended = Some("refused by the target".to_owned());
                        self.reply(true, false).await;
                    }
                    Some(_) => {}
                },
            }
        }
        let masked = masking.map(|m| m.counts()).unwrap_or_default();
        if let Some(error) = &failure {
            // What cannot be masked is not passed on: the command ends here.
            let _ = to_target.close().await;
            let _ = self
                .to_client
                .extended_data_bytes(
                    STDERR,
                    Bytes::from(format!(
                        "\ngatehouse: the output was cut: {error} (this identity sees output masked)\n"
                    )),
                )
                .await;
            let _ = self.to_client.exit_status(REFUSED_EXIT_STATUS).await;
            let _ = self.to_client.eof().await;
            let _ = self.to_client.close().await;
        }
        allowed.finish(
            &self.established,
            Ended {
                status: Some(ended.unwrap_or_else(|| "closed".to_owned())),
                error: failure,
                sent,
                received,
                masked,
            },
        );
    }

    /// Relay the sftp subsystem, each client request through the filter that decides it.
    async fn relay_sftp(&mut self, upstream: Channel<client::Msg>, mut awaiting_reply: bool) {
        let (mut from_target, to_target) = upstream.split();
        let mut filter = SftpFilter::new(self.established.clone());
        loop {
            tokio::select! {
                message = self.from_client.wait() => match message {
                    None | Some(ChannelMsg::Close) => {
                        let _ = to_target.close().await;
                        break;
                    }
                    Some(ChannelMsg::Data { data }) => {
                        if let Err(error) = filter.client_sent(&data, &to_target, &self.to_client).await {
                            tracing::warn!(%error, "sftp: a client request could not be read; the channel is closed");
                            let _ = self
                                .to_client
                                .extended_data_bytes(STDERR, Bytes::from(format!("gatehouse: {error}\n")))
                                .await;
                            let _ = to_target.close().await;
                            let _ = self.to_client.close().await;
                            break;
                        }
                    }
                    Some(ChannelMsg::Eof) => {
                        let _ = to_target.eof().await;
                    }
                    Some(
                        ChannelMsg::Exec { want_reply, .. }
                        | ChannelMsg::RequestShell { want_reply }
                        | ChannelMsg::RequestSubsystem { want_reply, .. },
                    ) => self.reply(want_reply, false).await,
                    Some(_) => {}
                },
                message = from_target.wait() => match message {
                    None | Some(ChannelMsg::Close) => {
                        let _ = self.to_client.close().await;
                        break;
                    }
                    Some(ChannelMsg::Data { data }) => {
                        if filter.target_sent(&data).is_err() {
                            let _ = to_target.close().await;
                            let _ = self.to_client.close().await;
                            break;
                        }
                        if self.to_client.data_bytes(data).await.is_err() {
                            break;
                        }
                    }
                    Some(ChannelMsg::ExtendedData { data, ext }) => {
                        let _ = self.to_client.extended_data_bytes(ext, data).await;
                    }
                    Some(ChannelMsg::Eof) => {
                        let _ = self.to_client.eof().await;
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        let _ = self.to_client.exit_status(exit_status).await;
                    }
                    Some(ChannelMsg::Success) if awaiting_reply => {
                        awaiting_reply = false;
                        self.reply(true, true).await;
                    }
                    Some(ChannelMsg::Failure) if awaiting_reply => {
                        awaiting_reply = false;
                        self.reply(true, false).await;
                    }
                    Some(_) => {}
                },
            }
        }
        filter.finish();
    }
}

/// A command's stdout and stderr, each masked line by line.
struct OutputMasking {
    output: LineMasker,
    errors: LineMasker,
}

impl OutputMasking {
    fn new(masker: &Arc<Masker>) -> Self {
        OutputMasking {
            output: LineMasker::new(masker.clone(), MAX_MASKED_LINE),
            errors: LineMasker::new(masker.clone(), MAX_MASKED_LINE),
        }
    }

    /// The masked lines `data` completes on stdout (`ext` `None`) or another stream.
    fn push(
        &mut self,
        ext: Option<u32>,
        data: &[u8],
    ) -> Result<Vec<u8>, gatehouse_mask::MaskError> {
        match ext {
            None => self.output.push(data),
            Some(_) => self.errors.push(data),
        }
    }

    /// The last unfinished line of each stream, masked.
    fn finish(&mut self) -> Result<(Vec<u8>, Vec<u8>), gatehouse_mask::MaskError> {
        Ok((self.output.finish()?, self.errors.finish()?))
    }

    /// Values masked in both streams, per detector.
    fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for stream in [&self.output, &self.errors] {
            for (detector, count) in stream.counts().detectors() {
                *counts.entry(detector.clone()).or_insert(0) += count;
            }
        }
        counts
    }
}
