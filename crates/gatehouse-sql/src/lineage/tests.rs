#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_core::{ColumnSource, Derivation, Lineage, Output};

fn lineage(sql: &str) -> Lineage {
    let classified = crate::classify(sql);
    let statement = &classified[0].statement;
    statement.lineage.as_deref().cloned().expect("lineage")
}

fn source(relation: Option<&str>, column: &str) -> ColumnSource {
    ColumnSource {
        relation: relation.map(str::to_owned),
        column: column.to_owned(),
    }
}

fn columns(derivation: &Derivation) -> Vec<(Option<&str>, &str)> {
    derivation
        .columns
        .iter()
        .map(|c| (c.relation.as_deref(), c.column.as_str()))
        .collect()
}

fn output(lineage: &Lineage, index: usize) -> &Derivation {
    match &lineage.outputs[index] {
        Output::Column(derivation) | Output::Columns(derivation) => derivation,
        Output::Relation(relation) => panic!("output {index} is relation {relation}"),
    }
}

#[test]
fn plain_references_stay_plain_through_aliases_subqueries_and_ctes() {
    for sql in [
        "SELECT card AS x FROM people",
        "SELECT p.card FROM people p",
        "SELECT x FROM (SELECT card AS x FROM people) s",
        "WITH c AS (SELECT card FROM people) SELECT card FROM c",
        "SELECT s.y FROM (SELECT card FROM people) s(y)",
        "SELECT card COLLATE \"C\" FROM people",
        "SELECT (SELECT card FROM people LIMIT 1)",
    ] {
        let lineage = lineage(sql);
        let derivation = output(&lineage, 0);
        assert!(derivation.plain, "{sql}: {derivation:?}");
        assert_eq!(
            columns(derivation),
            [(Some("people"), "card")],
            "{sql}: {derivation:?}"
        );
    }
}

