//! Writes the seed corpora of the tunnel targets (`tunnel_gateway`, `tunnel_agent`) into
//! `fuzz/corpus/<target>/`: real exchanges between the gateway's end and the agent's end of a
//! tunnel, both gatehouse's own code (`gatehouse_tunnel::fuzzing`), over an in-memory
//! connection that records what each side wrote, in turns. The agent's turns are the
//! gateway target's seeds and the gateway's turns the agent target's, each also with other
//! read sizes, silence instead of a close at the end, and truncated. Every seed is replayed
//! through the target's code and what it reached is printed.
//!
//! `cargo afl run --release --example make_tunnel_seeds -- corpus` (from `fuzz/`).

use gatehouse_fuzz::tunnel::{
    FakeAuthority, Pacing, Peer, Tap, agent_end, gateway_end, join_turns, runtime, turns, turns_of,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// One recorded exchange.
struct Scenario {
    name: &'static str,
    /// The gateway's authority admits `dc1` (or refuses everything).
    admitting: bool,
    /// What the agent announces.
    connections: &'static [&'static str],
    /// The agent's targets serve sessions (or refuse them).
    serve: bool,
    /// The agent holds a credential (or an enrolment token).
    enrolled: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "welcome_session_cancel",
        admitting: true,
        connections: &["prod"],
        serve: true,
        enrolled: true,
    },
    Scenario {
        name: "enrolment_session_refused",
        admitting: true,
        connections: &["prod"],
        serve: false,
        enrolled: false,
    },
    Scenario {
        name: "unrouted_connection_refused",
        admitting: true,
        connections: &["prod", "staging"],
        serve: true,
        enrolled: true,
    },
    Scenario {
        name: "bad_credential_refused",
        admitting: false,
        connections: &["prod"],
        serve: true,
        enrolled: true,
    },
];

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "corpus".to_owned()),
    );
    for scenario in SCENARIOS {
        let (agent_turns, gateway_turns) = record(scenario);
        let gateway_bit = if scenario.admitting { 0x10 } else { 0 };
        let agent_bits =
            if scenario.serve { 0x10 } else { 0 } | if scenario.enrolled { 0x20 } else { 0 };
        // Reads of 16384 bytes and a close; 7 bytes and silence; 1 byte and a close.
        for (suffix, pacing) in [("", 0x07), ("_read7_silent", 0x0b), ("_read1", 0x00)] {
            seed(
                &root,
                "tunnel_gateway",
                scenario.name,
                suffix,
                pacing | gateway_bit,
                &agent_turns,
            );
            seed(
                &root,
                "tunnel_agent",
                scenario.name,
                suffix,
                pacing | agent_bits,
                &gateway_turns,
            );
        }
        let cut = |turns: &[Vec<u8>]| {
            let mut bytes = join_turns(turns);
            bytes.truncate(bytes.len() * 3 / 5);
            turns_from(&bytes)
        };
        seed(
            &root,
            "tunnel_gateway",
            scenario.name,
            "_truncated",
            0x07 | gateway_bit,
            &cut(&agent_turns),
        );
        seed(
            &root,
            "tunnel_agent",
            scenario.name,
            "_truncated",
            0x07 | agent_bits,
            &cut(&gateway_turns),
        );
    }
}

fn turns_from(bytes: &[u8]) -> Vec<Vec<u8>> {
    turns(bytes)
}

/// Run the scenario's exchange; the agent's turns and the gateway's.
fn record(scenario: &Scenario) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (gateway_io, agent_io) = tokio::io::duplex(1 << 20);
    let gateway_io = Tap::new(gateway_io, 0, log.clone());
    let agent_io = Tap::new(agent_io, 1, log.clone());
    let authority = Arc::new(FakeAuthority {
        admitting: scenario.admitting,
        admitted: AtomicUsize::new(0),
    });
    let (connections, serve, enrolled) = (scenario.connections, scenario.serve, scenario.enrolled);
    let (gateway, agent) = runtime().block_on(async move {
        let agent =
            tokio::spawn(async move { agent_end(agent_io, connections, serve, enrolled).await });
        let gateway = gateway_end(gateway_io, authority).await;
        (gateway, agent.await.expect("the agent's end"))
    });
    println!(
        "{}: recorded; gateway {gateway:?}; agent {agent:?}",
        scenario.name
    );
    let log = log.lock().unwrap();
    (turns_of(&log, 1), turns_of(&log, 0))
}

fn seed(root: &Path, target: &str, name: &str, suffix: &str, control: u8, turns: &[Vec<u8>]) {
    let mut bytes = vec![control];
    bytes.extend(join_turns(turns));
    let dir = root.join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(format!("{name}{suffix}")), &bytes).expect("seed written");
    // Replay it as the target does.
    let pacing = Pacing::from_byte(control);
    let peer = Peer::new(turns.to_vec(), &pacing);
    let replayed = runtime().block_on(async {
        if target == "tunnel_gateway" {
            let authority = Arc::new(FakeAuthority {
                admitting: control & 0x10 != 0,
                admitted: AtomicUsize::new(0),
            });
            format!("{:?}", gateway_end(peer, authority).await)
        } else {
            format!(
                "{:?}",
                agent_end(
                    peer,
                    &["prod", "staging"],
                    control & 0x10 != 0,
                    control & 0x20 != 0
                )
                .await
            )
        }
    });
    println!(
        "  {target}/{name}{suffix}: {} turns, {} bytes; replayed: {replayed}",
        turns.len(),
        bytes.len()
    );
}
