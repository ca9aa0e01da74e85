//! Errors of the store, worded for the operator who has to fix them.

/// Everything that can go wrong reading or writing gatehouse's store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the store at `{0}`: {1}; check that the data directory exists and is writable"
    )]
    Open(String, String),
    #[error("cannot migrate the store to schema version {0}: {1}")]
    Migration(i64, String),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("no key with id `{0}`; `gatehouse keys list` shows the ids")]
    NoSuchKey(String),
    #[error("cannot use the key from {origin}: {reason}")]
    AuditKey { origin: String, reason: String },
    #[error("cannot use the audit checkpoint file `{0}`: {1}")]
    Checkpoint(String, String),
    #[error("audit log: {0}")]
    Audit(String),
    #[error("the store holds a corrupt value in {0}: {1}")]
    Corrupt(&'static str, String),
    /// The store's file cannot be opened where it was (an unmounted or broken volume).
    #[error("{0}")]
    Unreachable(String),
    #[error("store query failed: {0}")]
    RecordingQuery(#[source] rusqlite::Error),
    #[error(
        "recording `{id}`: chunk {chunk} is out of order, the next chunk must be {expected} \
         (chunks are stored in order, without gaps)"
    )]
    ChunkOutOfOrder {
        id: String,
        chunk: u32,
        expected: i64,
    },
    #[error("recording `{0}` already exists; only its first chunk (0) creates it")]
    RecordingExists(String),
    #[error("recording `{0}` is finished; no more chunks can be added to it")]
    RecordingFinished(String),
    #[error(
        "chunk 0 of recording `{id}` starts the recording of session `{session}`; a recording's \
         id is its session id"
    )]
    RecordingIdMismatch { id: String, session: String },
    #[error(
        "agent `{0}` already exists; `gatehouse agents create {0} --replace` issues a new enrolment token (its current credential stops working)"
    )]
    AgentExists(String),
    #[error("no agent named `{0}`; `gatehouse agents list` shows them")]
    NoSuchAgent(String),
    #[error("no approval with id `{0}`; `gatehouse approvals list` shows the ids")]
    NoSuchApproval(String),
    #[error("approval `{id}` already exists; every approval needs a new id")]
    ApprovalExists { id: String },
    #[error("approval `{id}` is {state}, so it cannot be reviewed any more: {next}")]
    ApprovalClosed {
        id: String,
        state: &'static str,
        /// What the reviewer (or requester) can do instead.
        next: &'static str,
    },
    #[error(
        "no one approves their own request: `{reviewer}` asked for approval `{id}` (or acts \
         for, or through, who asked); another member of `{group}` must review it"
    )]
    SelfReview {
        id: String,
        reviewer: String,
        group: String,
    },
    #[error(
        "`{reviewer}` is not in group `{group}`, whose members review approval `{id}`; ask a \
         member of `{group}` to review it, or use a key of yours that has the group \
         (`gatehouse keys create --identity {reviewer} --groups {group}`)"
    )]
    NotApprover {
        id: String,
        reviewer: String,
        group: String,
    },
    #[error(
        "`{reviewer}` already approved `{id}`; it needs {required} distinct approvers from \
         `{group}` and has {approvals}: ask another member of `{group}`"
    )]
    AlreadyApproved {
        id: String,
        reviewer: String,
        group: String,
        approvals: u32,
        required: u32,
    },
    #[error(
        "denying approval `{0}` needs a reason, which the requester sees; give one (on the \
         command line: `--reason TEXT`)"
    )]
    ReasonRequired(String),
    #[error(
        "approval `{0}` kept changing while it was being reviewed (other reviewers acting at \
         the same moment); run the review again"
    )]
    ReviewContended(String),
}
