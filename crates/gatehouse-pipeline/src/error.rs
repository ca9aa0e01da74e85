//! Why the pipeline could not reach a decision at all (as opposed to deciding "deny").

/// Failures that stop a request before any decision; adapters fail closed on every one.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The audit log did not accept the event, so the request must not be forwarded.
    #[error(
        "the audit log is unavailable ({0}); the request was refused because it cannot be recorded"
    )]
    AuditUnavailable(String),
    /// The approval store could not be read or written.
    #[error("the approval store is unavailable ({0}); retry when it is healthy again")]
    ApprovalsUnavailable(String),
}
