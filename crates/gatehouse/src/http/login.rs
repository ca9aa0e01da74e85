//! `GET /v1/login` on the admin listener: the identity providers people sign in with (the
//! `[[identity_providers]]` of kind `human`), so that `gatehouse login --api URL` needs nothing
//! else: each provider's name, issuer (for OpenID Connect discovery), public client id and
//! scopes. Public metadata, like a discovery document: no authentication, no secrets.

use crate::config::{IdentityProviderConfig, ProviderKind};
use axum::Router;
use axum::routing::get;
use serde::{Deserialize, Serialize};

/// One human provider as `GET /v1/login` describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginProvider {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// The answer of `GET /v1/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginMetadata {
    pub providers: Vec<LoginProvider>,
}

pub fn routes(providers: &[IdentityProviderConfig]) -> Router {
    let metadata = LoginMetadata {
        providers: providers
            .iter()
            .filter(|p| p.kind == ProviderKind::Human)
            .filter_map(|p| {
                Some(LoginProvider {
                    name: p.name.clone(),
                    issuer: p.issuer.clone(),
                    client_id: p.client_id.clone()?,
                    scopes: p.login_scopes(),
                })
            })
            .collect(),
    };
    Router::new().route(
        "/v1/login",
        get(move || {
            let metadata = metadata.clone();
            async move { axum::Json(metadata) }
        }),
    )
}
