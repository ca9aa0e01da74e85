//! Client → server: decode every message that could run SQL, decide it, and forward only what
//! was allowed (and recorded). The decision points are `Query`, `Execute` and `FunctionCall`;
//! `Parse` and `Bind` are classified and tracked so that `Execute` knows exactly what it runs.
//!
//! INVARIANT: what the server executes for a portal is exactly what gatehouse classified for
//! it. Named statements and portals are renamed to names used once and unguessable
//! (`gh_<session nonce>_s7`), so a server object either holds the text gatehouse saw or does
//! not exist. The unnamed ones cannot be renamed (drivers rely on them being replaced, not
//! accumulated). An unnamed statement (portal) is trusted where it is used when no Sync was
//! sent since its Parse (Bind) — the server skips everything after an error until Sync, so if
//! the use is processed at all, so was the Parse — or when the server has confirmed that
//! very Parse (Bind) with ParseComplete (BindComplete). A simple Query is *not* a boundary:
//! the server skips it too while it skips to Sync.
//!
//! Every message sent is also appended to the server model's queue (`server_model`), which
//! matches the server's answers to it.

use super::refusals::OwnResult;
use super::results::StatementHint;
use super::server_model::{DescribeRelay, Forwarded, Sent};
use super::statement_context::{self, BoundParameters};
use super::transaction_scope::change_scope;
use super::{Ending, Shared};
use crate::wire::tags::{frontend, target_kind, transaction_status};
use crate::wire::{self, FrameReader, Severity};
use crate::{ConnectionMasking, PgError, PgGateway};
use bytes::{Bytes, BytesMut};
use gatehouse_core::{Action, SqlKind, SqlStatement};
use gatehouse_pipeline::{
    ChangeScope, ChangeSync, Decision, Permit, PipelineError, SessionContext,
};
use gatehouse_sql::{ClassifiedStatement, PreparedOp, PreparedStatements};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

const FLUSH_AT: usize = 64 * 1024;

/// Prefix of the names gatehouse gives server-side objects (renamed statements and portals,
/// missing names, refusal markers). SQL-level `PREPARE` shares the server's namespace with
/// protocol-level statements, so SQL may not name these objects.
const RESERVED_PREFIX: &str = "gh_";

/// How long a client message waits behind a COPY FROM STDIN whose answer has not come, when
/// the server may be skipping it (after an error) rather than about to ask for data.
const COPY_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long gatehouse waits for the answer to a request of its own (reading the session
/// state an approval binds to) before deciding without it.
const OWN_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How far gatehouse may trust its record of what a server-side object holds.
#[derive(Debug, Clone, Copy)]
enum Trust {
    /// Created under a name used only once: exact.
    Exact,
    /// The unnamed statement or portal with this `id`, created after `syncs` Syncs had been
    /// sent.
    Unnamed { id: u64, syncs: u64 },
}

/// A COPY FROM STDIN may be waiting for the client's data: until the message that started
/// it is answered, only copy messages (and Flush, and Sync before any data) go through.
#[derive(Debug, Clone, Copy)]
struct CopyWindow {
    /// The sent entry (1-based) that may start the COPY.
    origin: u64,
    /// CopyData was sent since the COPY began (or since the last CopyDone/CopyFail).
    data_sent: bool,
}

#[derive(Debug, Clone)]
struct Tracked {
    backend_name: String,
    statements: Arc<[SqlStatement]>,
    trust: Trust,
    /// For a portal: the parameters its Bind gave it.
    parameters: Option<BoundParameters>,
}

pub(super) struct Inbound<'a, R> {
    pub(super) gateway: &'a PgGateway,
    pub(super) context: &'a SessionContext,
    pub(super) client: FrameReader<R>,
    pub(super) shared: &'a Shared,
    out: BytesMut,
    statements: HashMap<String, Tracked>,
    portals: HashMap<String, Tracked>,
    sql_prepared: PreparedStatements,
    /// Strongest kind each SQL-level prepared statement name has ever held: a failed
    /// `DEALLOCATE`/`PREPARE` pair can leave the older statement in place on the server.
    sql_prepared_strongest: HashMap<String, SqlKind>,
    /// Syncs sent to the server so far.
    syncs_sent: u64,
    /// Entries appended to the server model's queue so far.
    entries_sent: u64,
    /// The newest of them on which the server may have started, committed or rolled back a
    /// transaction (1-based; 0 = none).
    last_transaction_entry: u64,
    /// An extended-protocol message was sent since the last Sync: the server may be
    /// skipping to Sync.
    extended_since_sync: bool,
    /// Ids of unnamed statements and portals (0 = none).
    next_unnamed: u64,
    /// A COPY FROM STDIN that may be waiting for data.
    copy: Option<CopyWindow>,
    /// CopyDone and CopyFail messages the client sent.
    copy_ends_sent: u64,
    /// After a refused Execute the server skips everything until Sync; so do we.
    skipping_until_sync: bool,
    /// Random per session, part of every generated server-side name, so that SQL-level
    /// `EXECUTE`/`DEALLOCATE`/`PREPARE` (which share the namespace) cannot guess them.
    name_nonce: String,
    next_name: u64,
    /// The masking the session's results get, when they are masked (as it was when the session
    /// started): every `Execute` is preceded by a `Describe` of its portal so that the
    /// outbound side knows the columns and formats of the rows.
    masking: Option<Arc<ConnectionMasking>>,
    /// Changes when the client sends a cancel request (Ctrl-C in psql): withdraws a
    /// statement waiting for approval.
    pub(super) interrupted: tokio::sync::watch::Receiver<u64>,
}

