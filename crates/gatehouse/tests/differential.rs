//! Differential fuzzing of the PostgreSQL adapter against a real server: random and mutated
//! frontend message sequences from a reader go through the real `gatehouse` binary to a
//! throwaway PostgreSQL 15 cluster, and after every case the server's own statement log (which
//! the session cannot switch off without the oracle noticing) is compared with gatehouse's
//! audit log: everything the server ran must have been allowed and recorded with the same
//! text, nothing denied may have run, no table may have been written, nothing outside the
//! session may have changed, the gateway must be alive and its audit chain must verify.
//! Findings are minimized and saved in `fuzz/corpus/pg_differential/`, replayed first by
//! every run. See RELIABILITY.md ("Differential fuzzing of the PostgreSQL adapter").
//!
//! `DIFF_FUZZ_SEED` replays a run's random cases; `DIFF_FUZZ_CASES` / `DIFF_FUZZ_SECONDS` set
//! the budget (`DIFF_FUZZ_CASES=0`: the corpus only); `DIFF_FUZZ_CORPUS` names another corpus
//! directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

#[path = "support/differential/mod.rs"]
mod differential;

use differential::{Budget, fuzz};

async fn fuzz_and_judge(budget: Budget) {
    let report = fuzz(budget).await;
    println!("{}", report.summary);
    assert!(
        report.findings.is_empty(),
        "{}\n\n{}",
        report.findings.join("\n\n"),
        report.summary
    );
}

/// The CI run: the corpus, then a few hundred cases (well under a minute on two cores).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_only_what_gatehouse_allowed_and_recorded() {
    fuzz_and_judge(Budget::from_env(Some(300), None)).await;
}

/// The long run `scripts/fuzz.sh` starts: the corpus, then cases until `DIFF_FUZZ_SECONDS`
/// (default 600) have passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long-running; scripts/fuzz.sh runs it with a time budget"]
async fn differential_fuzzing_for_a_time_budget() {
    fuzz_and_judge(Budget::from_env(None, Some(600))).await;
}

// ---------------------------------------------------------------------------------------------
// The harness's own parts, without a server: if these are wrong, the fuzzer sees nothing.
// ---------------------------------------------------------------------------------------------

use differential::case::{Step, Target, format_case, parse_case};
use differential::oracle::{
    Audited, Evidence, Logged, Violation, classify_record, judge, oracle_settings_changed,
    parse_csvlog,
};

#[test]
fn every_step_survives_the_corpus_file_format() {
    let steps = vec![
        Step::Query("SELECT 'it''s'; SELECT 2".to_owned()),
        Step::Parse {
            name: String::new(),
            sql: "SELECT $1::int".to_owned(),
            types: vec![23],
        },
        Step::Parse {
            name: "s1".to_owned(),
            sql: r"SELECT 'a\' -- \n".to_owned(),
            types: Vec::new(),
        },
        Step::Bind {
            portal: "p1".to_owned(),
            statement: String::new(),
            params: vec![Some("7".to_owned()), None],
        },
        Step::Bind {
            portal: String::new(),
            statement: "s1".to_owned(),
            params: Vec::new(),
        },
        Step::Describe {
            target: Target::Portal,
            name: "p1".to_owned(),
        },
        Step::Execute {
            portal: String::new(),
            max_rows: 2,
        },
        Step::Close {
            target: Target::Statement,
            name: "s1".to_owned(),
        },
        Step::Sync,
        Step::Flush,
        Step::FunctionCall {
            function: "purge_canary(integer)".to_owned(),
            args: vec![Some("5".to_owned())],
        },
        Step::CopyData("1\tone\n".to_owned()),
        Step::CopyDone,
        Step::CopyFail("gave up".to_owned()),
        Step::Wait,
        Step::Cancel,
        Step::Terminate,
    ];
    let text = format_case(&steps);
    assert_eq!(parse_case(&text).unwrap(), steps, "{text}");
    assert_eq!(
        parse_case("# a comment\n\nsync\n  wait  \n").unwrap(),
        [Step::Sync, Step::Wait]
    );
    assert!(parse_case("launch \"missiles\"").is_err());
}

#[test]
fn the_oracle_reads_csvlog_records_whole_and_leaves_a_partial_one() {
    let log = "2024-01-01 00:00:00.000 UTC,\"postgres\",\"differential\",4242,\"127.0.0.1:5\",s,1,\"SELECT\",t,3/4,0,LOG,00000,\"statement: SELECT 'a, \"\"b\"\"'\nFROM x\",,,,,,,,,\"gh-diff\",\"client backend\",,0\n\
               2024-01-01 00:00:00.001 UTC,\"postgres\",\"differential\",4242,\"127.0.0.1:5\",s,2,\"idle\",t,3/0,0,LOG,00000,\"disconnection: session time: 0:00:00.010\"";
    let (records, used) = parse_csvlog(log.as_bytes());
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].pid, 4242);
    assert_eq!(records[0].message, "statement: SELECT 'a, \"b\"'\nFROM x");
    assert_eq!(
        &log[used..used + 10],
        "2024-01-01",
        "the partial record is left"
    );
}

