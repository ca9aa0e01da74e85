//! Fuzz target: a malicious agent's bytes on a tunnel (past TLS), as the gateway's end reads
//! them: the real admission (`AgentHub`'s HTTP/2 client handshake, `GET /v1/hello` and the
//! hello's JSON, the route check, the authority, `POST /v1/verdict`) within the real timeout,
//! then for an admitted agent the live link, one session opened as `RoutedConnector` opens it
//! (`POST /v1/sessions`: status, `gatehouse-parameters` JSON, `gatehouse-backend-key`, the
//! refusal's JSON body), its bytes read through `TunnelStream`, and one cancel relayed.
//!
//! Input: byte 0: bits 0–2 the read size (see `Pacing`), bit 3 whether the agent stays silent
//! (1) or closes (0) after its last turn, bit 4 the authority: refuses everything (0) or admits
//! the agent `dc1` (1); routes are `prod` → `dc1`. The rest is the agent's bytes in turns
//! separated by `TURN`, each handed over once the gateway is idle (`gatehouse_fuzz::tunnel`).
//! Runs on a current-thread runtime with a paused clock, so timeouts cost nothing.
//! `fuzz_nohook!` with the hook of `tunnel::panic_hook`: every panic is a crash except h2's
//! debug-only teardown assertion (see there).
//!
//! Checked: nothing panics or hangs; the whole run ends within 300 s of (virtual) time — the
//! gateway's own timeouts and keepalive bound it; a refusing authority never yields an
//! admitted agent or a link; an admitted agent is `dc1` announcing only `prod`; a session is
//! only opened from a 200 answer whose first `gatehouse-parameters` is JSON string pairs equal
//! to the session's parameters and whose first `gatehouse-backend-key`, if any, is
//! `<i32>:<i32>` equal to its key; no link outlives the gateway's shutdown.

use gatehouse_fuzz::tunnel::{
    FakeAuthority, Pacing, Peer, gateway_end, panic_hook, runtime, turns,
};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(300);

fn main() {
    panic_hook();
    afl::fuzz_nohook!(|data: &[u8]| {
        let Some((&control, rest)) = data.split_first() else {
            return;
        };
        let pacing = Pacing::from_byte(control);
        let authority = Arc::new(FakeAuthority {
            admitting: control & 0x10 != 0,
            admitted: AtomicUsize::new(0),
        });
        let peer = Peer::new(turns(rest), &pacing);
        runtime().block_on(async {
            if tokio::time::timeout(BOUND, gateway_end(peer, authority))
                .await
                .is_err()
            {
                panic!("the gateway's end of the tunnel did not finish within {BOUND:?}");
            }
        });
    });
}
