//! One client connection: each request is routed, authenticated, read as the target will read
//! it, decided, forwarded and audited — the request before it is forwarded, its outcome
//! (status, bytes, masked values, duration) when the answer's body ends — and recorded.

use crate::forward::{self, ClientUpgrade, Forwarded, Relays};
use crate::gateway::{HttpApiGateway, HttpTarget};
use crate::problem::{self, Refusal};
use crate::route::{self, Routed, Unrouted};
use bytes::Bytes;
use gatehouse_core::{Action, ProtocolRequest, SecretString};
use gatehouse_http::body::ProxyBody;
use gatehouse_http::listener::{ClientConnection, HttpConnection};
use gatehouse_http::transformed::BodyEnd;
use gatehouse_httpapi::{HttpApiRequest, HttpInput};
use gatehouse_pipeline::{AuditOutcome, RequestResult, SessionContext};
use gatehouse_session::approval_wait::{Refused, decide_or_wait};
use gatehouse_session::{SessionRefused, SessionServices, TokenSession, TokenSessions};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};
use std::sync::{Arc, PoisonError};
use std::time::Instant;

/// The adapter's side of one client connection.
#[derive(Clone)]
pub struct HttpApiConnection {
    gateway: Arc<HttpApiGateway>,
    client: ClientConnection,
    sessions: Arc<TokenSessions>,
    /// WebSocket streams still relaying.
    relays: Relays,
}

type Answer = Result<Response<ProxyBody>, Refusal>;

impl HttpConnection for HttpApiConnection {
    async fn handle(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        match self.answer(request).await {
            Ok(response) => response,
            Err(refusal) => refusal.into_response(),
        }
    }

    async fn closed(self) {
        let relays =
            std::mem::take(&mut *self.relays.lock().unwrap_or_else(PoisonError::into_inner));
        for relay in relays {
            let _ = relay.await;
        }
        self.sessions.close().await;
    }
}

impl HttpApiConnection {
    pub fn new(gateway: Arc<HttpApiGateway>, client: ClientConnection) -> Self {
        let cut = client.cut.clone();
        let services: SessionServices = gateway.services.clone();
        let sessions = TokenSessions::new(services, client.peer.ip(), Arc::new(move || cut.cut()));
        HttpApiConnection {
            gateway,
            client,
            sessions: Arc::new(sessions),
            relays: Default::default(),
        }
    }

