//! The commands a client sends once logged in, decoded so that the gateway can decide each one
//! by policy: the command byte and the fields each command carries.

mod execute;

pub use execute::{
    ExecuteParameters, ParameterType, StmtExecute, parse_execute_parameters,
    parse_execute_parameters_after_long_data,
};

use crate::{WireError, cursor};

const QUIT: u8 = 0x01;
const INIT_DB: u8 = 0x02;
const QUERY: u8 = 0x03;
const FIELD_LIST: u8 = 0x04;
const SHUTDOWN: u8 = 0x08;
const STATISTICS: u8 = 0x09;
const PROCESS_INFO: u8 = 0x0A;
const PROCESS_KILL: u8 = 0x0C;
const DEBUG: u8 = 0x0D;
const PING: u8 = 0x0E;
const CHANGE_USER: u8 = 0x11;
const BINLOG_DUMP: u8 = 0x12;
const REGISTER_SLAVE: u8 = 0x15;
const STMT_PREPARE: u8 = 0x16;
const STMT_EXECUTE: u8 = 0x17;
const STMT_SEND_LONG_DATA: u8 = 0x18;
const STMT_CLOSE: u8 = 0x19;
const STMT_RESET: u8 = 0x1A;
const SET_OPTION: u8 = 0x1B;
const STMT_FETCH: u8 = 0x1C;
const BINLOG_DUMP_GTID: u8 = 0x1E;
const RESET_CONNECTION: u8 = 0x1F;

