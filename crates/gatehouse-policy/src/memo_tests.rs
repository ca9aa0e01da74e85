//! Tests of the decision memo through `PolicyEngine::decide`: memoised verdicts are the
//! verdicts Cedar gives, inputs policies read split the memo, inputs they do not read do not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::{PolicyEngine, PolicyRequest, PolicySchema};
use gatehouse_core::{
    Action, ConnectionInfo, ConnectionKind, Identity, IdentityKind, SQL_PROTOCOL, SqlKind,
    SqlStatement,
};
use gatehouse_httpapi::{HttpApiRequest, HttpInput};
use gatehouse_ssh::SshRequest;
use std::sync::atomic::Ordering;

/// 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;

fn schema() -> PolicySchema {
    PolicySchema::new(&[
        &SQL_PROTOCOL,
        &gatehouse_httpapi::HTTP_PROTOCOL,
        &gatehouse_ssh::SSH_PROTOCOL,
    ])
    .unwrap()
}

fn engine(text: &str) -> PolicyEngine {
    PolicyEngine::from_sources(&[("memo.cedar".to_owned(), text.to_owned())], &schema())
        .unwrap_or_else(|error| panic!("{error}"))
}

fn hits(engine: &PolicyEngine) -> usize {
    engine.memo.hits.load(Ordering::Relaxed)
}

fn identity(subject: &str, kind: IdentityKind, groups: &[&str]) -> Identity {
    Identity::new(
        subject,
        kind,
        groups.iter().map(|group| (*group).to_owned()).collect(),
    )
}

fn connection(environment: &str, tags: &[&str]) -> ConnectionInfo {
    ConnectionInfo {
        name: format!("{environment}-db"),
        kind: ConnectionKind::POSTGRES,
        environment: environment.to_owned(),
        tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        description: String::new(),
    }
}

fn sql(kind: SqlKind, text: &str, tables: &[&str], all_rows: bool) -> Action {
    Action::of(SqlStatement {
        text: text.to_owned(),
        kind,
        reads: tables.iter().map(|table| (*table).to_owned()).collect(),
        writes: Vec::new(),
        functions: Vec::new(),
        fingerprint: text.to_owned(),
        reason: None,
        all_rows,
        context: None,
        lineage: None,
    })
}

fn http(method: &str, target: &str) -> Action {
    let attributes = gatehouse_httpapi::attribute(&HttpInput {
        method,
        target,
        headers: &[],
        selected_headers: &[],
        body: b"",
        json_body_limit: 0,
        websocket: false,
    })
    .unwrap();
    Action::of(HttpApiRequest::new(attributes))
}

/// Policies reading principal, resource and several context attributes, with holds, row caps
/// and forbids.
const CORPUS_POLICY: &str = r#"
@id("readers")
permit (principal in Gatehouse::Group::"readers",
        action in [Gatehouse::Action::"connect", Gatehouse::Action::"sql:read", Gatehouse::Action::"http:read"],
        resource);
@id("writers-in-office-hours")
@max_rows("10")
permit (principal in Gatehouse::Group::"writers", action in Gatehouse::Action::"sql:write", resource)
  when { context.hour >= 8 && context.hour < 18 };
@id("deletes-held")
@approval("admins")
permit (principal in Gatehouse::Group::"writers", action == Gatehouse::Action::"sql:delete", resource);
@id("no-secrets")
forbid (principal, action in Gatehouse::Action::"sql:any", resource)
  when { context.tables.contains("secrets") }
  unless { principal in Gatehouse::Group::"admins" };
@id("ops-from-inside")
permit (principal in Gatehouse::Group::"ops", action, resource)
  when { context.source_address.isInRange(ip("10.0.0.0/8")) };
@id("no-unattended-machines-in-prod")
forbid (principal, action, resource)
  when { resource.environment == "prod" && resource.tags.contains("pii")
         && principal.kind == "machine" && principal.acting_for.isEmpty() };
@id("no-drops")
forbid (principal, action == Gatehouse::Action::"sql:ddl", resource)
  when { context.statement like "*drop*" };
