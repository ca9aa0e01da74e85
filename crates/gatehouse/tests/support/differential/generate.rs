//! Cases from a seed: random message sequences built from small protocol fragments (whole
//! extended-protocol rounds; error recovery — a statement set up, a message that fails, more
//! messages the server will skip, Syncs, then the names used again —; lone messages; simple
//! queries; a setting followed by text whose meaning depends on it; COPY exchanges; fast-path
//! calls; cancel requests) with "wait for the server" points placed at random, and mutations
//! of earlier cases (corpus files). Names come from tiny pools so that statements and portals
//! are reused, replaced, closed and referenced when missing; statement texts come from a pool
//! of reads, writes (which a reader must never get to run), session and transaction control,
//! cursors, SQL-level prepared statements, COPY, errors of every stage, multi-statement
//! strings and `standard_conforming_strings` tricks.
//!
//! The generator is deterministic for a seed (its own PRNG, so seeds stay valid whatever
//! version of `rand` the workspace uses).

use super::case::{Step, Target};

/// SplitMix64: small, fast, and good enough to drive a fuzzer.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % u64::try_from(n).unwrap()).unwrap()
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An item of `(weight, item)` pairs, by weight.
    pub fn weighted<'a, T>(&mut self, items: &'a [(usize, T)]) -> &'a T {
        let total: usize = items.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        for (weight, item) in items {
            if roll < *weight {
                return item;
            }
            roll -= weight;
        }
        &items[items.len() - 1].1
    }
}

/// The seed of case `index` of a run with base seed `base`.
pub fn case_seed(base: u64, index: u64) -> u64 {
    let mut rng = Rng::new(base ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d));
    rng.next_u64()
}

/// A statement text and the parameters a Bind of it should carry.
struct Sql {
    text: &'static str,
    params: &'static [&'static str],
}

const fn sql(text: &'static str) -> Sql {
    Sql { text, params: &[] }
}

/// Reads: what a reader may run.
const READS: &[Sql] = &[
    sql("SELECT 1"),
    sql("SELECT id, note FROM canary ORDER BY id"),
    sql("SELECT count(*) FROM canary_view"),
    Sql {
        text: "SELECT note FROM canary WHERE id = $1",
        params: &["7"],
    },
    sql("SELECT g FROM generate_series(1, 4) g"),
    sql("VALUES (1), (2), (3)"),
    sql("TABLE canary_view"),
    sql("SHOW standard_conforming_strings"),
    sql("COPY canary TO STDOUT"),
    sql("COPY (SELECT id FROM canary WHERE id < 3) TO STDOUT WITH (FORMAT csv)"),
    sql("SELECT pg_sleep(0.01)"),
];

/// Writes: what a reader must never get to run.
const WRITES: &[Sql] = &[
    sql("DELETE FROM canary WHERE id = 7"),
    sql("UPDATE canary SET note = 'changed' WHERE id = 3"),
    sql("INSERT INTO canary VALUES (100, 'intruder')"),
    sql("DELETE FROM canary WHERE id = 8 RETURNING id"),
    sql("WITH gone AS (DELETE FROM canary WHERE id = 9 RETURNING id) SELECT id FROM gone"),
    Sql {
        text: "DELETE FROM canary WHERE id = $1",
        params: &["4"],
    },
    sql("DELETE FROM canary"),
    sql("TRUNCATE canary"),
    sql("DROP VIEW canary_view"),
    sql("CREATE TABLE intruder (id int)"),
    sql("CREATE ROLE intruder"),
    sql("GRANT ALL ON canary TO PUBLIC"),
    sql("SELECT nextval('canary_seq')"),
    sql("SELECT purge_canary(6)"),
    sql("SELECT * FROM canary WHERE id = 2 FOR UPDATE"),
    sql("COPY canary FROM STDIN"),
    sql("PREPARE q2 AS DELETE FROM canary WHERE id = 5"),
];

/// Transaction and session control.
const SESSION: &[Sql] = &[
    sql("BEGIN"),
    sql("COMMIT"),
    sql("ROLLBACK"),
    sql("SAVEPOINT sp"),
    sql("ROLLBACK TO SAVEPOINT sp"),
    sql("RELEASE SAVEPOINT sp"),
    sql("SET standard_conforming_strings = off"),
    sql("SET standard_conforming_strings = on"),
    sql("RESET ALL"),
    sql("DISCARD ALL"),
    sql("SET application_name = 'renamed'"),
    sql("DEALLOCATE ALL"),
    sql("LISTEN canary_channel"),
];

