//! Keeps the store's write-ahead log (`<store>-wal`) bounded under sustained load.
//!
//! Every commit is appended to the WAL; checkpoints copy its pages back into the database
//! file, and the WAL starts over from its beginning only when a writer begins while all of it
//! has been copied back and no reader still reads from it. A PASSIVE checkpoint waits for
//! nobody, so while audit commits land every few milliseconds some land during every
//! checkpoint: none ever ends with the whole WAL copied back, no writer ever starts it over,
//! and it grows for as long as the load lasts (839 MB beside a 236 MB database after twelve
//! minutes of psycopg's test suite, folded back only at shutdown).
//!
//! So one thread per audit log watches how much the WAL holds — more often the faster it
//! fills — and copies it back with a PASSIVE checkpoint every second, or as soon as an eighth
//! of the bound is not copied back yet, stopping nobody. Once it holds half its bound it is
//! started over: PASSIVE checkpoints first copy back most of it while appends go on; then the
//! audit writer is paused (appends queue; no thread blocks) for a RESTART checkpoint, which
//! copies the rest and waits briefly for readers to be done with the WAL, so that the next
//! commit writes it from its beginning again. That commit fsyncs the WAL's new header, so the
//! checkpointer makes it itself (a change that changes nothing) rather than leave it to a
//! request's thread; the queued appends are committed right after. The other half of the
//! bound is room for what is written while that runs. The file is overwritten in place
//! rather than truncated: truncating 32 MiB took ~20 ms (with appends paused), and SQLite's
//! `journal_size_limit` would truncate inside the commit that starts the WAL over, on the
//! request path. Only a file that outgrew the bound anyway (a reader kept the WAL from being
//! started over) is truncated, once, to give the space back — whatever the WAL holds by then:
//! once the reader lets go, any commit after a checkpoint that copied everything back starts
//! the WAL over in place, and a WAL that holds little may still sit in a file of any size.
//!
//! The keeper's thread can get too little CPU to do that in time (a loaded machine, many
//! threads): the audit writer then holds appends once it finds the WAL three quarters full
//! and wakes the keeper, whose pause to start the WAL over lets them go on — unless a reader
//! kept the WAL from being started over lately, when holding appends would only stop every
//! session while nothing can help.
//!
//! The checkpoint connection keeps `synchronous = NORMAL`, so SQLite fsyncs the WAL before
//! copying it and the database file after, before the WAL may be started over: an event the
//! fsync thread had not reached yet is on disk in the database file by then. An fsync that
//! fails inside a checkpoint is the fsync thread's failure too (permanent), and after any
//! failed fsync nothing more is copied back: pages the kernel failed to write may no longer
//! be what SQLite wrote.

use crate::chain::AuditKey;
use crate::durability::Syncer;
use crate::store_file::{FollowingConnection, StoreFile, WAL_PRAGMAS, is_storage_failure};
use crate::writer::Writer;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// The WAL's bound unless the store is given another ([`crate::Store::with_max_wal_bytes`]).
pub(crate) const DEFAULT_MAX_WAL_BYTES: u64 = 64 * 1024 * 1024;

/// The oldest SQLite with `PRAGMA wal_checkpoint(NOOP)`, which tells how much the WAL holds
/// without copying anything (3.51.0; sqlx bundles 3.51.3).
const SQLITE_WITH_NOOP_CHECKPOINT: i32 = 3_051_000;

/// Copy the WAL back at least this often, so that starting it over has little left to copy
/// while appends are paused (and a lightly loaded WAL starts over by itself)...
const PASSIVE_EVERY: Duration = Duration::from_secs(1);
/// ...and as soon as this fraction of the bound is not copied back yet.
const COPY_BACK_AT_FRACTION: u64 = 8;
/// How much the WAL holds is looked at this often while it fills slowly...
const SLOWEST_LOOK: Duration = Duration::from_millis(100);
/// ...and up to this often while it fills fast towards the point where it is started over.
const FASTEST_LOOK: Duration = Duration::from_millis(5);
/// How long starting the WAL over waits for readers and other processes' writers (appends
/// are paused meanwhile) before giving up until [`RETRY_AFTER`].
const WAIT_AT_MOST: Duration = Duration::from_millis(100);
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// At most this many PASSIVE checkpoints before appends are paused to start the WAL over.
const COPY_PASSES_BEFORE_PAUSING: usize = 3;
/// A WAL frame's header, before each page.
const FRAME_HEADER_BYTES: u64 = 24;
/// The audit writer holds appends once the WAL holds this many quarters of the bound...
const HOLD_AT_QUARTERS: u64 = 3;
/// ...looking every time this fraction of the bound was appended (event bodies; a commit
/// writes whole pages, up to a few times that).
const LOOK_EVERY_FRACTION: u64 = 64;

