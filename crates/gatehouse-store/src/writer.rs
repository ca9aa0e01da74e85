//! The audit log's writer: one SQLite connection and group commit of appends.
//!
//! Callers queue their events and then try to become the one committing. Whoever gets the
//! connection commits everything queued — its own events and those of every session that
//! arrived meanwhile — in one transaction, hands each submitter the `seq` of its last event,
//! and repeats until the queue is empty; the others simply await their reply instead of
//! blocking a thread on the lock. One commit then serves many requests when sessions are
//! concurrent, and costs what it always did when they are not.
//!
//! Several processes (the gateway and a `gatehouse keys create` beside it) extend one chain:
//! `seq` is the table's primary key, so a commit that chained its events after an end another
//! process has moved since fails on the taken `seq` and chains them again after the new end
//! ([`append_chained`]). The
//! connection follows the store's path ([`crate::store_file`]); a store it opens again is
//! first checked to be the same log (its key, its checkpoint) before anything is appended.

use crate::audit::check_reopened;
use crate::chain::{AuditFormat, AuditKey, GENESIS_MAC, MAC_LEN};
use crate::store_file::{FollowingConnection, is_storage_failure};
use crate::wal::{self, WalLimit};
use gatehouse_pipeline::AuditEvent;
use rusqlite::OptionalExtension;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError, TryLockError};
use std::time::Instant;
use tokio::sync::oneshot;

/// Values each event binds: seq, time, kind, subject, session, body, MAC, format.
const COLUMNS: usize = 8;
/// Most events one `INSERT` statement stores; a larger batch takes several, in one transaction.
const ROWS_PER_INSERT: usize = 8;
/// The `INSERT` of `n` events, at index `n` (index 0 is never used). The values are given in
/// the table's column order (seq, time_unix_ms, kind, subject, session, body, mac, format, as
/// migrations 2 and 9 made it) rather than by name: rusqlite's statement cache copies and
/// hashes a statement's text on every use, and the column list was half of it. A column
/// added later fails every append loudly (too few values) until this is changed with it.
static INSERTS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    (0..=ROWS_PER_INSERT)
        .map(|rows| {
            let values = vec!["(?,?,?,?,?,?,?,?)"; rows].join(",");
            format!("INSERT INTO audit_log VALUES{values}")
        })
        .collect()
});
/// How often a commit chains its events again after another process took their `seq`s,
/// before it gives up.
const MAX_ATTEMPTS: u32 = 16;
const NEWEST: &str = "SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1";
const BEGIN: &str = "BEGIN IMMEDIATE";
const COMMIT: &str = "COMMIT";
/// Room for a typical event's body, so encoding one does not grow the buffer.
const BODY_CAPACITY: usize = 1024;

/// What a submitter learns: the `seq` of its last event, or why nothing was stored.
pub(crate) type Reply = Result<i64, String>;

struct Submission {
    events: Vec<AuditEvent>,
    /// `None` for deferred events: nobody waits for them.
    reply: Option<oneshot::Sender<Reply>>,
}

#[derive(Default)]
struct Queue {
    submissions: VecDeque<Submission>,
    /// While set, nobody starts a commit: [`Writer::paused`] commits what queued meanwhile.
    paused: bool,
    /// Set when the WAL was found full ([`Writer::hold_if_full`]): nobody starts a commit until
    /// the WAL keeper's next pause, which starts it over and commits what queued meanwhile.
    held_for_wal: bool,
    /// After the keeper failed to start the WAL over: appends are not held again before then.
    not_held_before: Option<Instant>,
}

/// The writer's connection and whether the file it holds was checked to be this log.
pub(crate) struct Link {
    following: FollowingConnection,
    verified: bool,
    /// For checking a store opened again reaches the checkpoint.
    checkpoint_file: Option<PathBuf>,
    /// Each event's body is encoded here, reused from one append to the next.
    body: Vec<u8>,
    /// The chain's end as this connection's last commit left it.
    newest: Option<ChainEnd>,
    /// Bytes of event bodies appended since the WAL was last looked at ([`Writer::hold_if_full`]).
    appended_since_look: u64,
}

