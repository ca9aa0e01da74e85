//! What can go wrong reading a kubeconfig that defines a connection: each error names the
//! file, and where it applies the context and the key, so an operator finds the line to fix.

use std::path::PathBuf;

/// The adapter's errors (its refusals to clients are `Status` answers, not errors).
#[derive(Debug, thiserror::Error)]
pub enum KubeGatewayError {
    #[error("kubeconfig `{}` cannot be read: {reason}", file.display())]
    Unreadable { file: PathBuf, reason: String },
    #[error("kubeconfig `{}` is not valid YAML or JSON: {reason}", file.display())]
    Malformed { file: PathBuf, reason: String },
    #[error("kubeconfig `{}`, context `{context}`: {problem}", file.display())]
    Kubeconfig {
        file: PathBuf,
        context: String,
        problem: String,
    },
    #[error("kubeconfig `{}` names no context: give the connection `context = \"NAME\"` or set the file's `current-context`", file.display())]
    NoContext { file: PathBuf },
    #[error("a kubeconfig cannot be written as YAML: {0}")]
    Unwritable(String),
}
