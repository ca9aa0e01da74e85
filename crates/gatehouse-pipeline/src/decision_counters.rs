//! The `gatehouse_decisions_total` counters, looked up once per action and decision.
//!
//! Registering a labelled counter with the metrics recorder builds its key, hashes it and
//! searches the recorder's registry: about 1.2k instructions, more than a hundredth of a
//! pgbench statement's whole cost through the gateway, spent on every decision for the same
//! few counters. The pipeline keeps the handles it has registered instead. A handle belongs
//! to the recorder installed when it was first asked for (installed at start, before any
//! session is served).

use gatehouse_core::DecisionKind;
use metrics::Counter;
use std::sync::{Mutex, PoisonError};

/// Most counters kept; past this (a protocol with unboundedly many action names) each
/// decision asks the recorder, as without the memo.
const MAX_KEPT: usize = 256;

/// The counter handles registered so far, by action name and decision.
#[derive(Default)]
pub(crate) struct DecisionCounters {
    kept: Mutex<Vec<(&'static str, DecisionKind, Counter)>>,
}

impl DecisionCounters {
    /// Count one decision of `action`.
    pub(crate) fn count(&self, action: &'static str, decision: DecisionKind) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, counter)) = kept
            .iter()
            .find(|(name, kind, _)| *kind == decision && *name == action)
        {
            counter.increment(1);
            return;
        }
        let counter = metrics::counter!(
            "gatehouse_decisions_total",
            "action" => action,
            "decision" => decision.as_str(),
        );
        counter.increment(1);
        if kept.len() < MAX_KEPT {
            kept.push((action, decision, counter));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept handles count into the recorder like the macro did: per action and decision,
    /// every decision counted once.
    #[test]
    fn each_decision_is_counted_once_under_its_action_and_decision() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let counters = DecisionCounters::default();
            for _ in 0..3 {
                counters.count("sql:select", DecisionKind::Allow);
            }
            counters.count("sql:select", DecisionKind::Deny);
            counters.count("sql:delete", DecisionKind::Deny);
        });
        let rendered = handle.render();
        for expected in [
            r#"gatehouse_decisions_total{action="sql:select",decision="allow"} 3"#,
            r#"gatehouse_decisions_total{action="sql:select",decision="deny"} 1"#,
            r#"gatehouse_decisions_total{action="sql:delete",decision="deny"} 1"#,
        ] {
            assert!(
                rendered.contains(expected),
                "{expected} missing in:\n{rendered}"
            );
        }
    }
}
