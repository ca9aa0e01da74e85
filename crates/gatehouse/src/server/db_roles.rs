//! The SQL that gives a connection least-privileged server logins: a read login that can
//! only read the application schemas and a write login that can also change rows, neither
//! able to run DDL, reach superuser-only settings, or use what PostgreSQL lets every role do
//! by default that writes beyond its own session. With them, what a fooled classifier lets
//! through is still refused by the server. Pure text generation: `gatehouse db-roles` prints
//! or runs it, and the quickstart runs it at start.

use std::fmt::Write as _;

/// The level of the login that only reads.
pub const READ_LEVEL: &str = "read";
/// The level of the login that reads and changes rows.
pub const WRITE_LEVEL: &str = "write";

/// The tag of the dollar-quoted `DO` bodies; no name may contain it.
const DO_TAG: &str = "$gatehouse$";

/// PostgreSQL's longest identifier, in bytes.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The predictable name of a connection's login of `level`.
pub fn role_name(connection: &str, level: &str) -> String {
    format!("gatehouse_{connection}_{level}")
}

/// How the script sets a login's password (given as a SCRAM-SHA-256 verifier, never in
/// clear text, so neither the script nor a server log of it holds the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSetting {
    /// Set it every time: the password is kept somewhere (a file, an environment variable).
    Always(String),
    /// Set it only when the script creates the role (an existing role keeps its password).
    OnCreate(String),
}

/// One login the script creates or brings into line.
#[derive(Debug, Clone)]
pub struct PlannedLogin {
    pub role: String,
    pub password: PasswordSetting,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The gatehouse connection (for the comments).
    pub connection: String,
    pub read: PlannedLogin,
    pub write: PlannedLogin,
    /// The application schemas; `None`: every schema but the system's.
    pub schemas: Option<Vec<String>>,
}

/// Built-ins every role may run by default that reach beyond the caller's own session, by
/// name (all overloads). EXECUTE is revoked from PUBLIC; `granted_back` says whether the
/// write login gets it back.
struct Builtin {
    names: &'static [&'static str],
    /// `pg_proc.proname LIKE` patterns, for families.
    patterns: &'static [&'static str],
    granted_back: bool,
}

const BUILTINS: [Builtin; 3] = [
    Builtin {
        names: &[
            "lo_creat",
            "lo_create",
            "lo_from_bytea",
            "lo_put",
            "lowrite",
            "lo_truncate",
            "lo_truncate64",
            "lo_unlink",
            "pg_notify",
            "pg_logical_emit_message",
            "txid_current",
            "pg_current_xact_id",
        ],
        patterns: &[],
        granted_back: true,
    },
    Builtin {
        names: &[],
        patterns: &["pg\\_advisory\\_%", "pg\\_try\\_advisory\\_%"],
        granted_back: true,
    },
    Builtin {
        names: &[
            "lo_import",
            "lo_export",
            "pg_cancel_backend",
            "pg_terminate_backend",
        ],
        patterns: &[],
        granted_back: false,
    },
];

