//! The store as a path on a volume that can fail and be repaired under a running gateway.
//!
//! When the volume fails (ext4 turns read-only on an I/O error; a network disk goes away),
//! gatehouse refuses every request it cannot record and lets go of the volume's files, so the
//! operator can unmount it, check it and mount it again without stopping the gateway. And
//! when the path names another file than before (the volume repaired, a store restored from a
//! backup and moved into place), connections opened before must not go on using the old one:
//! writes there fail forever and reads are stale (a revocation made since would go unseen).
//! So every connection holder checks, before use, that the path still names the file it
//! opened (device and inode), and opens it again when not; a path that names no file is an
//! error, never a reason to create an empty store (that would lose keys and revocations).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// Which file a path named when it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    pub(crate) fn of(path: &Path) -> std::io::Result<Self> {
        let metadata = std::fs::metadata(path)?;
        Ok(FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }
}

/// Why a connection to the store could not be had.
fn unreachable(path: &Path, error: &dyn std::fmt::Display) -> String {
    format!(
        "the store `{}` cannot be reached: {error}; check that its volume is mounted and writable",
        path.display()
    )
}

/// Whether an error means the store's file or volume is broken (rather than busy, or a bad
/// statement): then connections to it are let go of.
pub(crate) fn is_storage_failure(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::DiskFull
        )
    )
}

/// The store's path, the file it names, and whether the volume is failing; shared by every
/// connection holder of one store.
pub(crate) struct StoreFile {
    path: PathBuf,
    seen: Mutex<Seen>,
    failing: AtomicBool,
    /// rusqlite connections to let go of when the volume fails.
    holders: Mutex<Vec<Weak<Mutex<FollowingConnection>>>>,
}

struct Seen {
    identity: Option<FileIdentity>,
    /// When the path was last seen naming another file, or the volume last failed: pool
    /// connections made before are not used again.
    changed_at: Option<Instant>,
}