    async fn answer(&self, mut request: Request<Incoming>) -> Answer {
        // Bodies are read whole before the decision and forwarded with a length of their own:
        // a chunked body is fine, one that also claims a length is refused.
        if let Some(why) = gatehouse_http::framing::refused_framing(request.headers(), true) {
            return Err(problem::bad_request(why));
        }
        let Routed {
            connection,
            target: routed_target,
            prefix,
        } = route::route(
            &request,
            self.gateway.host.as_deref(),
            self.client.server_name.as_deref(),
        )
        .map_err(unrouted)?;
        let connection = connection.to_owned();
        let accepted = self
            .sessions
            .authenticate(bearer(&request), Some(&connection))
            .await
            .ok_or_else(problem::unauthorized)?;
        let target = self.target(&connection)?;
        let session = self.session(&accepted, &target).await?;
        let websocket = match gatehouse_http::upgrade::requested_upgrade(request.headers()) {
            None => false,
            Some(protocol) if protocol.eq_ignore_ascii_case("websocket") => true,
            Some(protocol) => {
                return Err(problem::bad_request(&format!(
                    "an upgrade to `{protocol}` is refused; only WebSocket upgrades are relayed"
                )));
            }
        };
        let on_upgrade = websocket.then(|| hyper::upgrade::on(&mut request));
        let (parts, body) = request.into_parts();
        let body = self.body(body).await?;
        let limits = &self.gateway.limits;
        let attributes = read_request(&parts, &routed_target, &body, &target, limits, websocket)?;
        let request_target = attributes.request_target();
        let api_request = HttpApiRequest::new(attributes);
        let action = api_request.action();
        let permit = decide_or_wait(
            &self.gateway.services.pipeline,
            &session.context,
            Action::of(api_request.clone()),
            limits.approval_wait,
        )
        .await
        .map_err(|refused| refusal(refused, action, &connection))?;
        let seq = *permit.audit_seqs().start();
        let started = Instant::now();
        let recorder = session.context.recorder.clone();
        let request_number = recorder.as_ref().and_then(|r| r.request_number(seq));
        if let (Some(recorder), Some(number)) = (&recorder, request_number) {
            recorder.record(crate::record::request_detail(
                number,
                &parts.headers,
                &body,
                limits.recorded_body_bytes,
            ));
        }
        let method = parts.method.to_string();
        let request_bytes = u64::try_from(body.len()).unwrap_or(u64::MAX);
        let upgrade = on_upgrade.map(|on_upgrade| ClientUpgrade {
            on_upgrade,
            cut: self.client.cut.clone(),
            relays: self.relays.clone(),
            tap: recorder
                .clone()
                .zip(request_number)
                .map(|(recorder, number)| {
                    Arc::new(crate::websocket_tap::WebSocketTap::new(
                        recorder,
                        number,
                        limits.recorded_body_bytes,
                    )) as Arc<dyn gatehouse_http::upgrade::StreamTap>
                }),
        });
        let forwarded = forward::forward(forward::Forward {
            target: &target,
            parts,
            request_target: &request_target,
            body,
            masker: (!session.unmasked).then_some(&self.gateway.masker),
            max_text_line_bytes: limits.max_text_line_bytes,
            prefix: &prefix,
            upgrade,
        })
        .await;
        let status = match &forwarded {
            Ok(Forwarded::Answer(answered)) => answered.parts.status,
            Ok(Forwarded::Switched(response)) => response.status(),
            Err(refusal) => refusal.status(),
        };
        let content_type = match &forwarded {
            Ok(Forwarded::Answer(answered)) => answered
                .parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            _ => None,
        };
        let exchange = recorder.zip(request_number).map(|(recorder, number)| {
            let exchange = crate::record::Exchange {
                request: number,
                method,
                target: request_target.clone(),
                status,
                request_bytes,
                content_type,
                started,
            };
            move |end: &BodyEnd| recorder.record(exchange.event(end))
        });
        let audit = outcome_recorder(self.gateway.clone(), session.context.clone(), seq);
        let finish = move |end: BodyEnd| {
            if let Some(exchange) = &exchange {
                exchange(&end);
            }
            audit(outcome(status, &end, request_bytes, started), end.bytes);
        };
        match forwarded {
            Ok(Forwarded::Answer(answered)) => Ok(answered.into_response(Box::new(finish))),
            Ok(Forwarded::Switched(response)) => {
                finish(BodyEnd::default());
                Ok(response)
            }
            Err(refused) => {
                finish(BodyEnd {
                    cut: Some(format!("gatehouse answered {status}")),
                    ..BodyEnd::default()
                });
                Err(refused)
            }
        }
    }

    fn target(&self, connection: &str) -> Result<Arc<HttpTarget>, Refusal> {
        self.gateway
            .targets
            .get(connection)
            .or_else(|| self.gateway.targets.get(&connection.to_ascii_lowercase()))
            .cloned()
            .ok_or_else(|| {
                problem::problem(
                    StatusCode::NOT_FOUND,
                    "unknown-connection",
                    "No such connection",
                    &format!(
                        "no HTTP connection `{connection}` (`gatehouse connections` lists them)"
                    ),
                )
                .into()
            })
    }

    /// The request body, whole and bounded.
    async fn body(&self, body: Incoming) -> Result<Bytes, Refusal> {
        let limits = &self.gateway.limits;
        gatehouse_http::body::read_bounded(body, limits.max_body_bytes, limits.body_timeout)
            .await
            .map_err(|error| match error {
                gatehouse_http::HttpProxyError::BodyTooLarge { limit } => problem::problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "Request body too large",
                    &format!("the request body is larger than {limit} bytes, the most gatehouse reads to decide on"),
                )
                .into(),
                other => problem::bad_request(&other.to_string()),
            })
    }

    async fn session(
        &self,
        accepted: &gatehouse_pipeline::Authenticated,
        target: &HttpTarget,
    ) -> Result<Arc<TokenSession>, Refusal> {
        self.sessions
            .session(accepted, &target.info)
            .await
            .map_err(|refused| match refused {
                SessionRefused::Denied(message) => {
                    problem::forbidden(Some("connect"), &target.info.name, &message)
                }
                SessionRefused::Undecided(error) => problem::unavailable(&format!(
                    "the connection could not be decided, so nothing was sent: {error}"
                )),
            })
    }
}

