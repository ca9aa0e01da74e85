//! The server's message-processing state, as gatehouse models it, so that every response is
//! matched to exactly the request that caused it — and a server that does something the
//! model cannot place ends the session instead of going unnoticed.
//!
//! PostgreSQL processes a client's messages strictly in order (postgres.c's main loop):
//! - an error in an extended-protocol message (Parse, Bind, Describe, Close, Execute) makes
//!   it skip *every* following message — a simple Query included — until Sync; only Sync
//!   (answered with ReadyForQuery) and Terminate are still processed;
//! - an error in a simple Query or a FunctionCall abandons the rest of it; ReadyForQuery
//!   follows, and nothing is skipped afterwards;
//! - during COPY FROM STDIN the server reads CopyData until CopyDone or CopyFail and ignores
//!   Flush and Sync; CopyData, CopyDone and CopyFail outside COPY are ignored;
//! - Flush has no answer of its own.
//!
//! `inbound` appends a [`Sent`] entry for every message it sends (those gatehouse adds, such
//! as a masked session's Describe, included). `outbound` passes every server message to
//! [`ServerModel::on_message`], which retires entries in order as the server finishes with
//! them and reports which forwarded statements completed, failed or were skipped. Statement
//! counts are checked too: a query string the server runs as more statements than gatehouse
//! decided (a parser differential) cannot be placed, and ends the session.
//!
//! The one thing the model cannot tell from the server's answers is *where* inside COPY
//! data an error happened; `inbound` therefore never lets a client pipeline anything but
//! copy messages, Flush, and a Sync before the data into a COPY FROM STDIN (see
//! `inbound::Inbound::hold_for_copy`), and the model refuses the ambiguous orders.

use super::results::StatementHint;
use crate::wire::tags::backend;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

/// A statement gatehouse forwarded; its outcome becomes an audit event referring to `seq`.
#[derive(Debug)]
pub(crate) struct Forwarded {
    pub seq: i64,
    pub sent_at: Instant,
    /// What masking needs to know before the rows arrive; only for masked sessions.
    pub hint: Option<Box<StatementHint>>,
    /// The statement is a `COPY ... FROM STDIN`: the server will ask for data.
    pub copy_in: bool,
    /// The most rows it may change (`@max_rows`); more is rolled back and refused.
    pub row_cap: Option<u64>,
}

/// One message sent to the server, in the order sent.
#[derive(Debug)]
pub(crate) enum Sent {
    /// A simple Query: one slot per statement the server will complete, `None` for a
    /// statement that is not recorded (a refusal marker). No slot means an empty query.
    Query {
        statements: VecDeque<Option<Forwarded>>,
    },
    /// `unnamed`: the id of an unnamed statement gatehouse tracks, confirmed on ParseComplete.
    Parse {
        unnamed: Option<u64>,
    },
    /// `unnamed`: the id of an unnamed portal gatehouse tracks, confirmed on BindComplete.
    Bind {
        unnamed: Option<u64>,
    },
    DescribeStatement,
    /// `planning`: the hint masking plans the described rows with (a masked session's
    /// Execute); `relay`: which of the answers the client gets.
    DescribePortal {
        planning: Option<Box<StatementHint>>,
        relay: DescribeRelay,
    },
    /// `deallocate`: the Close that answers a client's SQL `DEALLOCATE` of a protocol-level
    /// statement; its CloseComplete is relayed as that statement's CommandComplete.
    Close {
        deallocate: Option<Forwarded>,
    },
    /// `None`: not recorded (a refusal marker, a portal that does not exist).
    Execute {
        statement: Option<Forwarded>,
    },
    FunctionCall {
        statement: Option<Forwarded>,
    },
    Sync,
    Flush,
    CopyData,
    CopyDone,
    CopyFail,
    /// A message gatehouse sends for the client in another form (a simple Query sent as
    /// extended messages): its ParseComplete, BindComplete and NoData are not the client's;
    /// its errors are.
    Hidden(Box<Sent>),
    /// A request of gatehouse's own (reading the session state an approval binds to): its
    /// answers are not the client's; its row and completion go to `inbound`. `on_error`: the
    /// error the client gets instead if it fails (the server then skips the client's own
    /// messages that follow, and the client must be told why); `None` swallows the failure.
    Own {
        request: Box<Sent>,
        on_error: Option<bytes::Bytes>,
    },
}

