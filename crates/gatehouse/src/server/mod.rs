//! The running gateway: `gatehouse serve` ([`serve`]) and what it runs beside the listeners —
//! identity providers and the gateway's own token keys, agent admission, server logins and
//! least-privileged roles, policy reload, revocation, retention, approval webhooks, TLS
//! material — and the audit helpers the operator's commands share with it.

pub(crate) mod access_requests;
pub(crate) mod agent_authority;
pub(crate) mod connections_reload;
pub(crate) mod db_roles;
pub(crate) mod http_api;
pub(crate) mod http_listener;
pub(crate) mod identity;
pub(crate) mod kubernetes;
pub(crate) mod login_passwords;
pub(crate) mod logins;
pub(crate) mod mysql;
pub(crate) mod operator;
pub(crate) mod policy_reload;
pub(crate) mod protocols;
pub(crate) mod quickstart_logins;
pub(crate) mod quickstart_mysql;
pub(crate) mod rate_limit;
pub(crate) mod refused_token;
pub(crate) mod retention;
pub(crate) mod reviews;
pub(crate) mod revocation_watch;
pub(crate) mod rule_watch;
pub(crate) mod serve;
pub(crate) mod ssh;
pub(crate) mod target_admin;
pub(crate) mod tls;
#[cfg(feature = "bench-unaudited")]
pub(crate) mod unaudited;
pub(crate) mod webhook;