/// The last event of the chain as this connection last saw it: the one its last commit
/// appended, or the newest it read.
#[derive(Clone, Copy)]
struct ChainEnd {
    seq: i64,
    mac: [u8; MAC_LEN],
}

impl Link {
    /// `following` holds the store as opened at start (already checked by the caller).
    pub fn new(following: FollowingConnection, checkpoint_file: Option<PathBuf>) -> Self {
        Link {
            following,
            verified: true,
            checkpoint_file,
            body: Vec::with_capacity(BODY_CAPACITY),
            newest: None,
            appended_since_look: 0,
        }
    }

    /// The connection to append through, once the file behind it is known to be this log.
    fn usable(&mut self, key: &AuditKey) -> Result<&mut rusqlite::Connection, String> {
        let current = self.following.current()?;
        if current.reopened {
            self.verified = false;
            self.newest = None;
        }
        if !self.verified {
            check_reopened(current.connection, key, self.checkpoint_file.as_deref())?;
            self.verified = true;
            tracing::info!(
                "opened the audit log's store again and checked it is the same log (its key, its checkpoint)"
            );
        }
        Ok(current.connection)
    }

    /// Append in one transaction; a broken volume is let go of (and told to every other
    /// holder), a write that went through tells them it works.
    fn append(&mut self, key: &AuditKey, events: &[&AuditEvent]) -> Result<i64, String> {
        let mut body = std::mem::take(&mut self.body);
        let mut newest = self.newest.take();
        let mut encoded = 0;
        let appended = match self.usable(key) {
            Ok(connection) => append_chained(
                connection,
                key,
                events,
                (&mut body, &mut encoded),
                &mut newest,
            )
            .map_err(|error| {
                (
                    format!("the audit log refused the events: {error}"),
                    is_storage_failure(&error),
                )
            }),
            Err(reason) => Err((reason, true)),
        };
        self.body = body;
        self.appended_since_look += encoded;
        if appended.is_ok() {
            self.newest = newest;
        }
        match appended {
            Ok(seq) => {
                self.following.store().healthy();
                Ok(seq)
            }
            Err((reason, storage_failed)) => {
                if storage_failed {
                    self.following.release();
                    self.following.store().failed(&reason);
                }
                Err(reason)
            }
        }
    }
}

pub(crate) struct Writer {
    connection: Mutex<Link>,
    queue: Mutex<Queue>,
    /// Woken when deferred events are queued, so they are stored within the window even if
    /// no append comes to carry them.
    pub deferred_waiting: tokio::sync::Notify,
    /// How full the WAL may get before appends wait for the WAL keeper, once it runs.
    wal_limit: OnceLock<WalLimit>,
}

impl Writer {
    pub fn new(link: Link) -> Self {
        Writer {
            connection: Mutex::new(link),
            queue: Mutex::new(Queue::default()),
            deferred_waiting: tokio::sync::Notify::new(),
            wal_limit: OnceLock::new(),
        }
    }

    /// Hold appends whenever the WAL is found holding `limit`'s worth, until its keeper has
    /// started it over. Set once, by the keeper as it starts.
    pub fn limit_wal(&self, limit: WalLimit) {
        let _ = self.wal_limit.set(limit);
    }

