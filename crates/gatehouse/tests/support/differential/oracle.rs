//! The oracle: what the server really did in a case's session (its own csvlog, which the
//! gateway does not write) against what gatehouse recorded and allowed (its audit log).
//!
//! Server side, per backend process: `statement: …` (simple Query; a multi-statement string
//! once), `execute <stmt>[/<portal>]: …` and `execute fetch from …` (extended protocol),
//! `fastpath function call: …`, and auto_explain's `duration: … plan:` with the plan of every
//! statement the executor ran, nested ones (inside functions) included, with actual row counts
//! (so a plan that only was EXPLAINed is not taken for one that ran).
//!
//! Rules:
//! - every statement the server logged (split into its statements with PostgreSQL's grammar)
//!   matches, in order, an allowed `statement` event of the session with the same text — apart
//!   from gatehouse's own refusal markers (`EXECUTE gh_refused_<32 hex>`);
//! - no statement the audit log denied ran (the same rule, reported more precisely);
//! - a plan that modified a table ran only if the session was allowed some write;
//! - the server's statement logging was not changed by the session (`SET`/`RESET` of
//!   `log_*`, `auto_explain.*`, `lc_messages`, `debug_*`), and the harness's own start and end
//!   markers were logged;
//! - what the harness compares outside the session (rows, sequence, relations, functions,
//!   roles, grants, settings) did not change.

use serde_json::Value;

/// One csvlog record, the fields the oracle reads.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub pid: u32,
    pub message: String,
}

/// Split csvlog text into records; returns the records and how many bytes they used (a
/// trailing partial record is left for the next read).
pub fn parse_csvlog(bytes: &[u8]) -> (Vec<LogRecord>, usize) {
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = Vec::new();
    let mut quoted = false;
    let mut used = 0;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if quoted {
            if byte == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    field.push(b'"');
                    i += 1;
                } else {
                    quoted = false;
                }
            } else {
                field.push(byte);
            }
        } else {
            match byte {
                b'"' => quoted = true,
                b',' => fields.push(String::from_utf8_lossy(&std::mem::take(&mut field)).into()),
                b'\n' => {
                    fields.push(String::from_utf8_lossy(&std::mem::take(&mut field)).into());
                    let row = std::mem::take(&mut fields);
                    // log_time, user, database, process_id, connection_from, session_id,
                    // line, command_tag, session_start, vxid, xid, severity, sqlstate, message…
                    if row.len() > 13 {
                        records.push(LogRecord {
                            pid: row[3].parse().unwrap_or(0),
                            message: row[13].clone(),
                        });
                    }
                    used = i + 1;
                }
                _ => field.push(byte),
            }
        }
        i += 1;
    }
    (records, used)
}

/// What a server log record says the backend did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// A simple Query's whole string.
    Simple(String),
    /// An Execute's statement text.
    Extended(String),
    /// A fast-path function call (the function's name).
    FastPath(String),
    /// A plan auto_explain logged: the statement text and the tables it modified (actually run).
    Plan {
        query: String,
        modified: Vec<String>,
    },
    Disconnected,
    Other,
}

pub fn classify_record(message: &str) -> Logged {
    if let Some(text) = message.strip_prefix("statement: ") {
        return Logged::Simple(text.to_owned());
    }
    let execute = message
        .strip_prefix("execute fetch from ")
        .or_else(|| message.strip_prefix("execute "));
    if let Some(rest) = execute
        && let Some((_names, text)) = rest.split_once(": ")
    {
        return Logged::Extended(text.to_owned());
    }
    if let Some(name) = message.strip_prefix("fastpath function call: ") {
        return Logged::FastPath(name.to_owned());
    }
    if message.starts_with("disconnection: ") {
        return Logged::Disconnected;
    }
    if message.starts_with("duration: ")
        && let Some((_, plan)) = message.split_once("plan:\n")
    {
        let mut query = String::new();
        let mut modified = Vec::new();
        for line in plan.lines() {
            if let Some(text) = line.strip_prefix("Query Text: ") {
                query = text.to_owned();
                continue;
            }
            let node = line.trim_start().trim_start_matches("->").trim_start();
            for operation in ["Insert on ", "Update on ", "Delete on ", "Merge on "] {
                if let Some(rest) = node.strip_prefix(operation)
                    && line.contains("actual")
                    && !line.contains("never executed")
                {
                    let table = rest.split_whitespace().next().unwrap_or_default();
                    modified.push(format!("{operation}{table}"));
                }
            }
        }
        return Logged::Plan { query, modified };
    }
    Logged::Other
}

