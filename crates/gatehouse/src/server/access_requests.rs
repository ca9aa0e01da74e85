//! Requests for a group's rights on one connection for a limited time (`gatehouse access
//! request`, the MCP tool `request_access`): validated against the configuration, stored as an
//! approval like any held statement (action `access:grant`, fingerprint `access:<group>`) and
//! recorded in the audit log before they are reported.

use crate::config::setup::Setup;
use anyhow::{Context, Result, anyhow, bail};
use gatehouse_core::SecretString;
use gatehouse_pipeline::{
    ApprovalBinding, ApprovalNeed, ApprovalRecord, ApprovalState, AuditEvent, AuditEventKind,
    AuditIdentity, Authenticator, Durability, GRANT_ACTION, grant_fingerprint, new_approval_id,
    now_unix_ms,
};

/// What approving a grant request needs, as named in approvals and audit events.
const GRANT_POLICY: &str = "access-grants";

/// Validate and store a grant request by the holder of `token`, recorded in the audit log
/// before it is returned (withdrawn when it cannot be recorded). Shared by `gatehouse access
/// request` and the MCP tool `request_access`.
pub(crate) async fn create_request(
    setup: &Setup,
    token: &str,
    connection: &str,
    group: &str,
    duration_text: humantime::Duration,
    reason: &str,
) -> Result<ApprovalRecord> {
    validate(setup, connection, duration_text, reason)?;
    let duration: std::time::Duration = duration_text.into();
    let store = setup.store().await?;
    let requester = store
        .authenticate(&SecretString::new(token.to_owned()))
        .await
        .map_err(|error| {
            anyhow!("your token was refused ({error}); pass your own in GATEHOUSE_TOKEN or with --token-file")
        })?;
    let policy_version = setup.policy()?.version().to_owned();
    let log = setup.audit_log(&store)?;
    let now = now_unix_ms();
    let pending_ms =
        i64::try_from(setup.config.approvals.pending_ttl.as_millis()).unwrap_or(i64::MAX);
    let record = ApprovalRecord {
        id: new_approval_id(),
        state: ApprovalState::Pending,
        binding: ApprovalBinding {
            subject: requester.subject.clone(),
            acting_for: requester.acting_for.clone(),
            connection: connection.to_owned(),
            action: GRANT_ACTION.to_owned(),
            request: format!(
                "grant group `{}` on `{}` for {}: {}",
                group,
                connection,
                duration_text,
                reason.trim()
            ),
            fingerprint: grant_fingerprint(group),
            policy_version,
            context: None,
        },
        need: ApprovalNeed {
            policy: GRANT_POLICY.to_owned(),
            group: setup.config.access.approvers.clone(),
            required: 1,
            ttl_seconds: duration.as_secs(),
        },
        requester_kind: requester.kind.as_str().to_owned(),
        requester_groups: requester.groups.clone(),
        session: None,
        created_unix_ms: now,
        expires_unix_ms: now.saturating_add(pending_ms),
        updated_unix_ms: now,
        reviews: Vec::new(),
    };
    store
        .create_approval(&record)
        .await
        .context("the request could not be stored")?;
    let event = AuditEvent {
        time_unix_ms: now,
        kind: AuditEventKind::Approval,
        identity: AuditIdentity::of(&requester).into(),
        acting_for: requester.acting_for.clone(),
        session: None,
        connection: Some(connection.to_owned()),
        source_address: None,
        action: Some("access:request".to_owned()),
        decision: None,
        policies: vec![GRANT_POLICY.to_owned()],
        request: Some(record.binding.request.clone()),
        fingerprint: Some(record.binding.fingerprint.clone()),
        outcome: None,
        refers_to: None,
        detail: Some(format!(
            "approval {} requested: group `{}` on `{}` for {}, needs 1 of `{}`",
            record.id, group, connection, duration_text, record.need.group
        )),
        context: None,
    };
    let recorded = async {
        log.append(&[event], Durability::Synced)
            .await
            .map_err(anyhow::Error::msg)?;
        log.flush().await?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if let Err(error) = recorded {
        let _ = store
            .transition_approval(
                &record.id,
                ApprovalState::Pending,
                ApprovalState::Cancelled,
                now_unix_ms(),
            )
            .await;
        return Err(error.context(
            "the request was withdrawn because it could not be recorded in the audit log",
        ));
    }
    store.close().await;
    Ok(record)
}

/// Refuse a request that cannot be granted here: too long, no reason, unknown connection.
pub(crate) fn validate(
    setup: &Setup,
    connection: &str,
    duration_text: humantime::Duration,
    reason: &str,
) -> Result<()> {
    let duration: std::time::Duration = duration_text.into();
    let limit = setup.config.access.max_duration;
    if duration > limit {
        bail!(
            "--for {} is longer than the longest grant allowed here ({}, `[access] max_duration`); ask for less",
            duration_text,
            humantime::format_duration(limit)
        );
    }
    if duration.as_secs() == 0 {
        bail!("--for must be at least one second");
    }
    if reason.trim().is_empty() {
        bail!("--reason must say why you need the access; reviewers decide on it");
    }
    if !setup
        .config
        .connections
        .iter()
        .any(|known| known.name == connection)
    {
        bail!(
            "there is no connection `{}` in the configuration; `gatehouse policy check` lists what exists",
            connection
        );
    }
    Ok(())
}
