//! The gateway's side of admitting agents: checks a tunnel's hello against the store
//! (credential, or a one-time enrolment token spent for a new credential), keeps each
//! agent's last-seen status for `gatehouse agents list`, and audits every admission, refusal
//! and disconnection (never a secret).

use crate::config::ProviderKind;
use crate::server::identity::{Providers, Refusal};
use gatehouse_core::DecisionKind;
use gatehouse_pipeline::BoxFuture;
use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditIdentity, Durability};
use gatehouse_store::{AgentProof, AuditLog, Store};
use gatehouse_tunnel::{Admission, AgentAuthority, Hello};
use std::net::SocketAddr;
use std::sync::Arc;

/// Admits agents known to the store.
pub struct StoreAuthority {
    pub store: Store,
    pub audit: AuditLog,
    /// Verifies workload identity tokens of agents bound to one.
    pub providers: Arc<Providers>,
}

impl StoreAuthority {
    async fn record(
        &self,
        agent: &str,
        peer: SocketAddr,
        decision: &str,
        detail: String,
        durability: Durability,
    ) {
        let identity = AuditIdentity {
            subject: format!("agent:{agent}"),
            kind: "machine".to_owned(),
            groups: Vec::new(),
        };
        let event = AuditEvent {
            source_address: Some(peer.to_string()),
            ..AuditEvent::administrative(
                AuditEventKind::Agent,
                identity,
                format!("agent:{decision}"),
                if decision == "refuse" {
                    DecisionKind::Deny
                } else {
                    DecisionKind::Allow
                },
                Some(detail),
            )
        };
        if let Err(reason) = self.audit.append(&[event], durability).await {
            tracing::error!(%reason, agent, "cannot record an agent event in the audit log");
        }
    }
}

impl AgentAuthority for StoreAuthority {
    fn admit<'a>(
        &'a self,
        hello: &'a Hello,
        peer: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, String>> {
        Box::pin(async move {
            let name = hello.agent.as_str();
            let shown: String = name.chars().take(64).collect();
            if !gatehouse_store::valid_agent_name(name) {
                let reason = format!("{shown:?} is not an agent name");
                self.record(&shown, peer, "refuse", reason.clone(), Durability::Windowed)
                    .await;
                return Err(reason);
            }
            let verified;
            let proof = match (
                &hello.workload_token,
                &hello.credential,
                &hello.enrolment_token,
            ) {
                (Some(token), _, _) => {
                    match self
                        .providers
                        .validate(token.expose(), &[ProviderKind::Workload])
                        .await
                    {
                        Ok(identity) => {
                            verified = identity;
                            AgentProof::Workload {
                                provider: &verified.provider,
                                subject: &verified.subject,
                            }
                        }
                        Err(refusal) => {
                            let reason = match refusal {
                                Refusal::Invalid(error) => {
                                    format!("agent `{name}`'s workload token is refused: {error}")
                                }
                                Refusal::Unavailable(why) => format!(
                                    "agent `{name}`'s workload token cannot be checked now: {why}"
                                ),
                            };
                            self.record(name, peer, "refuse", reason.clone(), Durability::Windowed)
                                .await;
                            return Err(reason);
                        }
                    }
                }
                (None, Some(credential), _) => AgentProof::Credential(credential),
                (None, None, Some(token)) => AgentProof::Enrolment(token),
                (None, None, None) => {
                    let reason = format!(
                        "agent `{name}` presented no credential, enrolment token or workload token; \
                         give it the token from `gatehouse agents create {name}`"
                    );
                    self.record(name, peer, "refuse", reason.clone(), Durability::Windowed)
                        .await;
                    return Err(reason);
                }
            };
            let enrolling = matches!(proof, AgentProof::Enrolment(_));
            match self.store.admit_agent(name, proof).await {
                Ok(Ok(issued)) => {
                    let how = match (enrolling, issued.is_some()) {
                        (true, _) => {
                            "enrolled: its enrolment token is spent and a credential issued"
                        }
                        (false, true) => "connected; its credential was rotated",
                        (false, false) => "connected with its workload identity",
                    };
                    let detail = format!(
                        "agent `{name}` {how} (version {}, connections [{}])",
                        hello.version,
                        hello.connections.join(", ")
                    );
                    // A credential issued is a credential change: on disk before it leaves.
                    let durability = if issued.is_some() {
                        Durability::Synced
                    } else {
                        Durability::Windowed
                    };
                    self.record(
                        name,
                        peer,
                        if enrolling { "enrol" } else { "connect" },
                        detail,
                        durability,
                    )
                    .await;
                    if let Err(error) = self
                        .store
                        .agent_seen(
                            name,
                            true,
                            Some((&hello.version, &hello.connections, &peer.to_string())),
                        )
                        .await
                    {
                        tracing::warn!(%error, agent = name, "cannot note the agent as connected");
                    }
                    Ok(Admission {
                        issued_credential: issued,
                    })
                }
                Ok(Err(refusal)) => {
                    self.record(
                        name,
                        peer,
                        "refuse",
                        refusal.0.clone(),
                        Durability::Windowed,
                    )
                    .await;
                    Err(refusal.0)
                }
                Err(error) => {
                    tracing::error!(%error, agent = name, "cannot check an agent");
                    Err(
                        "the gateway cannot check agents right now; it will be tried again"
                            .to_owned(),
                    )
                }
            }
        })
    }

    fn refused<'a>(
        &'a self,
        hello: &'a Hello,
        peer: SocketAddr,
        reason: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let shown: String = hello.agent.chars().take(64).collect();
            self.record(
                &shown,
                peer,
                "refuse",
                reason.to_owned(),
                Durability::Windowed,
            )
            .await;
        })
    }

    fn alive<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(error) = self.store.agent_seen(agent, true, None).await {
                tracing::warn!(%error, agent, "cannot note the agent as seen");
            }
        })
    }

    fn disconnected<'a>(
        &'a self,
        agent: &'a str,
        peer: SocketAddr,
        reason: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(error) = self.store.agent_seen(agent, false, None).await {
                tracing::warn!(%error, agent, "cannot note the agent as disconnected");
            }
            self.record(
                agent,
                peer,
                "disconnect",
                format!("agent `{agent}` disconnected: {reason}"),
                Durability::Windowed,
            )
            .await;
        })
    }
}
