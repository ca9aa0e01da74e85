//! The audit sink of the `bench-unaudited` build: accepts and discards every event, handing
//! out increasing seqs, so that the data path can be measured without the audit log.

use gatehouse_pipeline::{AuditEvent, AuditSink, BoxFuture, Durability};
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Default)]
pub struct DiscardingSink {
    seq: AtomicI64,
}

impl AuditSink for DiscardingSink {
    fn record(
        &self,
        events: Vec<AuditEvent>,
        _durability: Durability,
    ) -> BoxFuture<'_, Result<i64, String>> {
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let last = self.seq.fetch_add(count, Ordering::Relaxed) + count;
        Box::pin(std::future::ready(Ok(last)))
    }

    fn record_deferred(&self, events: Vec<AuditEvent>) -> Result<(), String> {
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        self.seq.fetch_add(count, Ordering::Relaxed);
        Ok(())
    }
}
