//! Fuzz target: a malicious gateway's bytes on a tunnel (past TLS), as the agent's end reads
//! them: the real HTTP/2 server handshake and request loop of a dialled tunnel
//! (`/v1/hello`, `/v1/verdict` and its JSON, `/v1/sessions` with its `gatehouse-connection`
//! and `gatehouse-parameters` headers and the session's bytes through `TunnelStream`,
//! `/v1/cancel` and its `gatehouse-backend-key`, unknown paths, keepalive).
//!
//! Input: byte 0: bits 0–2 the read size (see `Pacing`), bit 3 whether the gateway stays
//! silent (1) or closes (0) after its last turn, bit 4 the agent's targets: in-memory sessions
//! (1) or refusals of every open (0), bit 5 whether the agent holds a credential (1) or an
//! enrolment token (0); it serves `prod` and `staging`. The rest is the gateway's bytes (client preface and frames) in turns
//! separated by `TURN`, each handed over once the agent is idle (`gatehouse_fuzz::tunnel`).
//! Runs on a current-thread runtime with a paused clock, so timeouts cost nothing.
//! `fuzz_nohook!` with the hook of `tunnel::panic_hook`: every panic is a crash except h2's
//! debug-only teardown assertion (see there).
//!
//! Checked: nothing panics or hangs; the tunnel ends within 300 s of (virtual) time (the
//! agent's keepalive bounds a silent gateway); the agent opens no session and relays no
//! cancel (its connector is never called) before it has taken a welcome verdict.

use gatehouse_fuzz::tunnel::{Pacing, Peer, agent_end, panic_hook, runtime, turns};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(300);

fn main() {
    panic_hook();
    afl::fuzz_nohook!(|data: &[u8]| {
        let Some((&control, rest)) = data.split_first() else {
            return;
        };
        let pacing = Pacing::from_byte(control);
        let serve = control & 0x10 != 0;
        let enrolled = control & 0x20 != 0;
        let peer = Peer::new(turns(rest), &pacing);
        runtime().block_on(async {
            if tokio::time::timeout(
                BOUND,
                agent_end(peer, &["prod", "staging"], serve, enrolled),
            )
            .await
            .is_err()
            {
                panic!("the agent's end of the tunnel did not finish within {BOUND:?}");
            }
        });
    });
}
