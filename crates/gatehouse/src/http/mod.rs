//! The admin HTTP listener ([`admin`]) and its APIs: approvals for reviewers, policy reload
//! and session kills for admins, token exchange for workloads, the login metadata people's CLIs read, and SSH
//! certificates for OpenSSH clients.

pub(crate) mod admin;
pub(crate) mod approvals;
pub(crate) mod login;
pub(crate) mod policy;
pub(crate) mod sessions;
pub(crate) mod ssh;
pub(crate) mod token;