/// The statements of a SQL string as PostgreSQL's grammar cuts them (trimmed, as gatehouse
/// records them); the whole string, trimmed, when it does not parse.
pub fn split_statements(sql: &str) -> Vec<String> {
    let Ok(parsed) = pg_query::parse(sql, 0) else {
        return vec![sql.trim().to_owned()];
    };
    parsed
        .protobuf
        .stmts
        .iter()
        .map(|raw| {
            let start = usize::try_from(raw.stmt_location).unwrap_or(0);
            let end = match usize::try_from(raw.stmt_len) {
                Ok(0) | Err(_) => sql.len(),
                Ok(len) => (start + len).min(sql.len()),
            };
            sql.get(start..end).unwrap_or(sql).trim().to_owned()
        })
        .collect()
}

/// Settings that decide what the oracle sees; a session that changes any of them has
/// blinded it, whatever it set them to.
fn is_oracle_setting(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("log_")
        || name.starts_with("auto_explain.")
        || name.starts_with("debug_")
        || name == "lc_messages"
}

/// The oracle settings a statement text sets or resets, with `SET`/`RESET` or
/// `set_config()` (by PostgreSQL's grammar, so quoting and Unicode escapes in the name do not
/// hide it; a `set_config` whose name is not a constant counts as changing one).
pub fn oracle_settings_changed(sql: &str) -> Vec<String> {
    use pg_query::NodeEnum;
    let Ok(parsed) = pg_query::parse(sql, 0) else {
        return Vec::new();
    };
    parsed
        .protobuf
        .nodes()
        .into_iter()
        .filter_map(|(node, _, _, _)| match node {
            pg_query::NodeRef::VariableSetStmt(set) => {
                is_oracle_setting(&set.name).then(|| set.name.clone())
            }
            pg_query::NodeRef::FuncCall(call) => {
                let name = call.funcname.last().and_then(|n| match &n.node {
                    Some(NodeEnum::String(name)) => Some(name.sval.to_ascii_lowercase()),
                    _ => None,
                });
                if name.as_deref() != Some("set_config") {
                    return None;
                }
                let setting = call.args.first().and_then(|arg| match &arg.node {
                    Some(NodeEnum::AConst(constant)) => match &constant.val {
                        Some(pg_query::protobuf::a_const::Val::Sval(text)) => {
                            Some(text.sval.clone())
                        }
                        _ => None,
                    },
                    _ => None,
                });
                match setting {
                    Some(setting) => is_oracle_setting(&setting).then_some(setting),
                    None => Some("set_config".to_owned()),
                }
            }
            _ => None,
        })
        .collect()
}

/// A statement event of the session, from the audit log.
#[derive(Debug, Clone)]
pub struct Audited {
    pub text: String,
    pub action: String,
    pub allowed: bool,
    /// What gatehouse recorded as its outcome: run (`Some(true)`), not run because an earlier
    /// message of its request failed (`Some(false)`), or no outcome event.
    pub ran: Option<bool>,
}

impl Audited {
    /// A `statement` event, with its `outcome` event if there is one.
    pub fn from_event(event: &Value, outcome: Option<&Value>) -> Audited {
        Audited {
            text: event["statement"].as_str().unwrap_or_default().to_owned(),
            action: event["action"].as_str().unwrap_or_default().to_owned(),
            allowed: event["decision"] == "allow",
            ran: outcome.map(|outcome| {
                !outcome["outcome"]["error"]
                    .as_str()
                    .is_some_and(|error| error.starts_with("not run"))
            }),
        }
    }

    fn is_write(&self) -> bool {
        self.allowed && !matches!(self.action.as_str(), "sql:select" | "sql:session")
    }
}

/// How a statement reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Simple,
    Extended,
    FastPath,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Simple => "simple",
            Via::Extended => "extended",
            Via::FastPath => "fastpath",
        }
    }
}

