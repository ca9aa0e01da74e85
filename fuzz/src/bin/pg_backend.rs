//! Fuzz target: a malicious PostgreSQL server's bytes, as the gateway reads them.
//!
//! Input: byte 0 picks how many bytes each read returns (1..=64), byte 1 the masking
//! configuration (low 3 bits, see `MASKERS`), whether the statement read table `users`
//! (bit 3) and whether a COPY is in CSV format (bit 4); the rest is the server's stream. Every
//! frame goes through the decoder the gateway uses for its type:
//!
//! - `R` authentication requests as `upstream::authenticate` handles them: md5 salt, SASL
//!   mechanism list, and SCRAM-SHA-256 server-first/final messages through the
//!   `postgres-protocol` client the gateway uses (the client nonce is spliced in after a
//!   leading `r=`, so the fuzzer gets past the nonce check to the salt, iteration count and
//!   verifier);
//! - `S` ParameterStatus, `K` BackendKeyData, `E`/`N` Error/NoticeResponse, `C`
//!   CommandComplete; a message type PostgreSQL does not have ends the stream;
//! - `T` RowDescription followed by `D` DataRows: checked as the relay checks every server
//!   message (`check_data_row`), then masked as a masked session does (plan from the
//!   description, then each row);
//! - `H` CopyOutResponse followed by `d` CopyData: masked as COPY rows are.
//!
//! Checked: nothing panics or hangs; every DataRow that reaches the client (masked or
//! forwarded as it came) decodes and has one value per described column; no value of a text
//! column that no column rule masks whole reaches the client with anything a detector finds
//! in it; a masked COPY row, masked again, does not change; no COPY row reaches the client
//! with a finding that lies within one of its fields. A refusal ends the session, as in the
//! gateway.

use gatehouse_fuzz::{Chunked, MASKERS, block_on};
use gatehouse_mask::{ColumnMask, ColumnRef, Masker};
use gatehouse_pg::fuzzing::{mask_copy_data, mask_result};
use gatehouse_pg::wire::tags::{backend, frontend};
use gatehouse_pg::wire::{self, BodyReader, FrameReader};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

const LIMIT: usize = 1 << 20;

/// Types whose values the masking plan treats as text (scanned and replaced in place).
const TEXT_OIDS: &[u32] = &[18, 19, 25, 142, 705, 1042, 1043];

/// Detectors that look at text around a value (a label before it, a word that rules it out),
/// which in a COPY row can sit in the neighbouring field.
const CONTEXT_DETECTORS: &[&str] = &["us_ssn", "aws_secret_key", "bearer_token", "ipv4", "phone"];

struct State<'m> {
    masker: &'m Masker,
    tables: Vec<String>,
    csv: bool,
    scram: Option<ScramSha256>,
    client_first: Vec<u8>,
    description: Option<Vec<u8>>,
    rows: Vec<Vec<u8>>,
    copying: bool,
    /// The gateway refused something and ended the session.
    ended: bool,
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if data.len() < 2 {
            return;
        }
        let chunk = usize::from(data[0] % 64) + 1;
        let masker = &MASKERS[usize::from(data[1] & 7) % MASKERS.len()];
        let mut state = State {
            masker,
            tables: if data[1] & 8 != 0 {
                vec!["users".to_owned()]
            } else {
                Vec::new()
            },
            csv: data[1] & 16 != 0,
            scram: None,
            client_first: Vec::new(),
            description: None,
            rows: Vec::new(),
            copying: false,
            ended: false,
        };
        block_on(async {
            let mut reader = FrameReader::new(Chunked::new(&data[2..], chunk), LIMIT, "server");
            while let Ok(Some(frame)) = reader.next().await {
                if !state.frame(frame.tag, frame.body()) || state.ended {
                    break;
                }
            }
        });
        state.end_result();
    });
}

