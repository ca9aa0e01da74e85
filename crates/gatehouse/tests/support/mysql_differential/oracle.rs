//! The oracle of the MySQL differential fuzzer: MariaDB's general query log (to the table
//! `mysql.general_log`) against gatehouse's audit log. MariaDB logs each COM_QUERY message once,
//! whole, as it arrives (a multi-statement message is one row, and so is a message the parser
//! then refuses), a SQL `PREPARE` also as a `Prepare` row with the prepared text and an
//! `EXECUTE` as an `Execute` row with the text run. How many statements of a message the server
//! ran is what the client read: one result (rows or OK) per statement, up to the first error.
//! So, per case:
//! - every `Query` row (gatehouse's own session setup apart) is a message the client sent,
//!   unchanged, in order (`forwarded-altered` otherwise);
//! - every forwarded message has audit events, all allowed (`unaudited`, `denied-ran`);
//! - the server ran as many statements as gatehouse decided: as many results as audited
//!   statements when the message succeeded, fewer when the server failed it
//!   (`statement-count`);
//! - every `Prepare` row's text was decided by gatehouse: it is the text of an allowed
//!   statement's prepared statement, i.e. found in an allowed audited `PREPARE`
//!   (`prepared-unaudited`);
//! - the end marker was logged and answered (`log-blinded`, `session-lost`); the canary's
//!   rows, the trap (written only by a function or procedure) and the schema are as they were
//!   (`state-changed`); the gateway lives (`gateway`).

/// A row of `mysql.general_log` from the case's server thread.
#[derive(Clone, Debug, PartialEq)]
pub struct Logged {
    pub thread: u64,
    pub command: String,
    pub text: String,
}

/// A statement event of the case's session in gatehouse's audit log.
#[derive(Clone, Debug, PartialEq)]
pub struct Audited {
    pub text: String,
    pub action: String,
    pub allowed: bool,
}

/// What the client read for one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub ok: bool,
    pub code: Option<i64>,
    pub message: Option<String>,
    /// Results read (one per statement that ran, rows or OK).
    pub results: usize,
}

impl Answer {
    /// Refused by gatehouse rather than failed by the server.
    pub fn refused_by_gatehouse(&self) -> bool {
        self.message
            .as_deref()
            .is_some_and(|message| message.contains("gatehouse"))
    }
}

/// Statements gatehouse itself sends when a session starts or is reset.
pub const GATEHOUSE_OWN: &[&str] = &[
    "SET SESSION session_track_system_variables='autocommit,character_set_client,character_set_connection,character_set_results,time_zone,sql_mode', session_track_schema=ON",
    "SELECT @@sql_mode, DATABASE()",
    "SELECT @@sql_mode",
];

#[derive(Clone, Debug, PartialEq)]
pub enum Violation {
    ForwardedAltered {
        text: String,
    },
    Unaudited {
        message: String,
    },
    DeniedRan {
        message: String,
        denied: Vec<String>,
    },
    StatementCount {
        message: String,
        audited: usize,
        results: usize,
        answer: String,
    },
    PreparedUnaudited {
        text: String,
    },
    LogBlinded,
    SessionLost {
        detail: String,
    },
    StateChanged {
        before: String,
        after: String,
    },
    Gateway {
        problem: String,
    },
}

impl Violation {
    pub fn signature(&self) -> String {
        match self {
            Violation::ForwardedAltered { .. } => "forwarded-altered",
            Violation::Unaudited { .. } => "unaudited",
            Violation::DeniedRan { .. } => "denied-ran",
            Violation::StatementCount { .. } => "statement-count",
            Violation::PreparedUnaudited { .. } => "prepared-unaudited",
            Violation::LogBlinded => "log-blinded",
            Violation::SessionLost { .. } => "session-lost",
            Violation::StateChanged { .. } => "state-changed",
            Violation::Gateway { .. } => "gateway",
        }
        .to_owned()
    }

    pub fn describe(&self) -> String {
        match self {
            Violation::ForwardedAltered { text } => {
                format!("the server received a message the client did not send: {text:?}")
            }
            Violation::Unaudited { message } => {
                format!("the server ran a message gatehouse recorded no statement of: {message:?}")
            }
            Violation::DeniedRan { message, denied } => format!(
                "the server ran a message with statements gatehouse denied {denied:?}: {message:?}"
            ),
            Violation::StatementCount {
                message,
                audited,
                results,
                answer,
            } => format!(
                "gatehouse decided {audited} statements in {message:?}, the server answered {results} ({answer})"
            ),
            Violation::PreparedUnaudited { text } => format!(
                "the server prepared a statement no allowed PREPARE gatehouse recorded holds: {text:?}"
            ),
            Violation::LogBlinded => "the end marker is not in the server's log".to_owned(),
            Violation::SessionLost { detail } => format!("the session ended early: {detail}"),
            Violation::StateChanged { before, after } => {
                format!("the database changed:\nbefore: {before}\nafter:  {after}")
            }
            Violation::Gateway { problem } => format!("the gateway: {problem}"),
        }
    }
}

