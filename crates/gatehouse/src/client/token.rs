//! The one way every client command finds the gatehouse token it acts with: `--token-file`,
//! else the `GATEHOUSE_TOKEN` environment variable, else the token `gatehouse login` stored
//! (refreshed when it is about to expire). A key from `gatehouse keys create` works wherever a
//! login does, and the reverse.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// The token to act with, from the first place that has one.
pub async fn find(token_file: Option<&Path>) -> Result<String> {
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file `{}`", path.display()))?;
        return non_empty(text.trim(), &format!("the token file `{}`", path.display()));
    }
    if let Ok(token) = std::env::var("GATEHOUSE_TOKEN") {
        return non_empty(token.trim(), "GATEHOUSE_TOKEN");
    }
    let logged_in = crate::client::token_store::token_file()
        .map(|path| path.exists())
        .unwrap_or(false);
    if !logged_in {
        bail!(
            "no token: pass --token-file, set GATEHOUSE_TOKEN, or run `gatehouse login` \
             (an administrator creates keys with `gatehouse keys create`)"
        );
    }
    Ok(crate::client::token_store::current_token()
        .await?
        .access_token)
}

fn non_empty(token: &str, origin: &str) -> Result<String> {
    if token.is_empty() {
        bail!("{origin} is empty: it must hold a gatehouse token");
    }
    Ok(token.to_owned())
}