/// The thread keeping one audit log's store's WAL bounded; dropping this stops it.
pub(crate) struct WalKeeper {
    shared: Arc<Shared>,
}

struct Shared {
    signals: Mutex<Signals>,
    wake: Condvar,
}

#[derive(Default)]
struct Signals {
    stopped: bool,
    /// The audit writer found the WAL full and holds appends until it is started over.
    full: bool,
}

/// How full the audit writer lets the WAL get before it holds appends for the keeper
/// ([`crate::writer::Writer::limit_wal`]).
pub(crate) struct WalLimit {
    /// Bytes of frames at which appends are held.
    pub hold_at: u64,
    /// Bytes of event bodies appended between two looks at the WAL.
    pub look_every: u64,
    keeper: Weak<Shared>,
}

impl WalLimit {
    /// Tell the keeper the WAL is full; `false` when it is gone or stopping (nobody would let
    /// held appends go on).
    pub fn wake_keeper(&self) -> bool {
        let Some(shared) = self.keeper.upgrade() else {
            return false;
        };
        let mut signals = shared
            .signals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if signals.stopped {
            return false;
        }
        signals.full = true;
        shared.wake.notify_one();
        true
    }
}

impl WalKeeper {
    /// Start the thread. It pauses `writer` to start the WAL over, tells `syncer` what it
    /// committed and any fsync failure, and ends once either is gone or this is dropped.
    pub(crate) fn start(
        store: &Arc<StoreFile>,
        writer: Weak<Writer>,
        syncer: Weak<Syncer>,
        key: AuditKey,
        max_wal_bytes: u64,
    ) -> Result<WalKeeper, String> {
        if rusqlite::version_number() < SQLITE_WITH_NOOP_CHECKPOINT {
            return Err(format!(
                "gatehouse needs SQLite 3.51.0 or later to keep the WAL bounded; it is linked with {}",
                rusqlite::version()
            ));
        }
        let connection = FollowingConnection::open_shared(store, prepare)?;
        let shared = Arc::new(Shared {
            signals: Mutex::new(Signals::default()),
            wake: Condvar::new(),
        });
        if let Some(writer) = writer.upgrade() {
            writer.limit_wal(WalLimit {
                hold_at: max_wal_bytes / 4 * HOLD_AT_QUARTERS,
                look_every: (max_wal_bytes / LOOK_EVERY_FRACTION).max(1),
                keeper: Arc::downgrade(&shared),
            });
        }
        let keeper = Keeper {
            shared: shared.clone(),
            connection,
            file: wal_path(store.path()),
            max_bytes: max_wal_bytes,
            writer,
            syncer,
            key,
            last_passive: Instant::now(),
            started_over_at: None,
            retry_at: None,
            failing_since: None,
            fills_per_second: 0.0,
        };
        std::thread::Builder::new()
            .name("gatehouse-wal-checkpoint".to_owned())
            .spawn(move || keeper.run())
            .map_err(|e| format!("cannot start the WAL checkpoint thread: {e}"))?;
        Ok(WalKeeper { shared })
    }
}

impl Drop for WalKeeper {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl Shared {
    /// Mark the keeper stopped (the writer holds no more appends for it) and wake it to end.
    fn stop(&self) {
        self.signals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stopped = true;
        self.wake.notify_one();
    }
}

/// The checkpoint connection: the store's WAL settings (`synchronous = NORMAL` makes its
/// checkpoints fsync), and a short busy timeout, since appends wait while it starts the WAL
/// over.
fn prepare(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(WAL_PRAGMAS)?;
    connection.busy_timeout(WAIT_AT_MOST)
}

fn wal_path(database: &Path) -> PathBuf {
    let mut wal = database.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Only tell how much the WAL holds.
    Noop,
    /// Copy back what no reader still needs; wait for nobody.
    Passive,
    /// Copy back everything and wait for readers to be done with the WAL, so that the next
    /// commit starts it over.
    Restart,
    /// As `Restart`, and truncate the file.
    Truncate,
}

impl Mode {
    fn sql(self) -> &'static str {
        match self {
            Mode::Noop => "PRAGMA wal_checkpoint(NOOP)",
            Mode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            Mode::Restart => "PRAGMA wal_checkpoint(RESTART)",
            Mode::Truncate => "PRAGMA wal_checkpoint(TRUNCATE)",
        }
    }
}

