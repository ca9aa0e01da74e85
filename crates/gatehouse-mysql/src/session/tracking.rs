//! Following the server's own account of the session. gatehouse asks the server for session
//! tracking (`CLIENT_SESSION_TRACK` and the variables that change how text is read), so every
//! OK packet says when `sql_mode`, the client character set or the current database changed —
//! however the change was made (a statement the classifier could not read, a stored
//! procedure). The session follows them, and ends with an ERR naming why if the server
//! switched to something gatehouse cannot read statements in. Clients never negotiated
//! session tracking, so the OK packets they get are re-encoded without it.

use super::relay::Relay;
use super::state::SessionState;
use crate::MysqlError;
use gatehouse_mysql_sql::SqlMode;
use gatehouse_mysql_wire::Capabilities;
use gatehouse_mysql_wire::response::{
    OkPacket, SERVER_SESSION_STATE_CHANGED, SessionStateChange, session_state_changes,
};

/// What gatehouse asks the server to track, right after the session opens.
pub(super) const TRACK_SESSION: &str = "SET SESSION session_track_system_variables='autocommit,character_set_client,character_set_connection,character_set_results,time_zone,sql_mode', session_track_schema=ON";

impl Relay<'_> {
    /// Follow what the server's OK packet `payload` says changed, and return the OK packet as
    /// the client gets it with its status flags.
    pub(super) fn follow_ok(&mut self, payload: &[u8]) -> Result<(Vec<u8>, u16), MysqlError> {
        follow_ok(
            &mut self.state,
            (self.capabilities, self.server_capabilities),
            payload,
        )
    }
}

/// Follow what the server's OK packet `payload` says changed in `state`, and return the OK
/// packet as the client gets it with its status flags; `(client, server)` capabilities.
pub(super) fn follow_ok(
    state: &mut SessionState,
    (capabilities, server_capabilities): (Capabilities, Capabilities),
    payload: &[u8],
) -> Result<(Vec<u8>, u16), MysqlError> {
    let ok = OkPacket::parse(payload, server_capabilities).map_err(MysqlError::wire("server"))?;
    if !server_capabilities.contains(Capabilities::SESSION_TRACK) {
        return Ok((payload.to_vec(), ok.status));
    }
    if ok.status & SERVER_SESSION_STATE_CHANGED != 0 && !ok.session_state.is_empty() {
        let changes =
            session_state_changes(&ok.session_state).map_err(MysqlError::wire("server"))?;
        for change in changes {
            follow(state, change)?;
        }
    }
    let header = payload.first().copied().unwrap_or(0);
    let status = ok.status & !SERVER_SESSION_STATE_CHANGED;
    let for_client = OkPacket {
        status,
        session_state: Vec::new(),
        ..ok
    };
    // Encoded as a tracking server does (the info text length-prefixed), which is what
    // clients read whether or not they track sessions.
    let capabilities = Capabilities(capabilities.0 | Capabilities::SESSION_TRACK.0);
    Ok((for_client.encode(header, capabilities), status))
}

fn follow(state: &mut SessionState, change: SessionStateChange) -> Result<(), MysqlError> {
    match change {
        SessionStateChange::SystemVariable { name, value } => {
            let value = String::from_utf8_lossy(&value).into_owned();
            match name.as_slice() {
                b"sql_mode" => {
                    if SqlMode::from_server_value(&value).oracle {
                        return Err(MysqlError::Refused(
                            "the server reports sql_mode ORACLE, whose grammar gatehouse does not read; the session is ended".into(),
                        ));
                    }
                    state.sql_mode = value;
                }
                b"character_set_client" => {
                    let charset = value.to_ascii_lowercase();
                    if gatehouse_mysql_sql::charset_is_refused(&charset) {
                        return Err(MysqlError::Refused(format!(
                            "the server reports character set {charset} for the client, whose text gatehouse cannot read as the server does; the session is ended"
                        )));
                    }
                    state.charset = if charset == "utf8" {
                        "utf8mb3".to_owned()
                    } else {
                        charset
                    };
                }
                _ => {}
            }
        }
        SessionStateChange::Schema(name) => {
            state.database = Some(String::from_utf8_lossy(&name).into_owned());
        }
        _ => {}
    }
    Ok(())
}
