//! What every protocol adapter's sessions share, so that a protocol adds its wire format and
//! nothing else: the [`listener`] (accepting, session slots, the shutdown drain), the
//! [`connector`] seam to targets (built-in or through an agent), session ids,
//! the [`LiveSessions`] registry that revocations end sessions through, and the [`endings`]
//! that stop a session besides its client and its server (shutdown, revocation, the
//! credential's expiry, a policy that no longer lets it in); for protocols whose client
//! connections carry many requests, the [`token_sessions`] each presented token opens and the
//! [`approval_wait`] a held request may wait in.
//!
//! The pipeline decides; this crate only runs sessions around its decisions. It knows no
//! protocol.

pub mod approval_wait;
pub mod connector;
pub mod endings;
pub mod listener;
mod live;
mod login_levels;
pub mod token_sessions;
pub mod upstream_tls;
pub mod woken;

pub use connector::{ByKind, ConnectError, OpenRequest, Opened, Stream, TargetConnector};
pub use endings::{EndedBy, Endings, connect_withdrawn};
pub use listener::{ListenerLimits, Slot, serve};
pub use live::{LiveSessions, Registration};
pub use login_levels::{LoginLevels, LoginRule};
pub use token_sessions::{SessionRefused, SessionServices, TokenSession, TokenSessions};
pub use woken::WokenOnly;

/// A fresh session id: `s-` and 16 random hex characters, named in every audit event and
/// recording of the session.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("s-{}", hex::encode(bytes))
}
