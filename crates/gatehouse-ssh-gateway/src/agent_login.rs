//! Logging in to a target whose private key stays at an agent. The gateway still speaks SSH
//! to the target itself (over the byte stream the agent opens), so policy, recording and the
//! host key check stay at the gateway; but the one thing the login needs the private key for —
//! the signature over the `publickey` userauth request (RFC 4252 §7) — is asked of the agent,
//! which signs only such a request, for exactly its connection's user and key. The gateway
//! never holds the key, and cannot use the agent as a general signing oracle either.
//!
//! Both ends live here: the agent's connector ([`AgentSshTargets`]: a session request with
//! empty details dials the target and says which user, public key and host key to use; one
//! with `{"sign": BASE64}` dials nothing and answers `{"signature": BASE64}`), and the
//! gateway's [`AgentSigner`], russh's [`russh::Signer`] over the tunnel.

use crate::SshGatewayError;
use crate::keys::{HostKeyPin, parse_public_key, public_key_line};
use crate::target::SshTargets;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use gatehouse_pipeline::BoxFuture;
use gatehouse_session::{ConnectError, OpenRequest, Opened, TargetConnector};
use russh::keys::signature::{Signer as _, Verifier};
use russh::keys::ssh_encoding::{Decode, Encode};
use russh::keys::ssh_key::Signature;
use russh::keys::{Algorithm, HashAlg, PrivateKey, PublicKey};
use std::collections::HashMap;
use std::sync::Arc;

/// The session request detail asking the agent to sign (base64 of the data).
pub const SIGN: &str = "sign";
/// The agent's answer to [`SIGN`]: base64 of the SSH signature blob.
pub const SIGNATURE: &str = "signature";

/// SSH_MSG_USERAUTH_REQUEST.
const USERAUTH_REQUEST: u8 = 50;
/// The longest session identifier: the exchange hash of SHA-512 key exchanges.
const MAX_SESSION_ID: usize = 64;

/// A key an agent may hold for a connection: Ed25519 (what gatehouse's SSH is built for) and
/// not encrypted (the agent runs unattended).
pub fn check_agent_key(key: &PrivateKey) -> Result<(), SshGatewayError> {
    if key.is_encrypted() {
        return Err(SshGatewayError::AgentLogin(
            "the private key is encrypted; `ssh-keygen -p -N '' -f FILE` removes the passphrase"
                .to_owned(),
        ));
    }
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(SshGatewayError::AgentLogin(format!(
            "the private key is {}, and an agent signs with Ed25519 keys only (`ssh-keygen -t ed25519` makes one)",
            key.algorithm()
        )));
    }
    Ok(())
}

/// Reads SSH wire data (RFC 4251 §5) with every length checked.
struct Wire<'a> {
    rest: &'a [u8],
}

impl<'a> Wire<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(*first)
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let (length, rest) = self.rest.split_first_chunk::<4>()?;
        let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
        if length > rest.len() {
            return None;
        }
        let (string, rest) = rest.split_at(length);
        self.rest = rest;
        Some(string)
    }
}

