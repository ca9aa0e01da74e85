//! Client → server: decode every message that could run SQL, decide it, and forward only what
//! was allowed (and recorded). The decision points are `Query`, `Execute` and `FunctionCall`;
//! `Parse` and `Bind` are classified and tracked so that `Execute` knows exactly what it runs.
//!
//! INVARIANT: what the server executes for a portal is exactly what gatehouse classified for
//! it. Named statements and portals are renamed to names used once and unguessable
//! (`gh_<session nonce>_s7`), so a
//! server object either holds the text gatehouse saw or does not exist. The unnamed ones
//! cannot be renamed (drivers rely on them being replaced, not accumulated), so one created in
//! an earlier Sync unit is trusted only once the server has finished that unit without any
//! error — an error can make the server skip the `Parse` that gatehouse believed in.

use super::results::{Expected, StatementHint};
use super::{Ending, Shared};
use crate::wire::{self, FrameReader, Severity};
use crate::{PgError, PgGateway};
use bytes::{Bytes, BytesMut};
use gatehouse_core::{Action, SqlKind, SqlStatement};
use gatehouse_pipeline::{Decision, Permit, PipelineError, SessionContext};
use gatehouse_sql::{ClassifiedStatement, PreparedOp, PreparedStatements};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

const FLUSH_AT: usize = 64 * 1024;

/// Prefix of the names gatehouse gives server-side objects (renamed statements and portals,
/// missing names, refusal markers). SQL-level `PREPARE` shares the server's namespace with
/// protocol-level statements, so SQL may not name these objects.
const RESERVED_PREFIX: &str = "gh_";

/// How far gatehouse may trust its record of what a server-side object holds.
#[derive(Debug, Clone, Copy)]
enum Trust {
    /// Created under a name used only once: exact.
    Exact,
    /// The unnamed statement or portal, created in Sync unit `unit`; the server had reported
    /// `errors_before` errors when that unit's first message arrived, so any error of the
    /// unit counts (even one the client waited for before sending the `Parse`).
    Unnamed { unit: u64, errors_before: u64 },
}

