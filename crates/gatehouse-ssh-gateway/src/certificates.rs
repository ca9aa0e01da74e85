//! Certificate logins: gatehouse's user certificate authority signs a client's public key
//! into an OpenSSH user certificate that names the gatehouse identity and expires with the
//! token it was issued for (`gatehouse ssh-cert`), so that `ssh`, `scp` and `sftp` log in with
//! no prompt. The certificate carries the identity (subject, kind, groups, delegation) under
//! the CA's signature; at every login the credential it was issued for is checked again, so a
//! certificate whose token or identity was revoked since is refused.

use crate::SshGatewayError;
use gatehouse_core::{Identity, IdentityKind};
use gatehouse_pipeline::{AuthError, Authenticated, BoxFuture};
use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::{Fingerprint, HashAlg};
use russh::keys::{Certificate, PrivateKey, PublicKey};
use std::sync::Arc;

const GROUPS: &str = "groups@gatehouse";
const ACTING_FOR: &str = "acting-for@gatehouse";
const CREDENTIAL: &str = "credential@gatehouse";
const KIND: &str = "kind@gatehouse";

/// How far back a certificate's validity starts, for clocks that differ a little.
const CLOCK_SKEW_SECONDS: u64 = 60;

/// Whether the credential a certificate was issued for still stands.
pub trait CredentialStatus: Send + Sync {
    /// `Ok` when credential `credential_id` of `subject` is neither revoked nor expired and
    /// the identity is not revoked.
    fn check<'a>(
        &'a self,
        credential_id: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<(), AuthError>>;
}

/// The user CA and what certificate logins are checked against.
pub struct CertificateLogins {
    authority: PrivateKey,
    fingerprint: Fingerprint,
    status: Arc<dyn CredentialStatus>,
}

impl CertificateLogins {
    pub fn new(authority: PrivateKey, status: Arc<dyn CredentialStatus>) -> Self {
        let fingerprint = authority.public_key().fingerprint(HashAlg::Sha256);
        CertificateLogins {
            authority,
            fingerprint,
            status,
        }
    }

    /// The CA's public key (for `TrustedUserCAKeys`-style trust and `gatehouse ssh-config`).
    pub fn authority(&self) -> &PublicKey {
        self.authority.public_key()
    }

    /// A user certificate for `public_key`, naming `accepted`'s identity, valid until the
    /// credential expires or for `longest`, whichever ends first (a credential that never
    /// expires, such as an API key without expiry, gets `longest`).
    pub fn issue(
        &self,
        accepted: &Authenticated,
        public_key: &PublicKey,
        longest: std::time::Duration,
    ) -> Result<Certificate, SshGatewayError> {
        let failed =
            |error: russh::keys::ssh_key::Error| SshGatewayError::Certificate(error.to_string());
        let now = u64::try_from(gatehouse_pipeline::now_unix_ms() / 1000).unwrap_or(0);
        let cap = now.saturating_add(longest.as_secs());
        let expires = accepted
            .expires_at_unix
            .and_then(|at| u64::try_from(at).ok())
            .map_or(cap, |at| at.min(cap));
        if expires <= now {
            return Err(SshGatewayError::Certificate(
                "the credential has expired; log in again (`gatehouse login`)".to_owned(),
            ));
        }
        let mut nonce = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| SshGatewayError::Certificate("no randomness".to_owned()))?;
        let serial = u64::from_be_bytes([
            nonce[0], nonce[1], nonce[2], nonce[3], nonce[4], nonce[5], nonce[6], nonce[7],
        ]);
        let identity = &accepted.identity;
        let mut builder = Builder::new(
            nonce,
            public_key.key_data().clone(),
            now.saturating_sub(CLOCK_SKEW_SECONDS),
            expires,
        )
        .map_err(failed)?;
        builder
            .serial(serial)
            .map_err(failed)?
            .cert_type(CertType::User)
            .map_err(failed)?
            .key_id(format!(
                "gatehouse:{}:{}",
                identity.subject, accepted.credential_id
            ))
            .map_err(failed)?
            .valid_principal(identity.subject.clone())
            .map_err(failed)?
            .extension(GROUPS, identity.groups.join(","))
            .map_err(failed)?
            .extension(ACTING_FOR, identity.acting_for.join(","))
            .map_err(failed)?
            .extension(CREDENTIAL, accepted.credential_id.clone())
            .map_err(failed)?
            .extension(KIND, identity.kind.as_str())
            .map_err(failed)?
            .extension("permit-pty", "")
            .map_err(failed)?
            .comment(format!("gatehouse {}", identity.subject))
            .map_err(failed)?;
        builder.sign(&self.authority).map_err(failed)
    }

    /// The identity a presented certificate names, if this CA signed it, it is valid now,
    /// and its credential still stands.
    pub async fn admit(&self, certificate: &Certificate) -> Result<Authenticated, AuthError> {
        let now = u64::try_from(gatehouse_pipeline::now_unix_ms() / 1000).unwrap_or(0);
        certificate
            .validate_at(now, [&self.fingerprint])
            .map_err(|_| AuthError::Unknown)?;
        if certificate.cert_type() != CertType::User {
            return Err(AuthError::Malformed);
        }
        let extension = |name: &str| certificate.extensions().get(name).cloned();
        let credential_id = extension(CREDENTIAL).ok_or(AuthError::Malformed)?;
        let subject = match certificate.valid_principals() {
            [subject] => subject.clone(),
            _ => return Err(AuthError::Malformed),
        };
        if certificate.key_id() != format!("gatehouse:{subject}:{credential_id}") {
            return Err(AuthError::Malformed);
        }
        self.status.check(&credential_id, &subject).await?;
        let list = |value: Option<String>| -> Vec<String> {
            value
                .unwrap_or_default()
                .split(',')
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let kind = extension(KIND)
            .and_then(|kind| kind.parse::<IdentityKind>().ok())
            .ok_or(AuthError::Malformed)?;
        Ok(Authenticated {
            identity: Identity {
                subject,
                kind,
                groups: list(extension(GROUPS)),
                acting_for: list(extension(ACTING_FOR)),
            },
            credential_id,
            expires_at_unix: i64::try_from(certificate.valid_before()).ok(),
        })
    }
}
