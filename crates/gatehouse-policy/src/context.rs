//! The Cedar context of one request, built from the action and the connection's surroundings.
//!
//! The connect attributes here must match the base schema's `ConnectContext`; a protocol's
//! attributes come from its requests and must match its fragment's context types (a unit test
//! validates built contexts against the schema for every SQL action).
//!
//! `RestrictedExpression::new_ip` re-parses the name `ip` with Cedar's grammar on every call,
//! which alone costs several microseconds, so each thread keeps the expressions of the last few
//! addresses it saw.

use cedar_policy::{Context, RestrictedExpression};
use gatehouse_core::Attribute;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

/// What a connect context is made from.
pub(crate) struct Surroundings {
    pub(crate) source_address: Option<IpAddr>,
    pub(crate) now_unix_seconds: i64,
}

impl Surroundings {
    /// The address policies see as `context.source_address`.
    pub(crate) fn address(&self) -> IpAddr {
        self.source_address.unwrap_or(UNKNOWN_ADDRESS)
    }

    /// The UTC hour (0-23) policies see as `context.hour`.
    pub(crate) fn hour(&self) -> i64 {
        self.now_unix_seconds.rem_euclid(86_400) / 3_600
    }
}

/// Names of the connect context's attributes.
pub(crate) const SOURCE_ADDRESS: &str = "source_address";
pub(crate) const NOW: &str = "now";
pub(crate) const HOUR: &str = "hour";

/// Address policies see when the client address is unknown.
const UNKNOWN_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

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

/// Build the context of a request: the connect context, plus `attributes`, the protocol
/// request's own (`None` for a session-level action).
pub(crate) fn build(
    attributes: Option<Vec<(&'static str, Attribute)>>,
    surroundings: &Surroundings,
) -> Result<Context, String> {
    let connect = [
        (
            SOURCE_ADDRESS.to_owned(),
            address_expression(surroundings.address()),
        ),
        (
            NOW.to_owned(),
            RestrictedExpression::new_long(surroundings.now_unix_seconds),
        ),
        (
            HOUR.to_owned(),
            RestrictedExpression::new_long(surroundings.hour()),
        ),
    ];
    let result = match attributes {
        None => Context::from_pairs(connect),
        Some(attributes) => {
            let attributes = attributes
                .into_iter()
                .map(|(name, value)| (name.to_owned(), expression(value)));
            Context::from_pairs(connect.into_iter().chain(attributes))
        }
    };
    result.map_err(|error| format!("context: {error}"))
}

/// The Cedar value of one attribute.
fn expression(attribute: Attribute) -> RestrictedExpression {
    match attribute {
        Attribute::String(text) => RestrictedExpression::new_string(text),
        Attribute::Long(number) => RestrictedExpression::new_long(number),
        Attribute::Bool(flag) => RestrictedExpression::new_bool(flag),
        Attribute::Set(values) => {
            RestrictedExpression::new_set(values.into_iter().map(RestrictedExpression::new_string))
        }
    }
}