impl Sent {
    /// Whether the server may start, commit or roll back a transaction on this message: any
    /// that runs SQL, and Sync, which ends an implicit one. Parse, Bind, Describe, Close and
    /// Flush run nothing.
    pub(crate) fn may_change_transaction(&self) -> bool {
        match self {
            Sent::Parse { .. }
            | Sent::Bind { .. }
            | Sent::DescribeStatement
            | Sent::DescribePortal { .. }
            | Sent::Close { .. }
            | Sent::Flush => false,
            Sent::Hidden(inner) => inner.may_change_transaction(),
            Sent::Own { request, .. } => request.may_change_transaction(),
            Sent::Query { .. }
            | Sent::Execute { .. }
            | Sent::FunctionCall { .. }
            | Sent::Sync
            | Sent::CopyData
            | Sent::CopyDone
            | Sent::CopyFail => true,
        }
    }

    /// Forwarded statements this message carries, in order.
    fn into_statements(self) -> Vec<Forwarded> {
        match self {
            Sent::Query { statements } => statements.into_iter().flatten().collect(),
            Sent::Close {
                deallocate: Some(statement),
            }
            | Sent::Execute {
                statement: Some(statement),
            }
            | Sent::FunctionCall {
                statement: Some(statement),
            } => vec![statement],
            _ => Vec::new(),
        }
    }

    /// Messages the server answers nothing to outside COPY.
    fn is_silent(&self) -> bool {
        match self {
            Sent::Flush | Sent::CopyData | Sent::CopyDone | Sent::CopyFail => true,
            Sent::Own { request, .. } => request.is_silent(),
            Sent::Hidden(request) => request.is_silent(),
            _ => false,
        }
    }

    /// Messages whose error makes the server skip everything until Sync.
    fn is_extended(&self) -> bool {
        matches!(
            self,
            Sent::Parse { .. }
                | Sent::Bind { .. }
                | Sent::DescribeStatement
                | Sent::DescribePortal { .. }
                | Sent::Close { .. }
                | Sent::Execute { .. }
        )
    }
}

/// Which answers of a portal Describe the client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DescribeRelay {
    /// The client's own Describe: everything.
    All,
    /// Sent for a simple Query: its RowDescription (a simple Query sends one before rows),
    /// not NoData (a simple Query never sends that).
    RowsOnly,
    /// Gatehouse's own: nothing.
    Nothing,
}

/// The queue `inbound` appends to and the model retires from.
#[derive(Debug, Default)]
pub(crate) struct SentQueue {
    entries: Mutex<VecDeque<Sent>>,
}

impl SentQueue {
    pub fn push(&self, entry: Sent) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.push_back(entry);
        }
    }

    /// Everything still waiting for an answer (when the session ends).
    pub fn drain(&self) -> Vec<Sent> {
        self.entries
            .lock()
            .map(|mut entries| entries.drain(..).collect())
            .unwrap_or_default()
    }
}

/// How a forwarded statement ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StatementEnding {
    /// Completed; the command tag, if the server sent one.
    Completed(Option<String>),
    /// The portal ran out of its row limit and can be executed again.
    Suspended,
    /// The server reported this error for it.
    Failed(String),
    /// The server never ran it (why).
    NotRun(&'static str),
}

/// A forwarded statement whose outcome is now known.
#[derive(Debug)]
pub(crate) struct FinishedStatement {
    pub statement: Forwarded,
    pub ending: StatementEnding,
}

/// What one server message means, for `outbound`.
#[derive(Debug, Default)]
pub(crate) struct Placed {
    /// Statements whose outcome this message settled, in order. A completion or failure
    /// comes after any statements retired as not run before it.
    pub finished: Vec<FinishedStatement>,
    /// For a RowDescription: the statement whose rows it describes (masking plans with it).
    pub describes_rows_of: Option<StatementHint>,
    /// For a RowDescription: the columns of a result that follows (a portal's), as opposed
    /// to a prepared statement's description.
    pub columns_follow: bool,
    /// For a CopyOutResponse: the statement whose COPY rows follow.
    pub copy_out_of: Option<StatementHint>,
    /// The message answers gatehouse's own request: do not relay it.
    pub swallow: bool,
    /// Relay a CommandComplete with this tag instead (the answer to a rewritten DEALLOCATE).
    pub reply_as_command: Option<&'static str>,
    /// The unnamed statement with this id now exists on the server.
    pub confirmed_unnamed_statement: Option<u64>,
    /// The unnamed portal with this id now exists on the server.
    pub confirmed_unnamed_portal: Option<u64>,
    /// A COPY FROM STDIN started: the server waits for the client's data.
    pub copy_in_started: bool,
    /// Sent entries the server is now done with (for `inbound`'s waits).
    pub retired: u64,
    /// The server skips everything but Sync (after an extended-protocol error).
    pub skipping: bool,
    /// The message answers gatehouse's own request (it is never relayed as it is).
    pub own: Option<OwnAnswer>,
}

/// What the server answered to a request of gatehouse's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnAnswer {
    /// A row of its result, or another message of no interest (a ParseComplete...).
    Progress,
    Row,
    /// It completed.
    Done,
    /// It failed; `relay`: the error the client gets instead, if any.
    Failed {
        relay: Option<bytes::Bytes>,
    },
}