/// Whether `data` is what an SSH client signs to log in as `user` with `key` (RFC 4252 §7):
/// the session identifier, then SSH_MSG_USERAUTH_REQUEST for `user`, service
/// `ssh-connection`, method `publickey` with a signature, `key`'s algorithm and `key` — and
/// nothing else.
pub fn check_userauth_request(
    data: &[u8],
    user: &str,
    key: &PublicKey,
) -> Result<(), SshGatewayError> {
    let refuse = |why: &str| {
        Err(SshGatewayError::AgentLogin(format!(
            "refusing to sign: {why}"
        )))
    };
    let mut wire = Wire { rest: data };
    let truncated = "the data is not a whole SSH userauth request";
    let Some(session_id) = wire.string() else {
        return refuse(truncated);
    };
    if session_id.is_empty() || session_id.len() > MAX_SESSION_ID {
        return refuse("the data does not start with an SSH session identifier");
    }
    match wire.byte() {
        Some(USERAUTH_REQUEST) => {}
        Some(_) => return refuse("the data is not an SSH userauth request"),
        None => return refuse(truncated),
    }
    let Some(asked_user) = wire.string() else {
        return refuse(truncated);
    };
    if asked_user != user.as_bytes() {
        return refuse(&format!(
            "the request logs in as `{}`, and this connection's user is `{user}`",
            String::from_utf8_lossy(asked_user)
        ));
    }
    match wire.string() {
        Some(b"ssh-connection") => {}
        Some(_) => return refuse("the request is not for the `ssh-connection` service"),
        None => return refuse(truncated),
    }
    match wire.string() {
        Some(b"publickey") => {}
        Some(_) => return refuse("the request is not a `publickey` login"),
        None => return refuse(truncated),
    }
    match wire.byte() {
        Some(1) => {}
        Some(_) => return refuse("the request carries no signature"),
        None => return refuse(truncated),
    }
    let algorithm = key.algorithm();
    match wire.string() {
        Some(asked) if asked == algorithm.as_str().as_bytes() => {}
        Some(_) => return refuse(&format!("the request is not for an {algorithm} key")),
        None => return refuse(truncated),
    }
    let blob = key
        .to_bytes()
        .map_err(|error| SshGatewayError::AgentLogin(error.to_string()))?;
    match wire.string() {
        Some(asked) if asked == blob.as_slice() => {}
        Some(_) => return refuse("the request is for another key than this connection's"),
        None => return refuse(truncated),
    }
    if !wire.rest.is_empty() {
        return refuse("the data goes on after the userauth request");
    }
    Ok(())
}

/// The signature over `data` (checked with [`check_userauth_request`] first), as an SSH agent
/// returns it: the signature blob, string algorithm then string signature.
pub fn sign_userauth_request(
    key: &PrivateKey,
    user: &str,
    data: &[u8],
) -> Result<Vec<u8>, SshGatewayError> {
    check_userauth_request(data, user, key.public_key())?;
    let signature: Signature = key
        .try_sign(data)
        .map_err(|error| SshGatewayError::AgentLogin(format!("cannot sign: {error}")))?;
    signature.encode_vec().map_err(|error| {
        SshGatewayError::AgentLogin(format!("cannot encode the signature: {error}"))
    })
}

/// Whether `blob` (an SSH signature blob) is `key`'s signature over `data`.
pub fn verify_signature(key: &PublicKey, data: &[u8], blob: &[u8]) -> Result<(), SshGatewayError> {
    let mut reader = blob;
    let signature = Signature::decode(&mut reader)
        .ok()
        .filter(|_| reader.is_empty())
        .ok_or_else(|| {
            SshGatewayError::AgentLogin("the agent's signature is malformed".to_owned())
        })?;
    Verifier::verify(key, data, &signature).map_err(|_| {
        SshGatewayError::AgentLogin(
            "the agent's signature does not verify with the key it named".to_owned(),
        )
    })
}

/// What russh's [`russh::Signer::auth_sign`] returns: the data signed, then the signature
/// blob as an SSH string (what russh's own ssh-agent client builds from the agent's answer).
pub fn signed_request(mut data: Vec<u8>, blob: &[u8]) -> Result<Vec<u8>, SshGatewayError> {
    blob.encode(&mut data).map_err(|error| {
        SshGatewayError::AgentLogin(format!("cannot encode the signature: {error}"))
    })?;
    Ok(data)
}

/// What an agent says about a connection's target when it opens it: the login and the keys,
/// all public.
pub struct AgentSaid {
    pub user: String,
    pub public_key: PublicKey,
    pub host_key: HostKeyPin,
}

impl AgentSaid {
    /// Read from a session's answer details (`user`, `public_key`, `host_key`).
    pub fn from_details(details: &serde_json::Value) -> Result<AgentSaid, SshGatewayError> {
        let text = |field: &str| {
            details
                .get(field)
                .and_then(serde_json::Value::as_str)
                .filter(|text| !text.is_empty())
                .ok_or_else(|| {
                    SshGatewayError::AgentLogin(format!(
                        "the agent did not say the target's `{field}`; upgrade the agent"
                    ))
                })
        };
        let key = |field: &str| {
            parse_public_key(text(field)?).map_err(|_| {
                SshGatewayError::AgentLogin(format!("the agent's `{field}` is not a public key"))
            })
        };
        Ok(AgentSaid {
            user: text("user")?.to_owned(),
            public_key: key("public_key")?,
            host_key: HostKeyPin::parse(text("host_key")?).map_err(|_| {
                SshGatewayError::AgentLogin(
                    "the agent's `host_key` is not a public key or SHA-256 fingerprint".to_owned(),
                )
            })?,
        })
    }

    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "user": self.user,
            "public_key": public_key_line(&self.public_key),
            "host_key": self.host_key.to_string(),
        })
    }
}