/// `name` as a quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a SQL string literal (the script sets `standard_conforming_strings`).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The script: one transaction, idempotent. Errors name what cannot be expressed.
pub fn script(plan: &Plan) -> Result<String, String> {
    check_names(plan)?;
    let read = &plan.read.role;
    let write = &plan.write.role;
    let (r, w) = (literal(read), literal(write));
    let filter = schema_filter(plan.schemas.as_deref());
    let mut sql = header(plan);
    sql.push_str(
        "BEGIN;\nSET LOCAL standard_conforming_strings = on;\nSET LOCAL client_min_messages = warning;\n\n",
    );
    if let Some(schemas) = &plan.schemas {
        sql.push_str(&schemas_exist(schemas));
    }

    sql.push_str(
        "-- 1. The logins: LOGIN and nothing else. NOINHERIT and no role memberships, so that no other\n\
         --    role's rights reach them; passwords are given as SCRAM-SHA-256 verifiers, never in clear text.\n",
    );
    for login in [&plan.read, &plan.write] {
        sql.push_str(&create_login(login));
    }
    let _ = write!(
        sql,
        "DO {DO_TAG}
DECLARE
  granted record;
BEGIN
  FOR granted IN
    SELECT m.roleid::regrole AS role, m.member::regrole AS member, m.grantor
    FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles l ON l.oid = m.member
    WHERE l.rolname IN ({r}, {w})
  LOOP
    IF current_setting('server_version_num')::int >= 160000 THEN
      EXECUTE format('REVOKE %s FROM %s GRANTED BY %s', granted.role, granted.member, granted.grantor::regrole);
    ELSE
      EXECUTE format('REVOKE %s FROM %s', granted.role, granted.member);
    END IF;
  END LOOP;
END
{DO_TAG};

"
    );

    let _ = write!(
        sql,
        "-- 2. The database: CONNECT for both logins, CREATE (new schemas) for neither. TEMP only for the write
--    login: PostgreSQL grants TEMP to PUBLIC, and a temporary table or function is a place to write (and
--    pg_temp a search_path trap), so it is revoked from PUBLIC here. Other roles that create temporary
--    tables need `GRANT TEMPORARY ON DATABASE ... TO` them.
DO {DO_TAG}
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I, %I', current_database(), {r}, {w});
  EXECUTE format('REVOKE CREATE ON DATABASE %I FROM %I, %I', current_database(), {r}, {w});
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC, %I', current_database(), {r});
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), {w});
END
{DO_TAG};

"
    );

    let _ = write!(
        sql,
        "-- 3. The application schemas: USAGE for both logins, CREATE for neither (DDL is the admin level's), nor
--    for PUBLIC (before PostgreSQL 15 everyone could create in `public`, and plant a function or operator
--    there for others to run). Tables, views and sequences: SELECT for the read login; SELECT, INSERT,
--    UPDATE, DELETE and sequences' USAGE, SELECT, UPDATE for the write login (no TRUNCATE, REFERENCES or
--    TRIGGER: those are DDL), and EXECUTE on the schemas' functions. Each login starts from nothing, so
--    running this again also takes back what it should not have. The same privileges on what the role
--    running this creates there later (ALTER DEFAULT PRIVILEGES; objects other roles create later: run
--    this again).
DO {DO_TAG}
DECLARE
  target name;
BEGIN
  FOR target IN SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE {filter} ORDER BY 1 LOOP
    EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC, %I, %I', target, {r}, {w});
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, %I', target, {r}, {w});
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I, %I', target, {r}, {w});
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I, %I', target, {r}, {w});
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', target, {r});
    EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', target, {r});
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', target, {w});
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO %I', target, {w});
    EXECUTE format('GRANT EXECUTE ON ALL ROUTINES IN SCHEMA %I TO %I', target, {w});
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO %I', target, {r});
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON SEQUENCES TO %I', target, {r});
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', target, {w});
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I', target, {w});
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT EXECUTE ON ROUTINES TO %I', target, {w});
  END LOOP;
END
{DO_TAG};

"
    );

    let _ = write!(
        sql,
        "-- 4. SECURITY DEFINER functions in the application schemas run with their owner's rights (often a
--    superuser's), whoever calls them: EXECUTE on them is revoked from PUBLIC and the read login, and
--    granted to the write login. PostgreSQL grants EXECUTE on new functions to PUBLIC: run this again
--    after adding SECURITY DEFINER functions.
DO {DO_TAG}
DECLARE
  routine regprocedure;
BEGIN
  FOR routine IN
    SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prosecdef AND {filter}
  LOOP
    EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC, %I', routine, {r});
    EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO %I', routine, {w});
  END LOOP;
END
{DO_TAG};

"
    );

    sql.push_str(&builtins(&r, &w));

    let _ = write!(
        sql,
        "-- 6. An extra layer for the read login: its sessions start read-only. Not the barrier (a session can
--    turn it off with SET or BEGIN READ WRITE, or set_config() in any function); the privileges above are.
ALTER ROLE {} SET default_transaction_read_only = on;
ALTER ROLE {} RESET default_transaction_read_only;

COMMIT;
",
        ident(read),
        ident(write)
    );
    Ok(sql)
}

