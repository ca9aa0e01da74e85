//! A fuzz case: the client's side of one session as a list of steps (frontend messages, waits
//! for the server, cancel requests), and the line format corpus files store it in, so that a
//! finding can be read, edited and replayed.
//!
//! One step per line: a word, then its arguments as JSON values separated by spaces, e.g.
//! `parse "" "DELETE FROM canary WHERE id = 7"`, `bind "" "s1" ["7"]`, `execute "" 0`,
//! `describe "P" "p1"`, `function_call "purge_canary(integer)" ["5"]`, `wait`. Lines starting
//! with `#` are comments.

use serde_json::Value;
use std::fmt;

/// What a Describe or Close names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Statement,
    Portal,
}

impl Target {
    pub fn byte(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }

    fn letter(self) -> &'static str {
        match self {
            Target::Statement => "S",
            Target::Portal => "P",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Query(String),
    Parse {
        name: String,
        sql: String,
        types: Vec<u32>,
    },
    Bind {
        portal: String,
        statement: String,
        params: Vec<Option<String>>,
    },
    Describe {
        target: Target,
        name: String,
    },
    Execute {
        portal: String,
        max_rows: i32,
    },
    Close {
        target: Target,
        name: String,
    },
    Sync,
    Flush,
    /// A fast-path call; the function is named by its signature (`purge_canary(integer)`) and
    /// resolved to its OID on the cluster the case runs against.
    FunctionCall {
        function: String,
        args: Vec<Option<String>>,
    },
    CopyData(String),
    CopyDone,
    CopyFail(String),
    Terminate,
    /// Read what the server sends until ReadyForQuery, an error, or a moment of silence.
    Wait,
    /// A cancel request for this session, on a connection of its own.
    Cancel,
}

fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

fn values(list: &[Option<String>]) -> String {
    Value::Array(
        list.iter()
            .map(|v| v.clone().map(Value::String).unwrap_or(Value::Null))
            .collect(),
    )
    .to_string()
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Query(sql) => write!(f, "query {}", quoted(sql)),
            Step::Parse { name, sql, types } if types.is_empty() => {
                write!(f, "parse {} {}", quoted(name), quoted(sql))
            }
            Step::Parse { name, sql, types } => {
                write!(f, "parse {} {} {:?}", quoted(name), quoted(sql), types)
            }
            Step::Bind {
                portal,
                statement,
                params,
            } if params.is_empty() => write!(f, "bind {} {}", quoted(portal), quoted(statement)),
            Step::Bind {
                portal,
                statement,
                params,
            } => write!(
                f,
                "bind {} {} {}",
                quoted(portal),
                quoted(statement),
                values(params)
            ),
            Step::Describe { target, name } => {
                write!(f, "describe {} {}", quoted(target.letter()), quoted(name))
            }
            Step::Execute { portal, max_rows } => {
                write!(f, "execute {} {max_rows}", quoted(portal))
            }
            Step::Close { target, name } => {
                write!(f, "close {} {}", quoted(target.letter()), quoted(name))
            }
            Step::Sync => write!(f, "sync"),
            Step::Flush => write!(f, "flush"),
            Step::FunctionCall { function, args } => {
                write!(f, "function_call {} {}", quoted(function), values(args))
            }
            Step::CopyData(data) => write!(f, "copy_data {}", quoted(data)),
            Step::CopyDone => write!(f, "copy_done"),
            Step::CopyFail(message) => write!(f, "copy_fail {}", quoted(message)),
            Step::Terminate => write!(f, "terminate"),
            Step::Wait => write!(f, "wait"),
            Step::Cancel => write!(f, "cancel"),
        }
    }
}

fn text(args: &[Value], index: usize, line: &str) -> Result<String, String> {
    args.get(index)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("argument {} of `{line}` must be a string", index + 1))
}

fn optional_texts(args: &[Value], index: usize, line: &str) -> Result<Vec<Option<String>>, String> {
    match args.get(index) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                _ => Err(format!("`{line}`: values are strings or null")),
            })
            .collect(),
        Some(_) => Err(format!("argument {} of `{line}` must be a list", index + 1)),
    }
}

fn target(args: &[Value], line: &str) -> Result<Target, String> {
    match text(args, 0, line)?.as_str() {
        "S" => Ok(Target::Statement),
        "P" => Ok(Target::Portal),
        other => Err(format!(
            "`{line}`: target {other:?} is neither \"S\" nor \"P\""
        )),
    }
}

impl std::str::FromStr for Step {
    type Err = String;

    fn from_str(line: &str) -> Result<Step, String> {
        let line = line.trim();
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let args: Vec<Value> = serde_json::Deserializer::from_str(rest)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("`{line}`: {e}"))?;
        let step = match word {
            "query" => Step::Query(text(&args, 0, line)?),
            "parse" => Step::Parse {
                name: text(&args, 0, line)?,
                sql: text(&args, 1, line)?,
                types: match args.get(2) {
                    None => Vec::new(),
                    Some(list) => serde_json::from_value(list.clone())
                        .map_err(|e| format!("`{line}`: parameter types: {e}"))?,
                },
            },
            "bind" => Step::Bind {
                portal: text(&args, 0, line)?,
                statement: text(&args, 1, line)?,
                params: optional_texts(&args, 2, line)?,
            },
            "describe" => Step::Describe {
                target: target(&args, line)?,
                name: text(&args, 1, line)?,
            },
            "execute" => Step::Execute {
                portal: text(&args, 0, line)?,
                max_rows: args
                    .get(1)
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| format!("`{line}`: max_rows must be an integer"))?,
            },
            "close" => Step::Close {
                target: target(&args, line)?,
                name: text(&args, 1, line)?,
            },
            "sync" => Step::Sync,
            "flush" => Step::Flush,
            "function_call" => Step::FunctionCall {
                function: text(&args, 0, line)?,
                args: optional_texts(&args, 1, line)?,
            },
            "copy_data" => Step::CopyData(text(&args, 0, line)?),
            "copy_done" => Step::CopyDone,
            "copy_fail" => Step::CopyFail(text(&args, 0, line)?),
            "terminate" => Step::Terminate,
            "wait" => Step::Wait,
            "cancel" => Step::Cancel,
            other => return Err(format!("unknown step {other:?} in `{line}`")),
        };
        Ok(step)
    }
}

/// Parse a corpus file: one step per line, `#` comments and blank lines ignored.
pub fn parse_case(text: &str) -> Result<Vec<Step>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::parse)
        .collect()
}

/// The steps of a case, one per line.
pub fn format_case(steps: &[Step]) -> String {
    steps.iter().map(|step| format!("{step}\n")).collect()
}
