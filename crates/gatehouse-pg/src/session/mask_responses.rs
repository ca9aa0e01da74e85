//! The outbound side's masking state for one session: the plan of the result set in
//! progress, whether a `COPY ... TO STDOUT` is streaming, and what was masked so far (counts
//! only), handed to the result tracker when the statement completes; and the encoding the
//! results arrive in, which must stay UTF-8 for them to be scanned.

use super::results::StatementHint;
use crate::encoding::WireEncoding;
use crate::masking::{ConnectionMasking, ResultMasking, mask_copy_row};
use crate::{PgError, wire};
use gatehouse_mask::MaskCounts;

pub(super) struct ResponseMasker<'m> {
    masking: &'m ConnectionMasking,
    plan: Option<ResultMasking>,
    /// `Some(csv)` while a COPY's rows stream.
    copy_csv: Option<bool>,
    counts: MaskCounts,
    encoding: WireEncoding,
}

impl<'m> ResponseMasker<'m> {
    pub fn new(masking: &'m ConnectionMasking, encoding: WireEncoding) -> Self {
        ResponseMasker {
            masking,
            plan: None,
            copy_csv: None,
            counts: MaskCounts::default(),
            encoding,
        }
    }

    /// A `ParameterStatus`: the server reports a changed setting. A session whose results
    /// would no longer arrive in UTF-8 ends here, before the report (or anything encoded
    /// the new way) reaches the client.
    pub fn on_parameter_status(&mut self, body: &[u8]) -> Result<(), PgError> {
        let mut reader = wire::BodyReader::new(body, "ParameterStatus");
        let name = reader.cstr()?;
        let value = reader.cstr()?;
        self.encoding.note(name, value);
        self.encoding.check_utf8().map_err(PgError::CannotMask)
    }

    /// A `RowDescription`: plan the rows that follow, or refuse (fail closed).
    pub fn on_row_description(&mut self, body: &[u8], hint: &StatementHint) -> Result<(), PgError> {
        let fields = wire::row_description(body)?;
        let plan = ResultMasking::plan(&self.masking.masker, &fields, &hint.tables)
            .map_err(|refusal| PgError::CannotMask(refusal.0))?;
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
        plan.mask_row(&self.masking.masker, body, &mut self.counts)
            .map(|row| row.map(|row| wire::raw_message(b'D', &row)))
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
        mask_copy_row(&self.masking.masker, body, csv, &mut self.counts)
            .map(|row| row.map(|row| wire::raw_message(b'd', &row)))
            .map_err(|refusal| PgError::CannotMask(refusal.0))
    }

    /// The result set ended (completion, error, `ReadyForQuery`): what was masked in it.
    pub fn end_result(&mut self) -> MaskCounts {
        self.plan = None;
        self.copy_csv = None;
        std::mem::take(&mut self.counts)
    }
}
