//! SSH requests as policy sees them. Pure domain: no network code, no SSH implementation; the
//! SSH adapter hands it what a client asked for (an exec command line, a shell, a forwarding,
//! the bytes of an SFTP channel) and gets back what policy decides on ([`SshRequest`], a
//! [`gatehouse_core::ProtocolRequest`] with the `ssh:*` actions of [`SSH_PROTOCOL`]).
//!
//! # What it gives
//!
//! - [`command::ExecCommand`]: an exec request's command line split the way the target's
//!   POSIX shell splits it (`program`, `args`), and whether the shell would read more into it
//!   (`has_shell_syntax`). A rule on argv is not a boundary (the shell parses the line again:
//!   `r""m`, `env rm`, `$(...)`); policies allow programs only without shell syntax.
//! - [`scp::ScpTransfer`]: legacy scp's server side (`scp -t`/`scp -f`, what `scp -O` runs),
//!   decided as a transfer with a direction and paths instead of as a command.
//! - [`sftp`]: SFTP v3 framing ([`sftp::PacketReader`], bounded), client requests decoded
//!   into an operation on a path or on a handle ([`sftp::SftpRequest`]), server responses
//!   decoded to follow handles and byte counts ([`sftp::SftpResponse`]), and the status
//!   packet a refusal is answered with ([`sftp::status_packet`]).
//! - [`SshRequest`]: one request in the pipeline's terms, with the schema fragment
//!   [`SSH_PROTOCOL`] and the connection kind [`SSH`].
//!
//! # Use
//!
//! ```
//! use gatehouse_core::{Attribute, ProtocolRequest};
//! use gatehouse_ssh::command::ExecCommand;
//! use gatehouse_ssh::SshRequest;
//!
//! let evasion = ExecCommand::parse(r#"r""m -rf /tmp/x"#);
//! assert_eq!(evasion.program(), "rm");
//! assert!(evasion.has_shell_syntax());
//!
//! let request = SshRequest::from_exec(ExecCommand::parse("scp -r -t -- /tmp/d"));
//! assert_eq!(request.action(), "ssh:scp");
//! assert!(request.attributes().contains(&("recursive", Attribute::Bool(true))));
//! ```

pub mod command;
mod error;
pub mod request;
mod schema;
pub mod scp;
pub mod sftp;

pub use error::SshError;
pub use request::{SshRequest, TextCache};
pub use schema::{SSH, SSH_PROTOCOL};