@id("no-full-updates")
forbid (principal, action == Gatehouse::Action::"sql:update", resource)
  when { context has all_rows && context.all_rows };
@id("http-no-admin")
forbid (principal, action in Gatehouse::Action::"http:any", resource)
  when { context.path like "/admin*" };
@id("ssh-forwards")
permit (principal in Gatehouse::Group::"ops", action == Gatehouse::Action::"ssh:forward", resource)
  when { context.port == 5432 };
"#;

/// Every verdict through the memo, first computed then memoised, is the verdict of an engine
/// that memoises nothing.
#[test]
fn memoised_verdicts_equal_computed_ones() {
    let memoised = engine(CORPUS_POLICY);
    let reference = engine(CORPUS_POLICY).without_memo();
    let mut delegate = identity("bot", IdentityKind::Machine, &["writers"]);
    delegate.acting_for = vec!["ana".to_owned()];
    let identities = [
        identity("ana", IdentityKind::Human, &[]),
        identity("ana", IdentityKind::Human, &["readers"]),
        identity("ana", IdentityKind::Human, &["writers", "readers"]),
        identity("bob", IdentityKind::Human, &["ops"]),
        identity("bob", IdentityKind::Human, &["admins", "writers"]),
        identity("bot", IdentityKind::Machine, &["writers"]),
        delegate,
    ];
    let connections = [
        connection("dev", &[]),
        connection("prod", &["pii"]),
        connection("prod", &[]),
    ];
    let mut actions = vec![Action::Connect, Action::ViewUnmasked];
    for kind in SqlKind::ALL {
        for tables in [&["orders"][..], &["orders", "secrets"]] {
            actions.push(sql(kind, "select 1", tables, false));
            actions.push(sql(kind, "drop table orders", tables, true));
        }
    }
    actions.push(http("GET", "/api/orders/1"));
    actions.push(http("GET", "/admin/users"));
    actions.push(http("DELETE", "/api/orders/1"));
    actions.push(Action::of(SshRequest::forward("db".to_owned(), 5432)));
    actions.push(Action::of(SshRequest::forward("db".to_owned(), 22)));
    let mut allowed = 0;
    let mut denied = 0;
    let mut held = 0;
    for round in 0..2 {
        for identity in &identities {
            for connection in &connections {
                for action in &actions {
                    for address in ["10.1.2.3", "192.0.2.1"] {
                        for now in [NOW, NOW - 14 * 3600] {
                            let request = PolicyRequest {
                                identity,
                                connection,
                                action,
                                source_address: Some(address.parse().unwrap()),
                                now_unix_seconds: now,
                            };
                            let computed = reference.decide(&request);
                            assert_eq!(
                                memoised.decide(&request),
                                computed,
                                "round {round}: {identity:?} {connection:?} {} {address} {now}",
                                action.name()
                            );
                            allowed += usize::from(computed.allowed);
                            held += usize::from(computed.hold.is_some());
                            denied += usize::from(!computed.allowed && computed.hold.is_none());
                        }
                    }
                }
            }
        }
    }
    assert!(
        allowed > 0 && denied > 0 && held > 0,
        "{allowed} {denied} {held}"
    );
    // The second round asks everything again; the corpus has more distinct requests than a
    // generation holds, so some of them were dropped by then.
    let decisions = allowed + denied + held;
    assert!(
        hits(&memoised) > decisions / 4,
        "{} of {decisions}",
        hits(&memoised)
    );
    assert_eq!(hits(&reference), 0);
}