#[test]
fn transformations_compute() {
    for sql in [
        "SELECT card::float8 FROM people",
        "SELECT lpad(card, 32, '0')::uuid FROM people",
        "SELECT replace(email, '@', ' at ') FROM people",
        "SELECT split_part(jwt, '.', 2) FROM people",
        "SELECT encode(convert_to(card, 'UTF8'), 'base64') FROM people",
        "SELECT 'x' || card FROM people",
        "SELECT string_agg(card, ',') FROM people",
        "SELECT ARRAY(SELECT card FROM people)",
        "SELECT coalesce(card, '') FROM people",
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY card) FROM people",
        "SELECT x FROM people, LATERAL (SELECT lower(card) AS x) l",
        "SELECT * FROM people p, unnest(ARRAY[p.card]) u",
    ] {
        let lineage = lineage(sql);
        let derivation = lineage
            .outputs
            .iter()
            .find_map(|output| match output {
                Output::Column(d) | Output::Columns(d) if !d.is_empty() => Some(d),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{sql}: {lineage:?}"));
        assert!(!derivation.plain, "{sql}");
        assert!(
            derivation.columns.contains(&source(Some("people"), "card"))
                || derivation
                    .columns
                    .contains(&source(Some("people"), "email"))
                || derivation.columns.contains(&source(Some("people"), "jwt")),
            "{sql}: {derivation:?}"
        );
    }
}

#[test]
fn a_union_lines_up_column_by_column() {
    let lineage = lineage("SELECT id, name FROM a UNION ALL SELECT id, card FROM people");
    let second = output(&lineage, 1);
    assert!(second.columns.contains(&source(Some("people"), "card")));
    assert!(second.columns.contains(&source(Some("a"), "name")));
    assert!(lineage.equality.is_empty(), "UNION ALL compares nothing");
}

#[test]
fn stars_expand_to_what_they_stand_for() {
    let lineage = lineage("SELECT *, lower(card) FROM people");
    assert_eq!(lineage.outputs[0], Output::Relation("people".to_owned()));
    assert!(!output(&lineage, 1).plain);
    let lineage = lineage_of_subquery_star();
    assert!(!output(&lineage, 0).plain);
}

fn lineage_of_subquery_star() -> Lineage {
    lineage("SELECT * FROM (SELECT lower(card) AS c FROM people) s")
}

#[test]
fn conditions_are_filters_or_equality() {
    let filters = [
        "SELECT id FROM people WHERE card LIKE '4%'",
        "SELECT id FROM people ORDER BY card",
        "SELECT id, card FROM people ORDER BY 2",
        "SELECT id, CASE WHEN ssn LIKE '1%' THEN 1/0 END FROM people",
        "SELECT count(*) FILTER (WHERE card > '5') FROM people",
        "SELECT row_number() OVER (ORDER BY card) FROM people",
        "SELECT id FROM people p WHERE EXISTS (SELECT 1 WHERE p.card > '4')",
        "SELECT id FROM people LIMIT length(card)",
        "SELECT id FROM people JOIN o ON o.x < people.card",
        "SELECT id FROM people HAVING max(card) > '4'",
        "SELECT id FROM people WHERE lower(card) = '4'",
        "SELECT string_agg(id::text, ',' ORDER BY card) FROM people",
    ];
    for sql in filters {
        let lineage = lineage(sql);
        let used: Vec<_> = columns(&lineage.filters);
        assert!(
            used.iter()
                .any(|(_, column)| *column == "card" || *column == "ssn"),
            "{sql}: {lineage:?}"
        );
    }
    let equality = [
        "SELECT id FROM people WHERE card = 'x'",
        "SELECT id FROM people WHERE card = $1",
        "SELECT id FROM people WHERE card IN ('a', 'b')",
        "SELECT id FROM people WHERE card IS NULL",
        "SELECT card, count(*) FROM people GROUP BY card",
        "SELECT DISTINCT ON (card) id FROM people",
        "SELECT id FROM people JOIN o USING (card)",
        "SELECT id FROM people WHERE card IN (SELECT card FROM people)",
    ];
    for sql in equality {
        let lineage = lineage(sql);
        assert!(
            columns(&lineage.equality).iter().any(|(_, c)| *c == "card"),
            "{sql}: {lineage:?}"
        );
        assert!(
            !columns(&lineage.filters).iter().any(|(_, c)| *c == "card"),
            "{sql}: {lineage:?}"
        );
    }
}

#[test]
fn whole_rows_are_recorded() {
    for sql in [
        "SELECT to_json(p) FROM people p",
        "SELECT row(p.*) FROM people p",
        "SELECT people FROM people",
        "SELECT x FROM people p(x)",
    ] {
        let lineage = lineage(sql);
        assert!(
            output(&lineage, 0)
                .rows
                .contains(&Some("people".to_owned())),
            "{sql}: {lineage:?}"
        );
    }
}

#[test]
fn values_that_leave_the_result_escape() {
    for sql in [
        "INSERT INTO mine SELECT card FROM people",
        "UPDATE people SET note = card",
        "CREATE TABLE mine AS SELECT card AS x FROM people",
        "SELECT card INTO mine FROM people",
        "CREATE VIEW v AS SELECT card AS x FROM people",
        "SELECT pg_notify('c', card) FROM people",
    ] {
        let lineage = lineage(sql);
        assert!(
            columns(&lineage.escapes).iter().any(|(_, c)| *c == "card"),
            "{sql}: {lineage:?}"
        );
    }
}

#[test]
fn returning_and_cursors_and_explain() {
    let lineage_returning = lineage("DELETE FROM people WHERE id = 1 RETURNING card::int");
    assert!(!output(&lineage_returning, 0).plain);
    let declared = lineage("DECLARE c CURSOR FOR SELECT card::int FROM people");
    assert!(!output(&declared, 0).plain);
    let explained = lineage("EXPLAIN ANALYZE SELECT id FROM people WHERE card LIKE '4%'");
    assert!(explained.outputs.is_empty());
    assert!(!explained.filters.is_empty());
}

#[test]
fn unknown_constructs_derive_from_every_reference_inside() {
    let lineage = lineage("SELECT JSON_OBJECT('k': card) FROM people");
    let derivation = output(&lineage, 0);
    assert!(
        derivation.columns.contains(&source(Some("people"), "card")),
        "{derivation:?}"
    );
}

#[test]
fn a_recursive_cte_carries_what_it_recurses_over() {
    let lineage = lineage(
        "WITH RECURSIVE r(x) AS (SELECT card FROM people UNION ALL SELECT lower(x) FROM r) SELECT x FROM r",
    );
    let derivation = output(&lineage, 0);
    assert!(derivation.columns.contains(&source(Some("people"), "card")));
    assert!(!derivation.plain);
}