struct Keeper {
    /// Its signals; marked stopped when the keeper ends, however it ends.
    shared: Arc<Shared>,
    connection: Arc<Mutex<FollowingConnection>>,
    file: PathBuf,
    /// The bound: the WAL is started over once it holds half of this, and its file is
    /// truncated if it is found larger than this.
    max_bytes: u64,
    writer: Weak<Writer>,
    syncer: Weak<Syncer>,
    key: AuditKey,
    last_passive: Instant,
    /// What the WAL held when it was last started over, until a commit has written to it: till
    /// then it still says so, and needs nothing more.
    started_over_at: Option<u64>,
    /// After starting the WAL over failed: not before then.
    retry_at: Option<Instant>,
    /// Since when starting the WAL over has been failing, for one warning per episode.
    failing_since: Option<Instant>,
    /// How fast the WAL filled between the last two looks, in bytes per second.
    fills_per_second: f64,
}

impl Drop for Keeper {
    /// Nobody starts the WAL over any more: appends are not held for it again, and those held
    /// now go on.
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(writer) = self.writer.upgrade() {
            let committed = writer.release_wal_hold(&self.key);
            if let (Some(seq), Some(syncer)) = (committed, self.syncer.upgrade()) {
                syncer.committed(seq, false);
            }
        }
    }
}

impl Keeper {
    fn run(mut self) {
        let mut previous = (Instant::now(), 0);
        let mut wait = SLOWEST_LOOK;
        loop {
            if self.stopped_within(wait) {
                return;
            }
            let (Some(writer), Some(syncer)) = (self.writer.upgrade(), self.syncer.upgrade())
            else {
                return;
            };
            if syncer.has_failed() {
                tracing::warn!(
                    "an fsync failed: the store's WAL is no longer copied back into the database file, nor started over, until gatehouse is restarted"
                );
                return;
            }
            wait = SLOWEST_LOOK;
            // Nothing to look at (the store is failing, or moved): look again later.
            let Ok(wal) = self.checkpoint(Mode::Noop, &syncer) else {
                self.release_hold(&writer, &syncer);
                continue;
            };
            let holds = wal.held;
            let now = Instant::now();
            self.measure_filling(previous, (now, holds));
            if !self.waiting_for_commit(holds) {
                self.started_over_at = None;
            }
            let may_restart = self.retry_at.is_none_or(|at| now >= at);
            let due = holds >= self.max_bytes / 2 || self.file_outgrown();
            if due && may_restart && !self.waiting_for_commit(holds) {
                self.start_over(&writer, &syncer);
            } else if now.duration_since(self.last_passive) >= PASSIVE_EVERY
                || holds - wal.copied.min(holds) >= self.max_bytes / COPY_BACK_AT_FRACTION
            {
                let _ = self.copy_back(&syncer);
            }
            previous = (Instant::now(), self.holds(&syncer).unwrap_or(holds));
            wait = self.next_look(previous.1);
            self.release_hold(&writer, &syncer);
        }
    }

    /// Sleep for `wait` unless stopped or told the WAL is full first; whether stopped.
    fn stopped_within(&self, wait: Duration) -> bool {
        let signals = self
            .shared
            .signals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (mut signals, _) = self
            .shared
            .wake
            .wait_timeout_while(signals, wait, |signals| !signals.stopped && !signals.full)
            .unwrap_or_else(PoisonError::into_inner);
        signals.full = false;
        signals.stopped
    }

    /// Let appends the writer held for the WAL go on, if they still are: this look did not
    /// start it over (that releases them), so waiting longer would not help them.
    fn release_hold(&self, writer: &Writer, syncer: &Syncer) {
        if let Some(seq) = writer.release_wal_hold(&self.key) {
            syncer.committed(seq, false);
        }
    }

