//! The kind of each PostgreSQL statement type, by the name of its parse-tree struct.
//!
//! This table is the default for a statement type; `classify` refines a few of them by their
//! contents (`SET ROLE` is `Admin` where `SET work_mem` is `Session`, `COPY ... PROGRAM` is
//! `Admin` where `COPY ... TO STDOUT` reads, ...). The rules:
//!
//! - `SELECT`/`VALUES`/`TABLE` read: `Select`. `INSERT`, `UPDATE`, `DELETE` are themselves;
//!   `MERGE` starts as `Select` and each `WHEN ... THEN` action raises it to its own kind (see
//!   `walk`), so a `MERGE` whose only actions are `DO NOTHING` is `Select`: it changes
//!   nothing, and PostgreSQL asks only for `SELECT` privilege for it. Its target is still
//!   listed as written.
//! - Anything that creates, alters or drops an object, `TRUNCATE`, `COMMENT`, `SECURITY LABEL`,
//!   `CREATE INDEX`, `REFRESH MATERIALIZED VIEW`, `CREATE TABLE AS`: `Ddl`.
//! - Privileges and roles (`GRANT`, `REVOKE`, roles, `ALTER DEFAULT PRIVILEGES`,
//!   `REASSIGN OWNED`, `DROP OWNED`): `Dcl`.
//! - Changing or maintaining the server, or reaching outside the database (`ALTER SYSTEM`,
//!   `LOAD`, `VACUUM`, `ANALYZE`, `CLUSTER`, `REINDEX`, `CHECKPOINT`, `LOCK`, extensions,
//!   tablespaces, `NOTIFY`, foreign-data wrappers, subscriptions, languages, event
//!   triggers): `Admin`.
//! - Transaction and session housekeeping (`BEGIN`, `COMMIT`, `SET`, `SHOW`, `DEALLOCATE`,
//!   `DISCARD`, `LISTEN`, `UNLISTEN`, `FETCH`, `MOVE`, `CLOSE`, `SET CONSTRAINTS`): `Session`.
//! - `DO`, `CALL`, `EXECUTE` and anything not in this table: `Unknown`.

use gatehouse_core::SqlKind;

/// Statement types that change privileges or roles.
const DCL: &[&str] = &[
    "GrantStmt",
    "GrantRoleStmt",
    "CreateRoleStmt",
    "AlterRoleStmt",
    "AlterRoleSetStmt",
    "DropRoleStmt",
    "AlterDefaultPrivilegesStmt",
    "ReassignOwnedStmt",
    "DropOwnedStmt",
];

/// Statement types that change the schema but do not start with Create/Alter/Drop.
const DDL: &[&str] = &[
    "CreateTableAsStmt",
    "RefreshMatViewStmt",
    "TruncateStmt",
    "CommentStmt",
    "SecLabelStmt",
    "IndexStmt",
    "RuleStmt",
    "ViewStmt",
    "DefineStmt",
    "CompositeTypeStmt",
    "ImportForeignSchemaStmt",
    "RenameStmt",
    "ReplicaIdentityStmt",
];

/// Statement types with no effect on data or schema.
const SESSION: &[&str] = &[
    "VariableSetStmt",
    "VariableShowStmt",
    "TransactionStmt",
    "DeallocateStmt",
    "DiscardStmt",
    "ListenStmt",
    "UnlistenStmt",
    "FetchStmt",
    "ClosePortalStmt",
    "ConstraintsSetStmt",
];

/// Statement types that act on the server or outside the database, and why.
const ADMIN: &[(&str, &str)] = &[
    (
        "AlterSystemStmt",
        "ALTER SYSTEM changes the server configuration",
    ),
    ("LoadStmt", "LOAD loads a shared library into the server"),
    ("VacuumStmt", "VACUUM/ANALYZE is server maintenance"),
    (
        "ClusterStmt",
        "CLUSTER rewrites tables under an exclusive lock",
    ),
    ("ReindexStmt", "REINDEX rebuilds indexes under locks"),
    ("CheckPointStmt", "CHECKPOINT forces a server checkpoint"),
    (
        "LockStmt",
        "LOCK TABLE takes explicit table locks that can block other sessions",
    ),
    (
        "CreateExtensionStmt",
        "CREATE EXTENSION runs the extension's install script",
    ),
    (
        "AlterExtensionStmt",
        "ALTER EXTENSION runs the extension's update script",
    ),
    (
        "CreateTableSpaceStmt",
        "tablespaces are directories on the database server",
    ),
    (
        "DropTableSpaceStmt",
        "tablespaces are directories on the database server",
    ),
    (
        "AlterTableSpaceOptionsStmt",
        "tablespaces are directories on the database server",
    ),
    ("NotifyStmt", "NOTIFY signals other sessions"),
    (
        "CreateFdwStmt",
        "foreign-data wrappers load handler code that reaches outside the database",
    ),
    (
        "AlterFdwStmt",
        "foreign-data wrappers load handler code that reaches outside the database",
    ),
    (
        "CreateSubscriptionStmt",
        "subscriptions connect to other database servers",
    ),
    (
        "AlterSubscriptionStmt",
        "subscriptions connect to other database servers",
    ),
    (
        "DropSubscriptionStmt",
        "subscriptions connect to other database servers",
    ),
    (
        "CreatePLangStmt",
        "procedural languages load handler code into the server",
    ),
    (
        "CreateEventTrigStmt",
        "event triggers run code on every matching DDL command",
    ),
    (
        "AlterEventTrigStmt",
        "event triggers run code on every matching DDL command",
    ),
];

