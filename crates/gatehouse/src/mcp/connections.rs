//! What an agent may use: `list_connections` decides `connect` for each configured connection
//! with the policy engine, exactly as the gateway does (the token's identity, plus the groups of
//! its approved access grants there); `describe_connection` reads the catalog through the
//! gateway, so policy and masking apply to it like to any query.

use super::agent::{Agent, ToolError};
use super::gateway::run_sql;
use gatehouse_core::{Action, Identity};
use gatehouse_pipeline::{AccessGrants, now_unix_ms};
use gatehouse_policy::PolicyRequest;
use serde_json::{Map, Value, json};

/// The catalog query `describe_connection` runs: columns of every non-system schema the
/// database shows this connection's user.
const CATALOG_SQL: &str = "SELECT table_schema, table_name, column_name, data_type \
FROM information_schema.columns \
WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_toast%' \
ORDER BY table_schema, table_name, ordinal_position";

/// At most this many columns are described.
const CATALOG_ROWS: usize = 10_000;

/// `list_connections`: the connections this identity may connect to now.
pub(crate) async fn list(agent: &Agent) -> Result<Value, ToolError> {
    let identity = agent.identity().await?;
    let policy =
        agent.base.setup.policy().map_err(|error| {
            ToolError::new(format!("the policy could not be loaded: {error:#}"))
        })?;
    let now_ms = now_unix_ms();
    let mut connections = Vec::new();
    for connection in &agent.base.setup.config.connections {
        let granted = with_grants(agent, &identity, &connection.name, now_ms).await;
        let info = connection.info();
        let verdict = policy.decide(&PolicyRequest {
            identity: &granted,
            connection: &info,
            action: &Action::Connect,
            source_address: None,
            now_unix_seconds: now_ms / 1000,
        });
        if verdict.allowed {
            connections.push(json!({
                "name": connection.name,
                "kind": connection.kind.as_str(),
                "environment": connection.environment,
                "description": connection.description,
            }));
        }
    }
    Ok(json!({
        "identity": identity.subject,
        "connections": connections,
    }))
}

/// `identity` with the groups of its approved, unexpired access grants on `connection`; a
/// failed lookup means no grant (fewer rights, never more), as in the gateway.
async fn with_grants(
    agent: &Agent,
    identity: &Identity,
    connection: &str,
    now_ms: i64,
) -> Identity {
    let mut granted = identity.clone();
    let grants = match agent.store() {
        Ok(store) => store
            .active_grants(&identity.subject, connection, now_ms)
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    for grant in grants {
        if grant.expires_unix_ms > now_ms && !granted.groups.contains(&grant.group) {
            granted.groups.push(grant.group);
        }
    }
    granted
}

/// `describe_connection`: tables and columns, read through the gateway.
pub(crate) async fn describe(agent: &Agent, connection: &str) -> Result<Value, ToolError> {
    agent.knows(connection)?;
    let identity = agent.identity().await?;
    let result = run_sql(agent, connection, CATALOG_SQL, CATALOG_ROWS).await?;
    if result.get("status").and_then(Value::as_str) != Some("ok") {
        return Ok(result);
    }
    let masking = agent
        .base
        .setup
        .config
        .connections
        .iter()
        .find(|c| c.name == connection)
        .and_then(|c| c.masking.as_ref())
        .filter(|m| !m.exempt_groups.iter().any(|g| identity.groups.contains(g)));
    let mut tables: Vec<Value> = Vec::new();
    let mut current: Option<(String, String, Vec<Value>)> = None;
    let empty = Vec::new();
    for row in result
        .get("rows")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
    {
        let text = |i: usize| {
            row.get(i)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (schema, table, column, data_type) = (text(0), text(1), text(2), text(3));
        if current
            .as_ref()
            .is_none_or(|(s, t, _)| *s != schema || *t != table)
        {
            if let Some(done) = current.take() {
                tables.push(table_json(done));
            }
            current = Some((schema.clone(), table.clone(), Vec::new()));
        }
        let masked = masking.is_some_and(|m| {
            m.columns
                .iter()
                .any(|rule| rule_matches(rule, &table, &column, &data_type))
        });
        if let Some((_, _, columns)) = current.as_mut() {
            let mut entry = Map::new();
            entry.insert("name".into(), column.into());
            entry.insert("type".into(), data_type.into());
            entry.insert("masked".into(), masked.into());
            columns.push(Value::Object(entry));
        }
    }
    if let Some(done) = current.take() {
        tables.push(table_json(done));
    }
    Ok(json!({
        "status": "ok",
        "connection": connection,
        "tables": tables,
        "truncated": result.get("truncated").cloned().unwrap_or(Value::Bool(false)),
        "content_masking": masking.is_some_and(|m| !m.detectors.is_empty() || !m.custom.is_empty()),
        "note": "`masked: true` marks columns a column rule masks whole; with content_masking, values that look like \
                 personal data (emails, card numbers, ...) are masked in any column",
    }))
}

fn table_json((schema, table, columns): (String, String, Vec<Value>)) -> Value {
    json!({ "schema": schema, "table": table, "columns": columns })
}

/// Whether a `[[connections.masking.columns]]` rule covers this column (name `column` or
/// `table.column` glob, and one of its type globs if it has any).
fn rule_matches(
    rule: &gatehouse_mask::ColumnRuleConfig,
    table: &str,
    column: &str,
    data_type: &str,
) -> bool {
    let name_ok = match &rule.name {
        None => true,
        Some(pattern) => match pattern.split_once('.') {
            Some((t, c)) => glob(t, table) && glob(c, column),
            None => glob(pattern, column),
        },
    };
    let type_ok = rule.types.is_empty() || rule.types.iter().any(|t| glob(t, data_type));
    name_ok && type_ok
}

/// Case-insensitive glob with `*` and `?`.
fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use super::{glob, rule_matches};
    use gatehouse_mask::{ColumnRuleConfig, Strategy};

    #[test]
    fn column_rules_flag_columns_by_name_table_and_type() {
        let rule = |name: Option<&str>, types: &[&str]| ColumnRuleConfig {
            name: name.map(str::to_owned),
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            strategy: Strategy::Redact,
            allow: Vec::new(),
        };
        assert!(rule_matches(
            &rule(Some("email"), &[]),
            "users",
            "Email",
            "text"
        ));
        assert!(rule_matches(
            &rule(Some("users.*"), &[]),
            "users",
            "ssn",
            "text"
        ));
        assert!(!rule_matches(
            &rule(Some("users.*"), &[]),
            "orders",
            "ssn",
            "text"
        ));
        assert!(rule_matches(&rule(None, &["json*"]), "t", "doc", "jsonb"));
        assert!(!rule_matches(
            &rule(Some("doc"), &["text"]),
            "t",
            "doc",
            "jsonb"
        ));
    }

    #[test]
    fn globs_match_like_masking_rules() {
        assert!(glob("email", "EMAIL"));
        assert!(glob("*_ssn", "customer_ssn"));
        assert!(glob("c?l", "col"));
        assert!(glob("*", ""));
        assert!(!glob("email", "emails"));
        assert!(!glob("a*b", "ac"));
    }
}