#[test]
fn hour_splits_the_memo_when_read() {
    let engine = engine(
        r#"permit (principal, action, resource) when { context.hour >= 8 && context.hour < 18 };"#,
    );
    let (identity, connection) = (
        identity("ana", IdentityKind::Human, &[]),
        connection("dev", &[]),
    );
    let action = sql(SqlKind::Select, "select 1", &["t"], false);
    let decide = |now| {
        engine
            .decide(&PolicyRequest {
                identity: &identity,
                connection: &connection,
                action: &action,
                source_address: None,
                now_unix_seconds: now,
            })
            .allowed
    };
    let nine = NOW - NOW.rem_euclid(86_400) + 9 * 3600;
    assert!(decide(nine));
    assert!(!decide(nine + 10 * 3600));
    assert!(decide(nine + 60));
    assert!(!decide(nine + 10 * 3600 + 60));
    // Same hour, other second: `now` is not read, so the hour's verdict is reused.
    assert_eq!(hits(&engine), 2);
}

#[test]
fn source_address_splits_the_memo_when_read() {
    let engine = engine(
        r#"permit (principal, action, resource)
           when { context.source_address.isInRange(ip("10.0.0.0/8")) };"#,
    );
    let (identity, connection) = (
        identity("ana", IdentityKind::Human, &[]),
        connection("dev", &[]),
    );
    let action = sql(SqlKind::Select, "select 1", &["t"], false);
    let decide = |address: Option<&str>| {
        engine
            .decide(&PolicyRequest {
                identity: &identity,
                connection: &connection,
                action: &action,
                source_address: address.map(|address| address.parse().unwrap()),
                now_unix_seconds: NOW,
            })
            .allowed
    };
    for _ in 0..2 {
        assert!(decide(Some("10.0.0.1")));
        assert!(!decide(Some("11.0.0.1")));
        assert!(!decide(None));
    }
    assert_eq!(hits(&engine), 3);
}

/// A policy using `context` other than by reading named attributes makes every attribute
/// part of the key: the statement text splits the memo.
#[test]
fn whole_context_use_keys_every_attribute() {
    let identity = identity("ana", IdentityKind::Human, &["readers"]);
    let connection = connection("dev", &[]);
    let first = sql(SqlKind::Select, "select 1", &["t"], false);
    let second = sql(SqlKind::Select, "select 2", &["t"], false);
    // (`context has kind`, testing an attribute no SQL context has, is refused at load as
    // an impossible policy.)
    for (text, splits) in [
        (
            r#"permit (principal, action in Gatehouse::Action::"sql:any", resource)
               when { context.tables.contains("t") };"#,
            false,
        ),
        (
            r#"permit (principal, action in Gatehouse::Action::"sql:any", resource)
               when { (if context has all_rows then context else context).tables.contains("t") };"#,
            true,
        ),
        (
            r#"permit (principal, action in Gatehouse::Action::"sql:any", resource)
               when { context == context };"#,
            true,
        ),
    ] {
        let engine = engine(text);
        let decide = |action: &Action| {
            engine.decide(&PolicyRequest {
                identity: &identity,
                connection: &connection,
                action,
                source_address: None,
                now_unix_seconds: NOW,
            })
        };
        let verdict = decide(&first);
        assert!(verdict.errors.is_empty(), "{text}: {verdict:?}");
        assert_eq!(decide(&second), verdict, "{text}");
        assert_eq!(hits(&engine), usize::from(!splits), "{text}");
    }
}

