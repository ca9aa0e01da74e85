//! The single-byte codes of the PostgreSQL wire protocol (v3), by name.
//!
//! A message's type byte means different messages by direction: `D` is Describe from the
//! client but DataRow from the server, `C` Close or CommandComplete, `S` Sync or
//! ParameterStatus, `E` Execute or ErrorResponse, `H` Flush or CopyOutResponse. Written as
//! literals, a reader has to work out which side a frame came from to know what a match arm
//! handles, and a wrong guess reads as correct code. So every type byte gatehouse reads or
//! writes is named here, under the direction it travels in: [`frontend`] (client to server)
//! and [`backend`] (server to client). The other one-byte codes inside messages have groups
//! of their own: Describe and Close targets ([`target_kind`]), the transaction status of
//! ReadyForQuery ([`transaction_status`]) and the field codes of ErrorResponse and
//! NoticeResponse ([`error_field`]).
//!
//! See the PostgreSQL documentation, [Message Formats] and [Error and Notice Message Fields].
//!
//! [Message Formats]: https://www.postgresql.org/docs/current/protocol-message-formats.html
//! [Error and Notice Message Fields]: https://www.postgresql.org/docs/current/protocol-error-fields.html

/// Type bytes of the messages a client sends (read from clients, written to servers): all of
/// protocol 3.0's regular frontend messages. The startup-phase messages (StartupMessage,
/// SSLRequest, GSSENCRequest, CancelRequest) have no type byte; see the request codes in
/// [`crate::wire`].
pub mod frontend {
    /// `Query`: a simple-protocol query string.
    pub const QUERY: u8 = b'Q';
    /// `Parse`: prepare a statement.
    pub const PARSE: u8 = b'P';
    /// `Bind`: bind parameters to a statement, making a portal.
    pub const BIND: u8 = b'B';
    /// `Execute`: run a portal.
    pub const EXECUTE: u8 = b'E';
    /// `Describe`: a statement or portal (see [`super::target_kind`]).
    pub const DESCRIBE: u8 = b'D';
    /// `Close`: a statement or portal (see [`super::target_kind`]).
    pub const CLOSE: u8 = b'C';
    /// `Sync`: end of an extended-protocol batch.
    pub const SYNC: u8 = b'S';
    /// `Flush`: ask for the answers so far.
    pub const FLUSH: u8 = b'H';
    /// `CopyData` of a COPY FROM STDIN.
    pub const COPY_DATA: u8 = b'd';
    /// `CopyDone`: a COPY FROM STDIN's data ended.
    pub const COPY_DONE: u8 = b'c';
    /// `CopyFail`: the client abandons a COPY FROM STDIN.
    pub const COPY_FAIL: u8 = b'f';
    /// `FunctionCall`: the fast-path function call.
    pub const FUNCTION_CALL: u8 = b'F';
    /// `Terminate`: the client says goodbye.
    pub const TERMINATE: u8 = b'X';
    /// `PasswordMessage`. The same byte carries every answer to an authentication request
    /// (also `GSSResponse`, [`SASL_INITIAL_RESPONSE`] and [`SASL_RESPONSE`]): the receiver
    /// tells them apart by the request it made.
    pub const PASSWORD_MESSAGE: u8 = b'p';
    /// `SASLInitialResponse` (the byte of [`PASSWORD_MESSAGE`]).
    pub const SASL_INITIAL_RESPONSE: u8 = PASSWORD_MESSAGE;
    /// `SASLResponse` (the byte of [`PASSWORD_MESSAGE`]).
    pub const SASL_RESPONSE: u8 = PASSWORD_MESSAGE;
}

