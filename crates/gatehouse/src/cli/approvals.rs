//! `gatehouse approvals`: how reviewers see and decide just-in-time approvals from a shell.
//!
//! Listing and showing are local reads of the store, for the operator of this machine.
//! Approving and denying act as the identity of the reviewer's own gatehouse token (never as
//! the local user), because the store's rules — not the requester, in the approving group,
//! once per reviewer — are about who reviews. Every state change this command causes (an
//! approval, a denial, an expiry noticed while listing) is recorded in the audit log as an
//! `approval` event before the command reports success. The reviewer HTTP API
//! (`crate::http::approvals`) reviews through the same `crate::server::reviews::store_review`.

use crate::cli::args::{
    ApprovalsApproveArgs, ApprovalsDenyArgs, ApprovalsListArgs, ApprovalsShowArgs, OutputFormat,
};
use crate::config::setup::Setup;
use crate::server::operator::format_time;
use crate::server::reviews::{
    CheckpointAfter, ReviewFailure, ReviewRequest, append_expiries, approval_json,
    approvals_so_far, authenticate_reviewer, expiry_unrecorded, needs, requester, store_review,
};
use anyhow::{Context, Result, anyhow};
use comfy_table::Table;
use gatehouse_core::{Identity, SecretString};
use gatehouse_pipeline::{ApprovalRecord, ApprovalState, AuthError, now_unix_ms};
use gatehouse_store::{ReviewVerdict, Store, StoreError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// How much of a statement a table row shows.
const STATEMENT_WIDTH: usize = 60;

pub async fn list(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: ApprovalsListArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let now = now_unix_ms();
    let listed = store.list_approvals(args.pending, now).await;
    let recorded = match &listed {
        Ok(listed) if !listed.expired.is_empty() => {
            record_expired(&setup, &store, &listed.expired).await
        }
        _ => Ok(()),
    };
    store.close().await;
    let listed = listed?;
    recorded?;
    match args.output.output {
        OutputFormat::Json => {
            let items: Vec<serde_json::Value> = listed
                .approvals
                .iter()
                .map(|record| approval_json(record, now))
                .collect();
            println!("{}", serde_json::Value::from(items));
        }
        OutputFormat::Text if listed.approvals.is_empty() => {
            if args.pending {
                println!(
                    "no approvals are waiting for review (`gatehouse approvals list` shows \
                     decided ones too)"
                );
            } else {
                println!(
                    "no approvals yet: a request that a policy with @approval(\"GROUP\") \
                     permits is held until it is approved, and listed here"
                );
            }
        }
        OutputFormat::Text => {
            let mut table = Table::new();
            table.set_header([
                "id",
                "state",
                "requester",
                "connection",
                "action",
                "statement",
                "needs",
                "expires",
            ]);
            for record in &listed.approvals {
                table.add_row([
                    record.id.clone(),
                    record.state_at(now).as_str().to_owned(),
                    requester(record),
                    record.binding.connection.clone(),
                    record.binding.action.clone(),
                    short_statement(&record.binding.request),
                    needs(record),
                    expires(record, now),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn show(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: ApprovalsShowArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let found = store.approval(&args.id).await;
    store.close().await;
    let record = found?.ok_or_else(|| StoreError::NoSuchApproval(args.id.clone()))?;
    let now = now_unix_ms();
    match args.output.output {
        OutputFormat::Json => println!("{}", approval_json(&record, now)),
        OutputFormat::Text => print!("{}", details(&record, now)),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn approve(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: ApprovalsApproveArgs,
) -> Result<ExitCode> {
    review(
        config,
        data_dir,
        Review {
            id: args.id,
            verdict: ReviewVerdict::Approve,
            reason: args.reason,
            token_file: args.token_file,
            output: args.output.output,
        },
    )
    .await
}

pub async fn deny(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: ApprovalsDenyArgs,
) -> Result<ExitCode> {
    review(
        config,
        data_dir,
        Review {
            id: args.id,
            verdict: ReviewVerdict::Deny,
            reason: Some(args.reason),
            token_file: args.token_file,
            output: args.output.output,
        },
    )
    .await
}

/// One `approve` or `deny` invocation.
struct Review {
    id: String,
    verdict: ReviewVerdict,
    reason: Option<String>,
    token_file: Option<PathBuf>,
    output: OutputFormat,
}

async fn review(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    review: Review,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let token = crate::client::token::find(review.token_file.as_deref()).await?;
    let store = setup.store().await?;
    let reviewed = review_and_record(&setup, &store, &review, SecretString::new(token)).await;
    store.close().await;
    let (record, reviewer) = reviewed?;
    let now = now_unix_ms();
    match review.output {
        OutputFormat::Json => println!("{}", approval_json(&record, now)),
        OutputFormat::Text => println!("{}", review_summary(&record, &reviewer, now)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Authenticate the reviewer, store the review, and record it in the audit log.
async fn review_and_record(
    setup: &Setup,
    store: &Store,
    review: &Review,
    token: SecretString,
) -> Result<(ApprovalRecord, Identity)> {
    let reviewer = authenticate_reviewer(store, &token)
        .await
        .map_err(|error| match error {
            AuthError::StoreUnavailable(reason) => {
                anyhow!("cannot check your token against the store: {reason}")
            }
            refused => anyhow!(
                "your token was refused ({refused}); reviewers act with their own gatehouse \
                 token: create one with `gatehouse keys create --identity YOU --groups GROUP` \
                 and pass it in GATEHOUSE_TOKEN or with --token-file"
            ),
        })?;
    // Open the audit log first: when it cannot be used, nothing changes.
    let log = setup.audit_log(store)?;
    let record = store_review(
        store,
        &log,
        &reviewer,
        ReviewRequest {
            id: &review.id,
            verdict: review.verdict,
            reason: review.reason.clone(),
            source_address: None,
        },
        CheckpointAfter::Write,
    )
    .await
    .map_err(|failure| match failure {
        ReviewFailure::Refused(error) => anyhow::Error::from(error),
        ReviewFailure::Unrecorded(error) => error,
    })?;
    Ok((record, reviewer))
}

/// Record, fsynced, the expiries a listing noticed (attributed to the local operator).
async fn record_expired(setup: &Setup, store: &Store, expired: &[ApprovalRecord]) -> Result<()> {
    let recorded = async {
        let log = setup.audit_log(store)?;
        append_expiries(&log, expired, None, CheckpointAfter::Write).await
    }
    .await;
    recorded.with_context(|| expiry_unrecorded(expired))
}

/// When the approval stops being usable, for a table cell.
fn expires(record: &ApprovalRecord, now: i64) -> String {
    match record.state_at(now) {
        ApprovalState::Pending => format!("in {}", left(record.expires_unix_ms - now)),
        ApprovalState::Approved => {
            format!("use within {}", left(record.expires_unix_ms - now))
        }
        ApprovalState::Expired => "expired".to_owned(),
        _ => "-".to_owned(),
    }
}

/// Milliseconds left, to the second: `14m 3s`.
fn left(ms: i64) -> String {
    let seconds = u64::try_from(ms.max(0) / 1000).unwrap_or(0);
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

/// A statement on one line, cut to [`STATEMENT_WIDTH`] characters.
fn short_statement(statement: &str) -> String {
    let flat = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= STATEMENT_WIDTH {
        return flat;
    }
    let mut cut: String = flat.chars().take(STATEMENT_WIDTH - 1).collect();
    cut.push('…');
    cut
}

/// `gatehouse approvals show` for people.
fn details(record: &ApprovalRecord, now: i64) -> String {
    let binding = &record.binding;
    let state = record.state_at(now);
    let mut lines: Vec<(&str, String)> = vec![
        ("approval", record.id.clone()),
        (
            "state",
            match state {
                ApprovalState::Pending | ApprovalState::Approved => {
                    format!("{} ({})", state.as_str(), expires(record, now))
                }
                _ => state.as_str().to_owned(),
            },
        ),
        (
            "requester",
            format!(
                "{} ({}{})",
                requester(record),
                record.requester_kind,
                if record.requester_groups.is_empty() {
                    String::new()
                } else {
                    format!("; groups {}", record.requester_groups.join(", "))
                }
            ),
        ),
    ];
    if let Some(session) = &record.session {
        lines.push(("session", session.clone()));
    }
    lines.extend([
        ("connection", binding.connection.clone()),
        ("action", binding.action.clone()),
        ("statement", binding.request.clone()),
        ("fingerprint", binding.fingerprint.clone()),
    ]);
    if let Some(context) = &binding.context {
        for (position, value) in context.parameters.iter().enumerate() {
            lines.push((
                "parameters",
                format!("${} = {}", position + 1, value.as_deref().unwrap_or("NULL")),
            ));
        }
        for (name, value) in &context.resolved {
            let value = if value.is_empty() { "(none)" } else { value };
            lines.push(("bound to", format!("{name} = {value}")));
        }
    }
    lines.extend([
        (
            "policy",
            format!(
                "{} (policy set {})",
                record.need.policy, binding.policy_version
            ),
        ),
        (
            "needs",
            format!(
                "{}; once approved, to be used once within {}",
                needs(record),
                humantime::format_duration(Duration::from_secs(record.need.ttl_seconds))
            ),
        ),
        ("created", format_time(record.created_unix_ms)),
        ("expires", format_time(record.expires_unix_ms)),
    ]);
    if record.reviews.is_empty() {
        lines.push(("reviews", "none yet".to_owned()));
    }
    for review in &record.reviews {
        let verdict = if review.verdict == ReviewVerdict::Deny {
            "denied"
        } else {
            "approved"
        };
        lines.push((
            "reviews",
            format!(
                "{} {verdict} at {}{}",
                review.reviewer,
                format_time(review.time_unix_ms),
                review
                    .reason
                    .as_ref()
                    .map(|reason| format!(": {reason}"))
                    .unwrap_or_default()
            ),
        ));
    }
    let mut text = String::new();
    let mut previous = "";
    for (label, value) in lines {
        let shown = if label == previous { "" } else { label };
        previous = label;
        // Continuation lines of a multi-line statement line up under its first line.
        let value = value.replace('\n', &format!("\n{:13}", ""));
        text.push_str(&format!("{shown:<13}{value}\n"));
    }
    if state == ApprovalState::Pending {
        text.push_str(&format!(
            "\nto review: gatehouse approvals approve {id}   or   gatehouse approvals deny {id} \
             --reason TEXT\n(with your own token, from a key in group `{group}`)\n",
            id = record.id,
            group = record.need.group
        ));
    }
    text
}

/// What `approve`/`deny` print for people.
fn review_summary(record: &ApprovalRecord, reviewer: &Identity, now: i64) -> String {
    match record.state {
        ApprovalState::Approved => format!(
            "approved {} as `{}`: it now has the approvals it needs ({}); {} may run the \
             statement once within {}",
            record.id,
            reviewer.subject,
            needs(record),
            requester(record),
            left(record.expires_unix_ms - now)
        ),
        ApprovalState::Denied => format!(
            "denied {} as `{}`: {} will not run it and must ask again",
            record.id,
            reviewer.subject,
            requester(record)
        ),
        _ => format!(
            "approved {} as `{}`: it has {} of the {} approvals it needs from `{}`; waiting for \
             another member of `{}`",
            record.id,
            reviewer.subject,
            approvals_so_far(record),
            record.need.required.max(1),
            record.need.group,
            record.need.group
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{left, short_statement};

    #[test]
    fn statements_fit_on_one_line() {
        assert_eq!(
            short_statement("DELETE FROM t\n  WHERE id = 7"),
            "DELETE FROM t WHERE id = 7"
        );
        let long = format!("SELECT {}", "x, ".repeat(40));
        let short = short_statement(&long);
        assert_eq!(short.chars().count(), 60);
        assert!(short.ends_with('…'));
    }

    #[test]
    fn time_left_is_shown_to_the_second() {
        assert_eq!(left(843_999), "14m 3s");
        assert_eq!(left(-5), "0s");
    }
}
