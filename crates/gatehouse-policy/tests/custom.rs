//! Custom policies see the request: context attributes (tables, functions, address, time),
//! resource and principal attributes, and the action groups all reach Cedar.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{NOW, connection, decide, engine, identity, sql, statement};
use gatehouse_core::{Action, IdentityKind, SqlKind};
use gatehouse_policy::PolicyRequest;

const DEV_ONLY: &str = r#"
@id("dev-is-open")
permit (principal, action, resource)
when { resource.environment == "dev" };

@id("no-salaries")
forbid (principal, action in Gatehouse::Action::"sql:any", resource)
when { context.tables.contains("salaries") };

@id("no-sleeping")
forbid (principal, action in Gatehouse::Action::"sql:any", resource)
when { context.functions.contains("pg_sleep") };
"#;

#[test]
fn resource_environment_reaches_cedar() {
    let engine = engine(DEV_ONLY);
    let who = identity(&[]);
    let select = statement(SqlKind::Select, &["public.orders"], &[], &[]);
    let dev = decide(&engine, &who, &connection("dev"), &select);
    assert!(dev.allowed, "{dev:?}");
    assert_eq!(dev.determining_policies, ["dev-is-open"]);
    let prod = decide(&engine, &who, &connection("prod"), &select);
    assert!(!prod.allowed);
    assert!(prod.determining_policies.is_empty());
}

#[test]
fn tables_include_reads_and_writes() {
    let engine = engine(DEV_ONLY);
    let (who, dev) = (identity(&[]), connection("dev"));
    let read = statement(SqlKind::Select, &["salaries"], &[], &[]);
    let verdict = decide(&engine, &who, &dev, &read);
    assert!(!verdict.allowed);
    assert_eq!(verdict.determining_policies, ["no-salaries"]);
    let write = statement(SqlKind::Insert, &["orders"], &["salaries"], &[]);
    assert_eq!(
        decide(&engine, &who, &dev, &write).determining_policies,
        ["no-salaries"]
    );
}

#[test]
fn functions_reach_cedar_and_every_forbid_is_reported() {
    let engine = engine(DEV_ONLY);
    let (who, dev) = (identity(&[]), connection("dev"));
    let sleepy = statement(SqlKind::Select, &["salaries"], &[], &["pg_sleep"]);
    let verdict = decide(&engine, &who, &dev, &sleepy);
    assert!(!verdict.allowed);
    assert_eq!(verdict.determining_policies, ["no-salaries", "no-sleeping"]);
    let fine = statement(SqlKind::Select, &["orders"], &[], &["now"]);
    assert!(decide(&engine, &who, &dev, &fine).allowed);
}

#[test]
fn connect_carries_only_the_connect_context() {
    let engine = engine(DEV_ONLY);
    let verdict = decide(
        &engine,
        &identity(&[]),
        &connection("dev"),
        &Action::Connect,
    );
    assert!(verdict.allowed, "{verdict:?}");
    assert_eq!(verdict.determining_policies, ["dev-is-open"]);
}