impl<'a, R: AsyncRead + Unpin> Inbound<'a, R> {
    pub fn new(
        gateway: &'a PgGateway,
        context: &'a SessionContext,
        client: FrameReader<R>,
        shared: &'a Shared,
        masking: Option<Arc<ConnectionMasking>>,
        interrupted: tokio::sync::watch::Receiver<u64>,
    ) -> Self {
        Inbound {
            gateway,
            context,
            client,
            shared,
            out: BytesMut::with_capacity(FLUSH_AT),
            statements: HashMap::new(),
            portals: HashMap::new(),
            sql_prepared: PreparedStatements::default(),
            sql_prepared_strongest: HashMap::new(),
            syncs_sent: 0,
            entries_sent: 0,
            last_transaction_entry: 0,
            extended_since_sync: false,
            next_unnamed: 0,
            copy: None,
            copy_ends_sent: 0,
            skipping_until_sync: false,
            name_nonce: {
                let mut nonce = [0u8; 6];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
                hex::encode(nonce)
            },
            next_name: 0,
            masking,
            interrupted,
        }
    }

    pub async fn run<W: AsyncWrite + Unpin>(&mut self, server: &mut W) -> Result<Ending, PgError> {
        loop {
            let Some(frame) = self.client.next().await? else {
                self.flush(server).await?;
                return Ok(Ending::ClientClosed);
            };
            self.hold_for_copy(frame.tag, server).await?;
            let body = frame.body();
            match frame.tag {
                frontend::QUERY => {
                    self.on_query(wire::query_message(body)?, &frame.raw, server)
                        .await?;
                }
                frontend::PARSE => self.on_parse(body)?,
                frontend::BIND => self.on_bind(body)?,
                frontend::EXECUTE => self.on_execute(body, server).await?,
                frontend::DESCRIBE | frontend::CLOSE => {
                    self.on_describe_or_close(frame.tag, body)?
                }
                frontend::SYNC => {
                    self.skipping_until_sync = false;
                    self.send_sync();
                }
                frontend::FLUSH if !self.skipping_until_sync => {
                    self.extended_since_sync = true;
                    self.send(Sent::Flush, &frame.raw);
                }
                frontend::FLUSH => {}
                frontend::COPY_DATA => self.send(Sent::CopyData, &frame.raw),
                frontend::COPY_DONE | frontend::COPY_FAIL => {
                    self.copy_ends_sent += 1;
                    let entry = if frame.tag == frontend::COPY_DONE {
                        Sent::CopyDone
                    } else {
                        Sent::CopyFail
                    };
                    self.send(entry, &frame.raw);
                }
                frontend::FUNCTION_CALL => self.on_function_call(&frame.raw).await,
                frontend::TERMINATE => {
                    self.out.extend_from_slice(&frame.raw);
                    self.flush(server).await?;
                    return Ok(Ending::ClientTerminated);
                }
                other => {
                    return Err(PgError::Protocol(format!(
                        "client sent message type {:?}, which is not valid in a running session",
                        char::from(other)
                    )));
                }
            }
            if self.out.len() >= FLUSH_AT || !self.client.has_buffered_frame() {
                self.flush(server).await?;
            }
        }
    }

    /// After the session failed: swallow what the client is still sending (bounded in bytes
    /// and time by the caller) so it can read the error instead of a connection reset.
    pub async fn discard_client_input(&mut self, limit: usize) {
        self.client.discard_incoming(limit).await;
    }

    async fn flush<W: AsyncWrite + Unpin>(&mut self, server: &mut W) -> Result<(), PgError> {
        if !self.out.is_empty() {
            server.write_all(&self.out).await?;
            self.out.clear();
            // Over TLS, records can stay buffered after `write_all` when the socket is full.
            server.flush().await?;
        }
        Ok(())
    }

    /// Append a message to the server's output and its entry to the server model's queue.
    fn send(&mut self, entry: Sent, message: &[u8]) {
        if matches!(
            entry,
            Sent::Parse { .. }
                | Sent::Bind { .. }
                | Sent::DescribeStatement
                | Sent::DescribePortal { .. }
                | Sent::Close { .. }
                | Sent::Execute { .. }
        ) {
            self.extended_since_sync = true;
        }
        self.entries_sent += 1;
        if entry.may_change_transaction() {
            self.last_transaction_entry = self.entries_sent;
        }
        self.shared.sent.push(entry);
        self.out.extend_from_slice(message);
    }

    fn send_sync(&mut self) {
        self.syncs_sent += 1;
        self.extended_since_sync = false;
        self.send(Sent::Sync, &wire::raw_message(frontend::SYNC, &[]));
    }

    /// Append a decided request. Requires the [`Permit`] that only an allowed, recorded
    /// decision yields; `send` is given one [`Forwarded`] per decided statement (carrying its
    /// audit `seq`, so the statement's outcome can be recorded against its event) and appends
    /// the messages.
    fn forward_permitted(
        &mut self,
        permit: Permit,
        statements: &[SqlStatement],
        send: impl FnOnce(&mut Self, VecDeque<Forwarded>),
    ) {
        let sent_at = Instant::now();
        let caps = permit
            .row_caps()
            .iter()
            .copied()
            .chain(std::iter::repeat(None));
        let forwarded = permit
            .audit_seqs()
            .zip(statements)
            .zip(caps)
            .map(|((seq, statement), row_cap)| Forwarded {
                seq,
                sent_at,
                hint: self
                    .masking
                    .is_some()
                    .then(|| Box::new(hint_for(statement))),
                copy_in: copies_in(statement),
                row_cap,
            })
            .collect();
        send(self, forwarded);
    }

    /// Send a refusal marker Query: a request certain to fail at this point, whose error the
    /// outbound side swaps for `refusal`.
    fn send_marker_query(&mut self, refusal: Bytes) {
        let marker = self.shared.new_marker(refusal);
        self.send(
            Sent::Query {
                statements: VecDeque::from([None]),
            },
            &wire::query(&format!("EXECUTE {marker}")),
        );
    }