/// Cursors and SQL-level prepared statements.
const NAMED: &[Sql] = &[
    sql("DECLARE c1 CURSOR WITH HOLD FOR SELECT id FROM canary ORDER BY id"),
    sql("DECLARE c2 SCROLL CURSOR FOR SELECT g FROM generate_series(1, 3) g"),
    sql("FETCH 1 FROM c1"),
    sql("FETCH ALL FROM c2"),
    sql("MOVE 1 IN c1"),
    sql("CLOSE c1"),
    sql("CLOSE ALL"),
    sql("PREPARE q1 AS SELECT note FROM canary WHERE id = $1"),
    sql("EXECUTE q1(2)"),
    sql("EXECUTE q2"),
    sql("DEALLOCATE q1"),
];

/// Statements that fail: at parse, at analysis, at execution.
const ERRORS: &[Sql] = &[
    sql("SELEC 1"),
    sql("SELECT * FROM no_such_table"),
    sql("SELECT 1/0"),
    sql("SELECT 'unterminated"),
    sql(""),
    sql(";"),
];

/// Several statements in one string (simple Query only; Parse refuses them).
const MULTI: &[Sql] = &[
    sql("SELECT 1; SELECT 2"),
    sql("SELECT 1; SELECT 1/0; SELECT 2"),
    sql("BEGIN; SELECT id FROM canary WHERE id = 1; COMMIT"),
    sql("SELECT 1; DELETE FROM canary WHERE id = 5"),
    sql("SAVEPOINT sp; SELECT 1/0"),
];

/// Text that means one thing with `standard_conforming_strings` on (how gatehouse's parser
/// reads it) and another with it off: with it off, `\'` does not end the literal, so the
/// dollar quote that hid a DELETE under "on" is inside the literal, and the DELETE is a
/// statement of its own.
const BACKSLASH: &[Sql] = &[
    sql(r"SELECT 'a\' , $$' ; DELETE FROM canary WHERE id = 2; SELECT 1 -- $$"),
    sql(r"SELECT 'a\' , $$' ; DELETE FROM canary WHERE id = 2; SELECT 1 -- $$"),
    sql(r"SELECT 'it\'s'"),
];

/// Session settings that change how the server reads what follows.
const SETTINGS: &[Sql] = &[
    sql("SET standard_conforming_strings = off"),
    sql("SET standard_conforming_strings = off"),
    sql("SET standard_conforming_strings = on"),
    sql("RESET ALL"),
];

/// Switching off the server's statement log: the oracle must notice.
const LOGGING: &[Sql] = &[sql("SET log_statement = 'none'")];

/// Pools by weight, for statements in any message.
const POOLS: &[(usize, &[Sql])] = &[
    (34, READS),
    (22, WRITES),
    (14, SESSION),
    (10, NAMED),
    (9, ERRORS),
    (6, MULTI),
    (6, BACKSLASH),
    (1, LOGGING),
];

/// The functions fast-path calls name (resolved to OIDs on the cluster).
pub const FUNCTIONS: &[&str] = &["purge_canary(integer)", "lower(text)"];

const STATEMENT_NAMES: &[&str] = &["", "", "", "s1", "s2"];
const PORTAL_NAMES: &[&str] = &["", "", "", "p1"];
const MISSING_NAME: &str = "nosuch";

fn statement_name(rng: &mut Rng) -> String {
    if rng.chance(8) {
        MISSING_NAME.to_owned()
    } else {
        (*rng.pick(STATEMENT_NAMES)).to_owned()
    }
}

fn portal_name(rng: &mut Rng) -> String {
    if rng.chance(5) {
        MISSING_NAME.to_owned()
    } else {
        (*rng.pick(PORTAL_NAMES)).to_owned()
    }
}

fn pick_sql(rng: &mut Rng) -> &'static Sql {
    let pool = rng.weighted(POOLS);
    rng.pick(pool)
}

fn params_for(rng: &mut Rng, sql: &Sql) -> Vec<Option<String>> {
    match rng.below(10) {
        0 => vec![Some("not a number".to_owned())],
        1 => vec![None],
        2 => Vec::new(),
        _ => sql.params.iter().map(|p| Some((*p).to_owned())).collect(),
    }
}

fn max_rows(rng: &mut Rng) -> i32 {
    if rng.chance(25) {
        i32::try_from(1 + rng.below(2)).unwrap()
    } else {
        0
    }
}

fn parse(rng: &mut Rng, name: String) -> (Step, &'static Sql) {
    let sql = pick_sql(rng);
    let types = if !sql.params.is_empty() && rng.chance(50) {
        vec![23]
    } else {
        Vec::new()
    };
    let step = Step::Parse {
        name,
        sql: sql.text.to_owned(),
        types,
    };
    (step, sql)
}