/// Everything judged about one case. `sent` and `answers` include the start and end markers.
pub struct Evidence<'a> {
    pub sent: &'a [String],
    pub answers: &'a [Answer],
    pub logged: &'a [Logged],
    pub audited: &'a [Audited],
    pub before: &'a str,
    pub after: &'a str,
}

/// Split the session's audit events among the messages sent: gatehouse records each
/// statement with its own text, a slice of the message, so a message's events are those whose
/// texts are found in it one after the other; an event that fits neither the rest of the
/// current message nor a later one is left out, and the message it belonged to then looks
/// unaudited. Gatehouse decodes a message in the session's character set (after `SET NAMES
/// latin1`, the client's UTF-8 `é` is recorded as `Ã©`), so texts are compared by their ASCII
/// characters when they do not match as they are.
pub fn assign(sent: &[String], audited: &[Audited]) -> Vec<Vec<Audited>> {
    let ascii = |text: &str| -> String { text.chars().filter(char::is_ascii).collect() };
    let projected: Vec<String> = sent.iter().map(|message| ascii(message)).collect();
    let mut out = vec![Vec::new(); sent.len()];
    // The message and the offset in it (in the text as sent, or in its ASCII projection).
    let (mut current, mut at, mut in_projection) = (0, 0, false);
    // Gatehouse stops at the first statement it denies: nothing after it in that message is
    // recorded, so the next event is another message's.
    let mut closed = false;
    for event in audited {
        let text = event.text.trim();
        let text_ascii = ascii(text);
        if closed {
            at = sent.get(current).map_or(0, String::len);
            in_projection = false;
        }

        closed = !event.allowed;
        let here = if in_projection {
            projected.get(current).map(String::as_str)
        } else {
            sent.get(current).map(String::as_str)
        };
        if let Some(found) = here
            .and_then(|message| message.get(at..))
            .and_then(|rest| rest.find(if in_projection { &text_ascii } else { text }))
        {
            at += found
                + if in_projection {
                    text_ascii.len()
                } else {
                    text.len()
                };
            out[current].push(event.clone());
            continue;
        }
        // The current message as projected, when it was read as sent so far.
        if !in_projection
            && let Some(found) = projected
                .get(current)
                .and_then(|message| message.get(ascii(&sent[current][..at]).len()..))
                .and_then(|rest| rest.find(&text_ascii))
        {
            at = ascii(&sent[current][..at]).len() + found + text_ascii.len();
            in_projection = true;
            out[current].push(event.clone());
            continue;
        }
        let later = (current + 1..sent.len()).find_map(|index| {
            sent[index]
                .find(text)
                .map(|found| (index, found + text.len(), false))
                .or_else(|| {
                    projected[index]
                        .find(&text_ascii)
                        .map(|found| (index, found + text_ascii.len(), true))
                })
        });
        if let Some((index, end, projection)) = later {
            (current, at, in_projection) = (index, end, projection);
            out[index].push(event.clone());
        }
    }
    out
}

/// The literal a SQL `PREPARE name FROM '...'` or `EXECUTE IMMEDIATE '...'` names, unquoted
/// as the server reads it with and without backslash escapes (`Prepare` rows hold it).
fn prepared_text_candidates(statement: &str) -> Vec<String> {
    let upper = statement.to_ascii_uppercase();
    let Some(from) = ["PREPARE", "EXECUTE"]
        .iter()
        .filter_map(|keyword| upper.find(keyword))
        .min()
    else {
        return Vec::new();
    };
    let Some(quote_at) = statement[from..].find(['\'', '"']) else {
        return Vec::new();
    };
    let rest = &statement[from + quote_at..];
    let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
        return Vec::new();
    };
    let body = &rest[1..];
    let mut plain = String::new();
    let mut escaped = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote && chars.peek() == Some(&quote) {
            chars.next();
            plain.push(quote);
            escaped.push(quote);
        } else if c == quote {
            break;
        } else if c == '\\' {
            plain.push(c);
            if let Some(next) = chars.next() {
                plain.push(next);
                escaped.push(next);
            }
        } else {
            plain.push(c);
            escaped.push(c);
        }
    }
    vec![plain, escaped]
}