impl StoreFile {
    pub(crate) fn new(path: &Path) -> Arc<Self> {
        Arc::new(StoreFile {
            path: path.to_path_buf(),
            seen: Mutex::new(Seen {
                identity: FileIdentity::of(path).ok(),
                changed_at: None,
            }),
            failing: AtomicBool::new(false),
            holders: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// For the sqlx pool, before it hands out an idle connection made `age` ago: whether it
    /// still holds the file the path names, and was made since the volume last failed.
    pub(crate) fn is_current(&self, age: Duration) -> bool {
        if self.failing.load(Ordering::Acquire) {
            return false;
        }
        let Ok(identity) = FileIdentity::of(&self.path) else {
            return false;
        };
        let now = Instant::now();
        let mut seen = self.seen();
        if seen.identity != Some(identity) {
            seen.identity = Some(identity);
            seen.changed_at = Some(now);
        }
        match (seen.changed_at, now.checked_sub(age)) {
            (None, _) => true,
            (Some(changed_at), Some(made_at)) => made_at > changed_at,
            (Some(_), None) => false,
        }
    }

    /// For a holder done with its connection (the sqlx pool, when one is given back): keep it
    /// only while the volume is healthy, so that a failed one is not held open.
    pub(crate) fn keep_idle(&self) -> bool {
        !self.failing.load(Ordering::Acquire)
    }

    /// The volume failed: let go of every idle connection to it.
    pub(crate) fn failed(&self, reason: &str) {
        if !self.failing.swap(true, Ordering::AcqRel) {
            tracing::error!(
                store = %self.path.display(),
                %reason,
                "the store's volume failed; every request is refused until it works again, and its files are let go of so it can be repaired"
            );
        }
        self.seen().changed_at = Some(Instant::now());
        let holders = self.holders.lock().unwrap_or_else(PoisonError::into_inner);
        for holder in holders.iter().filter_map(Weak::upgrade) {
            // One in use now will fail and let go by itself.
            if let Ok(mut following) = holder.try_lock() {
                following.release();
            }
        }
    }

    /// A write went through: the volume works (again).
    pub(crate) fn healthy(&self) {
        // Read first: this runs on every audit commit, and a healthy store needs no write.
        if self.failing.load(Ordering::Acquire) && self.failing.swap(false, Ordering::AcqRel) {
            tracing::warn!(store = %self.path.display(), "the store works again; requests are served");
        }
    }

    fn register(&self, holder: &Arc<Mutex<FollowingConnection>>) {
        let mut holders = self.holders.lock().unwrap_or_else(PoisonError::into_inner);
        holders.retain(|weak| weak.strong_count() > 0);
        holders.push(Arc::downgrade(holder));
    }
}

/// The settings of gatehouse's own rusqlite connections (the audit writer's, recordings', the
/// WAL checkpointer's): commits do not fsync (the audit log's syncer does that for it), and WAL
/// checkpoints run in the background ([`crate::wal`]), never inside whichever commit crosses
/// the WAL size threshold, stalling that statement.
pub(crate) const WAL_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;";

/// Sets up a freshly opened connection (pragmas).
pub(crate) type Prepare = fn(&rusqlite::Connection) -> rusqlite::Result<()>;

/// A rusqlite connection to whatever file the store's path names now.
pub(crate) struct FollowingConnection {
    store: Arc<StoreFile>,
    prepare: Prepare,
    /// Whether this holder opens the store while its volume is failing, to find out whether
    /// it works again (the audit writer does; the others wait for it to say so).
    probes: bool,
    opened: Option<(FileIdentity, rusqlite::Connection)>,
    /// When the path was last looked at, so that a busy writer does not pay a `stat` for
    /// every commit.
    checked_at: Option<Instant>,
}

/// How long a connection is used without looking at its path again: a file moved into place
/// is opened within this long. (Every append looking cost about 2 % of the gateway's CPU.)
const CHECK_PATH_EVERY: Duration = Duration::from_millis(250);

/// The connection to use, and whether it was opened just now.
pub(crate) struct Current<'a> {
    pub connection: &'a mut rusqlite::Connection,
    pub reopened: bool,
}

impl FollowingConnection {
    /// Open the store, which must exist (its migrations created it). `probes`: see the field.
    pub(crate) fn open(
        store: &Arc<StoreFile>,
        prepare: Prepare,
        probes: bool,
    ) -> Result<Self, String> {
        let mut following = FollowingConnection {
            store: Arc::clone(store),
            prepare,
            probes,
            opened: None,
            checked_at: None,
        };
        following.current()?;
        Ok(following)
    }

    /// Open the store and have it let go of when the volume fails.
    pub(crate) fn open_shared(
        store: &Arc<StoreFile>,
        prepare: Prepare,
    ) -> Result<Arc<Mutex<Self>>, String> {
        let shared = Arc::new(Mutex::new(FollowingConnection::open(
            store, prepare, false,
        )?));
        store.register(&shared);
        Ok(shared)
    }

    pub(crate) fn store(&self) -> &StoreFile {
        &self.store
    }

    /// Let go of the connection (and the file); the next use opens the path again.
    pub(crate) fn release(&mut self) {
        self.opened = None;
    }

    /// The connection to the file the path names now, opening it again if that changed or
    /// the connection was let go of.
    pub(crate) fn current(&mut self) -> Result<Current<'_>, String> {
        let path = &self.store.path;
        if self.opened.is_none() && !self.probes && self.store.failing.load(Ordering::Acquire) {
            return Err(unreachable(
                path,
                &"its volume failed and has not worked since",
            ));
        }
        let now = Instant::now();
        let recently_checked = self
            .checked_at
            .is_some_and(|checked| now.duration_since(checked) < CHECK_PATH_EVERY);
        let reopened = if recently_checked && self.opened.is_some() {
            false
        } else {
            let identity = FileIdentity::of(path).map_err(|e| unreachable(path, &e))?;
            self.checked_at = Some(now);
            let same = matches!(&self.opened, Some((opened, _)) if *opened == identity);
            if !same {
                self.opened = None;
                let connection = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .and_then(|connection| {
                    connection.busy_timeout(Duration::from_secs(5))?;
                    (self.prepare)(&connection)?;
                    Ok(connection)
                })
                .map_err(|e| unreachable(path, &e))?;
                self.opened = Some((identity, connection));
            }
            !same
        };
        match &mut self.opened {
            Some((_, connection)) => Ok(Current {
                connection,
                reopened,
            }),
            None => Err(unreachable(path, &"no connection")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn prepare(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
        connection.execute_batch("PRAGMA journal_mode = WAL;")
    }

    fn make_store(path: &Path, value: i64) {
        let connection = rusqlite::Connection::open(path).unwrap();
        connection
            .execute_batch(&format!(
                "CREATE TABLE t (v int); INSERT INTO t VALUES ({value});"
            ))
            .unwrap();
    }

    fn value(connection: &rusqlite::Connection) -> i64 {
        connection
            .query_row("SELECT v FROM t", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_store_moved_into_place_is_opened_and_a_missing_one_is_never_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        make_store(&path, 1);
        let store = StoreFile::new(&path);
        let mut following = FollowingConnection::open(&store, prepare, true).unwrap();
        let current = following.current().unwrap();
        assert!(!current.reopened);
        assert_eq!(value(current.connection), 1);

        let restored = dir.path().join("restored.db");
        make_store(&restored, 2);
        std::fs::rename(&restored, &path).unwrap();
        assert!(
            !following.current().unwrap().reopened,
            "the path is looked at again only after CHECK_PATH_EVERY"
        );
        std::thread::sleep(CHECK_PATH_EVERY);
        let current = following.current().unwrap();
        assert!(current.reopened);
        assert_eq!(value(current.connection), 2);
        assert!(!following.current().unwrap().reopened);

        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(CHECK_PATH_EVERY);
        let error = following.current().err().unwrap();
        assert!(error.contains("cannot be reached"), "{error}");
        assert!(!path.exists(), "an empty store was created in its place");
    }

    #[test]
    fn a_failed_volume_is_let_go_of_and_only_the_prober_opens_it_until_it_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        make_store(&path, 1);
        let store = StoreFile::new(&path);
        let mut prober = FollowingConnection::open(&store, prepare, true).unwrap();
        let shared = FollowingConnection::open_shared(&store, prepare).unwrap();

        store.failed("test");
        assert!(shared.lock().unwrap().opened.is_none(), "let go of");
        assert!(!store.keep_idle());
        assert!(!store.is_current(Duration::ZERO));
        let error = shared.lock().unwrap().current().err().unwrap();
        assert!(error.contains("volume failed"), "{error}");
        prober.release();
        assert!(prober.current().unwrap().reopened, "the prober opens it");

        store.healthy();
        assert!(store.keep_idle());
        assert_eq!(
            value(shared.lock().unwrap().current().unwrap().connection),
            1
        );
    }

    #[test]
    fn pool_connections_made_before_the_file_changed_are_not_current() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        make_store(&path, 1);
        let store = StoreFile::new(&path);
        assert!(store.is_current(Duration::from_secs(3600)));

        let restored = dir.path().join("restored.db");
        make_store(&restored, 2);
        std::fs::rename(&restored, &path).unwrap();
        assert!(!store.is_current(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            store.is_current(Duration::from_millis(5)),
            "a connection made after the change is current"
        );
        assert!(!store.is_current(Duration::from_secs(1)));

        std::fs::remove_file(&path).unwrap();
        assert!(!store.is_current(Duration::ZERO));
    }
}