/// One random message of the extended protocol, on its own.
fn lone_message(rng: &mut Rng) -> Step {
    match rng.below(6) {
        0 | 1 => {
            let name = statement_name(rng);
            parse(rng, name).0
        }
        2 => {
            let sql = pick_sql(rng);
            Step::Bind {
                portal: portal_name(rng),
                statement: statement_name(rng),
                params: params_for(rng, sql),
            }
        }
        3 => Step::Execute {
            portal: portal_name(rng),
            max_rows: max_rows(rng),
        },
        4 => {
            if rng.chance(50) {
                Step::Describe {
                    target: Target::Statement,
                    name: statement_name(rng),
                }
            } else {
                Step::Describe {
                    target: Target::Portal,
                    name: portal_name(rng),
                }
            }
        }
        _ => {
            if rng.chance(50) {
                Step::Close {
                    target: Target::Statement,
                    name: statement_name(rng),
                }
            } else {
                Step::Close {
                    target: Target::Portal,
                    name: portal_name(rng),
                }
            }
        }
    }
}

/// Parse, Bind, Execute (with the optional Describes and Close a driver sends), then most of
/// the time Sync.
fn extended_round(rng: &mut Rng, out: &mut Vec<Step>) {
    let statement = statement_name(rng);
    let portal = portal_name(rng);
    let (step, sql) = parse(rng, statement.clone());
    if rng.chance(85) {
        out.push(step);
    }
    if rng.chance(25) {
        out.push(Step::Describe {
            target: Target::Statement,
            name: statement.clone(),
        });
    }
    out.push(Step::Bind {
        portal: portal.clone(),
        statement: statement.clone(),
        params: params_for(rng, sql),
    });
    if rng.chance(20) {
        out.push(Step::Describe {
            target: Target::Portal,
            name: portal.clone(),
        });
    }
    out.push(Step::Execute {
        portal: portal.clone(),
        max_rows: max_rows(rng),
    });
    if rng.chance(10) {
        out.push(Step::Close {
            target: Target::Portal,
            name: portal,
        });
    }
    out.push(unit_end(rng));
}

/// What ends a run of extended-protocol messages: mostly Sync, sometimes Flush or nothing.
fn unit_end(rng: &mut Rng) -> Step {
    match rng.below(10) {
        0 | 1 => Step::Flush,
        2 => Step::Wait,
        _ => Step::Sync,
    }
}

/// A message that fails at the server, making it skip everything up to the next Sync.
fn failing_message(rng: &mut Rng) -> Step {
    match rng.below(6) {
        0 => Step::Bind {
            portal: portal_name(rng),
            statement: MISSING_NAME.to_owned(),
            params: Vec::new(),
        },
        1 => Step::Execute {
            portal: MISSING_NAME.to_owned(),
            max_rows: 0,
        },
        2 => Step::Parse {
            name: statement_name(rng),
            sql: "SELEC 1".to_owned(),
            types: Vec::new(),
        },
        3 => Step::Describe {
            target: Target::Statement,
            name: MISSING_NAME.to_owned(),
        },
        4 => Step::Bind {
            portal: portal_name(rng),
            statement: statement_name(rng),
            params: vec![Some("not a number".to_owned())],
        },
        _ => Step::Parse {
            name: statement_name(rng),
            sql: "SELECT * FROM no_such_table".to_owned(),
            types: Vec::new(),
        },
    }
}

/// Error recovery, where the client's and the server's views of the session can part: a
/// statement (and maybe a portal) is set up, an error makes the server skip to the next Sync,
/// the client sends more (which the server skips, whatever it is: a Query and a FunctionCall
/// too), then Syncs, then uses the names it set up or replaced.
fn error_recovery(rng: &mut Rng, out: &mut Vec<Step>) {
    // The unnamed statement most often: it is replaced, not renamed, so it is where the
    // gateway has to know what the server did.
    let statement = if rng.chance(50) {
        String::new()
    } else {
        statement_name(rng)
    };
    let portal = portal_name(rng);
    let (step, sql) = parse(rng, statement.clone());
    out.push(step);
    if rng.chance(30) {
        out.push(Step::Bind {
            portal: portal.clone(),
            statement: statement.clone(),
            params: params_for(rng, sql),
        });
    }
    if rng.chance(70) {
        out.push(Step::Sync);
    }
    if rng.chance(40) {
        out.push(Step::Wait);
    }
    out.push(failing_message(rng));
    if rng.chance(50) {
        out.push(Step::Flush);
    }
    if rng.chance(75) {
        out.push(Step::Wait);
    }
    // What the server skips: often something that ends a unit when no error is pending
    // (Query, FunctionCall), then messages that would change what the names hold.
    if rng.chance(60) {
        out.push(if rng.chance(75) {
            Step::Query(pick_sql(rng).text.to_owned())
        } else {
            Step::FunctionCall {
                function: (*rng.pick(FUNCTIONS)).to_owned(),
                args: vec![Some("5".to_owned())],
            }
        });
    }
    for _ in 0..1 + rng.below(2) {
        out.push(match rng.below(10) {
            0..=5 => {
                let name = if rng.chance(80) {
                    statement.clone()
                } else {
                    statement_name(rng)
                };
                parse(rng, name).0
            }
            6 => Step::Close {
                target: Target::Statement,
                name: statement.clone(),
            },
            7 => Step::Query(pick_sql(rng).text.to_owned()),
            _ => lone_message(rng),
        });
    }
    for _ in 0..1 + rng.below(3) {
        out.push(Step::Sync);
    }
    if rng.chance(80) {
        out.push(Step::Wait);
    }
    if rng.chance(30) {
        out.push(Step::Execute {
            portal: portal.clone(),
            max_rows: max_rows(rng),
        });
    } else {
        out.push(Step::Bind {
            portal: portal.clone(),
            statement,
            params: params_for(rng, sql),
        });
        out.push(Step::Execute {
            portal,
            max_rows: max_rows(rng),
        });
    }
    out.push(unit_end(rng));
}

