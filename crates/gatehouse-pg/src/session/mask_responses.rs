//! The outbound side's masking state for one session: the plan of the result set in
//! progress (the last plan is kept and reused for a result described alike), whether a
//! `COPY ... TO STDOUT` is streaming, and what was masked so far (counts only), handed to the
//! result tracker when the statement completes; and the encoding the session's text travels
//! in: values are read in it, masked as text and written back in it.
//!
//! Results are not the only text the server sends: errors and notices quote values
//! (`value "4539578763621486" is out of range for type integer`, a function's `RAISE
//! NOTICE`), notifications carry payloads, and reported settings carry whatever was set.
//! Every field of those goes through the content detectors too (the error or notice's
//! severity and SQLSTATE excepted), and the outcome error recorded in the audit log is the
//! masked one. A statement that computes on a masked column gets its errors withheld: the
//! value an error quotes may be a transformed one no detector recognises.

use super::results::StatementHint;
use super::server_model::{Placed, StatementEnding};
use crate::encoding::TextEncoding;
use crate::masking::{ConnectionMasking, ResultMasking, mask_copy_row};
use crate::wire::tags::{backend, error_field};
use crate::{PgError, wire};
use bytes::{BufMut, Bytes, BytesMut};
use gatehouse_core::Lineage;
use gatehouse_mask::{ColumnMask, MaskCounts, Masked};
use std::sync::Arc;

/// Error and notice fields that are never masked: severity (localized and not) and SQLSTATE.
const PLAIN_FIELDS: &[u8] = &[
    error_field::SEVERITY,
    error_field::SEVERITY_NONLOCALIZED,
    error_field::CODE,
];

pub(super) struct ResponseMasker<'m> {
    masking: &'m ConnectionMasking,
    plan: Option<Arc<ResultMasking>>,
    /// The last plan made and what it was made from: most statements run again and again,
    /// and their results are described by the same bytes.
    last_plan: Option<PlanMadeFrom>,
    /// `Some(csv)` while a COPY's rows stream.
    copy_csv: Option<bool>,
    counts: MaskCounts,
    encoding: TextEncoding,
}

impl<'m> ResponseMasker<'m> {
    pub fn new(masking: &'m ConnectionMasking, encoding: TextEncoding) -> Self {
        ResponseMasker {
            masking,
            plan: None,
            last_plan: None,
            copy_csv: None,
            counts: MaskCounts::default(),
            encoding,
        }
    }

    /// A `ParameterStatus`: the server reports a changed setting (the encoding followed; a
    /// session gatehouse can no longer read was ended before this). The masked report to
    /// relay instead, if masking changed it.
    pub fn on_parameter_status(&mut self, body: &[u8]) -> Result<Option<Bytes>, PgError> {
        let mut reader = wire::BodyReader::new(body, "ParameterStatus");
        let name = self.encoding.decode_lossy(reader.cbytes()?);
        let value = self.encoding.decode_lossy(reader.cbytes()?);
        if self.encoding.note(&name, &value).is_err() {
            return Err(PgError::Unreadable(format!(
                "the server reports {name} {value:?}, which gatehouse cannot read"
            )));
        }
        let (masked_name, masked_value) = (self.mask_text(&name), self.mask_text(&value));
        if masked_name == name && masked_value == value {
            return Ok(None);
        }
        let mut out = BytesMut::with_capacity(body.len() + 16);
        self.put_text(&mut out, &masked_name);
        self.put_text(&mut out, &masked_value);
        Ok(Some(wire::raw_message(backend::PARAMETER_STATUS, &out)))
    }

    /// A NUL-terminated string field in the session's encoding; a NUL inside (impossible in
    /// text the server sent) ends it.
    fn put_text(&self, out: &mut BytesMut, text: &str) {
        let text = text.split('\0').next().unwrap_or_default();
        out.put_slice(&self.encoding.encode(text));
        out.put_u8(0);
    }

    /// A `NotificationResponse`: channel and payload masked. One that does not decode is
    /// replaced by an empty notification rather than relayed unread.
    pub fn on_notification(&mut self, body: &[u8]) -> Option<Bytes> {
        let mut reader = wire::BodyReader::new(body, "NotificationResponse");
        let decoded = (|| {
            let process = reader.i32().ok()?;
            let channel = self
                .encoding
                .decode(reader.cbytes().ok()?)
                .ok()?
                .into_owned();
            let payload = self
                .encoding
                .decode(reader.cbytes().ok()?)
                .ok()?
                .into_owned();
            Some((process, channel, payload))
        })();
        let (process, channel, payload) =
            decoded.clone().unwrap_or((0, String::new(), String::new()));
        let (masked_channel, masked_payload) = (self.mask_text(&channel), self.mask_text(&payload));
        if decoded.is_some() && masked_channel == channel && masked_payload == payload {
            return None;
        }
        let mut out = BytesMut::with_capacity(body.len() + 16);
        out.put_i32(process);
        self.put_text(&mut out, &masked_channel);
        self.put_text(&mut out, &masked_payload);
        Some(wire::raw_message(backend::NOTIFICATION_RESPONSE, &out))
    }

