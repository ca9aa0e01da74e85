//! Fuzz target: arbitrary text as a `.cedar` policy file, loaded and validated against the
//! embedded schema as `gatehouse serve` and `gatehouse policy check` load it, then (when it
//! loads) asked to decide a few requests.
//!
//! Input: the bytes as text (invalid UTF-8 replaced: policy files are read as UTF-8).
//! Checked: nothing panics or hangs; loading fails with an error or yields an engine whose
//! `decide` never allows a request it also reports an evaluation error for (fail closed), and
//! whose determining policies are ids it lists.

use gatehouse_core::{
    Action, ConnectionInfo, ConnectionKind, Identity, IdentityKind, SQL_PROTOCOL, SqlKind,
    SqlStatement,
};
use gatehouse_policy::{PolicyEngine, PolicyRequest, PolicySchema};
use std::sync::LazyLock;

struct Fixture {
    schema: PolicySchema,
    identity: Identity,
    connection: ConnectionInfo,
    actions: Vec<Action>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let statement = |kind: SqlKind, reads: &[&str], writes: &[&str], functions: &[&str]| {
        let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        Action::of(SqlStatement {
            text: "SELECT pg_read_file('x') FROM public.orders".to_owned(),
            kind,
            reads: owned(reads),
            writes: owned(writes),
            functions: owned(functions),
            fingerprint: "0123456789abcdef".to_owned(),
            reason: None,
            all_rows: false,
            context: None,
            lineage: None,
        })
    };
    Fixture {
        schema: PolicySchema::new(&[&SQL_PROTOCOL]).expect("the SQL schema loads"),
        identity: Identity::new(
            "ana",
            IdentityKind::Human,
            vec!["readers".to_owned(), "admins".to_owned()],
        ),
        connection: ConnectionInfo {
            name: "prod-db".to_owned(),
            kind: ConnectionKind::POSTGRES,
            environment: "production".to_owned(),
            tags: vec!["pii".to_owned(), "team-a".to_owned()],
            description: "fuzz".to_owned(),
        },
        actions: vec![
            Action::Connect,
            Action::ViewUnmasked,
            statement(SqlKind::Select, &["public.orders"], &[], &["pg_read_file"]),
            statement(SqlKind::Delete, &["public.orders"], &["public.orders"], &[]),
            statement(SqlKind::Unknown, &[], &[], &[]),
        ],
    }
});

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data).into_owned();
        let Ok(engine) =
            PolicyEngine::from_sources(&[("fuzz.cedar".to_owned(), text)], &FIXTURE.schema)
        else {
            return;
        };
        let ids = engine.policy_ids();
        for id in &ids {
            let _ = engine.annotations(id);
        }
        let _ = (engine.version(), engine.warnings());
        let fixture = &*FIXTURE;
        for action in &fixture.actions {
            for source_address in [None, Some("10.0.0.7".parse().expect("address"))] {
                let verdict = engine.decide(&PolicyRequest {
                    identity: &fixture.identity,
                    connection: &fixture.connection,
                    action,
                    source_address,
                    now_unix_seconds: 1_700_000_000,
                });
                assert!(
                    !(verdict.allowed && !verdict.errors.is_empty()),
                    "{verdict:?}"
                );
                for id in &verdict.determining_policies {
                    assert!(ids.contains(id), "{id} is not a listed policy");
                }
            }
        }
    });
}