impl State<'_> {
    /// One frame; `false` when the gateway would end the connection here.
    fn frame(&mut self, tag: u8, body: &[u8]) -> bool {
        if tag != backend::DATA_ROW {
            self.end_result();
            if self.ended {
                return false;
            }
        }
        if tag != backend::COPY_DATA && tag != backend::COPY_OUT_RESPONSE {
            self.copying = false;
        }
        match tag {
            backend::AUTHENTICATION => return self.authentication(body),
            backend::PARAMETER_STATUS => {
                let mut reader = BodyReader::new(body, "ParameterStatus");
                let _ = (reader.cstr(), reader.cstr());
            }
            backend::BACKEND_KEY_DATA => {
                let mut reader = BodyReader::new(body, "BackendKeyData");
                let _ = (reader.i32(), reader.i32());
            }
            backend::ERROR_RESPONSE | backend::NOTICE_RESPONSE => {
                let fields = wire::error_fields(body).unwrap_or_default();
                let _ = wire::describe_error(&fields);
            }
            backend::COMMAND_COMPLETE => {
                if let Some(tag) = wire::command_tag(body) {
                    let _ = tag.rsplit(' ').next().map(str::parse::<u64>);
                }
            }
            // As `session::outbound::next_valid`: a RowDescription that does not decode or a
            // DataRow whose lengths do not add up ends the session before masking sees it.
            backend::ROW_DESCRIPTION => match wire::row_description(body) {
                Ok(_) => self.description = Some(body.to_vec()),
                Err(_) => return false,
            },
            backend::DATA_ROW => {
                if wire::check_data_row(body).is_err() {
                    return false;
                }
                assert!(
                    wire::data_row(body).is_ok(),
                    "check_data_row passed a row data_row cannot decode"
                );
                self.rows.push(body.to_vec());
            }
            backend::COPY_OUT_RESPONSE => self.copying = body.first() != Some(&1),
            backend::COPY_DATA if self.copying => self.copy_data(body),
            backend::PARSE_COMPLETE
            | backend::BIND_COMPLETE
            | backend::CLOSE_COMPLETE
            | backend::NOTIFICATION_RESPONSE
            | backend::COPY_DONE
            | backend::COPY_DATA
            | backend::COPY_IN_RESPONSE
            | backend::EMPTY_QUERY_RESPONSE
            | backend::NO_DATA
            | backend::PORTAL_SUSPENDED
            | backend::PARAMETER_DESCRIPTION
            | backend::FUNCTION_CALL_RESPONSE
            | backend::COPY_BOTH_RESPONSE
            | backend::READY_FOR_QUERY
            | backend::NEGOTIATE_PROTOCOL_VERSION => {}
            // No such message in PostgreSQL's protocol: the gateway ends the session.
            _ => return false,
        }
        true
    }

    /// As `upstream::authenticate`: `false` when the gateway would give up on the server.
    fn authentication(&mut self, body: &[u8]) -> bool {
        let mut reader = BodyReader::new(body, "Authentication");
        match reader.i32() {
            Ok(0 | 3) => true,
            Ok(5) => match reader.take(4) {
                Ok(salt) => {
                    let salt: [u8; 4] = salt.try_into().expect("4 bytes");
                    let _ = md5_hash(b"postgres", b"secret", salt);
                    true
                }
                Err(_) => false,
            },
            Ok(10) => {
                let mut offered = Vec::new();
                loop {
                    match reader.cstr() {
                        Ok("") => break,
                        Ok(mechanism) => offered.push(mechanism.to_owned()),
                        Err(_) => return false,
                    }
                }
                if !offered.iter().any(|m| m == "SCRAM-SHA-256") {
                    return false;
                }
                let client = ScramSha256::new(b"secret", ChannelBinding::unsupported());
                let _ = wire::sasl_initial_response("SCRAM-SHA-256", client.message());
                self.client_first = client.message().to_vec();
                self.scram = Some(client);
                true
            }
            Ok(11) => {
                let Some(client) = self.scram.as_mut() else {
                    return false;
                };
                let message = with_client_nonce(&self.client_first, reader.remaining());
                // The library refuses more than 100,000 iterations; the target stops at 4,096
                // so that inputs the fuzzer finds valid do not slow every execution down.
                if iterations(&message).is_some_and(|count| count > 4096) {
                    return false;
                }
                match client.update(&message) {
                    Ok(()) => {
                        let _ = wire::raw_message(frontend::SASL_RESPONSE, client.message());
                        true
                    }
                    Err(_) => false,
                }
            }
            Ok(12) => match self.scram.as_mut() {
                Some(client) => client.finish(reader.remaining()).is_ok(),
                None => false,
            },
            _ => false,
        }
    }

    fn end_result(&mut self) {
        let rows = std::mem::take(&mut self.rows);
        let Some(description) = self.description.as_deref() else {
            return;
        };
        let fields = wire::row_description(description).expect("checked when it arrived");
        let bodies: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
        let Ok(masked) = mask_result(self.masker, description, &self.tables, &bodies) else {
            return;
        };
        assert_eq!(masked.len(), rows.len());
        for (original, masked) in rows.iter().zip(&masked) {
            // A refused row ends the session: it and everything after it never reach the client.
            let Ok(masked) = masked else {
                self.ended = true;
                return;
            };
            let sent: &[u8] = masked.as_deref().unwrap_or(original);
            // Every row the client receives is one gatehouse could read and check.
            let values = match wire::data_row(sent) {
                Ok(values) => values,
                Err(error) => panic!("a DataRow that does not decode reaches the client: {error}"),
            };
            assert_eq!(
                values.len(),
                fields.len(),
                "a DataRow whose values do not match the description reaches the client"
            );
            for (value, field) in values.iter().zip(&fields) {
                let (Some(value), true) = (value, TEXT_OIDS.contains(&field.type_oid)) else {
                    continue;
                };
                // A column rule's strategy decides what of such a column shows (`partial`
                // keeps a tail on purpose); only scanned columns must come out clean.
                if self.masked_whole(field) {
                    continue;
                }
                let Ok(text) = std::str::from_utf8(value) else {
                    continue;
                };
                let left = self.masker.explain(text);
                assert!(
                    left.is_empty(),
                    "column {:?} reaches the client with {left:?} in {text:?}",
                    field.name
                );
            }
        }
    }

    /// Whether a column rule masks this column whole (as `masking::column_mask` decides).
    fn masked_whole(&self, field: &wire::FieldDescription) -> bool {
        let type_name = match field.type_oid {
            18 => "char",
            19 => "name",
            25 => "text",
            142 => "xml",
            705 => "unknown",
            1042 => "bpchar",
            _ => "varchar",
        };
        let tables = self.tables.iter().map(|t| Some(t.as_str())).chain([None]);
        let candidates: Vec<ColumnRef<'_>> = tables
            .map(|table| ColumnRef {
                name: &field.name,
                table,
                type_name: Some(type_name),
            })
            .collect();
        let plan = self.masker.plan(&candidates);
        plan.columns()
            .iter()
            .any(|mask| matches!(mask, ColumnMask::Whole { .. }))
    }

    fn copy_data(&mut self, body: &[u8]) {
        let Ok(masked) = mask_copy_data(self.masker, body, self.csv) else {
            self.ended = true;
            return;
        };
        if let Some(masked) = &masked {
            let again = mask_copy_data(self.masker, masked, self.csv);
            assert!(
                matches!(again, Ok(None)),
                "masked COPY row {:?} still masks to {:?}",
                String::from_utf8_lossy(masked),
                again.map(|a| a.map(|a| String::from_utf8_lossy(&a).into_owned()))
            );
        }
        // A row forwarded as it came holds no finding that lies within one field (no
        // separator, quote or escape inside it or next to it, which decoding the field would
        // change) of a detector that needs no context from around the value.
        let sent = masked.as_deref().unwrap_or(body);
        // In text format a backslash escape makes the line differ from the values it encodes
        // (which are what gatehouse scans and the client decodes): no raw-line check then.
        let escaped = !self.csv && sent.contains(&b'\\');
        if let (Ok(line), false) = (std::str::from_utf8(sent), escaped) {
            const SPECIAL: [char; 6] = [',', '\t', '"', '\\', '\n', '\r'];
            for finding in self.masker.explain(line) {
                let span = &line[finding.start..finding.end];
                let before = line[..finding.start].chars().next_back();
                let after = line[finding.end..].chars().next();
                if CONTEXT_DETECTORS.contains(&finding.detector.as_str())
                    || span.contains(SPECIAL)
                    || before.is_some_and(|c| SPECIAL.contains(&c))
                    || after.is_some_and(|c| SPECIAL.contains(&c))
                {
                    continue;
                }
                panic!(
                    "COPY row {line:?} reaches the client with {} finding {span:?}",
                    finding.detector
                );
            }
        }
    }
}

/// The server-first message with the client's nonce spliced in after a leading `r=`.
fn with_client_nonce(first: &[u8], message: &[u8]) -> Vec<u8> {
    let Some(rest) = message.strip_prefix(b"r=") else {
        return message.to_vec();
    };
    let nonce = first
        .windows(2)
        .rposition(|w| w == b"r=")
        .map_or(&[][..], |at| &first[at + 2..]);
    [b"r=".as_slice(), nonce, rest].concat()
}

/// The iteration count a server-first message asks for, if it can be read.
fn iterations(message: &[u8]) -> Option<u64> {
    let at = message.windows(3).position(|w| w == b",i=")?;
    let digits: Vec<u8> = message[at + 3..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    if digits.len() > 12 {
        return Some(u64::MAX);
    }
    std::str::from_utf8(&digits).ok()?.parse().ok()
}
