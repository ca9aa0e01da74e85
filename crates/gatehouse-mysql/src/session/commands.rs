//! What each client command becomes. Commands that run SQL are decided as the statements
//! they are (`COM_INIT_DB` as `USE db`, `COM_PROCESS_KILL` as `KILL n`, `COM_FIELD_LIST`
//! as `SHOW COLUMNS FROM t`); commands that cannot
//! be decided, or would turn the session into something else (another user, a replica, a
//! server shutdown), are refused; harmless ones (`COM_PING`, `COM_STATISTICS`) are forwarded.
//! Unknown command bytes are refused and never forwarded.

use super::Ending;
use super::relay::Relay;
use crate::MysqlError;
use crate::refusal;
use gatehouse_mysql_wire::command::{Command, parse_command};

/// `COM_SET_OPTION` values.
const MULTI_STATEMENTS_ON: u16 = 0;
const MULTI_STATEMENTS_OFF: u16 = 1;

impl Relay<'_> {
    /// Handle one command; `Some` when it ends the session.
    pub(super) async fn command(&mut self, payload: &[u8]) -> Result<Option<Ending>, MysqlError> {
        let command = match parse_command(payload) {
            Ok(command) => command,
            Err(error) => {
                return Err(MysqlError::Wire {
                    side: "client",
                    error,
                });
            }
        };
        match command {
            Command::Quit => return Ok(Some(Ending::ClientQuit)),
            Command::Query(text) => self.query(text, payload).await?,
            Command::InitDb(name) => {
                let statement =
                    format!("USE `{}`", String::from_utf8_lossy(name).replace('`', "``"));
                self.query(statement.as_bytes(), payload).await?;
            }
            Command::ProcessKill(id) => {
                let statement = format!("KILL {id}");
                self.query(statement.as_bytes(), payload).await?;
            }
            Command::Ping | Command::Statistics => {
                self.forward_one(payload).await?;
            }
            Command::ResetConnection => {
                if self.forward_one(payload).await? {
                    self.reset_session().await?;
                }
            }
            Command::SetOption(option) => {
                if self.forward_one(payload).await? {
                    match option {
                        MULTI_STATEMENTS_ON => self.state.multi_statements = true,
                        MULTI_STATEMENTS_OFF => self.state.multi_statements = false,
                        _ => {}
                    }
                }
            }
            Command::StmtPrepare(text) => self.prepare(text, payload).await?,
            Command::StmtExecute(execute) => self.execute(execute, payload).await?,
            Command::StmtSendLongData {
                statement,
                parameter,
                data,
            } => {
                self.send_long_data(statement, parameter, data, payload)
                    .await?
            }
            Command::StmtClose(statement) => self.close_statement(statement, payload).await?,
            Command::StmtReset(statement) => self.reset_statement(statement, payload).await?,
            Command::StmtFetch { .. } => {
                self.refuse(
                    refusal::UNKNOWN_COMMAND,
                    "gatehouse: COM_STMT_FETCH is refused: gatehouse does not relay server-side cursors; execute without a cursor",
                )
                .await?;
            }
            Command::FieldList { table, .. } => self.field_list(table, payload).await?,
            Command::ChangeUser => {
                self.refuse(
                    refusal::UNKNOWN_COMMAND,
                    "gatehouse: COM_CHANGE_USER is refused: the token chose who this session is; connect again with another token",
                )
                .await?;
            }
            Command::BinlogDump | Command::BinlogDumpGtid | Command::RegisterSlave => {
                self.refuse(
                    refusal::UNKNOWN_COMMAND,
                    "gatehouse: replication commands are refused through gatehouse",
                )
                .await?;
            }
            Command::Shutdown | Command::Debug | Command::ProcessInfo => {
                self.refuse(
                    refusal::UNKNOWN_COMMAND,
                    "gatehouse: this server administration command is refused; use the SQL statement instead (SHOW PROCESSLIST, SHUTDOWN), which policy decides",
                )
                .await?;
            }
            Command::Other(byte) => {
                let message = format!("gatehouse: unknown command 0x{byte:02x} is refused");
                self.refuse(refusal::UNKNOWN_COMMAND, &message).await?;
            }
        }
        Ok(None)
    }

    /// Forward a command whose answer is one message (OK, ERR, EOF or a status string), relay
    /// the answer; whether it succeeded (was not an ERR).
    pub(super) async fn forward_one(&mut self, payload: &[u8]) -> Result<bool, MysqlError> {
        self.server.write(0, payload).await?;
        self.server.flush().await?;
        let Some(answer) = self.server.read().await? else {
            return Err(MysqlError::Upstream(
                "the server closed the connection".into(),
            ));
        };
        let failed = answer.payload.first() == Some(&0xFF);
        let answer = match answer.payload.first() {
            Some(0xFF) => self.masked_error(&answer.payload).0,
            Some(0x00) => self.follow_ok(&answer.payload)?.0,
            _ => answer.payload,
        };
        self.client.write(1, &answer).await?;
        self.client.flush().await?;
        Ok(!failed)
    }

    /// After `COM_RESET_CONNECTION`: the server forgot the session's state; so does gatehouse.
    async fn reset_session(&mut self) -> Result<(), MysqlError> {
        let capabilities = self.server_capabilities;
        if capabilities.contains(gatehouse_mysql_wire::Capabilities::SESSION_TRACK) {
            // The reset forgot what the server was asked to track too.
            crate::query::run_query(
                &mut self.server,
                capabilities,
                super::tracking::TRACK_SESSION,
            )
            .await?;
        }
        let rows =
            crate::query::run_query(&mut self.server, capabilities, "SELECT @@sql_mode").await?;
        let sql_mode = rows
            .first()
            .and_then(|row| row.first())
            .and_then(|value| value.as_deref())
            .map(|value| String::from_utf8_lossy(value).into_owned())
            .unwrap_or_default();
        let login_charset = self.login_charset.clone();
        self.state.reset(&login_charset, sql_mode);
        self.prepared.clear();
        Ok(())
    }
}
