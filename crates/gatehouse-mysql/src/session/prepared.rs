//! Prepared statements of the binary protocol. `COM_STMT_PREPARE` is classified and decided as
//! the statement it prepares (a refusal then spares the client a doomed execute), and the
//! classification is kept by the server's statement id; each `COM_STMT_EXECUTE` is decided
//! again with its bound parameter values (and the bytes sent with `COM_STMT_SEND_LONG_DATA`)
//! and the current database in the statement's context, so an approval binds to statement,
//! parameters and database together. Rows come back binary and are masked as such. An execute
//! whose permit caps its rows (`@max_rows`) is held to the cap as `row_caps` says.

use super::outcomes::{Answer, AnswerKind, StatementRun};
use super::relay::Relay;
use super::statements::unknown_statement;
use crate::MysqlError;
use crate::refusal;
use gatehouse_core::{SqlStatement, StatementContext};
use gatehouse_mysql_wire::capabilities::Capabilities;
use gatehouse_mysql_wire::command::{
    ParameterType, StmtExecute, parse_execute_parameters_after_long_data,
};
use gatehouse_mysql_wire::response::PrepareOk;
use sha2::{Digest, Sha256};

/// What gatehouse knows of a statement the server prepared.
pub(crate) struct PreparedStatement {
    statement: SqlStatement,
    parameters: usize,
    /// The parameter types of the last execute that bound them.
    types: Option<Vec<ParameterType>>,
    /// Bytes sent with `COM_STMT_SEND_LONG_DATA` per parameter since the last execute.
    long_data: Vec<Option<Vec<u8>>>,
}

