//! The SSH adapter. OpenSSH clients (`ssh`, `scp`, `sftp`, `rsync -e ssh`) and SSH libraries
//! log in to gatehouse — the login name is the connection, the credential a gatehouse token
//! (password or keyboard-interactive) or a short-lived certificate from gatehouse's user CA —
//! and every exec, shell, sftp operation and port forward is decided by policy before
//! gatehouse's own connection to the target (host key pinned, the target's credential held
//! here or at an agent) carries it. Shells and execs are recorded as terminal streams; a
//! revocation ends every channel with its reason.

pub mod agent_login;
mod certificates;
mod channel;
mod decide;
mod error;
mod forward;
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod handler;
pub mod keys;
mod sftp;
mod target;
mod target_side;

pub use certificates::{CertificateLogins, CredentialStatus};
pub use channel::REFUSED_EXIT_STATUS;
pub use error::SshGatewayError;
pub use gatehouse_ssh::{SSH, SSH_PROTOCOL};

/// The request an exec of `command` is decided as (`ssh:exec`, or `ssh:scp` for legacy
/// scp's far end), as the gateway reads it; for checking policies offline.
pub fn request_of_exec(command: &str) -> gatehouse_ssh::SshRequest {
    gatehouse_ssh::SshRequest::from_exec(gatehouse_ssh::command::ExecCommand::parse(command))
}
pub use gateway::{SshGateway, SshLimits, serve};
pub use target::{SshTarget, SshTargets, TargetCredential, TargetLogin};
