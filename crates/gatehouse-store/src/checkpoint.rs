//! Audit checkpoints: the newest fsynced `seq` and its MAC, written outside the store.
//!
//! The chain proves that what is in the log was not altered, but a log whose newest events
//! were deleted is still a valid chain. A checkpoint kept somewhere the store's writers cannot
//! rewrite (a file with other permissions, a webhook receiver) says how far the log reached.

use crate::StoreError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// How far the log reached at some moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    /// The MAC of event `seq`, hex.
    pub mac: String,
    pub time_unix_ms: i64,
}

impl Checkpoint {
    /// Whether a log whose event at this checkpoint's `seq` has MAC `mac` (`None`: no such
    /// event) still reaches the checkpoint.
    pub fn is_reached_by(&self, mac: Option<&[u8]>) -> bool {
        mac.is_some_and(|mac| {
            hex::decode(&self.mac).is_ok_and(|expected| crate::chain::macs_equal(&expected, mac))
        })
    }

    /// Read a checkpoint file; `None` when there is none yet.
    pub fn read(path: &Path) -> Result<Option<Checkpoint>, StoreError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(checkpoint_error(path, e.to_string())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| checkpoint_error(path, format!("not a gatehouse audit checkpoint: {e}")))
    }

    /// Replace the checkpoint file atomically (write a temporary file, fsync, rename), so a
    /// crash leaves either the old or the new checkpoint, never a torn one.
    pub fn write(&self, path: &Path) -> Result<(), StoreError> {
        // Unique per writer: the gateway and a CLI command may checkpoint at the same moment.
        let mut suffix = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut suffix);
        let temporary = path.with_extension(format!("{}.tmp", hex::encode(suffix)));
        let json = serde_json::to_vec(self)
            .map_err(|e| checkpoint_error(path, format!("cannot encode: {e}")))?;
        let written = std::fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(&json)?;
            file.sync_all()
        });
        let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        renamed.map_err(|e| checkpoint_error(path, e.to_string()))
    }
}

fn checkpoint_error(path: &Path, reason: String) -> StoreError {
    StoreError::Checkpoint(path.display().to_string(), reason)
}
