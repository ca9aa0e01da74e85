//! Fuzz target: a stranger's bytes to gatehouse's SSH listener, as its SSH server reads them
//! before any login (`gatehouse_ssh_gateway::fuzzing`): the version line, key exchange
//! negotiation (KEXINIT, the DH/ECDH init), packet lengths, padding and message types, with
//! the production server settings.
//!
//! Input: the client's bytes, sent at once, then the client closes.
//! Runs on a current-thread runtime with a paused clock, so the server's timers cost nothing.
//!
//! Checked: nothing panics or hangs; the server ends the connection within 300 s of (virtual)
//! time whatever it was sent.

use gatehouse_fuzz::tunnel::runtime;
use std::sync::OnceLock;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(300);

/// One host key for the whole run (generating one per input would dominate the time).
fn host_key() -> &'static russh::keys::PrivateKey {
    static KEY: OnceLock<russh::keys::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        gatehouse_ssh_gateway::keys::generate_ed25519("fuzz").expect("an Ed25519 key")
    })
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let input = data.to_vec();
        runtime().block_on(async {
            if tokio::time::timeout(
                BOUND,
                gatehouse_ssh_gateway::fuzzing::serve_stranger(host_key().clone(), input),
            )
            .await
            .is_err()
            {
                panic!("the SSH server did not end the connection within {BOUND:?}");
            }
        });
    });
}
