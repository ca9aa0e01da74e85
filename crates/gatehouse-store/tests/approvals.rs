//! Approvals on a real SQLite file: found only by their exact binding, spent exactly once
//! however many sessions race for them, expired on time, reviewed only by someone else in the
//! approving group, and still there after the store is reopened.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_core::{Identity, IdentityKind};
use gatehouse_pipeline::{
    ApprovalBinding, ApprovalNeed, ApprovalRecord, ApprovalState, ApprovalStore,
};
use gatehouse_store::{ReviewVerdict, Store, StoreError};

const MINUTE_MS: i64 = 60_000;
/// A fixed "now" so expiry is exact; real clocks never enter these tests.
const NOW: i64 = 1_800_000_000_000;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("g.db")).await.unwrap();
    (dir, store)
}

fn binding() -> ApprovalBinding {
    ApprovalBinding {
        subject: "agent-7".into(),
        acting_for: vec!["ana".into()],
        connection: "orders".into(),
        action: "sql:delete".into(),
        request: "DELETE FROM orders WHERE id = 7".into(),
        fingerprint: "fp-delete-orders-by-id".into(),
        policy_version: "v-1".into(),
        context: None,
    }
}

fn record(id: &str, required: u32) -> ApprovalRecord {
    ApprovalRecord {
        id: id.into(),
        state: ApprovalState::Pending,
        binding: binding(),
        need: ApprovalNeed {
            policy: "deletes-need-dba".into(),
            group: "dba".into(),
            required,
            ttl_seconds: 600,
        },
        requester_kind: "machine".into(),
        requester_groups: vec!["agents".into()],
        session: Some("s-0123456789abcdef".into()),
        created_unix_ms: NOW,
        expires_unix_ms: NOW + 15 * MINUTE_MS,
        updated_unix_ms: NOW,
        reviews: vec![],
    }
}

/// An edit to a binding that must make it a different binding.
type Change = fn(&mut ApprovalBinding);

fn person(subject: &str, groups: &[&str]) -> Identity {
    Identity::new(
        subject,
        IdentityKind::Human,
        groups.iter().map(|g| (*g).to_owned()).collect(),
    )
}

#[tokio::test]
async fn an_open_approval_is_found_only_by_its_exact_binding() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 1))
        .await
        .unwrap();

    let found = store.find_open(&binding(), NOW).await.unwrap().unwrap();
    assert_eq!(found, record("ap-0000000000000001", 1));

    let changes: Vec<(&str, Change)> = vec![
        ("request", |b| b.request.push(' ')),
        ("fingerprint", |b| b.fingerprint = "fp-other".into()),
        ("connection", |b| b.connection = "billing".into()),
        ("subject", |b| b.subject = "agent-8".into()),
        ("acting_for", |b| b.acting_for = vec!["bob".into()]),
        ("no acting_for", |b| b.acting_for.clear()),
        ("policy_version", |b| b.policy_version = "v-2".into()),
        ("action", |b| b.action = "sql:update".into()),
    ];
    for (what, change) in changes {
        let mut other = binding();
        change(&mut other);
        assert_eq!(
            store.find_open(&other, NOW).await.unwrap(),
            None,
            "a different {what} must not find the approval"
        );
    }

    // Newest first when a retry created another one; final states are never found.
    let mut newer = record("ap-0000000000000002", 1);
    newer.created_unix_ms = NOW + 1;
    store.create(&newer).await.unwrap();
    let found = store.find_open(&binding(), NOW).await.unwrap().unwrap();
    assert_eq!(found.id, "ap-0000000000000002");
    for id in ["ap-0000000000000001", "ap-0000000000000002"] {
        assert!(
            store
                .transition(id, ApprovalState::Pending, ApprovalState::Cancelled, NOW)
                .await
                .unwrap()
        );
    }
    assert_eq!(store.find_open(&binding(), NOW).await.unwrap(), None);
}

