//! An approval is bound to what the statement means, not only to its text: the parameter
//! values it was approved with, the `search_path` and role it resolved in, and the relation
//! each name resolved to. The penetration test re-ran an approved
//! `DELETE FROM canary WHERE id = $1` with another value, and re-ran an approved DELETE after
//! changing `search_path`; both deleted rows nobody approved. Here each variation is held
//! again under a new approval, while the approved one runs once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::raw::{Batch, Msg, Raw, command_tags, errors};
use support::{Gateway, Options, TestDb};

async fn setup() -> (TestDb, Gateway, tokio_postgres::Client) {
    let db = TestDb::create().await;
    let direct = db.direct().await;
    direct
        .batch_execute(
            "CREATE TABLE canary (id int PRIMARY KEY);
             INSERT INTO canary SELECT generate_series(1, 20);
             CREATE SCHEMA shadow;
             CREATE TABLE shadow.canary (id int PRIMARY KEY);
             INSERT INTO shadow.canary SELECT generate_series(1, 20);",
        )
        .await
        .unwrap();
    // Writers may also create temporary tables here, to shadow a relation.
    let policy = format!(
        "{}\n@id(\"writers-temp-tables\")\npermit (principal in Gatehouse::Group::\"writers\", \
         action == Gatehouse::Action::\"sql:ddl\", resource) \
         when {{ context has statement && (context.statement like \"CREATE TEMP TABLE *\" || context.statement like \"DROP TABLE pg_temp.*\") }};\n",
        support::quickstart_policy()
    );
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            policy: Some(policy),
            ..Options::raw_wire_with_short_approval_wait()
        },
    );
    (db, gateway, direct)
}

/// The approval id a hold's NOTICE names, if the statement was held.
fn held(answer: &[Msg]) -> Option<String> {
    answer.iter().find_map(|m| {
        let detail = m.field(b'D')?;
        (m.tag == b'N')
            .then(|| {
                detail
                    .lines()
                    .find_map(|l| l.strip_prefix("approval_id: "))
                    .map(str::to_owned)
            })
            .flatten()
    })
}

fn approve(gateway: &Gateway, admin: &str, id: &str) {
    let output = gateway.cli_as(admin, &["approvals", "approve", id]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn ids(direct: &tokio_postgres::Client, table: &str) -> Vec<i32> {
    direct
        .query(&format!("SELECT id FROM {table} ORDER BY id"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn delete_with(id: &str) -> Batch {
    Batch::new()
        .parse("", "DELETE FROM canary WHERE id = $1")
        .bind_params("", "", &[id])
        .execute("", 0)
        .sync()
}

#[tokio::test]
async fn an_approval_for_one_parameter_value_does_not_run_another() {
    let (_db, gateway, direct) = setup().await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let mut raw = Raw::connect(&gateway, "wes", &writer).await;

    let answer = raw.round_trip(delete_with("11")).await;
    let first = held(&answer).expect("the DELETE is held");
    approve(&gateway, &admin, &first);
    // The reviewer saw the value.
    let shown = gateway.cli(&["approvals", "show", &first]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("$1 = 11"),
        "{}",
        String::from_utf8_lossy(&shown.stdout)
    );

    // Another value: held again, under a new approval, and nothing deleted.
    let answer = raw.round_trip(delete_with("12")).await;
    let second = held(&answer).expect("another value needs another approval");
    assert_ne!(second, first);
    assert!(ids(&direct, "canary").await.contains(&12));

    // The approved value runs, once.
    let answer = raw.round_trip(delete_with("11")).await;
    assert_eq!(command_tags(&answer), ["DELETE 1"], "{answer:?}");
    assert!(!ids(&direct, "canary").await.contains(&11));
    assert!(ids(&direct, "canary").await.contains(&12));

    // The audit log has the parameters with the statement.
    let events = gateway.audit_events();
    assert!(events.iter().any(|e| e["kind"] == "statement"
        && e["decision"] == "allow"
        && e["context"]["parameters"][0] == "11"));
}

#[tokio::test]
async fn an_approval_binds_to_the_search_path_and_the_relation_the_name_resolved_to() {
    let (_db, gateway, direct) = setup().await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let mut raw = Raw::connect(&gateway, "wes", &writer).await;
    let delete = "DELETE FROM canary WHERE id = 3";

    // Approved while `canary` meant shadow.canary...
    raw.round_trip(Batch::new().query("SET search_path = shadow"))
        .await;
    let answer = raw.round_trip(Batch::new().query(delete)).await;
    let approved = held(&answer).expect("the DELETE is held");
    approve(&gateway, &admin, &approved);
    let shown = String::from_utf8_lossy(&gateway.cli(&["approvals", "show", &approved]).stdout)
        .into_owned();
    assert!(shown.contains("search_path = shadow"), "{shown}");

    // ... it does not run once `canary` means public.canary.
    raw.round_trip(Batch::new().query("SET search_path = public"))
        .await;
    let answer = raw.round_trip(Batch::new().query(delete)).await;
    let again = held(&answer).expect("another search_path needs another approval");
    assert_ne!(again, approved);
    assert!(ids(&direct, "public.canary").await.contains(&3));

    // A temporary table shadows the name without any search_path change: held again too.
    raw.round_trip(Batch::new().query("SET search_path = shadow"))
        .await;
    let created = raw
        .round_trip(Batch::new().query("CREATE TEMP TABLE canary (id int)"))
        .await;
    assert!(errors(&created).is_empty(), "{created:?}");
    let answer = raw.round_trip(Batch::new().query(delete)).await;
    assert!(held(&answer).is_some(), "{answer:?}");
    assert!(ids(&direct, "shadow.canary").await.contains(&3));
    let dropped = raw
        .round_trip(Batch::new().query("DROP TABLE pg_temp.canary"))
        .await;
    assert!(errors(&dropped).is_empty(), "{dropped:?}");

    // In the state it was approved in, it runs.
    let answer = raw.round_trip(Batch::new().query(delete)).await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    assert_eq!(command_tags(&answer), ["DELETE 1"]);
    assert!(!ids(&direct, "shadow.canary").await.contains(&3));
    assert!(ids(&direct, "public.canary").await.contains(&3));
}
