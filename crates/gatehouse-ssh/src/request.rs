//! One SSH request in the pipeline's terms: its `ssh:*` action, effect, canonical text (what
//! is audited and what an approval binds to), a fingerprint stable across literal values, and
//! the Cedar context `schema/ssh.cedarschema` declares for its action.
//!
//! [`ProtocolRequest::text`] borrows from the request, and an SFTP request's or a forwarding's
//! text is composed (`sftp write /tmp/x`, `forward db:5432`), so those two variants carry a
//! [`TextCache`] the text is rendered into on first use: build them with
//! [`SshRequest::sftp`] and [`SshRequest::forward`] (or with `text: TextCache::default()`),
//! and do not change their fields after the text was asked for.
//!
//! Texts name paths and hosts unambiguously: a path of plain characters is written as is, any
//! other one quoted with Rust's escapes (`"/tmp/a b"`), so that an approval given for one
//! request cannot be read as another's.

use crate::command::ExecCommand;
use crate::scp::{ScpDirection, ScpTransfer};
use crate::sftp::SftpOperation;
use gatehouse_core::{Attribute, Effect, ProtocolRequest};

/// One SSH request as policy decides it.
#[derive(Debug, Clone)]
pub enum SshRequest {
    /// A command line for the target login's shell (`ssh:exec`).
    Exec(ExecCommand),
    /// An interactive shell (`ssh:shell`), with the terminal type of its pty ("" without).
    Shell { term: String },
    /// One SFTP request (`ssh:sftp`); `destination` is "" unless it names a second path.
    Sftp {
        operation: SftpOperation,
        path: String,
        destination: String,
        /// The text, rendered on first use.
        text: TextCache,
    },
    /// A legacy scp transfer (`ssh:scp`) and the command line that asked for it.
    Scp {
        transfer: ScpTransfer,
        command: String,
    },
    /// Local port forwarding (a direct-tcpip channel) to `host`:`port` (`ssh:forward`).
    Forward {
        host: String,
        port: u16,
        /// The text, rendered on first use.
        text: TextCache,
    },
    /// The client's agent offered to the target (`ssh:agent_forward`).
    AgentForward,
    /// X11 forwarding (`ssh:x11`).
    X11,
}

/// Where a composed request text is kept once rendered (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct TextCache(std::sync::OnceLock<String>);

impl SshRequest {
    /// An SFTP request (`destination` "" unless it names a second path).
    pub fn sftp(operation: SftpOperation, path: String, destination: String) -> SshRequest {
        SshRequest::Sftp {
            operation,
            path,
            destination,
            text: TextCache::default(),
        }
    }

    /// A local port forwarding to `host`:`port`.
    pub fn forward(host: String, port: u16) -> SshRequest {
        SshRequest::Forward {
            host,
            port,
            text: TextCache::default(),
        }
    }

    /// An exec request: a legacy scp transfer when the command is one
    /// ([`ScpTransfer::from_exec`]), else the command.
    pub fn from_exec(command: ExecCommand) -> SshRequest {
        match ScpTransfer::from_exec(&command) {
            Some(transfer) => SshRequest::Scp {
                transfer,
                command: command.line().to_owned(),
            },
            None => SshRequest::Exec(command),
        }
    }

    /// The canonical text (what [`ProtocolRequest::text`] returns).
    fn render_text(&self) -> &str {
        match self {
            SshRequest::Exec(command) => command.line(),
            SshRequest::Shell { .. } => "shell",
            SshRequest::Sftp {
                operation,
                path,
                destination,
                text,
            } => text.0.get_or_init(|| {
                let mut text = format!("sftp {} {}", operation.as_str(), quoted(path));
                if !destination.is_empty() {
                    text.push(' ');
                    text.push_str(&quoted(destination));
                }
                text
            }),
            SshRequest::Scp { command, .. } => command,
            SshRequest::Forward { host, port, text } => text.0.get_or_init(|| {
                if host.contains(':') && is_plain(host) {
                    format!("forward [{host}]:{port}")
                } else {
                    format!("forward {}:{port}", quoted(host))
                }
            }),
            SshRequest::AgentForward => "agent_forward",
            SshRequest::X11 => "x11",
        }
    }
}

/// Whether `text` is written as is in a request text.
fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=~".contains(&b))
}

/// `text` as is when plain, else quoted with Rust's escapes.
fn quoted(text: &str) -> String {
    if is_plain(text) {
        text.to_owned()
    } else {
        format!("{text:?}")
    }
}