#[tokio::test]
async fn an_id_is_created_once() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 1))
        .await
        .unwrap();
    let error = store
        .create(&record("ap-0000000000000001", 1))
        .await
        .unwrap_err();
    assert!(error.contains("already exists"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_racing_spenders_exactly_one_wins() {
    let (_dir, store) = store().await;
    let mut approved = record("ap-00000000000000aa", 1);
    approved.state = ApprovalState::Approved;
    store.create(&approved).await.unwrap();

    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .transition(
                        "ap-00000000000000aa",
                        ApprovalState::Approved,
                        ApprovalState::Executed,
                        NOW,
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        if task.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "an approval is single-use");
    let stored = store.get("ap-00000000000000aa").await.unwrap().unwrap();
    assert_eq!(stored.state, ApprovalState::Executed);
    assert_eq!(stored.updated_unix_ms, NOW);
}

#[tokio::test]
async fn a_transition_needs_the_expected_state_and_no_expiry() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 1))
        .await
        .unwrap();
    assert!(
        !store
            .transition(
                "ap-0000000000000001",
                ApprovalState::Approved,
                ApprovalState::Executed,
                NOW
            )
            .await
            .unwrap(),
        "a pending approval cannot be spent"
    );
    assert!(
        !store
            .transition(
                "ap-0000000000000001",
                ApprovalState::Pending,
                ApprovalState::Cancelled,
                NOW + 15 * MINUTE_MS
            )
            .await
            .unwrap(),
        "an expired approval does not change"
    );
    assert!(
        !store
            .transition(
                "ap-ffffffffffffffff",
                ApprovalState::Pending,
                ApprovalState::Cancelled,
                NOW
            )
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn approvals_expire_and_listing_stores_it_once() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 1))
        .await
        .unwrap();
    let expiry = NOW + 15 * MINUTE_MS;

    assert!(
        store
            .find_open(&binding(), expiry - 1)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.find_open(&binding(), expiry).await.unwrap(), None);

    let error = store
        .review_approval(
            "ap-0000000000000001",
            &person("dora", &["dba"]),
            ReviewVerdict::Approve,
            None,
            expiry,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        StoreError::ApprovalClosed {
            state: "expired",
            ..
        }
    ));
    assert!(
        error.to_string().contains("run the statement again"),
        "{error}"
    );

    let before = store.list_approvals(false, expiry - 1).await.unwrap();
    assert!(before.expired.is_empty());
    assert_eq!(before.approvals[0].state, ApprovalState::Pending);

    let listed = store.list_approvals(false, expiry).await.unwrap();
    assert_eq!(listed.expired.len(), 1);
    assert_eq!(listed.expired[0].id, "ap-0000000000000001");
    assert_eq!(listed.expired[0].state, ApprovalState::Expired);
    assert_eq!(listed.approvals[0].state, ApprovalState::Expired);
    let stored = store.get("ap-0000000000000001").await.unwrap().unwrap();
    assert_eq!(stored.state, ApprovalState::Expired, "the expiry is stored");
    assert_eq!(stored.updated_unix_ms, expiry);

    let again = store.list_approvals(false, expiry + 1).await.unwrap();
    assert!(again.expired.is_empty(), "each expiry is reported once");
    assert!(
        store
            .list_approvals(true, expiry + 1)
            .await
            .unwrap()
            .approvals
            .is_empty()
    );
}

#[tokio::test]
async fn an_approved_approval_must_be_spent_within_its_ttl() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 1))
        .await
        .unwrap();
    let at = NOW + MINUTE_MS;
    let approved = store
        .review_approval(
            "ap-0000000000000001",
            &person("dora", &["dba"]),
            ReviewVerdict::Approve,
            Some("looks right".into()),
            at,
        )
        .await
        .unwrap();
    assert_eq!(approved.state, ApprovalState::Approved);
    assert_eq!(approved.expires_unix_ms, at + 600_000);
    assert_eq!(approved.updated_unix_ms, at);
    assert_eq!(approved.reviews[0].reviewer, "dora");
    assert_eq!(approved.reviews[0].verdict, ReviewVerdict::Approve);
    assert_eq!(approved.reviews[0].reason.as_deref(), Some("looks right"));

    let open = store.find_open(&binding(), at + 599_999).await.unwrap();
    assert_eq!(open.unwrap().state, ApprovalState::Approved);
    assert!(
        !store
            .transition(
                "ap-0000000000000001",
                ApprovalState::Approved,
                ApprovalState::Executed,
                at + 600_000
            )
            .await
            .unwrap(),
        "too late to spend"
    );
    let listed = store.list_approvals(false, at + 600_000).await.unwrap();
    assert_eq!(listed.expired.len(), 1, "an unspent approval expires too");
}

