//! Statements policy holds for approval, or caps: a held statement is not run and the client
//! is told the approval id and to run the same statement again once approved — which then
//! runs; a statement whose permit caps its rows (`@max_rows`) runs and is rolled back when
//! over the cap (see `row_caps.rs` for the cap's every path).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use gatehouse_core::{Identity, IdentityKind};
use gatehouse_store::ReviewVerdict;
use support::{CONNECTION, Fixture, available, root};

fn count(database: &str) -> String {
    String::from_utf8_lossy(
        &root(&["-N", database, "-e", "SELECT count(*) FROM items"])
            .unwrap()
            .stdout,
    )
    .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_statement_runs_once_approved_and_not_before() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("held", false).await;
    let token = f.key("hal", &["holders"]).await;
    let delete = "DELETE FROM items WHERE id = 2";
    let (_, err, ok) = f.mariadb("hal", &token, &[CONNECTION, "-e", delete]).await;
    assert!(!ok);
    assert!(
        err.contains("run the same statement again once approved"),
        "{err}"
    );
    assert_eq!(count(&f.database), "2\n");
    let id = err
        .split("held for approval ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .expect("the approval id in the refusal")
        .to_owned();
    let admin = Identity::new("ada", IdentityKind::Human, vec!["admins".into()]);
    f.store
        .review_approval(
            &id,
            &admin,
            ReviewVerdict::Approve,
            None,
            gatehouse_pipeline::now_unix_ms(),
        )
        .await
        .unwrap();
    let (_, err, ok) = f.mariadb("hal", &token, &[CONNECTION, "-e", delete]).await;
    assert!(ok, "{err}");
    assert_eq!(count(&f.database), "1\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_its_row_cap_is_rolled_back() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("capped", false).await;
    let token = f.key("cap", &["cappers"]).await;
    let (_, err, ok) = f
        .mariadb("cap", &token, &[CONNECTION, "-e", "DELETE FROM items"])
        .await;
    assert!(!ok);
    assert!(
        err.contains("@max_rows") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(count(&f.database), "2\n");
}