#[test]
fn other_groups_are_decided_afresh() {
    let engine = engine(r#"permit (principal in Gatehouse::Group::"readers", action, resource);"#);
    let connection = connection("dev", &[]);
    let action = sql(SqlKind::Select, "select 1", &["t"], false);
    let decide = |groups: &[&str]| {
        engine
            .decide(&PolicyRequest {
                identity: &identity("ana", IdentityKind::Human, groups),
                connection: &connection,
                action: &action,
                source_address: None,
                now_unix_seconds: NOW,
            })
            .allowed
    };
    assert!(decide(&["readers"]));
    assert!(!decide(&[]));
    assert!(!decide(&["writers"]));
    assert!(decide(&["readers"]));
    assert_eq!(hits(&engine), 1);
}

#[test]
fn a_reloaded_policy_set_starts_with_an_empty_memo() {
    let permissive = engine("permit (principal, action, resource);");
    let identity = identity("ana", IdentityKind::Human, &[]);
    let connection = connection("dev", &[]);
    let action = sql(SqlKind::Select, "select 1", &["t"], false);
    let request = PolicyRequest {
        identity: &identity,
        connection: &connection,
        action: &action,
        source_address: None,
        now_unix_seconds: NOW,
    };
    assert!(permissive.decide(&request).allowed);
    assert!(permissive.decide(&request).allowed);
    assert_eq!(hits(&permissive), 1);
    let reloaded = engine(
        r#"permit (principal, action, resource);
           forbid (principal, action in Gatehouse::Action::"sql:any", resource)
             when { context.tables.contains("t") };"#,
    );
    assert!(!reloaded.decide(&request).allowed);
    assert_eq!(hits(&reloaded), 0);
}

#[test]
fn verdicts_with_errors_are_not_memoised() {
    let engine = engine(
        r#"permit (principal, action, resource);
           forbid (principal, action, resource) when { context.hour * 9223372036854775807 > 0 };"#,
    );
    let identity = identity("ana", IdentityKind::Human, &[]);
    let connection = connection("dev", &[]);
    let action = sql(SqlKind::Select, "select 1", &["t"], false);
    let request = PolicyRequest {
        identity: &identity,
        connection: &connection,
        action: &action,
        source_address: None,
        now_unix_seconds: NOW,
    };
    for _ in 0..3 {
        let verdict = engine.decide(&request);
        assert!(!verdict.allowed && verdict.errors.len() == 1, "{verdict:?}");
    }
    assert_eq!(hits(&engine), 0);
    assert_eq!(engine.memo.len(), 0);
}

/// Statements differing only in attributes no policy reads share one entry; an attribute a
/// policy reads splits them.
#[test]
fn unread_attributes_do_not_split_the_memo() {
    let engine = engine(
        r#"permit (principal, action in Gatehouse::Action::"sql:any", resource)
             unless { context.tables.contains("secrets") };
           forbid (principal, action == Gatehouse::Action::"sql:ddl", resource)
             when { context.statement like "*drop*" };"#,
    );
    let identity = identity("ana", IdentityKind::Human, &[]);
    let connection = connection("dev", &[]);
    let decide = |action: &Action| {
        engine
            .decide(&PolicyRequest {
                identity: &identity,
                connection: &connection,
                action,
                source_address: None,
                now_unix_seconds: NOW,
            })
            .allowed
    };
    for n in 0..10 {
        let text = format!("select {n} from orders");
        assert!(decide(&sql(SqlKind::Select, &text, &["orders"], false)));
    }
    assert_eq!(hits(&engine), 9);
    assert_eq!(engine.memo.len(), 1);
    assert!(!decide(&sql(
        SqlKind::Select,
        "select 1",
        &["secrets"],
        false
    )));
    // `sql:ddl` policies read the text: each text is its own entry.
    assert!(decide(&sql(SqlKind::Ddl, "create table x ()", &[], false)));
    assert!(!decide(&sql(SqlKind::Ddl, "drop table x", &[], false)));
    assert!(decide(&sql(SqlKind::Ddl, "create table y ()", &[], false)));
    assert_eq!(hits(&engine), 9);
    assert_eq!(engine.memo.len(), 5);
}

#[test]
fn huge_read_attributes_are_not_memoised() {
    let engine = engine(
        r#"permit (principal, action in Gatehouse::Action::"sql:any", resource) unless { context.statement like "*drop*" };"#,
    );
    let identity = identity("ana", IdentityKind::Human, &[]);
    let connection = connection("dev", &[]);
    let huge = format!("select '{}'", "x".repeat(crate::decision_key::MAX_KEY_LEN));
    let action = sql(SqlKind::Select, &huge, &["t"], false);
    let request = PolicyRequest {
        identity: &identity,
        connection: &connection,
        action: &action,
        source_address: None,
        now_unix_seconds: NOW,
    };
    assert!(engine.decide(&request).allowed);
    assert!(engine.decide(&request).allowed);
    assert_eq!(hits(&engine), 0);
    assert_eq!(engine.memo.len(), 0);
}