/// One thing the oracle found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The server ran a statement the audit log has no allowed event for (at that point).
    Unaudited { via: Via, text: String },
    /// The server ran a statement the audit log recorded as denied.
    DeniedRan { via: Via, text: String },
    /// A table was modified although the session was allowed no write. `top_level` is the
    /// statement the plan belongs to when the server logged it as sent by the client (false:
    /// nested, inside a function).
    WriteRan {
        operation: String,
        query: String,
        top_level: bool,
    },
    /// The session changed a setting the oracle depends on.
    OracleSetting { name: String, text: String },
    /// A harness marker was answered but not logged: the server's logging was off.
    LogBlinded { marker: String },
    /// State outside the session changed: `before` → `after` lines that differ.
    StateChanged { changes: Vec<String> },
    /// The session, still open, never answered the end marker (a hang, or responses lost).
    Stuck { detail: String },
    /// The connection closed before the end marker was answered: the gateway or the server
    /// ended a session the client never ended (the last messages the client read say why).
    SessionLost,
    /// The server backend did not end after the session did.
    BackendLingered,
    /// The gateway process died or a task panicked.
    GatewayFailed { detail: String },
    /// `gatehouse audit verify` failed.
    ChainBroken { detail: String },
}

impl Violation {
    /// What kind of finding this is, for deduplication: the first violation's signature is
    /// the case's, and minimization keeps it.
    pub fn signature(&self) -> String {
        match self {
            // Not by protocol: which of two equally good alignments leaves out the extended
            // or the simple statement can depend on text that happens to recur.
            Violation::Unaudited { .. } => "unaudited".to_owned(),
            Violation::DeniedRan { .. } => "denied-ran".to_owned(),
            Violation::WriteRan {
                top_level: true, ..
            } => "write-top-level".to_owned(),
            Violation::WriteRan {
                top_level: false, ..
            } => "write-nested".to_owned(),
            Violation::OracleSetting { name, .. } => format!("oracle-setting-{name}"),
            Violation::LogBlinded { .. } => "log-blinded".to_owned(),
            Violation::StateChanged { .. } => "state-changed".to_owned(),
            Violation::Stuck { .. } => "stuck".to_owned(),
            Violation::SessionLost => "session-lost".to_owned(),
            Violation::BackendLingered => "backend-lingered".to_owned(),
            Violation::GatewayFailed { .. } => "gateway-failed".to_owned(),
            Violation::ChainBroken { .. } => "chain-broken".to_owned(),
        }
    }

    /// Sort order: the most specific explanation first.
    fn rank(&self) -> u8 {
        match self {
            Violation::GatewayFailed { .. } => 0,
            Violation::ChainBroken { .. } => 1,
            Violation::DeniedRan { .. } => 2,
            Violation::Unaudited { .. } => 3,
            Violation::WriteRan { .. } => 4,
            Violation::OracleSetting { .. } => 5,
            Violation::LogBlinded { .. } => 6,
            Violation::Stuck { .. } => 7,
            Violation::SessionLost => 7,
            Violation::BackendLingered => 8,
            Violation::StateChanged { .. } => 9,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Violation::Unaudited { via, text } => format!(
                "the server ran `{text}` ({} protocol) but the audit log has no allowed statement event with that text at that point",
                via.name()
            ),
            Violation::DeniedRan { via, text } => format!(
                "the server ran `{text}` ({} protocol), which the audit log recorded as denied",
                via.name()
            ),
            Violation::WriteRan {
                operation,
                query,
                top_level,
            } => format!(
                "{operation} ran ({}: `{query}`) although the session was allowed no write",
                if *top_level {
                    "the statement the server was sent"
                } else {
                    "nested, inside a function"
                }
            ),
            Violation::OracleSetting { name, text } => format!(
                "the session changed `{name}` (`{text}`), which decides what the server logs"
            ),
            Violation::LogBlinded { marker } => format!(
                "the harness's marker `{marker}` was answered but not in the server's log: statement logging was off"
            ),
            Violation::StateChanged { changes } => {
                format!("state changed outside the session: {}", changes.join("; "))
            }
            Violation::Stuck { detail } => format!("the session stopped answering: {detail}"),
            Violation::SessionLost => {
                "the session was closed before it answered the end marker".to_owned()
            }
            Violation::BackendLingered => {
                "the server backend did not end after the client's session did".to_owned()
            }
            Violation::GatewayFailed { detail } => format!("the gateway failed: {detail}"),
            Violation::ChainBroken { detail } => {
                format!("the audit chain does not verify: {detail}")
            }
        }
    }
}

