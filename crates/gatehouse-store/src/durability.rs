//! Group fsync of the audit log's write-ahead log.
//!
//! An audit commit in WAL mode without fsync survives the gateway being killed (it is in the
//! OS page cache) and costs microseconds; an fsync costs milliseconds on the disks gatehouse
//! runs on. So commits never fsync themselves: one background thread fsyncs the WAL file on
//! behalf of everyone, as soon as someone waits for it (a state-changing request) and at the
//! latest one window after the oldest unsynced commit (reads, session events). Everyone whose
//! commit landed before an fsync began is covered by that one fsync — group commit.
//!
//! An fsync failure is permanent for this handle: after a failed fsync the kernel may have
//! dropped the dirty pages, so a later "successful" fsync proves nothing. Requests that need
//! durability are refused from then on (fail closed) until gatehouse is restarted.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How far the WAL is known to be on disk, as seen by waiters.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncProgress {
    pub synced: i64,
    pub failed: Option<Arc<str>>,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Highest `seq` committed (to the page cache) by this process.
    written: i64,
    /// Highest `seq` somebody is waiting to see fsynced.
    requested: i64,
    synced: i64,
    oldest_unsynced: Option<Instant>,
    failed: Option<Arc<str>>,
    closed: bool,
}

/// Tuning for [`Syncer`].
#[derive(Debug, Clone, Copy)]
pub struct DurabilitySettings {
    /// Every committed event is fsynced at most this long after its commit.
    pub window: Duration,
    /// A request waiting for its fsync longer than this is refused.
    pub timeout: Duration,
    /// More requests than this waiting for fsync at once: refuse the next (bounded queue).
    pub max_waiting: usize,
}

impl Default for DurabilitySettings {
    fn default() -> Self {
        DurabilitySettings {
            window: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
            max_waiting: 10_000,
        }
    }
}

/// Handle to the fsync thread of one audit log. Dropping it stops the thread.
pub(crate) struct Syncer {
    shared: Arc<Shared>,
    progress: watch::Receiver<SyncProgress>,
    settings: DurabilitySettings,
    waiting: AtomicUsize,
}

struct Shared {
    state: Mutex<SyncState>,
    wake: Condvar,
    progress: watch::Sender<SyncProgress>,
    wal: PathBuf,
    window: Duration,
}

impl Syncer {
    /// Start the fsync thread for the database at `database` (its WAL is `<database>-wal`).
    pub(crate) fn start(
        database: &std::path::Path,
        settings: DurabilitySettings,
    ) -> std::io::Result<Syncer> {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        let (sender, progress) = watch::channel(SyncProgress::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(SyncState::default()),
            wake: Condvar::new(),
            progress: sender,
            wal: PathBuf::from(wal),
            window: settings.window,
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("gatehouse-audit-fsync".to_owned())
            .spawn(move || run(&thread_shared))?;
        Ok(Syncer {
            shared,
            progress,
            settings,
            waiting: AtomicUsize::new(0),
        })
    }

    /// Note that events up to `seq` are committed; `wait` says someone will wait for them.
    pub(crate) fn committed(&self, seq: i64, wait: bool) {
        let mut state = self.lock();
        state.written = state.written.max(seq);
        if state.oldest_unsynced.is_none() {
            state.oldest_unsynced = Some(Instant::now());
        }
        if wait {
            state.requested = state.requested.max(seq);
            self.shared.wake.notify_one();
        }
    }

    /// Wait until events up to `seq` are fsynced, or refuse.
    pub(crate) async fn wait_synced(&self, seq: i64) -> Result<(), String> {
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _release = Release(&self.waiting);
        if waiting >= self.settings.max_waiting {
            return Err(format!(
                "the audit log cannot keep up: {waiting} requests are already waiting for their events to reach the disk"
            ));
        }
        let mut progress = self.progress.clone();
        let outcome = tokio::time::timeout(
            self.settings.timeout,
            progress.wait_for(|p| p.synced >= seq || p.failed.is_some()),
        )
        .await;
        match outcome {
            Err(_) => Err(format!(
                "the audit log did not reach the disk within {:?}",
                self.settings.timeout
            )),
            Ok(Err(_)) => Err("the audit log's fsync thread has stopped".to_owned()),
            Ok(Ok(progress)) => match &progress.failed {
                Some(reason) => Err(format!("the audit log cannot be fsynced: {reason}")),
                None => Ok(()),
            },
        }
    }

    /// An fsync of the WAL or database failed elsewhere (in a WAL checkpoint): as permanent
    /// as a failure of this thread's own.
    pub(crate) fn fail(&self, reason: &str) {
        let mut state = self.lock();
        if state.failed.is_none() {
            tracing::error!(%reason, "fsync of the store failed during a WAL checkpoint; refusing requests that need the audit log on disk until restart");
            state.failed = Some(Arc::from(reason));
            self.shared.progress.send_replace(SyncProgress {
                synced: state.synced,
                failed: state.failed.clone(),
            });
        }
    }

    /// The highest `seq` known to be on disk (0 before the first fsync).
    pub(crate) fn synced(&self) -> i64 {
        self.progress.borrow().synced
    }

    /// Whether an fsync has failed (for good).
    pub(crate) fn has_failed(&self) -> bool {
        self.progress.borrow().failed.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

struct Release<'a>(&'a AtomicUsize);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The fsync thread: sleep until a waiter asks or the window of the oldest unsynced commit
/// ends, fsync the WAL, publish how far it got.
fn run(shared: &Shared) {
    let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if state.closed {
            return;
        }
        let window_over = state
            .oldest_unsynced
            .is_some_and(|at| at.elapsed() >= shared.window);
        let due = state.failed.is_none()
            && state.written > state.synced
            && (state.requested > state.synced || window_over);
        if due {
            let target = state.written;
            let started = Instant::now();
            drop(state);
            let result = fsync(&shared.wal);
            state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(()) => {
                    state.synced = state.synced.max(target);
                    // Commits that landed during this fsync are at most as old as its start.
                    state.oldest_unsynced = (state.written > state.synced).then_some(started);
                }
                Err(error) => {
                    tracing::error!(%error, "fsync of the audit log failed; refusing requests that need it until restart");
                    state.failed = Some(Arc::from(error.to_string()));
                }
            }
            shared.progress.send_replace(SyncProgress {
                synced: state.synced,
                failed: state.failed.clone(),
            });
            continue;
        }
        let sleep = match state.oldest_unsynced {
            Some(at) if state.failed.is_none() => shared.window.saturating_sub(at.elapsed()),
            _ => Duration::from_secs(1),
        };
        state = shared
            .wake
            .wait_timeout(state, sleep)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// fsync the WAL file. A missing WAL means everything was checkpointed into the database
/// file, which SQLite fsyncs itself during a checkpoint.
fn fsync(wal: &std::path::Path) -> std::io::Result<()> {
    match std::fs::File::open(wal) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