/// A client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    Quit,
    InitDb(&'a [u8]),
    /// The statement text (gatehouse never offers `QUERY_ATTRIBUTES`).
    Query(&'a [u8]),
    FieldList {
        table: &'a [u8],
        wildcard: &'a [u8],
    },
    Statistics,
    ProcessInfo,
    ProcessKill(u32),
    Debug,
    Ping,
    ChangeUser,
    BinlogDump,
    RegisterSlave,
    BinlogDumpGtid,
    Shutdown,
    StmtPrepare(&'a [u8]),
    StmtExecute(StmtExecute<'a>),
    StmtSendLongData {
        statement: u32,
        parameter: u16,
        data: &'a [u8],
    },
    StmtClose(u32),
    StmtReset(u32),
    SetOption(u16),
    StmtFetch {
        statement: u32,
        rows: u32,
    },
    ResetConnection,
    /// A command byte this crate does not decode.
    Other(u8),
}

/// Decodes a command message.
pub fn parse_command(payload: &[u8]) -> Result<Command<'_>, WireError> {
    const WHAT: &str = "command";
    let (&code, mut rest) = payload
        .split_first()
        .ok_or(WireError::Truncated { what: WHAT })?;
    Ok(match code {
        QUIT => Command::Quit,
        INIT_DB => Command::InitDb(rest),
        QUERY => Command::Query(rest),
        FIELD_LIST => {
            let table = cursor::nul_terminated(&mut rest, WHAT)?;
            Command::FieldList {
                table,
                wildcard: rest,
            }
        }
        STATISTICS => Command::Statistics,
        PROCESS_INFO => Command::ProcessInfo,
        PROCESS_KILL => Command::ProcessKill(cursor::u32(&mut rest, WHAT)?),
        DEBUG => Command::Debug,
        PING => Command::Ping,
        CHANGE_USER => Command::ChangeUser,
        BINLOG_DUMP => Command::BinlogDump,
        REGISTER_SLAVE => Command::RegisterSlave,
        BINLOG_DUMP_GTID => Command::BinlogDumpGtid,
        SHUTDOWN => Command::Shutdown,
        STMT_PREPARE => Command::StmtPrepare(rest),
        STMT_EXECUTE => Command::StmtExecute(StmtExecute {
            statement: cursor::u32(&mut rest, WHAT)?,
            flags: cursor::u8(&mut rest, WHAT)?,
            iterations: cursor::u32(&mut rest, WHAT)?,
            rest,
        }),
        STMT_SEND_LONG_DATA => Command::StmtSendLongData {
            statement: cursor::u32(&mut rest, WHAT)?,
            parameter: cursor::u16(&mut rest, WHAT)?,
            data: rest,
        },
        STMT_CLOSE => Command::StmtClose(cursor::u32(&mut rest, WHAT)?),
        STMT_RESET => Command::StmtReset(cursor::u32(&mut rest, WHAT)?),
        SET_OPTION => Command::SetOption(cursor::u16(&mut rest, WHAT)?),
        STMT_FETCH => Command::StmtFetch {
            statement: cursor::u32(&mut rest, WHAT)?,
            rows: cursor::u32(&mut rest, WHAT)?,
        },
        RESET_CONNECTION => Command::ResetConnection,
        other => Command::Other(other),
    })
}

impl Command<'_> {
    /// The command message (for `ChangeUser`, `Shutdown` and `Other`: the command byte alone).
    pub fn encode(&self) -> Vec<u8> {
        let (code, fields): (u8, Vec<u8>) = match self {
            Self::Quit => (QUIT, Vec::new()),
            Self::InitDb(database) => (INIT_DB, database.to_vec()),
            Self::Query(text) => (QUERY, text.to_vec()),
            Self::FieldList { table, wildcard } => {
                (FIELD_LIST, [table, &[0][..], wildcard].concat())
            }
            Self::Statistics => (STATISTICS, Vec::new()),
            Self::ProcessInfo => (PROCESS_INFO, Vec::new()),
            Self::ProcessKill(id) => (PROCESS_KILL, id.to_le_bytes().to_vec()),
            Self::Debug => (DEBUG, Vec::new()),
            Self::Ping => (PING, Vec::new()),
            Self::ChangeUser => (CHANGE_USER, Vec::new()),
            Self::BinlogDump => (BINLOG_DUMP, Vec::new()),
            Self::RegisterSlave => (REGISTER_SLAVE, Vec::new()),
            Self::BinlogDumpGtid => (BINLOG_DUMP_GTID, Vec::new()),
            Self::Shutdown => (SHUTDOWN, Vec::new()),
            Self::StmtPrepare(text) => (STMT_PREPARE, text.to_vec()),
            Self::StmtExecute(execute) => {
                let mut fields = execute.statement.to_le_bytes().to_vec();
                fields.push(execute.flags);
                fields.extend_from_slice(&execute.iterations.to_le_bytes());
                fields.extend_from_slice(execute.rest);
                (STMT_EXECUTE, fields)
            }
            Self::StmtSendLongData {
                statement,
                parameter,
                data,
            } => (
                STMT_SEND_LONG_DATA,
                [&statement.to_le_bytes()[..], &parameter.to_le_bytes(), data].concat(),
            ),
            Self::StmtClose(statement) => (STMT_CLOSE, statement.to_le_bytes().to_vec()),
            Self::StmtReset(statement) => (STMT_RESET, statement.to_le_bytes().to_vec()),
            Self::SetOption(option) => (SET_OPTION, option.to_le_bytes().to_vec()),
            Self::StmtFetch { statement, rows } => (
                STMT_FETCH,
                [statement.to_le_bytes(), rows.to_le_bytes()].concat(),
            ),
            Self::ResetConnection => (RESET_CONNECTION, Vec::new()),
            Self::Other(code) => (*code, Vec::new()),
        };
        let mut out = Vec::with_capacity(1 + fields.len());
        out.push(code);
        out.extend_from_slice(&fields);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn every_command_round_trips() {
        let commands = [
            Command::Quit,
            Command::InitDb(b"test"),
            Command::Query(b"SELECT 1"),
            Command::FieldList {
                table: b"t",
                wildcard: b"%",
            },
            Command::Statistics,
            Command::ProcessInfo,
            Command::ProcessKill(9),
            Command::Debug,
            Command::Ping,
            Command::ChangeUser,
            Command::BinlogDump,
            Command::RegisterSlave,
            Command::BinlogDumpGtid,
            Command::Shutdown,
            Command::StmtPrepare(b"SELECT ?"),
            Command::StmtExecute(StmtExecute {
                statement: 1,
                flags: 0,
                iterations: 1,
                rest: &[1, 1, 8, 0],
            }),
            Command::StmtSendLongData {
                statement: 1,
                parameter: 2,
                data: b"blob",
            },
            Command::StmtClose(3),
            Command::StmtReset(4),
            Command::SetOption(1),
            Command::StmtFetch {
                statement: 5,
                rows: 100,
            },
            Command::ResetConnection,
            Command::Other(0xFA),
        ];
        for command in commands {
            assert_eq!(parse_command(&command.encode()), Ok(command.clone()));
        }
    }

    #[test]
    fn truncated_commands() {
        for bytes in [
            &[][..],
            &[PROCESS_KILL, 1, 2],
            &[FIELD_LIST, b't'],
            &[STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0],
            &[STMT_SEND_LONG_DATA, 1, 0, 0, 0, 1],
            &[STMT_FETCH, 1, 0, 0, 0, 1],
        ] {
            assert!(
                matches!(parse_command(bytes), Err(WireError::Truncated { .. })),
                "{bytes:?}"
            );
        }
    }
}