impl Relay<'_> {
    pub(super) async fn prepare(&mut self, text: &[u8], payload: &[u8]) -> Result<(), MysqlError> {
        let mut classified = self.classify_text(text);
        let statement = match classified.len() {
            0 => {
                return self
                    .refuse(
                        refusal::EMPTY_QUERY,
                        "gatehouse: the statement to prepare is empty",
                    )
                    .await;
            }
            1 => classified.remove(0).statement,
            _ => unknown_statement(
                String::from_utf8_lossy(text).into_owned(),
                "a prepared statement holds more than one statement".to_owned(),
            ),
        };
        let Some(permit) = self.decide(std::slice::from_ref(&statement)).await? else {
            return Ok(());
        };
        let seq = *permit.audit_seqs().start();
        self.server.write(0, payload).await?;
        self.server.flush().await?;
        let first = self.server.expect("the answer to a prepare").await?;
        if first.payload.first() == Some(&0xFF) {
            let (masked, answer) = self.masked_error(&first.payload);
            self.client.write(1, &masked).await?;
            self.client.flush().await?;
            let run = StatementRun {
                seq,
                statement,
                change: None,
            };
            return self.settle(std::slice::from_ref(&run), vec![answer]);
        }
        let ok = PrepareOk::parse(&first.payload).map_err(MysqlError::wire("server"))?;
        let mut sequence = self.client.write(1, &first.payload).await?;
        let deprecate_eof = self.capabilities.contains(Capabilities::DEPRECATE_EOF);
        for block in [ok.parameters, ok.columns] {
            let mut messages = usize::from(block);
            if block > 0 && !deprecate_eof {
                messages += 1;
            }
            for _ in 0..messages {
                let message = self
                    .server
                    .expect("a prepared statement's definitions")
                    .await?;
                sequence = self.client.write(sequence, &message.payload).await?;
            }
        }
        self.client.flush().await?;
        let parameters = usize::from(ok.parameters);
        self.prepared.insert(
            ok.statement,
            PreparedStatement {
                statement: statement.clone(),
                parameters,
                types: None,
                long_data: vec![None; parameters],
            },
        );
        let run = StatementRun {
            seq,
            statement,
            change: None,
        };
        let answer = Answer::new(AnswerKind::Done { affected: 0 });
        self.settle(std::slice::from_ref(&run), vec![answer])
    }

    pub(super) async fn execute(
        &mut self,
        execute: StmtExecute<'_>,
        payload: &[u8],
    ) -> Result<(), MysqlError> {
        if execute.flags & 0x07 != 0 {
            return self
                .refuse(
                    refusal::UNKNOWN_COMMAND,
                    "gatehouse: executing with a server-side cursor is refused; execute without one",
                )
                .await;
        }
        let database = self.state.database.clone().unwrap_or_default();
        let Some(prepared) = self.prepared.get_mut(&execute.statement) else {
            let message = format!(
                "gatehouse: unknown prepared statement {}",
                execute.statement
            );
            return self.refuse(refusal::UNKNOWN_STATEMENT, &message).await;
        };
        let sent_long: Vec<bool> = prepared.long_data.iter().map(Option::is_some).collect();
        let parsed = parse_execute_parameters_after_long_data(
            execute.rest,
            prepared.parameters,
            prepared.types.as_deref(),
            &sent_long,
        );
        let parameters = match parsed {
            Ok(parameters) => parameters,
            Err(error) => {
                return Err(MysqlError::Wire {
                    side: "client",
                    error,
                });
            }
        };
        prepared.types = Some(parameters.types.clone());
        let mut digest = Sha256::new();
        digest.update(prepared.statement.text.as_bytes());
        let mut shown = Vec::with_capacity(parameters.values.len());
        for (index, value) in parameters.values.iter().enumerate() {
            let long = prepared.long_data.get(index).and_then(Option::as_ref);
            let text = match long {
                Some(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
                None => value.to_text(),
            };
            digest.update([u8::from(text.is_some())]);
            if let Some(bytes) = long {
                digest.update(bytes);
            } else if let Some(text) = &text {
                digest.update(text.as_bytes());
            }
            digest.update([0xFF]);
            shown.push(text);
        }
        digest.update(database.as_bytes());
        for slot in &mut prepared.long_data {
            *slot = None;
        }
        let mut statement = prepared.statement.clone();
        if let Some(masker) = &self.masker {
            let mut counts = gatehouse_mask::MaskCounts::default();
            for value in shown.iter_mut().flatten() {
                let masked = crate::masking::mask_message(masker, value.as_bytes(), &mut counts);
                *value = String::from_utf8_lossy(&masked).into_owned();
            }
        }
        statement.context = Some(Box::new(StatementContext {
            parameters: shown,
            resolved: vec![("database".to_owned(), database)],
            digest: hex::encode(digest.finalize()),
        }));
        let Some(permit) = self.decide(std::slice::from_ref(&statement)).await? else {
            return Ok(());
        };
        let run = StatementRun {
            seq: *permit.audit_seqs().start(),
            statement,
            change: None,
        };
        if let Some(cap) = permit.row_caps().iter().flatten().min().copied() {
            return self.run_capped(run, cap, payload).await;
        }
        self.server.write(0, payload).await?;
        self.server.flush().await?;
        let answers = self
            .relay_response(std::slice::from_ref(&run), true)
            .await?;
        self.settle(std::slice::from_ref(&run), answers)
    }

    /// Long data joins the parameter's value (and the execute's digest); the server answers
    /// nothing.
    pub(super) async fn send_long_data(
        &mut self,
        statement: u32,
        parameter: u16,
        data: &[u8],
        payload: &[u8],
    ) -> Result<(), MysqlError> {
        if let Some(slot) = self
            .prepared
            .get_mut(&statement)
            .and_then(|prepared| prepared.long_data.get_mut(usize::from(parameter)))
        {
            slot.get_or_insert_with(Vec::new).extend_from_slice(data);
        }
        self.server.write(0, payload).await?;
        self.server.flush().await
    }

    /// The server answers nothing to a close.
    pub(super) async fn close_statement(
        &mut self,
        statement: u32,
        payload: &[u8],
    ) -> Result<(), MysqlError> {
        self.prepared.remove(&statement);
        self.server.write(0, payload).await?;
        self.server.flush().await
    }

    pub(super) async fn reset_statement(
        &mut self,
        statement: u32,
        payload: &[u8],
    ) -> Result<(), MysqlError> {
        if let Some(prepared) = self.prepared.get_mut(&statement) {
            for slot in &mut prepared.long_data {
                *slot = None;
            }
        }
        self.forward_one(payload).await.map(|_| ())
    }
}
