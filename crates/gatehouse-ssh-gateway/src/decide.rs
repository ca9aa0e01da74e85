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

/// A permitted request, until its outcome is recorded.
pub(crate) struct Allowed {
    pub seq: i64,
    pub recording_number: Option<u64>,
    started: Instant,
}

impl Allowed {
    /// Record how the request ended (`exit 0`, `exit 1`, `signal TERM`, bytes moved).
    pub fn finish(
        &self,
        established: &Established,
        status: Option<String>,
        error: Option<String>,
        bytes: (u64, u64),
    ) {
        let outcome = AuditOutcome {
            rows: None,
            status,
            error,
            duration_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            masked: Default::default(),
            request_bytes: Some(bytes.0),
            response_bytes: Some(bytes.1),
        };
        let _ = established.gateway.pipeline.record_results(
            &established.context,
            vec![RequestResult {
                seq: self.seq,
                outcome,
                columns: Vec::new(),
                bytes: bytes.1,
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