/// A server message the model cannot place: the session cannot go on safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Desync(pub String);

/// Where COPY stands for the message being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Copy {
    #[default]
    None,
    /// COPY FROM STDIN: the server reads the client's copy messages.
    In,
    /// The client ended the data (CopyDone); the COPY's completion follows.
    InEnded,
    /// The client abandoned the COPY (CopyFail); an error follows.
    InAbandoned,
    /// COPY TO STDOUT: rows stream until the server's CopyDone.
    Out,
}

/// The oldest sent entry the server has not finished with, and how far it got.
#[derive(Debug)]
struct Current {
    entry: Sent,
    /// A request of gatehouse's own, and the error the client gets if it fails.
    own: Option<Option<bytes::Bytes>>,
    /// Sent for the client in another form: its protocol acknowledgements are not relayed.
    hidden: bool,
    copy: Copy,
    /// A Query or FunctionCall that failed or answered: only ReadyForQuery is left.
    awaiting_ready: bool,
    /// A statement Describe whose ParameterDescription arrived.
    parameters_described: bool,
}

/// The model: owned by `outbound`, fed every server message.
#[derive(Debug, Default)]
pub(crate) struct ServerModel {
    current: Option<Current>,
    /// Whether the entry the last message made current was gatehouse's own (it may have
    /// been retired by that same message).
    last_own: Option<Option<bytes::Bytes>>,
    /// Whether it was sent in another form than the client's (hidden acknowledgements).
    last_hidden: bool,
    /// After an error in an extended-protocol message: skipping until Sync.
    skipping: bool,
    retired: u64,
}

const SKIPPED: &str = "not run: an earlier message of the same request failed";
const NOT_ANSWERED: &str = "not run: the session ended before the server answered";

impl ServerModel {
    /// Place one server message. `tag` is its type byte; `error_text` is the message of an
    /// ErrorResponse (recorded against the statement it fails).
    pub fn on_message(
        &mut self,
        queue: &SentQueue,
        tag: u8,
        error_text: Option<&str>,
    ) -> Result<Placed, Desync> {
        let mut placed = Placed::default();
        // Messages the server sends whenever it likes answer no request.
        if matches!(
            tag,
            backend::NOTICE_RESPONSE | backend::NOTIFICATION_RESPONSE | backend::PARAMETER_STATUS
        ) {
            return Ok(placed);
        }
        let Ok(mut entries) = queue.entries.lock() else {
            return Err(Desync("the request queue is unusable".to_owned()));
        };
        let own = self.current.as_ref().and_then(|c| c.own.clone());
        let hidden = self.current.as_ref().is_some_and(|c| c.hidden);
        let result = self.place(&mut entries, tag, error_text, &mut placed);
        let hidden = hidden || std::mem::take(&mut self.last_hidden);
        if hidden
            && matches!(
                tag,
                backend::PARSE_COMPLETE
                    | backend::BIND_COMPLETE
                    | backend::CLOSE_COMPLETE
                    | backend::NO_DATA
            )
        {
            placed.swallow = true;
        }
        // The entry answered may have become current (and been retired) just now.
        let own = own.or_else(|| self.last_own.take());
        self.last_own = None;
        placed.retired = self.retired;
        placed.skipping = self.skipping;
        if let Some(relay) = own {
            placed.swallow = true;
            placed.own = Some(match tag {
                backend::ERROR_RESPONSE => OwnAnswer::Failed { relay },
                backend::DATA_ROW => OwnAnswer::Row,
                backend::COMMAND_COMPLETE => OwnAnswer::Done,
                _ => OwnAnswer::Progress,
            });
        }
        result.map(|()| placed)
    }

    /// Everything still unanswered, as not run (the session is over).
    pub fn abandon(&mut self, queue: &SentQueue) -> Vec<FinishedStatement> {
        let mut finished = Vec::new();
        if let Some(current) = self.current.take() {
            not_run(current.entry, NOT_ANSWERED, &mut finished);
        }
        for entry in queue.drain() {
            not_run(entry, NOT_ANSWERED, &mut finished);
        }
        finished
    }

