//! Statements whose permit caps the rows they may change (`@max_rows`). MariaDB tells how
//! many rows a statement changed only once it ran, so gatehouse runs a capped statement where
//! it can still be undone and decides on the server's count:
//!
//! - outside a transaction (autocommit on, none open), in a transaction of gatehouse's own:
//!   `START TRANSACTION`, the statement, then `COMMIT` — or `ROLLBACK` over the cap;
//! - inside the client's transaction, or with autocommit off (where the statement joins the
//!   client's implicit transaction, which only the client may end), after a `SAVEPOINT` whose
//!   name clients cannot guess: `RELEASE SAVEPOINT` — or `ROLLBACK TO SAVEPOINT` and release
//!   over the cap. The client's transaction goes on either way.
//!
//! What is counted: the larger of the OK packet's affected rows and the first number of its
//! info text. For an UPDATE, affected rows are the rows *changed* (unless the client asked for
//! `CLIENT_FOUND_ROWS`), while the info says the rows *matched* ("Rows matched: 5  Changed:
//! 2"), every one of which the statement could have changed; the cap counts what could
//! change, as PostgreSQL's count (rows updated, changed or not) does. For INSERT and LOAD the
//! info's first number is the records processed, never fewer than the rows inserted. Counting
//! more than changed only ever refuses a statement, never lets one through.
//!
//! Only a statement sent on its own may be capped, and only one answered with a single OK can
//! be counted: an answer with result sets (`RETURNING`, a procedure's results) is read to its
//! end, never relayed, rolled back and refused. A capped session or transaction statement
//! (`BEGIN`, `SET autocommit`) is refused: it could end or start the transaction the cap is
//! counted in, and change no rows of its own.
//!
//! Non-transactional tables (MyISAM, Aria, MEMORY) cannot be rolled back. A capped statement
//! that writes such a table by name (the server's catalogue says which engines do not roll
//! back) is refused before it runs. What the classifier cannot see (a trigger's writes, the
//! tables under a view, a procedure's) shows in the rollback: when the server warns that
//! changes could not be rolled back (warning 1196), or the statement ended the transaction it
//! ran in (an implicit commit), the rows over the cap stay changed; the audit log says so and
//! gatehouse ends the session, naming why. Within the cap nothing needs undoing and such
//! statements run as usual.
//!
//! What the client sees: the statement's own OK (its affected rows, warning count and info)
//! with the transaction status of the session after gatehouse's `COMMIT` or `RELEASE`; over
//! the cap, an ERR naming the cap and that nothing was changed. `SHOW WARNINGS` after a capped
//! statement shows the warnings of gatehouse's last statement, not the client's.

use super::outcomes::{Answer, AnswerKind, StatementRun};
use super::relay::Relay;
use crate::MysqlError;
use crate::query::{COM_QUERY, discard_answer, run_query};
use crate::refusal;
use gatehouse_core::{SqlKind, SqlStatement};
use gatehouse_mysql_wire::response::{
    ErrPacket, OkPacket, SERVER_MORE_RESULTS_EXISTS, SERVER_STATUS_IN_TRANS,
};
use rand::Rng;

/// ER_WARNING_NOT_COMPLETE_ROLLBACK: "Some non-transactional changed tables couldn't be
/// rolled back".
const NOT_COMPLETE_ROLLBACK: &[u8] = b"1196";

/// Where a capped statement runs, so that it can be undone.
enum Wrap {
    /// gatehouse's own transaction.
    Transaction,
    /// A savepoint of this name in the client's transaction.
    Savepoint(String),
}

impl Wrap {
    fn begin(&self) -> String {
        match self {
            Wrap::Transaction => "START TRANSACTION".to_owned(),
            Wrap::Savepoint(name) => format!("SAVEPOINT {name}"),
        }
    }

    fn keep(&self) -> String {
        match self {
            Wrap::Transaction => "COMMIT".to_owned(),
            Wrap::Savepoint(name) => format!("RELEASE SAVEPOINT {name}"),
        }
    }

    fn undo(&self) -> String {
        match self {
            Wrap::Transaction => "ROLLBACK".to_owned(),
            Wrap::Savepoint(name) => format!("ROLLBACK TO SAVEPOINT {name}"),
        }
    }
}