#[derive(Debug, Clone)]
struct Tracked {
    backend_name: String,
    statements: Arc<[SqlStatement]>,
    trust: Trust,
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
    /// Sync units (Sync, Query, FunctionCall) sent to the server so far.
    units_sent: u64,
    /// Server errors relayed when the current Sync unit's first message arrived (`None`
    /// until it has): no message of the unit had reached the server yet.
    errors_at_unit_start: Option<u64>,
    /// After a refused Execute the server skips everything until Sync; so do we.
    skipping_until_sync: bool,
    /// Random per session, part of every generated server-side name, so that SQL-level
    /// `EXECUTE`/`DEALLOCATE`/`PREPARE` (which share the namespace) cannot guess them.
    name_nonce: String,
    next_name: u64,
    /// The session's results are masked: every `Execute` is preceded by a `Describe` of its
    /// portal so that the outbound side knows the columns and formats of the rows.
    masked: bool,
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
        masked: bool,
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
            units_sent: 0,
            errors_at_unit_start: None,
            skipping_until_sync: false,
            name_nonce: {
                let mut nonce = [0u8; 6];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
                hex::encode(nonce)
            },
            next_name: 0,
            masked,
            interrupted,
        }
    }

    pub async fn run<W: AsyncWrite + Unpin>(&mut self, server: &mut W) -> Result<Ending, PgError> {
        loop {
            let Some(frame) = self.client.next().await? else {
                self.flush(server).await?;
                return Ok(Ending::ClientClosed);
            };
            if self.errors_at_unit_start.is_none() {
                self.errors_at_unit_start = Some(self.shared.error_count());
            }
            let body = frame.body();
            match frame.tag {
                b'Q' => self.on_query(wire::query_message(body)?).await,
                b'P' => self.on_parse(body)?,
                b'B' => self.on_bind(body)?,
                b'E' => self.on_execute(body).await?,
                b'D' | b'C' => self.on_describe_or_close(frame.tag, body)?,
                b'S' => {
                    self.skipping_until_sync = false;
                    self.end_unit();
                    self.out.extend_from_slice(&frame.raw);
                }
                b'H' if !self.skipping_until_sync => self.out.extend_from_slice(&frame.raw),
                b'H' => {}
                b'd' | b'c' | b'f' => self.out.extend_from_slice(&frame.raw),
                b'F' => self.on_function_call(&frame.raw).await,
                b'X' => {
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
        }
        Ok(())
    }

    /// Append a decided request. Requires the [`Permit`] that only an allowed, recorded
    /// decision yields.
    /// Queues one expected completion per decided statement (by its audit `seq`), so the
    /// statement's outcome can be recorded against its event.
    fn forward_permitted(&mut self, permit: Permit, message: &[u8], statements: &[SqlStatement]) {
        let sent_at = Instant::now();
        let seqs = permit.audit_seqs();
        if seqs.is_empty() {
            self.shared.results.push(Expected::Untracked);
        }
        for (seq, statement) in seqs.zip(statements) {
            let hint = self.masked.then(|| Box::new(hint_for(statement)));
            self.shared
                .results
                .push(Expected::Statement { seq, sent_at, hint });
        }
        self.out.extend_from_slice(message);
    }

    /// Send a refusal marker: a request certain to fail at this point, whose error the
    /// outbound side swaps for `refusal`.
    fn send_marker_query(&mut self, refusal: Bytes) {
        let marker = self.shared.new_marker(refusal);
        self.shared.results.push(Expected::Untracked);
        self.out
            .extend_from_slice(&wire::query(&format!("EXECUTE {marker}")));
    }

    async fn on_query(&mut self, text: &str) {
        if self.skipping_until_sync {
            return;
        }
        let statements = self.classify(text);
        let actions: Vec<Action> = statements.iter().cloned().map(Action::Sql).collect();
        match self.decide(&actions).await {
            Ok(permit) => self.forward_permitted(permit, &wire::query(text), &statements),
            Err(refusal) => self.send_marker_query(refusal),
        }
        self.end_unit();
        // A simple Query destroys the unnamed statement and portal.
        self.statements.remove("");
        self.portals.remove("");
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
        match self.decide(&[Action::Sql(statement)]).await {
            Ok(permit) => self.forward_permitted(permit, raw, &statements),
            Err(refusal) => self.send_marker_query(refusal),
        }
        self.end_unit();
    }

    fn end_unit(&mut self) {
        self.shared.results.push(Expected::Boundary);
        self.units_sent += 1;
        self.errors_at_unit_start = None;
    }

    fn on_parse(&mut self, body: &[u8]) -> Result<(), PgError> {
        if self.skipping_until_sync {
            return Ok(());
        }
        let parse = wire::parse_message(body)?;
        let statements: Arc<[SqlStatement]> = self.classify(parse.query).into();
        let (backend_name, trust) = self.backend_name(parse.statement, "s");
        wire::parse(
            &mut self.out,
            &backend_name,
            parse.query,
            parse.parameter_types,
        );
        self.statements.insert(
            parse.statement.to_owned(),
            Tracked {
                backend_name,
                statements,
                trust,
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
        wire::bind(
            &mut self.out,
            &portal_backend,
            &statement_backend,
            bind.rest,
        );
        self.portals.insert(
            bind.portal.to_owned(),
            Tracked {
                backend_name: portal_backend,
                statements,
                trust,
            },
        );
        Ok(())
    }

    async fn on_execute(&mut self, body: &[u8]) -> Result<(), PgError> {
        if self.skipping_until_sync {
            return Ok(());
        }
        let (portal, max_rows) = wire::execute_message(body)?;
        let Some((backend_name, statements)) = self.lookup(Target::Portal, portal) else {
            // Not a portal gatehouse bound: the server cannot have it under this name either,
            // so it will answer "portal does not exist" and run nothing.
            let missing = self.missing_name();
            self.shared.results.push(Expected::Untracked);
            wire::execute(&mut self.out, &missing, max_rows);
            return Ok(());
        };
        let actions: Vec<Action> = statements.iter().cloned().map(Action::Sql).collect();
        match self.decide(&actions).await {
            Ok(permit) => {
                let mut message = BytesMut::new();
                if self.masked {
                    wire::target(&mut message, b'D', b'P', &backend_name);
                    self.shared.results.push(Expected::InjectedDescribe);
                }
                wire::execute(&mut message, &backend_name, max_rows);
                self.forward_permitted(permit, &message, &statements);
            }
            Err(refusal) => {
                let marker = self.shared.new_marker(refusal);
                self.shared.results.push(Expected::Untracked);
                wire::execute(&mut self.out, &marker, 0);
                self.skipping_until_sync = true;
            }
        }
        Ok(())
    }

    fn on_describe_or_close(&mut self, tag: u8, body: &[u8]) -> Result<(), PgError> {
        if self.skipping_until_sync {
            return Ok(());
        }
        let what = if tag == b'D' { "Describe" } else { "Close" };
        let (kind, name) = wire::target_message(body, what)?;
        let map = if kind == b'S' {
            &mut self.statements
        } else {
            &mut self.portals
        };
        let known = if tag == b'C' {
            map.remove(name)
        } else {
            map.get(name).cloned()
        };
        let backend_name = match known {
            Some(tracked) => tracked.backend_name,
            None => self.missing_name(),
        };
        if tag == b'D' && self.masked {
            self.shared.results.push(Expected::ClientDescribe);
        }
        wire::target(&mut self.out, tag, kind, &backend_name);
        Ok(())
    }

    /// Classify SQL text into statements, resolving SQL-level `EXECUTE` of prepared statements.
    fn classify(&mut self, text: &str) -> Vec<SqlStatement> {
        let classified = self.gateway.classifier.classify(text);
        if classified.iter().all(|c| c.prepared.is_none()) {
            return classified.iter().map(|c| c.statement.clone()).collect();
        }
        let mut resolved = self.sql_prepared.resolve(&classified);
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
            let trust = Trust::Unnamed {
                unit: self.units_sent,
                errors_before: self
                    .errors_at_unit_start
                    .unwrap_or_else(|| self.shared.error_count()),
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

    fn lookup(&self, target: Target, name: &str) -> Option<(String, Arc<[SqlStatement]>)> {
        let map = match target {
            Target::Statement => &self.statements,
            Target::Portal => &self.portals,
        };
        let tracked = map.get(name)?;
        let trusted = match tracked.trust {
            Trust::Exact => true,
            Trust::Unnamed {
                unit,
                errors_before,
            } => {
                unit == self.units_sent
                    || (self.shared.ready_count() > unit
                        && self.shared.error_count() == errors_before)
            }
        };
        if trusted {
            return Some((tracked.backend_name.clone(), tracked.statements.clone()));
        }
        let unverified = unknown_statement(
            "<unnamed prepared statement>",
            "uses the unnamed statement or portal from an earlier Sync after the server reported an error, \
             so gatehouse cannot be sure what it holds; send Parse and Bind again in the same Sync",
        );
        Some((tracked.backend_name.clone(), Arc::from(vec![unverified])))
    }

    /// Run the pipeline; `Ok` carries the permit, `Err` the error message to show instead. A
    /// request held for approval waits here until it is decided.
    async fn decide(&mut self, actions: &[Action]) -> Result<Permit, Bytes> {
        match self.gateway.pipeline.decide(self.context, actions).await {
            Ok(Decision::Hold(hold)) => self.wait_for_approval(actions, *hold).await,
            other => refusal_of(self.context, other),
        }
    }
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
            let detail = format!(
                "action: {}; policy: {}",
                denial.action,
                denial.policy_label()
            );
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
    }
}
