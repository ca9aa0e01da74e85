//! exec and attach with the transport set aside: what the client asked for (the query's
//! command, container and streams), what flows in (stdin, its end, terminal sizes) and out
//! (stdout, stderr and the final status), recorded on the way. The transports (WebSocket
//! channels, SPDY streams) translate their framing to and from these.

pub mod attach;
pub mod exec;
pub mod over_spdy;
pub mod over_websocket;

use crate::logs;
use crate::query::Query;
use crate::sessions::{Recorder, TerminalSize};
use crate::status::ApiError;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// What the query of an exec or attach asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub container: String,
    /// exec's command and arguments; empty for attach.
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Options {
    /// The options of `pod`'s exec (`exec` true) or attach, refused as the API refuses them.
    pub fn parse(query: &Query, pod: &Value, exec: bool) -> Result<Self, ApiError> {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let container = logs::container(pod, name, query.get("container"))?;
        let command: Vec<String> = query.all("command").map(str::to_owned).collect();
        if exec && command.is_empty() {
            return Err(ApiError::bad_request(
                "you must specify at least one command for the container",
            ));
        }
        let tty = query.flag("tty");
        let options = Self {
            container,
            command,
            stdin: query.flag("stdin"),
            stdout: query.flag("stdout"),
            // With a terminal there is no separate stderr, as with kubelet.
            stderr: query.flag("stderr") && !tty,
            tty,
        };
        if !options.stdin && !options.stdout && !options.stderr {
            return Err(ApiError::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        Ok(options)
    }
}

/// What the client sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Stdin(Bytes),
    StdinEnd,
    Resize(TerminalSize),
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Success,
    ExitCode(i32),
    /// The command could not run.
    Failure(String),
}

impl Ending {
    /// The `Status` the v4 and v5 protocols send on the error stream, as kubelet words it.
    pub fn status(&self, command: &[String]) -> Value {
        match self {
            Self::Success => json!({"metadata": {}, "status": "Success"}),
            Self::ExitCode(code) => json!({
                "metadata": {},
                "status": "Failure",
                "message": self.message(command),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            }),
            Self::Failure(message) => json!({
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": "InternalError",
                "details": {"causes": [{"message": message}]},
                "code": 500,
            }),
        }
    }

    /// The plain text the older protocols send on the error stream (nothing on success).
    pub fn message(&self, command: &[String]) -> String {
        match self {
            Self::Success => String::new(),
            Self::ExitCode(code) => format!(
                "command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"
            ),
            Self::Failure(message) => message.clone(),
        }
    }
}

/// What goes back to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
    End(Ending),
}

/// The runner's end of the client's input; `None` from [`Inputs::recv`] means the client has
/// gone.
pub struct Inputs {
    receiver: mpsc::Receiver<Input>,
    recorder: Recorder,
}

impl Inputs {
    pub async fn recv(&mut self) -> Option<Input> {
        let input = self.receiver.recv().await?;
        self.recorder.update(|s| match &input {
            Input::Stdin(data) => s.stdin.extend_from_slice(data),
            Input::StdinEnd => s.stdin_closed = true,
            Input::Resize(size) => s.resizes.push(*size),
        });
        Some(input)
    }
}

/// The runner's way back to the client.
#[derive(Clone)]
pub struct Outputs {
    sender: mpsc::Sender<Output>,
    recorder: Recorder,
}

impl Outputs {
    /// Send; false once the client has gone.
    pub async fn send(&self, output: Output) -> bool {
        self.recorder.update(|s| match &output {
            Output::Stdout(data) => s.stdout.extend_from_slice(data),
            Output::Stderr(data) => s.stderr.extend_from_slice(data),
            Output::End(Ending::ExitCode(code)) => s.exit_code = Some(*code),
            Output::End(Ending::Success) => s.exit_code = Some(0),
            Output::End(Ending::Failure(message)) => s.failure = Some(message.clone()),
        });
        self.sender.send(output).await.is_ok()
    }
}

/// The pipes between a transport and a runner: the transport feeds the first and drains the
/// last.
pub fn pipes(recorder: Recorder) -> (mpsc::Sender<Input>, Inputs, Outputs, mpsc::Receiver<Output>) {
    let (feed, receiver) = mpsc::channel(64);
    let (sender, drain) = mpsc::channel(64);
    let inputs = Inputs {
        receiver,
        recorder: recorder.clone(),
    };
    (feed, inputs, Outputs { sender, recorder }, drain)
}

/// A terminal size as kubectl sends it: `{"Width":80,"Height":24}`.
pub fn terminal_size(value: &Value) -> Option<TerminalSize> {
    let field = |name| {
        value
            .get(name)
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
    };
    Some(TerminalSize {
        width: field("Width")?,
        height: field("Height")?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn an_exit_code_is_a_failure_status_kubectl_reads_the_code_from() {
        let status = Ending::ExitCode(3).status(&["sh".into()]);
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(status["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(status["details"]["causes"][0]["message"], "3");
        assert_eq!(
            Ending::Success.status(&[]),
            json!({"metadata": {}, "status": "Success"})
        );
    }

    #[test]
    fn tty_drops_stderr_and_some_stream_is_required() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
        let query = Query::parse(Some(
            "command=ls&command=-l&stdout=true&stderr=true&tty=true",
        ));
        let options = Options::parse(&query, &pod, true).unwrap();
        assert_eq!(options.command, ["ls", "-l"]);
        assert_eq!(options.container, "c");
        assert!(options.tty && options.stdout && !options.stderr);
        let none = Query::parse(Some("command=ls"));
        assert_eq!(Options::parse(&none, &pod, true).unwrap_err().code, 400);
        let attach = Query::parse(Some("stdin=true"));
        assert!(Options::parse(&attach, &pod, false).unwrap().stdin);
    }

    #[test]
    fn reads_a_terminal_size() {
        assert_eq!(
            terminal_size(&json!({"Width": 80, "Height": 24})),
            Some(TerminalSize {
                width: 80,
                height: 24
            })
        );
        assert_eq!(terminal_size(&json!({"Width": 80})), None);
    }
}
