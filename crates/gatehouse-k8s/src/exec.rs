//! The command of a `pods/exec` (and the stream options of a `pods/attach`), read from the
//! query the way kube-apiserver decodes `PodExecOptions`, and shaped for Cedar as every
//! protocol's commands are: the whole `command` text for `like`, the `program` (base name of
//! the first word) and the `args` set.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::query::{first_value, flag};

/// An exec or attach request's container, streams and command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecRequest {
    /// The `container` parameter; empty when absent (the pod's only or default container).
    pub container: String,
    pub tty: bool,
    pub stdin: bool,
    /// The words joined with single spaces, each quoted as a POSIX shell would need it.
    pub command: String,
    /// The base name of the first word (`sh` for `/bin/sh`); empty without a command.
    pub program: String,
    /// The other words.
    pub args: BTreeSet<String>,
}

/// Reads an exec or attach request from its decoded query (the `query` of
/// [`RequestAttributes`](crate::RequestAttributes)): `command` parameters in order, the first
/// `container`, and `tty`/`stdin` as kube-apiserver converts booleans (present and neither
/// `false` nor `0`).
pub fn exec_request(query: &[(String, String)]) -> ExecRequest {
    let words: Vec<&str> = query
        .iter()
        .filter(|(key, _)| key == "command")
        .map(|(_, value)| value.as_str())
        .collect();
    let (program, args) = match words.split_first() {
        Some((first, rest)) => (
            base_name(first).to_owned(),
            rest.iter().map(|&word| word.to_owned()).collect(),
        ),
        None => (String::new(), BTreeSet::new()),
    };
    ExecRequest {
        container: first_value(query, "container")
            .unwrap_or_default()
            .to_owned(),
        tty: flag(query, "tty"),
        stdin: flag(query, "stdin"),
        command: words
            .iter()
            .map(|word| shell_quote(word))
            .collect::<Vec<_>>()
            .join(" "),
        program,
        args,
    }
}

fn base_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// A word as a POSIX shell reads it back: unchanged when it holds only characters no shell
/// treats specially, otherwise in single quotes (a `'` inside written as `'\''`).
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%_+=:,./-".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