    fn place(
        &mut self,
        entries: &mut VecDeque<Sent>,
        tag: u8,
        error_text: Option<&str>,
        placed: &mut Placed,
    ) -> Result<(), Desync> {
        if self.current.as_ref().is_some_and(|c| c.copy == Copy::In)
            && matches!(tag, backend::COMMAND_COMPLETE | backend::ERROR_RESPONSE)
        {
            self.take_copy_messages(entries, tag)?;
        }
        if self.current.is_none() {
            self.next_current(entries, placed);
        }
        let Some(current) = self.current.as_mut() else {
            // Nothing outstanding: only an error may come unasked (FATAL at shutdown, an
            // idle-session timeout).
            return if tag == backend::ERROR_RESPONSE {
                Ok(())
            } else {
                Err(desync(tag, "no request is waiting for an answer"))
            };
        };
        match (tag, &mut current.entry) {
            (backend::ERROR_RESPONSE, _) => self.on_error(error_text.unwrap_or_default(), placed),
            (backend::READY_FOR_QUERY, Sent::Sync) => {
                self.skipping = false;
                self.retire(placed);
                Ok(())
            }
            (backend::READY_FOR_QUERY, Sent::Query { statements })
                if current.awaiting_ready || statements.is_empty() =>
            {
                // A query string of only empty statements answers EmptyQueryResponse first.
                if !current.awaiting_ready {
                    return Err(desync(tag, "the query string's answer was missing"));
                }
                self.retire(placed);
                Ok(())
            }
            (backend::READY_FOR_QUERY, Sent::FunctionCall { .. }) if current.awaiting_ready => {
                self.retire(placed);
                Ok(())
            }
            (backend::PARSE_COMPLETE, Sent::Parse { unnamed }) => {
                placed.confirmed_unnamed_statement = *unnamed;
                self.retire(placed);
                Ok(())
            }
            (backend::BIND_COMPLETE, Sent::Bind { unnamed }) => {
                placed.confirmed_unnamed_portal = *unnamed;
                self.retire(placed);
                Ok(())
            }
            (backend::CLOSE_COMPLETE, Sent::Close { deallocate }) => {
                if let Some(statement) = deallocate.take() {
                    placed.reply_as_command = Some("DEALLOCATE");
                    placed.finished.push(FinishedStatement {
                        statement,
                        ending: StatementEnding::Completed(Some("DEALLOCATE".to_owned())),
                    });
                }
                self.retire(placed);
                Ok(())
            }
            (backend::PARAMETER_DESCRIPTION, Sent::DescribeStatement)
                if !current.parameters_described =>
            {
                current.parameters_described = true;
                Ok(())
            }
            (backend::ROW_DESCRIPTION | backend::NO_DATA, Sent::DescribeStatement)
                if current.parameters_described =>
            {
                self.retire(placed);
                Ok(())
            }
            (
                backend::ROW_DESCRIPTION | backend::NO_DATA,
                Sent::DescribePortal { planning, relay },
            ) => {
                placed.columns_follow = true;
                placed.describes_rows_of = planning.take().map(|hint| *hint);
                placed.swallow = match relay {
                    DescribeRelay::All => false,
                    DescribeRelay::RowsOnly => tag == backend::NO_DATA,
                    DescribeRelay::Nothing => true,
                };
                self.retire(placed);
                Ok(())
            }
            (backend::ROW_DESCRIPTION, Sent::Query { statements })
                if !current.awaiting_ready && current.copy == Copy::None =>
            {
                match statements.front() {
                    Some(slot) => {
                        placed.describes_rows_of = Some(hint_of(slot.as_ref()));
                        placed.columns_follow = true;
                        Ok(())
                    }
                    None => Err(desync(
                        tag,
                        "rows were described beyond the statements decided",
                    )),
                }
            }
            (backend::DATA_ROW, Sent::Query { statements })
                if !current.awaiting_ready && !statements.is_empty() =>
            {
                Ok(())
            }
            (backend::DATA_ROW, Sent::Execute { .. }) if current.copy == Copy::None => Ok(()),
            (backend::COMMAND_COMPLETE, Sent::Query { statements }) => {
                let slot = if current.awaiting_ready {
                    None
                } else {
                    statements.pop_front()
                };
                let Some(slot) = slot else {
                    return Err(desync(
                        tag,
                        "the server completed more statements than gatehouse decided",
                    ));
                };
                current.copy = Copy::None;
                if let Some(statement) = slot {
                    placed.finished.push(FinishedStatement {
                        statement,
                        ending: StatementEnding::Completed(None),
                    });
                }
                if statements.is_empty() {
                    current.awaiting_ready = true;
                }
                Ok(())
            }
            (backend::EMPTY_QUERY_RESPONSE, Sent::Query { statements })
                if !current.awaiting_ready && statements.is_empty() =>
            {
                current.awaiting_ready = true;
                Ok(())
            }
            (
                backend::COMMAND_COMPLETE
                | backend::EMPTY_QUERY_RESPONSE
                | backend::PORTAL_SUSPENDED,
                Sent::Execute { statement },
            ) => {
                if tag == backend::PORTAL_SUSPENDED && current.copy != Copy::None {
                    return Err(desync(tag, "a COPY cannot be suspended"));
                }
                if let Some(statement) = statement.take() {
                    let ending = if tag == backend::PORTAL_SUSPENDED {
                        StatementEnding::Suspended
                    } else {
                        StatementEnding::Completed(None)
                    };
                    placed
                        .finished
                        .push(FinishedStatement { statement, ending });
                }
                self.retire(placed);
                Ok(())
            }
            (backend::COPY_IN_RESPONSE, Sent::Query { statements })
                if !current.awaiting_ready && current.copy == Copy::None =>
            {
                match statements.front() {
                    Some(Some(statement)) if statement.copy_in => {
                        current.copy = Copy::In;
                        placed.copy_in_started = true;
                        Ok(())
                    }
                    _ => Err(desync(tag, "a COPY FROM STDIN that gatehouse did not see")),
                }
            }
            (
                backend::COPY_IN_RESPONSE,
                Sent::Execute {
                    statement: Some(statement),
                },
            ) if current.copy == Copy::None && statement.copy_in => {
                current.copy = Copy::In;
                placed.copy_in_started = true;
                Ok(())
            }
            (backend::COPY_OUT_RESPONSE, Sent::Query { statements })
                if !current.awaiting_ready
                    && current.copy == Copy::None
                    && !statements.is_empty() =>
            {
                current.copy = Copy::Out;
                placed.copy_out_of = Some(hint_of(statements.front().and_then(Option::as_ref)));
                Ok(())
            }
            (backend::COPY_OUT_RESPONSE, Sent::Execute { statement })
                if current.copy == Copy::None =>
            {
                current.copy = Copy::Out;
                placed.copy_out_of = Some(hint_of(statement.as_ref()));
                Ok(())
            }
            (
                backend::COPY_DATA | backend::COPY_DONE,
                Sent::Query { .. } | Sent::Execute { .. },
            ) if current.copy == Copy::Out => Ok(()),
            (backend::FUNCTION_CALL_RESPONSE, Sent::FunctionCall { statement })
                if !current.awaiting_ready =>
            {
                current.awaiting_ready = true;
                if let Some(statement) = statement.take() {
                    placed.finished.push(FinishedStatement {
                        statement,
                        ending: StatementEnding::Completed(None),
                    });
                }
                Ok(())
            }
            _ => Err(desync(
                tag,
                &format!("the server is answering {}", describe(&current.entry)),
            )),
        }
    }