/// The request as its target will read it (`gatehouse-httpapi`), or a 400 saying why it is
/// refused.
fn read_request(
    parts: &hyper::http::request::Parts,
    target: &str,
    body: &[u8],
    connection: &HttpTarget,
    limits: &crate::gateway::HttpApiLimits,
    websocket: bool,
) -> Result<gatehouse_httpapi::HttpRequestAttributes, Refusal> {
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap_or_default()))
        .collect();
    gatehouse_httpapi::attribute(&HttpInput {
        method: parts.method.as_str(),
        target,
        headers: &headers,
        selected_headers: &connection.policy_headers,
        body,
        json_body_limit: limits.json_body_limit,
        websocket,
    })
    .map_err(|error| problem::bad_request(&error.to_string()))
}

/// The gatehouse token a request presents.
fn bearer<B>(request: &Request<B>) -> Option<SecretString> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(|token| SecretString::new(token.trim()))
}

fn unrouted(unrouted: Unrouted) -> Refusal {
    match unrouted {
        Unrouted::Unnamed => problem::problem(
            StatusCode::NOT_FOUND,
            "unknown-connection",
            "No connection named",
            "name the connection in the URL: https://HOST:PORT/c/CONNECTION/<path>, or https://CONNECTION.<gateway host>:PORT/<path>",
        )
        .into(),
        Unrouted::Misdirected { sni, authority } => problem::problem(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            "Misdirected request",
            &format!("this TLS connection was opened for `{sni}`; open another one for `{authority}`"),
        )
        .into(),
    }
}

/// A refused decision as a problem document.
fn refusal(refused: Refused, action: &str, connection: &str) -> Refusal {
    match refused {
        Refused::Denied(message) => problem::forbidden(Some(action), connection, &message),
        Refused::Held(hold) => {
            let mut document = problem::problem(
                StatusCode::FORBIDDEN,
                "approval-required",
                "Held for approval",
                &format!(
                    "{} Approval {} is pending; once approved (`{}`), send the same request again and it runs once.",
                    hold.message, hold.approval.id, hold.approve_with
                ),
            );
            document.action = Some(action.to_owned());
            document.connection = Some(connection.to_owned());
            document.approval_id = Some(hold.approval.id.clone());
            document.approve_with = Some(hold.approve_with.clone());
            document.into()
        }
        Refused::Unrecorded(error) => problem::unavailable(&format!(
            "the request could not be decided and recorded, so it was not forwarded: {error}"
        )),
    }
}

/// Records request `seq`'s outcome in the audit log.
fn outcome_recorder(
    gateway: Arc<HttpApiGateway>,
    context: SessionContext,
    seq: i64,
) -> impl Fn(AuditOutcome, u64) + Send + 'static {
    move |outcome, bytes| {
        let _ = gateway.services.pipeline.record_results(
            &context,
            vec![RequestResult {
                seq,
                outcome,
                columns: Vec::new(),
                bytes,
                rows: Vec::new(),
            }],
        );
    }
}

/// The audit outcome: the status line (as `status` when 2xx/1xx/3xx, `error` otherwise), the
/// bytes each way, what the answer's masking replaced and how long it all took.
fn outcome(
    status: StatusCode,
    end: &BodyEnd,
    request_bytes: u64,
    started: Instant,
) -> AuditOutcome {
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    let failed = status.is_client_error() || status.is_server_error();
    let error = match (&end.cut, failed) {
        (Some(cut), _) => Some(format!("{line}; {cut}")),
        (None, true) => Some(line.clone()),
        (None, false) => None,
    };
    AuditOutcome {
        rows: None,
        status: (!failed).then_some(line),
        error,
        duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        masked: end.masked.clone(),
        request_bytes: Some(request_bytes),
        response_bytes: Some(end.bytes),
    }
}
