//! Approval webhooks: tell a receiver (a Slack incoming webhook, or any HTTP endpoint taking
//! signed JSON) when an approval is requested and when it changes state, so reviewers do not
//! have to poll `gatehouse approvals list`.
//!
//! It exists as a watcher of the store rather than a hook in the code that changes
//! approvals, because approvals change in several processes: the gateway's sessions create
//! and spend them, the HTTP API and `gatehouse approvals approve|deny` (another process)
//! review them. Every change sets the record's `updated_unix_ms`, so one task in `serve`
//! polls the store for records changed since it last looked and sends one notification per
//! state it has not announced yet. Approvals that pass their expiry without anyone storing
//! it are announced as expired too. Delivery is at least once: a receiver may see the same
//! `X-Gatehouse-Delivery` twice (after a restart, or a retried delivery that did arrive).
//!
//! Deliveries run on their own task, in order, with a timeout and a few retries with
//! backoff; failures are logged and counted, and never block or fail an approval.

use crate::config::{Config, WebhookConfig, WebhookFormat};
use crate::http_client::{HttpClient, Target, TargetError};
use crate::server::operator::format_time;
use crate::server::reviews::{approval_json, needs, requester};
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use gatehouse_pipeline::ReviewVerdict;
use gatehouse_pipeline::{ApprovalRecord, ApprovalState, now_unix_ms};
use gatehouse_store::Store;
use hmac::{Hmac, Mac};
use hyper::Method;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often the store is asked for changed approvals.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Changes are looked for this far behind the newest one seen: a writer computes
/// `updated_unix_ms` before its transaction commits, so a change can appear with a time
/// slightly older than one already seen. What was announced is remembered, so re-reading is
/// harmless.
const LOOKBACK_MS: i64 = 30_000;
/// How long an approval in a final state is remembered (so a late re-read, e.g. a listing
/// storing an expiry already announced, does not announce it again).
const REMEMBER_FINAL_MS: i64 = 24 * 3600 * 1000;
/// Approvals remembered at most; beyond this the oldest final ones are forgotten first.
const REMEMBER_MAX: usize = 50_000;
/// Notifications waiting for delivery beyond which new ones are dropped (and logged).
const QUEUE: usize = 1024;
/// Attempts per notification, and the wait before the first retry (doubling each time).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Statements longer than this are cut in Slack messages (the JSON format sends them whole).
const SLACK_STATEMENT_CHARS: usize = 600;

/// A configured, validated webhook receiver.
pub struct Notifier {
    /// Where deliveries go. Its path and query may hold a secret, as Slack's do: log lines
    /// name only `scheme://host:port`.
    target: Target,
    format: WebhookFormat,
    key: Option<Vec<u8>>,
    timeout: Duration,
    /// With the receiver's CA (read once, at start) and the delivery timeout.
    http: HttpClient,
}

/// One announced state change.
struct Notification {
    event: &'static str,
    record: ApprovalRecord,
    state: ApprovalState,
    /// When the state was observed (the record's `state` in the JSON body is as of then).
    at: i64,
}

