//! Relaying the server's answer to a forwarded command: OK, ERR, or result sets (several,
//! while the server says more results exist), their rows masked where the session is masked
//! (text rows, or binary rows for prepared statements), server errors masked by the
//! detectors, and what each result was for the audit log. A server that asks for a local file
//! (`LOAD DATA LOCAL INFILE`) ends the session: gatehouse never sends one.

use super::outcomes::{Answer, AnswerKind, StatementRun};
use super::relay::Relay;
use super::state::SessionState;
use super::tracking::follow_ok;
use crate::MysqlError;
use crate::masking::{ResultMasking, counts_of, expressions_masked, mask_message, type_name};
use crate::packets::PacketStream;
use crate::query::{end_status, ends_rows};
use gatehouse_mask::{MaskCounts, Masker};
use gatehouse_mysql_wire::capabilities::Capabilities;
use gatehouse_mysql_wire::lenenc::read_lenenc_int;
use gatehouse_mysql_wire::response::{
    ColumnDefinition, ErrPacket, OkPacket, SERVER_MORE_RESULTS_EXISTS, encode_binary_row,
    encode_text_row, parse_binary_row, parse_text_row,
};
use gatehouse_pipeline::ResultColumn;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Rows of one result kept for a recording that records results, at most.
const CAPTURE_ROWS: usize = 1_000;

/// What the server sends about a result set's rows.
enum RowFormat {
    Text,
    Binary,
}

/// The parts of a session that relaying an answer touches: the two sockets, the capabilities
/// on each side, the session state that OK packets update, the masking, and whether rows are
/// captured for the recording. Borrowed from the relay for one answer; built on in-memory
/// streams by [`crate::fuzzing`].
pub(crate) struct Exchange<'r> {
    pub server: &'r mut PacketStream,
    pub client: &'r mut PacketStream,
    pub capabilities: Capabilities,
    pub server_capabilities: Capabilities,
    pub state: &'r mut SessionState,
    pub masker: Option<Arc<Masker>>,
    pub capture: bool,
}

impl Relay<'_> {
    /// Relay the whole answer to the command just forwarded for `runs`; `binary`: rows are
    /// in the binary protocol (an execute of a prepared statement).
    pub(super) async fn relay_response(
        &mut self,
        runs: &[StatementRun],
        binary: bool,
    ) -> Result<Vec<Answer>, MysqlError> {
        let reads: Vec<String> = runs
            .iter()
            .flat_map(|run| run.statement.reads.clone())
            .collect();
        let unknown = runs
            .iter()
            .any(|run| run.statement.kind == gatehouse_core::SqlKind::Unknown);
        let expressions_masked = self
            .masker
            .as_deref()
            .is_some_and(|masker| expressions_masked(masker, &reads, unknown));
        let capture = self.context.recorder.is_some()
            && self
                .gateway
                .record_results
                .contains(&self.context.connection.name);
        let mut exchange = Exchange {
            server: &mut self.server,
            client: &mut self.client,
            capabilities: self.capabilities,
            server_capabilities: self.server_capabilities,
            state: &mut self.state,
            masker: self.masker.clone(),
            capture,
        };
        exchange.relay(expressions_masked, binary).await
    }

    /// A server ERR as the client gets it (its message masked when the session is masked),
    /// and what it was.
    pub(super) fn masked_error(&self, payload: &[u8]) -> (Vec<u8>, Answer) {
        masked_error(self.masker.as_deref(), payload)
    }
}