    /// An `ErrorResponse` or `NoticeResponse` (`tag`): every field masked, or, for the
    /// error of a statement that computes on a masked column, withheld. The outcome errors
    /// `placed` records for the audit log are rewritten the same way. A message that does
    /// not decode is replaced by a generic one.
    pub fn on_error_or_notice(
        &mut self,
        tag: u8,
        body: &[u8],
        placed: &mut Placed,
    ) -> Option<Bytes> {
        let fields = self.error_fields(body);
        let field = |code: u8| {
            fields
                .iter()
                .find(|(own, _)| *own == code)
                .map(|(_, value)| value.as_str())
        };
        let sqlstate = field(error_field::CODE).unwrap_or("XX000").to_owned();
        let severity = field(error_field::SEVERITY).unwrap_or(if tag == backend::ERROR_RESPONSE {
            "ERROR"
        } else {
            "NOTICE"
        });
        let withheld = (tag == backend::ERROR_RESPONSE)
            .then(|| self.computed_on(placed))
            .flatten()
            .map(|column| {
                format!(
                    "gatehouse: the server's error message is withheld: the statement computes on masked column `{column}`, and the message could quote its values"
                )
            });
        let masked: Vec<(u8, String)> = match (&withheld, fields.is_empty()) {
            (Some(message), _) => vec![
                (error_field::SEVERITY, severity.to_owned()),
                (
                    error_field::SEVERITY_NONLOCALIZED,
                    field(error_field::SEVERITY_NONLOCALIZED)
                        .unwrap_or(severity)
                        .to_owned(),
                ),
                (error_field::CODE, sqlstate.clone()),
                (error_field::MESSAGE, message.clone()),
            ],
            (None, true) => vec![
                (error_field::SEVERITY, severity.to_owned()),
                (error_field::CODE, sqlstate.clone()),
                (
                    error_field::MESSAGE,
                    "gatehouse: the server sent a message gatehouse cannot read to mask it"
                        .to_owned(),
                ),
            ],
            (None, false) => fields
                .iter()
                .map(|(code, value)| {
                    if PLAIN_FIELDS.contains(code) {
                        (*code, value.clone())
                    } else {
                        (*code, self.mask_text(value))
                    }
                })
                .collect(),
        };
        if tag == backend::ERROR_RESPONSE {
            let message = masked
                .iter()
                .find(|(code, _)| *code == error_field::MESSAGE)
                .map_or("", |(_, value)| value.as_str());
            for finished in &mut placed.finished {
                if let StatementEnding::Failed(error) = &mut finished.ending {
                    *error = format!("{sqlstate}: {message}");
                }
            }
        }
        if masked == fields {
            return None;
        }
        let mut out = BytesMut::with_capacity(body.len() + 64);
        for (code, value) in &masked {
            out.put_u8(*code);
            self.put_text(&mut out, value);
        }
        out.put_u8(0);
        Some(wire::raw_message(tag, &out))
    }

    /// The fields of an ErrorResponse or NoticeResponse, read in the session's encoding;
    /// none when the message does not decode.
    fn error_fields(&self, body: &[u8]) -> Vec<(u8, String)> {
        let mut reader = wire::BodyReader::new(body, "ErrorResponse");
        let mut fields = Vec::new();
        loop {
            match reader.u8() {
                Ok(0) => return fields,
                Ok(code) => match reader.cbytes() {
                    Ok(value) => fields.push((code, self.encoding.decode_lossy(value))),
                    Err(_) => return Vec::new(),
                },
                Err(_) => return Vec::new(),
            }
        }
    }

    /// The masked column the failed statement of `placed` computes on, if any.
    fn computed_on(&self, placed: &Placed) -> Option<String> {
        placed.finished.iter().find_map(|finished| {
            let hint = finished.statement.hint.as_deref()?;
            let lineage = hint.lineage.as_deref()?;
            crate::column_lineage::computes_on(&self.masking.masker, lineage, &hint.tables)
        })
    }