    /// After a commit through `link`: look at how much the WAL holds, every so many bytes
    /// appended, and hold appends if that is the limit's worth — unless the keeper could not
    /// start it over lately (a reader keeps it from that: holding would only stop every
    /// session while nothing can help) or is gone. The keeper is woken to start it over now.
    ///
    /// This is what makes the bound hold when the keeper's thread gets too little CPU to start
    /// the WAL over in time by itself: appends then wait for it instead of outgrowing the file.
    fn hold_if_full(&self, link: &mut Link, key: &AuditKey) {
        let Some(limit) = self.wal_limit.get() else {
            return;
        };
        if link.appended_since_look < limit.look_every {
            return;
        }
        link.appended_since_look = 0;
        let Ok(connection) = link.usable(key) else {
            return;
        };
        let Ok(held) = wal::bytes_held(connection) else {
            return;
        };
        if held < limit.hold_at {
            return;
        }
        let mut queue = self.queue();
        if queue
            .not_held_before
            .is_some_and(|until| Instant::now() < until)
        {
            return;
        }
        if limit.wake_keeper() {
            queue.held_for_wal = true;
        }
    }

    /// The keeper could not start the WAL over: do not hold appends for it before `until`.
    pub fn not_held_before(&self, until: Instant) {
        self.queue().not_held_before = Some(until);
    }

    /// Let appends held for the WAL go on, and commit what queued meanwhile (the newest `seq`
    /// committed): for a keeper that stops, or that could not start the WAL over.
    pub fn release_wal_hold(&self, key: &AuditKey) -> Option<i64> {
        let was_held = std::mem::take(&mut self.queue().held_for_wal);
        if was_held { self.drive(key) } else { None }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue events; `reply` receives the outcome once they are committed (or refused).
    /// Returns how many events are queued in all.
    pub fn submit(&self, events: Vec<AuditEvent>, reply: Option<oneshot::Sender<Reply>>) -> usize {
        let deferred = reply.is_none();
        let mut queue = self.queue();
        queue.submissions.push_back(Submission { events, reply });
        let queued = queue.submissions.iter().map(|s| s.events.len()).sum();
        drop(queue);
        if deferred {
            self.deferred_waiting.notify_one();
        }
        queued
    }

    pub fn has_queued(&self) -> bool {
        !self.queue().submissions.is_empty()
    }

    /// Whether a queued submission has somebody waiting for its reply.
    fn has_awaited(&self) -> bool {
        self.queue().submissions.iter().any(|s| s.reply.is_some())
    }

    /// Commit what is queued, unless another caller is committing right now (it will commit
    /// ours too before it lets go) or the writer is paused (it commits ours when it resumes).
    /// Returns the newest `seq` this call committed.
    ///
    /// When the store refuses a batch, what others queued meanwhile is tried too as long as
    /// somebody awaits it: they found the connection taken and left their events to this call,
    /// and would otherwise wait for a reply until some later append came by (a session's
    /// request hung when the store's volume failed). While the store stays broken each try
    /// fails at once and answers them with the error; deferred events wait for the next append.
    pub fn drive(&self, key: &AuditKey) -> Option<i64> {
        let mut newest = None;
        loop {
            let mut connection = match self.connection.try_lock() {
                Ok(connection) => connection,
                Err(TryLockError::WouldBlock) => return newest,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            };
            let drained = self.commit_queued(&mut connection, key, true, &mut newest);
            drop(connection);
            // Somebody may have queued after the last drain and found the lock taken. Looked
            // at only after letting go of it: whoever queues later takes it themselves.
            let more = match drained {
                Drained::Paused => false,
                Drained::Empty => self.has_queued(),
                Drained::Refused => self.has_awaited(),
            };
            if !more {
                return newest;
            }
        }
    }

    /// Commit everything queued now, first waiting for a commit or a pause under way to end
    /// (where [`drive`](Self::drive) leaves the queue to whoever holds the connection): for
    /// a flush, which must not return while events queued before it are uncommitted. Returns
    /// the newest `seq` committed.
    pub fn drive_to_empty(&self, key: &AuditKey) -> Option<i64> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut newest = None;
        self.commit_queued(&mut connection, key, false, &mut newest);
        newest
    }

