//! What `gatehouse sessions list` shows about a recording without reading its events, and the
//! retention rule that decides which recordings to delete.

use crate::event::{EventKind, RecordingEvent};
use crate::format::RecordingHeader;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// One line of a recording listing. Storage keeps it next to the recording when the recording
/// is finished; for an unfinished one it can be derived from the bytes
/// ([`crate::Recording::summary`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingSummary {
    /// The session id, which is also the recording id.
    pub session: String,
    pub subject: String,
    pub connection: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// `None` while the session runs, or when its recording was cut short.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    pub events: u64,
    /// How many `request` events the recording holds.
    pub requests: u64,
    /// Size of the recording in bytes, compressed, as stored.
    pub bytes: u64,
}

/// Counts the events a summary reports, as they are written or read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tally {
    pub events: u64,
    pub requests: u64,
    pub last_at_us: u64,
    pub session_end_us: Option<u64>,
}

impl Tally {
    pub(crate) fn observe(&mut self, event: &RecordingEvent) {
        self.observe_kind(event.at_us, &event.kind);
    }

    /// Count an event of `kind` at `at_us`.
    pub(crate) fn observe_kind(&mut self, at_us: u64, kind: &EventKind) {
        match kind {
            EventKind::Request(_) => self.observe_request(at_us),
            EventKind::SessionEnd(_) => {
                self.observe_other(at_us);
                self.session_end_us = Some(at_us);
            }
            _ => self.observe_other(at_us),
        }
    }

    /// Count a request event at `at_us`.
    pub(crate) fn observe_request(&mut self, at_us: u64) {
        self.observe_other(at_us);
        self.requests += 1;
    }

    fn observe_other(&mut self, at_us: u64) {
        self.events += 1;
        self.last_at_us = at_us;
    }

    pub(crate) fn summary(
        &self,
        header: &RecordingHeader,
        bytes: u64,
        ended_at_us: Option<u64>,
    ) -> RecordingSummary {
        RecordingSummary {
            session: header.session.clone(),
            subject: header.subject.clone(),
            connection: header.connection.clone(),
            started_at: header.started_at,
            ended_at: ended_at_us.and_then(|at_us| header.time_at(at_us)),
            events: self.events,
            requests: self.requests,
            bytes,
        }
    }
}

/// The ids of the recordings older than `retain_days` at `now`: ended (or, if never ended,
/// started) before the cutoff. A session that has run longer than the retention period is
/// included too; callers that must keep live sessions filter on `ended_at`.
pub fn expired(
    summaries: &[RecordingSummary],
    now: OffsetDateTime,
    retain_days: u32,
) -> Vec<String> {
    let Some(cutoff) = now.checked_sub(Duration::days(i64::from(retain_days))) else {
        return Vec::new();
    };
    summaries
        .iter()
        .filter(|summary| summary.ended_at.unwrap_or(summary.started_at) < cutoff)
        .map(|summary| summary.session.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use time::macros::datetime;

    fn summary(
        session: &str,
        started: OffsetDateTime,
        ended: Option<OffsetDateTime>,
    ) -> RecordingSummary {
        RecordingSummary {
            session: session.into(),
            subject: "ana".into(),
            connection: "demo".into(),
            started_at: started,
            ended_at: ended,
            events: 0,
            requests: 0,
            bytes: 0,
        }
    }

    #[test]
    fn expires_by_end_time_falling_back_to_start() {
        let now = datetime!(2026-05-31 12:00 UTC);
        let summaries = [
            summary(
                "old",
                datetime!(2026-04-01 00:00 UTC),
                Some(datetime!(2026-04-01 01:00 UTC)),
            ),
            summary(
                "recent",
                datetime!(2026-05-30 00:00 UTC),
                Some(datetime!(2026-05-30 01:00 UTC)),
            ),
            summary(
                "long",
                datetime!(2026-04-01 00:00 UTC),
                Some(datetime!(2026-05-30 00:00 UTC)),
            ),
            summary("crashed", datetime!(2026-04-02 00:00 UTC), None),
            summary(
                "edge",
                datetime!(2026-05-01 12:00 UTC),
                Some(datetime!(2026-05-01 12:00 UTC)),
            ),
        ];
        assert_eq!(expired(&summaries, now, 30), ["old", "crashed"]);
        assert_eq!(expired(&summaries, now, 0).len(), 5);
        assert!(expired(&summaries, now, u32::MAX).is_empty());
    }
}
