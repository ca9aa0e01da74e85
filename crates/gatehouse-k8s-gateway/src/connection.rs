//! One client connection: each request is authenticated, attributed, decided and forwarded;
//! each token presented on the connection opens one session (`connect` decided once, Secrets
//! masked or not decided once), which revocation, token expiry, shutdown or a policy that
//! withdraws it end by cutting the whole connection — a `kubectl get -w` stops at once.

use crate::answer::{self, Refusal};
use crate::exec_tap::ExecTap;
use crate::forward;
use crate::gateway::{KubeGateway, KubeTarget};
use crate::ports::PortDecisions;
use crate::request::KubeRequest;
use crate::spdy_tap::SpdyTap;
use crate::stream_record::StreamRecord;
use bytes::Bytes;
use gatehouse_core::{Action, SecretString};
use gatehouse_http::body::ProxyBody;
use gatehouse_http::listener::{ClientConnection, HttpConnection};
use gatehouse_http::upgrade::StreamTap;
use gatehouse_pipeline::{Authenticated, SessionContext};
use gatehouse_session::{SessionRefused, SessionServices, TokenSession, TokenSessions};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, header};
use sha2::{Digest, Sha256};
use std::sync::{Arc, PoisonError};
use std::time::Instant;

/// The adapter's side of one client connection.
#[derive(Clone)]
pub struct KubeConnection {
    gateway: Arc<KubeGateway>,
    client: ClientConnection,
    /// Each token's session (`connect` and `data:unmasked` decided once).
    sessions: Arc<TokenSessions>,
    /// Upgraded streams (exec, attach, port-forward) still relaying.
    relays: forward::Relays,
}

impl HttpConnection for KubeConnection {
    async fn handle(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        match self.answer(request).await {
            Ok(response) => response,
            Err(refusal) => refusal.into_response(),
        }
    }

    async fn closed(self) {
        // An upgraded stream outlives the HTTP connection it came on: the sessions end when
        // their streams do (or are cut).
        let relays =
            std::mem::take(&mut *self.relays.lock().unwrap_or_else(PoisonError::into_inner));
        for relay in relays {
            let _ = relay.await;
        }
        self.sessions.close().await;
    }
}

type Answer = Result<Response<ProxyBody>, Refusal>;

impl KubeConnection {
    pub fn new(gateway: Arc<KubeGateway>, client: ClientConnection) -> Self {
        let cut = client.cut.clone();
        let sessions = TokenSessions::new(
            SessionServices {
                pipeline: gateway.pipeline.clone(),
                authenticator: gateway.authenticator.clone(),
                live: gateway.live.clone(),
                shutdown: gateway.shutdown.clone(),
            },
            client.peer.ip(),
            Arc::new(move || cut.cut()),
        );
        KubeConnection {
            gateway,
            client,
            sessions: Arc::new(sessions),
            relays: Default::default(),
        }
    }