    /// `text` with what the content detectors find masked; a value that masks to `NULL`
    /// becomes a marker (a message field cannot be NULL).
    fn mask_text(&mut self, text: &str) -> String {
        match self
            .masking
            .masker
            .mask_value(&ColumnMask::Scan, text, &mut self.counts)
        {
            Masked::Unchanged(text) => text.to_owned(),
            Masked::Replaced(text) => text,
            Masked::Null => "[REDACTED]".to_owned(),
        }
    }

    /// A `RowDescription`: plan the rows that follow, or refuse (fail closed).
    pub fn on_row_description(&mut self, body: &[u8], hint: &StatementHint) -> Result<(), PgError> {
        let encoding = self.encoding;
        if let Some(last) = &self.last_plan
            && last.is_for(body, hint, encoding)
        {
            self.plan = Some(last.plan.clone());
            return Ok(());
        }
        let fields = wire::row_description_in(body, |name| encoding.decode_lossy(name))?;
        let plan = Arc::new(
            ResultMasking::plan(
                &self.masking.masker,
                &fields,
                &hint.tables,
                hint.lineage.as_deref(),
            )
            .map_err(|refusal| PgError::CannotMask(refusal.0))?,
        );
        self.last_plan = Some(PlanMadeFrom {
            description: body.to_vec(),
            tables: hint.tables.clone(),
            lineage: hint.lineage.clone(),
            encoding,
            plan: plan.clone(),
        });
        self.plan = Some(plan);
        Ok(())
    }

    /// A `DataRow`: the masked message to send instead, if anything changed. A row with no
    /// plan before it (a protocol violation by the server) cannot be checked: refused.
    pub fn on_data_row(&mut self, body: &[u8]) -> Result<Option<bytes::Bytes>, PgError> {
        let Some(plan) = &self.plan else {
            return Err(PgError::CannotMask(
                "the server sent rows without describing them first".to_owned(),
            ));
        };
        plan.mask_row(&self.masking.masker, body, &mut self.counts, self.encoding)
            .map(|row| row.map(|row| wire::raw_message(backend::DATA_ROW, &row)))
            .map_err(|refusal| PgError::CannotMask(refusal.0))
    }

    /// A `CopyOutResponse`: COPY rows follow. Binary COPY cannot be read, and COPY does not
    /// name its columns, so neither can be masked on a connection with column rules.
    pub fn on_copy_out(&mut self, body: &[u8], hint: &StatementHint) -> Result<(), PgError> {
        if body.first() == Some(&1) {
            return Err(PgError::CannotMask(
                "COPY in binary format cannot be masked; use text or CSV format".to_owned(),
            ));
        }
        if self.masking.has_column_rules {
            return Err(PgError::CannotMask(
                "COPY ... TO STDOUT cannot be masked by column on this connection (COPY does not name its columns); use SELECT".to_owned(),
            ));
        }
        self.copy_csv = Some(hint.copy_csv);
        Ok(())
    }

    /// A `CopyData` from the server: the masked message to send instead, if anything changed,
    /// or a refusal when the row cannot be checked (fail closed).
    pub fn on_copy_data(&mut self, body: &[u8]) -> Result<Option<bytes::Bytes>, PgError> {
        let Some(csv) = self.copy_csv else {
            return Ok(None);
        };
        mask_copy_row(
            &self.masking.masker,
            body,
            csv,
            &mut self.counts,
            self.encoding,
        )
        .map(|row| row.map(|row| wire::raw_message(backend::COPY_DATA, &row)))
        .map_err(|refusal| PgError::CannotMask(refusal.0))
    }

    /// The result set ended (completion, error, `ReadyForQuery`): what was masked in it.
    pub fn end_result(&mut self) -> MaskCounts {
        self.plan = None;
        self.copy_csv = None;
        std::mem::take(&mut self.counts)
    }
}

/// A result plan and everything it depends on besides the connection's masking rules: the
/// `RowDescription`'s exact bytes (column names, types, formats), the statement's tables and
/// lineage, and the encoding the names were read in.
struct PlanMadeFrom {
    description: Vec<u8>,
    tables: Vec<String>,
    lineage: Option<Arc<Lineage>>,
    encoding: TextEncoding,
    plan: Arc<ResultMasking>,
}

impl PlanMadeFrom {
    fn is_for(&self, description: &[u8], hint: &StatementHint, encoding: TextEncoding) -> bool {
        let same_lineage = match (&self.lineage, &hint.lineage) {
            (Some(made), Some(now)) => Arc::ptr_eq(made, now) || made == now,
            (None, None) => true,
            _ => false,
        };
        self.description == description
            && self.encoding == encoding
            && self.tables == hint.tables
            && same_lineage
    }
}
