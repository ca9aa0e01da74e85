//! What commands acting on a user's behalf share: finding the gatehouse token ([`token`]),
//! signing in with an identity provider and keeping the result ([`oidc`], [`login_browser`],
//! [`login_device`], [`token_store`]), and checking an approval before it is used.

pub(crate) mod exec_approval;
pub(crate) mod gateway;
pub(crate) mod login_browser;
pub(crate) mod login_device;
pub(crate) mod oidc;
pub(crate) mod token;
pub(crate) mod token_store;