    /// An ErrorResponse: it fails the request being answered, and decides what the server
    /// skips next.
    fn on_error(&mut self, text: &str, placed: &mut Placed) -> Result<(), Desync> {
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        let failure = StatementEnding::Failed(text.to_owned());
        match &mut current.entry {
            // A failed COMMIT at Sync: ReadyForQuery still follows.
            Sent::Sync => Ok(()),
            Sent::Query { statements } => {
                if current.awaiting_ready {
                    // The implicit transaction failed to commit after the last statement.
                    return Ok(());
                }
                current.awaiting_ready = true;
                current.copy = Copy::None;
                if let Some(Some(statement)) = statements.pop_front() {
                    placed.finished.push(FinishedStatement {
                        statement,
                        ending: failure,
                    });
                }
                for statement in statements.drain(..).flatten() {
                    placed.finished.push(FinishedStatement {
                        statement,
                        ending: StatementEnding::NotRun(SKIPPED),
                    });
                }
                Ok(())
            }
            Sent::FunctionCall { statement } => {
                current.awaiting_ready = true;
                if let Some(statement) = statement.take() {
                    placed.finished.push(FinishedStatement {
                        statement,
                        ending: failure,
                    });
                }
                Ok(())
            }
            entry if entry.is_extended() => {
                let entry = std::mem::replace(entry, Sent::Flush);
                for statement in entry.into_statements() {
                    placed.finished.push(FinishedStatement {
                        statement,
                        ending: failure.clone(),
                    });
                }
                self.skipping = true;
                self.retire(placed);
                Ok(())
            }
            other => Err(desync(
                backend::ERROR_RESPONSE,
                &format!("it answers {}", describe(other)),
            )),
        }
    }

    /// Make the next entry the server answers current, retiring what it answers nothing to:
    /// silent messages, and everything but Sync while it skips.
    fn next_current(&mut self, entries: &mut VecDeque<Sent>, placed: &mut Placed) {
        while let Some(entry) = entries.pop_front() {
            let silent = entry.is_silent() || (self.skipping && !matches!(entry, Sent::Sync));
            if silent {
                self.retired += 1;
                not_run(entry, SKIPPED, &mut placed.finished);
                continue;
            }
            let (entry, own, hidden) = match entry {
                Sent::Own { request, on_error } => (*request, Some(on_error), false),
                Sent::Hidden(request) => (*request, None, true),
                entry => (entry, None, false),
            };
            self.last_own = own.clone();
            self.last_hidden = hidden;
            self.current = Some(Current {
                entry,
                own,
                hidden,
                copy: Copy::None,
                awaiting_ready: false,
                parameters_described: false,
            });
            return;
        }
    }

