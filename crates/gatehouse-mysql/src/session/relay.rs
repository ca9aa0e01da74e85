//! The relay loop: one client command at a time, which must start a new exchange (sequence
//! id 0) and fit `max_message`; anything else ends the session with an ERR that says why,
//! and nothing of it is forwarded. How a session that gatehouse ends says goodbye.

use super::Ending;
use super::prepared::PreparedStatement;
use super::state::SessionState;
use crate::packets::PacketStream;
use crate::refusal::{self, err_payload};
use crate::{MysqlError, MysqlGateway};
use gatehouse_mask::Masker;
use gatehouse_mysql_wire::capabilities::Capabilities;
use gatehouse_pipeline::SessionContext;
use gatehouse_session::EndedBy;
use std::collections::HashMap;
use std::sync::Arc;

/// How long a session that gatehouse ended keeps reading (and discarding) what the client
/// still sends, so that the client reads the ERR rather than a reset.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// `COM_QUIT`'s command byte.
const COM_QUIT: u8 = 0x01;

pub(crate) struct Relay<'a> {
    pub gateway: &'a MysqlGateway,
    pub context: &'a SessionContext,
    pub client: PacketStream,
    pub server: PacketStream,
    /// The capabilities in force with the client.
    pub capabilities: Capabilities,
    /// The capabilities in force with the server (the client's, plus session tracking).
    pub server_capabilities: Capabilities,
    pub state: SessionState,
    /// The character set of the login, which `COM_RESET_CONNECTION` returns to.
    pub login_charset: String,
    /// The session's masking, when its results are masked.
    pub masker: Option<Arc<Masker>>,
    /// Statements prepared with `COM_STMT_PREPARE`, by the server's statement id.
    pub prepared: HashMap<u32, PreparedStatement>,
}

impl<'a> Relay<'a> {
    pub fn new(
        gateway: &'a MysqlGateway,
        context: &'a SessionContext,
        client: PacketStream,
        server: PacketStream,
        (capabilities, server_capabilities): (Capabilities, Capabilities),
        state: SessionState,
        masker: Option<Arc<Masker>>,
    ) -> Self {
        Relay {
            gateway,
            context,
            client,
            server,
            capabilities,
            server_capabilities,
            login_charset: state.charset.clone(),
            state,
            masker,
            prepared: HashMap::new(),
        }
    }

    /// Relay commands until the session ends.
    pub async fn run(&mut self) -> Result<Ending, MysqlError> {
        loop {
            let Some(message) = self.client.read().await? else {
                return Ok(Ending::ClientClosed);
            };
            if message.first_sequence != 0 {
                return Err(MysqlError::Protocol(format!(
                    "the client started a command with sequence id {} instead of 0",
                    message.first_sequence
                )));
            }
            if let Some(ending) = self.command(&message.payload).await? {
                return Ok(ending);
            }
        }
    }

    /// Send the client an ERR for its command (sequence id 1) and carry on.
    pub async fn refuse(
        &mut self,
        code: refusal::ErrorCode,
        message: &str,
    ) -> Result<(), MysqlError> {
        self.client.write(1, &err_payload(code, message)).await?;
        self.client.flush().await
    }

    /// After the relay: tell the client why gatehouse ended the session (when it did), and
    /// leave the server politely.
    pub async fn finish(&mut self, result: &Result<Ending, MysqlError>) {
        let farewell = match result {
            Ok(Ending::Ended(EndedBy::ShutDown)) => Some((
                refusal::SHUTTING_DOWN,
                "gatehouse: the gateway is shutting down".to_owned(),
            )),
            Ok(Ending::Ended(EndedBy::Revoked(reason) | EndedBy::PolicyWithdrawn(reason))) => {
                Some((
                    refusal::SESSION_ENDED,
                    format!("gatehouse ended the session: {reason}"),
                ))
            }
            Ok(Ending::Ended(EndedBy::CredentialExpired)) => Some((
                refusal::SESSION_ENDED,
                format!(
                    "gatehouse ended the session: the credential of `{}` expired; get a fresh token and connect again",
                    self.context.identity.subject
                ),
            )),
            Ok(Ending::ClientQuit | Ending::ClientClosed) => None,
            Err(error) => Some((
                refusal::PROTOCOL_VIOLATION,
                format!("gatehouse ended the session: {error}"),
            )),
        };
        if let Some((code, message)) = farewell
            && self
                .client
                .write(1, &err_payload(code, &message))
                .await
                .is_ok()
        {
            let limit = self.gateway.limits.max_message.saturating_mul(2);
            self.client.drain_and_close(limit, LINGER).await;
        }
        self.server.say_last(0, &[COM_QUIT]).await;
    }
}
