//! The pipeline object adapters hold: policy decision plus audit recording, in that order,
//! before anything is forwarded.

use crate::recording::{DecidedRequest, SessionRecorder, StatementResult};
use crate::{
    AuditEvent, AuditEventKind, AuditIdentity, AuditSink, Decision, Denial, Durability, Permit,
    PipelineError,
};
use gatehouse_core::{Action, ConnectionInfo, Identity, SqlKind};
use gatehouse_policy::{PolicyEngine, PolicyRequest, PolicyVerdict};
use gatehouse_recording::RecordingStorage;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything about a client session that every decision needs.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// Unique id of this session, named in every audit event.
    pub session_id: String,
    pub identity: Identity,
    pub connection: Arc<ConnectionInfo>,
    pub source_address: Option<IpAddr>,
    /// The session's recording, when recordings are on.
    pub recorder: Option<Arc<SessionRecorder>>,
}

/// Decides requests and records them. Cheap to clone; share one per gateway.
#[derive(Clone)]
pub struct Pipeline {
    policy: Arc<PolicyEngine>,
    audit: Arc<dyn AuditSink>,
    recordings: Option<Arc<dyn RecordingStorage>>,
}

impl Pipeline {
    pub fn new(policy: Arc<PolicyEngine>, audit: Arc<dyn AuditSink>) -> Self {
        Pipeline {
            policy,
            audit,
            recordings: None,
        }
    }

    /// Record every session into `storage`.
    pub fn with_recordings(mut self, storage: Arc<dyn RecordingStorage>) -> Self {
        self.recordings = Some(storage);
        self
    }

    /// Start the recording of a session (when recordings are on); put it in the session's
    /// context so that decisions and results are recorded into it.
    pub fn start_recording(
        &self,
        session: &SessionContext,
        record_results: bool,
    ) -> Option<Arc<SessionRecorder>> {
        let storage = self.recordings.clone()?;
        SessionRecorder::start(storage, session, record_results).map(Arc::new)
    }

    /// The policy set in force.
    pub fn policy(&self) -> &PolicyEngine {
        &self.policy
    }

    /// Decide a request made of one or more actions (a multi-statement message is one
    /// request): every action must be allowed or none is. Every decided action is recorded;
    /// an `Allow` is returned only after its events are stored.
    pub async fn decide(
        &self,
        session: &SessionContext,
        actions: &[Action],
    ) -> Result<Decision, PipelineError> {
        let now = now_unix_ms();
        let mut events = Vec::with_capacity(actions.len());
        let mut denial = None;
        for action in actions {
            let verdict = self.policy.decide(&PolicyRequest {
                identity: &session.identity,
                connection: &session.connection,
                action,
                source_address: session.source_address,
                now_unix_seconds: now / 1000,
            });
            metrics::counter!(
                "gatehouse_decisions_total",
                "action" => action.name(),
                "decision" => if verdict.allowed { "allow" } else { "deny" },
            )
            .increment(1);
            let refused = (!verdict.allowed).then(|| denial_for(session, action, &verdict));
            events.push(event_for(session, action, &verdict, refused.as_ref(), now));
            if let Some(refused) = refused {
                denial = Some(refused);
                break;
            }
        }
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let recorded_events = session.recorder.as_ref().map(|_| events.clone());
        let durability = if denial.is_none() && actions.iter().any(changes_state) {
            Durability::Synced
        } else {
            Durability::Windowed
        };
        let recorded = if events.is_empty() {
            Ok(0)
        } else {
            self.audit.record(events, durability).await
        };
        if let (Some(recorder), Some(events), Ok(last_seq)) =
            (&session.recorder, &recorded_events, &recorded)
        {
            let first_seq = last_seq.saturating_sub(count.saturating_sub(1));
            let requests: Vec<DecidedRequest<'_>> = events
                .iter()
                .zip(first_seq..)
                .map(|(event, seq)| DecidedRequest {
                    action: event.action.as_deref().unwrap_or_default(),
                    allowed: event.decision.as_deref() == Some("allow"),
                    policies: &event.policies,
                    statement: event.statement.as_deref(),
                    fingerprint: event.fingerprint.as_deref(),
                    audit_seq: Some(seq),
                })
                .collect();
            recorder.requests(&requests);
        }
        match denial {
            // A refusal stands even when it cannot be recorded: failing closed never
            // depends on the audit log being up.
            Some(denial) => Ok(Decision::Deny(denial)),
            None => match recorded {
                Ok(last_seq) => Ok(Decision::Allow(Permit::issue(
                    last_seq.saturating_sub(count.saturating_sub(1)),
                    last_seq,
                ))),
                Err(reason) => Err(PipelineError::AuditUnavailable(reason)),
            },
        }
    }