    /// Whether the WAL, holding `holds`, was started over and no commit has written to it since
    /// (until then it still says what it held before).
    fn waiting_for_commit(&self, holds: u64) -> bool {
        self.started_over_at == Some(holds)
    }

    /// How fast the WAL filled from one look to the next.
    fn measure_filling(&mut self, (then, held): (Instant, u64), (now, holds): (Instant, u64)) {
        let took = now.duration_since(then).as_secs_f64();
        if took <= 0.0 {
            return;
        }
        self.fills_per_second = if holds < held && self.waiting_for_commit(held) {
            // Started over since, and filled this much from its beginning.
            holds as f64 / took
        } else if holds < held {
            // Somebody else started it over since: it filled at least this fast.
            self.fills_per_second.max(holds as f64 / took)
        } else {
            (holds - held) as f64 / took
        };
    }

    /// When to look again, the WAL holding `holds`: soon enough that, filling as fast as it
    /// last did, it is at most halfway from there to the point where it is started over. Just
    /// after it was started over, that is at once: a reader that began while it was being
    /// started over can keep the next commit from writing it from its beginning (SQLite then
    /// appends as before), and the sooner that is seen, the sooner it is started over again.
    fn next_look(&self, holds: u64) -> Duration {
        if self.fills_per_second <= 0.0 {
            return SLOWEST_LOOK;
        }
        let room = (self.max_bytes / 2).saturating_sub(holds) as f64;
        Duration::try_from_secs_f64(room / self.fills_per_second / 2.0)
            .unwrap_or(SLOWEST_LOOK)
            .clamp(FASTEST_LOOK, SLOWEST_LOOK)
    }

    /// Whether the WAL's file is larger than the bound: a reader kept the WAL from being
    /// started over while appends went on. It is truncated the next time the WAL is started
    /// over — also when another connection started it over in place meanwhile (a commit after
    /// everything was copied back writes it from its beginning again), leaving a WAL that holds
    /// little in a file that keeps the size it grew to.
    fn file_outgrown(&self) -> bool {
        std::fs::metadata(&self.file).is_ok_and(|file| file.len() > self.max_bytes)
    }

    /// How many bytes of frames the WAL holds now (the file may be larger: it is overwritten
    /// from its beginning after each start over).
    fn holds(&self, syncer: &Syncer) -> Result<u64, String> {
        Ok(self.checkpoint(Mode::Noop, syncer)?.held)
    }

    /// A PASSIVE checkpoint. A failure needs no more than a trace: the writer finds out about
    /// a broken volume on its next append, and the next checkpoint tries again.
    fn copy_back(&mut self, syncer: &Syncer) -> Option<Frames> {
        self.last_passive = Instant::now();
        self.checkpoint(Mode::Passive, syncer)
            .inspect_err(|reason| tracing::debug!(%reason, "WAL checkpoint failed; will retry"))
            .ok()
    }

    /// Copy most of the WAL back while appends go on, then the rest with appends paused, so
    /// that the next commit writes the WAL from its beginning.
    fn start_over(&mut self, writer: &Writer, syncer: &Syncer) {
        // A pass that ends with nothing new behind it also fsyncs the database file (one that
        // does not, leaves that to the next): the fewer pages are left to copy and to fsync,
        // the shorter the pause.
        for _ in 0..COPY_PASSES_BEFORE_PAUSING {
            let Some(pass) = self.copy_back(syncer) else {
                break;
            };
            if self.holds(syncer).is_ok_and(|holds| holds <= pass.copied) {
                break;
            }
        }
        let mode = if self.file_outgrown() {
            Mode::Truncate
        } else {
            Mode::Restart
        };
        let paused_at = Instant::now();
        let (restarted, committed) = writer.paused(&self.key, || {
            let restarted = self.checkpoint(mode, syncer);
            match &restarted {
                Ok(_) => {
                    if let Err(reason) = self.write_new_header(syncer) {
                        tracing::debug!(%reason, "could not start the WAL over at once; the next commit will");
                    }
                }
                // Before the appends queued meanwhile are committed: they must not be held
                // again for a WAL that cannot be started over yet.
                Err(_) => writer.not_held_before(Instant::now() + RETRY_AFTER),
            }
            restarted
        });
        let paused = paused_at.elapsed();
        if let Some(seq) = committed {
            syncer.committed(seq, false);
        }
        match restarted {
            Ok(frames) => {
                tracing::debug!(?paused, ?mode, "started the store's WAL over");
                self.started_over_at = Some(frames.held);
                self.retry_at = None;
                if let Some(since) = self.failing_since.take() {
                    tracing::info!(
                        after = ?since.elapsed(),
                        "the store's WAL could be started over again"
                    );
                }
            }
            Err(reason) => {
                self.retry_at = Some(Instant::now() + RETRY_AFTER);
                if self.failing_since.is_none() {
                    self.failing_since = Some(Instant::now());
                    tracing::warn!(
                        wal = %self.file.display(),
                        %reason,
                        "the store's WAL holds over half its bound and could not be started over; retrying every second (a process that keeps a read transaction open on the store keeps it from being started over)"
                    );
                }
            }
        }
    }

