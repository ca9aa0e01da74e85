//! The shipped quickstart policy grants exactly what it says, exhaustively over groups and
//! statement kinds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{connection, decide, identity, sql};
use gatehouse_core::{Action, SqlKind, SqlStatement};
use gatehouse_policy::{PolicyEngine, QUICKSTART_POLICY};

fn quickstart() -> PolicyEngine {
    PolicyEngine::from_sources(
        &[("quickstart.cedar".to_owned(), QUICKSTART_POLICY.to_owned())],
        &common::sql_schema(),
    )
    .unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn quickstart_file_loads_from_disk_with_its_ids_in_order() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/quickstart.cedar");
    let engine =
        PolicyEngine::load_files(std::slice::from_ref(&path), &common::sql_schema()).unwrap();
    assert_eq!(
        engine.policy_ids(),
        [
            "readers-read",
            "writers-write",
            "writers-http-deletes-need-approval",
            "writers-k8s-deletes-need-approval",
            "writers-update",
            "writers-risky-writes-need-approval",
            "admins-all",
            "admins-see-unmasked",
            "machines-see-masked",
            "nobody-runs-unknown-sql",
            "nobody-sends-unknown-k8s-requests",
            "readers-ssh-read-only-programs",
            "readers-ssh-downloads",
            "readers-scp-downloads",
            "writers-ssh-programs",
            "writers-ssh-transfers",
            "writers-ssh-forwards-to-service-ports",
            "writers-sudo-needs-approval",
            "admins-ssh-commands",
            "admins-ssh-shells-need-approval"
        ]
    );
    assert!(engine.warnings().is_empty(), "{:?}", engine.warnings());
    // The version covers names and texts: the same text under the same name, same version.
    let same = PolicyEngine::from_sources(
        &[(path.display().to_string(), QUICKSTART_POLICY.to_owned())],
        &common::sql_schema(),
    )
    .unwrap();
    assert_eq!(engine.version(), same.version());
    assert_eq!(engine.version().len(), 16);
}

/// Which kinds each group may run, per the quickstart's comments.
fn granted(group: &str, kind: SqlKind) -> Option<&'static str> {
    use SqlKind::*;
    match (group, kind) {
        (_, Unknown) => None,
        ("readers", Select | Session) => Some("readers-read"),
        ("writers", Select | Session | Insert) => Some("writers-write"),
        ("writers", Update) => Some("writers-update"),
        ("writers", Delete) => Some("writers-risky-writes-need-approval"),
        ("admins", _) => Some("admins-all"),
        _ => None,
    }
}

