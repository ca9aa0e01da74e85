//! Fuzz target: arbitrary bytes as a stored session recording (`.ghrec`), read the way
//! `gatehouse sessions replay/list` read one: `Recording::parse`, then every event, seeking by
//! index and by time, the listing summary, the timeline and the NDJSON rendering.
//!
//! Input: byte 0 chooses the mode. Even: the rest is the file as is. Odd: the rest is
//! `header JSON` then chunk bodies (uncompressed NDJSON), separated by the two bytes `FF FE`;
//! the target writes the preamble and chunk headers with correct lengths, event counts and
//! CRC-32s and compresses each body with zstd, so mutations reach decompression, event JSON
//! and rendering instead of stopping at a checksum. (Raw mode covers the checksums and
//! framing.)
//!
//! Checked: nothing panics or hangs; iteration yields exactly `event_count` events unless it
//! reports an error; seeking to event `k` yields the same events as skipping `k`; what the
//! timeline prints holds no control characters (a recording cannot drive the terminal).

use gatehouse_fuzz::crc32;
use gatehouse_recording::{Recording, render_json, render_timeline, timeline};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let bytes = if mode & 1 == 0 {
            rest.to_vec()
        } else {
            assemble(rest, mode)
        };
        let Ok(recording) = Recording::parse(bytes) else {
            return;
        };
        let _ = (recording.header(), recording.damage(), recording.chunks());
        let count = recording.event_count();
        let mut events = Vec::new();
        let mut failed = false;
        for event in recording.events() {
            match event {
                Ok(event) => events.push(event),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            assert_eq!(events.len() as u64, count, "events yielded vs event_count");
            for k in [0, 1, count / 2, count.saturating_sub(1), count, count + 1] {
                let sought: Vec<_> = recording.seek_event(k).map_while(Result::ok).collect();
                let skipped = events
                    .get(usize::try_from(k).unwrap_or(usize::MAX)..)
                    .unwrap_or(&[]);
                assert_eq!(sought, skipped, "seek_event({k})");
            }
            if let Some(middle) = events.get(events.len() / 2) {
                let from = recording.seek_time(middle.at_us);
                assert!(from.map_while(Result::ok).all(|e| e.at_us >= middle.at_us));
            }
        }
        let _ = recording.summary();
        for line in timeline(&recording).map_while(Result::ok) {
            assert!(
                !line.text.chars().any(char::is_control),
                "control character in timeline line {:?}",
                line.text
            );
        }
        let _ = render_timeline(&recording, &mut std::io::sink());
        let _ = render_json(&recording, &mut std::io::sink());
    });
}

/// A well-framed recording around fuzzed header JSON and chunk bodies.
fn assemble(rest: &[u8], mode: u8) -> Vec<u8> {
    let mut parts = split(rest);
    let header = parts.remove(0);
    let mut out = Vec::new();
    out.extend_from_slice(b"GHREC");
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(&crc32(header).to_le_bytes());
    let mut first_event = 0u64;
    for (index, body) in parts.iter().enumerate() {
        let count = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u32;
        // Times from the mode byte's upper bits, so the fuzzer can make them go backwards.
        let first_at = (index as u64) * u64::from(mode >> 4);
        let last_at = first_at + u64::from((mode >> 1) & 7);
        let compressed = zstd::bulk::compress(body, 1).expect("zstd compresses");
        let mut header = Vec::with_capacity(52);
        header.extend_from_slice(b"GHCK");
        header.extend_from_slice(&(index as u32).to_le_bytes());
        header.extend_from_slice(&first_event.to_le_bytes());
        header.extend_from_slice(&count.to_le_bytes());
        header.extend_from_slice(&first_at.to_le_bytes());
        header.extend_from_slice(&last_at.to_le_bytes());
        header.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
        header.extend_from_slice(&(body.len() as u32).to_le_bytes());
        header.extend_from_slice(&crc32(&compressed).to_le_bytes());
        let header_crc = crc32(&header);
        header.extend_from_slice(&header_crc.to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&compressed);
        first_event += u64::from(count);
    }
    out
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    loop {
        let (before, after) = gatehouse_fuzz::split_once(rest, b"\xff\xfe");
        parts.push(before);
        if after.is_empty() && before.len() == rest.len() {
            return parts;
        }
        rest = after;
    }
}