/// The gateway's side: signs userauth requests by asking the agents serving `connection`.
pub(crate) struct AgentSigner<'a> {
    pub opener: &'a dyn TargetConnector,
    pub connection: &'a str,
    pub public_key: &'a PublicKey,
}

impl AgentSigner<'_> {
    async fn sign(&self, to_sign: Vec<u8>) -> Result<Vec<u8>, SshGatewayError> {
        let request = OpenRequest {
            kind: gatehouse_ssh::SSH.as_str().to_owned(),
            login_level: gatehouse_core::ADMIN_LOGIN_LEVEL.to_owned(),
            details: serde_json::json!({ SIGN: BASE64.encode(&to_sign) }),
        };
        let answer = self
            .opener
            .open(self.connection, &request)
            .await
            .map_err(|error| SshGatewayError::Unreachable(error.to_string()))?;
        let blob = answer
            .details
            .get(SIGNATURE)
            .and_then(serde_json::Value::as_str)
            .and_then(|text| BASE64.decode(text).ok())
            .ok_or_else(|| {
                SshGatewayError::AgentLogin("the agent answered without a signature".to_owned())
            })?;
        verify_signature(self.public_key, &to_sign, &blob)?;
        signed_request(to_sign, &blob)
    }
}

impl From<russh::SendError> for SshGatewayError {
    fn from(_: russh::SendError) -> Self {
        SshGatewayError::Ssh(russh::Error::SendError)
    }
}

impl russh::Signer for AgentSigner<'_> {
    type Error = SshGatewayError;

    #[allow(clippy::manual_async_fn)]
    fn auth_sign(
        &mut self,
        _key: &russh::keys::agent::AgentIdentity,
        _hash_alg: Option<HashAlg>,
        to_sign: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send {
        async move { self.sign(to_sign).await }
    }
}

/// One connection's login as an agent holds it.
pub struct AgentSshLogin {
    pub user: String,
    pub key: Arc<PrivateKey>,
    /// The target's host key, which the gateway pins.
    pub host_key: HostKeyPin,
}

/// The agent's opener of `ssh` targets: dials them with `dial`, and signs userauth requests
/// for their logins.
pub struct AgentSshTargets {
    pub dial: SshTargets,
    pub logins: HashMap<String, AgentSshLogin>,
}

impl AgentSshTargets {
    fn sign(&self, login: &AgentSshLogin, data: &str) -> Result<Opened, ConnectError> {
        let data = BASE64
            .decode(data)
            .map_err(|_| ConnectError::Protocol("the data to sign is not base64".to_owned()))?;
        let blob = sign_userauth_request(&login.key, &login.user, &data)
            .map_err(|error| ConnectError::Unavailable(error.to_string()))?;
        Ok(Opened {
            stream: Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink())),
            details: serde_json::json!({ SIGNATURE: BASE64.encode(blob) }),
            leftover: Vec::new(),
        })
    }
}

impl TargetConnector for AgentSshTargets {
    fn kinds(&self) -> Vec<String> {
        vec![gatehouse_ssh::SSH.as_str().to_owned()]
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(async move {
            let login = self
                .logins
                .get(connection)
                .filter(|_| request.kind == gatehouse_ssh::SSH.as_str())
                .ok_or_else(|| {
                    ConnectError::Unavailable(format!("no SSH target `{connection}` here"))
                })?;
            let details = request.details.as_object();
            match details.map(|details| (details.len(), details.get(SIGN))) {
                Some((0, _)) => {
                    let mut opened = self.dial.open(connection, request).await?;
                    opened.details = AgentSaid {
                        user: login.user.clone(),
                        public_key: login.key.public_key().clone(),
                        host_key: login.host_key.clone(),
                    }
                    .details();
                    Ok(opened)
                }
                Some((1, Some(serde_json::Value::String(data)))) => {
                    let signed = self.sign(login, data);
                    if let Err(error) = &signed {
                        tracing::warn!(%connection, %error, "refused to sign for the gateway");
                    }
                    signed
                }
                _ => Err(ConnectError::Protocol(format!(
                    "SSH connection `{connection}`: the session request asks for something this agent does not do (it dials the target, or signs the login's userauth request)"
                ))),
            }
        })
    }

