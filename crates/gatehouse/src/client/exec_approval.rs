//! `gatehouse exec --approval ID` checked before anything is sent, where this machine holds the
//! gateway's store (the quickstart, an operator beside the gateway): an approval that was
//! already used, denied, expired or granted for other text fails at once and says which,
//! instead of the gateway holding the statement for a new approval. Elsewhere exec learns it
//! from the gateway's hold notice naming another approval, and hangs up at once.

use crate::config::setup::Setup;
use gatehouse_pipeline::{ApprovalState, now_unix_ms};

/// Why approval `id` cannot run `sql`, when the local store can tell; `None` when it can or
/// when there is no local store to ask.
pub async fn mismatch(setup: &Setup, id: &str, sql: &str) -> Option<String> {
    if !setup.data_dir.join("gatehouse.db").exists() {
        return None;
    }
    let store = setup.store().await.ok()?;
    let record = store.approval(id).await;
    store.close().await;
    let Some(record) = record.ok()? else {
        return Some(format!(
            "there is no approval `{id}`; `gatehouse approvals list` shows the approvals there are"
        ));
    };
    let state = record.state_at(now_unix_ms());
    let why = match state {
        ApprovalState::Executed => Some(
            "was already used: an approval runs its statement once; run the statement without \
             --approval to ask for a new one"
                .to_owned(),
        ),
        ApprovalState::Denied | ApprovalState::Expired | ApprovalState::Cancelled => Some(format!(
            "is {}: run the statement without --approval to ask for a new one",
            state.as_str()
        )),
        ApprovalState::Pending | ApprovalState::Approved
            if !normalized(sql).contains(normalized(&record.binding.request)) =>
        {
            Some(format!(
                "was granted for other text: `{}`",
                record.binding.request
            ))
        }
        ApprovalState::Pending | ApprovalState::Approved => None,
    };
    why.map(|why| format!("approval {id} cannot run this statement: it {why}"))
}

/// The text without surrounding whitespace and trailing semicolons.
fn normalized(sql: &str) -> &str {
    sql.trim().trim_end_matches(';').trim_end()
}
