//! Builders shared by the integration tests: identities, connections, statements, requests.
#![allow(dead_code)]

use gatehouse_core::{
    Action, ConnectionInfo, ConnectionKind, Identity, IdentityKind, SqlKind, SqlStatement,
};
use gatehouse_policy::{PolicyEngine, PolicyRequest, PolicyVerdict};

/// 2023-11-14T22:13:20Z.
pub const NOW: i64 = 1_700_000_000;

pub fn identity(groups: &[&str]) -> Identity {
    Identity::new(
        "ana",
        IdentityKind::Human,
        groups.iter().map(|group| (*group).to_owned()).collect(),
    )
}

pub fn connection(environment: &str) -> ConnectionInfo {
    ConnectionInfo {
        name: format!("{environment}-db"),
        kind: ConnectionKind::POSTGRES,
        environment: environment.to_owned(),
        tags: vec!["team-a".to_owned()],
        description: "test database".to_owned(),
    }
}

pub fn statement(kind: SqlKind, reads: &[&str], writes: &[&str], functions: &[&str]) -> Action {
    let owned = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
    Action::of(SqlStatement {
        text: "select * from t".to_owned(),
        kind,
        reads: owned(reads),
        writes: owned(writes),
        functions: owned(functions),
        fingerprint: "select * from t".to_owned(),
        reason: None,
        all_rows: false,
        context: None,
        lineage: None,
    })
}

pub fn sql(kind: SqlKind) -> Action {
    statement(kind, &["public.orders"], &[], &[])
}

pub fn decide(
    engine: &PolicyEngine,
    identity: &Identity,
    connection: &ConnectionInfo,
    action: &Action,
) -> PolicyVerdict {
    engine.decide(&PolicyRequest {
        identity,
        connection,
        action,
        source_address: Some("10.0.0.7".parse().expect("address")),
        now_unix_seconds: NOW,
    })
}

pub fn engine(text: &str) -> PolicyEngine {
    PolicyEngine::from_sources(&[("test.cedar".to_owned(), text.to_owned())], &sql_schema())
        .unwrap_or_else(|error| panic!("{error}"))
}

/// The schema of the gatehouse the quickstart policy is written for: the base, the SQL and the
/// Kubernetes fragments.
pub fn sql_schema() -> gatehouse_policy::PolicySchema {
    gatehouse_policy::PolicySchema::new(&[
        &gatehouse_core::SQL_PROTOCOL,
        &gatehouse_k8s::K8S_PROTOCOL,
        &gatehouse_httpapi::HTTP_PROTOCOL,
        &gatehouse_ssh::SSH_PROTOCOL,
    ])
    .unwrap()
}