    /// Before a client message is processed: while a COPY FROM STDIN may be waiting for the
    /// client's data, only copy messages, Flush, Terminate and a Sync before any data go
    /// through. Anything else waits until the server has answered the message that may
    /// start the COPY; if it did start it and the client has not ended its data, the client
    /// broke the protocol (PostgreSQL would take the message as an error in the COPY, and
    /// gatehouse could no longer tell what the server did), so the session ends.
    async fn hold_for_copy<W: AsyncWrite + Unpin>(
        &mut self,
        tag: u8,
        server: &mut W,
    ) -> Result<(), PgError> {
        let Some(window) = self.copy.as_mut() else {
            return Ok(());
        };
        match tag {
            frontend::COPY_DATA => {
                window.data_sent = true;
                return Ok(());
            }
            frontend::COPY_DONE | frontend::COPY_FAIL => {
                window.data_sent = false;
                return Ok(());
            }
            frontend::FLUSH | frontend::TERMINATE => return Ok(()),
            frontend::SYNC if !window.data_sent => return Ok(()),
            frontend::SYNC => {
                return Err(PgError::Protocol(
                    "client sent Sync in the middle of COPY data; end the data with CopyDone or CopyFail first".into(),
                ));
            }
            _ => {}
        }
        let origin = window.origin;
        self.flush(server).await?;
        let mut progress = self.shared.progress();
        let ends_sent = self.copy_ends_sent;
        let answered =
            |p: &super::refusals::Progress| p.retired >= origin || p.copy_ins_started > ends_sent;
        let waited = if self.extended_since_sync {
            // The server may be skipping to Sync after an error, and then never answers.
            tokio::time::timeout(COPY_ANSWER_WAIT, progress.wait_for(answered))
                .await
                .ok()
        } else {
            Some(progress.wait_for(answered).await)
        };
        let copying = match waited {
            Some(Ok(seen)) => seen.retired < origin,
            // No answer in time, or the outbound side is gone: cannot tell, refuse.
            Some(Err(_)) | None => true,
        };
        if copying {
            return Err(PgError::Protocol(format!(
                "client sent message type {:?} while its COPY FROM STDIN waits for data; send CopyDone or CopyFail first",
                char::from(tag)
            )));
        }
        self.copy = None;
        Ok(())
    }

    async fn on_query<W: AsyncWrite + Unpin>(
        &mut self,
        bytes: &[u8],
        raw: &[u8],
        server: &mut W,
    ) -> Result<(), PgError> {
        if self.skipping_until_sync {
            return Ok(());
        }
        // A simple Query destroys the unnamed statement and portal.
        self.statements.remove("");
        self.portals.remove("");
        let encoding = self.shared.text_encoding();
        let text = match encoding.decode(bytes) {
            Ok(text) => text,
            Err(error) => {
                // The server would refuse these bytes too; they are never forwarded, since a
                // reading gatehouse cannot check is not one it may let through.
                self.send_marker_query(encoding_refusal(&error));
                return Ok(());
            }
        };
        let text = text.as_ref();
        let classified = self.gateway.classifier.classify(text);
        let statements = self.classify(&classified);
        let actions: Vec<Action> = statements.iter().cloned().map(Action::of).collect();
        let Some(actions) = self.bind_held_to_session(actions, None, server).await? else {
            return Ok(());
        };
        match self.decide(&actions).await {
            Ok(permit) => {
                if permit.row_caps().iter().any(Option::is_some) {
                    self.forward_capped_query(permit, &statements, bytes, server)
                        .await?;
                } else if let Some(name) = self.protocol_deallocate(text, &statements)
                    && self.server_idle_outside_failed_transaction(server).await?
                {
                    self.forward_deallocate(permit, &statements, &name);
                } else {
                    let copy = statements.iter().any(copies_in);
                    self.forward_permitted(permit, &statements, |this, forwarded| {
                        this.send(
                            Sent::Query {
                                statements: forwarded.into_iter().map(Some).collect(),
                            },
                            raw,
                        );
                    });
                    if copy {
                        self.copy = Some(CopyWindow {
                            origin: self.entries_sent,
                            data_sent: false,
                        });
                    }
                    self.forget_destroyed(&classified);
                }
            }
            Err(refusal) => self.send_marker_query(refusal),
        }
        Ok(())
    }

    async fn on_function_call(&mut self, raw: &[u8]) {
        if self.skipping_until_sync {
            return;
        }
        let statement = unknown_statement(
            "<fast-path function call>",
            "calls a function by OID through the fast-path interface, which gatehouse cannot inspect",
        );
        let statements = [statement.clone()];
        match self.decide(&[Action::of(statement)]).await {
            Ok(permit) => self.forward_permitted(permit, &statements, |this, mut forwarded| {
                this.send(
                    Sent::FunctionCall {
                        statement: forwarded.pop_front(),
                    },
                    raw,
                );
            }),
            Err(refusal) => self.send_marker_query(refusal),
        }
    }

