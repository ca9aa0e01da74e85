//! The Cedar context of one request, built from the action and the connection's surroundings.
//!
//! Attribute names and types here must match the `ConnectContext` and `SqlContext` types of the
//! schema; a unit test validates built contexts against the schema for every action.
//!
//! `RestrictedExpression::new_ip` re-parses the name `ip` with Cedar's grammar on every call,
//! which alone costs several microseconds, so each thread keeps the expressions of the last few
//! addresses it saw.

use crate::entities::string_set;
use cedar_policy::{Context, RestrictedExpression};
use gatehouse_core::Action;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

/// What a connect context is made from.
pub(crate) struct Surroundings {
    pub(crate) source_address: Option<IpAddr>,
    pub(crate) now_unix_seconds: i64,
}

/// Address policies see when the client address is unknown.
pub(crate) const UNKNOWN_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// How many address expressions each thread keeps.
const ADDRESS_CACHE_CAPACITY: usize = 64;

thread_local! {
    /// Most recently used first.
    static ADDRESSES: RefCell<VecDeque<(IpAddr, RestrictedExpression)>> =
        const { RefCell::new(VecDeque::new()) };
}

/// The Cedar `ip("...")` expression of an address.
fn address_expression(address: IpAddr) -> RestrictedExpression {
    ADDRESSES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(position) = cache.iter().position(|(cached, _)| *cached == address)
            && let Some(entry) = cache.remove(position)
        {
            let expression = entry.1.clone();
            cache.push_front(entry);
            return expression;
        }
        let expression = RestrictedExpression::new_ip(address.to_string());
        cache.truncate(ADDRESS_CACHE_CAPACITY - 1);
        cache.push_front((address, expression.clone()));
        expression
    })
}

/// Build the context for `action`: the connect context, plus the statement for SQL.
pub(crate) fn build(action: &Action, surroundings: &Surroundings) -> Result<Context, String> {
    let address = surroundings.source_address.unwrap_or(UNKNOWN_ADDRESS);
    let now = surroundings.now_unix_seconds;
    let hour = now.rem_euclid(86_400) / 3_600;
    let connect = [
        ("source_address".to_owned(), address_expression(address)),
        ("now".to_owned(), RestrictedExpression::new_long(now)),
        ("hour".to_owned(), RestrictedExpression::new_long(hour)),
    ];
    let result = match action {
        Action::Connect | Action::ViewUnmasked => Context::from_pairs(connect),
        Action::Sql(statement) => {
            let tables = RestrictedExpression::new_set(
                statement
                    .reads
                    .iter()
                    .chain(&statement.writes)
                    .map(|table| RestrictedExpression::new_string(table.clone())),
            );
            let sql = [
                (
                    "statement".to_owned(),
                    RestrictedExpression::new_string(statement.text.clone()),
                ),
                (
                    "fingerprint".to_owned(),
                    RestrictedExpression::new_string(statement.fingerprint.clone()),
                ),
                ("reads".to_owned(), string_set(&statement.reads)),
                ("writes".to_owned(), string_set(&statement.writes)),
                ("tables".to_owned(), tables),
                ("functions".to_owned(), string_set(&statement.functions)),
                (
                    "all_rows".to_owned(),
                    RestrictedExpression::new_bool(statement.all_rows),
                ),
            ];
            Context::from_pairs(connect.into_iter().chain(sql))
        }
    };
    result.map_err(|error| format!("context: {error}"))
}
