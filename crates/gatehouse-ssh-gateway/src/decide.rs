//! One SSH request decided by policy, and what the client is told when it is refused or held.

use crate::handler::Established;
use gatehouse_core::Action;
use gatehouse_pipeline::{AuditOutcome, Decision, RequestResult};
use gatehouse_ssh::request::SshRequest;
use std::time::Instant;

/// What policy said about a request.
pub(crate) enum Verdict {
    /// Forward it; its audit event's `seq` and its number in the recording.
    Allowed(Allowed),
    /// Do not: the sentence to show the client.
    Refused(String),
}

/// How a permitted request ended.
#[derive(Default)]
pub(crate) struct Ended {
    /// What the target answered (`exit 0`, `signal TERM`, `status 0`).
    pub status: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Bytes from the client to the target, and from the target to the client.
    pub sent: u64,
    pub received: u64,
    /// Values masked in what the client received, per detector.
    pub masked: std::collections::BTreeMap<String, u64>,
}

impl Ended {
    pub fn failed(error: impl Into<String>) -> Self {
        Ended {
            error: Some(error.into()),
            ..Ended::default()
        }
    }
}

/// A permitted request, until its outcome is recorded.
pub(crate) struct Allowed {
    pub seq: i64,
    pub recording_number: Option<u64>,
    started: Instant,
}

impl Allowed {
    /// Record how the request ended.
    pub fn finish(&self, established: &Established, ended: Ended) {
        let received = ended.received;
        let outcome = AuditOutcome {
            rows: None,
            status: ended.status,
            error: ended.error,
            duration_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            masked: ended.masked,
            request_bytes: Some(ended.sent),
            response_bytes: Some(received),
        };
        let _ = established.gateway.pipeline.record_results(
            &established.context,
            vec![RequestResult {
                seq: self.seq,
                outcome,
                columns: Vec::new(),
                bytes: received,
                rows: Vec::new(),
            }],
        );
    }
}

/// Decide `request` for the session.
pub(crate) async fn decide(established: &Established, request: SshRequest) -> Verdict {
    let action = Action::of(request);
    match established
        .gateway
        .pipeline
        .decide(&established.context, std::slice::from_ref(&action))
        .await
    {
        Ok(Decision::Allow(permit)) => {
            let seq = *permit.audit_seqs().start();
            Verdict::Allowed(Allowed {
                seq,
                recording_number: established
                    .context
                    .recorder
                    .as_ref()
                    .and_then(|recorder| recorder.request_number(seq)),
                started: Instant::now(),
            })
        }
        Ok(Decision::Deny(denial)) => {
            Verdict::Refused(format!("gatehouse: permission denied: {}", denial.message))
        }
        Ok(Decision::Hold(hold)) => Verdict::Refused(format!(
            "gatehouse: held for approval {}: {} Once approved, run the same command again.",
            hold.approval.id, hold.message
        )),
        Err(error) => Verdict::Refused(format!(
            "gatehouse: the request could not be decided, so nothing ran: {error}"
        )),
    }
}