    fn on_parse(&mut self, body: &[u8]) -> Result<(), PgError> {
        if self.skipping_until_sync {
            return Ok(());
        }
        let parse = wire::parse_message(body)?;
        let encoding = self.shared.text_encoding();
        let (statements, query): (Arc<[SqlStatement]>, std::borrow::Cow<'_, [u8]>) =
            match encoding.decode(parse.query) {
                Ok(text) => {
                    let classified = self.gateway.classifier.classify(&text);
                    (self.classify(&classified).into(), parse.query.into())
                }
                Err(error) => {
                    // Never forwarded (see `on_query`): a Parse certain to fail at the server,
                    // whose error is replaced with the encoding error the server would give.
                    let marker = self.shared.new_marker(encoding_refusal(&error));
                    let statement = unknown_statement(
                        "<text not valid in the client encoding>",
                        "is not valid text in the session's client_encoding",
                    );
                    (
                        Arc::from(vec![statement]),
                        format!("SELECT * FROM {marker}").into_bytes().into(),
                    )
                }
            };
        let (backend_name, trust) = self.backend_name(parse.statement, "s");
        let mut message = BytesMut::new();
        wire::parse(&mut message, &backend_name, &query, parse.parameter_types);
        self.send(
            Sent::Parse {
                unnamed: unnamed_id(trust),
            },
            &message,
        );
        self.statements.insert(
            parse.statement.to_owned(),
            Tracked {
                backend_name,
                statements,
                trust,
                parameters: None,
            },
        );
        Ok(())
    }

    fn on_bind(&mut self, body: &[u8]) -> Result<(), PgError> {
        if self.skipping_until_sync {
            return Ok(());
        }
        let bind = wire::bind_message(body)?;
        let (statement_backend, statements) = match self.lookup(Target::Statement, bind.statement) {
            Some(found) => found,
            None => (self.missing_name(), Arc::from(Vec::new())),
        };
        let (portal_backend, trust) = self.backend_name(bind.portal, "p");
        // A Bind the server cannot read is refused by the server, and then nothing runs.
        let parameters =
            BoundParameters::read(bind.rest, self.shared.text_encoding(), self.masker()).ok();
        let mut message = BytesMut::new();
        wire::bind(&mut message, &portal_backend, &statement_backend, bind.rest);
        self.send(
            Sent::Bind {
                unnamed: unnamed_id(trust),
            },
            &message,
        );
        self.portals.insert(
            bind.portal.to_owned(),
            Tracked {
                backend_name: portal_backend,
                statements,
                trust,
                parameters,
            },
        );
        Ok(())
    }

    async fn on_execute<W: AsyncWrite + Unpin>(
        &mut self,
        body: &[u8],
        server: &mut W,
    ) -> Result<(), PgError> {
        if self.skipping_until_sync {
            return Ok(());
        }
        let (portal, max_rows) = wire::execute_message(body)?;
        let parameters = self
            .portals
            .get(portal)
            .and_then(|tracked| tracked.parameters.clone());
        let Some((backend_name, statements)) = self.lookup(Target::Portal, portal) else {
            // Not a portal gatehouse bound: the server cannot have it under this name either,
            // so it will answer "portal does not exist" and run nothing.
            let missing = self.missing_name();
            let mut message = BytesMut::new();
            wire::execute(&mut message, &missing, max_rows);
            self.send(Sent::Execute { statement: None }, &message);
            return Ok(());
        };
        let context = parameters
            .as_ref()
            .and_then(BoundParameters::context)
            .map(Box::new);
        let actions: Vec<Action> = statements
            .iter()
            .cloned()
            .map(|statement| {
                Action::of(SqlStatement {
                    context: context.clone(),
                    ..statement
                })
            })
            .collect();
        let Some(actions) = self
            .bind_held_to_session(actions, parameters.as_ref(), server)
            .await?
        else {
            // Gatehouse's own request failed and the client was told why; the server now
            // skips to Sync, and so does gatehouse.
            self.skipping_until_sync = true;
            return Ok(());
        };
        match self.decide(&actions).await {
            Ok(permit) => {
                let copy = statements.iter().any(copies_in);
                let capped = permit.row_caps().iter().any(Option::is_some);
                self.forward_permitted(permit, &statements, |this, mut forwarded| {
                    let statement = forwarded.pop_front();
                    if this.masking.is_some() {
                        let hint = statement
                            .as_ref()
                            .and_then(|s| s.hint.clone())
                            .unwrap_or_default();
                        let mut describe = BytesMut::new();
                        wire::target(
                            &mut describe,
                            frontend::DESCRIBE,
                            target_kind::PORTAL,
                            &backend_name,
                        );
                        this.send(
                            Sent::DescribePortal {
                                planning: Some(hint),
                                relay: DescribeRelay::Nothing,
                            },
                            &describe,
                        );
                    }
                    let mut message = BytesMut::new();
                    wire::execute(&mut message, &backend_name, max_rows);
                    this.send(Sent::Execute { statement }, &message);
                });
                if capped {
                    self.enforce_row_cap(server).await?;
                }
                if copy {
                    self.copy = Some(CopyWindow {
                        origin: self.entries_sent,
                        data_sent: false,
                    });
                }
            }
            Err(refusal) => {
                let marker = self.shared.new_marker(refusal);
                let mut message = BytesMut::new();
                wire::execute(&mut message, &marker, 0);
                self.send(Sent::Execute { statement: None }, &message);
                self.skipping_until_sync = true;
            }
        }
        Ok(())
    }

    fn on_describe_or_close(&mut self, tag: u8, body: &[u8]) -> Result<(), PgError> {
        if self.skipping_until_sync {
            return Ok(());
        }
        let what = if tag == frontend::DESCRIBE {
            "Describe"
        } else {
            "Close"
        };
        let (kind, name) = wire::target_message(body, what)?;
        let target = if kind == target_kind::STATEMENT {
            Target::Statement
        } else {
            Target::Portal
        };
        let backend_name = match self.lookup(target, name) {
            Some((backend_name, _)) => backend_name,
            None => self.missing_name(),
        };
        if tag == frontend::CLOSE {
            match target {
                Target::Statement => self.statements.remove(name),
                Target::Portal => self.portals.remove(name),
            };
        }
        let entry = match (tag, kind) {
            (frontend::DESCRIBE, target_kind::STATEMENT) => Sent::DescribeStatement,
            (frontend::DESCRIBE, _) => Sent::DescribePortal {
                planning: None,
                relay: DescribeRelay::All,
            },
            _ => Sent::Close { deallocate: None },
        };
        let mut message = BytesMut::new();
        wire::target(&mut message, tag, kind, &backend_name);
        self.send(entry, &message);
        Ok(())
    }

    /// After forwarding an Execute whose statement may change at most so many rows: wait for
    /// the server's count before anything else of the client reaches the server. Over the
    /// cap, the outbound side has already withheld the completion and prepared the refusal;
    /// a request certain to fail then makes the server abandon the batch, so its implicit
    /// transaction rolls back (inside a transaction block, the block fails and the client
    /// must roll it back), and the client gets the refusal in its place.
    async fn enforce_row_cap<W: AsyncWrite + Unpin>(
        &mut self,
        server: &mut W,
    ) -> Result<(), PgError> {
        let execute = self.entries_sent;
        self.send(Sent::Flush, &wire::raw_message(frontend::FLUSH, &[]));
        self.flush(server).await?;
        let mut progress = self.shared.progress();
        let waited = progress
            .wait_for(|p| p.retired >= execute || p.skipping)
            .await
            .map(|seen| seen.retired >= execute);
        if !matches!(waited, Ok(true)) {
            // Skipped by the server (an earlier error): it ran nothing.
            return Ok(());
        }
        if let Some(refusal) = self.shared.take_cap_refusal() {
            let marker = self.shared.new_marker(refusal);
            let mut message = BytesMut::new();
            wire::execute(&mut message, &marker, 0);
            self.send(Sent::Execute { statement: None }, &message);
            self.skipping_until_sync = true;
        }
        Ok(())
    }

    /// A simple Query holding a statement that may change at most so many rows: sent as
    /// extended messages (Parse, Bind, Describe, Execute of the unnamed statement and portal,
    /// whose acknowledgements the client does not get), so that the rows can be counted
    /// before the implicit transaction ends at Sync (see `enforce_row_cap`). The text is the
    /// client's, unchanged. Only a single statement can be sent so; a capped statement among
    /// others is refused.
    async fn forward_capped_query<W: AsyncWrite + Unpin>(
        &mut self,
        permit: Permit,
        statements: &[SqlStatement],
        text: &[u8],
        server: &mut W,
    ) -> Result<(), PgError> {
        if statements.len() != 1 || self.extended_since_sync {
            let refusal = wire::error_response(
                Severity::Error,
                "42501",
                "gatehouse: this statement may change only a limited number of rows (`@max_rows`), \
                 which gatehouse counts only for a statement sent on its own",
                None,
                Some("send the statement alone, in a message of its own"),
            );
            let marker = self.shared.new_marker(refusal);
            self.forward_permitted(permit, statements, |this, forwarded| {
                this.send(
                    Sent::Query {
                        statements: forwarded.into_iter().map(Some).collect(),
                    },
                    &wire::query(&format!("EXECUTE {marker}")),
                );
            });
            return Ok(());
        }
        self.forward_permitted(permit, statements, |this, mut forwarded| {
            let statement = forwarded.pop_front();
            let hint = statement.as_ref().and_then(|s| s.hint.clone());
            let mut message = BytesMut::new();
            wire::parse(&mut message, "", text, &[0, 0]);
            this.send(
                Sent::Hidden(Box::new(Sent::Parse { unnamed: None })),
                &message,
            );
            message.clear();
            wire::bind(&mut message, "", "", &[0, 0, 0, 0, 0, 0]);
            this.send(
                Sent::Hidden(Box::new(Sent::Bind { unnamed: None })),
                &message,
            );
            message.clear();
            wire::target(&mut message, frontend::DESCRIBE, target_kind::PORTAL, "");
            this.send(
                Sent::DescribePortal {
                    planning: hint,
                    relay: DescribeRelay::RowsOnly,
                },
                &message,
            );
            message.clear();
            wire::execute(&mut message, "", 0);
            this.send(Sent::Execute { statement }, &message);
        });
        self.enforce_row_cap(server).await?;
        self.skipping_until_sync = false;
        self.send_sync();
        Ok(())
    }

    /// A Query that is exactly SQL `DEALLOCATE name` of a statement the client prepared
    /// through the protocol: the server knows it under gatehouse's name, so the name the
    /// client gives would not be found. Answered with a protocol Close of the server's
    /// statement instead (the SQL text itself is never rewritten).
    fn protocol_deallocate(&self, text: &str, statements: &[SqlStatement]) -> Option<String> {
        let [statement] = statements else {
            return None;
        };
        if statement.kind != SqlKind::Session || self.extended_since_sync {
            return None;
        }
        let classified = self.gateway.classifier.classify(text);
        let [only] = classified.as_ref() else {
            return None;
        };
        let Some(PreparedOp::Deallocate { name: Some(name) }) = &only.prepared else {
            return None;
        };
        (self.statements.contains_key(name.as_str()) && !self.sql_prepared.contains(name))
            .then(|| name.clone())
    }

    /// Wait until the server has answered everything sent; whether it is then outside a
    /// failed transaction block (where PostgreSQL refuses DEALLOCATE but would accept a
    /// protocol Close, so the client's own statement must go through instead).
    async fn server_idle_outside_failed_transaction<W: AsyncWrite + Unpin>(
        &mut self,
        server: &mut W,
    ) -> Result<bool, PgError> {
        self.flush(server).await?;
        let sent = self.entries_sent;
        let mut progress = self.shared.progress();
        let idle = progress.wait_for(|p| p.retired >= sent).await;
        Ok(matches!(idle, Ok(seen) if seen.transaction_status != transaction_status::FAILED))
    }

    fn forward_deallocate(&mut self, permit: Permit, statements: &[SqlStatement], name: &str) {
        let Some(tracked) = self.statements.remove(name) else {
            return;
        };
        self.forward_permitted(permit, statements, |this, mut forwarded| {
            let mut close = BytesMut::new();
            wire::target(
                &mut close,
                frontend::CLOSE,
                target_kind::STATEMENT,
                &tracked.backend_name,
            );
            this.send(
                Sent::Close {
                    deallocate: forwarded.pop_front(),
                },
                &close,
            );
            this.send_sync();
        });
    }

    /// Forget protocol-level objects the server destroys with `DEALLOCATE ALL` (statements),
    /// `CLOSE ALL` (portals) or `DISCARD ALL` (both). Forgetting too much only makes a later
    /// use fail at the server.
    fn forget_destroyed(&mut self, classified: &[ClassifiedStatement]) {
        for statement in classified {
            match &statement.prepared {
                Some(PreparedOp::Deallocate { name: None }) => self.statements.clear(),
                Some(PreparedOp::DiscardAll) => {
                    self.statements.clear();
                    self.portals.clear();
                }
                Some(PreparedOp::CloseCursor { name: None }) => self.portals.clear(),
                _ => {}
            }
        }
    }

    /// The session's statements for classified SQL text: SQL-level `EXECUTE` of prepared
    /// statements resolved, writes raised to what the rewrite rules they fire do. In a masked
    /// session, a statement whose use of masked columns cannot be masked becomes unknown (see
    /// `column_lineage`). The text is classified once by the caller, which also needs the
    /// classification for what the statements destroy.
    fn classify(&mut self, classified: &[ClassifiedStatement]) -> Vec<SqlStatement> {
        let mut statements = self.resolve_prepared(classified);
        if let Some(rules) = self.gateway.rules.get(&self.context.connection.name) {
            for statement in &mut statements {
                rules.apply(statement);
            }
        }
        if let Some(masking) = &self.masking {
            for statement in &mut statements {
                crate::column_lineage::refuse_untraceable(&masking.masker, statement);
            }
        }
        statements
    }

    fn resolve_prepared(&mut self, classified: &[ClassifiedStatement]) -> Vec<SqlStatement> {
        if classified.iter().all(|c| c.prepared.is_none()) {
            return classified.iter().map(|c| c.statement.clone()).collect();
        }
        let mut resolved = self.sql_prepared.resolve(classified);
        for (statement, original) in resolved.iter_mut().zip(classified.iter()) {
            self.harden_prepared(statement, original);
            refuse_reserved_names(statement, original);
        }
        resolved
    }

    /// Keep `EXECUTE name` at least as strong as anything `name` was ever prepared as.
    fn harden_prepared(&mut self, statement: &mut SqlStatement, original: &ClassifiedStatement) {
        match &original.prepared {
            Some(PreparedOp::Prepare { name }) => {
                let strongest = self
                    .sql_prepared_strongest
                    .entry(name.clone())
                    .or_insert(statement.kind);
                if statement.kind.severity() > strongest.severity() {
                    *strongest = statement.kind;
                }
            }
            Some(PreparedOp::Execute { name }) => {
                if let Some(strongest) = self.sql_prepared_strongest.get(name)
                    && strongest.severity() > statement.kind.severity()
                {
                    statement.kind = *strongest;
                    statement.reason = Some(format!(
                        "executes prepared statement `{name}`, which has held a `{}` statement in this session",
                        strongest.action_name()
                    ));
                }
            }
            _ => {}
        }
    }

    /// The server-side name for a client's statement or portal name.
    fn backend_name(&mut self, client_name: &str, prefix: &str) -> (String, Trust) {
        if client_name.is_empty() {
            self.next_unnamed += 1;
            let trust = Trust::Unnamed {
                id: self.next_unnamed,
                syncs: self.syncs_sent,
            };
            return (String::new(), trust);
        }
        self.next_name += 1;
        (
            format!("gh_{}_{prefix}{}", self.name_nonce, self.next_name),
            Trust::Exact,
        )
    }

    /// A name no server object has, for references to objects gatehouse never saw created.
    fn missing_name(&mut self) -> String {
        self.next_name += 1;
        format!("gh_{}_missing{}", self.name_nonce, self.next_name)
    }

    /// What the server object a client names holds, and its name on the server: one created
    /// through the protocol (renamed), or else a prepared statement (`PREPARE`) or cursor
    /// (`DECLARE`) created by SQL under that very name, decided as what it was declared as.
    fn lookup(&self, target: Target, name: &str) -> Option<(String, Arc<[SqlStatement]>)> {
        let (map, confirmed) = match target {
            Target::Statement => (&self.statements, self.shared.confirmed_unnamed_statement()),
            Target::Portal => (&self.portals, self.shared.confirmed_unnamed_portal()),
        };
        let Some(tracked) = map.get(name) else {
            return self.sql_object(target, name);
        };
        let trusted = match tracked.trust {
            Trust::Exact => true,
            Trust::Unnamed { id, syncs } => syncs == self.syncs_sent || confirmed == id,
        };
        if trusted {
            return Some((tracked.backend_name.clone(), tracked.statements.clone()));
        }
        let unverified = unknown_statement(
            "<unnamed prepared statement>",
            "uses the unnamed statement or portal from before a Sync, and the server has not confirmed \
             creating it (an error can make the server skip it), so gatehouse cannot be sure what it holds; \
             send Parse and Bind again before the next Sync",
        );
        Some((tracked.backend_name.clone(), Arc::from(vec![unverified])))
    }

    /// A prepared statement or cursor created by SQL, as the protocol reaches it by name.
    fn sql_object(&self, target: Target, name: &str) -> Option<(String, Arc<[SqlStatement]>)> {
        if name.is_empty() || name.starts_with(RESERVED_PREFIX) {
            return None;
        }
        let declared = match target {
            Target::Statement => self.sql_prepared.prepared(name),
            Target::Portal => self.sql_prepared.cursor(name),
        }?;
        let mut statement = declared.clone();
        if let Target::Statement = target
            && let Some(strongest) = self.sql_prepared_strongest.get(name)
            && strongest.severity() > statement.kind.severity()
        {
            statement.kind = *strongest;
        }
        statement.reason = Some(match target {
            Target::Statement => format!("runs SQL prepared statement `{name}`"),
            Target::Portal => format!("fetches from cursor `{name}`"),
        });
        Some((name.to_owned(), Arc::from(vec![statement])))
    }

    /// The session's masker, when its results are masked.
    fn masker(&self) -> Option<&gatehouse_mask::Masker> {
        self.masking.as_ref().map(|masking| &masking.masker)
    }

    /// When policy would hold `actions` for approval, read from the server the session state
    /// their names resolve in (`search_path`, role, the relations they name) and add it to
    /// each statement's context, so that the approval binds to it: the same text under
    /// another `search_path`, or with a temporary table shadowing a relation, needs another
    /// approval. `None` when gatehouse's own request failed and the client got its error.
    async fn bind_held_to_session<W: AsyncWrite + Unpin>(
        &mut self,
        mut actions: Vec<Action>,
        parameters: Option<&BoundParameters>,
        server: &mut W,
    ) -> Result<Option<Vec<Action>>, PgError> {
        if !self
            .gateway
            .pipeline
            .would_hold(self.context, &actions)
            .await
        {
            return Ok(Some(actions));
        }
        for action in &mut actions {
            let Some(mut statement) = action.downcast_ref::<SqlStatement>().cloned() else {
                continue;
            };
            let Some(resolved) = self.read_session_state(&statement, server).await? else {
                if self.shared.progress().borrow().skipping {
                    return Ok(None);
                }
                // Without the state, the approval would bind to less than the statement
                // means: leave it without context and let the state be read next time.
                continue;
            };
            statement.context = Some(Box::new(statement_context::with_resolution(
                statement.context.as_deref(),
                parameters,
                resolved,
            )));
            *action = Action::of(statement);
        }
        Ok(Some(actions))
    }

    /// Ask the server, inside the client's session and transaction, for the state
    /// `statement`'s names resolve in. In an extended-protocol batch the request goes as
    /// extended messages under gatehouse's own names (a simple Query there would end the
    /// batch's implicit transaction); it waits for the answer, or gives up when the server
    /// turns out to be skipping to Sync (it will skip the statement too).
    async fn read_session_state<W: AsyncWrite + Unpin>(
        &mut self,
        statement: &SqlStatement,
        server: &mut W,
    ) -> Result<Option<Vec<(String, String)>>, PgError> {
        let progress = self.shared.progress();
        if progress.borrow().transaction_status == transaction_status::FAILED
            || progress.borrow().skipping
        {
            return Ok(None);
        }
        drop(progress);
        let (sql, relations) = statement_context::resolution_query(statement);
        self.shared.take_own_results();
        if self.extended_since_sync {
            let refusal = wire::error_response(
                Severity::Error,
                "58000",
                "gatehouse could not read the session state this statement's approval must be bound to",
                None,
                Some(
                    "send the statement again; if it keeps failing, run it in its own transaction",
                ),
            );
            self.next_name += 1;
            let statement_name = format!("gh_{}_state{}", self.name_nonce, self.next_name);
            let mut message = BytesMut::new();
            wire::parse(&mut message, &statement_name, sql.as_bytes(), &[0, 0]);
            self.send_own(
                Sent::Parse { unnamed: None },
                &message,
                Some(refusal.clone()),
            );
            message.clear();
            wire::bind(
                &mut message,
                &statement_name,
                &statement_name,
                &[0, 0, 0, 0, 0, 0],
            );
            self.send_own(
                Sent::Bind { unnamed: None },
                &message,
                Some(refusal.clone()),
            );
            message.clear();
            wire::execute(&mut message, &statement_name, 0);
            self.send_own(
                Sent::Execute { statement: None },
                &message,
                Some(refusal.clone()),
            );
            message.clear();
            wire::target(
                &mut message,
                frontend::CLOSE,
                target_kind::PORTAL,
                &statement_name,
            );
            self.send_own(
                Sent::Close { deallocate: None },
                &message,
                Some(refusal.clone()),
            );
            message.clear();
            wire::target(
                &mut message,
                frontend::CLOSE,
                target_kind::STATEMENT,
                &statement_name,
            );
            self.send_own(Sent::Close { deallocate: None }, &message, Some(refusal));
            self.send_own(Sent::Flush, &wire::raw_message(frontend::FLUSH, &[]), None);
        } else {
            self.send_own(
                Sent::Query {
                    statements: VecDeque::from([None]),
                },
                &wire::query(&sql),
                None,
            );
        }
        self.flush(server).await?;
        let mut progress = self.shared.progress();
        let mut row = None;
        let deadline = tokio::time::sleep(OWN_ANSWER_WAIT);
        tokio::pin!(deadline);
        loop {
            for result in self.shared.take_own_results() {
                match result {
                    OwnResult::Row(values) => row = Some(values),
                    OwnResult::Done => {
                        return Ok(
                            row.map(|row| statement_context::resolved_state(&relations, &row))
                        );
                    }
                    OwnResult::Failed => return Ok(None),
                }
            }
            if progress.borrow_and_update().skipping {
                return Ok(None);
            }
            tokio::select! {
                () = self.shared.own_ready() => {}
                changed = progress.changed() => {
                    if changed.is_err() {
                        return Ok(None);
                    }
                }
                () = &mut deadline => return Ok(None),
            }
        }
    }

    /// Send a request of gatehouse's own: its answers are not relayed to the client.
    fn send_own(&mut self, request: Sent, message: &[u8], on_error: Option<Bytes>) {
        self.send(
            Sent::Own {
                request: Box::new(request),
                on_error,
            },
            message,
        );
    }

    /// Run the pipeline; `Ok` carries the permit, `Err` the error message to show instead. A
    /// request held for approval waits here until it is decided.
    async fn decide(&mut self, actions: &[Action]) -> Result<Permit, Bytes> {
        // Cancels from before this request are not for it; one that arrives from here on is,
        // even before the wait begins (a client may cancel as soon as the approval is listed).
        self.interrupted.mark_unchanged();
        let scope = match self.gateway.pipeline.change_sync() {
            ChangeSync::AtCommit => change_scope(
                &self.shared.progress_now(),
                self.last_transaction_entry,
                actions,
            ),
            ChangeSync::EachStatement => ChangeScope::Immediate,
        };
        match self
            .gateway
            .pipeline
            .decide_in(self.context, actions, scope)
            .await
        {
            Ok(Decision::Hold(hold)) => self.wait_for_approval(actions, *hold).await,
            Ok(Decision::Deny(denial)) if unparsable(actions).is_some() => {
                metrics::counter!("gatehouse_pg_refusals_total").increment(1);
                Err(syntax_error(actions, &denial))
            }
            other => refusal_of(self.context, other),
        }
    }
}

/// The statement among `actions` that PostgreSQL's grammar cannot read, with the parser's
/// message.
fn unparsable(actions: &[Action]) -> Option<(&SqlStatement, &str)> {
    actions.iter().find_map(|action| {
        let statement = action.downcast_ref::<SqlStatement>()?;
        statement
            .reason
            .as_deref()
            .and_then(|reason| reason.strip_prefix(gatehouse_sql::UNPARSABLE))
            .map(|message| (statement, message))
    })
}

/// A refused statement that does not parse gets what the server would have said:
/// `syntax_error` with the position of the failing token (drivers and psql point at it).
fn syntax_error(actions: &[Action], denial: &gatehouse_pipeline::Denial) -> Bytes {
    let Some((statement, message)) = unparsable(actions) else {
        return Bytes::new();
    };
    let detail = format!(
        "gatehouse reads statements with PostgreSQL's grammar and could not read this one, so it was not run\n{}",
        denial.client_detail()
    );
    wire::syntax_error(
        message,
        gatehouse_sql::syntax_error_position(&statement.text),
        &detail,
    )
}

/// The error the server gives for client text that is not valid in its encoding.
fn encoding_refusal(error: &gatehouse_sql::EncodingError) -> Bytes {
    use gatehouse_sql::EncodingError;
    let sqlstate = match error {
        EncodingError::InvalidByteSequence { .. } | EncodingError::InvalidByteValue { .. } => {
            "22021"
        }
        EncodingError::NoEquivalent { .. } => "22P05",
        EncodingError::Unsupported { .. } | EncodingError::NotServerEncoding { .. } => "0A000",
    };
    wire::error_response(
        Severity::Error,
        sqlstate,
        &error.to_string(),
        None,
        Some("send text in the session's client_encoding (SHOW client_encoding)"),
    )
}

/// The permit of an allowed request, or the error a refused one gets.
pub(super) fn refusal_of(
    context: &SessionContext,
    decided: Result<Decision, PipelineError>,
) -> Result<Permit, Bytes> {
    match decided {
        Ok(Decision::Allow(permit)) => Ok(permit),
        Ok(Decision::Hold(hold)) => Err(wire::error_response(
            Severity::Error,
            "42501",
            &format!("gatehouse: {}", hold.message),
            None,
            Some("run the statement again once it is approved"),
        )),
        Ok(Decision::Deny(denial)) => {
            metrics::counter!("gatehouse_pg_refusals_total").increment(1);
            let detail = denial.client_detail();
            Err(wire::error_response(
                Severity::Error,
                "42501",
                &format!("gatehouse: permission denied: {}", denial.message),
                Some(&detail),
                Some(
                    "`gatehouse policy check` explains decisions; ask an administrator if you need this access",
                ),
            ))
        }
        Err(error) => {
            tracing::error!(session = %context.session_id, %error, "request refused: audit unavailable");
            Err(wire::error_response(
                Severity::Error,
                "58000",
                &format!("gatehouse: {error}"),
                None,
                Some("retry when the gateway's audit store is healthy again"),
            ))
        }
    }
}

/// Make SQL that prepares, executes or deallocates a statement under a gatehouse name
/// unknown: `PREPARE gh_s1 AS DELETE ...` would otherwise run later as whatever the client's
/// next `Parse` was decided to be.
fn refuse_reserved_names(statement: &mut SqlStatement, original: &ClassifiedStatement) {
    let name = match &original.prepared {
        Some(
            PreparedOp::Prepare { name }
            | PreparedOp::Execute { name }
            | PreparedOp::DeclareCursor { name }
            | PreparedOp::UsesCursor { name },
        ) => Some(name),
        Some(PreparedOp::Deallocate { name } | PreparedOp::CloseCursor { name }) => name.as_ref(),
        Some(PreparedOp::DiscardAll) | None => None,
    };
    if name.is_some_and(|name| name.starts_with(RESERVED_PREFIX)) {
        *statement = unknown_statement(
            &statement.text,
            "names a prepared statement or cursor `gh_...`: gatehouse reserves these names for its own server-side objects",
        );
    }
}

/// The id of an unnamed object, for the server model to confirm.
fn unnamed_id(trust: Trust) -> Option<u64> {
    match trust {
        Trust::Unnamed { id, .. } => Some(id),
        Trust::Exact => None,
    }
}

/// Whether the server may ask for data when it runs `statement` (`COPY ... FROM STDIN`).
/// A false positive only holds the client's next messages until the server answers; a
/// miss makes the server model end the session when the server asks for data.
fn copies_in(statement: &SqlStatement) -> bool {
    let mut words = statement
        .text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|word| !word.is_empty());
    let is_copy = words
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case("copy"));
    let mut from = false;
    is_copy
        && words.any(|word| {
            if word.eq_ignore_ascii_case("from") {
                from = true;
            }
            from && word.eq_ignore_ascii_case("stdin")
        })
}

#[derive(Clone, Copy)]
enum Target {
    Statement,
    Portal,
}

/// What masking needs to know about `statement` before its response arrives.
fn hint_for(statement: &SqlStatement) -> StatementHint {
    let text = statement.text.trim_start();
    let is_copy = text
        .get(..4)
        .is_some_and(|word| word.eq_ignore_ascii_case("copy"));
    StatementHint {
        tables: statement.reads.clone(),
        lineage: statement.lineage.clone(),
        copy_csv: is_copy
            && text
                .to_ascii_lowercase()
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .any(|word| word == "csv"),
    }
}

fn unknown_statement(text: &str, reason: &str) -> SqlStatement {
    SqlStatement {
        text: text.to_owned(),
        kind: SqlKind::Unknown,
        reads: Vec::new(),
        writes: Vec::new(),
        functions: Vec::new(),
        fingerprint: String::new(),
        reason: Some(reason.to_owned()),
        all_rows: false,
        context: None,
        lineage: None,
    }
}