fn copy_exchange(rng: &mut Rng, out: &mut Vec<Step>) {
    if rng.chance(70) {
        out.push(Step::Query("COPY canary FROM STDIN".to_owned()));
    }
    for _ in 0..rng.below(3) {
        out.push(Step::CopyData("101\tcopied\n".to_owned()));
    }
    out.push(match rng.below(3) {
        0 => Step::CopyFail("the client gave up".to_owned()),
        _ => Step::CopyDone,
    });
}

/// One fragment of a session.
fn fragment(rng: &mut Rng, out: &mut Vec<Step>) {
    match rng.below(100) {
        0..=17 => extended_round(rng, out),
        18..=35 => error_recovery(rng, out),
        36..=46 => out.push(Step::Query(pick_sql(rng).text.to_owned())),
        47..=53 => {
            // A setting, then (often) text whose meaning depends on it.
            out.push(Step::Query(rng.pick(SETTINGS).text.to_owned()));
            if rng.chance(50) {
                out.push(Step::Query(rng.pick(BACKSLASH).text.to_owned()));
            }
        }
        54..=69 => out.push(lone_message(rng)),
        70..=79 => {
            for _ in 0..1 + rng.below(2) {
                out.push(Step::Sync);
            }
        }
        80..=83 => out.push(Step::Flush),
        84..=87 => copy_exchange(rng, out),
        88..=89 => out.push(match rng.below(3) {
            0 => Step::CopyData("stray".to_owned()),
            1 => Step::CopyDone,
            _ => Step::CopyFail("stray".to_owned()),
        }),
        90..=93 => out.push(Step::FunctionCall {
            function: (*rng.pick(FUNCTIONS)).to_owned(),
            args: vec![Some("5".to_owned())],
        }),
        94..=97 => {
            out.push(Step::Query("SELECT pg_sleep(0.05)".to_owned()));
            out.push(Step::Cancel);
        }
        _ => out.push(Step::Terminate),
    }
}

/// A fresh random case.
pub fn random_case(rng: &mut Rng) -> Vec<Step> {
    let mut steps = Vec::new();
    let fragments = 2 + rng.below(10);
    for _ in 0..fragments {
        fragment(rng, &mut steps);
        if rng.chance(40) {
            steps.push(Step::Wait);
        }
    }
    steps
}

/// A mutation of `parent`: a few steps removed, duplicated, swapped, replaced, or fragments
/// and waits inserted.
pub fn mutate(rng: &mut Rng, parent: &[Step]) -> Vec<Step> {
    let mut steps = parent.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(steps.len() + 1);
        match rng.below(7) {
            0 if at < steps.len() => {
                steps.remove(at);
            }
            1 if at < steps.len() => {
                let copy = steps[at].clone();
                steps.insert(at, copy);
            }
            2 if at + 1 < steps.len() => steps.swap(at, at + 1),
            3 => steps.insert(at, Step::Wait),
            4 => steps.insert(at, Step::Sync),
            5 if at < steps.len() => match &mut steps[at] {
                Step::Query(text) | Step::Parse { sql: text, .. } => {
                    *text = pick_sql(rng).text.to_owned();
                }
                _ => steps.insert(at, lone_message(rng)),
            },
            _ => {
                let mut inserted = Vec::new();
                fragment(rng, &mut inserted);
                steps.splice(at..at, inserted);
            }
        }
    }
    steps
}