#[tokio::test]
async fn no_one_approves_their_own_request() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 1))
        .await
        .unwrap();
    let mut agent_for_dora = person("helper-bot", &["dba"]);
    agent_for_dora.acting_for = vec!["agent-7".into()];
    for (who, reviewer) in [
        ("the requester", person("agent-7", &["dba"])),
        ("whom the requester acts for", person("ana", &["dba"])),
        ("an agent acting for the requester", agent_for_dora),
    ] {
        for verdict in [ReviewVerdict::Approve, ReviewVerdict::Deny] {
            let error = store
                .review_approval(
                    "ap-0000000000000001",
                    &reviewer,
                    verdict,
                    Some("mine".into()),
                    NOW,
                )
                .await
                .unwrap_err();
            assert!(
                matches!(error, StoreError::SelfReview { .. }),
                "{who} must not review: {error}"
            );
            assert!(
                error
                    .to_string()
                    .contains("no one approves their own request")
            );
        }
    }
    let stored = store.get("ap-0000000000000001").await.unwrap().unwrap();
    assert_eq!(stored.state, ApprovalState::Pending);
    assert!(stored.reviews.is_empty());
}

#[tokio::test]
async fn only_members_of_the_approving_group_review() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 1))
        .await
        .unwrap();
    for verdict in [ReviewVerdict::Approve, ReviewVerdict::Deny] {
        let error = store
            .review_approval(
                "ap-0000000000000001",
                &person("rita", &["readers", "dbas"]),
                verdict,
                Some("no".into()),
                NOW,
            )
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::NotApprover { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("not in group `dba`"), "{message}");
        assert!(message.contains("--groups dba"), "{message}");
    }
    let error = store
        .review_approval(
            "ap-ffffffffffffffff",
            &person("dora", &["dba"]),
            ReviewVerdict::Approve,
            None,
            NOW,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NoSuchApproval(_)), "{error}");
    assert!(error.to_string().contains("gatehouse approvals list"));
}