#[test]
fn principal_address_time_and_action_groups_reach_cedar() {
    let engine = engine(
        r#"
        @id("office-writers")
        permit (principal in Gatehouse::Group::"writers", action in Gatehouse::Action::"sql:write", resource)
        when {
          context.source_address.isInRange(ip("10.0.0.0/8")) &&
          context.hour >= 8 && context.hour < 23 &&
          context.now > 0 &&
          resource.tags.contains("team-a") &&
          resource.kind == "postgres" &&
          context.writes.contains("orders") &&
          context.statement like "*from*" &&
          context.fingerprint != ""
        };

        @id("bots-for-bob")
        permit (principal, action == Gatehouse::Action::"connect", resource == Gatehouse::Connection::"prod-db")
        when { principal.kind == "machine" && principal.acting_for.contains("bob") };
        "#,
    );
    let writer = identity(&["writers"]);
    let db = connection("prod");
    let insert = statement(SqlKind::Insert, &[], &["orders"], &[]);
    let verdict = decide(&engine, &writer, &db, &insert);
    assert!(verdict.allowed, "{verdict:?}");

    // Not a write action: no grant.
    assert!(
        !decide(
            &engine,
            &writer,
            &db,
            &statement(SqlKind::Select, &[], &["orders"], &[])
        )
        .allowed
    );

    let request = |address: Option<&str>, now: i64| PolicyRequest {
        identity: &writer,
        connection: &db,
        action: &insert,
        source_address: address.map(|address| address.parse().unwrap()),
        now_unix_seconds: now,
    };
    // Outside the office range, or unknown (0.0.0.0): denied.
    assert!(!engine.decide(&request(Some("192.168.1.1"), NOW)).allowed);
    assert!(!engine.decide(&request(None, NOW)).allowed);
    // 2023-11-14T23:13:20Z is past 23h UTC: denied.
    assert!(
        !engine
            .decide(&request(Some("10.1.1.1"), NOW + 3_600))
            .allowed
    );

    let mut bot = identity(&[]);
    bot.kind = IdentityKind::Machine;
    assert!(!decide(&engine, &bot, &db, &Action::Connect).allowed);
    bot.acting_for = vec!["bob".to_owned()];
    let verdict = decide(&engine, &bot, &db, &Action::Connect);
    assert!(verdict.allowed, "{verdict:?}");
    assert_eq!(verdict.determining_policies, ["bots-for-bob"]);
    assert!(!decide(&engine, &bot, &connection("dev"), &Action::Connect).allowed);
}

#[test]
fn ipv6_addresses_reach_cedar() {
    let engine = engine(
        r#"permit (principal, action, resource)
           when { context.source_address.isInRange(ip("fd00::/8")) };"#,
    );
    let (who, db) = (identity(&[]), connection("prod"));
    let at = |address: &str| PolicyRequest {
        identity: &who,
        connection: &db,
        action: &Action::Connect,
        source_address: Some(address.parse().unwrap()),
        now_unix_seconds: NOW,
    };
    assert!(engine.decide(&at("fd12::1")).allowed);
    assert!(!engine.decide(&at("2001:db8::1")).allowed);
}

#[test]
fn evaluation_error_denies_even_when_a_permit_matches() {
    // Validation cannot see that `now * 10^10` overflows; Cedar skips the erroring forbid and
    // would allow, gatehouse denies.
    let engine = engine(
        r#"
        @id("everyone")
        permit (principal, action, resource);

        @id("overflows")
        forbid (principal, action, resource) when { context.now * 10000000000 > 0 };
        "#,
    );
    let verdict = decide(
        &engine,
        &identity(&[]),
        &connection("dev"),
        &sql(SqlKind::Select),
    );
    assert!(!verdict.allowed, "{verdict:?}");
    assert!(verdict.determining_policies.is_empty(), "{verdict:?}");
    assert_eq!(verdict.errors.len(), 1, "{verdict:?}");
    assert!(verdict.errors[0].contains("overflows"), "{verdict:?}");
    assert!(verdict.errors[0].contains("overflow"), "{verdict:?}");
}

#[test]
fn policies_without_id_are_named_by_file_and_line() {
    let engine = engine(
        "// a comment\npermit (principal, action, resource);\n\n  @reviewed(\"dba\")\nforbid (principal, action == Gatehouse::Action::\"sql:ddl\", resource);\n",
    );
    assert_eq!(engine.policy_ids(), ["test.cedar:2", "test.cedar:4"]);
    let verdict = decide(
        &engine,
        &identity(&[]),
        &connection("dev"),
        &sql(SqlKind::Ddl),
    );
    assert_eq!(verdict.determining_policies, ["test.cedar:4"]);
}

#[test]
fn annotations_are_kept() {
    let engine = engine(
        r#"@id("ddl-needs-approval") @approval("dba") @reviewed
           permit (principal, action == Gatehouse::Action::"sql:ddl", resource);"#,
    );
    let annotations = engine.annotations("ddl-needs-approval").unwrap();
    assert_eq!(annotations.get("approval").map(String::as_str), Some("dba"));
    assert_eq!(
        annotations.get("id").map(String::as_str),
        Some("ddl-needs-approval")
    );
    assert_eq!(annotations.get("reviewed").map(String::as_str), Some(""));
    assert!(engine.annotations("nope").is_none());
}