/// The script's opening comment: what it is for, how to run it, and what it changes beyond
/// the two logins.
fn header(plan: &Plan) -> String {
    let schemas = match &plan.schemas {
        Some(list) => format!(
            "the application schemas {}",
            list.iter().map(|s| ident(s)).collect::<Vec<_>>().join(", ")
        ),
        None => {
            "every schema but pg_catalog, information_schema and the other pg_* schemas".to_owned()
        }
    };
    format!(
        "-- Least-privileged server logins for gatehouse connection `{connection}` (gatehouse {version}).
--
--   {read}: level `read`, LOGIN and nothing else; reads {schemas}
--   {write}: level `write`, also changes rows there; no DDL (that is the connection's own login, level `admin`)
--
-- Run it in the connection's database as a superuser; `gatehouse db-roles {connection} --apply` runs
-- exactly this with the connection's own login, in one transaction. Running it again changes nothing.
--
-- Beyond the two logins it changes what PUBLIC (every role) may do in this database: TEMP, CREATE on the
-- application schemas, and EXECUTE on their SECURITY DEFINER functions and on the built-ins of step 5 are
-- revoked from PUBLIC (each step says why). Roles of other applications that relied on those need them
-- granted explicitly.

",
        connection = plan.connection,
        version = env!("CARGO_PKG_VERSION"),
        read = ident(&plan.read.role),
        write = ident(&plan.write.role),
    )
}

/// Create the role if it is missing, then force its attributes (and the password, when kept).
fn create_login(login: &PlannedLogin) -> String {
    let role = ident(&login.role);
    let on_create = match &login.password {
        PasswordSetting::OnCreate(verifier) => format!(" PASSWORD {}", literal(verifier)),
        PasswordSetting::Always(_) => String::new(),
    };
    let mut sql = format!(
        "DO {DO_TAG}
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {name}) THEN
    CREATE ROLE {role} LOGIN{on_create};
  END IF;
END
{DO_TAG};
ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
",
        name = literal(&login.role),
    );
    if let PasswordSetting::Always(verifier) = &login.password {
        let _ = writeln!(sql, "ALTER ROLE {role} PASSWORD {};", literal(verifier));
    }
    sql.push('\n');
    sql
}

/// Step 5: the built-ins, and why each.
fn builtins(r: &str, w: &str) -> String {
    let names = |granted_back: bool| {
        let mut names = Vec::new();
        let mut patterns = Vec::new();
        for builtin in BUILTINS.iter().filter(|b| b.granted_back == granted_back) {
            names.extend(builtin.names.iter().map(|n| literal(n)));
            patterns.extend(
                builtin
                    .patterns
                    .iter()
                    .map(|p| format!("p.proname LIKE {}", literal(p))),
            );
        }
        let mut conditions = vec![format!("p.proname IN ({})", names.join(", "))];
        conditions.extend(patterns);
        conditions.join(" OR ")
    };
    format!(
        "-- 5. Built-ins every role may run by default that reach beyond the caller's own session:
--      large objects that create, write or delete them (lo_creat, lo_create, lo_from_bytea, lo_put,
--        lowrite, lo_truncate, lo_truncate64, lo_unlink): they write even in a read-only transaction;
--      advisory locks (pg_advisory_*, pg_try_advisory_*): other applications coordinate with them, and a
--        reader holding one stalls their migrations and job queues;
--      pg_notify: runs other sessions' LISTEN handlers;
--      pg_logical_emit_message: writes messages into the WAL that replication and change-data-capture
--        consumers act on;
--      txid_current, pg_current_xact_id: assign a transaction id even in a read-only transaction, and
--        every one spent brings the server closer to its wraparound shutdown.
--    EXECUTE on them is revoked from PUBLIC and the read login and granted to the write login. Revoked and
--    granted to neither: lo_import and lo_export (server files; superuser-only already), pg_cancel_backend
--    and pg_terminate_backend (every identity of a level shares one login, so anyone could cancel or end
--    the others' sessions). Left alone: set_config and SET (a non-superuser changes only its own session;
--    superuser-only settings stay refused), pg_sleep (holds only its own session), reading functions.
DO {DO_TAG}
DECLARE
  routine regprocedure;
BEGIN
  FOR routine IN
    SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'pg_catalog'::regnamespace AND ({granted})
  LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC, %I', routine, {r});
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', routine, {w});
  END LOOP;
  FOR routine IN
    SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'pg_catalog'::regnamespace AND ({withheld})
  LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC, %I, %I', routine, {r}, {w});
  END LOOP;
END
{DO_TAG};

",
        granted = names(true),
        withheld = names(false),
    )
}

