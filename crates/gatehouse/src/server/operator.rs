//! The local operator: who caused an event when a command run on this machine (or a signal to
//! the gateway's process) changes or reads what the audit log guards. Shared by the CLI and the
//! server, so neither imports the other.

use gatehouse_core::DecisionKind;
use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditIdentity};

/// An event caused by whoever runs this command on this machine.
pub fn operator_event(kind: AuditEventKind, action: &str, detail: Option<String>) -> AuditEvent {
    AuditEvent::administrative(kind, operator(), action, DecisionKind::Allow, detail)
}

/// Whoever runs this process on this machine, as the audit log names them.
pub fn operator() -> AuditIdentity {
    AuditIdentity {
        subject: operator_name(),
        kind: "operator".to_owned(),
        groups: Vec::new(),
    }
}

/// The local user running this command: `$USER`, `$LOGNAME`, else the process owner's name
/// from `/etc/passwd`, else `uid:N`.
fn operator_name() -> String {
    if let Some(name) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
    {
        return name;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) {
            let from_passwd = std::fs::read_to_string("/etc/passwd")
                .ok()
                .and_then(|passwd| {
                    passwd.lines().find_map(|line| {
                        let mut fields = line.split(':');
                        let name = fields.next()?;
                        let id = fields.nth(1)?;
                        (id.parse() == Ok(uid)).then(|| name.to_owned())
                    })
                });
            return from_passwd.unwrap_or_else(|| format!("uid:{uid}"));
        }
    }
    "unknown".to_owned()
}

/// A time as audit events and listings write it: `2026-11-28T10:00:00.250Z` (UTC,
/// milliseconds).
pub(crate) fn format_time(unix_ms: i64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| unix_ms.to_string())
}
