//! Fuzz target: a malicious MariaDB/MySQL server's answers, as the MySQL adapter relays them.
//!
//! Input: byte 0 picks how many bytes each read of the server's socket returns (1..=64);
//! byte 1 the session: bits 0-1 the masking (none, every built-in detector, every detector
//! replacing with NULL, the column rules and custom detectors of `RULES`), bit 3 whether the
//! server tracks session state, bit 4 binary rows (an execute of a prepared statement), bit 5
//! whether columns without an origin are masked whole, bit 6 whether rows are captured for a
//! recording, bit 7 `DEPRECATE_EOF`; byte 2 the mode (low 2 bits): 0 the answer relayed to the
//! client (`gatehouse_mysql::fuzzing::relay_answer`: OK packets and their session-state
//! changes, ERR packets, result sets masked row by row, a LOCAL INFILE request), 1 an answer
//! read and dropped as a capped statement's results are (`discard`), 2 the rest as one OK
//! packet counted against a row cap (`counted_rows`). The rest is the server's stream.
//!
//! Checked: nothing panics or hangs; what reaches the client is whole packets with sequence
//! ids counting up from 1; a relay that ended well ended the client's answer with an OK, ERR
//! or EOF, and with a tracking server that OK decodes and does not say the session state
//! changed (the client never negotiated session tracking); an OK's count against a row cap is
//! never below its affected rows.

use gatehouse_fuzz::block_on;
use gatehouse_mask::{HashKey, MaskConfig, Masker};
use gatehouse_mysql::fuzzing::{Setup, counted_rows, discard, relay_answer};
use gatehouse_mysql_wire::response::{OkPacket, SERVER_SESSION_STATE_CHANGED};
use gatehouse_mysql_wire::{Capabilities, PacketReader};
use std::sync::{Arc, LazyLock};

/// The masking configurations of bits 0-1 (index 0 is no masking).
static MASKERS: LazyLock<Vec<Arc<Masker>>> = LazyLock::new(|| {
    let default = MaskConfig::default();
    let names: Vec<String> = Masker::new(&default, HashKey::new([7; 32]))
        .expect("the default masking configuration compiles")
        .detectors()
        .map(|(name, _)| name.to_owned())
        .collect();
    let nulls: String = names
        .iter()
        .map(|name| format!("{name} = \"null\"\n"))
        .collect();
    let configs: Vec<MaskConfig> = vec![
        default,
        toml::from_str(&format!("[strategies]\n{nulls}")).expect("a strategies table parses"),
        toml::from_str(gatehouse_fuzz::RULES).expect("the rules configuration parses"),
    ];
    configs
        .iter()
        .map(|config| Arc::new(Masker::new(config, HashKey::new([7; 32])).expect("it compiles")))
        .collect()
});

const BASE: Capabilities = Capabilities(
    Capabilities::PROTOCOL_41.0
        | Capabilities::TRANSACTIONS.0
        | Capabilities::MULTI_RESULTS.0
        | Capabilities::PS_MULTI_RESULTS.0,
);

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if data.len() < 3 {
            return;
        }
        let chunk = usize::from(data[0] % 64) + 1;
        let flags = data[1];
        let mut capabilities = BASE;
        if flags & 0x80 != 0 {
            capabilities |= Capabilities::DEPRECATE_EOF;
        }
        let masker = match flags & 3 {
            0 => None,
            index => MASKERS.get(usize::from(index) - 1).cloned(),
        };
        let setup = Setup {
            capabilities,
            session_track: flags & 0x08 != 0,
            binary: flags & 0x10 != 0,
            expressions_masked: flags & 0x20 != 0,
            capture: flags & 0x40 != 0,
            chunk,
        };
        let server = &data[3..];
        match data[2] & 3 {
            1 => {
                let _ = block_on(discard(server, capabilities, chunk));
            }
            2 => {
                if let Ok(counted) = counted_rows(server, capabilities) {
                    let ok = OkPacket::parse(server, capabilities).expect("it parsed once");
                    assert!(counted >= ok.affected_rows);
                }
            }
            _ => check_relay(server, masker, setup),
        }
    });
}

fn check_relay(server: &[u8], masker: Option<Arc<Masker>>, setup: Setup) {
    let answered = block_on(relay_answer(server, masker, setup));
    let mut reader = PacketReader::new(usize::MAX);
    reader.push(&answered.to_client);
    let mut expected = 1u8;
    let mut last = Vec::new();
    while let Some(message) = reader
        .next_message()
        .expect("the client gets whole packets")
    {
        assert_eq!(message.first_sequence, expected, "sequence ids count up");
        expected = message.last_sequence.wrapping_add(1);
        last = message.payload;
    }
    assert_eq!(reader.buffered(), 0, "no partial packet reaches the client");
    if answered.results.is_ok() {
        assert!(
            matches!(last.first(), Some(0x00 | 0xFE | 0xFF)),
            "a relayed answer ends with OK, EOF or ERR"
        );
        // The OK packets of a tracking server are re-encoded for a client that never
        // negotiated tracking (a server that does not track is relayed as it answered).
        let ends_with_ok = last.first() == Some(&0x00)
            || (last.first() == Some(&0xFE)
                && setup.capabilities.contains(Capabilities::DEPRECATE_EOF));
        if setup.session_track && ends_with_ok {
            let ok = OkPacket::parse(&last, setup.capabilities)
                .expect("the OK packet the client gets decodes");
            assert_eq!(ok.status & SERVER_SESSION_STATE_CHANGED, 0);
        }
    }
}
