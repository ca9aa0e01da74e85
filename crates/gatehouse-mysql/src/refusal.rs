//! The ERR packets gatehouse itself sends: its refusals (always starting `gatehouse: `) and
//! the reasons a session ends, with the MySQL error codes and SQLSTATEs clients act on.

use gatehouse_mysql_wire::response::ErrPacket;

/// An error code and SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ErrorCode {
    pub code: u16,
    pub sql_state: &'static [u8; 5],
}

/// ER_ACCESS_DENIED_ERROR: a login refused (no TLS, bad token, `connect` denied).
pub(crate) const ACCESS_DENIED: ErrorCode = ErrorCode {
    code: 1045,
    sql_state: b"28000",
};
/// ER_TABLEACCESS_DENIED_ERROR: a statement refused by policy.
pub(crate) const STATEMENT_DENIED: ErrorCode = ErrorCode {
    code: 1142,
    sql_state: b"42000",
};
/// ER_BAD_DB_ERROR: the database named at login is no gatehouse connection.
pub(crate) const UNKNOWN_CONNECTION: ErrorCode = ErrorCode {
    code: 1049,
    sql_state: b"42000",
};
/// ER_CON_COUNT_ERROR: every session slot is taken.
pub(crate) const TOO_MANY_SESSIONS: ErrorCode = ErrorCode {
    code: 1040,
    sql_state: b"08004",
};
/// ER_UNKNOWN_COM_ERROR: a command gatehouse does not forward.
pub(crate) const UNKNOWN_COMMAND: ErrorCode = ErrorCode {
    code: 1047,
    sql_state: b"08S01",
};
/// ER_NET_PACKETS_OUT_OF_ORDER / ER_NET_PACKET_TOO_LARGE family: bad input ends the session.
pub(crate) const PROTOCOL_VIOLATION: ErrorCode = ErrorCode {
    code: 1156,
    sql_state: b"08S01",
};
/// ER_SERVER_SHUTDOWN: gatehouse is shutting down.
pub(crate) const SHUTTING_DOWN: ErrorCode = ErrorCode {
    code: 1053,
    sql_state: b"08S01",
};
/// ER_CONNECTION_KILLED: gatehouse ended the session (revocation, policy, expiry).
pub(crate) const SESSION_ENDED: ErrorCode = ErrorCode {
    code: 1927,
    sql_state: b"70100",
};
/// ER_UNKNOWN_CHARACTER_SET: a character set or collation gatehouse cannot read text in.
pub(crate) const REFUSED_CHARSET: ErrorCode = ErrorCode {
    code: 1115,
    sql_state: b"42000",
};
/// ER_UNKNOWN_STMT_HANDLER: a prepared statement id the session does not know.
pub(crate) const UNKNOWN_STATEMENT: ErrorCode = ErrorCode {
    code: 1243,
    sql_state: b"HY000",
};
/// ER_EMPTY_QUERY: nothing to run.
pub(crate) const EMPTY_QUERY: ErrorCode = ErrorCode {
    code: 1065,
    sql_state: b"42000",
};
/// A failure inside gatehouse (the audit log, the policy engine).
pub(crate) const INTERNAL: ErrorCode = ErrorCode {
    code: 1105,
    sql_state: b"HY000",
};

/// The payload of an ERR packet saying `message`.
pub(crate) fn err_payload(code: ErrorCode, message: &str) -> Vec<u8> {
    ErrPacket {
        code: code.code,
        sql_state: *code.sql_state,
        message: message.as_bytes().to_vec(),
    }
    .encode()
}
