//! The file format of a MySQL differential case, so that findings can be saved in
//! `fuzz/corpus/mysql_differential/`, read by people and replayed by every run: one COM_QUERY
//! message a line, `query ` then the message as a JSON string (messages hold newlines, quotes
//! and backslashes of every kind); `#` starts a comment line.

/// Render `messages` one a line.
pub fn format_case(messages: &[String]) -> String {
    let mut out = String::new();
    for message in messages {
        out.push_str("query ");
        out.push_str(&serde_json::to_string(message).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Read a case back; an unknown line is an error naming it.
pub fn parse_case(text: &str) -> Result<Vec<String>, String> {
    let mut messages = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(json) = line.strip_prefix("query ") else {
            return Err(format!("line {}: not `query \"...\"`: {line}", number + 1));
        };
        let message: String = serde_json::from_str(json)
            .map_err(|error| format!("line {}: {error}: {line}", number + 1))?;
        messages.push(message);
    }
    Ok(messages)
}
