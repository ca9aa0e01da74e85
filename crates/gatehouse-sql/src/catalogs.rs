//! System catalogs and views whose rows are secrets or copies of the server's files, so that
//! reading them is an administrative act although it is written as a plain `SELECT`.
//!
//! PostgreSQL keeps these from ordinary roles (revoked privileges, views that show a row only
//! to its owner), but the gateway may log in to the server as a superuser, for whom none of
//! that applies: `SELECT rolpassword FROM pg_authid` would hand a reader every password hash.
//! A statement that reads (or writes) one of these relations is `Admin`, with a reason naming
//! it. `EXPLAIN` without `ANALYZE` only plans and stays `Select`.
//!
//! Matching is on the relation's last name part, whatever its schema, as for functions: an
//! unqualified name resolves to `pg_catalog` first unless `search_path` says otherwise (which
//! the settings rules make `Admin`), and a user relation sharing one of these names is judged
//! as the catalog, too strict but never too lax. A common table expression of the same name is
//! not the catalog and does not count.

/// `(relation, why reading it is administrative)`, names lowercase.
const SENSITIVE: &[(&str, &str)] = &[
    ("pg_authid", "holds every role's password hash"),
    ("pg_shadow", "shows every user's password hash"),
    (
        "pg_user_mapping",
        "holds user-mapping options, passwords for foreign servers among them",
    ),
    (
        "pg_user_mappings",
        "shows user-mapping options, passwords for foreign servers among them",
    ),
    (
        "pg_subscription",
        "holds subscriptions' connection strings, passwords among them",
    ),
    (
        "pg_statistic",
        "holds values sampled from every table's columns, past column privileges",
    ),
    (
        "pg_statistic_ext_data",
        "holds values sampled from every table's columns, past column privileges",
    ),
    (
        "pg_stats",
        "shows values sampled from the columns of every table the server login can read",
    ),
    (
        "pg_stats_ext",
        "shows values sampled from the columns of every table the server login can read",
    ),
    (
        "pg_stats_ext_exprs",
        "shows values sampled from the columns of every table the server login can read",
    ),
    (
        "pg_largeobject",
        "holds the contents of every large object, past large-object privileges",
    ),
    (
        "pg_hba_file_rules",
        "shows the server's client authentication file (pg_hba.conf)",
    ),
    (
        "pg_ident_file_mappings",
        "shows the server's user name map file (pg_ident.conf)",
    ),
    ("pg_file_settings", "shows the server's configuration files"),
    (
        "pg_config",
        "shows how the server was built and where its files are",
    ),
];

/// Why touching the relation `name` (as rendered in a statement's reads or writes) is an
/// administrative act, or `None` for an ordinary relation.
pub(crate) fn sensitive(name: &str) -> Option<&'static str> {
    // Rendered names quote parts that contain a dot, and none of these names has one, so the
    // text after the last dot is the last part whenever it can match.
    let last = name.rsplit('.').next().unwrap_or(name);
    SENSITIVE
        .iter()
        .find(|(relation, _)| relation.eq_ignore_ascii_case(last))
        .map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn matches_any_qualification() {
        assert!(sensitive("pg_authid").is_some());
        assert!(sensitive("pg_catalog.pg_shadow").is_some());
        assert!(sensitive("db.pg_catalog.pg_largeobject").is_some());
        assert!(sensitive("pg_roles").is_none());
        assert!(sensitive("\"a.pg_authid\"").is_none());
    }
}
