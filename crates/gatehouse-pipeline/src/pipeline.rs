//! The pipeline object adapters hold: policy decision plus audit recording, in that order,
//! before anything is forwarded.

use crate::approval::{ApprovalRecord, ReviewVerdict};
use crate::approvals_flow::{Found, approval_event, hold_for, rfc3339};
use crate::change_sync::{ChangeScope, ChangeSync, UnsyncedChanges, durability_for, settle};
use crate::decision_counters::DecisionCounters;
use crate::grants::{AccessGrant, AccessGrants, GrantLookup, with_granted_groups};
use crate::policy_in_force::PolicyInForce;
use crate::recording::{DecidedRequest, LIVE_FLUSH_INTERVAL, RequestResult, SessionRecorder};
use crate::{
    ApprovalStore, AuditEvent, AuditEventKind, AuditIdentity, AuditSink, Decision, Denial,
    Durability, Hold, Permit, PipelineError,
};
use gatehouse_core::{Action, ConnectionInfo, DecisionKind, Identity};
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
    /// The server login the session's statements run under (`admin` is the connection's own
    /// login), recorded in its `connect` event: what the server itself will refuse.
    pub login_level: String,
    pub source_address: Option<IpAddr>,
    /// The session's recording, when recordings are on.
    pub recorder: Option<Arc<SessionRecorder>>,
    /// `identity` as its audit events name it, made once for all of them.
    audit_identity: Arc<AuditIdentity>,
    /// Changes forwarded into an open transaction whose events still wait for their fsync.
    unsynced_changes: UnsyncedChanges,
}

impl SessionContext {
    /// The context of a session that starts now, without a recording yet.
    pub fn new(
        session_id: String,
        identity: Identity,
        connection: Arc<ConnectionInfo>,
        login_level: String,
        source_address: Option<IpAddr>,
    ) -> SessionContext {
        SessionContext {
            audit_identity: Arc::new(AuditIdentity::of(&identity)),
            session_id,
            identity,
            connection,
            login_level,
            source_address,
            recorder: None,
            unsynced_changes: UnsyncedChanges::default(),
        }
    }

    /// Who this session's audit events say acted: shared by all of them while `identity` is
    /// what it was at the start (it is a public field; an identity changed since is described
    /// afresh).
    pub fn audit_identity(&self) -> Arc<AuditIdentity> {
        let kept = &self.audit_identity;
        if kept.subject == self.identity.subject
            && kept.kind == self.identity.kind.as_str()
            && kept.groups == self.identity.groups
        {
            kept.clone()
        } else {
            Arc::new(AuditIdentity::of(&self.identity))
        }
    }
}

/// Decides requests and records them. Cheap to clone; share one per gateway.
#[derive(Clone)]
pub struct Pipeline {
    pub(crate) policy: Arc<PolicyInForce>,
    pub(crate) audit: Arc<dyn AuditSink>,
    recordings: Option<Arc<dyn RecordingStorage>>,
    pub(crate) approvals: Option<Arc<dyn ApprovalStore>>,
    grants: Option<Arc<GrantLookup>>,
    /// How long a pending approval waits for reviewers, in milliseconds.
    pub(crate) pending_ttl_ms: i64,
    decision_counters: Arc<DecisionCounters>,
    change_sync: ChangeSync,
}

/// How long a pending approval waits for reviewers unless configured otherwise.
pub const DEFAULT_PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(60 * 60);

impl Pipeline {
    pub fn new(policy: Arc<PolicyEngine>, audit: Arc<dyn AuditSink>) -> Self {
        Pipeline {
            policy: Arc::new(PolicyInForce::new(policy)),
            audit,
            recordings: None,
            approvals: None,
            grants: None,
            pending_ttl_ms: i64::try_from(DEFAULT_PENDING_TTL.as_millis()).unwrap_or(i64::MAX),
            decision_counters: Arc::default(),
            change_sync: ChangeSync::default(),
        }
    }

    /// When the events of changes made inside an open transaction must be on disk (see
    /// [`ChangeSync`]); before each statement unless set.
    pub fn with_change_sync(mut self, change_sync: ChangeSync) -> Self {
        self.change_sync = change_sync;
        self
    }