    async fn answer(&self, mut request: Request<Incoming>) -> Answer {
        // Every body is read whole before the decision, so chunked bodies gain a client
        // nothing; refusing them refuses every Content-Length/Transfer-Encoding trick too.
        if let Some(why) = gatehouse_http::framing::refused_framing(request.headers(), false) {
            return Err(answer::bad_request(why));
        }
        let accepted = self.authenticate(&request).await?;
        if request
            .headers()
            .keys()
            .any(|name| name.as_str().starts_with("impersonate-"))
        {
            return Err(answer::forbidden(
                "Impersonate-* headers are refused: gatehouse decides as the token's identity (and impersonates it itself when the connection says so)",
            ));
        }
        let (name, rest) = route(request.uri().path())?;
        let target = self.gateway.targets.get(name).cloned().ok_or_else(|| {
            answer::status(
                gatehouse_k8s::StatusReason::NotFound,
                &format!("no Kubernetes connection `{name}` (`gatehouse kubeconfig CONNECTION` writes a working kubeconfig)"),
            )
        })?;
        let forwarded_target = match request.uri().query() {
            Some(query) => format!("{rest}?{query}"),
            None => rest.to_owned(),
        };
        let attributes = gatehouse_k8s::attribute(request.method().as_str(), &forwarded_target)
            .map_err(|error| answer::bad_request(&format!("refused request path: {error}")))?;
        let session = self.session(&accepted, &target).await?;
        let upgrade = gatehouse_http::upgrade::requested_upgrade(request.headers())
            .map(|protocol| (protocol, hyper::upgrade::on(&mut request)));
        let (parts, body) = request.into_parts();
        let body = self.body(&parts.method, body).await?;
        let patch = if parts.method == Method::PATCH {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            Some(
                gatehouse_k8s::patch_paths(content_type, &body)
                    .map_err(|error| answer::bad_request(&format!("refused patch: {error}")))?,
            )
        } else {
            None
        };
        let upstream_target = attributes.request_target();
        let kube_request = KubeRequest::new(
            parts.method.as_str(),
            attributes,
            &upstream_target,
            hex::encode(Sha256::digest(&body)),
            patch,
        );
        let query_ports = if kube_request.attributes().action() == "k8s:portforward" {
            crate::ports::query_ports(&kube_request.attributes().query)
                .map_err(|why| answer::bad_request(&format!("refused port-forward: {why}")))?
        } else {
            Vec::new()
        };
        let permit = crate::decide::permit(
            &self.gateway.pipeline,
            &session.context,
            Action::of(kube_request.clone()),
            self.gateway.limits.approval_wait,
        )
        .await?;
        let seq = *permit.audit_seqs().start();
        let started = Instant::now();
        let recorder = session.context.recorder.clone();
        let request_number = recorder.as_ref().and_then(|r| r.request_number(seq));
        let method = parts.method.to_string();
        let request_bytes = u64::try_from(body.len()).unwrap_or(u64::MAX);
        let forwarded = match self
            .decide_ports(&session.context, &kube_request, &query_ports)
            .await
        {
            Err(refusal) => Err(refusal),
            Ok(()) => {
                let upgrade = upgrade.map(|(protocol, on_upgrade)| forward::ClientUpgrade {
                    tap: self.tap(
                        &session.context,
                        &kube_request,
                        &protocol,
                        &parts.headers,
                        request_number,
                    ),
                    protocol,
                    on_upgrade,
                    cut: self.client.cut.clone(),
                    relays: self.relays.clone(),
                });
                forward::forward(forward::Forward {
                    target: &target,
                    identity: &session.context.identity,
                    parts,
                    upstream_target: &upstream_target,
                    body,
                    request: &kube_request,
                    masking: (!session.unmasked).then_some(&self.gateway.masking),
                    upgrade,
                })
                .await
            }
        };
        let outcome = forward::outcome(&forwarded, started);
        if let (Some(recorder), Some(number)) = (&recorder, request_number) {
            recorder.record(forward::exchange(
                number,
                &method,
                &upstream_target,
                &forwarded,
                request_bytes,
                outcome.duration_us,
            ));
        }
        let record = {
            let pipeline = self.gateway.pipeline.clone();
            let session = session.clone();
            move |outcome| {
                let _ = pipeline.record_results(
                    &session.context,
                    vec![gatehouse_pipeline::RequestResult {
                        seq,
                        outcome,
                        columns: Vec::new(),
                        bytes: 0,
                        rows: Vec::new(),
                    }],
                );
            }
        };
        match forwarded {
            Ok(response) if forward::counts_objects(&response) => {
                // The object count is known when the body ends: the outcome is recorded then
                // (the request itself was recorded before it was forwarded).
                let watch = kube_request.attributes().verb == "watch";
                let (parts, body) = response.into_parts();
                let tally = parts.extensions.get::<crate::secrets::MaskTally>().cloned();
                let on_end = Box::new(move |count| {
                    record(gatehouse_pipeline::AuditOutcome {
                        rows: Some(count),
                        duration_us: u64::try_from(started.elapsed().as_micros())
                            .unwrap_or(u64::MAX),
                        masked: tally.map(|tally| tally.counts()).unwrap_or_default(),
                        ..outcome
                    });
                });
                let counted = crate::counted::CountedBody::new(body, watch, on_end);
                Ok(Response::from_parts(parts, ProxyBody::new(counted)))
            }
            other => {
                record(outcome);
                other
            }
        }
    }

    /// Decide each port a WebSocket port-forward names in its query; the first refused
    /// refuses the request.
    async fn decide_ports(
        &self,
        context: &SessionContext,
        request: &KubeRequest,
        ports: &[u16],
    ) -> Result<(), Refusal> {
        for port in ports {
            crate::ports::decide(
                &self.gateway,
                context,
                request,
                *port,
                self.gateway.limits.approval_wait,
            )
            .await?;
        }
        Ok(())
    }