impl ProtocolRequest for SshRequest {
    fn action(&self) -> &'static str {
        match self {
            SshRequest::Exec(_) => "ssh:exec",
            SshRequest::Shell { .. } => "ssh:shell",
            SshRequest::Sftp { .. } => "ssh:sftp",
            SshRequest::Scp { .. } => "ssh:scp",
            SshRequest::Forward { .. } => "ssh:forward",
            SshRequest::AgentForward => "ssh:agent_forward",
            SshRequest::X11 => "ssh:x11",
        }
    }

    fn effect(&self) -> Effect {
        match self {
            SshRequest::Exec(_) | SshRequest::Shell { .. } | SshRequest::Forward { .. } => {
                Effect::Unknown
            }
            SshRequest::Sftp { operation, .. } => match operation {
                SftpOperation::Read | SftpOperation::List => Effect::Read,
                _ => Effect::Write,
            },
            SshRequest::Scp { transfer, .. } => match transfer.direction {
                ScpDirection::Download => Effect::Read,
                ScpDirection::Upload => Effect::Write,
            },
            SshRequest::AgentForward | SshRequest::X11 => Effect::Admin,
        }
    }

    fn text(&self) -> &str {
        self.render_text()
    }

    fn fingerprint(&self) -> &str {
        match self {
            SshRequest::Exec(command) => command.program(),
            SshRequest::Shell { .. } => "shell",
            SshRequest::Sftp { operation, .. } => match operation {
                SftpOperation::Read => "sftp read",
                SftpOperation::Write => "sftp write",
                SftpOperation::Remove => "sftp remove",
                SftpOperation::Rename => "sftp rename",
                SftpOperation::Mkdir => "sftp mkdir",
                SftpOperation::List => "sftp list",
            },
            SshRequest::Scp { transfer, .. } => match transfer.direction {
                ScpDirection::Upload => "scp upload",
                ScpDirection::Download => "scp download",
            },
            SshRequest::Forward { .. } => "forward",
            SshRequest::AgentForward => "agent_forward",
            SshRequest::X11 => "x11",
        }
    }

    fn attributes(&self) -> Vec<(&'static str, Attribute)> {
        let text = |value: &str| Attribute::String(value.to_owned());
        match self {
            SshRequest::Exec(command) => vec![
                ("command", text(command.line())),
                ("program", text(command.program())),
                ("args", Attribute::Set(command.args().to_vec())),
                (
                    "has_shell_syntax",
                    Attribute::Bool(command.has_shell_syntax()),
                ),
            ],
            SshRequest::Shell { term } => vec![("term", text(term))],
            SshRequest::Sftp {
                operation,
                path,
                destination,
                ..
            } => vec![
                ("operation", text(operation.as_str())),
                ("path", text(path)),
                ("destination", text(destination)),
            ],
            SshRequest::Scp { transfer, command } => vec![
                ("direction", text(transfer.direction.as_str())),
                ("paths", Attribute::Set(transfer.paths.clone())),
                ("recursive", Attribute::Bool(transfer.recursive)),
                ("command", text(command)),
            ],
            SshRequest::Forward { host, port, .. } => vec![
                ("host", text(host)),
                ("port", Attribute::Long(i64::from(*port))),
            ],
            SshRequest::AgentForward | SshRequest::X11 => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::SSH_PROTOCOL;

    fn every_kind() -> Vec<SshRequest> {
        vec![
            SshRequest::Exec(ExecCommand::parse("ls -la /tmp")),
            SshRequest::Shell {
                term: "xterm".to_owned(),
            },
            SshRequest::sftp(SftpOperation::Write, "/tmp/x".to_owned(), String::new()),
            SshRequest::from_exec(ExecCommand::parse("scp -f /etc/hostname")),
            SshRequest::forward("db.internal".to_owned(), 5432),
            SshRequest::AgentForward,
            SshRequest::X11,
        ]
    }

    #[test]
    fn actions_effects_texts_fingerprints() {
        let expected = [
            ("ssh:exec", Effect::Unknown, "ls -la /tmp", "ls"),
            ("ssh:shell", Effect::Unknown, "shell", "shell"),
            ("ssh:sftp", Effect::Write, "sftp write /tmp/x", "sftp write"),
            (
                "ssh:scp",
                Effect::Read,
                "scp -f /etc/hostname",
                "scp download",
            ),
            (
                "ssh:forward",
                Effect::Unknown,
                "forward db.internal:5432",
                "forward",
            ),
            (
                "ssh:agent_forward",
                Effect::Admin,
                "agent_forward",
                "agent_forward",
            ),
            ("ssh:x11", Effect::Admin, "x11", "x11"),
        ];
        let requests = every_kind();
        for (request, (action, effect, text, fingerprint)) in requests.iter().zip(expected) {
            assert_eq!(request.action(), action);
            assert_eq!(request.effect(), effect, "{action}");
            assert_eq!(request.text(), text, "{action}");
            assert_eq!(request.fingerprint(), fingerprint, "{action}");
            // Twice: the cached text is the same.
            assert_eq!(request.text(), text, "{action}");
        }
        let actions: Vec<&str> = requests.iter().map(|request| request.action()).collect();
        assert_eq!(actions, SSH_PROTOCOL.request_actions);
    }

    #[test]
    fn sftp_effects_and_texts() {
        use SftpOperation::*;
        let sftp = |operation, path: &str, destination: &str| {
            SshRequest::sftp(operation, path.to_owned(), destination.to_owned())
        };
        for (operation, effect) in [
            (Read, Effect::Read),
            (List, Effect::Read),
            (Write, Effect::Write),
            (Remove, Effect::Write),
            (Rename, Effect::Write),
            (Mkdir, Effect::Write),
        ] {
            assert_eq!(sftp(operation, "a", "").effect(), effect, "{operation:?}");
        }
        assert_eq!(sftp(Rename, "/a", "/b").text(), "sftp rename /a /b");
        assert_eq!(sftp(List, "", "").text(), "sftp list \"\"");
        // Paths with spaces or controls are quoted, so that texts cannot collide.
        assert_eq!(sftp(Rename, "/a b", "/c").text(), "sftp rename \"/a b\" /c");
        assert_eq!(sftp(Rename, "/a", "b /c").text(), "sftp rename /a \"b /c\"");
        assert_eq!(sftp(Read, "/a\nb", "").text(), "sftp read \"/a\\nb\"");
        assert_eq!(sftp(Read, "/\"x\"", "").text(), "sftp read \"/\\\"x\\\"\"");
    }

    #[test]
    fn scp_effects() {
        let upload = SshRequest::from_exec(ExecCommand::parse("scp -r -t -- /tmp/d"));
        assert_eq!(upload.effect(), Effect::Write);
        assert_eq!(upload.fingerprint(), "scp upload");
        assert_eq!(
            upload.attributes(),
            vec![
                ("direction", Attribute::String("upload".to_owned())),
                ("paths", Attribute::Set(vec!["/tmp/d".to_owned()])),
                ("recursive", Attribute::Bool(true)),
                (
                    "command",
                    Attribute::String("scp -r -t -- /tmp/d".to_owned())
                ),
            ]
        );
        // Not the exact scp form: an exec.
        let exec = SshRequest::from_exec(ExecCommand::parse("/tmp/scp -t /tmp"));
        assert_eq!(exec.action(), "ssh:exec");
    }

    #[test]
    fn forward_texts() {
        let forward = |host: &str| SshRequest::forward(host.to_owned(), 22);
        assert_eq!(forward("10.0.0.1").text(), "forward 10.0.0.1:22");
        assert_eq!(forward("::1").text(), "forward [::1]:22");
        assert_eq!(forward("[::1]").text(), "forward \"[::1]\":22");
        assert_eq!(forward("a b").text(), "forward \"a b\":22");
        assert_eq!(forward("").text(), "forward \"\":22");
        assert_eq!(
            forward("db").attributes(),
            vec![
                ("host", Attribute::String("db".to_owned())),
                ("port", Attribute::Long(22)),
            ]
        );
    }

    #[test]
    fn exec_attributes() {
        let request = SshRequest::Exec(ExecCommand::parse("r\"\"m -rf /tmp/x"));
        assert_eq!(
            request.attributes(),
            vec![
                ("command", Attribute::String("r\"\"m -rf /tmp/x".to_owned())),
                ("program", Attribute::String("rm".to_owned())),
                (
                    "args",
                    Attribute::Set(vec!["-rf".to_owned(), "/tmp/x".to_owned()])
                ),
                ("has_shell_syntax", Attribute::Bool(true)),
            ]
        );
    }
}
