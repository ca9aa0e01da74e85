//! The session-state changes an OK packet reports under `SESSION_TRACK`: the variables,
//! schema and transaction state a statement changed, which gatehouse follows to know the
//! session's current database and SQL mode as the server sees them.

use crate::lenenc::{read_lenenc_required, write_lenenc_bytes};
use crate::{WireError, cursor};

const SYSTEM_VARIABLES: u8 = 0;
const SCHEMA: u8 = 1;
const STATE_CHANGE: u8 = 2;
const GTIDS: u8 = 3;
const TRANSACTION_CHARACTERISTICS: u8 = 4;
const TRANSACTION_STATE: u8 = 5;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStateChange {
    SystemVariable {
        name: Vec<u8>,
        value: Vec<u8>,
    },
    /// The current database.
    Schema(Vec<u8>),
    /// Whether the session state changed at all.
    StateChange(bool),
    /// The raw GTID data (an encoding byte and the GTID set).
    Gtids(Vec<u8>),
    /// The statements that would restore the transaction's characteristics.
    TransactionCharacteristics(Vec<u8>),
    /// The 8-character transaction state string.
    TransactionState(Vec<u8>),
    /// A kind this crate does not know, by its type byte.
    Other(u8),
}

/// The changes in an OK packet's session-state block, in order.
pub fn session_state_changes(session_state: &[u8]) -> Result<Vec<SessionStateChange>, WireError> {
    const WHAT: &str = "session state";
    let mut input = session_state;
    let mut changes = Vec::new();
    while !input.is_empty() {
        let kind = cursor::u8(&mut input, WHAT)?;
        let mut data = read_lenenc_required(&mut input, WHAT)?;
        match kind {
            SYSTEM_VARIABLES => {
                while !data.is_empty() {
                    let name = read_lenenc_required(&mut data, WHAT)?.to_vec();
                    let value = read_lenenc_required(&mut data, WHAT)?.to_vec();
                    changes.push(SessionStateChange::SystemVariable { name, value });
                }
            }
            SCHEMA => {
                let schema = read_lenenc_required(&mut data, WHAT)?;
                changes.push(SessionStateChange::Schema(schema.to_vec()));
            }
            STATE_CHANGE => {
                let flag = read_lenenc_required(&mut data, WHAT)?;
                changes.push(SessionStateChange::StateChange(flag == b"1"));
            }
            GTIDS => changes.push(SessionStateChange::Gtids(data.to_vec())),
            TRANSACTION_CHARACTERISTICS => {
                let text = read_lenenc_required(&mut data, WHAT)?;
                changes.push(SessionStateChange::TransactionCharacteristics(
                    text.to_vec(),
                ));
            }
            TRANSACTION_STATE => {
                let text = read_lenenc_required(&mut data, WHAT)?;
                changes.push(SessionStateChange::TransactionState(text.to_vec()));
            }
            other => changes.push(SessionStateChange::Other(other)),
        }
    }
    Ok(changes)
}

/// The session-state block reporting `changes` (an `Other` kind with no data).
pub fn encode_session_state_changes(changes: &[SessionStateChange]) -> Vec<u8> {
    let mut out = Vec::new();
    for change in changes {
        let mut data = Vec::new();
        let kind = match change {
            SessionStateChange::SystemVariable { name, value } => {
                write_lenenc_bytes(&mut data, name);
                write_lenenc_bytes(&mut data, value);
                SYSTEM_VARIABLES
            }
            SessionStateChange::Schema(schema) => {
                write_lenenc_bytes(&mut data, schema);
                SCHEMA
            }
            SessionStateChange::StateChange(changed) => {
                write_lenenc_bytes(&mut data, if *changed { b"1" } else { b"0" });
                STATE_CHANGE
            }
            SessionStateChange::Gtids(gtids) => {
                data.extend_from_slice(gtids);
                GTIDS
            }
            SessionStateChange::TransactionCharacteristics(text) => {
                write_lenenc_bytes(&mut data, text);
                TRANSACTION_CHARACTERISTICS
            }
            SessionStateChange::TransactionState(text) => {
                write_lenenc_bytes(&mut data, text);
                TRANSACTION_STATE
            }
            SessionStateChange::Other(kind) => *kind,
        };
        out.push(kind);
        write_lenenc_bytes(&mut out, &data);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn round_trip_of_every_kind() {
        let changes = vec![
            SessionStateChange::SystemVariable {
                name: b"sql_mode".to_vec(),
                value: b"ANSI_QUOTES".to_vec(),
            },
            SessionStateChange::Schema(b"test".to_vec()),
            SessionStateChange::StateChange(true),
            SessionStateChange::Gtids(vec![0, 3, b'0', b'-', b'1']),
            SessionStateChange::TransactionCharacteristics(b"START TRANSACTION;".to_vec()),
            SessionStateChange::TransactionState(b"T_______".to_vec()),
            SessionStateChange::Other(9),
        ];
        let bytes = encode_session_state_changes(&changes);
        assert_eq!(session_state_changes(&bytes), Ok(changes));
    }

    #[test]
    fn a_schema_change_as_the_server_sends_it() {
        let bytes = [1, 5, 4, b't', b'e', b's', b't'];
        assert_eq!(
            session_state_changes(&bytes),
            Ok(vec![SessionStateChange::Schema(b"test".to_vec())])
        );
        assert!(matches!(
            session_state_changes(&bytes[..4]),
            Err(WireError::Truncated { .. })
        ));
    }
}