/// The SQL condition on `n.nspname` selecting the application schemas.
fn schema_filter(schemas: Option<&[String]>) -> String {
    match schemas {
        Some(list) => format!(
            "n.nspname::text IN ({})",
            list.iter()
                .map(|s| literal(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'".to_owned(),
    }
}

/// Fail the transaction, naming it, when a listed schema does not exist.
fn schemas_exist(schemas: &[String]) -> String {
    let list = schemas
        .iter()
        .map(|s| literal(s))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "-- The schemas named with --schema must exist.
DO {DO_TAG}
DECLARE
  wanted text;
BEGIN
  FOREACH wanted IN ARRAY ARRAY[{list}]::text[] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = wanted) THEN
      RAISE EXCEPTION 'schema \"%\" does not exist in database \"%\"', wanted, current_database();
    END IF;
  END LOOP;
END
{DO_TAG};

"
    )
}

/// Names that fit PostgreSQL and cannot end a `DO` body early.
fn check_names(plan: &Plan) -> Result<(), String> {
    let roles = [&plan.read.role, &plan.write.role];
    if plan.read.role == plan.write.role {
        return Err(format!(
            "the read and write logins must be different roles (both are `{}`)",
            plan.read.role
        ));
    }
    let schemas = plan.schemas.iter().flatten();
    for name in roles.into_iter().chain(schemas) {
        if name.is_empty() || name.len() > MAX_IDENTIFIER_BYTES {
            return Err(format!(
                "`{name}` cannot be a PostgreSQL name: names are 1 to {MAX_IDENTIFIER_BYTES} bytes \
                 (give the login a shorter `user` in [[connections.logins]])"
            ));
        }
        if name.contains(DO_TAG) || name.contains('\0') {
            return Err(format!("`{name}` cannot be a PostgreSQL name here"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn plan(read: &str, schemas: Option<Vec<String>>) -> Plan {
        Plan {
            connection: "demo".to_owned(),
            read: PlannedLogin {
                role: read.to_owned(),
                password: PasswordSetting::OnCreate("SCRAM-SHA-256$4096:c2FsdA==$a:b".to_owned()),
            },
            write: PlannedLogin {
                role: "gatehouse_demo_write".to_owned(),
                password: PasswordSetting::Always("SCRAM-SHA-256$4096:c2FsdA==$c:d".to_owned()),
            },
            schemas,
        }
    }

    #[test]
    fn names_are_quoted_as_identifiers_and_literals() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        let sql = script(&plan("Read \"Me\"'s", Some(vec!["sales's".to_owned()]))).unwrap();
        assert!(sql.contains("CREATE ROLE \"Read \"\"Me\"\"'s\" LOGIN PASSWORD"));
        assert!(sql.contains("rolname = 'Read \"Me\"''s'"));
        assert!(sql.contains("n.nspname::text IN ('sales''s')"));
    }

    #[test]
    fn a_kept_password_is_always_set_a_shown_one_only_on_create() {
        let sql = script(&plan("gatehouse_demo_read", None)).unwrap();
        assert!(!sql.contains("ALTER ROLE \"gatehouse_demo_read\" PASSWORD"));
        assert!(sql.contains(
            "ALTER ROLE \"gatehouse_demo_write\" PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$c:d';"
        ));
        assert!(sql.contains("CREATE ROLE \"gatehouse_demo_write\" LOGIN;"));
    }

    #[test]
    fn the_script_is_one_transaction() {
        let sql = script(&plan("gatehouse_demo_read", None)).unwrap();
        assert_eq!(sql.matches("BEGIN;\n").count(), 1);
        assert!(sql.trim_end().ends_with("COMMIT;"));
    }

    #[test]
    fn names_that_do_not_fit_are_refused() {
        assert!(script(&plan(&"r".repeat(64), None)).is_err());
        assert!(script(&plan("x$gatehouse$y", None)).is_err());
        assert!(script(&plan("gatehouse_demo_write", None)).is_err());
    }
}