    /// When the events of changes made inside an open transaction must be on disk: an
    /// adapter need not work out a request's [`ChangeScope`] unless it is
    /// [`ChangeSync::AtCommit`].
    pub fn change_sync(&self) -> ChangeSync {
        self.change_sync
    }

    /// Keep approvals in `store`: without one, a request that policy holds for approval is
    /// refused. A pending approval expires after `pending_ttl` without a decision.
    pub fn with_approvals(
        mut self,
        store: Arc<dyn ApprovalStore>,
        pending_ttl: std::time::Duration,
    ) -> Self {
        self.approvals = Some(store);
        self.pending_ttl_ms = i64::try_from(pending_ttl.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Add the groups of approved, unexpired access grants to identities when deciding.
    pub fn with_access_grants(mut self, grants: Arc<dyn AccessGrants>) -> Self {
        self.grants = Some(Arc::new(GrantLookup::new(grants)));
        self
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
        let recorder = Arc::new(SessionRecorder::start(storage, session, record_results)?);
        flush_while_live(&recorder);
        Some(recorder)
    }

    /// The policy set in force now.
    pub fn policy(&self) -> Arc<PolicyEngine> {
        self.policy.current()
    }

    /// Put `policy` in force for every decision from now on (open sessions included), and
    /// tell the sessions that subscribed; returns the set it replaced.
    pub fn replace_policy(&self, policy: Arc<PolicyEngine>) -> Arc<PolicyEngine> {
        self.policy.replace(policy)
    }

    /// Tell open sessions to decide again what they decided once, under the policy set in
    /// force: what an adapter read from its configuration at session start (a connection's
    /// masking, the connection itself) was replaced.
    pub fn reconsider_sessions(&self) {
        self.policy.reconsider();
    }

    /// News of policy replacements (and of [`Pipeline::reconsider_sessions`]), for a session
    /// to decide again what it decided once.
    pub fn policy_changes(&self) -> tokio::sync::watch::Receiver<String> {
        self.policy.subscribe()
    }

    /// Whether policy would hold any of `actions` for approval, and none is denied outright;
    /// nothing is recorded or created. An adapter gathers what such a request's approval must
    /// be bound to (the session state its names resolve in), which costs a round trip to the
    /// server, only for these.
    pub async fn would_hold(&self, session: &SessionContext, actions: &[Action]) -> bool {
        let policy = self.policy.current();
        if !actions.iter().any(|action| policy.may_hold(action.name())) {
            return false;
        }
        let now = now_unix_ms();
        let grants = self
            .grants_in_force(&session.identity.subject, &session.connection.name, now)
            .await;
        let granted_identity;
        let identity = if grants.is_empty() {
            &session.identity
        } else {
            granted_identity = with_granted_groups(&session.identity, &grants);
            &granted_identity
        };
        let mut held = false;
        for action in actions {
            let verdict = policy.decide(&PolicyRequest {
                identity,
                connection: &session.connection,
                action,
                source_address: session.source_address,
                now_unix_seconds: now / 1000,
            });
            match verdict.hold {
                Some(_) => held = true,
                None if !verdict.allowed => return false,
                None => {}
            }
        }
        held
    }

    /// Decide a request made of one or more actions (a multi-statement message is one
    /// request): every action must be allowed or none is. Every decided action is recorded;
    /// an `Allow` is returned only after its events are stored. An action that policy permits
    /// only with an approval is allowed when an approved approval bound to it exists (which
    /// is spent), and otherwise holds the whole request.
    pub async fn decide(
        &self,
        session: &SessionContext,
        actions: &[Action],
    ) -> Result<Decision, PipelineError> {
        self.decide_in(session, actions, ChangeScope::Immediate)
            .await
    }

    /// [`Pipeline::decide`] a request whose changes take effect where `scope` says: inside
    /// an open transaction, under [`ChangeSync::AtCommit`], they wait for their fsync only
    /// until the session's next request of another kind.
    pub async fn decide_in(
        &self,
        session: &SessionContext,
        actions: &[Action],
        scope: ChangeScope,
    ) -> Result<Decision, PipelineError> {
        let now = now_unix_ms();
        let mut round = self.decide_each(session, actions, now).await;
        if round.denial.is_none() && round.hold.is_none() {
            self.spend_approvals(session, &mut round, now).await;
        }
        let allowed = round.denial.is_none() && round.hold.is_none();
        let changes_state = actions.iter().any(|action| action.effect().changes_state());
        let owed = &session.unsynced_changes;
        let (durability, owes_after) = if allowed {
            durability_for(self.change_sync, scope, changes_state, owed)
        } else {
            (Durability::Windowed, owed.pending())
        };
        if durability == Durability::Synced {
            metrics::counter!("gatehouse_audit_fsync_waits_total").increment(1);
        }
        let Round {
            events,
            approval_events,
            denial,
            hold,
            row_caps,
            ..
        } = round;
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let recorded = self
            .record_decided(session, actions, events, approval_events, durability)
            .await;
        settle(owed, recorded.is_ok(), owes_after);
        // A refusal or a hold stands even when it cannot be recorded: nothing is forwarded,
        // and failing closed never depends on the audit log being up.
        if let Some(denial) = denial {
            return Ok(Decision::Deny(denial));
        }
        if let Some(hold) = hold {
            return Ok(Decision::Hold(Box::new(hold)));
        }
        match recorded {
            Ok(last_seq) => Ok(Decision::Allow(Permit::issue(
                last_seq.saturating_sub(count.saturating_sub(1)),
                last_seq,
                row_caps,
            ))),
            Err(reason) => Err(PipelineError::AuditUnavailable(reason)),
        }
    }

    /// Decide each action in order with the policy set in force (and the identity's access
    /// grants), stopping at the first refusal or hold; approvals found for held actions are
    /// noted for spending, new ones created.
    async fn decide_each(&self, session: &SessionContext, actions: &[Action], now: i64) -> Round {
        let mut round = Round {
            events: Vec::with_capacity(actions.len()),
            approval_events: Vec::new(),
            denial: None,
            hold: None,
            to_spend: Vec::new(),
            row_caps: Vec::with_capacity(actions.len()),
        };
        let policy = self.policy.current();
        let grants = self
            .grants_in_force(&session.identity.subject, &session.connection.name, now)
            .await;
        let granted_identity;
        let identity = if grants.is_empty() {
            &session.identity
        } else {
            granted_identity = with_granted_groups(&session.identity, &grants);
            &granted_identity
        };
        for action in actions {
            let verdict = policy.decide(&PolicyRequest {
                identity,
                connection: &session.connection,
                action,
                source_address: session.source_address,
                now_unix_seconds: now / 1000,
            });
            let mut outcome = if verdict.allowed {
                DecisionKind::Allow
            } else {
                DecisionKind::Deny
            };
            let mut detail = None;
            let mut refused = None;
            match &verdict.hold {
                Some(need) => match self
                    .approval_for(session, action, need, policy.version(), now)
                    .await
                {
                    Ok(Found::Approved(record)) => {
                        outcome = DecisionKind::Allow;
                        detail = Some(format!(
                            "allowed by approval {} ({})",
                            record.id,
                            reviewers(&record)
                        ));
                        round.to_spend.push((round.events.len(), record));
                    }
                    Ok(Found::Pending { record, created }) => {
                        outcome = DecisionKind::Hold;
                        if created {
                            round
                                .approval_events
                                .push(approval_requested(session, &record, now));
                        }
                        let held = hold_for(session, &record);
                        detail = Some(held.message.clone());
                        round.hold = Some(held);
                    }
                    Err(error) => {
                        refused = Some(Denial {
                            action: action.name().to_owned(),
                            policies: verdict.determining_policies.clone(),
                            message: format!(
                                "`{}` needs an approval, but approvals could not be checked ({error}); gatehouse fails closed",
                                action.name()
                            ),
                        });
                    }
                },
                None if !verdict.allowed => {
                    refused = Some(denial_for(session, action, &verdict));
                }
                None => {}
            }
            if refused.is_some() {
                outcome = DecisionKind::Deny;
                detail = refused.as_ref().map(|d: &Denial| d.message.clone());
            } else if detail.is_none() && !grants.is_empty() {
                detail = Some(granted(&grants));
            }
            round.row_caps.push(verdict.max_rows);
            if let Some(cap) = verdict.max_rows
                && refused.is_none()
            {
                let capped = format!("may change at most {cap} row(s) (`@max_rows`)");
                detail = Some(match detail {
                    Some(detail) => format!("{detail}; {capped}"),
                    None => capped,
                });
            }
            self.decision_counters.count(action.name(), outcome);
            round
                .events
                .push(event_for(session, action, &verdict, outcome, detail, now));
            if let Some(refused) = refused {
                round.denial = Some(refused);
                break;
            }
            if round.hold.is_some() {
                break;
            }
        }
        round
    }

    /// Spend the approvals that allowed actions of an otherwise allowed request; one that was
    /// used or expired a moment ago (or cannot be spent) refuses the request after all.
    async fn spend_approvals(&self, session: &SessionContext, round: &mut Round, now: i64) {
        for (index, record) in &round.to_spend {
            match self.spend(&record.id, now).await {
                Ok(true) => round.approval_events.push(approval_event(
                    session,
                    record,
                    "approval:execute",
                    format!("approval {} spent on this statement", record.id),
                    now,
                )),
                spent => {
                    let message = match spent {
                        Err(error) => format!(
                            "approval {} could not be used because the approval store is unavailable ({error}); gatehouse fails closed: send the statement again when it is healthy",
                            record.id
                        ),
                        Ok(_) => format!(
                            "approval {} was used or expired a moment ago; send the statement again to ask for a new approval",
                            record.id
                        ),
                    };
                    let refused = Denial {
                        action: record.binding.action.clone(),
                        policies: vec![record.need.policy.clone()],
                        message,
                    };
                    if let Some(event) = round.events.get_mut(*index) {
                        event.decision = Some(DecisionKind::Deny);
                        event.detail = Some(refused.message.clone());
                    }
                    round.denial = Some(refused);
                    break;
                }
            }
        }
    }

    /// Store the round's events (approval events first, so the request events are the last
    /// ones, whose seqs a permit carries) and put the requests in the session recording;
    /// the `seq` of the last event stored. `events[i]` is the decision on `actions[i]`; the
    /// recording takes the request's text from the action rather than from a copy of its
    /// event (copying every event for the recording was a tenth of the decision's cost).
    async fn record_decided(
        &self,
        session: &SessionContext,
        actions: &[Action],
        mut events: Vec<AuditEvent>,
        mut approval_events: Vec<AuditEvent>,
        durability: Durability,
    ) -> Result<i64, String> {
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let decided: Option<Vec<(bool, Vec<String>)>> = session.recorder.as_ref().map(|_| {
            events
                .iter()
                .map(|event| {
                    (
                        event.decision == Some(DecisionKind::Allow),
                        event.policies.clone(),
                    )
                })
                .collect()
        });
        approval_events.append(&mut events);
        let recorded = if approval_events.is_empty() {
            Ok(0)
        } else {
            self.audit.record(approval_events, durability).await
        };
        if let (Some(recorder), Some(decided), Ok(last_seq)) =
            (&session.recorder, &decided, &recorded)
        {
            let first_seq = last_seq.saturating_sub(count.saturating_sub(1));
            let requests: Vec<DecidedRequest<'_>> = decided
                .iter()
                .zip(actions)
                .zip(first_seq..)
                .map(|(((allowed, policies), action), seq)| {
                    let request = action.request();
                    DecidedRequest {
                        action: action.name(),
                        allowed: *allowed,
                        policies,
                        text: request.map(|request| request.text()),
                        fingerprint: request.map(|request| request.fingerprint()),
                        audit_seq: Some(seq),
                    }
                })
                .collect();
            recorder.requests(&requests);
        }
        recorded
    }

    /// `identity` as policy sees it on `connection` now: with the groups of its access grants
    /// in force (what decides, for instance, which server login a session gets).
    pub async fn identity_with_grants(&self, identity: &Identity, connection: &str) -> Identity {
        let grants = self
            .grants_in_force(&identity.subject, connection, now_unix_ms())
            .await;
        with_granted_groups(identity, &grants)
    }

    async fn grants_in_force(&self, subject: &str, connection: &str, now: i64) -> Vec<AccessGrant> {
        match &self.grants {
            Some(lookup) => lookup.in_force(subject, connection, now).await,
            None => Vec::new(),
        }
    }

    /// Record what forwarded statements did: an `outcome` audit event per statement
    /// (referring to its statement event's `seq`) and the result in the session recording.
    /// Outcomes gate nothing, so they are deferred: stored with the next decision's events or
    /// within the log's window.
    pub fn record_results(
        &self,
        session: &SessionContext,
        results: Vec<RequestResult>,
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
            recorder.results(results);
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

/// Store the recording's pending events every [`LIVE_FLUSH_INTERVAL`] until it is finished
/// (or its session's context is dropped), so that live viewers lag by at most that. Without a
/// Tokio runtime (some unit tests) chunks are stored only when they fill and at the end.
fn flush_while_live(recorder: &Arc<SessionRecorder>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let recorder = Arc::downgrade(recorder);
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(LIVE_FLUSH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the start was flushed already.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(recorder) = recorder.upgrade() else {
                return;
            };
            if !recorder.flush_pending() {
                return;
            }
        }
    });
}

impl Pipeline {
    /// Record a refused credential: who claimed what, from where, and why — never the
    /// credential. Batched (not fsynced): a refusal lets nothing through, and a flood of bad
    /// tokens must not turn into a flood of fsyncs.
    pub async fn record_auth_failure(
        &self,
        source_address: Option<IpAddr>,
        connection: Option<&str>,
        detail: String,
    ) -> Result<(), PipelineError> {
        let event = AuditEvent {
            connection: connection.map(str::to_owned),
            source_address: source_address.map(|a| a.to_string()),
            ..AuditEvent::administrative(
                AuditEventKind::AuthFailure,
                AuditIdentity::anonymous(),
                "connect",
                DecisionKind::Deny,
                Some(detail),
            )
        };
        self.audit
            .record(vec![event], Durability::Windowed)
            .await
            .map(|_| ())
            .map_err(PipelineError::AuditUnavailable)
    }
}

/// Milliseconds since the Unix epoch, the audit log's clock.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One request's decisions as they are made: the events to record, and how it ends.
struct Round {
    /// One event per decided action, in order.
    events: Vec<AuditEvent>,
    /// Approvals requested or spent on the way, recorded before `events`.
    approval_events: Vec<AuditEvent>,
    denial: Option<Denial>,
    hold: Option<Hold>,
    /// Approved approvals to spend if the whole request is allowed, with the index of the
    /// event of the action each allowed.
    to_spend: Vec<(usize, ApprovalRecord)>,
    /// Each allowed action's `@max_rows`, in order.
    row_caps: Vec<Option<u64>>,
}

/// The event for an approval that a held action just created.
fn approval_requested(session: &SessionContext, record: &ApprovalRecord, now: i64) -> AuditEvent {
    approval_event(
        session,
        record,
        "approval:request",
        format!(
            "approval {} requested: needs {} of `{}` (policy `{}`), pending until {}",
            record.id,
            record.need.required,
            record.need.group,
            record.need.policy,
            rfc3339(record.expires_unix_ms)
        ),
        now,
    )
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
    if let Some(reason) = action.request().and_then(|request| request.explanation()) {
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
    outcome: DecisionKind,
    detail: Option<String>,
    now: i64,
) -> AuditEvent {
    let mut detail = detail;
    if matches!(action, Action::Connect) && !session.login_level.is_empty() {
        let login = format!("server login level `{}`", session.login_level);
        detail = Some(match detail {
            Some(detail) => format!("{detail}; {login}"),
            None => login,
        });
    }
    let (kind, request, fingerprint, context) = match action.request() {
        None => (AuditEventKind::Connect, None, None, None),
        Some(request) => (
            AuditEventKind::Request,
            Some(request.text().to_owned()),
            Some(request.fingerprint().to_owned()),
            request.context().cloned(),
        ),
    };
    AuditEvent {
        action: Some(action.name().to_owned()),
        decision: Some(outcome),
        policies: verdict.determining_policies.clone(),
        request,
        fingerprint,
        detail,
        context,
        ..session_event(session, kind, now)
    }
}

/// Which grants were in force, for the events of decisions they may have changed.
fn granted(grants: &[AccessGrant]) -> String {
    let list: Vec<String> = grants
        .iter()
        .map(|grant| format!("{} (approval {})", grant.group, grant.approval_id))
        .collect();
    format!("decided with access grant(s): {}", list.join(", "))
}

/// Who approved, for the statement event of a request an approval allowed.
fn reviewers(record: &crate::ApprovalRecord) -> String {
    let names: Vec<&str> = record
        .reviews
        .iter()
        .filter(|review| review.verdict == ReviewVerdict::Approve)
        .map(|review| review.reviewer.as_str())
        .collect();
    if names.is_empty() {
        "approved".to_owned()
    } else {
        format!("approved by {}", names.join(", "))
    }
}

/// An event carrying what every event of `session` says (who, where, which connection).
pub(crate) fn session_event(
    session: &SessionContext,
    kind: AuditEventKind,
    now: i64,
) -> AuditEvent {
    AuditEvent {
        time_unix_ms: now,
        kind,
        identity: session.audit_identity(),
        acting_for: session.identity.acting_for.clone(),
        session: Some(session.session_id.clone()),
        connection: Some(session.connection.name.clone()),
        source_address: session.source_address.map(address_text),
        action: None,
        decision: None,
        policies: Vec::new(),
        request: None,
        fingerprint: None,
        outcome: None,
        refers_to: None,
        detail: None,
        context: None,
    }
}

/// An address as events write it. Formatting an address cost more than the rest of building
/// an event; a thread's events mostly name one address, so each thread keeps the last one.
fn address_text(address: IpAddr) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, String)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((cached, text)) if *cached == address => text.clone(),
            _ => {
                let text = address.to_string();
                *last = Some((address, text.clone()));
                text
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_text_follows_the_address_it_is_given() {
        let first = IpAddr::from([127, 0, 0, 1]);
        let second: IpAddr = "::1".parse().unwrap_or(first);
        assert_eq!(address_text(first), "127.0.0.1");
        assert_eq!(address_text(first), "127.0.0.1");
        assert_eq!(address_text(second), "::1");
        assert_eq!(address_text(first), "127.0.0.1");
    }

    fn session() -> SessionContext {
        SessionContext::new(
            "s-1".to_owned(),
            Identity::new(
                "ana",
                gatehouse_core::IdentityKind::Human,
                vec!["readers".to_owned()],
            ),
            Arc::new(ConnectionInfo {
                name: "db".to_owned(),
                kind: gatehouse_core::ConnectionKind::POSTGRES,
                environment: "dev".to_owned(),
                tags: Vec::new(),
                description: String::new(),
            }),
            "read".to_owned(),
            None,
        )
    }

    #[test]
    fn a_sessions_events_share_one_identity_that_follows_a_changed_identity() {
        let mut session = session();
        let first = session_event(&session, AuditEventKind::Request, 1);
        let second = session_event(&session, AuditEventKind::Outcome, 2);
        assert!(Arc::ptr_eq(&first.identity, &second.identity));
        assert_eq!(first.identity.subject, "ana");
        assert_eq!(first.identity.kind, "human");
        assert_eq!(first.identity.groups, ["readers"]);

        session.identity.groups.push("writers".to_owned());
        let changed = session_event(&session, AuditEventKind::Request, 3);
        assert_eq!(changed.identity.groups, ["readers", "writers"]);
        session.identity.subject = "bo".to_owned();
        assert_eq!(
            session_event(&session, AuditEventKind::Request, 4)
                .identity
                .subject,
            "bo"
        );
    }
}