impl Notifier {
    /// Validate `[approvals.webhook]`: the URL, the TLS trust for `https://`, the signing key.
    pub fn from_config(webhook: &WebhookConfig, config: &Config) -> Result<Notifier> {
        let target = Target::parse(&webhook.url).map_err(|error| match error {
            TargetError::NotUrl { reason, .. } => anyhow!(
                "[approvals.webhook] url `{}` is not a URL ({reason}); write it as \
                 http://host:port/path",
                webhook.url
            ),
            TargetError::Scheme { .. } => anyhow!(
                "[approvals.webhook] url must start with http:// or https:// (with `ca_file`)"
            ),
            TargetError::NoHost { .. } => anyhow!("[approvals.webhook] url has no host"),
            TargetError::Credentials { .. } => anyhow!(
                "[approvals.webhook] url must not carry credentials (user:password@); \
                 deliveries are authenticated by their signature (`secret_env`)"
            ),
            TargetError::ServerName { host, reason } => {
                anyhow!("[approvals.webhook] `{host}` is not a valid TLS server name: {reason}")
            }
        })?;
        let ca_file = if target.is_https() {
            let Some(ca_file) = &webhook.ca_file else {
                bail!(
                    "[approvals.webhook] url is https:// but no `ca_file` is set: gatehouse \
                     ships no public root certificates, so name the PEM file of the CAs to \
                     trust (for a public receiver such as Slack, the system bundle, e.g. \
                     ca_file = \"/etc/ssl/certs/ca-certificates.crt\"), or use an http:// URL"
                );
            };
            Some(config.resolve(ca_file))
        } else {
            if webhook.ca_file.is_some() {
                bail!("[approvals.webhook] `ca_file` is only for https:// URLs");
            }
            None
        };
        let key = match &webhook.secret_env {
            Some(var) => {
                let value = std::env::var(var).map_err(|_| {
                    anyhow!(
                        "[approvals.webhook] secret_env names `{var}`, which is not set; export \
                         the signing key in it (any string, e.g. `openssl rand -hex 32`)"
                    )
                })?;
                if value.is_empty() {
                    bail!(
                        "[approvals.webhook] `{var}` (secret_env) is empty; put the signing key in it"
                    );
                }
                Some(value.into_bytes())
            }
            None if webhook.format == WebhookFormat::Json => bail!(
                "[approvals.webhook] format \"json\" needs `secret_env`: the name of an \
                 environment variable holding the key that signs each delivery \
                 (X-Gatehouse-Signature), so the receiver can tell deliveries from forgeries"
            ),
            None => None,
        };
        if webhook.timeout.is_zero() {
            bail!("[approvals.webhook] timeout must be more than 0s (e.g. \"5s\")");
        }
        let http = HttpClient::new(ca_file.as_deref(), webhook.timeout)
            .context("[approvals.webhook] ca_file")?;
        Ok(Notifier {
            target,
            format: webhook.format,
            key,
            timeout: webhook.timeout,
            http,
        })
    }

    /// `scheme://host:port` of the receiver (the path is not shown: it may be a secret).
    pub fn shown(&self) -> &str {
        self.target.shown()
    }