#[test]
fn only_actions_in_an_approval_policys_scope_may_be_held() {
    let engine = engine(
        r#"@id("ddl-needs-approval") @approval("dba")
           permit (principal, action == Gatehouse::Action::"sql:ddl", resource);
           @id("reads") permit (principal, action == Gatehouse::Action::"sql:select", resource);"#,
    );
    assert!(engine.may_hold("sql:ddl"));
    assert!(!engine.may_hold("sql:select"));
    assert!(!engine.may_hold("connect"));
    // An action the schema does not know is not claimed to be safe from holds.
    assert!(engine.may_hold("sql:nonsense"));
    let held = decide(
        &engine,
        &identity(&[]),
        &connection("dev"),
        &sql(SqlKind::Ddl),
    );
    assert!(held.hold.is_some());
}

#[test]
fn ids_keep_load_order_across_files() {
    let engine = gatehouse_policy::PolicyEngine::from_sources(&[
        ("b.cedar".to_owned(), "@id(\"z\") permit (principal, action, resource);".to_owned()),
        ("a.cedar".to_owned(), "@id(\"y\") permit (principal, action, resource);\npermit (principal, action, resource);".to_owned()),
    ], &common::sql_schema())
    .unwrap();
    assert_eq!(engine.policy_ids(), ["z", "y", "a.cedar:2"]);
    let verdict = decide(
        &engine,
        &identity(&[]),
        &connection("dev"),
        &Action::Connect,
    );
    assert_eq!(verdict.determining_policies, ["z", "y", "a.cedar:2"]);
}

#[test]
fn version_follows_the_text() {
    let a = engine("permit (principal, action, resource);");
    let same = engine("permit (principal, action, resource);");
    let changed = engine("permit (principal, action == Gatehouse::Action::\"connect\", resource);");
    assert_eq!(a.version(), same.version());
    assert_ne!(a.version(), changed.version());
    assert_eq!(a.version().len(), 16);
    assert!(a.version().chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn empty_policy_set_denies_everything() {
    let engine = gatehouse_policy::PolicyEngine::from_sources(&[], &common::sql_schema()).unwrap();
    assert!(engine.policy_ids().is_empty());
    let verdict = decide(
        &engine,
        &identity(&["admins"]),
        &connection("dev"),
        &Action::Connect,
    );
    assert!(!verdict.allowed);
}

#[test]
fn same_subject_with_other_groups_or_connection_is_decided_afresh() {
    // Entity sets are cached per thread; the cache must never answer for a different request.
    let engine = engine(
        r#"permit (principal in Gatehouse::Group::"readers", action, resource)
           when { resource.environment == "dev" && principal.kind == "human" };"#,
    );
    let select = sql(SqlKind::Select);
    let mut ana = identity(&["readers"]);
    let dev = connection("dev");
    for _ in 0..3 {
        assert!(decide(&engine, &ana, &dev, &select).allowed);
    }
    ana.groups = vec!["writers".to_owned()];
    assert!(!decide(&engine, &ana, &dev, &select).allowed);
    ana.groups = vec!["readers".to_owned()];
    ana.kind = IdentityKind::Machine;
    assert!(!decide(&engine, &ana, &dev, &select).allowed);
    ana.kind = IdentityKind::Human;
    let mut renamed = dev.clone();
    renamed.environment = "prod".to_owned();
    assert!(!decide(&engine, &ana, &renamed, &select).allowed);
    assert!(decide(&engine, &ana, &dev, &select).allowed);
    // Many distinct identities (more than the cache holds), then the first again.
    for n in 0..200 {
        let mut other = identity(&[]);
        other.subject = format!("user-{n}");
        assert!(!decide(&engine, &other, &dev, &select).allowed);
    }
    assert!(decide(&engine, &ana, &dev, &select).allowed);
}