    /// Commit batch after batch of what is queued through `link` (held by the caller) until
    /// the queue is empty; `newest` gets the newest `seq` committed. Says why it stopped: the
    /// queue was empty, the store refused a batch, or `honour_pause` is set and the writer is
    /// paused (its resumption commits the rest).
    fn commit_queued(
        &self,
        link: &mut Link,
        key: &AuditKey,
        honour_pause: bool,
        newest: &mut Option<i64>,
    ) -> Drained {
        loop {
            let batch: Vec<Submission> = {
                let mut queue = self.queue();
                if honour_pause && (queue.paused || queue.held_for_wal) {
                    return Drained::Paused;
                }
                queue.submissions.drain(..).collect()
            };
            if batch.is_empty() {
                return Drained::Empty;
            }
            match self.commit(link, key, batch) {
                Some(seq) => *newest = Some(seq),
                None => return Drained::Refused,
            }
            self.hold_if_full(link, key);
        }
    }

    /// Run `work` while this writer commits nothing: a commit under way ends first; appends
    /// that arrive meanwhile queue (their submitters await, no thread blocks) and are committed
    /// by this call as soon as `work` returns. Returns what `work` returned and the newest
    /// `seq` committed after it. A pause releases appends held for the WAL: it is what they
    /// wait for.
    pub fn paused<T>(&self, key: &AuditKey, work: impl FnOnce() -> T) -> (T, Option<i64>) {
        let result = {
            let _resume = Pause::begin(self);
            let _no_commit = self
                .connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            work()
        };
        (result, self.drive(key))
    }

    /// One transaction for a batch; replies sent. Deferred events of a refused batch go back
    /// to the front of the queue.
    fn commit(&self, link: &mut Link, key: &AuditKey, batch: Vec<Submission>) -> Option<i64> {
        let events: Vec<&AuditEvent> = batch.iter().flat_map(|s| &s.events).collect();
        match link.append(key, &events) {
            Ok(last_seq) => {
                let mut seq = last_seq - i64::try_from(events.len()).unwrap_or(0);
                for submission in batch {
                    seq += i64::try_from(submission.events.len()).unwrap_or(0);
                    if let Some(reply) = submission.reply {
                        let _ = reply.send(Ok(seq));
                    }
                }
                Some(last_seq)
            }
            Err(reason) => {
                tracing::error!(%reason, "audit events could not be stored; refusing the requests they describe");
                let mut requeue = Vec::new();
                for submission in batch {
                    match submission.reply {
                        Some(reply) => {
                            let _ = reply.send(Err(reason.clone()));
                        }
                        None => requeue.push(submission),
                    }
                }
                let mut queue = self.queue();
                for submission in requeue.into_iter().rev() {
                    queue.submissions.push_front(submission);
                }
                None
            }
        }
    }
}

/// Why [`Writer::commit_queued`] stopped.
enum Drained {
    /// Everything queued was committed.
    Empty,
    /// The writer is paused or held for the WAL; whoever ends that commits the rest.
    Paused,
    /// The store refused a batch: its awaited submissions were answered with the error, its
    /// deferred ones put back.
    Refused,
}

/// Marks a writer paused for as long as it lives, so that a panicking `work` cannot leave it
/// paused for good.
struct Pause<'a>(&'a Writer);

impl<'a> Pause<'a> {
    fn begin(writer: &'a Writer) -> Self {
        let mut queue = writer.queue();
        queue.paused = true;
        queue.held_for_wal = false;
        drop(queue);
        Pause(writer)
    }
}

impl Drop for Pause<'_> {
    fn drop(&mut self) {
        self.0.queue().paused = false;
    }
}