#[test]
fn every_group_and_statement_kind() {
    let engine = quickstart();
    let db = connection("prod");
    for group in ["readers", "writers", "admins", "strangers"] {
        let who = identity(&[group]);
        let verdict = decide(&engine, &who, &db, &Action::Connect);
        let may_connect = group != "strangers";
        assert_eq!(verdict.allowed, may_connect, "{group} connect: {verdict:?}");
        assert!(verdict.errors.is_empty());

        for kind in SqlKind::ALL {
            let verdict = decide(&engine, &who, &db, &sql(kind));
            assert!(verdict.errors.is_empty(), "{verdict:?}");
            match granted(group, kind) {
                Some(policy) if engine.approval_requirement(policy).is_some() => {
                    assert!(!verdict.allowed, "{group} {kind:?}: {verdict:?}");
                    assert_eq!(verdict.hold.as_ref().unwrap().group, "admins");
                    assert_eq!(verdict.determining_policies, [policy], "{group} {kind:?}");
                }
                Some(policy) => {
                    assert!(verdict.allowed, "{group} {kind:?}: {verdict:?}");
                    assert_eq!(verdict.determining_policies, [policy], "{group} {kind:?}");
                }
                None if kind == SqlKind::Unknown => {
                    assert!(!verdict.allowed, "{group} {kind:?}");
                    assert_eq!(
                        verdict.determining_policies,
                        ["nobody-runs-unknown-sql"],
                        "{group} {kind:?}"
                    );
                }
                None => {
                    assert!(!verdict.allowed, "{group} {kind:?}");
                    assert!(
                        verdict.determining_policies.is_empty(),
                        "{group} {kind:?} should be a default deny: {verdict:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn readers_read_but_do_not_write() {
    let engine = quickstart();
    let (reader, db) = (identity(&["readers"]), connection("prod"));
    for kind in [SqlKind::Select, SqlKind::Session] {
        assert!(decide(&engine, &reader, &db, &sql(kind)).allowed);
    }
    for kind in [
        SqlKind::Insert,
        SqlKind::Update,
        SqlKind::Delete,
        SqlKind::Ddl,
        SqlKind::Dcl,
        SqlKind::Admin,
    ] {
        let verdict = decide(&engine, &reader, &db, &sql(kind));
        assert!(!verdict.allowed);
        assert!(verdict.determining_policies.is_empty());
    }
}

#[test]
fn writers_write_but_do_not_change_the_schema() {
    let engine = quickstart();
    let (writer, db) = (identity(&["writers"]), connection("prod"));
    for kind in [SqlKind::Insert, SqlKind::Update] {
        assert!(decide(&engine, &writer, &db, &sql(kind)).allowed);
    }
    assert!(!decide(&engine, &writer, &db, &sql(SqlKind::Ddl)).allowed);
    assert!(
        decide(&engine, &writer, &db, &sql(SqlKind::Ddl))
            .hold
            .is_none(),
        "a schema change is denied, not held"
    );
}

/// Writers' deletes and every-row updates wait for an admin's approval; a forbid still wins.
#[test]
fn writers_risky_writes_are_held_for_admins() {
    let engine = quickstart();
    let (writer, db) = (identity(&["writers"]), connection("prod"));
    let every_row = |kind| {
        let mut statement = sql(kind).downcast_ref::<SqlStatement>().unwrap().clone();
        statement.all_rows = true;
        Action::of(statement)
    };
    for action in [
        sql(SqlKind::Delete),
        every_row(SqlKind::Delete),
        every_row(SqlKind::Update),
    ] {
        let verdict = decide(&engine, &writer, &db, &action);
        assert!(!verdict.allowed, "{verdict:?}");
        let need = verdict.hold.expect("held");
        assert_eq!(
            (
                need.policy.as_str(),
                need.group.as_str(),
                need.required,
                need.ttl_seconds
            ),
            ("writers-risky-writes-need-approval", "admins", 1, 900)
        );
    }
    // An admin's own delete needs nobody.
    let admin = identity(&["admins"]);
    let verdict = decide(&engine, &admin, &db, &sql(SqlKind::Delete));
    assert!(verdict.allowed && verdict.hold.is_none(), "{verdict:?}");
    // sql:unknown is forbidden even for a writer who also is in a group that could approve.
    let verdict = decide(&engine, &writer, &db, &sql(SqlKind::Unknown));
    assert!(verdict.hold.is_none() && !verdict.allowed);
}

#[test]
fn admins_do_everything_but_unknown_sql() {
    let engine = quickstart();
    let (admin, db) = (identity(&["admins"]), connection("prod"));
    for kind in [SqlKind::Ddl, SqlKind::Dcl, SqlKind::Admin] {
        assert!(decide(&engine, &admin, &db, &sql(kind)).allowed);
    }
    let verdict = decide(&engine, &admin, &db, &sql(SqlKind::Unknown));
    assert!(!verdict.allowed);
    assert_eq!(verdict.determining_policies, ["nobody-runs-unknown-sql"]);
}

#[test]
fn several_groups_report_every_permitting_policy_in_load_order() {
    let engine = quickstart();
    let who = identity(&["admins", "readers"]);
    let verdict = decide(&engine, &who, &connection("prod"), &sql(SqlKind::Select));
    assert!(verdict.allowed);
    assert_eq!(verdict.determining_policies, ["readers-read", "admins-all"]);
}

#[test]
fn no_group_cannot_even_connect() {
    let engine = quickstart();
    let verdict = decide(
        &engine,
        &identity(&[]),
        &connection("dev"),
        &Action::Connect,
    );
    assert!(!verdict.allowed);
    assert!(verdict.determining_policies.is_empty());
    assert!(verdict.errors.is_empty());
}

#[test]
fn unknown_source_address_still_decides() {
    let engine = quickstart();
    let (reader, db) = (identity(&["readers"]), connection("prod"));
    let verdict = engine.decide(&gatehouse_policy::PolicyRequest {
        identity: &reader,
        connection: &db,
        action: &Action::Connect,
        source_address: None,
        now_unix_seconds: -5,
    });
    assert!(verdict.allowed, "{verdict:?}");
}

#[test]
fn verdict_serializes_for_the_audit_log() {
    let engine = quickstart();
    let verdict = decide(
        &engine,
        &identity(&["readers"]),
        &connection("prod"),
        &Action::Connect,
    );
    assert_eq!(
        serde_json::to_value(&verdict).unwrap(),
        serde_json::json!({
            "allowed": true,
            "determining_policies": ["readers-read"],
            "errors": []
        })
    );
}

#[test]
fn only_human_admins_see_unmasked_data() {
    let engine = quickstart();
    let db = connection("prod");
    let admin = decide(&engine, &identity(&["admins"]), &db, &Action::ViewUnmasked);
    assert!(admin.allowed);
    assert_eq!(admin.determining_policies, ["admins-see-unmasked"]);
    let reader = decide(&engine, &identity(&["readers"]), &db, &Action::ViewUnmasked);
    assert!(!reader.allowed && reader.determining_policies.is_empty());
    let mut robot = identity(&["admins"]);
    robot.kind = gatehouse_core::IdentityKind::Machine;
    let machine = decide(&engine, &robot, &db, &Action::ViewUnmasked);
    assert!(!machine.allowed);
    assert_eq!(machine.determining_policies, ["machines-see-masked"]);
}
