//! Replays the bypass corpus (`tests/bypass/corpus.toml`): every way a penetration test or
//! later work got a restricted identity past policy, sent exactly as found through a raw
//! wire-protocol client, with the database checked directly after each case. A case that
//! gets through fails here with its name and finding number.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde::Deserialize;
use support::raw::{Batch, Msg, Raw, errors};
use support::{Gateway, Options, TestDb};

#[derive(Debug, Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    finding: u32,
    name: String,
    identity: String,
    defended_by: String,
    queries: Vec<String>,
    expect: Vec<String>,
}

fn corpus() -> Corpus {
    let text = std::fs::read_to_string(
        support::repo_root().join("crates/gatehouse/tests/bypass/corpus.toml"),
    )
    .unwrap();
    let corpus: Corpus = toml::from_str(&text).unwrap();
    for case in &corpus.case {
        assert_eq!(
            case.queries.len(),
            case.expect.len(),
            "case `{}`: one expectation per query",
            case.name
        );
    }
    corpus
}

/// The fixtures every case may aim at: a canary table, a sequence, a function that writes
/// and a view over it, and a schema whose `upper` would shadow the built-in.
const FIXTURES: &str = "
CREATE TABLE canary (id int PRIMARY KEY);
INSERT INTO canary SELECT generate_series(1, 10);
CREATE SEQUENCE seq1;
CREATE FUNCTION purge_canary(n int) RETURNS int LANGUAGE plpgsql AS $$
  BEGIN DELETE FROM canary WHERE id = n; RETURN n; END $$;
CREATE VIEW purge_view AS SELECT purge_canary(4) AS purged;
CREATE SCHEMA trap;
CREATE TABLE trap_hits (at timestamptz);
CREATE FUNCTION trap.upper(text) RETURNS text LANGUAGE sql AS
  $$ INSERT INTO trap_hits VALUES (now()) RETURNING 'trapped' $$;
";

/// What the database must still look like after any case.
async fn assert_nothing_changed(direct: &tokio_postgres::Client, case: &Case, baseline: &Baseline) {
    let now = Baseline::read(direct).await;
    assert_eq!(
        &now, baseline,
        "finding {} `{}` changed the database",
        case.finding, case.name
    );
}

#[derive(Debug, PartialEq, Eq)]
struct Baseline {
    canary: Vec<i32>,
    pwned_roles: i64,
    collations: i64,
    trap_hits: i64,
    sequence_called: bool,
}

impl Baseline {
    async fn read(direct: &tokio_postgres::Client) -> Baseline {
        let one = |sql: &'static str| async move { direct.query_one(sql, &[]).await.unwrap() };
        Baseline {
            canary: direct
                .query("SELECT id FROM canary ORDER BY id", &[])
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect(),
            pwned_roles: one("SELECT count(*) FROM pg_roles WHERE rolname = 'pwned'")
                .await
                .get(0),
            collations: one("SELECT count(*) FROM pg_collation").await.get(0),
            trap_hits: one("SELECT count(*) FROM trap_hits").await.get(0),
            sequence_called: one("SELECT is_called FROM seq1").await.get(0),
        }
    }
}

/// What happened to one query, as the corpus names it.
fn outcome(answer: &[Msg]) -> &'static str {
    let held = answer
        .iter()
        .any(|m| m.tag == b'N' && m.field(b'M').is_some_and(|text| text.contains("approval")));
    match errors(answer).first() {
        None => "ok",
        Some(_) if held => "held",
        Some((code, _)) if code == "42501" || code == "42601" => "refused",
        Some(_) => "error",
    }
}

async fn replay(defended_by: &str) {
    let db = TestDb::create().await;
    let direct = db.direct().await;
    direct.batch_execute(FIXTURES).await.unwrap();
    let gateway = Gateway::start_with(&db.name, Options::raw_wire_with_short_approval_wait());
    let baseline = Baseline::read(&direct).await;
    let corpus = corpus();
    let cases: Vec<&Case> = corpus
        .case
        .iter()
        .filter(|case| case.defended_by == defended_by)
        .collect();
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let token = gateway.key(&format!("tester-{}", case.finding), &[&case.identity]);
        let mut raw = Raw::connect(&gateway, &format!("tester-{}", case.finding), &token).await;
        for (query, expected) in case.queries.iter().zip(&case.expect) {
            let answer = raw.round_trip(Batch::new().query(query)).await;
            let got = outcome(&answer);
            if expected != "any" && got != expected {
                failures.push(format!(
                    "finding {} `{}`: `{query}` was {got}, expected {expected}: {:?}",
                    case.finding,
                    case.name,
                    errors(&answer)
                ));
            }
        }
        drop(raw);
        assert_nothing_changed(&direct, case, &baseline).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_classifier_stops_every_gatehouse_defended_bypass() {
    replay("gatehouse").await;
}