/// Insert `events` after the chain's end, chained, all or nothing. Returns the last `seq`
/// (the newest existing one when `events` is empty).
///
/// The end is the one this connection's last commit left (`newest`), read from the table
/// only when there is none. It need not be checked first: `seq` is the table's primary key,
/// so when another connection (another process) appended meanwhile, the insert fails on the
/// taken `seq`, and the events are chained again after the end read anew. A batch that fits
/// one statement is one autocommit `INSERT` of several rows, one statement per commit instead
/// of four (`BEGIN`, reading the end, `INSERT`, `COMMIT`: the statement cache's bookkeeping
/// alone cost several thousand instructions per statement the gateway forwards); a larger one
/// is several inserts in one transaction. Bodies are encoded by hand
/// ([`AuditEvent::write_json`]: the serde form's exact bytes) into one reused buffer.
fn append_chained(
    connection: &rusqlite::Connection,
    key: &AuditKey,
    events: &[&AuditEvent],
    (body, encoded): (&mut Vec<u8>, &mut u64),
    newest: &mut Option<ChainEnd>,
) -> rusqlite::Result<i64> {
    let mut attempts = 0;
    loop {
        let end = match newest.take() {
            Some(end) => end,
            None => read_chain_end(connection)?,
        };
        match insert_after(connection, key, events, (&mut *body, &mut *encoded), end) {
            Ok(appended) => {
                *newest = Some(appended);
                return Ok(appended.seq);
            }
            Err(error) if seq_taken(&error) && attempts < MAX_ATTEMPTS => attempts += 1,
            Err(error) => return Err(error),
        }
    }
}

/// The newest stored event, or the genesis before the first.
fn read_chain_end(connection: &rusqlite::Connection) -> rusqlite::Result<ChainEnd> {
    let stored: Option<(i64, Vec<u8>)> = connection
        .prepare_cached(NEWEST)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(match stored {
        Some((seq, mac)) => ChainEnd {
            seq,
            mac: to_mac(&mac),
        },
        None => ChainEnd {
            seq: 0,
            mac: GENESIS_MAC,
        },
    })
}

/// Whether an insert failed because another connection already stored an event at its `seq`.
fn seq_taken(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// The inserts of [`append_chained`] after `end`: the chain's end they leave.
fn insert_after(
    connection: &rusqlite::Connection,
    key: &AuditKey,
    events: &[&AuditEvent],
    (body, encoded): (&mut Vec<u8>, &mut u64),
    mut end: ChainEnd,
) -> rusqlite::Result<ChainEnd> {
    if events.len() <= ROWS_PER_INSERT {
        insert_rows(connection, key, events, (body, encoded), &mut end)?;
        return Ok(end);
    }
    connection.prepare_cached(BEGIN)?.execute([])?;
    let inserted = events
        .chunks(ROWS_PER_INSERT)
        .try_for_each(|rows| {
            insert_rows(connection, key, rows, (&mut *body, &mut *encoded), &mut end)
        })
        .and_then(|()| connection.prepare_cached(COMMIT)?.execute([]));
    match inserted {
        Ok(_) => Ok(end),
        Err(error) => Err(rolled_back(connection, error)),
    }
}

/// One `INSERT` of `events` (at most [`ROWS_PER_INSERT`]), each chained to the one before,
/// the first to `end`, which is moved to the last.
fn insert_rows(
    connection: &rusqlite::Connection,
    key: &AuditKey,
    events: &[&AuditEvent],
    (body, encoded): (&mut Vec<u8>, &mut u64),
    end: &mut ChainEnd,
) -> rusqlite::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // More events than one statement takes would be a caller's mistake: refused, never
    // dropped.
    let Some(sql) = INSERTS.get(events.len()) else {
        return Err(rusqlite::Error::InvalidParameterCount(
            events.len() * COLUMNS,
            ROWS_PER_INSERT * COLUMNS,
        ));
    };
    let mut insert = connection.prepare_cached(sql)?;
    let mut seq = end.seq;
    let mut previous = end.mac;
    for (row, event) in events.iter().enumerate() {
        seq += 1;
        body.clear();
        event.write_json(body);
        *encoded += body.len() as u64;
        let text = std::str::from_utf8(body)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let mac = key.mac(AuditFormat::CURRENT, &previous, seq, body);
        let column = row * COLUMNS;
        insert.raw_bind_parameter(column + 1, seq)?;
        insert.raw_bind_parameter(column + 2, event.time_unix_ms)?;
        insert.raw_bind_parameter(column + 3, event.kind.as_str())?;
        insert.raw_bind_parameter(column + 4, &event.identity.subject)?;
        insert.raw_bind_parameter(column + 5, &event.session)?;
        insert.raw_bind_parameter(column + 6, text)?;
        insert.raw_bind_parameter(column + 7, mac.as_slice())?;
        insert.raw_bind_parameter(column + 8, AuditFormat::CURRENT.stored())?;
        previous = mac;
    }
    insert.raw_execute()?;
    *end = ChainEnd { seq, mac: previous };
    Ok(())
}

