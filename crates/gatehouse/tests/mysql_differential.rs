//! Differential fuzzing of the MySQL adapter against the machine's MariaDB: random and mutated
//! COM_QUERY messages from an identity that may read, set session state and insert go through
//! the real `gatehouse` binary, and after every case MariaDB's general query log (to the table
//! `mysql.general_log`, read as root) is compared with gatehouse's audit log: every message the
//! server received was sent by the client, audited and allowed statement by statement, the
//! server ran as many statements as gatehouse decided, nothing denied ran, the canary and the
//! trap are untouched, the gateway is alive and its audit chain verifies. Findings are
//! minimized and saved in `fuzz/corpus/mysql_differential/`, replayed first by every run. See
//! RELIABILITY.md ("Differential fuzzing of the MySQL adapter").
//!
//! `MYSQL_DIFF_FUZZ_SEED` replays a run's random cases; `MYSQL_DIFF_FUZZ_CASES` /
//! `MYSQL_DIFF_FUZZ_SECONDS` set the budget (`MYSQL_DIFF_FUZZ_CASES=0`: the corpus only);
//! `MYSQL_DIFF_FUZZ_CORPUS` names another corpus directory; `MYSQL_DIFF_FUZZ_VERBOSE` prints
//! every case.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod mysqlhost;
mod support;

#[path = "support/mysql_differential/mod.rs"]
mod mysql_differential;

use mysql_differential::{Budget, fuzz};

fn fuzz_and_judge(budget: Budget) {
    let report = fuzz(budget);
    println!("{}", report.summary);
    assert!(
        report.findings.is_empty(),
        "{}\n\n{}",
        report.findings.join("\n\n"),
        report.summary
    );
}

/// The CI run: the corpus, then 30 cases (well under a minute on two cores).
#[test]
fn mariadb_runs_only_what_gatehouse_allowed_and_recorded() {
    fuzz_and_judge(Budget::from_env(Some(30), None));
}

/// The long run `scripts/fuzz.sh` starts: the corpus, then cases until
/// `MYSQL_DIFF_FUZZ_SECONDS` (default 600) have passed.
#[test]
#[ignore = "long-running; scripts/fuzz.sh runs it with a time budget"]
fn mysql_differential_fuzzing_for_a_time_budget() {
    fuzz_and_judge(Budget::from_env(None, Some(600)));
}

// ---------------------------------------------------------------------------------------------
// The harness's own parts, without a server: if these are wrong, the fuzzer sees nothing.
// ---------------------------------------------------------------------------------------------

use mysql_differential::case::{format_case, parse_case};
use mysql_differential::generate::{Rng, random_case};
use mysql_differential::oracle::{Answer, Audited, Evidence, Logged, Violation, judge};

#[test]
fn every_message_survives_the_corpus_file_format() {
    let mut rng = Rng::new(7);
    let mut messages = vec![
        "SELECT 'a\\'; -- \n\"b\"\0 /*! x */".to_owned(),
        "SELECT `c``d`\r\n# e".to_owned(),
    ];
    for _ in 0..20 {
        messages.extend(random_case(&mut rng));
    }
    let text = format_case(&messages);
    assert_eq!(parse_case(&text).unwrap(), messages, "{text}");
    assert_eq!(
        parse_case("# a comment\n\nquery \"SELECT 1\"\n").unwrap(),
        ["SELECT 1"]
    );
    assert!(parse_case("launch \"missiles\"").is_err());
}

fn answer(ok: bool, results: usize, message: Option<&str>) -> Answer {
    Answer {
        ok,
        code: None,
        message: message.map(str::to_owned),
        results,
    }
}

fn audited(text: &str, action: &str, allowed: bool) -> Audited {
    Audited {
        text: text.to_owned(),
        action: action.to_owned(),
        allowed,
    }
}

fn query(text: &str) -> Logged {
    Logged {
        thread: 9,
        command: "Query".to_owned(),
        text: text.to_owned(),
    }
}

#[test]
fn the_oracle_accounts_for_every_message_the_server_ran() {
    let sent: Vec<String> = [
        "SELECT 'start'",
        "SELECT 1; INSERT INTO scratch VALUES (1)",
        "DELETE FROM canary",
        "PREPARE p FROM 'SELECT ?'",
        "SELECT 'end'",
    ]
    .map(str::to_owned)
    .to_vec();
    let answers = [
        answer(true, 1, None),
        answer(true, 2, None),
        answer(false, 0, Some("gatehouse: permission denied")),
        answer(true, 1, None),
        answer(true, 1, None),
    ];
    let logged = [
        query(oracle_own()),
        query("SELECT 'start'"),
        query("SELECT 1; INSERT INTO scratch VALUES (1)"),
        query("PREPARE p FROM 'SELECT ?'"),
        Logged {
            thread: 9,
            command: "Prepare".to_owned(),
            text: "SELECT ?".to_owned(),
        },
        query("SELECT 'end'"),
    ];
    let events = [
        audited("SELECT 'start'", "sql:select", true),
        audited("SELECT 1", "sql:select", true),
        audited("INSERT INTO scratch VALUES (1)", "sql:insert", true),
        audited("DELETE FROM canary", "sql:delete", false),
        audited("PREPARE p FROM 'SELECT ?'", "sql:select", true),
        audited("SELECT 'end'", "sql:select", true),
    ];
    let clean = Evidence {
        sent: &sent,
        answers: &answers,
        logged: &logged,
        audited: &events,
        before: "canary: 1",
        after: "canary: 1",
    };
    assert_eq!(judge(&clean), []);

    // The denied DELETE ran, a message seen as one statement ran as two, a prepared text
    // nobody decided, the end marker missing, the canary changed.
    let answers = [
        answer(true, 1, None),
        answer(true, 3, None),
        answer(true, 1, None),
        answer(true, 1, None),
        answer(true, 1, None),
    ];
    let logged = [
        query("SELECT 'start'"),
        query("SELECT 1; INSERT INTO scratch VALUES (1)"),
        query("DELETE FROM canary"),
        Logged {
            thread: 9,
            command: "Prepare".to_owned(),
            text: "DELETE FROM canary".to_owned(),
        },
    ];
    let violations = judge(&Evidence {
        sent: &sent,
        answers: &answers,
        logged: &logged,
        audited: &events,
        before: "canary: 1",
        after: "canary: 0",
    });
    let signatures: Vec<String> = violations.iter().map(Violation::signature).collect();
    assert_eq!(
        signatures,
        [
            "statement-count",
            "denied-ran",
            "prepared-unaudited",
            "log-blinded",
            "state-changed"
        ],
        "{violations:#?}"
    );
}