/// Statement types whose effect gatehouse cannot see, and why.
const UNKNOWN: &[(&str, &str)] = &[
    (
        "DoStmt",
        "DO runs an anonymous code block gatehouse cannot see into",
    ),
    (
        "CallStmt",
        "CALL runs a procedure gatehouse cannot see into",
    ),
    ("ExecuteStmt", "EXECUTE runs a prepared statement"),
    ("PlAssignStmt", "PL/pgSQL assignment outside a function"),
];

/// The kind of a statement type, and the reason to give for it (only `Admin` and `Unknown`
/// kinds carry one). `None` when `name` is not a statement type.
pub(crate) fn base_kind(name: &str) -> Option<(SqlKind, Option<String>)> {
    if !name.ends_with("Stmt") || name == "RawStmt" {
        return None;
    }
    let kind = match name {
        "SelectStmt" | "ReturnStmt" | "ExplainStmt" | "DeclareCursorStmt" | "MergeStmt" => {
            SqlKind::Select
        }
        "InsertStmt" => SqlKind::Insert,
        "UpdateStmt" => SqlKind::Update,
        "DeleteStmt" => SqlKind::Delete,
        "CopyStmt" => {
            return Some((
                SqlKind::Admin,
                Some("COPY inside another statement".to_owned()),
            ));
        }
        _ if DCL.contains(&name) => SqlKind::Dcl,
        _ if DDL.contains(&name) => SqlKind::Ddl,
        _ if SESSION.contains(&name) => SqlKind::Session,
        _ => {
            if let Some((_, why)) = ADMIN.iter().find(|(admin, _)| *admin == name) {
                return Some((SqlKind::Admin, Some((*why).to_owned())));
            }
            if let Some((_, why)) = UNKNOWN.iter().find(|(unknown, _)| *unknown == name) {
                return Some((SqlKind::Unknown, Some((*why).to_owned())));
            }
            if ["Create", "Alter", "Drop"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
            {
                SqlKind::Ddl
            } else {
                return Some((
                    SqlKind::Unknown,
                    Some(format!(
                        "gatehouse does not recognise the statement type {name}"
                    )),
                ));
            }
        }
    };
    Some((kind, None))
}

/// The kind a statement type contributes when it is nested inside another statement (a
/// data-modifying `WITH`, a rule action, a `CREATE SCHEMA` element, a function body).
/// Nested writes get a reason, since they are why the outer statement is stronger than its
/// own type suggests.
pub(crate) fn nested_kind(name: &str) -> Option<(SqlKind, Option<String>)> {
    let (kind, reason) = base_kind(name)?;
    let verb = match name {
        "InsertStmt" => "INSERT",
        "UpdateStmt" => "UPDATE",
        "DeleteStmt" => "DELETE",
        // a MERGE's actions give their own kinds and reasons
        _ => return Some((kind, reason)),
    };
    Some((
        kind,
        Some(format!("contains a data-modifying {verb} (e.g. in WITH)")),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn table_covers_the_families() {
        assert_eq!(base_kind("SelectStmt").unwrap().0, SqlKind::Select);
        assert_eq!(base_kind("CreateStmt").unwrap().0, SqlKind::Ddl);
        assert_eq!(base_kind("AlterTsDictionaryStmt").unwrap().0, SqlKind::Ddl);
        assert_eq!(base_kind("GrantRoleStmt").unwrap().0, SqlKind::Dcl);
        assert_eq!(base_kind("LoadStmt").unwrap().0, SqlKind::Admin);
        assert_eq!(base_kind("DoStmt").unwrap().0, SqlKind::Unknown);
        assert_eq!(base_kind("FrobnicateStmt").unwrap().0, SqlKind::Unknown);
        assert!(base_kind("RangeVar").is_none());
        assert!(base_kind("RawStmt").is_none());
    }

    #[test]
    fn nested_writes_explain_themselves() {
        let (kind, reason) = nested_kind("DeleteStmt").unwrap();
        assert_eq!(kind, SqlKind::Delete);
        assert!(reason.unwrap().contains("DELETE"));
    }
}