    /// The body and headers of one delivery.
    fn render(
        &self,
        notification: &Notification,
        now: i64,
    ) -> (Vec<u8>, Vec<(&'static str, String)>) {
        let body = match self.format {
            WebhookFormat::Json => serde_json::json!({
                "event": notification.event,
                "approval": approval_json(&notification.record, notification.at),
                "sent_at": format_time(now),
            }),
            WebhookFormat::Slack => serde_json::json!({
                "text": slack_text(&notification.record, notification.state, notification.at),
            }),
        };
        let body = body.to_string().into_bytes();
        let mut headers = vec![
            ("X-Gatehouse-Event", notification.event.to_owned()),
            (
                "X-Gatehouse-Delivery",
                format!("{}.{}", notification.record.id, notification.state.as_str()),
            ),
        ];
        if let Some(key) = &self.key {
            headers.push((
                "X-Gatehouse-Signature",
                format!("sha256={}", sign(key, &body)),
            ));
        }
        (body, headers)
    }

    /// POST `body` once; `Ok` with the status code of any response.
    async fn post(&self, body: Vec<u8>, headers: &[(&'static str, String)]) -> Result<u16> {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        self.http
            .status(
                Method::POST,
                &self.target,
                &headers,
                Some(("application/json", Bytes::from(body))),
            )
            .await
    }

    /// Deliver `notification`, retrying with backoff; logs the outcome.
    async fn deliver(&self, notification: &Notification) {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let (body, headers) = self.render(notification, now_unix_ms());
            let outcome = self.post(body, &headers).await;
            let failure = match outcome {
                Ok(status) if (200..300).contains(&status) => {
                    metrics::counter!("gatehouse_approval_webhook_deliveries_total", "outcome" => "delivered").increment(1);
                    tracing::debug!(approval = %notification.record.id, event = notification.event, receiver = %self.target.shown(), "approval webhook delivered");
                    return;
                }
                Ok(status) => {
                    let retry = status >= 500 || status == 408 || status == 429;
                    (format!("the receiver answered HTTP {status}"), retry)
                }
                Err(error) => (format!("{error:#}"), true),
            };
            let (reason, retry) = failure;
            let last = attempt == ATTEMPTS || !retry;
            tracing::warn!(
                approval = %notification.record.id,
                event = notification.event,
                receiver = %self.target.shown(),
                attempt,
                "approval webhook not delivered: {reason}{}",
                if last { "; giving up on this notification" } else { "; retrying" }
            );
            if last {
                metrics::counter!("gatehouse_approval_webhook_deliveries_total", "outcome" => "failed").increment(1);
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

/// `hex(HMAC-SHA256(key, body))`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(body);
            hex_encode(&mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The event name of a state: `approval.pending`, `approval.approved`, ...
fn event_name(state: ApprovalState) -> &'static str {
    match state {
        ApprovalState::Pending => "approval.pending",
        ApprovalState::Approved => "approval.approved",
        ApprovalState::Denied => "approval.denied",
        ApprovalState::Expired => "approval.expired",
        ApprovalState::Cancelled => "approval.cancelled",
        ApprovalState::Executed => "approval.executed",
    }
}

/// The Slack message for `record` entering `state`.
fn slack_text(record: &ApprovalRecord, state: ApprovalState, now: i64) -> String {
    let binding = &record.binding;
    let who = slack_escape(&requester(record));
    let what = format!(
        "`{}` on *{}*",
        slack_escape(&binding.action),
        slack_escape(&binding.connection)
    );
    let id = &record.id;
    let reviewers = |verdict: ReviewVerdict| {
        record
            .reviews
            .iter()
            .filter(|r| r.verdict == verdict)
            .map(|r| slack_escape(&r.reviewer))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match state {
        ApprovalState::Pending => format!(
            "*{who}* asks to run {what} (approval `{id}`, state: pending):\n```{}```\n\
             Needs {} (policy `{}`); expires {}.\nReview: `gatehouse approvals approve {id}` \
             or `gatehouse approvals deny {id} --reason TEXT` (or POST /v1/approvals/{id}/approve)",
            slack_escape(&short(&binding.request)),
            slack_escape(&needs(record)),
            slack_escape(&record.need.policy),
            format_time(record.expires_unix_ms),
        ),
        ApprovalState::Approved => format!(
            "Approval `{id}` (*{who}*: {what}) is *approved* by {}; it may run once before {}.",
            reviewers(ReviewVerdict::Approve),
            format_time(record.expires_unix_ms)
        ),
        ApprovalState::Denied => {
            let reason = record
                .reviews
                .iter()
                .rev()
                .find(|r| r.verdict == ReviewVerdict::Deny)
                .and_then(|r| r.reason.as_deref())
                .unwrap_or("none given");
            format!(
                "Approval `{id}` (*{who}*: {what}) is *denied* by {}: {}",
                reviewers(ReviewVerdict::Deny),
                slack_escape(reason)
            )
        }
        ApprovalState::Executed => {
            format!("Approval `{id}` (*{who}*: {what}) was *executed*: the statement ran.")
        }
        ApprovalState::Cancelled => {
            format!("Approval `{id}` (*{who}*: {what}) was *cancelled*: the request was withdrawn.")
        }
        ApprovalState::Expired => format!(
            "Approval `{id}` (*{who}*: {what}) *expired* at {}: {}.",
            format_time(record.expires_unix_ms.min(now)),
            if record.state == ApprovalState::Approved {
                "it was approved but not used in time"
            } else {
                "nobody decided it in time"
            }
        ),
    }
}

/// Slack's three control characters in message text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("```", "'''")
}

fn short(statement: &str) -> String {
    if statement.chars().count() <= SLACK_STATEMENT_CHARS {
        return statement.to_owned();
    }
    let mut cut: String = statement.chars().take(SLACK_STATEMENT_CHARS).collect();
    cut.push('…');
    cut
}

/// What the watcher remembers of one approval.
struct Seen {
    /// The state last announced (or found at start, not announced).
    state: ApprovalState,
    /// The record, while it can still expire unannounced (pending or approved).
    open: Option<ApprovalRecord>,
    /// When it was last seen changing, for forgetting final ones.
    at: i64,
}

/// Which approvals are in which announced state; decides what to announce.
#[derive(Default)]
struct Announced {
    seen: HashMap<String, Seen>,
}

impl Announced {
    /// Remember `record` as it is at `now`; the notification to send, if its state is new.
    fn observe(
        &mut self,
        record: ApprovalRecord,
        now: i64,
        announce: bool,
    ) -> Option<Notification> {
        let state = record.state_at(now);
        let unchanged = self
            .seen
            .get(&record.id)
            .is_some_and(|seen| seen.state == state);
        let open = (!state.is_final()).then(|| record.clone());
        let entry = self.seen.entry(record.id.clone()).or_insert(Seen {
            state,
            open: None,
            at: now,
        });
        entry.state = state;
        entry.open = open;
        entry.at = now;
        (announce && !unchanged).then(|| Notification {
            event: event_name(state),
            record,
            state,
            at: now,
        })
    }

    /// Open approvals that passed their expiry without anybody storing it.
    fn expired_unstored(&mut self, now: i64) -> Vec<Notification> {
        let due: Vec<ApprovalRecord> = self
            .seen
            .values()
            .filter_map(|seen| seen.open.as_ref())
            .filter(|record| record.state_at(now) == ApprovalState::Expired)
            .cloned()
            .collect();
        due.into_iter()
            .filter_map(|record| self.observe(record, now, true))
            .collect()
    }

    /// Forget final approvals seen long ago, and the oldest final ones beyond the cap.
    fn forget(&mut self, now: i64) {
        self.seen
            .retain(|_, seen| seen.open.is_some() || now - seen.at < REMEMBER_FINAL_MS);
        if self.seen.len() > REMEMBER_MAX {
            let mut finals: Vec<(i64, String)> = self
                .seen
                .iter()
                .filter(|(_, seen)| seen.open.is_none())
                .map(|(id, seen)| (seen.at, id.clone()))
                .collect();
            finals.sort_unstable();
            let excess = self.seen.len() - REMEMBER_MAX;
            for (_, id) in finals.into_iter().take(excess) {
                self.seen.remove(&id);
            }
        }
    }
}

/// Watch the store for approval changes and deliver notifications until `shutdown`.
/// Changes before the start are not announced.
pub async fn run(store: Store, notifier: Notifier, mut shutdown: watch::Receiver<bool>) {
    let (queue, mut queued) = mpsc::channel::<Notification>(QUEUE);
    let notifier = Arc::new(notifier);
    let sender = {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            while let Some(notification) = queued.recv().await {
                notifier.deliver(&notification).await;
            }
        })
    };
    let start = now_unix_ms();
    let mut announced = Announced::default();
    let mut newest = start;
    match store.approvals_changed_since(start - LOOKBACK_MS).await {
        Ok(records) => {
            for record in records {
                newest = newest.max(record.updated_unix_ms);
                announced.observe(record, start, false);
            }
        }
        Err(error) => {
            tracing::warn!(%error, "approval webhook: cannot read approvals from the store")
        }
    }
    let mut failing = false;
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
        let now = now_unix_ms();
        let mut notifications = Vec::new();
        match store.approvals_changed_since(newest - LOOKBACK_MS).await {
            Ok(records) => {
                failing = false;
                for record in records {
                    newest = newest.max(record.updated_unix_ms);
                    notifications.extend(announced.observe(record, now, true));
                }
            }
            Err(error) => {
                // Say it once per outage, not twice a second.
                if !failing {
                    tracing::warn!(%error, "approval webhook: cannot read approvals from the store; retrying");
                }
                failing = true;
            }
        }
        notifications.extend(announced.expired_unstored(now));
        for notification in notifications {
            if let Err(
                mpsc::error::TrySendError::Full(dropped)
                | mpsc::error::TrySendError::Closed(dropped),
            ) = queue.try_send(notification)
            {
                metrics::counter!("gatehouse_approval_webhook_deliveries_total", "outcome" => "dropped").increment(1);
                tracing::warn!(approval = %dropped.record.id, event = dropped.event, "approval webhook: too many notifications waiting for the receiver; this one is dropped");
            }
        }
        ticks += 1;
        if ticks.is_multiple_of(120) {
            announced.forget(now);
        }
    }
    drop(queue);
    // Whatever is being delivered gets the delivery timeout to finish; the rest is dropped.
    let _ = tokio::time::timeout(notifier.timeout, sender).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use gatehouse_pipeline::{ApprovalBinding, ApprovalNeed, Review};

    fn record(state: ApprovalState, expires: i64) -> ApprovalRecord {
        ApprovalRecord {
            id: "ap-0000000000000001".into(),
            state,
            binding: ApprovalBinding {
                subject: "wes".into(),
                acting_for: vec![],
                connection: "demo".into(),
                action: "sql:delete".into(),
                request: "DELETE FROM items WHERE id = 2 AND name <> 'a&b'".into(),
                fingerprint: "fp".into(),
                policy_version: "v".into(),
                context: None,
            },
            need: ApprovalNeed {
                policy: "deletes-need-admins".into(),
                group: "admins".into(),
                required: 1,
                ttl_seconds: 600,
            },
            requester_kind: "human".into(),
            requester_groups: vec!["writers".into()],
            session: None,
            created_unix_ms: 1_000,
            expires_unix_ms: expires,
            updated_unix_ms: 1_000,
            reviews: vec![],
        }
    }

    #[test]
    fn each_state_is_announced_once_and_expiry_without_a_store_write() {
        let mut announced = Announced::default();
        let first = announced.observe(record(ApprovalState::Pending, 10_000), 2_000, true);
        assert_eq!(first.map(|n| n.event), Some("approval.pending"));
        assert!(
            announced
                .observe(record(ApprovalState::Pending, 10_000), 2_500, true)
                .is_none()
        );
        assert!(announced.expired_unstored(9_999).is_empty());
        let expired = announced.expired_unstored(10_000);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].event, "approval.expired");
        assert!(announced.expired_unstored(11_000).is_empty());
        // A listing storing the expiry later announces nothing new.
        assert!(
            announced
                .observe(record(ApprovalState::Expired, 10_000), 12_000, true)
                .is_none()
        );
    }

    #[test]
    fn what_was_there_at_start_is_not_announced() {
        let mut announced = Announced::default();
        assert!(
            announced
                .observe(record(ApprovalState::Pending, 10_000), 2_000, false)
                .is_none()
        );
        let mut approved = record(ApprovalState::Approved, 20_000);
        approved.reviews.push(Review {
            reviewer: "ada".into(),
            verdict: ReviewVerdict::Approve,
            reason: None,
            time_unix_ms: 3_000,
        });
        let next = announced.observe(approved, 3_000, true).unwrap();
        assert_eq!(next.event, "approval.approved");
        let text = slack_text(&next.record, next.state, 3_000);
        assert!(
            text.contains("ap-0000000000000001") && text.contains("approved* by ada"),
            "{text}"
        );
    }

    #[test]
    fn slack_text_names_the_request_and_how_to_review_it() {
        let text = slack_text(
            &record(ApprovalState::Pending, 10_000),
            ApprovalState::Pending,
            2_000,
        );
        assert!(
            text.contains("*wes* asks to run `sql:delete` on *demo*"),
            "{text}"
        );
        assert!(
            text.contains("gatehouse approvals approve ap-0000000000000001"),
            "{text}"
        );
        assert!(text.contains("name &lt;&gt; 'a&amp;b'"), "{text}");
    }

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
