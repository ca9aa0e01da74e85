//! Text statements (`COM_QUERY`, and the commands decided as one): the text decoded in the
//! client's character set, classified under the session's `sql_mode` and server version,
//! `EXECUTE name` resolved to what `name` was prepared as, and every statement of the message
//! decided in one request — one refusal refuses the whole message and nothing is forwarded.
//! Allowed messages are forwarded byte for byte; a statement whose permit caps its rows
//! (`@max_rows`) is run as `row_caps` says, and only when sent on its own.

use super::outcomes::{Answer, AnswerKind, StatementRun};
use super::relay::Relay;
use crate::MysqlError;
use crate::refusal;
use crate::text::decode;
use gatehouse_core::{Action, SqlKind, SqlStatement};
use gatehouse_mysql_sql::{Classified, SessionChange, classify};
use gatehouse_pipeline::{Decision, Permit};

impl Relay<'_> {
    /// Decide the statement(s) of `text`, and forward `payload` (the command as the client
    /// sent it) when allowed.
    pub(super) async fn query(&mut self, text: &[u8], payload: &[u8]) -> Result<(), MysqlError> {
        let classified = self.classify_text(text);
        if classified.is_empty() {
            return self
                .refuse(
                    refusal::EMPTY_QUERY,
                    "gatehouse: the query is empty; nothing was run",
                )
                .await;
        }
        let statements: Vec<SqlStatement> =
            classified.iter().map(|c| c.statement.clone()).collect();
        let permit = match self.decide(&statements).await? {
            Some(permit) => permit,
            None => return Ok(()),
        };
        let cap = permit.row_caps().iter().flatten().min().copied();
        let mut runs: Vec<StatementRun> = classified
            .into_iter()
            .zip(permit.audit_seqs())
            .map(|(classified, seq)| StatementRun {
                seq,
                statement: classified.statement,
                change: classified.session,
            })
            .collect();
        if let Some(cap) = cap {
            if runs.len() != 1 {
                let reason = "the policy caps the rows a statement of the message may change (`@max_rows`), which gatehouse counts only for a statement sent on its own; send it in a message of its own";
                self.record_not_run(permit.audit_seqs(), reason);
                let message = format!("gatehouse: permission denied: {reason}; nothing was run");
                return self.refuse(refusal::STATEMENT_DENIED, &message).await;
            }
            if let Some(run) = runs.pop() {
                return self.run_capped(run, cap, payload).await;
            }
        }
        self.server.write(0, payload).await?;
        self.server.flush().await?;
        let answers = self.relay_response(&runs, false).await?;
        self.settle(&runs, answers)
    }

    /// Whether a statement could change what the server tracks for gatehouse (when it tracks
    /// anything): such a statement would let the session's state drift out of sight.
    fn touches_session_tracking(&self, statements: &[SqlStatement]) -> bool {
        self.server_capabilities
            .contains(gatehouse_mysql_wire::Capabilities::SESSION_TRACK)
            && statements.iter().any(|statement| {
                statement
                    .text
                    .to_ascii_lowercase()
                    .contains("session_track")
            })
    }

    /// `COM_FIELD_LIST` (the CLI's completion asks it for every table): decided as the
    /// `SHOW COLUMNS FROM t` it is, answered with column definitions up to an EOF.
    pub(super) async fn field_list(
        &mut self,
        table: &[u8],
        payload: &[u8],
    ) -> Result<(), MysqlError> {
        let mut text = b"SHOW COLUMNS FROM `".to_vec();
        for byte in table {
            if *byte == b'`' {
                text.push(b'`');
            }
            text.push(*byte);
        }
        text.push(b'`');
        let classified = self.classify_text(&text);
        let statements: Vec<SqlStatement> =
            classified.iter().map(|c| c.statement.clone()).collect();
        let Some(permit) = self.decide(&statements).await? else {
            return Ok(());
        };
        if permit.row_caps().iter().any(Option::is_some) {
            let reason = "the policy caps the rows it may change (`@max_rows`), which gatehouse counts only for statements answered with a row count, and a field list is not";
            self.record_not_run(permit.audit_seqs(), reason);
            let message = format!("gatehouse: permission denied: {reason}; it was not run");
            return self.refuse(refusal::STATEMENT_DENIED, &message).await;
        }
        let runs: Vec<StatementRun> = classified
            .into_iter()
            .zip(permit.audit_seqs())
            .map(|(classified, seq)| StatementRun {
                seq,
                statement: classified.statement,
                change: None,
            })
            .collect();
        self.server.write(0, payload).await?;
        self.server.flush().await?;
        let deprecate_eof = self
            .capabilities
            .contains(gatehouse_mysql_wire::Capabilities::DEPRECATE_EOF);
        let mut sequence = 1u8;
        let mut columns = 0u64;
        let answer = loop {
            let message = self.server.expect("the table's column definitions").await?;
            match message.payload.first() {
                Some(0xFF) => {
                    let (masked, answer) = self.masked_error(&message.payload);
                    self.client.write(sequence, &masked).await?;
                    break answer;
                }
                _ if crate::query::ends_rows(&message.payload, deprecate_eof) => {
                    let end = if deprecate_eof {
                        self.follow_ok(&message.payload)?.0
                    } else {
                        message.payload
                    };
                    self.client.write(sequence, &end).await?;
                    break Answer::new(AnswerKind::Rows { rows: columns });
                }
                _ => {
                    columns += 1;
                    sequence = self.client.write(sequence, &message.payload).await?;
                }
            }
        };
        self.client.flush().await?;
        self.settle(&runs, vec![answer])
    }

    /// The statements of `text`, with each `EXECUTE` replaced by what it runs.
    pub(super) fn classify_text(&self, text: &[u8]) -> Vec<Classified> {
        let Some(decoded) = decode(text, &self.state.charset) else {
            let shown = String::from_utf8_lossy(text).into_owned();
            return vec![Classified {
                statement: unknown_statement(
                    shown,
                    format!(
                        "the text is not valid {} (the session's character set)",
                        self.state.charset
                    ),
                ),
                session: None,
            }];
        };
        classify(&decoded, &self.state.lexing())
            .into_iter()
            .map(|classified| self.resolve_execute(classified))
            .map(|classified| self.mode_known_after(classified))
            .collect()
    }

    /// A `SET sql_mode = <expression>` is allowed only where the server reports the mode it
    /// sets (session tracking) before the next message is read; elsewhere it is unknown.
    fn mode_known_after(&self, classified: Classified) -> Classified {
        let tracked = self
            .server_capabilities
            .contains(gatehouse_mysql_wire::Capabilities::SESSION_TRACK);
        if tracked || classified.session != Some(SessionChange::SqlModeFromServer) {
            return classified;
        }
        Classified {
            statement: unknown_statement(
                classified.statement.text,
                "sets sql_mode to a value only the server knows, and this server does not report it (no session tracking)".to_owned(),
            ),
            session: None,
        }
    }

    fn resolve_execute(&self, classified: Classified) -> Classified {
        let Some(SessionChange::Execute { name }) = &classified.session else {
            return classified;
        };
        let text = classified.statement.text.clone();
        let statement = match self.state.prepared_by_name.get(&name.to_ascii_lowercase()) {
            Some(prepared) => SqlStatement {
                text,
                reason: Some(format!(
                    "EXECUTE of `{name}`, prepared as: {}",
                    prepared.text
                )),
                ..prepared.clone()
            },
            None => unknown_statement(
                text,
                format!("EXECUTE of `{name}`, which gatehouse did not see prepared"),
            ),
        };
        Classified {
            statement,
            session: classified.session,
        }
    }

    /// Decide `statements` as one request: the permit, or `None` when refused (the client
    /// was told why). A permit may cap the rows its statements change (`@max_rows`): the
    /// caller holds them to it (`row_caps`) or refuses them.
    pub(super) async fn decide(
        &mut self,
        statements: &[SqlStatement],
    ) -> Result<Option<Permit>, MysqlError> {
        let actions: Vec<Action> = statements.iter().cloned().map(Action::of).collect();
        let refusal = match self.gateway.pipeline.decide(self.context, &actions).await {
            Ok(Decision::Allow(permit)) if self.touches_session_tracking(statements) => {
                let reason = "the statement names session tracking (session_track_*), which gatehouse relies on to follow the session's sql_mode, character set and database";
                self.record_not_run(permit.audit_seqs(), reason);
                format!("gatehouse: permission denied: {reason}; the statement was not run")
            }
            Ok(Decision::Allow(permit)) if reads_client_file(statements) => {
                let reason = "LOAD DATA LOCAL INFILE would have the server read a file of the client's machine, which gatehouse never relays; load a file on the server with LOAD DATA INFILE, or send the rows as INSERT statements";
                self.record_not_run(permit.audit_seqs(), reason);
                format!("gatehouse: permission denied: {reason}; the statement was not run")
            }
            Ok(Decision::Allow(permit)) => return Ok(Some(permit)),
            Ok(Decision::Deny(denial)) => {
                format!("gatehouse: permission denied: {}", denial.message)
            }
            Ok(Decision::Hold(hold)) => format!(
                "gatehouse: held for approval {}: {}; run the same statement again once approved",
                hold.approval.id, hold.message
            ),
            Err(error) => {
                tracing::error!(session = %self.context.session_id, %error, "a statement could not be decided");
                let message = format!(
                    "gatehouse: the statement could not be decided or audited ({error}); nothing was run"
                );
                self.refuse(refusal::INTERNAL, &message).await?;
                return Ok(None);
            }
        };
        self.refuse(refusal::STATEMENT_DENIED, &refusal).await?;
        Ok(None)
    }
}

/// Whether a statement is `LOAD ... LOCAL INFILE`, which no policy may allow.
fn reads_client_file(statements: &[SqlStatement]) -> bool {
    statements
        .iter()
        .any(|statement| statement.reason.as_deref() == Some(gatehouse_mysql_sql::LOCAL_INFILE))
}

/// A statement gatehouse cannot classify, decided as `sql:unknown`.
pub(super) fn unknown_statement(text: String, reason: String) -> SqlStatement {
    SqlStatement {
        text,
        kind: SqlKind::Unknown,
        reads: Vec::new(),
        writes: Vec::new(),
        functions: Vec::new(),
        fingerprint: String::new(),
        reason: Some(reason),
        all_rows: false,
        context: None,
        lineage: None,
    }
}
