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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::keys::generate_ed25519;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A credential status that refuses the credential ids it was told were revoked.
    #[derive(Default)]
    struct Revocations {
        revoked: Mutex<Vec<String>>,
    }

    impl CredentialStatus for Revocations {
        fn check<'a>(
            &'a self,
            credential_id: &'a str,
            _subject: &'a str,
        ) -> BoxFuture<'a, Result<(), AuthError>> {
            let revoked = self
                .revoked
                .lock()
                .unwrap()
                .iter()
                .any(|id| id == credential_id);
            Box::pin(async move {
                if revoked {
                    Err(AuthError::Revoked)
                } else {
                    Ok(())
                }
            })
        }
    }

    fn logins() -> (CertificateLogins, Arc<Revocations>) {
        let status = Arc::new(Revocations::default());
        let logins = CertificateLogins::new(generate_ed25519("ca").unwrap(), status.clone());
        (logins, status)
    }

    fn rita(expires_at_unix: Option<i64>) -> Authenticated {
        let mut identity = Identity::new(
            "rita",
            IdentityKind::Human,
            vec!["readers".to_owned(), "oncall".to_owned()],
        );
        identity.acting_for = vec!["ci".to_owned()];
        Authenticated {
            identity,
            credential_id: "key123".to_owned(),
            expires_at_unix,
        }
    }

    fn now() -> u64 {
        u64::try_from(gatehouse_pipeline::now_unix_ms() / 1000).unwrap()
    }

    /// A certificate signed by `ca` as `issue` would make it, changed by `change`.
    fn crafted(
        ca: &PrivateKey,
        cert_type: CertType,
        change: impl FnOnce(&mut Builder) -> &mut Builder,
    ) -> Certificate {
        crafted_as(ca, cert_type, "gatehouse:rita:key123", &["rita"], change)
    }

    /// Like [`crafted`], with its key id and principals.
    fn crafted_as(
        ca: &PrivateKey,
        cert_type: CertType,
        key_id: &str,
        principals: &[&str],
        change: impl FnOnce(&mut Builder) -> &mut Builder,
    ) -> Certificate {
        let key = generate_ed25519("client").unwrap();
        let mut builder = Builder::new(
            [7u8; 32],
            key.public_key().key_data().clone(),
            now() - 60,
            now() + 3600,
        )
        .unwrap();
        builder
            .cert_type(cert_type)
            .unwrap()
            .key_id(key_id)
            .unwrap();
        for principal in principals {
            builder.valid_principal(*principal).unwrap();
        }
        change(&mut builder);
        builder.sign(ca).unwrap()
    }

    fn with_extensions(builder: &mut Builder) -> &mut Builder {
        builder
            .extension(CREDENTIAL, "key123")
            .unwrap()
            .extension(KIND, "human")
            .unwrap()
            .extension(GROUPS, "admins")
            .unwrap()
    }

    #[tokio::test]
    async fn an_issued_certificate_is_admitted_as_the_identity_it_was_issued_for() {
        let (logins, _) = logins();
        let key = generate_ed25519("client").unwrap();
        let accepted = rita(None);
        let certificate = logins
            .issue(&accepted, key.public_key(), Duration::from_secs(3600))
            .unwrap();
        assert_eq!(certificate.cert_type(), CertType::User);
        assert_eq!(certificate.valid_principals(), ["rita".to_owned()]);
        assert_eq!(certificate.key_id(), "gatehouse:rita:key123");
        let end = certificate.valid_before();
        assert!((now() + 3590..=now() + 3600).contains(&end), "{end}");

        let admitted = logins.admit(&certificate).await.unwrap();
        assert_eq!(admitted.identity.subject, "rita");
        assert_eq!(admitted.identity.kind, IdentityKind::Human);
        assert_eq!(admitted.identity.groups, ["readers", "oncall"]);
        assert_eq!(admitted.identity.acting_for, ["ci"]);
        assert_eq!(admitted.credential_id, "key123");
        assert_eq!(admitted.expires_at_unix, i64::try_from(end).ok());

        // A credential that ends sooner ends the certificate with it; an ended one gets none.
        let soon = i64::try_from(now() + 120).unwrap();
        let short = logins
            .issue(
                &rita(Some(soon)),
                key.public_key(),
                Duration::from_secs(3600),
            )
            .unwrap();
        assert_eq!(i64::try_from(short.valid_before()).unwrap(), soon);
        let ended = i64::try_from(now() - 1).unwrap();
        assert!(
            logins
                .issue(
                    &rita(Some(ended)),
                    key.public_key(),
                    Duration::from_secs(3600)
                )
                .is_err()
        );
    }

    #[tokio::test]
    async fn another_cas_certificate_is_refused() {
        let (ours, _) = logins();
        let (theirs, _) = logins();
        let key = generate_ed25519("client").unwrap();
        let certificate = theirs
            .issue(&rita(None), key.public_key(), Duration::from_secs(3600))
            .unwrap();
        assert!(matches!(
            ours.admit(&certificate).await,
            Err(AuthError::Unknown)
        ));
        let foreign = generate_ed25519("foreign").unwrap();
        let crafted = crafted(&foreign, CertType::User, with_extensions);
        assert!(ours.admit(&crafted).await.is_err());
    }

    #[tokio::test]
    async fn an_expired_certificate_of_this_ca_is_refused() {
        let ca = generate_ed25519("ca").unwrap();
        let logins = CertificateLogins::new(ca.clone(), Arc::new(Revocations::default()));
        let key = generate_ed25519("client").unwrap();
        let mut builder = Builder::new(
            [9u8; 32],
            key.public_key().key_data().clone(),
            now() - 7200,
            now() - 3600,
        )
        .unwrap();
        builder
            .cert_type(CertType::User)
            .unwrap()
            .key_id("gatehouse:rita:key123")
            .unwrap()
            .valid_principal("rita")
            .unwrap();
        with_extensions(&mut builder);
        let expired = builder.sign(&ca).unwrap();
        assert!(matches!(
            logins.admit(&expired).await,
            Err(AuthError::Unknown)
        ));
        // The same certificate in date is admitted: the refusal was the expiry.
        let in_date = crafted(&ca, CertType::User, with_extensions);
        assert!(logins.admit(&in_date).await.is_ok());
    }

    #[tokio::test]
    async fn a_host_certificate_of_this_ca_is_refused() {
        let ca = generate_ed25519("ca").unwrap();
        let logins = CertificateLogins::new(ca.clone(), Arc::new(Revocations::default()));
        let host = crafted(&ca, CertType::Host, with_extensions);
        assert!(matches!(
            logins.admit(&host).await,
            Err(AuthError::Malformed)
        ));
    }

    #[tokio::test]
    async fn a_certificate_missing_what_gatehouse_reads_is_refused() {
        let ca = generate_ed25519("ca").unwrap();
        let logins = CertificateLogins::new(ca.clone(), Arc::new(Revocations::default()));
        let no_credential = crafted(&ca, CertType::User, |b| b.extension(KIND, "human").unwrap());
        assert!(matches!(
            logins.admit(&no_credential).await,
            Err(AuthError::Malformed)
        ));
        let no_kind = crafted(&ca, CertType::User, |b| {
            b.extension(CREDENTIAL, "key123").unwrap()
        });
        assert!(matches!(
            logins.admit(&no_kind).await,
            Err(AuthError::Malformed)
        ));
        let two_principals = crafted_as(
            &ca,
            CertType::User,
            "gatehouse:rita:key123",
            &["rita", "root"],
            with_extensions,
        );
        assert!(matches!(
            logins.admit(&two_principals).await,
            Err(AuthError::Malformed)
        ));
        let other_key_id = crafted_as(
            &ca,
            CertType::User,
            "gatehouse:ana:key123",
            &["rita"],
            with_extensions,
        );
        assert!(matches!(
            logins.admit(&other_key_id).await,
            Err(AuthError::Malformed)
        ));
    }

    #[tokio::test]
    async fn a_certificate_whose_credential_was_revoked_is_refused() {
        let (logins, status) = logins();
        let key = generate_ed25519("client").unwrap();
        let certificate = logins
            .issue(&rita(None), key.public_key(), Duration::from_secs(3600))
            .unwrap();
        assert!(logins.admit(&certificate).await.is_ok());
        status.revoked.lock().unwrap().push("key123".to_owned());
        assert!(matches!(
            logins.admit(&certificate).await,
            Err(AuthError::Revoked)
        ));
    }
}
