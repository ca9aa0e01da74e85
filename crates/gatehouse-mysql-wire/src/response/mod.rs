//! What a server answers to a command: OK, ERR and EOF packets (with the session-state changes
//! an OK reports), result-set metadata and rows in the text and binary protocols, and the
//! answer to a statement prepare.

mod binary_row;
mod binary_value;
mod column;
mod kind;
mod prepare;
mod session_state;
mod status;
mod text_row;
mod value;

pub use binary_row::{encode_binary_row, parse_binary_row};
pub(crate) use binary_row::{is_null, set_null};
pub(crate) use binary_value::{read_binary_value, write_binary_value};
pub use column::{BINARY_FLAG, ColumnDefinition, ColumnType, UNSIGNED_FLAG};
pub use kind::{ResponseKind, first_byte_kind};
pub use prepare::PrepareOk;
pub use session_state::{SessionStateChange, encode_session_state_changes, session_state_changes};
pub use status::{
    EofPacket, ErrPacket, OkPacket, SERVER_MORE_RESULTS_EXISTS, SERVER_SESSION_STATE_CHANGED,
    SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_CURSOR_EXISTS, SERVER_STATUS_IN_TRANS,
    SERVER_STATUS_IN_TRANS_READONLY, SERVER_STATUS_LAST_ROW_SENT,
    SERVER_STATUS_NO_BACKSLASH_ESCAPES,
};
pub use text_row::{encode_text_row, parse_text_row};
pub use value::Value;