fn oracle_own() -> &'static str {
    mysql_differential::oracle::GATEHOUSE_OWN[0]
}

#[test]
fn the_oracle_reads_what_mariadb_and_gatehouse_make_of_a_message() {
    use mysql_differential::oracle::{as_logged, assign};
    // MariaDB cuts whitespace at the start and whitespace and `;` at the end before logging.
    assert_eq!(as_logged("\n SELECT 1 ;\n;"), "SELECT 1");
    assert_eq!(as_logged("SELECT ';'"), "SELECT ';'");

    // After SET NAMES latin1 gatehouse records the client's UTF-8 as latin1 text.
    let sent = ["SET NAMES latin1", "SELECT 'é'; -- x\nUSE db", "SELECT 'é'"].map(str::to_owned);
    let events = [
        audited("SET NAMES latin1", "sql:session", true),
        audited("SELECT 'Ã©'", "sql:select", true),
        audited("-- x\nUSE db", "sql:session", true),
        audited("SELECT 'Ã©'", "sql:select", true),
    ];
    let split = assign(&sent, &events);
    assert_eq!(
        split.iter().map(Vec::len).collect::<Vec<_>>(),
        [1, 2, 1],
        "{split:#?}"
    );

    // A session gatehouse ended on purpose has no end marker to log; EXECUTE IMMEDIATE's
    // Prepare row is the literal of an allowed statement.
    let sent = [
        "SELECT 'start'",
        "EXECUTE IMMEDIATE 'SELECT ''x'''",
        "SET sql_mode = 'ORACLE'",
        "SELECT 'end'",
    ]
    .map(str::to_owned);
    let answers = [
        answer(true, 1, None),
        answer(true, 1, None),
        answer(
            false,
            0,
            Some("gatehouse ended the session: the server reports sql_mode ORACLE"),
        ),
        answer(
            false,
            0,
            Some("Lost connection to MySQL server during query"),
        ),
    ];
    let logged = [
        query("SELECT 'start'"),
        query("EXECUTE IMMEDIATE 'SELECT ''x'''"),
        Logged {
            thread: 9,
            command: "Prepare".to_owned(),
            text: "SELECT 'x'".to_owned(),
        },
        query("SET sql_mode = 'ORACLE'"),
    ];
    let events = [
        audited("SELECT 'start'", "sql:select", true),
        audited("EXECUTE IMMEDIATE 'SELECT ''x'''", "sql:select", true),
        audited("SET sql_mode = 'ORACLE'", "sql:session", true),
    ];
    let evidence = Evidence {
        sent: &sent,
        answers: &answers,
        logged: &logged,
        audited: &events,
        before: "",
        after: "",
    };
    assert_eq!(judge(&evidence), []);
}

#[test]
fn a_comment_only_tail_is_one_more_answer_and_nothing_else_is() {
    use mysql_differential::oracle::{comment_tail, comments_only};
    assert!(comments_only(" -- x\n# y\n/* z */ "));
    assert!(!comments_only("/*! SELECT 1 */"));
    assert!(!comments_only("--x"));
    assert!(!comments_only("-- x\nDELETE FROM canary"));
    let events = [audited(
        "SELECT _binary'\\'; DELETE FROM canary'",
        "sql:select",
        true,
    )];
    assert!(comment_tail(
        "SELECT _binary'\\'; DELETE FROM canary'; -- '",
        &events
    ));
    assert!(!comment_tail(
        "SELECT _binary'\\'; DELETE FROM canary';",
        &events
    ));
    assert!(!comment_tail(
        "SELECT _binary'\\'; DELETE FROM canary'; /*!DELETE FROM canary*/",
        &events
    ));
}

#[test]
fn a_denied_statement_closes_its_message() {
    use mysql_differential::oracle::assign;
    // Gatehouse records nothing after the DELETE it denies; the SELECT recorded next is the
    // next message's, although the first message holds the same text further on.
    let trick = "SELECT 0x5c, '縗\\'; DELETE FROM canary; -- '";
    let sent = [
        format!("SELECT 1; DELETE FROM canary; {trick}"),
        trick.to_owned(),
    ];
    let events = [
        audited("SELECT 1", "sql:select", true),
        audited("DELETE FROM canary", "sql:delete", false),
        audited(trick, "sql:select", true),
    ];
    let split = assign(&sent, &events);
    assert_eq!(
        split.iter().map(Vec::len).collect::<Vec<_>>(),
        [2, 1],
        "{split:#?}"
    );
}
