//! Timestamps as Kubernetes writes them (RFC 3339, whole seconds, `Z`) and ages as kubectl
//! prints them (`45s`, `12m`, `5h`, `3d`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Now, as a `creationTimestamp`.
pub fn now() -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// How long ago `timestamp` was, in kubectl's short form; `<unknown>` if it is not a time.
pub fn age(timestamp: Option<&str>) -> String {
    let Some(then) = timestamp.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()) else {
        return "<unknown>".to_owned();
    };
    human((OffsetDateTime::now_utc() - then).whole_seconds())
}

fn human(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = minutes / 60;
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 48 {
        format!("{hours}h")
    } else {
        format!("{}d", hours / 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human(-3), "0s");
        assert_eq!(human(45), "45s");
        assert_eq!(human(600), "10m");
        assert_eq!(human(5 * 3600), "5h");
        assert_eq!(human(72 * 3600), "3d");
        assert_eq!(age(Some("not a time")), "<unknown>");
    }

    #[test]
    fn now_parses_back() {
        assert!(OffsetDateTime::parse(&now(), &Rfc3339).is_ok());
    }
}