    /// During COPY FROM STDIN, before its completion or error: the client's copy messages
    /// the server has read. Flush and Sync before the data are ignored by the server; a
    /// Sync inside the data, or any other message, would leave the model unable to tell
    /// what the server did (inbound never sends them), so they end the session.
    fn take_copy_messages(&mut self, entries: &mut VecDeque<Sent>, tag: u8) -> Result<(), Desync> {
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        let mut data_seen = false;
        while current.copy == Copy::In {
            let Some(entry) = entries.pop_front() else {
                // The server failed the COPY before the client finished sending: the rest of
                // the data will be ignored (silent) when it comes.
                if tag == backend::ERROR_RESPONSE {
                    current.copy = Copy::InAbandoned;
                    return Ok(());
                }
                return Err(desync(
                    tag,
                    "the COPY completed before the client ended its data",
                ));
            };
            self.retired += 1;
            match entry {
                Sent::CopyData => data_seen = true,
                Sent::Flush => {}
                Sent::Sync if !data_seen => {}
                Sent::CopyDone => current.copy = Copy::InEnded,
                Sent::CopyFail => current.copy = Copy::InAbandoned,
                other => {
                    return Err(desync(
                        tag,
                        &format!("{} was sent in the middle of COPY data", describe(&other)),
                    ));
                }
            }
        }
        if tag == backend::COMMAND_COMPLETE && current.copy == Copy::InAbandoned {
            return Err(desync(tag, "a COPY the client abandoned completed"));
        }
        Ok(())
    }

    fn retire(&mut self, placed: &mut Placed) {
        self.current = None;
        self.retired += 1;
        placed.retired = self.retired;
    }
}

/// The statements of an entry the server will not run, as not run.
fn not_run(entry: Sent, why: &'static str, finished: &mut Vec<FinishedStatement>) {
    for statement in entry.into_statements() {
        finished.push(FinishedStatement {
            statement,
            ending: StatementEnding::NotRun(why),
        });
    }
}

fn hint_of(slot: Option<&Forwarded>) -> StatementHint {
    slot.and_then(|statement| statement.hint.as_deref())
        .cloned()
        .unwrap_or_default()
}

fn describe(entry: &Sent) -> &'static str {
    match entry {
        Sent::Query { .. } => "a Query",
        Sent::Parse { .. } => "a Parse",
        Sent::Bind { .. } => "a Bind",
        Sent::DescribeStatement | Sent::DescribePortal { .. } => "a Describe",
        Sent::Close { .. } => "a Close",
        Sent::Execute { .. } => "an Execute",
        Sent::FunctionCall { .. } => "a FunctionCall",
        Sent::Sync => "a Sync",
        Sent::Flush => "a Flush",
        Sent::CopyData => "CopyData",
        Sent::CopyDone => "CopyDone",
        Sent::CopyFail => "CopyFail",
        Sent::Own { request, .. } | Sent::Hidden(request) => describe(request),
    }
}