#[test]
fn the_oracle_knows_the_servers_log_lines() {
    assert_eq!(
        classify_record("execute fetch from gh_1_s3/gh_1_p4: SELECT 1"),
        Logged::Extended("SELECT 1".to_owned())
    );
    assert_eq!(
        classify_record("execute <unnamed>: DELETE FROM t"),
        Logged::Extended("DELETE FROM t".to_owned())
    );
    let plan = "duration: 0.040 ms  plan:\nQuery Text: WITH d AS (DELETE FROM canary RETURNING id) SELECT id FROM d\nCTE Scan on d  (cost=1 rows=1) (actual rows=1 loops=1)\n  CTE d\n    ->  Delete on canary  (cost=1 rows=1) (actual rows=1 loops=1)";
    assert_eq!(
        classify_record(plan),
        Logged::Plan {
            query: "WITH d AS (DELETE FROM canary RETURNING id) SELECT id FROM d".to_owned(),
            modified: vec!["Delete on canary".to_owned()],
        }
    );
    let explained = "duration: 0.010 ms  plan:\nQuery Text: EXPLAIN DELETE FROM canary\nDelete on canary  (cost=0.00..1.00 rows=0 width=0)";
    assert!(
        matches!(classify_record(explained), Logged::Plan { modified, .. } if modified.is_empty()),
        "a plan that only was EXPLAINed modified nothing"
    );
}

#[test]
fn the_oracle_sees_logging_changed_however_it_is_spelt() {
    for sql in [
        "SET log_statement = 'none'",
        "set LOCAL \"log_statement\" TO DEFAULT",
        "SET U&\"log\\005fstatement\" = none",
        "RESET auto_explain.log_min_duration",
        "SELECT set_config('lc_messages', 'de_DE', false)",
        "SELECT 1; SELECT pg_catalog.set_config(current_user, 'x', true)",
    ] {
        assert!(!oracle_settings_changed(sql).is_empty(), "{sql}");
    }
    for sql in [
        "SET standard_conforming_strings = off",
        "RESET ALL",
        "SELECT 'log_statement'",
    ] {
        assert!(oracle_settings_changed(sql).is_empty(), "{sql}");
    }
}

fn audited(text: &str, action: &str, allowed: bool) -> Audited {
    Audited {
        text: text.to_owned(),
        action: action.to_owned(),
        allowed,
        ran: None,
    }
}

#[test]
fn the_oracle_accounts_for_every_statement_the_server_ran() {
    let state = "rows: 1,2\nsequence: 1/false";
    let logged = [
        Logged::Simple("SELECT 'start'".to_owned()),
        Logged::Simple("SELECT 1; SELECT 2;".to_owned()),
        Logged::Simple(format!("EXECUTE gh_refused_{}", "0a".repeat(16))),
        Logged::Extended("SELECT 3".to_owned()),
        Logged::Extended("SELECT 3".to_owned()),
        Logged::Simple("SELECT 'end'".to_owned()),
    ];
    let events = [
        audited("SELECT 'start'", "sql:select", true),
        audited("SELECT 1", "sql:select", true),
        audited("SELECT 2", "sql:select", true),
        audited("DELETE FROM canary", "sql:delete", false),
        audited("SELECT 3", "sql:select", true),
        audited("SELECT 3", "sql:select", true),
        audited("SELECT 'end'", "sql:select", true),
    ];
    let markers = ["start".to_owned(), "end".to_owned()];
    let evidence = Evidence {
        logged: &logged,
        audited: &events,
        answered_markers: &markers,
        before: state,
        after: state,
    };
    assert_eq!(judge(&evidence), []);

    // A second run of an Execute decided once, a denied statement that ran, a write that ran
    // inside a function, the end marker missing, and a changed row.
    let logged = [
        Logged::Simple("SELECT 'start'".to_owned()),
        Logged::Extended("SELECT 3".to_owned()),
        Logged::Extended("SELECT 3".to_owned()),
        Logged::Simple("DELETE FROM canary".to_owned()),
        Logged::Plan {
            query: "DELETE FROM canary WHERE id = victim".to_owned(),
            modified: vec!["Delete on canary".to_owned()],
        },
    ];
    let events = [
        audited("SELECT 'start'", "sql:select", true),
        audited("SELECT 3", "sql:select", true),
        audited("DELETE FROM canary", "sql:delete", false),
        audited("SELECT 'end'", "sql:select", true),
    ];
    let violations = judge(&Evidence {
        logged: &logged,
        audited: &events,
        answered_markers: &markers,
        before: state,
        after: "rows: 2\nsequence: 1/false",
    });
    let signatures: Vec<String> = violations.iter().map(Violation::signature).collect();
    assert_eq!(
        signatures,
        [
            "denied-ran",
            "unaudited",
            "write-nested",
            "log-blinded",
            "state-changed"
        ],
        "{violations:#?}"
    );
}