/// The rows a statement's OK counts against its cap (see the module's documentation).
pub(crate) fn rows_counted(ok: &OkPacket) -> u64 {
    let digits: Vec<u8> = ok
        .info
        .iter()
        .copied()
        .skip_while(|byte| !byte.is_ascii_digit())
        .take_while(u8::is_ascii_digit)
        .collect();
    let from_info = if digits.is_empty() {
        0
    } else {
        // More digits than a u64 holds count as the most rows there can be.
        std::str::from_utf8(&digits)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    ok.affected_rows.max(from_info)
}

impl Relay<'_> {
    /// Run `run`, whose permit caps it at `cap` rows, by forwarding `payload` (a text query or
    /// an execute of a prepared statement) so that it can be undone.
    pub(super) async fn run_capped(
        &mut self,
        run: StatementRun,
        cap: u64,
        payload: &[u8],
    ) -> Result<(), MysqlError> {
        if run.statement.kind == SqlKind::Session {
            let reason = "the policy caps the rows of a session or transaction statement (`@max_rows`), which could end the transaction the cap is counted in";
            self.record_not_run(run.seq..=run.seq, reason);
            let message = format!("gatehouse: permission denied: {reason}; it was not run");
            return self.refuse(refusal::STATEMENT_DENIED, &message).await;
        }
        if let Some(table) = self.non_transactional_write(&run.statement).await? {
            let reason = format!(
                "the policy caps the rows this statement may change (`@max_rows`), and it writes {table}, whose changes cannot be rolled back, so gatehouse cannot hold it to the cap"
            );
            self.record_not_run(run.seq..=run.seq, &reason);
            let message = format!("gatehouse: permission denied: {reason}; it was not run");
            return self.refuse(refusal::STATEMENT_DENIED, &message).await;
        }
        let wrap = self.choose_wrap().await?;
        if let Err(error) = self.own(&wrap.begin()).await? {
            let reason = format!(
                "gatehouse could not open a transaction to hold the statement to its row cap (`@max_rows`): {error}"
            );
            self.record_not_run(run.seq..=run.seq, &reason);
            let message = format!("gatehouse: {reason}; nothing was run");
            return self.refuse(refusal::INTERNAL, &message).await;
        }
        self.server.write(0, payload).await?;
        self.server.flush().await?;
        let first = self
            .server
            .expect("the answer to a capped statement")
            .await?;
        let runs = std::slice::from_ref(&run);
        match first.payload.first() {
            Some(0x00) => {}
            Some(0xFF) => {
                // The statement failed and the server undid it; so ends gatehouse's wrap.
                let (masked, answer) = self.masked_error(&first.payload);
                let end = match &wrap {
                    Wrap::Transaction => wrap.undo(),
                    Wrap::Savepoint(_) => wrap.keep(),
                };
                // A failed release means the error ended the client's transaction (a
                // deadlock), and the savepoint with it.
                if let Err(error) = self.own(&end).await?
                    && matches!(wrap, Wrap::Transaction)
                {
                    return Err(MysqlError::Upstream(format!(
                        "gatehouse's ROLLBACK after a failed capped statement failed: {error}"
                    )));
                }
                self.client.write(1, &masked).await?;
                self.client.flush().await?;
                return self.settle(runs, vec![answer]);
            }
            _ => {
                let end =
                    discard_answer(&mut self.server, self.server_capabilities, &first.payload)
                        .await?;
                let why = "the statement answered with results, whose changed rows gatehouse cannot count against its row cap (`@max_rows`)";
                let undoable = end.is_some_and(|status| status & SERVER_STATUS_IN_TRANS != 0);
                return self.undo_over_cap(&wrap, undoable, &run, why).await;
            }
        }
        let ok = OkPacket::parse(&first.payload, self.server_capabilities)
            .map_err(MysqlError::wire("server"))?;
        let (_, status) = self.follow_ok(&first.payload)?;
        let in_transaction = status & SERVER_STATUS_IN_TRANS != 0;
        if status & SERVER_MORE_RESULTS_EXISTS != 0 {
            let next = self.server.expect("the next result").await?;
            let end =
                discard_answer(&mut self.server, self.server_capabilities, &next.payload).await?;
            let why = "the statement answered with more than one result, whose changed rows gatehouse cannot count against its row cap (`@max_rows`)";
            let undoable = end.is_some_and(|status| status & SERVER_STATUS_IN_TRANS != 0);
            return self.undo_over_cap(&wrap, undoable, &run, why).await;
        }
        let counted = rows_counted(&ok);
        if counted > cap {
            let why = format!(
                "the statement changed or matched {counted} rows, more than the {cap} the policy allows it (`@max_rows`)"
            );
            return self.undo_over_cap(&wrap, in_transaction, &run, &why).await;
        }
        let kept_status = match self.own(&wrap.keep()).await? {
            Ok(kept) => kept.status,
            // The statement ended the client's transaction itself (an implicit commit), and
            // the savepoint with it: nothing is left to release.
            Err(_) if matches!(wrap, Wrap::Savepoint(_)) => status,
            Err(error) => {
                let message = format!(
                    "gatehouse's COMMIT of a statement within its row cap failed ({error}); the session is ended, so its transaction rolls back"
                );
                let answer = Answer::new(AnswerKind::Failed {
                    error: message.clone(),
                });
                self.settle(runs, vec![answer])?;
                return Err(MysqlError::Upstream(message));
            }
        };
        let affected = ok.affected_rows;
        let for_client = OkPacket {
            status: kept_status,
            session_state: Vec::new(),
            ..ok
        };
        let header = first.payload.first().copied().unwrap_or(0);
        self.client
            .write(1, &for_client.encode(header, self.capabilities))
            .await?;
        self.client.flush().await?;
        let answer = Answer::new(AnswerKind::Capped {
            affected,
            counted,
            cap,
        });
        self.settle(runs, vec![answer])
    }

    /// Inside the client's transaction (or with autocommit off) a savepoint, otherwise a
    /// transaction of gatehouse's own; the server says which.
    async fn choose_wrap(&mut self) -> Result<Wrap, MysqlError> {
        let rows = run_query(
            &mut self.server,
            self.server_capabilities,
            "SELECT @@in_transaction, @@autocommit",
        )
        .await?;
        let value = |index: usize| {
            rows.first()
                .and_then(|row| row.get(index))
                .and_then(|value| value.as_deref())
                .map(<[u8]>::to_vec)
        };
        let in_transaction = value(0).as_deref() != Some(b"0");
        let autocommit = value(1).as_deref() != Some(b"0");
        if in_transaction || !autocommit {
            let name: [u8; 16] = rand::rng().random();
            Ok(Wrap::Savepoint(format!(
                "gatehouse_cap_{}",
                hex::encode(name)
            )))
        } else {
            Ok(Wrap::Transaction)
        }
    }

    /// A table `statement` writes (`name` or `schema.name`, matched without regard to case)
    /// whose engine does not roll back, as the server's catalogue says: `schema.name (ENGINE)`.
    /// Names go into gatehouse's query as hex literals, never as text.
    async fn non_transactional_write(
        &mut self,
        statement: &SqlStatement,
    ) -> Result<Option<String>, MysqlError> {
        if statement.writes.is_empty() {
            return Ok(None);
        }
        let literal = |text: &str| format!("CONVERT(X'{}' USING utf8mb4)", hex::encode(text));
        let conditions: Vec<String> = statement
            .writes
            .iter()
            .map(|name| {
                let (schema, table) = match name.rsplit_once('.') {
                    Some((schema, table)) => (literal(schema), table),
                    None => ("DATABASE()".to_owned(), name.as_str()),
                };
                format!(
                    "(LOWER(t.TABLE_SCHEMA) = LOWER({schema}) AND LOWER(t.TABLE_NAME) = LOWER({}))",
                    literal(table)
                )
            })
            .collect();
        let sql = format!(
            "SELECT CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME, ' (', t.ENGINE, ')') \
             FROM information_schema.TABLES t JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE \
             WHERE e.TRANSACTIONS <> 'YES' AND ({}) LIMIT 1",
            conditions.join(" OR ")
        );
        let rows = run_query(&mut self.server, self.server_capabilities, &sql).await?;
        Ok(rows
            .first()
            .and_then(|row| row.first())
            .and_then(|value| value.as_deref())
            .map(|value| String::from_utf8_lossy(value).into_owned()))
    }

    /// Over the cap (or uncountable, `why`): undo the statement and refuse it, or, when the
    /// undo did not undo or may not have (`undoable` false: the statement ended its
    /// transaction, or its answer ended in an error that hid whether it did), end the session
    /// saying that the rows may stay changed.
    async fn undo_over_cap(
        &mut self,
        wrap: &Wrap,
        undoable: bool,
        run: &StatementRun,
        why: &str,
    ) -> Result<(), MysqlError> {
        let mut undone = undoable;
        match self.own(&wrap.undo()).await? {
            Ok(ok) => {
                if ok.warnings > 0 && self.rollback_incomplete().await? {
                    undone = false;
                }
            }
            Err(_) => undone = false,
        }
        if undone && let Wrap::Savepoint(_) = wrap {
            // The savepoint is the client's no longer; a failure leaves nothing behind.
            let _ = self.own(&wrap.keep()).await?;
        }
        let runs = std::slice::from_ref(run);
        if !undone {
            let message = format!(
                "gatehouse: {why}, and it could not be rolled back: it changed tables that do not roll back (MyISAM, Aria) or committed on its own; its changes stay, and gatehouse ended the session"
            );
            let answer = Answer::new(AnswerKind::Failed {
                error: message.clone(),
            });
            self.settle(runs, vec![answer])?;
            return Err(MysqlError::Refused(message));
        }
        let message = format!(
            "gatehouse: permission denied: {why}; it was rolled back and nothing was changed"
        );
        self.refuse(refusal::STATEMENT_DENIED, &message).await?;
        let code = refusal::STATEMENT_DENIED;
        let answer = Answer::new(AnswerKind::Failed {
            error: format!(
                "{} ({}): {message}",
                code.code,
                String::from_utf8_lossy(code.sql_state)
            ),
        });
        self.settle(runs, vec![answer])
    }

    /// Whether the warnings of gatehouse's rollback say that some changes were not undone.
    async fn rollback_incomplete(&mut self) -> Result<bool, MysqlError> {
        let rows = run_query(&mut self.server, self.server_capabilities, "SHOW WARNINGS").await?;
        Ok(rows
            .iter()
            .any(|row| row.get(1).and_then(|code| code.as_deref()) == Some(NOT_COMPLETE_ROLLBACK)))
    }

    /// Run one of gatehouse's own statements on the session: the server's OK (its session
    /// changes followed, its status as the client would see it), or the server's error.
    async fn own(&mut self, sql: &str) -> Result<Result<OkPacket, String>, MysqlError> {
        let mut command = vec![COM_QUERY];
        command.extend_from_slice(sql.as_bytes());
        self.server.write(0, &command).await?;
        self.server.flush().await?;
        let answer = self
            .server
            .expect("an answer to gatehouse's statement")
            .await?;
        match answer.payload.first() {
            Some(0x00) => {
                let mut ok = OkPacket::parse(&answer.payload, self.server_capabilities)
                    .map_err(MysqlError::wire("server"))?;
                let (_, status) = self.follow_ok(&answer.payload)?;
                ok.status = status;
                Ok(Ok(ok))
            }
            Some(0xFF) => Ok(Err(match ErrPacket::parse(&answer.payload) {
                Ok(err) => format!("{} {}", err.code, String::from_utf8_lossy(&err.message)),
                Err(_) => "a malformed error".to_owned(),
            })),
            _ => Err(MysqlError::Protocol(format!(
                "the server answered gatehouse's `{sql}` with neither OK nor ERR"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(affected_rows: u64, info: &str) -> OkPacket {
        OkPacket {
            affected_rows,
            info: info.as_bytes().to_vec(),
            ..OkPacket::default()
        }
    }

    #[test]
    fn the_count_is_the_larger_of_affected_rows_and_the_infos_first_number() {
        assert_eq!(
            rows_counted(&ok(2, "Rows matched: 5  Changed: 2  Warnings: 0")),
            5
        );
        assert_eq!(
            rows_counted(&ok(4, "Records: 3  Duplicates: 1  Warnings: 0")),
            4
        );
        assert_eq!(rows_counted(&ok(7, "")), 7);
        assert_eq!(
            rows_counted(&ok(0, "Rows matched: 99999999999999999999999")),
            u64::MAX
        );
    }
}