/// Type bytes of the messages a server sends (read from servers, written to clients): all of
/// protocol 3.0's backend messages.
pub mod backend {
    /// `Authentication*`: an authentication request or its outcome (the code follows).
    pub const AUTHENTICATION: u8 = b'R';
    /// `BackendKeyData`: the key a CancelRequest needs.
    pub const BACKEND_KEY_DATA: u8 = b'K';
    /// `ParameterStatus`: a run-time parameter's value; sent whenever the server likes.
    pub const PARAMETER_STATUS: u8 = b'S';
    /// `ReadyForQuery`, with a [`super::transaction_status`].
    pub const READY_FOR_QUERY: u8 = b'Z';
    /// `RowDescription`: the columns of the rows that follow.
    pub const ROW_DESCRIPTION: u8 = b'T';
    /// `DataRow`: one row of a result.
    pub const DATA_ROW: u8 = b'D';
    /// `CommandComplete`, with a command tag.
    pub const COMMAND_COMPLETE: u8 = b'C';
    /// `EmptyQueryResponse`: the answer to an empty query string.
    pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
    /// `ErrorResponse` (fields: [`super::error_field`]).
    pub const ERROR_RESPONSE: u8 = b'E';
    /// `NoticeResponse` (fields: [`super::error_field`]); sent whenever the server likes.
    pub const NOTICE_RESPONSE: u8 = b'N';
    /// `NotificationResponse`: a NOTIFY; sent whenever the server likes.
    pub const NOTIFICATION_RESPONSE: u8 = b'A';
    /// `ParseComplete`: the answer to Parse.
    pub const PARSE_COMPLETE: u8 = b'1';
    /// `BindComplete`: the answer to Bind.
    pub const BIND_COMPLETE: u8 = b'2';
    /// `CloseComplete`: the answer to Close.
    pub const CLOSE_COMPLETE: u8 = b'3';
    /// `NoData`: a Describe's answer for something that returns no rows.
    pub const NO_DATA: u8 = b'n';
    /// `PortalSuspended`: an Execute stopped at its row limit.
    pub const PORTAL_SUSPENDED: u8 = b's';
    /// `ParameterDescription`: a statement's parameter types (Describe of a statement).
    pub const PARAMETER_DESCRIPTION: u8 = b't';
    /// `CopyInResponse`: a COPY FROM STDIN started.
    pub const COPY_IN_RESPONSE: u8 = b'G';
    /// `CopyOutResponse`: a COPY TO STDOUT started.
    pub const COPY_OUT_RESPONSE: u8 = b'H';
    /// `CopyBothResponse`: streaming replication started.
    pub const COPY_BOTH_RESPONSE: u8 = b'W';
    /// `CopyData` of a COPY TO STDOUT.
    pub const COPY_DATA: u8 = b'd';
    /// `CopyDone`: a COPY TO STDOUT's data ended.
    pub const COPY_DONE: u8 = b'c';
    /// `FunctionCallResponse`: the answer to FunctionCall.
    pub const FUNCTION_CALL_RESPONSE: u8 = b'V';
    /// `NegotiateProtocolVersion`: the newest minor version and the options not supported.
    pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
}

/// What a `Describe` or `Close` message is about: the byte after its type and length.
pub mod target_kind {
    /// A prepared statement.
    pub const STATEMENT: u8 = b'S';
    /// A portal.
    pub const PORTAL: u8 = b'P';
}

/// The transaction status a `ReadyForQuery` carries.
pub mod transaction_status {
    /// Not in a transaction block.
    pub const IDLE: u8 = b'I';
    /// In a transaction block.
    pub const IN_TRANSACTION: u8 = b'T';
    /// In a failed transaction block: statements are refused until it ends.
    pub const FAILED: u8 = b'E';
}

/// Field codes of `ErrorResponse` and `NoticeResponse`: the ones gatehouse reads or writes
/// (PostgreSQL defines more; they pass through unread).
pub mod error_field {
    /// Severity, possibly localized (`ERROR`, `FEHLER`).
    pub const SEVERITY: u8 = b'S';
    /// Severity, never localized (`ERROR`, `FATAL`, `PANIC`, `NOTICE`...).
    pub const SEVERITY_NONLOCALIZED: u8 = b'V';
    /// The SQLSTATE code.
    pub const CODE: u8 = b'C';
    /// The primary message.
    pub const MESSAGE: u8 = b'M';
    /// A secondary message with more detail.
    pub const DETAIL: u8 = b'D';
    /// A suggestion what to do about it.
    pub const HINT: u8 = b'H';
    /// The 1-based character position in the query string the error is at.
    pub const POSITION: u8 = b'P';
}
