//! The default file-system storage: one append-only `<id>.ghrec` file per recording and a
//! `<id>.json` summary beside it once the recording is finished.

use crate::error::RecordingError;
use crate::reader::Recording;
use crate::storage::RecordingStorage;
use crate::summary::RecordingSummary;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const RECORDING_EXT: &str = "ghrec";
const SUMMARY_EXT: &str = "json";

/// Recordings in one local directory.
///
/// With `sync` on, every chunk and summary is flushed to disk (`fsync`) before the call
/// returns; off, the operating system writes them back when it chooses, which is faster and
/// loses only the last seconds on a power failure (not on a process crash).
#[derive(Debug, Clone)]
pub struct LocalDirStorage {
    dir: PathBuf,
    sync: bool,
}

impl LocalDirStorage {
    /// Storage in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>, sync: bool) -> Result<Self, RecordingError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| file_error(&dir, source))?;
        Ok(LocalDirStorage { dir, sync })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str, ext: &str) -> Result<PathBuf, RecordingError> {
        check_id(id)?;
        Ok(self.dir.join(format!("{id}.{ext}")))
    }

    fn summary_of(&self, id: &str) -> Result<Option<RecordingSummary>, RecordingError> {
        let path = self.path(id, SUMMARY_EXT)?;
        match fs::read(&path) {
            Ok(json) => serde_json::from_slice(&json).map(Some).map_err(|error| {
                file_error(&path, io::Error::new(io::ErrorKind::InvalidData, error))
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(file_error(&path, error)),
        }
    }
}

impl RecordingStorage for LocalDirStorage {
    fn append_chunk(&self, id: &str, chunk_index: u32, bytes: &[u8]) -> Result<(), RecordingError> {
        let path = self.path(id, RECORDING_EXT)?;
        let mut options = OpenOptions::new();
        options.append(true);
        if chunk_index == 0 {
            options.create_new(true);
        }
        let mut file = options.open(&path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => RecordingError::NotFound(id.to_owned()),
            _ => file_error(&path, error),
        })?;
        file.write_all(bytes)
            .map_err(|error| file_error(&path, error))?;
        if self.sync {
            file.sync_data().map_err(|error| file_error(&path, error))?;
        }
        Ok(())
    }

    fn finish(&self, id: &str, summary: &RecordingSummary) -> Result<(), RecordingError> {
        let path = self.path(id, SUMMARY_EXT)?;
        let temp = self.dir.join(format!(".{id}.{SUMMARY_EXT}.tmp"));
        let json = serde_json::to_vec_pretty(summary).map_err(RecordingError::Encode)?;
        let write = || -> io::Result<()> {
            let mut file = File::create(&temp)?;
            file.write_all(&json)?;
            if self.sync {
                file.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|error| file_error(&temp, error))?;
        fs::rename(&temp, &path).map_err(|error| file_error(&path, error))?;
        if self.sync {
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|error| file_error(&self.dir, error))?;
        }
        Ok(())
    }

    fn read(&self, id: &str) -> Result<Vec<u8>, RecordingError> {
        let path = self.path(id, RECORDING_EXT)?;
        fs::read(&path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => RecordingError::NotFound(id.to_owned()),
            _ => file_error(&path, error),
        })
    }

    /// Finished recordings are listed from their summary files; unfinished ones (live, or cut
    /// short by a crash) are parsed to derive one. A file cut off inside its header holds no
    /// events and is left out; any other unreadable file is an error, not silently skipped.
    fn list(&self) -> Result<Vec<RecordingSummary>, RecordingError> {
        let entries = fs::read_dir(&self.dir).map_err(|error| file_error(&self.dir, error))?;
        let mut summaries = Vec::new();
        for entry in entries {
            let path = entry.map_err(|error| file_error(&self.dir, error))?.path();
            if path.extension().and_then(|ext| ext.to_str()) != Some(RECORDING_EXT) {
                continue;
            }
            let Some(id) = path.file_stem().and_then(|stem| stem.to_str()) else {
                continue;
            };
            if check_id(id).is_err() {
                continue;
            }
            if let Some(summary) = self.summary_of(id)? {
                summaries.push(summary);
                continue;
            }
            match Recording::parse(self.read(id)?).and_then(|recording| recording.summary()) {
                Ok(summary) => summaries.push(summary),
                Err(RecordingError::TruncatedHeader) => {}
                Err(error) => {
                    return Err(file_error(
                        &path,
                        io::Error::new(io::ErrorKind::InvalidData, error),
                    ));
                }
            }
        }
        summaries.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| a.session.cmp(&b.session))
        });
        Ok(summaries)
    }

    fn delete(&self, id: &str) -> Result<(), RecordingError> {
        let mut found = false;
        for ext in [SUMMARY_EXT, RECORDING_EXT] {
            let path = self.path(id, ext)?;
            match fs::remove_file(&path) {
                Ok(()) => found = true,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(file_error(&path, error)),
            }
        }
        if found {
            Ok(())
        } else {
            Err(RecordingError::NotFound(id.to_owned()))
        }
    }
}

/// Ids become file names, so only a safe, portable subset is accepted.
fn check_id(id: &str) -> Result<(), RecordingError> {
    let valid = (1..=128).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(RecordingError::InvalidId(id.to_owned()))
    }
}

fn file_error(path: &Path, source: io::Error) -> RecordingError {
    RecordingError::File {
        path: path.to_owned(),
        source,
    }
}