    /// Record what forwarded statements did: an `outcome` audit event per statement
    /// (referring to its statement event's `seq`) and the result in the session recording.
    /// Outcomes gate nothing, so they are deferred: stored with the next decision's events or
    /// within the log's window.
    pub fn record_results(
        &self,
        session: &SessionContext,
        results: Vec<StatementResult>,
    ) -> Result<(), PipelineError> {
        let now = now_unix_ms();
        let events = results
            .iter()
            .map(|result| AuditEvent {
                refers_to: Some(result.seq),
                outcome: Some(result.outcome.clone()),
                ..session_event(session, AuditEventKind::Outcome, now)
            })
            .collect();
        if let Some(recorder) = &session.recorder {
            recorder.results(&results);
        }
        self.audit
            .record_deferred(events)
            .map_err(PipelineError::AuditUnavailable)
    }

    /// Record the end of a session. Failure is returned but the session is over either way.
    pub async fn record_disconnect(
        &self,
        session: &SessionContext,
        reason: &str,
    ) -> Result<(), PipelineError> {
        let event = AuditEvent {
            detail: Some(reason.to_owned()),
            ..session_event(session, AuditEventKind::Disconnect, now_unix_ms())
        };
        if let Some(recorder) = &session.recorder {
            recorder.finish(reason);
        }
        self.audit
            .record(vec![event], Durability::Windowed)
            .await
            .map(|_| ())
            .map_err(PipelineError::AuditUnavailable)
    }
}

/// Whether forwarding `action` can change state, so its record must be fsynced first.
fn changes_state(action: &Action) -> bool {
    match action {
        Action::Connect | Action::ViewUnmasked => false,
        Action::Sql(statement) => !matches!(statement.kind, SqlKind::Select | SqlKind::Session),
    }
}

/// Milliseconds since the Unix epoch, the audit log's clock.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn denial_for(session: &SessionContext, action: &Action, verdict: &PolicyVerdict) -> Denial {
    let name = action.name();
    let who = &session.identity.subject;
    let connection = &session.connection.name;
    let mut message = if !verdict.errors.is_empty() {
        format!(
            "`{name}` was refused because policy evaluation failed ({}); gatehouse fails closed",
            verdict.errors.join("; ")
        )
    } else if let Some(first) = verdict.determining_policies.first() {
        format!(
            "`{name}` on connection `{connection}` is forbidden for `{who}` by policy `{first}`"
        )
    } else {
        format!(
            "`{name}` on connection `{connection}` is not permitted for `{who}`: no policy permits it (policy `default-deny`)"
        )
    };
    if let Action::Sql(statement) = action
        && let Some(reason) = &statement.reason
    {
        message.push_str(&format!(" — the statement {reason}"));
    }
    Denial {
        action: name.to_owned(),
        policies: verdict.determining_policies.clone(),
        message,
    }
}

fn event_for(
    session: &SessionContext,
    action: &Action,
    verdict: &PolicyVerdict,
    denial: Option<&Denial>,
    now: i64,
) -> AuditEvent {
    let (kind, statement, fingerprint) = match action {
        Action::Connect | Action::ViewUnmasked => (AuditEventKind::Connect, None, None),
        Action::Sql(sql) => (
            AuditEventKind::Statement,
            Some(sql.text.clone()),
            Some(sql.fingerprint.clone()),
        ),
    };
    AuditEvent {
        action: Some(action.name().to_owned()),
        decision: Some(if verdict.allowed { "allow" } else { "deny" }.to_owned()),
        policies: verdict.determining_policies.clone(),
        statement,
        fingerprint,
        detail: denial.map(|d| d.message.clone()),
        ..session_event(session, kind, now)
    }
}

/// An event carrying what every event of `session` says (who, where, which connection).
fn session_event(session: &SessionContext, kind: AuditEventKind, now: i64) -> AuditEvent {
    AuditEvent {
        time_unix_ms: now,
        kind,
        identity: AuditIdentity {
            subject: session.identity.subject.clone(),
            kind: session.identity.kind.as_str().to_owned(),
            groups: session.identity.groups.clone(),
        },
        acting_for: session.identity.acting_for.clone(),
        session: Some(session.session_id.clone()),
        connection: Some(session.connection.name.clone()),
        source_address: session.source_address.map(|a| a.to_string()),
        action: None,
        decision: None,
        policies: Vec::new(),
        statement: None,
        fingerprint: None,
        outcome: None,
        refers_to: None,
        detail: None,
    }
}
