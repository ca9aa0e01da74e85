//! A malicious server's answers through the adapter's relay (`gatehouse_mysql::fuzzing`, the
//! fuzz target `mysql_server_responses`'s entry points), without a network: a real answer is
//! relayed with its rows masked and the session state it reports followed; a LOCAL INFILE
//! request ends the session; and arbitrary bytes, alone or after the start of a real answer,
//! never make the relay, the reading of a capped statement's results or the row count panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_mask::{ColumnRuleConfig, HashKey, MaskConfig, Masker};
use gatehouse_mysql::fuzzing::{Answered, Setup, counted_rows, discard, relay_answer};
use gatehouse_mysql_wire::Capabilities;
use proptest::prelude::*;
use std::sync::{Arc, LazyLock};

static MASKER: LazyLock<Arc<Masker>> = LazyLock::new(|| {
    let config = MaskConfig {
        columns: vec![ColumnRuleConfig {
            name: Some("ssn".to_owned()),
            types: Vec::new(),
            strategy: gatehouse_mask::Strategy::Redact,
            allow: Vec::new(),
        }],
        ..MaskConfig::default()
    };
    Arc::new(Masker::new(&config, HashKey::new([7u8; 32])).unwrap())
});

const CAPABILITIES: Capabilities = Capabilities(
    Capabilities::PROTOCOL_41.0
        | Capabilities::TRANSACTIONS.0
        | Capabilities::MULTI_RESULTS.0
        | Capabilities::DEPRECATE_EOF.0,
);

fn setup(chunk: usize) -> Setup {
    Setup {
        capabilities: CAPABILITIES,
        session_track: true,
        binary: false,
        expressions_masked: false,
        capture: true,
        chunk,
    }
}

fn lenenc(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(bytes.len()).unwrap()];
    out.extend_from_slice(bytes);
    out
}

fn packets(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sequence = 1u8;
    for payload in payloads {
        sequence = gatehouse_mysql_wire::write_message(&mut out, sequence, payload);
    }
    out
}

fn column(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [&b"def"[..], b"gh", b"users", b"users", name, name] {
        out.extend(lenenc(part));
    }
    out.push(0x0c);
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&100u32.to_le_bytes());
    out.push(253);
    out.extend_from_slice(&[0, 0, 0, 0, 0]);
    out
}

/// An OK ending the rows (0xFE), and an OK reporting `sql_mode` ANSI_QUOTES and schema `gh`
/// with more results to come.
fn a_real_answer() -> Vec<u8> {
    let mut changes = Vec::new();
    changes.push(0);
    changes.extend(lenenc(
        &[lenenc(b"sql_mode"), lenenc(b"ANSI_QUOTES")].concat(),
    ));
    changes.push(1);
    changes.extend(lenenc(&lenenc(b"gh")));
    let mut tracked = vec![0, 0, 0];
    tracked.extend_from_slice(&(2u16 | 8 | 0x4000).to_le_bytes());
    tracked.extend_from_slice(&0u16.to_le_bytes());
    tracked.extend(lenenc(b""));
    tracked.extend(lenenc(&changes));
    let mut row = lenenc(b"ann@example.com");
    row.extend(lenenc(b"123-45-6789"));
    packets(&[
        tracked,
        vec![2],
        column(b"email"),
        column(b"ssn"),
        row,
        vec![0xFE, 0, 0, 2, 0, 0, 0],
    ])
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn relayed(answered: &Answered) -> String {
    String::from_utf8_lossy(&answered.to_client).into_owned()
}

#[test]
fn a_real_answer_is_relayed_masked_and_its_session_changes_followed() {
    for chunk in [1, 7, 64] {
        let answered = run(relay_answer(
            &a_real_answer(),
            Some(MASKER.clone()),
            setup(chunk),
        ));
        assert_eq!(
            answered.results,
            Ok(vec!["ok 0".to_owned(), "rows 1".to_owned()])
        );
        let shown = relayed(&answered);
        assert!(!shown.contains("123-45-6789"), "{shown}");
        assert!(!shown.contains("ann@example.com"), "{shown}");
        assert!(
            !shown.contains("ANSI_QUOTES"),
            "the client never tracked: {shown}"
        );
        assert_eq!(answered.sql_mode, "ANSI_QUOTES");
        assert_eq!(answered.database.as_deref(), Some("gh"));
    }
}

#[test]
fn a_local_infile_request_ends_the_session_and_nothing_reaches_the_client() {
    let answered = run(relay_answer(
        &packets(&[b"\xfb/etc/passwd".to_vec()]),
        None,
        setup(64),
    ));
    let error = answered.results.unwrap_err();
    assert!(error.contains("LOCAL INFILE"), "{error}");
    assert!(answered.to_client.is_empty());
}

#[test]
fn a_capped_statements_results_are_read_to_their_end() {
    let row = vec![1, b'5'];
    let answer = packets(&[
        vec![1],
        column(b"id"),
        row,
        vec![0xFE, 0, 0, 2 | 8, 0, 0, 0],
        vec![0, 3, 0, 3, 0, 0, 0],
    ]);
    assert_eq!(run(discard(&answer, CAPABILITIES, 5)), Ok(Some(3)));
    let update = [
        &[0u8, 2, 0, 2, 0, 0, 0][..],
        &lenenc(b"Rows matched: 5  Changed: 2  Warnings: 0"),
    ]
    .concat();
    assert_eq!(counted_rows(&update, CAPABILITIES), Ok(5));
}

fn any_setup() -> impl Strategy<Value = Setup> {
    (any::<u8>(), 1usize..64).prop_map(|(flags, chunk)| {
        let mut capabilities = Capabilities(
            Capabilities::PROTOCOL_41.0
                | Capabilities::TRANSACTIONS.0
                | Capabilities::MULTI_RESULTS.0,
        );
        if flags & 0x80 != 0 {
            capabilities |= Capabilities::DEPRECATE_EOF;
        }
        Setup {
            capabilities,
            session_track: flags & 0x08 != 0,
            binary: flags & 0x10 != 0,
            expressions_masked: flags & 0x20 != 0,
            capture: flags & 0x40 != 0,
            chunk,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_server_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        setup in any_setup(),
        masked in any::<bool>(),
        cut in 0usize..200,
    ) {
        let masker = masked.then(|| MASKER.clone());
        let _ = run(relay_answer(&bytes, masker.clone(), setup));
        // Past the start of a real answer, so the bytes land in rows and session state.
        let mut after_real = a_real_answer();
        after_real.truncate(cut.min(after_real.len()));
        after_real.extend_from_slice(&bytes);
        let _ = run(relay_answer(&after_real, masker, setup));
        let _ = run(discard(&bytes, setup.capabilities, setup.chunk));
        let _ = run(discard(&after_real, setup.capabilities, setup.chunk));
        let _ = counted_rows(&bytes, setup.capabilities);
    }
}