impl Exchange<'_> {
    /// Relay the whole answer to the command just forwarded; `expressions_masked`: result
    /// columns without an origin are masked whole; `binary`: rows are in the binary protocol.
    pub(crate) async fn relay(
        &mut self,
        expressions_masked: bool,
        binary: bool,
    ) -> Result<Vec<Answer>, MysqlError> {
        let format = if binary {
            RowFormat::Binary
        } else {
            RowFormat::Text
        };
        let mut sequence = 1u8;
        let mut answers = Vec::new();
        loop {
            let Some(message) = self.server.read().await? else {
                return Err(MysqlError::Upstream(
                    "the server closed the connection in the middle of an answer".into(),
                ));
            };
            let payload = message.payload;
            let status = match payload.first() {
                Some(0x00) => {
                    let ok = OkPacket::parse(&payload, self.server_capabilities)
                        .map_err(MysqlError::wire("server"))?;
                    let (for_client, status) = self.follow_ok(&payload)?;
                    sequence = self.client.write(sequence, &for_client).await?;
                    answers.push(Answer::new(AnswerKind::Done {
                        affected: ok.affected_rows,
                    }));
                    status
                }
                Some(0xFF) => {
                    let (masked, answer) = masked_error(self.masker.as_deref(), &payload);
                    self.client.write(sequence, &masked).await?;
                    answers.push(answer);
                    break;
                }
                Some(0xFB) => {
                    return Err(MysqlError::Refused(
                        "the server asked for a local file (LOAD DATA LOCAL INFILE); gatehouse never sends one and ended the session".into(),
                    ));
                }
                _ => {
                    let (answer, status, next) = self
                        .relay_result_set(&payload, sequence, expressions_masked, &format)
                        .await?;
                    sequence = next;
                    let failed = matches!(answer.kind, AnswerKind::Failed { .. });
                    answers.push(answer);
                    if failed {
                        break;
                    }
                    status
                }
            };
            if status & SERVER_MORE_RESULTS_EXISTS == 0 {
                break;
            }
        }
        self.client.flush().await?;
        Ok(answers)
    }

    /// Follow what the server's OK packet `payload` says changed; the OK packet as the client
    /// gets it, with its status flags.
    fn follow_ok(&mut self, payload: &[u8]) -> Result<(Vec<u8>, u16), MysqlError> {
        follow_ok(
            self.state,
            (self.capabilities, self.server_capabilities),
            payload,
        )
    }

    /// Relay one result set whose first message is `header`; returns what it was, the status
    /// flags of its end, and the next sequence id towards the client.
    async fn relay_result_set(
        &mut self,
        header: &[u8],
        mut sequence: u8,
        expressions_masked: bool,
        format: &RowFormat,
    ) -> Result<(Answer, u16, u8), MysqlError> {
        let mut rest = header;
        let count = read_lenenc_int(&mut rest)
            .map_err(MysqlError::wire("server"))?
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                MysqlError::Protocol("the server sent a result set without a column count".into())
            })?;
        sequence = self.client.write(sequence, header).await?;
        let mut columns = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let message = self.server.expect("a column definition").await?;
            let column =
                ColumnDefinition::parse(&message.payload).map_err(MysqlError::wire("server"))?;
            sequence = self.client.write(sequence, &message.payload).await?;
            columns.push(column);
        }
        let deprecate_eof = self.capabilities.contains(Capabilities::DEPRECATE_EOF);
        if !deprecate_eof {
            let message = self
                .server
                .expect("the end of the column definitions")
                .await?;
            sequence = self.client.write(sequence, &message.payload).await?;
        }
        let mut masking = self
            .masker
            .clone()
            .map(|masker| ResultMasking::plan(masker, &columns, expressions_masked));
        let capture = self.capture;
        let mut answer = Answer::new(AnswerKind::Rows { rows: 0 });
        answer.columns = columns
            .iter()
            .map(|column| ResultColumn {
                name: String::from_utf8_lossy(&column.name).into_owned(),
                type_name: Some(type_name(column.column_type).to_owned()),
            })
            .collect();
        let mut rows = 0u64;
        loop {
            let message = self.server.expect("a row").await?;
            let payload = message.payload;
            if payload.first() == Some(&0xFF) {
                let (masked, mut failed) = masked_error(self.masker.as_deref(), &payload);
                sequence = self.client.write(sequence, &masked).await?;
                failed.columns = std::mem::take(&mut answer.columns);
                return Ok((failed, 0, sequence));
            }
            if ends_rows(&payload, deprecate_eof) {
                let (for_client, status) = if deprecate_eof {
                    self.follow_ok(&payload)?
                } else {
                    (
                        payload.clone(),
                        end_status(&payload, self.server_capabilities)?,
                    )
                };
                sequence = self.client.write(sequence, &for_client).await?;
                answer.kind = AnswerKind::Rows { rows };
                if let Some(masking) = &masking {
                    answer.masked = masking.counts();
                }
                return Ok((answer, status, sequence));
            }
            rows += 1;
            answer.bytes += payload.len() as u64;
            let row = match format {
                RowFormat::Text => self.text_row(
                    &payload,
                    count,
                    masking.as_mut(),
                    capture.then_some(&mut answer.captured),
                )?,
                RowFormat::Binary => binary_row(
                    &payload,
                    &columns,
                    masking.as_mut(),
                    capture.then_some(&mut answer.captured),
                )?,
            };
            sequence = self
                .client
                .write(sequence, row.as_deref().unwrap_or(&payload))
                .await?;
        }
    }

    /// A text row masked (`None`: send it unchanged), captured when asked.
    fn text_row(
        &self,
        payload: &[u8],
        count: usize,
        masking: Option<&mut ResultMasking>,
        capture: Option<&mut Vec<Vec<Option<String>>>>,
    ) -> Result<Option<Vec<u8>>, MysqlError> {
        if masking.is_none() && capture.is_none() {
            return Ok(None);
        }
        let values = parse_text_row(payload, count).map_err(MysqlError::wire("server"))?;
        let masked = masking.and_then(|masking| masking.mask_text_row(&values));
        if let Some(captured) = capture
            && captured.len() < CAPTURE_ROWS
        {
            let shown: Vec<Option<String>> = match &masked {
                Some(masked) => masked.iter().map(|v| v.as_deref().map(lossy)).collect(),
                None => values.iter().map(|v| v.map(lossy)).collect(),
            };
            captured.push(shown);
        }
        Ok(masked.map(|masked| {
            let refs: Vec<Option<&[u8]>> = masked.iter().map(|v| v.as_deref()).collect();
            encode_text_row(&refs)
        }))
    }
}