/// Gatehouse's own refusal marker for a refused Query: not the client's statement.
fn is_refusal_marker(text: &str) -> bool {
    text.strip_prefix("EXECUTE gh_refused_")
        .is_some_and(|token| token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the oracle is given about one case.
pub struct Evidence<'a> {
    /// The case backend's server log, in order.
    pub logged: &'a [Logged],
    /// The session's statement events, in seq order.
    pub audited: &'a [Audited],
    /// Marker texts the session answered, which therefore must be in the log.
    pub answered_markers: &'a [String],
    /// `name: value` lines of the state before and after.
    pub before: &'a str,
    pub after: &'a str,
}

/// One statement the server was sent, in log order.
struct Piece {
    via: Via,
    text: String,
}

/// Which pieces no allowed audit event accounts for. The pieces and the allowed events are
/// aligned in order (a longest common subsequence, as the server runs statements in the
/// order gatehouse decided them); where two alignments match as many pieces, the one that
/// uses fewer events gatehouse itself recorded as not run wins.
fn unaccounted(pieces: &[Piece], audited: &[Audited]) -> Vec<usize> {
    const MATCH: i64 = 1000;
    let (n, m) = (pieces.len(), audited.len());
    let matches = |i: usize, j: usize| audited[j].allowed && audited[j].text == pieces[i].text;
    let gain = |j: usize| MATCH - i64::from(audited[j].ran == Some(false));
    // best[i][j]: the best score aligning pieces[i..] with audited[j..].
    let mut best = vec![vec![0i64; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let mut score = best[i + 1][j].max(best[i][j + 1]);
            if matches(i, j) {
                score = score.max(gain(j) + best[i + 1][j + 1]);
            }
            best[i][j] = score;
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut missing = Vec::new();
    while i < n {
        if j < m && matches(i, j) && best[i][j] == gain(j) + best[i + 1][j + 1] {
            i += 1;
            j += 1;
        } else if j < m && best[i][j] == best[i][j + 1] {
            j += 1;
        } else {
            missing.push(i);
            i += 1;
        }
    }
    missing
}

/// Judge a case; the violations come sorted, most specific first.
pub fn judge(evidence: &Evidence<'_>) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut pieces = Vec::new();
    let mut sent = Vec::new();
    for entry in evidence.logged {
        let (via, texts) = match entry {
            Logged::Simple(text) if is_refusal_marker(text.trim()) => continue,
            Logged::Simple(text) => (Via::Simple, split_statements(text)),
            Logged::Extended(text) => (Via::Extended, split_statements(text)),
            Logged::FastPath(_) => (Via::FastPath, vec!["<fast-path function call>".to_owned()]),
            _ => continue,
        };
        if let Logged::Simple(text) | Logged::Extended(text) = entry {
            sent.push(text.trim().to_owned());
        }
        for text in texts {
            for name in oracle_settings_changed(&text) {
                violations.push(Violation::OracleSetting {
                    name,
                    text: text.clone(),
                });
            }
            pieces.push(Piece { via, text });
        }
    }
    for index in unaccounted(&pieces, evidence.audited) {
        let Piece { via, text } = &pieces[index];
        let denied = evidence
            .audited
            .iter()
            .any(|a| !a.allowed && a.text == *text);
        violations.push(if denied {
            Violation::DeniedRan {
                via: *via,
                text: text.clone(),
            }
        } else {
            Violation::Unaudited {
                via: *via,
                text: text.clone(),
            }
        });
    }

    let may_write = evidence.audited.iter().any(Audited::is_write);
    for entry in evidence.logged {
        if let Logged::Plan { query, modified } = entry
            && !may_write
        {
            for operation in modified {
                violations.push(Violation::WriteRan {
                    operation: operation.clone(),
                    query: query.clone(),
                    top_level: sent.iter().any(|text| text == query.trim()),
                });
            }
        }
    }

    for marker in evidence.answered_markers {
        let logged = evidence.logged.iter().any(|entry| match entry {
            Logged::Simple(text) => text.contains(marker.as_str()),
            _ => false,
        });
        if !logged {
            violations.push(Violation::LogBlinded {
                marker: marker.clone(),
            });
        }
    }

    let changes: Vec<String> = evidence
        .before
        .lines()
        .zip(evidence.after.lines())
        .filter(|(before, after)| before != after)
        .map(|(before, after)| format!("{before} → {after}"))
        .collect();
    if !changes.is_empty() {
        violations.push(Violation::StateChanged { changes });
    }
    sort(&mut violations);
    violations
}

/// Order violations most specific first: the first one names the case's kind of finding.
pub fn sort(violations: &mut [Violation]) {
    violations.sort_by_key(Violation::rank);
}