/// A message as MariaDB keeps (and logs) it: whitespace at the start, whitespace and `;` at the
/// end cut off (`alloc_query`).
pub fn as_logged(message: &str) -> &str {
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c');
    message
        .trim_start_matches(space)
        .trim_end_matches(|c: char| c == ';' || space(c))
}

/// Only comments (not executable ones) and whitespace in `text`.
pub fn comments_only(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return true;
        }
        let line_comment = rest.starts_with('#')
            || (rest.starts_with("--")
                && rest[2..]
                    .chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace() || c.is_control()));
        if line_comment {
            rest = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if rest.starts_with("/*") && !rest.starts_with("/*!") && !rest.starts_with("/*M!") {
            rest = rest[2..].split_once("*/").map_or("", |(_, after)| after);
        } else {
            return false;
        }
    }
}

/// The message ends with `;` and then only comments after its last audited statement: MariaDB
/// answers that comment-only tail with an OK of its own (an empty statement), which runs
/// nothing.
pub fn comment_tail(message: &str, events: &[Audited]) -> bool {
    let Some(last) = events.last() else {
        return false;
    };
    let text = last.text.trim();
    let Some(at) = message.rfind(text) else {
        return false;
    };
    let tail = as_logged(&message[at + text.len()..]);
    let Some(after) = tail.trim_start().strip_prefix(';') else {
        return false;
    };
    !after.trim().is_empty() && comments_only(after)
}

/// The rules; an empty list when the case is clean.
pub fn judge(evidence: &Evidence) -> Vec<Violation> {
    let mut violations = Vec::new();
    let by_message = assign(evidence.sent, evidence.audited);
    let mut forwarded = vec![false; evidence.sent.len()];
    let mut cursor = 0;
    for row in evidence.logged.iter().filter(|row| row.command == "Query") {
        if GATEHOUSE_OWN.contains(&row.text.as_str()) {
            continue;
        }
        match evidence.sent[cursor.min(evidence.sent.len())..]
            .iter()
            .position(|message| as_logged(message) == row.text)
        {
            Some(offset) => {
                forwarded[cursor + offset] = true;
                cursor += offset + 1;
            }
            None => violations.push(Violation::ForwardedAltered {
                text: row.text.clone(),
            }),
        }
    }
    for (index, message) in evidence.sent.iter().enumerate() {
        if !forwarded[index] {
            continue;
        }
        let events = &by_message[index];
        let denied: Vec<String> = events
            .iter()
            .filter(|event| !event.allowed)
            .map(|event| format!("{} {}", event.action, event.text))
            .collect();
        if events.is_empty() {
            violations.push(Violation::Unaudited {
                message: message.clone(),
            });
            continue;
        }
        if !denied.is_empty() {
            violations.push(Violation::DeniedRan {
                message: message.clone(),
                denied,
            });
        }
        let Some(answer) = evidence.answers.get(index) else {
            continue;
        };
        let statements = events.len() + usize::from(comment_tail(message, events));
        let wrong = if answer.ok {
            answer.results != statements
        } else {
            !answer.refused_by_gatehouse() && answer.results >= events.len()
        };
        if wrong {
            violations.push(Violation::StatementCount {
                message: message.clone(),
                audited: events.len(),
                results: answer.results,
                answer: if answer.ok {
                    "ok".to_owned()
                } else {
                    format!(
                        "error {:?} {}",
                        answer.code,
                        answer.message.clone().unwrap_or_default()
                    )
                },
            });
        }
    }
    let prepared: Vec<String> = evidence
        .audited
        .iter()
        .filter(|event| event.allowed)
        .flat_map(|event| prepared_text_candidates(&event.text))
        .collect();
    for row in evidence
        .logged
        .iter()
        .filter(|row| row.command == "Prepare")
    {
        if !prepared.contains(&row.text) {
            violations.push(Violation::PreparedUnaudited {
                text: row.text.clone(),
            });
        }
    }
    // A session gatehouse ended on purpose (the server was switched to a grammar it does not
    // read) ran nothing more: the end marker is not expected.
    let ended = evidence.answers.iter().any(|answer| {
        answer
            .message
            .as_deref()
            .is_some_and(|message| message.starts_with("gatehouse ended the session"))
    });
    let end = evidence.sent.len().saturating_sub(1);
    if !ended && evidence.sent.len() >= 2 && !forwarded[end] {
        violations.push(Violation::LogBlinded);
    }
    match evidence.answers.get(end) {
        _ if ended => {}
        Some(answer) if answer.ok => {}
        other => violations.push(Violation::SessionLost {
            detail: format!("the end marker's answer: {other:?}"),
        }),
    }
    if evidence.before != evidence.after {
        violations.push(Violation::StateChanged {
            before: evidence.before.to_owned(),
            after: evidence.after.to_owned(),
        });
    }
    violations
}