/// A server ERR as the client gets it (its message masked when the session is masked),
/// and what it was.
pub(crate) fn masked_error(masker: Option<&Masker>, payload: &[u8]) -> (Vec<u8>, Answer) {
    let Ok(mut err) = ErrPacket::parse(payload) else {
        return (
            payload.to_vec(),
            Answer::new(AnswerKind::Failed {
                error: "the server sent a malformed error".to_owned(),
            }),
        );
    };
    let mut counts = MaskCounts::default();
    if let Some(masker) = masker {
        err.message = mask_message(masker, &err.message, &mut counts);
    }
    let mut answer = Answer::new(AnswerKind::Failed {
        error: format!(
            "{} ({}): {}",
            err.code,
            String::from_utf8_lossy(&err.sql_state),
            String::from_utf8_lossy(&err.message)
        ),
    });
    answer.masked = counts_of(&counts);
    (err.encode(), answer)
}

/// A binary row masked (`None`: send it unchanged; a masked non-string value is NULL and the
/// row's NULL bitmap says so), captured when asked.
fn binary_row(
    payload: &[u8],
    columns: &[ColumnDefinition],
    masking: Option<&mut ResultMasking>,
    capture: Option<&mut Vec<Vec<Option<String>>>>,
) -> Result<Option<Vec<u8>>, MysqlError> {
    if masking.is_none() && capture.is_none() {
        return Ok(None);
    }
    let values = parse_binary_row(payload, columns).map_err(MysqlError::wire("server"))?;
    let masked = masking.and_then(|masking| masking.mask_binary_row(&values));
    if let Some(captured) = capture
        && captured.len() < CAPTURE_ROWS
    {
        let shown = masked.as_ref().unwrap_or(&values);
        captured.push(shown.iter().map(|v| v.to_text()).collect());
    }
    masked
        .map(|masked| encode_binary_row(&masked, columns).map_err(MysqlError::wire("server")))
        .transpose()
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Add masked-value counts `from` to `into`.
pub(super) fn merge_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (name, count) in from {
        *into.entry(name.clone()).or_default() += count;
    }
}