    /// One checkpoint through the keeper's connection: `Ok` with what the WAL holds when it did
    /// all `mode` asks (a PASSIVE one that found another checkpoint running has nothing to do).
    fn checkpoint(&self, mode: Mode, syncer: &Syncer) -> Result<Frames, String> {
        let (busy, frames) =
            self.with_connection(syncer, |connection| run_checkpoint(connection, mode))?;
        if busy == 0 || matches!(mode, Mode::Passive) {
            Ok(frames)
        } else {
            Err(format!(
                "readers or another writer kept it busy for more than {WAIT_AT_MOST:?}"
            ))
        }
    }

    /// Commit a change that changes nothing, so that the WAL a checkpoint just let start over
    /// is started over by this connection: the commit that does so fsyncs the WAL's new header
    /// (SQLite must, so that no later write is mistaken for an old one after a crash), and that
    /// fsync is better paid here than by the audit writer on some request's thread.
    fn write_new_header(&self, syncer: &Syncer) -> Result<(), String> {
        self.with_connection(syncer, |connection| {
            connection
                .execute("UPDATE schema_version SET version = version", [])
                .map(drop)
        })
    }

    /// Use the keeper's connection: an fsync that failed fails the fsync thread too, and a
    /// connection to a failed volume is let go of, like the others.
    fn with_connection<T>(
        &self,
        syncer: &Syncer,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let mut following = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let result = match following.current() {
            Err(reason) => return Err(reason),
            Ok(current) => work(current.connection),
        };
        let outcome = result.map_err(|error| {
            if is_fsync_failure(&error) {
                syncer.fail(&error.to_string());
            }
            if is_storage_failure(&error) {
                following.release();
            }
            error.to_string()
        });
        // The volume failed while this connection was in use: let go of it like the others.
        if !following.store().keep_idle() {
            following.release();
        }
        outcome
    }
}

/// Run one checkpoint of `mode` through `connection`: whether it found the WAL busy, and what
/// the WAL holds.
fn run_checkpoint(
    connection: &rusqlite::Connection,
    mode: Mode,
) -> rusqlite::Result<(i64, Frames)> {
    let (busy, held, copied) = connection.query_row(mode.sql(), [], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, u32>(1)?,
            row.get::<_, u32>(2)?,
        ))
    })?;
    let page_size: u32 = connection.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let frame_bytes = u64::from(page_size) + FRAME_HEADER_BYTES;
    let frames = Frames {
        held: u64::from(held) * frame_bytes,
        copied: u64::from(copied) * frame_bytes,
    };
    Ok((busy, frames))
}

/// How many bytes of frames the WAL holds, read through `connection` without copying anything
/// back (for the audit writer's look, [`crate::writer::Writer`]).
pub(crate) fn bytes_held(connection: &rusqlite::Connection) -> rusqlite::Result<u64> {
    Ok(run_checkpoint(connection, Mode::Noop)?.1.held)
}

/// What the WAL holds, in bytes of frames.
#[derive(Debug, Clone, Copy)]
struct Frames {
    held: u64,
    /// Of which copied back into the database file.
    copied: u64,
}

/// Whether `error` is an fsync that failed: the kernel may have dropped the pages it could not
/// write, so a later fsync that succeeds proves nothing about them.
fn is_fsync_failure(error: &rusqlite::Error) -> bool {
    error.sqlite_error().is_some_and(|error| {
        matches!(
            error.extended_code,
            rusqlite::ffi::SQLITE_IOERR_FSYNC | rusqlite::ffi::SQLITE_IOERR_DIR_FSYNC
        )
    })
}