/// Roll back a failed append (if a transaction is still open) and return why it failed.
fn rolled_back(connection: &rusqlite::Connection, error: rusqlite::Error) -> rusqlite::Error {
    if !connection.is_autocommit()
        && let Err(rollback) = connection.execute_batch("ROLLBACK")
    {
        tracing::warn!(%rollback, "rolling back a failed audit append failed");
    }
    error
}

/// A stored MAC as a fixed array; a wrong-length value becomes one that never verifies.
pub(crate) fn to_mac(bytes: &[u8]) -> [u8; MAC_LEN] {
    bytes.try_into().unwrap_or(GENESIS_MAC)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::store_file::StoreFile;
    use gatehouse_core::DecisionKind;
    use gatehouse_pipeline::{AuditEventKind, AuditIdentity};
    use std::sync::Arc;
    use std::time::Duration;

    /// How long an append waits for SQLite's write lock before it is refused.
    const BUSY_TIMEOUT_MS: u64 = 400;

    fn event() -> AuditEvent {
        AuditEvent::administrative(
            AuditEventKind::KeyChange,
            AuditIdentity::anonymous(),
            "test",
            DecisionKind::Allow,
            None,
        )
    }

    /// A submission queued while another caller's batch is being refused must not wait for
    /// a later append to come by: the caller whose batch was refused tries it too.
    #[test]
    fn a_submission_queued_while_a_batch_is_refused_is_answered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        let blocker = rusqlite::Connection::open(&path).unwrap();
        blocker
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, time_unix_ms, kind, subject,
                     session, body, mac, format);",
            )
            .unwrap();
        let store = StoreFile::new(&path);
        let following = FollowingConnection::open(
            &store,
            |connection| {
                connection.execute_batch(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"))
            },
            true,
        )
        .unwrap();
        let writer = Arc::new(Writer::new(Link::new(following, None)));
        let key = AuditKey::from_hex(&"ab".repeat(32)).unwrap();
        // Another connection holds the write lock, so the first batch waits and is refused.
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

        let (first_reply, first) = oneshot::channel();
        writer.submit(vec![event()], Some(first_reply));
        let first_driver = {
            let (writer, key) = (writer.clone(), key.clone());
            std::thread::spawn(move || writer.drive(&key))
        };
        std::thread::sleep(Duration::from_millis(BUSY_TIMEOUT_MS / 4));
        let (second_reply, mut second) = oneshot::channel();
        writer.submit(vec![event()], Some(second_reply));
        assert_eq!(
            writer.drive(&key),
            None,
            "the first batch's commit holds the connection: this call leaves its events to it"
        );
        first_driver.join().unwrap();
        assert!(first.blocking_recv().unwrap().is_err(), "refused, and told");

        // Nobody appends any more: the second submission is answered all the same.
        let deadline = Instant::now() + Duration::from_millis(BUSY_TIMEOUT_MS * 5);
        let answer = loop {
            match second.try_recv() {
                Ok(answer) => break answer,
                Err(oneshot::error::TryRecvError::Empty) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(error) => panic!("the second submission was never answered: {error}"),
            }
        };
        assert!(answer.is_err(), "the store still refuses: {answer:?}");
        assert!(!writer.has_queued());
    }
}
