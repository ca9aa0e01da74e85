//! Schema migrations shipped inside the binary, applied in order at open.
//!
//! A plain versioned list rather than sqlx's migration macros keeps the build free of
//! compile-time database tooling.

use crate::StoreError;
use sqlx::SqlitePool;

/// `(version, statements)` in ascending order. Never edit a shipped entry; add a new one.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
    CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        subject      TEXT NOT NULL,
        kind         TEXT NOT NULL,
        groups_json  TEXT NOT NULL,
        secret_hash  BLOB NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        revoked_at   INTEGER
    );
    CREATE TABLE audit_events (
        seq             INTEGER PRIMARY KEY, -- rowid alias: increasing, since rows are never deleted
        time_unix_ms    INTEGER NOT NULL,
        kind            TEXT NOT NULL,
        session         TEXT NOT NULL,
        subject         TEXT NOT NULL,
        identity_kind   TEXT NOT NULL,
        groups_json     TEXT NOT NULL,
        acting_for_json TEXT NOT NULL,
        connection      TEXT NOT NULL,
        source_address  TEXT,
        action          TEXT NOT NULL,
        decision        TEXT NOT NULL,
        policies_json   TEXT NOT NULL,
        statement       TEXT,
        fingerprint     TEXT,
        detail          TEXT
    );
    CREATE INDEX audit_events_session ON audit_events(session);
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
    "#,
    ),
    (
        2,
        r#"
    -- The chained log replaces the unchained table of version 1 (no release shipped it).
    DROP TABLE audit_events;
    CREATE TABLE audit_log (
        seq          INTEGER PRIMARY KEY, -- assigned by the writer: previous + 1
        time_unix_ms INTEGER NOT NULL,
        kind         TEXT NOT NULL,
        subject      TEXT NOT NULL,
        session      TEXT,
        body         TEXT NOT NULL,       -- the event's canonical JSON, exactly as MACed
        mac          BLOB NOT NULL        -- HMAC-SHA256(key, previous mac || seq || body)
    );
    -- No secondary indexes: every index is another page written (and WAL-logged) by every
    -- commit on the hot path, while reads of the log are rare, administrative scans.
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    "#,
    ),
    (
        3,
        r#"
    -- Session recordings kept as blobs (`[recording] storage = "store"`). Chunk 0 creates the
    -- row from the recording's header; `finish` fills in the summary.
    CREATE TABLE recordings (
        id          TEXT PRIMARY KEY,
        session     TEXT NOT NULL,
        subject     TEXT NOT NULL,
        connection  TEXT NOT NULL,
        started_at  TEXT NOT NULL,        -- RFC 3339 UTC, nine fraction digits: sorts as text
        ended_at    TEXT,                 -- NULL while running or when cut short
        events      INTEGER,              -- counts from the finished summary; NULL until then
        requests    INTEGER,
        bytes       INTEGER,
        finished    INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX recordings_started_at ON recordings(started_at);
    CREATE TABLE recording_chunks (
        id          TEXT NOT NULL,
        chunk_index INTEGER NOT NULL,
        bytes       BLOB NOT NULL,
        PRIMARY KEY (id, chunk_index)
    );
    "#,
    ),
    (
        4,
        r#"
    -- Just-in-time approvals (`gatehouse_pipeline::ApprovalRecord`). The binding columns are
    -- compared for exact equality when a retried request looks for its approval;
    -- `acting_for_json` is the canonical JSON array, so equal chains are equal text.
    CREATE TABLE approvals (
        id                    TEXT PRIMARY KEY,   -- `ap-` and 16 hex characters
        state                 TEXT NOT NULL,      -- ApprovalState::as_str
        subject               TEXT NOT NULL,
        acting_for_json       TEXT NOT NULL,
        connection            TEXT NOT NULL,
        action                TEXT NOT NULL,
        statement             TEXT NOT NULL,
        fingerprint           TEXT NOT NULL,
        policy_version        TEXT NOT NULL,
        policy                TEXT NOT NULL,      -- what approving needs, from the policy
        approver_group        TEXT NOT NULL,
        required              INTEGER NOT NULL,
        ttl_seconds           INTEGER NOT NULL,
        requester_kind        TEXT NOT NULL,
        requester_groups_json TEXT NOT NULL,
        session               TEXT,
        created_unix_ms       INTEGER NOT NULL,
        expires_unix_ms       INTEGER NOT NULL,
        updated_unix_ms       INTEGER NOT NULL,
        reviews_json          TEXT NOT NULL
    );
    -- `find_open`: only open approvals are ever looked up by binding, so only they are indexed.
    CREATE INDEX approvals_open ON approvals(subject, connection, fingerprint)
        WHERE state IN ('pending', 'approved');
    CREATE INDEX approvals_created ON approvals(created_unix_ms);
    "#,
    ),
    (
        5,
        r#"
    -- Gatehouse tokens (issued by token exchange) revoked before their expiry, by `jti`.
    CREATE TABLE revoked_tokens (
        jti         TEXT PRIMARY KEY,
        revoked_at  INTEGER NOT NULL,
        reason      TEXT
    );
    "#,
    ),
    (
        6,
        r#"
    -- Identities (subjects) revoked by `gatehouse identities revoke`: every credential naming
    -- them is refused and their live sessions are ended. `restored_at` set means lifted.
    CREATE TABLE revoked_identities (
        subject      TEXT PRIMARY KEY,
        revoked_at   INTEGER NOT NULL,
        reason       TEXT,
        restored_at  INTEGER
    );
    CREATE INDEX revoked_tokens_at ON revoked_tokens(revoked_at);
    CREATE INDEX api_keys_revoked_at ON api_keys(revoked_at) WHERE revoked_at IS NOT NULL;
    CREATE INDEX revoked_identities_at ON revoked_identities(revoked_at);
    "#,
    ),
    (
        7,
        r#"
    -- Network-resident agents (`gatehouse agents create`): a one-time enrolment token, then
    -- the credential issued for it on first contact. Secrets only as SHA-256 hashes.
    CREATE TABLE agents (
        name                 TEXT PRIMARY KEY,
        created_at           INTEGER NOT NULL,
        enrolment_hash       BLOB,
        enrolment_expires_at INTEGER,
        enrolled_at          INTEGER,
        credential_hash      BLOB,
        -- The credential before the last rotation: still accepted once, in case the agent
        -- did not get to keep its new one.
        previous_credential_hash BLOB,
        revoked_at           INTEGER,
        last_seen_at         INTEGER,
        connected            INTEGER NOT NULL DEFAULT 0,
        version              TEXT,
        connections_json     TEXT,
        peer                 TEXT,
        -- Or: the agent authenticates with a workload identity token of this provider and
        -- subject (no enrolment token, no credential).
        workload_provider    TEXT,
        workload_subject     TEXT
    );
    "#,
    ),
    (
        8,
        r#"
    -- What an approved statement's meaning also depends on (parameter values, search_path,
    -- role, relation OIDs): `context_json` for reviewers, `context_digest` for the binding
    -- lookup (empty when the statement has no context).
    ALTER TABLE approvals ADD COLUMN context_json TEXT;
    ALTER TABLE approvals ADD COLUMN context_digest TEXT NOT NULL DEFAULT '';
    "#,
    ),
    (
        9,
        r#"
    -- Audit format 2 (compact, protocol-neutral bodies, their own MAC domain). Events stored
    -- before it are format 1; the column is covered by the MAC through its domain.
    ALTER TABLE audit_log ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
    "#,
    ),
];

pub(crate) async fn apply(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .execute(pool)
        .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(pool)
        .await?;
    let current = current.unwrap_or(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Migration(*version, e.to_string()))?;
        sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}