    fn signal<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        self.dial.signal(connection, request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;
    use crate::keys::generate_ed25519;

    /// The data russh's client asks a signer to sign (`client_make_to_sign`).
    fn request(session_id: &[u8], user: &str, key: &PublicKey) -> Vec<u8> {
        let mut data = Vec::new();
        session_id.encode(&mut data).unwrap();
        data.push(USERAUTH_REQUEST);
        user.encode(&mut data).unwrap();
        "ssh-connection".encode(&mut data).unwrap();
        "publickey".encode(&mut data).unwrap();
        data.push(1);
        key.algorithm().as_str().encode(&mut data).unwrap();
        key.to_bytes().unwrap().encode(&mut data).unwrap();
        data
    }

    #[test]
    fn a_signature_made_for_the_login_verifies_with_its_public_key() {
        let key = generate_ed25519("agent").unwrap();
        let data = request(&[7; 32], "deploy", key.public_key());
        let blob = sign_userauth_request(&key, "deploy", &data).unwrap();
        verify_signature(key.public_key(), &data, &blob).unwrap();
        // The blob is what an ssh-agent returns: string "ssh-ed25519", string signature.
        let mut reader = blob.as_slice();
        assert_eq!(String::decode(&mut reader).unwrap(), "ssh-ed25519");
        assert_eq!(Vec::<u8>::decode(&mut reader).unwrap().len(), 64);
        assert!(reader.is_empty());
        // And russh gets the request with the blob appended as a string.
        let signed = signed_request(data.clone(), &blob).unwrap();
        assert_eq!(&signed[..data.len()], data.as_slice());
        let mut appended = &signed[data.len()..];
        assert_eq!(Vec::<u8>::decode(&mut appended).unwrap(), blob);
        // A signature over other data does not verify.
        let other = request(&[8; 32], "deploy", key.public_key());
        assert!(verify_signature(key.public_key(), &other, &blob).is_err());
    }

    #[test]
    fn requests_for_another_user_or_key_or_anything_else_are_refused() {
        let key = generate_ed25519("agent").unwrap();
        let other = generate_ed25519("other").unwrap();
        let refusal = |data: &[u8]| match sign_userauth_request(&key, "deploy", data) {
            Ok(_) => panic!("signed {data:?}"),
            Err(error) => error.to_string(),
        };
        assert!(refusal(&request(&[7; 32], "root", key.public_key())).contains("`root`"));
        assert!(refusal(&request(&[7; 32], "deploy", other.public_key())).contains("another key"));
        let mut trailing = request(&[7; 32], "deploy", key.public_key());
        trailing.push(0);
        assert!(refusal(&trailing).contains("goes on"));
        assert!(refusal(b"").contains("not a whole"));
        assert!(refusal(&[0; 40]).contains("session identifier"));
        // Arbitrary data (a git commit, a challenge) is never signed.
        let mut text = Vec::new();
        b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904"
            .encode(&mut text)
            .unwrap();
        assert!(refusal(&text).contains("refusing to sign"));
        // Another service, or a login without a signature.
        let good = request(&[7; 32], "deploy", key.public_key());
        let at = good
            .windows(14)
            .position(|w| w == b"ssh-connection")
            .unwrap();
        let mut service = good.clone();
        service[at + 13] = b'x';
        assert!(refusal(&service).contains("`ssh-connection` service"));
        let at = good.windows(9).position(|w| w == b"publickey").unwrap();
        let mut unsigned = good.clone();
        unsigned[at + 9] = 0;
        assert!(refusal(&unsigned).contains("no signature"));
    }

    #[test]
    fn truncated_requests_are_refused_at_every_length() {
        let key = generate_ed25519("agent").unwrap();
        let data = request(&[7; 32], "deploy", key.public_key());
        for length in 0..data.len() {
            assert!(
                check_userauth_request(&data[..length], "deploy", key.public_key()).is_err(),
                "{length}"
            );
        }
        check_userauth_request(&data, "deploy", key.public_key()).unwrap();
        // A length prefix claiming more than there is.
        let mut lying = data.clone();
        lying[3] = 0xff;
        assert!(check_userauth_request(&lying, "deploy", key.public_key()).is_err());
    }
}
