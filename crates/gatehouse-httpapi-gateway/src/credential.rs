//! The connection's own credential, which gatehouse adds to every forwarded request in place of
//! the client's gatehouse token: a bearer token (given, or read from a file for every request
//! so a rotated token is used at once), basic auth, an API-key header, or nothing beyond the
//! upstream's TLS client certificate. What it sends is also what the scrubber looks for in
//! answers, so the target echoing it never hands it to the client.

use base64::Engine;
use gatehouse_core::SecretString;
use hyper::header::{self, HeaderName, HeaderValue};
use std::path::PathBuf;

/// What gatehouse presents to the target.
pub enum HttpCredential {
    /// `Authorization: Bearer` with this token.
    Bearer(SecretString),
    /// `Authorization: Bearer` with the token in this file, read for every request.
    BearerFile(PathBuf),
    /// `Authorization: Basic`.
    Basic {
        user: String,
        password: SecretString,
    },
    /// An API-key header (`X-API-Key: ...`).
    Header {
        name: HeaderName,
        value: SecretString,
    },
    /// Nothing beyond TLS: a client certificate in the upstream's TLS configuration.
    ClientCertificate,
    /// Nothing: the connection is served by agents, and the agent adds its own (and scrubs it
    /// from answers).
    AtAgent,
}

/// One request's credential: the header to add and the secret texts the answer must not
/// carry back.
pub struct Presented {
    pub header: Option<(HeaderName, HeaderValue)>,
    pub secrets: Vec<Vec<u8>>,
}

impl HttpCredential {
    /// The header this credential sets, which a request from the gateway to an agent must
    /// not carry already.
    pub fn header_name(&self) -> Option<HeaderName> {
        match self {
            HttpCredential::Bearer(_)
            | HttpCredential::BearerFile(_)
            | HttpCredential::Basic { .. } => Some(header::AUTHORIZATION),
            HttpCredential::Header { name, .. } => Some(name.clone()),
            HttpCredential::ClientCertificate | HttpCredential::AtAgent => None,
        }
    }

    /// The credential as it stands now; `Err` names what could not be read (for the log).
    pub async fn present(&self) -> Result<Presented, String> {
        let bearer = |token: &str| -> Result<Presented, String> {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the token is not a valid header value".to_owned())?;
            Ok(Presented {
                header: Some((header::AUTHORIZATION, sensitive(value))),
                secrets: vec![token.as_bytes().to_vec()],
            })
        };
        match self {
            HttpCredential::Bearer(token) => bearer(token.expose()),
            HttpCredential::BearerFile(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|error| format!("token file {}: {error}", path.display()))?;
                bearer(text.trim())
            }
            HttpCredential::Basic { user, password } => {
                let pair = format!("{user}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(&pair);
                let value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| "the basic credential is not a valid header value".to_owned())?;
                Ok(Presented {
                    header: Some((header::AUTHORIZATION, sensitive(value))),
                    secrets: vec![encoded.into_bytes(), password.expose().as_bytes().to_vec()],
                })
            }
            HttpCredential::Header { name, value } => {
                let header_value = HeaderValue::from_str(value.expose())
                    .map_err(|_| format!("the {name} value is not a valid header value"))?;
                Ok(Presented {
                    header: Some((name.clone(), sensitive(header_value))),
                    secrets: vec![value.expose().as_bytes().to_vec()],
                })
            }
            HttpCredential::ClientCertificate | HttpCredential::AtAgent => Ok(Presented {
                header: None,
                secrets: Vec::new(),
            }),
        }
    }
}

/// Marks a header value sensitive, so HTTP/2's header compression never indexes it.
fn sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}
