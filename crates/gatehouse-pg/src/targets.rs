//! PostgreSQL over the protocol-neutral connector seam ([`gatehouse_session::TargetConnector`]):
//! what a `postgres` open request and its answer carry, [`PostgresTargets`] serving that kind
//! with a PostgreSQL connector (the built-in one, at the gateway or at an agent for the
//! tunnel), and [`PgConnector`], the PostgreSQL adapter's view of any target connector.
//!
//! An open request's `details` are `{"parameters": [[name, value], ...]}` (the client's
//! allowed startup parameters); the answer's are `{"parameters": [...], "backend_key":
//! {"process_id": N, "secret": N} | null}` (what the server reported), and its leftover the
//! bytes the server sent after its first `ReadyForQuery`. A cancel is a signal whose details
//! are `{"cancel": {"process_id": N, "secret": N}}`.

use crate::PgError;
use crate::connector::{BackendKey, Connector, UpstreamSession};
use gatehouse_pipeline::BoxFuture;
use gatehouse_session::{ConnectError, OpenRequest, Opened, TargetConnector};
use serde_json::{Value, json};
use std::sync::Arc;

/// The connection kind PostgreSQL targets have.
pub const POSTGRES_KIND: &str = "postgres";

/// The open request of a session as `login_level` with the client's `parameters`.
pub fn open_request(login_level: &str, parameters: &[(String, String)]) -> OpenRequest {
    OpenRequest {
        kind: POSTGRES_KIND.to_owned(),
        login_level: login_level.to_owned(),
        details: json!({ "parameters": parameters }),
    }
}

/// The signal that cancels the query running under `key`.
pub fn cancel_request(key: BackendKey) -> OpenRequest {
    OpenRequest {
        kind: POSTGRES_KIND.to_owned(),
        login_level: gatehouse_core::ADMIN_LOGIN_LEVEL.to_owned(),
        details: json!({ "cancel": key_json(key) }),
    }
}

fn key_json(key: BackendKey) -> Value {
    json!({ "process_id": key.process_id, "secret": key.secret })
}

fn key_of(value: &Value) -> Option<BackendKey> {
    let number = |name: &str| {
        value
            .get(name)?
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
    };
    Some(BackendKey {
        process_id: number("process_id")?,
        secret: number("secret")?,
    })
}

/// The startup parameters an open request's or answer's details carry.
pub fn parameters_of(details: &Value) -> Option<Vec<(String, String)>> {
    serde_json::from_value(details.get("parameters")?.clone()).ok()
}

/// The answer's details for a server that reported `parameters` and `key`.
pub fn opened_details(parameters: &[(String, String)], key: Option<BackendKey>) -> Value {
    json!({ "parameters": parameters, "backend_key": key.map(key_json) })
}

/// The cancel key an answer's (or a legacy header's) details carry, if any; `Err` when one is
/// there but malformed.
pub fn backend_key_of(details: &Value) -> Result<Option<BackendKey>, String> {
    match details.get("backend_key") {
        None | Some(Value::Null) => Ok(None),
        Some(key) => key_of(key)
            .map(Some)
            .ok_or_else(|| "the server's cancel key is malformed".to_owned()),
    }
}

/// The connector's error for a PostgreSQL one: a protocol violation by the server (08P01:
/// malformed, oversized, out of order) stays one, so the client still sees 08P01.
fn refused(error: PgError) -> ConnectError {
    match error {
        PgError::Protocol(message) => ConnectError::Protocol(message),
        other if other.sqlstate() == "08P01" => ConnectError::Protocol(other.to_string()),
        other => ConnectError::Unavailable(other.to_string()),
    }
}

/// A PostgreSQL [`Connector`] (the built-in one) serving the `postgres` kind of the
/// protocol-neutral seam: what the gateway and an agent dial PostgreSQL targets with.
pub struct PostgresTargets {
    connector: Arc<dyn Connector>,
}

impl PostgresTargets {
    pub fn new(connector: Arc<dyn Connector>) -> Self {
        PostgresTargets { connector }
    }
}

impl TargetConnector for PostgresTargets {
    fn kinds(&self) -> Vec<String> {
        vec![POSTGRES_KIND.to_owned()]
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(async move {
            if request.kind != POSTGRES_KIND {
                return Err(ConnectError::Unavailable(format!(
                    "connection `{connection}` is a PostgreSQL target, not `{}`",
                    request.kind
                )));
            }
            let parameters = parameters_of(&request.details).ok_or_else(|| {
                ConnectError::Protocol("the open request carries no startup parameters".into())
            })?;
            let session = self
                .connector
                .open(connection, &request.login_level, &parameters)
                .await
                .map_err(refused)?;
            Ok(Opened {
                details: opened_details(&session.parameters, session.key),
                stream: session.stream,
                leftover: session.leftover.to_vec(),
            })
        })
    }

    fn signal<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        Box::pin(async move {
            let key = request
                .details
                .get("cancel")
                .and_then(key_of)
                .filter(|_| request.kind == POSTGRES_KIND)
                .ok_or_else(|| {
                    ConnectError::Protocol("the signal is not a PostgreSQL cancel request".into())
                })?;
            self.connector
                .cancel(connection, key)
                .await
                .map_err(refused)
        })
    }
}

/// The PostgreSQL adapter's connector over any target connector (the built-in one, or the
/// agent tunnel's router).
pub struct PgConnector {
    targets: Arc<dyn TargetConnector>,
}

impl PgConnector {
    pub fn new(targets: Arc<dyn TargetConnector>) -> Self {
        PgConnector { targets }
    }
}

/// The PostgreSQL session a `postgres` open answered with.
pub fn upstream_session(connection: &str, opened: Opened) -> Result<UpstreamSession, PgError> {
    let parameters = parameters_of(&opened.details).ok_or_else(|| {
        PgError::Protocol(format!(
            "the session to connection `{connection}` came without the server's parameters"
        ))
    })?;
    let key = backend_key_of(&opened.details).map_err(PgError::Protocol)?;
    Ok(UpstreamSession {
        stream: opened.stream,
        parameters,
        key,
        leftover: bytes::BytesMut::from(opened.leftover.as_slice()),
    })
}

/// The PostgreSQL adapter's error for a connector's.
pub fn pg_error(error: ConnectError) -> PgError {
    match error {
        ConnectError::Unavailable(message) => PgError::Upstream(message),
        ConnectError::Protocol(message) => PgError::Protocol(message),
    }
}

impl Connector for PgConnector {
    fn open<'a>(
        &'a self,
        connection: &'a str,
        login_level: &'a str,
        client_parameters: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<UpstreamSession, PgError>> {
        Box::pin(async move {
            let request = open_request(login_level, client_parameters);
            let opened = self
                .targets
                .open(connection, &request)
                .await
                .map_err(pg_error)?;
            upstream_session(connection, opened)
        })
    }

    fn cancel<'a>(
        &'a self,
        connection: &'a str,
        key: BackendKey,
    ) -> BoxFuture<'a, Result<(), PgError>> {
        Box::pin(async move {
            self.targets
                .signal(connection, &cancel_request(key))
                .await
                .map_err(pg_error)
        })
    }
}