fn desync(tag: u8, why: &str) -> Desync {
    Desync(format!(
        "the server sent message type {:?}, but {why}",
        char::from(tag)
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn statement(seq: i64) -> Forwarded {
        Forwarded {
            seq,
            sent_at: Instant::now(),
            hint: None,
            copy_in: false,
            row_cap: None,
        }
    }

    fn copy_statement(seq: i64) -> Forwarded {
        Forwarded {
            copy_in: true,
            ..statement(seq)
        }
    }

    fn query(seqs: &[i64]) -> Sent {
        Sent::Query {
            statements: seqs.iter().map(|seq| Some(statement(*seq))).collect(),
        }
    }

    fn execute(seq: i64) -> Sent {
        Sent::Execute {
            statement: Some(statement(seq)),
        }
    }

    /// Feed server messages; the endings each settled, by seq.
    fn answer(
        model: &mut ServerModel,
        queue: &SentQueue,
        tags: &[u8],
    ) -> Result<Vec<(i64, StatementEnding)>, Desync> {
        let mut settled = Vec::new();
        for tag in tags {
            let text = (*tag == backend::ERROR_RESPONSE).then_some("XX000: boom");
            let placed = model.on_message(queue, *tag, text)?;
            settled.extend(
                placed
                    .finished
                    .into_iter()
                    .map(|f| (f.statement.seq, f.ending)),
            );
        }
        Ok(settled)
    }

    #[test]
    fn a_query_sent_while_the_server_skips_to_sync_is_skipped_too() {
        // Bind fails; the Query and Parse that follow before Sync are skipped by the server.
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Bind { unnamed: Some(1) });
        queue.push(Sent::Flush);
        queue.push(query(&[7]));
        queue.push(Sent::Parse { unnamed: Some(2) });
        queue.push(Sent::Sync);
        let settled = answer(&mut model, &queue, b"EZ").unwrap();
        assert_eq!(settled, [(7, StatementEnding::NotRun(SKIPPED))]);
        // The unnamed statement of that Parse was never confirmed.
        queue.push(Sent::Parse { unnamed: Some(3) });
        queue.push(Sent::Sync);
        let placed = model
            .on_message(&queue, backend::PARSE_COMPLETE, None)
            .unwrap();
        assert_eq!(placed.confirmed_unnamed_statement, Some(3));
        answer(&mut model, &queue, b"Z").unwrap();
    }

    #[test]
    fn a_query_between_extended_messages_runs_when_nothing_failed() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Parse { unnamed: Some(1) });
        queue.push(query(&[4]));
        queue.push(Sent::Sync);
        let settled = answer(&mut model, &queue, b"1TDCZZ").unwrap();
        assert_eq!(settled, [(4, StatementEnding::Completed(None))]);
    }

    #[test]
    fn an_error_in_a_query_skips_only_the_rest_of_that_query() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(query(&[1, 2, 3]));
        queue.push(query(&[4]));
        let settled = answer(&mut model, &queue, b"CEZCZ").unwrap();
        assert_eq!(
            settled,
            [
                (1, StatementEnding::Completed(None)),
                (2, StatementEnding::Failed("XX000: boom".into())),
                (3, StatementEnding::NotRun(SKIPPED)),
                (4, StatementEnding::Completed(None)),
            ]
        );
    }

    #[test]
    fn more_completions_than_decided_statements_is_a_desync() {
        // The server read one query string as two statements (a parser differential).
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(query(&[1]));
        let error = answer(&mut model, &queue, b"TDCC").unwrap_err();
        assert!(error.0.contains("more statements"), "{error:?}");
    }

    #[test]
    fn fewer_completions_than_decided_statements_is_a_desync() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(query(&[1, 2]));
        assert!(answer(&mut model, &queue, b"CZ").is_err());
    }

    #[test]
    fn an_empty_query_answers_empty_query_response() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Query {
            statements: VecDeque::new(),
        });
        answer(&mut model, &queue, b"IZ").unwrap();
        queue.push(Sent::Query {
            statements: VecDeque::new(),
        });
        assert!(answer(&mut model, &queue, b"Z").is_err());
    }

    #[test]
    fn extended_messages_are_matched_one_by_one() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Parse { unnamed: None });
        queue.push(Sent::DescribeStatement);
        queue.push(Sent::Bind { unnamed: Some(5) });
        queue.push(Sent::DescribePortal {
            planning: Some(Box::default()),
            relay: DescribeRelay::Nothing,
        });
        queue.push(execute(9));
        queue.push(Sent::Close { deallocate: None });
        queue.push(Sent::Sync);
        let mut settled = answer(&mut model, &queue, b"1tT").unwrap();
        let placed = model
            .on_message(&queue, backend::BIND_COMPLETE, None)
            .unwrap();
        assert_eq!(placed.confirmed_unnamed_portal, Some(5));
        let placed = model
            .on_message(&queue, backend::ROW_DESCRIPTION, None)
            .unwrap();
        assert!(placed.swallow && placed.describes_rows_of.is_some());
        settled.extend(answer(&mut model, &queue, b"DDs3Z").unwrap());
        assert_eq!(settled, [(9, StatementEnding::Suspended)]);
    }

    #[test]
    fn an_error_in_an_extended_message_skips_everything_until_sync() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Parse { unnamed: None });
        queue.push(execute(1));
        queue.push(query(&[2]));
        queue.push(Sent::FunctionCall {
            statement: Some(statement(3)),
        });
        queue.push(Sent::Sync);
        queue.push(execute(4));
        queue.push(Sent::Sync);
        let settled = answer(&mut model, &queue, b"EZCZ").unwrap();
        assert_eq!(
            settled,
            [
                (1, StatementEnding::NotRun(SKIPPED)),
                (2, StatementEnding::NotRun(SKIPPED)),
                (3, StatementEnding::NotRun(SKIPPED)),
                (4, StatementEnding::Completed(None)),
            ]
        );
    }

    #[test]
    fn a_failed_commit_at_sync_is_still_answered_by_ready_for_query() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(execute(1));
        queue.push(Sent::Sync);
        let settled = answer(&mut model, &queue, b"CEZ").unwrap();
        assert_eq!(settled, [(1, StatementEnding::Completed(None))]);
    }

    #[test]
    fn copy_from_stdin_ignores_a_sync_before_the_data_and_completes_after_copy_done() {
        // libpq's extended COPY: Bind/Execute/Sync, then the data, CopyDone and a Sync.
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Bind { unnamed: Some(1) });
        queue.push(Sent::Execute {
            statement: Some(copy_statement(1)),
        });
        queue.push(Sent::Sync);
        assert!(answer(&mut model, &queue, b"2").unwrap().is_empty());
        let started = model
            .on_message(&queue, backend::COPY_IN_RESPONSE, None)
            .unwrap();
        assert!(started.copy_in_started);
        queue.push(Sent::CopyData);
        queue.push(Sent::CopyData);
        queue.push(Sent::CopyDone);
        queue.push(Sent::Sync);
        let settled = answer(&mut model, &queue, b"CZ").unwrap();
        assert_eq!(settled, [(1, StatementEnding::Completed(None))]);
    }

    #[test]
    fn a_copy_error_in_a_query_goes_on_with_the_query_string() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Query {
            statements: VecDeque::from([Some(copy_statement(1)), Some(statement(2))]),
        });
        answer(&mut model, &queue, b"G").unwrap();
        queue.push(Sent::CopyData);
        let settled = answer(&mut model, &queue, b"EZ").unwrap();
        assert_eq!(
            settled,
            [
                (1, StatementEnding::Failed("XX000: boom".into())),
                (2, StatementEnding::NotRun(SKIPPED)),
            ]
        );
        // The rest of the data and CopyDone arrive after the error: ignored.
        queue.push(Sent::CopyData);
        queue.push(Sent::CopyDone);
        queue.push(query(&[3]));
        let settled = answer(&mut model, &queue, b"CZ").unwrap();
        assert_eq!(settled, [(3, StatementEnding::Completed(None))]);
    }

    #[test]
    fn anything_but_copy_messages_inside_copy_data_is_a_desync() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Query {
            statements: VecDeque::from([Some(copy_statement(1))]),
        });
        answer(&mut model, &queue, b"G").unwrap();
        queue.push(Sent::CopyData);
        queue.push(query(&[2]));
        assert!(answer(&mut model, &queue, b"E").is_err());

        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Query {
            statements: VecDeque::from([Some(copy_statement(1))]),
        });
        answer(&mut model, &queue, b"G").unwrap();
        queue.push(Sent::CopyData);
        queue.push(Sent::Sync);
        queue.push(Sent::CopyDone);
        assert!(answer(&mut model, &queue, b"C").is_err());
    }

    #[test]
    fn copy_in_for_a_statement_not_seen_as_copy_is_a_desync() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(query(&[1]));
        assert!(answer(&mut model, &queue, b"G").is_err());
    }

    #[test]
    fn copy_out_streams_until_its_completion() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(query(&[1, 2]));
        let settled = answer(&mut model, &queue, b"HddcCTDCZ").unwrap();
        assert_eq!(
            settled,
            [
                (1, StatementEnding::Completed(None)),
                (2, StatementEnding::Completed(None))
            ]
        );
    }

    #[test]
    fn a_rewritten_deallocate_is_answered_as_a_command() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Close {
            deallocate: Some(statement(3)),
        });
        queue.push(Sent::Sync);
        let placed = model
            .on_message(&queue, backend::CLOSE_COMPLETE, None)
            .unwrap();
        assert_eq!(placed.reply_as_command, Some("DEALLOCATE"));
        assert_eq!(placed.finished.len(), 1);
        answer(&mut model, &queue, b"Z").unwrap();
    }

    #[test]
    fn unasked_messages_and_unsent_answers() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        // Notices, notifications, parameter changes and a FATAL error need no request.
        answer(&mut model, &queue, b"NASE").unwrap();
        assert!(answer(&mut model, &queue, b"Z").is_err());
        assert!(answer(&mut model, &queue, b"1").is_err());
    }

    #[test]
    fn statements_never_answered_are_not_run_when_the_session_ends() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(query(&[1, 2]));
        queue.push(execute(3));
        answer(&mut model, &queue, b"C").unwrap();
        let abandoned: Vec<_> = model
            .abandon(&queue)
            .into_iter()
            .map(|f| f.statement.seq)
            .collect();
        assert_eq!(abandoned, [2, 3]);
    }

    #[test]
    fn flush_and_stray_copy_messages_are_silent() {
        let queue = SentQueue::default();
        let mut model = ServerModel::default();
        queue.push(Sent::Flush);
        queue.push(Sent::CopyData);
        queue.push(Sent::CopyDone);
        queue.push(Sent::Parse { unnamed: None });
        queue.push(Sent::Flush);
        queue.push(Sent::Sync);
        let placed = model
            .on_message(&queue, backend::PARSE_COMPLETE, None)
            .unwrap();
        assert_eq!(placed.retired, 4);
        answer(&mut model, &queue, b"Z").unwrap();
    }
}