#[tokio::test]
async fn two_approvals_need_two_distinct_reviewers() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 2))
        .await
        .unwrap();
    let first = store
        .review_approval(
            "ap-0000000000000001",
            &person("dora", &["dba"]),
            ReviewVerdict::Approve,
            None,
            NOW + 1,
        )
        .await
        .unwrap();
    assert_eq!(first.state, ApprovalState::Pending);
    assert_eq!(first.expires_unix_ms, NOW + 15 * MINUTE_MS, "still waiting");
    assert_eq!(first.reviews.len(), 1);

    let error = store
        .review_approval(
            "ap-0000000000000001",
            &person("dora", &["dba"]),
            ReviewVerdict::Approve,
            None,
            NOW + 2,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::AlreadyApproved {
                approvals: 1,
                required: 2,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("ask another member of `dba`"));

    let second = store
        .review_approval(
            "ap-0000000000000001",
            &person("dmitri", &["dba"]),
            ReviewVerdict::Approve,
            None,
            NOW + 3,
        )
        .await
        .unwrap();
    assert_eq!(second.state, ApprovalState::Approved);
    assert_eq!(second.expires_unix_ms, NOW + 3 + 600_000);
    let reviewers: Vec<&str> = second.reviews.iter().map(|r| r.reviewer.as_str()).collect();
    assert_eq!(reviewers, ["dora", "dmitri"]);
    assert_eq!(
        store.get("ap-0000000000000001").await.unwrap().unwrap(),
        second
    );

    let error = store
        .review_approval(
            "ap-0000000000000001",
            &person("dana", &["dba"]),
            ReviewVerdict::Approve,
            None,
            NOW + 4,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        StoreError::ApprovalClosed {
            state: "approved",
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_reviewers_do_not_lose_each_others_review() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 8))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .review_approval(
                        "ap-0000000000000001",
                        &person(&format!("dba-{n}"), &["dba"]),
                        ReviewVerdict::Approve,
                        None,
                        NOW,
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stored = store.get("ap-0000000000000001").await.unwrap().unwrap();
    assert_eq!(stored.reviews.len(), 8);
    assert_eq!(stored.state, ApprovalState::Approved);
}

#[tokio::test]
async fn a_denial_needs_a_reason_and_is_final() {
    let (_dir, store) = store().await;
    store
        .create(&record("ap-0000000000000001", 2))
        .await
        .unwrap();
    for reason in [None, Some("   ".to_owned())] {
        let error = store
            .review_approval(
                "ap-0000000000000001",
                &person("dora", &["dba"]),
                ReviewVerdict::Deny,
                reason,
                NOW,
            )
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::ReasonRequired(_)), "{error}");
        assert!(error.to_string().contains("--reason"));
    }
    let denied = store
        .review_approval(
            "ap-0000000000000001",
            &person("dora", &["dba"]),
            ReviewVerdict::Deny,
            Some("  use a soft delete  ".into()),
            NOW + 5,
        )
        .await
        .unwrap();
    assert_eq!(denied.state, ApprovalState::Denied);
    assert_eq!(denied.reviews[0].verdict, ReviewVerdict::Deny);
    assert_eq!(
        denied.reviews[0].reason.as_deref(),
        Some("use a soft delete")
    );
    assert_eq!(store.find_open(&binding(), NOW + 6).await.unwrap(), None);

    let error = store
        .review_approval(
            "ap-0000000000000001",
            &person("dmitri", &["dba"]),
            ReviewVerdict::Approve,
            None,
            NOW + 6,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        StoreError::ApprovalClosed {
            state: "denied",
            ..
        }
    ));
    assert!(error.to_string().contains("must ask again"), "{error}");
}

#[tokio::test]
async fn listing_is_newest_first_and_can_show_only_pending() {
    let (_dir, store) = store().await;
    for (n, id) in [
        "ap-0000000000000001",
        "ap-0000000000000002",
        "ap-0000000000000003",
    ]
    .iter()
    .enumerate()
    {
        let mut record = record(id, 1);
        record.created_unix_ms = NOW + i64::try_from(n).unwrap();
        store.create(&record).await.unwrap();
    }
    store
        .review_approval(
            "ap-0000000000000002",
            &person("dora", &["dba"]),
            ReviewVerdict::Approve,
            None,
            NOW + 10,
        )
        .await
        .unwrap();
    let all = store.list_approvals(false, NOW + 20).await.unwrap();
    let ids: Vec<&str> = all.approvals.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ap-0000000000000003",
            "ap-0000000000000002",
            "ap-0000000000000001"
        ]
    );
    let pending = store.list_approvals(true, NOW + 20).await.unwrap();
    let ids: Vec<&str> = pending.approvals.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["ap-0000000000000003", "ap-0000000000000001"]);
}

#[tokio::test]
async fn approvals_survive_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let store = Store::open(&path).await.unwrap();
    store
        .create(&record("ap-0000000000000001", 2))
        .await
        .unwrap();
    let reviewed = store
        .review_approval(
            "ap-0000000000000001",
            &person("dora", &["dba"]),
            ReviewVerdict::Approve,
            None,
            NOW + 1,
        )
        .await
        .unwrap();
    store.close().await;
    drop(store);

    let reopened = Store::open(&path).await.unwrap();
    let stored = reopened.get("ap-0000000000000001").await.unwrap().unwrap();
    assert_eq!(stored, reviewed);
    assert_eq!(
        reopened.find_open(&binding(), NOW + 2).await.unwrap(),
        Some(reviewed)
    );
}
