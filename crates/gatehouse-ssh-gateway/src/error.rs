//! What can go wrong in the SSH adapter, as one error type; every message says what to do.

/// The SSH adapter's errors.
#[derive(Debug, thiserror::Error)]
pub enum SshGatewayError {
    #[error("the SSH key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error(
        "`{0}` is not an OpenSSH public key (give the target's host key as `TYPE BASE64`, a line of its /etc/ssh/ssh_host_*_key.pub or of `ssh-keyscan HOST`, or its fingerprint `SHA256:...`)"
    )]
    PublicKey(String),
    #[error("the target could not be reached: {0}")]
    Unreachable(String),
    #[error(
        "the target presented the host key {seen}, not the pinned {pinned}: refusing to log in (the host was replaced or someone is in between; if the key was rotated on purpose, update the connection's `host_key`, in the agents' config when agents serve it)"
    )]
    HostKeyMismatch { pinned: String, seen: String },
    #[error(
        "the target refused gatehouse's login as `{user}`: check the connection's `user` (in the agents' config when agents serve it) and that its key is in that user's authorized_keys"
    )]
    TargetLogin { user: String },
    #[error("the login through the agent: {0}")]
    AgentLogin(String),
    #[error("SSH: {0}")]
    Ssh(#[from] russh::Error),
    #[error("the SSH certificate cannot be issued: {0}")]
    Certificate(String),
}