    /// What watches an upgraded stream: the WebSocket exec tap when an exec or attach is
    /// recorded; for SPDY (plain or inside WebSocket), the SPDY tap when it is recorded or is
    /// a port-forward, whose ports it decides.
    fn tap(
        &self,
        context: &SessionContext,
        request: &KubeRequest,
        protocol: &str,
        headers: &hyper::HeaderMap,
        request_number: Option<u64>,
    ) -> Option<Arc<dyn StreamTap>> {
        let record = context
            .recorder
            .clone()
            .zip(request_number)
            .map(|(recorder, number)| StreamRecord::new(recorder, number));
        let websocket = protocol.eq_ignore_ascii_case("websocket");
        let tunnelled = websocket && offers_spdy_tunnel(headers);
        let port_forward = request.attributes().action() == "k8s:portforward";
        if websocket && !tunnelled {
            // A WebSocket port-forward's ports were decided from its query, and its channels
            // carry a port's bytes, not a terminal: the relay's byte counts are its record.
            if port_forward {
                return None;
            }
            return record.map(|record| Arc::new(ExecTap::new(record)) as Arc<dyn StreamTap>);
        }
        let ports = port_forward.then(|| {
            Box::new(PortDecisions::new(
                self.gateway.clone(),
                context.clone(),
                request.clone(),
            )) as Box<dyn crate::ports::PortGate>
        });
        if record.is_none() && ports.is_none() {
            return None;
        }
        Some(Arc::new(SpdyTap::new(record, ports, tunnelled)))
    }

    /// The bearer token's identity; anything else is one generic 401.
    async fn authenticate(&self, request: &Request<Incoming>) -> Result<Authenticated, Refusal> {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| SecretString::new(token.trim()));
        // Named in the audit event of a refusal only.
        let connection =
            gatehouse_http::route::connection_prefix(request.uri().path()).map(|(name, _)| name);
        self.sessions
            .authenticate(presented, connection)
            .await
            .ok_or_else(answer::unauthorized)
    }

    /// The request body, whole and bounded, for the methods that carry one.
    async fn body(&self, method: &Method, body: Incoming) -> Result<Bytes, Refusal> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            // A body on a read is not forwarded; refuse one rather than drop it unseen.
            let read =
                gatehouse_http::body::read_bounded(body, 0, self.gateway.limits.body_timeout).await;
            return read.map_err(|_| {
                answer::bad_request("a GET, HEAD or OPTIONS request carries no body")
            });
        }
        let limits = &self.gateway.limits;
        gatehouse_http::body::read_bounded(body, limits.max_body_bytes, limits.body_timeout)
            .await
            .map_err(|error| match error {
                gatehouse_http::HttpProxyError::BodyTooLarge { limit } => answer::status(
                    gatehouse_k8s::StatusReason::RequestEntityTooLarge,
                    &format!("the request body is larger than {limit} bytes"),
                ),
                other => answer::bad_request(&other.to_string()),
            })
    }

    /// This token's session on connection `name`, opened (with its `connect` decision) on
    /// first use.
    async fn session(
        &self,
        accepted: &Authenticated,
        target: &KubeTarget,
    ) -> Result<Arc<TokenSession>, Refusal> {
        self.sessions
            .session(accepted, &target.info)
            .await
            .map_err(|refused| match refused {
                SessionRefused::Denied(message) => answer::forbidden(&message),
                SessionRefused::Undecided(error) => answer::status(
                    gatehouse_k8s::StatusReason::ServiceUnavailable,
                    &format!("the connection could not be decided: {error}"),
                ),
            })
    }
}

/// Whether a WebSocket upgrade offers SPDY tunnelled in its messages (kubectl 1.31 and later
/// port-forward so). Should the API server choose another subprotocol, the SPDY tap cannot
/// read the messages and ends the stream.
fn offers_spdy_tunnel(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|protocol| {
            protocol
                .trim()
                .eq_ignore_ascii_case("SPDY/3.1+portforward.k8s.io")
        })
}

/// `(connection, rest of the path)`, or a 404 that says how to name a connection.
fn route(path: &str) -> Result<(&str, &str), Refusal> {
    gatehouse_http::route::connection_prefix(path).ok_or_else(|| {
        answer::status(
            gatehouse_k8s::StatusReason::NotFound,
            "name the connection in the server URL: https://HOST:PORT/c/CONNECTION (`gatehouse kubeconfig CONNECTION` writes it)",
        )
    })
}
