//! Reads each directly dialled connection's rewrite rules from its catalog for the PostgreSQL
//! adapter ([`gatehouse_pg::RuleBook`]): at start, then every half minute (every two seconds
//! until a first read succeeds, since writes are refused until then). Rules are DDL an
//! administrator runs, so a rule created meanwhile is seen within one interval. Connections
//! served by agents are not read: the gateway holds no credentials for them (their writes are
//! decided without rules, as the agents' own logins decide what the server allows).

use gatehouse_pg::{PgTarget, RuleBook};
use std::sync::Arc;
use std::time::Duration;

/// How often the rules are read again once known.
const REFRESH: Duration = Duration::from_secs(30);
/// How often a read is retried while none has succeeded.
const RETRY: Duration = Duration::from_secs(2);

/// Wait (at most `limit`) until every book has been read once, so that sessions opened right
/// after start are not refused their writes; a server that does not answer by then is read
/// in the background, and its writes are refused until it is.
pub async fn wait_for_first_reads<'b>(
    books: impl Iterator<Item = &'b Arc<RuleBook>>,
    limit: Duration,
) {
    let books: Vec<&Arc<RuleBook>> = books.collect();
    let deadline = tokio::time::Instant::now() + limit;
    while books.iter().any(|book| !book.is_loaded()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every rewrite rule outside the system schemas, but a view's own `_RETURN` rule.
const RULES: &str = "SELECT n.nspname::text, c.relname::text, pg_catalog.pg_get_ruledef(r.oid) \
     FROM pg_catalog.pg_rewrite r \
     JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE r.rulename <> '_RETURN' \
       AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'";

/// Keep `book` current for `connection`, reading through `admin` (the connection's own login).
pub async fn watch(connection: String, admin: PgTarget, book: Arc<RuleBook>, timeout: Duration) {
    let mut warned = false;
    loop {
        match read(&admin, timeout).await {
            Ok(rules) => {
                book.replace(rules);
                warned = false;
            }
            Err(reason) if !warned => {
                tracing::warn!(%connection, %reason, "cannot read the connection's rewrite rules; writes are decided with the rules last read (refused until a first read succeeds)");
                warned = true;
            }
            Err(_) => {}
        }
        let wait = if book.is_loaded() { REFRESH } else { RETRY };
        tokio::time::sleep(wait).await;
    }
}

async fn read(
    admin: &PgTarget,
    timeout: Duration,
) -> Result<Vec<(String, String, gatehouse_sql::RuleEffect)>, String> {
    let client = crate::server::target_admin::connect(admin, timeout)
        .await
        .map_err(|failure| failure.to_string())?;
    let rows = tokio::time::timeout(timeout, client.query(RULES, &[]))
        .await
        .map_err(|_| "the catalog did not answer in time".to_owned())?
        .map_err(|error| error.to_string())?;
    let mut rules = Vec::with_capacity(rows.len());
    for row in rows {
        let (schema, table, definition): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        let Some(rule) = gatehouse_sql::rule_effect(&definition) else {
            return Err(format!(
                "the rule on `{schema}.{table}` could not be read: {definition}"
            ));
        };
        rules.push((schema, table, rule));
    }
    Ok(rules)
}
