//! How big the store's `-wal` file gets under sustained load, and what keeping it small costs
//! the audit append on the request path. Run by hand (figures in RELIABILITY.md):
//!
//! ```text
//! cargo run --release -p gatehouse-store --example wal_under_load
//! ```
//!
//! Sessions append a statement event per request (every tenth waits for fsync, as a
//! state-changing one would) and defer its outcome event, as the gateway does; each session
//! also records itself into the store. Meanwhile the pool is read the way the gateway reads
//! it: the revocation feed every second, approval and access-grant lookups and credential
//! checks all the time. Every 100 ms the sizes of the database and its `-wal` are sampled.
//!
//! Environment: `DURATION` (seconds, 30), `SESSIONS` (16), `RATE` (requests per second over
//! all sessions, 2000; 0 = as fast as they go), `DIR` (where the store is made; a temporary
//! directory by default), `MAX_WAL_MIB` (the store's WAL bound; its default if unset).
//! `RUST_LOG=gatehouse_store=debug` also logs each start over of the WAL and how long appends
//! were paused for it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_core::IdentityKind;
use gatehouse_pipeline::{
    ApprovalBinding, AuditEvent, AuditEventKind, AuditIdentity, AuditOutcome, Durability,
};
use gatehouse_recording::{
    DecisionKind, EventKind, RecordingEvent, RecordingHeader, RecordingStorage, RecordingWriter,
    Request, ResultSummary,
};
use gatehouse_store::{AuditKey, AuditLog, AuditOptions, DurabilitySettings, NewKey, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value}: not a number"))
        })
        .unwrap_or(default)
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |metadata| metadata.len())
}

fn wal_of(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn event(session: &str, n: u64, kind: AuditEventKind) -> AuditEvent {
    AuditEvent {
        time_unix_ms: gatehouse_pipeline::now_unix_ms(),
        kind,
        identity: AuditIdentity {
            subject: "ana".into(),
            kind: "human".into(),
            groups: vec!["readers".into()],
        }
        .into(),
        acting_for: vec![],
        session: Some(session.into()),
        connection: Some("demo".into()),
        source_address: Some("127.0.0.1".into()),
        action: Some("sql:select".into()),
        decision: Some(DecisionKind::Allow),
        policies: vec!["readers-read".into()],
        request: Some(format!(
            "SELECT id, customer, total FROM orders WHERE id = {n} AND status = 'open'"
        )),
        fingerprint: Some("0123456789abcdef".into()),
        outcome: (kind == AuditEventKind::Outcome).then(|| AuditOutcome {
            rows: Some(1),
            status: Some("SELECT 1".into()),
            error: None,
            duration_us: 400,
            masked: Default::default(),
            request_bytes: None,
            response_bytes: None,
        }),
        refers_to: None,
        detail: None,
        context: None,
    }
}

fn recording_event(n: u64) -> [RecordingEvent; 2] {
    [
        RecordingEvent {
            at_us: n * 1_000,
            kind: EventKind::Request(Request {
                request: n,
                action: "sql:select".into(),
                decision: DecisionKind::Allow,
                policies: vec!["readers-read".into()],
                text: Some(format!("SELECT * FROM orders WHERE id = {n}")),
                fingerprint: None,
                audit_seq: None,
            }),
        },
        RecordingEvent {
            at_us: n * 1_000 + 400,
            kind: EventKind::Result(ResultSummary {
                request: n,
                columns: vec![],
                rows: 1,
                bytes: 20,
                duration_us: 400,
                status: Some("SELECT 1".into()),
                error: None,
                masked: Default::default(),
            }),
        },
    ]
}

/// Append latencies in microseconds: requests that wait only for the commit, and
/// state-changing ones that also wait for fsync.
#[derive(Default)]
struct Latencies {
    windowed: Vec<u32>,
    synced: Vec<u32>,
}

/// One session: requests at its share of `rate`, each appended before it "runs". A refused
/// append stops every session (the store's disk may be full: the WAL grows fast without a
/// bound).
async fn session(
    log: AuditLog,
    recordings: Arc<dyn RecordingStorage>,
    id: usize,
    interval: Option<Duration>,
    stop: Arc<AtomicBool>,
    appended: Arc<AtomicU64>,
) -> Result<Latencies, String> {
    let name = format!("s-{id}");
    let mut recording = RecordingWriter::new(RecordingHeader {
        session: name.clone(),
        subject: "ana".into(),
        connection: "demo".into(),
        started_at: time::OffsetDateTime::now_utc(),
        gatehouse_version: "bench".into(),
    })
    .unwrap();
    let mut ticker = interval.map(|every| {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    let mut latencies = Latencies::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match &mut ticker {
            Some(ticker) => {
                ticker.tick().await;
            }
            None => tokio::task::yield_now().await,
        }
        n += 1;
        let synced = n.is_multiple_of(10);
        let durability = if synced {
            Durability::Synced
        } else {
            Durability::Windowed
        };
        let started = Instant::now();
        if let Err(error) = log
            .append(&[event(&name, n, AuditEventKind::Request)], durability)
            .await
        {
            stop.store(true, Ordering::Relaxed);
            return Err(error);
        }
        let took = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        if synced {
            latencies.synced.push(took);
        } else {
            latencies.windowed.push(took);
        }
        appended.fetch_add(1, Ordering::Relaxed);
        log.append_deferred(vec![event(&name, n, AuditEventKind::Outcome)])?;
        for recorded in recording_event(n) {
            if let Some(chunk) = recording.push(&recorded).unwrap()
                && let Err(error) = recordings.append_chunk(&name, chunk.info.index, &chunk.bytes)
            {
                stop.store(true, Ordering::Relaxed);
                return Err(error.to_string());
            }
        }
    }
    Ok(latencies)
}

/// The gateway's reads through the pool, until `stop` (a store that fails makes them fail;
/// the sessions report that).
async fn readers(store: Store, token: gatehouse_core::SecretString, stop: Arc<AtomicBool>) {
    use gatehouse_pipeline::Authenticator;
    let poll = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            while !stop.load(Ordering::Relaxed) {
                ticker.tick().await;
                let _ = store
                    .revocations_since(gatehouse_identity::now_unix() - 3)
                    .await;
            }
        })
    };
    let binding = ApprovalBinding {
        subject: "ana".into(),
        acting_for: vec![],
        connection: "demo".into(),
        action: "sql:delete".into(),
        request: "DELETE FROM orders".into(),
        fingerprint: "fedcba9876543210".into(),
        policy_version: "v1".into(),
        context: None,
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let now = gatehouse_pipeline::now_unix_ms();
        let _ = store.find_open_approval(&binding, now).await;
        let _ = store.access_grants("ana", "demo", now).await;
        if n.is_multiple_of(10) {
            let _ = store.authenticate(&token).await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    poll.await.unwrap();
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[rank.min(sorted.len() - 1)]) / 1000.0
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let duration = Duration::from_secs(env_u64("DURATION", 30));
    let sessions = usize::try_from(env_u64("SESSIONS", 16)).unwrap();
    let rate = env_u64("RATE", 2000);
    let max_wal = std::env::var("MAX_WAL_MIB")
        .ok()
        .map(|mib| mib.parse::<u64>().unwrap() * 1024 * 1024);
    let temporary = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("DIR").map_or_else(|| temporary.path().to_path_buf(), PathBuf::from);
    let db = dir.join("bench.db");
    let wal = wal_of(&db);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut store = Store::open(&db).await.unwrap();
        if let Some(bytes) = max_wal {
            store = store.with_max_wal_bytes(bytes);
        }
        let (_, token) = store
            .create_key(&NewKey {
                subject: "ana".into(),
                kind: IdentityKind::Human,
                groups: vec!["readers".into()],
                ttl: Duration::from_secs(3600),
            })
            .await
            .unwrap();
        let log = store
            .audit_log(AuditOptions {
                key: AuditKey::load_or_create(&dir.join("audit.key")).unwrap(),
                checkpoint_file: Some(dir.join("audit.checkpoint")),
                durability: DurabilitySettings::default(),
            })
            .unwrap();
        let recordings: Arc<dyn RecordingStorage> = Arc::new(store.recordings().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let appended = Arc::new(AtomicU64::new(0));
        let interval = (rate > 0).then(|| Duration::from_secs_f64(sessions as f64 / rate as f64));
        let reading = tokio::spawn(readers(store.clone(), token, stop.clone()));
        let running: Vec<_> = (0..sessions)
            .map(|id| {
                tokio::spawn(session(
                    log.clone(),
                    recordings.clone(),
                    id,
                    interval,
                    stop.clone(),
                    appended.clone(),
                ))
            })
            .collect();

        println!("|   t (s) | WAL (MiB) | database (MiB) | appends/s |");
        println!("|--------:|----------:|---------------:|----------:|");
        let started = Instant::now();
        let mut largest_wal = 0;
        let mut last_count = 0;
        let mut samples = 0u64;
        while started.elapsed() < duration {
            tokio::time::sleep(Duration::from_millis(100)).await;
            largest_wal = largest_wal.max(size(&wal));
            samples += 1;
            if samples.is_multiple_of(10) {
                let count = appended.load(Ordering::Relaxed);
                println!(
                    "| {:7.1} | {:9.1} | {:14.1} | {:9} |",
                    started.elapsed().as_secs_f64(),
                    mib(size(&wal)),
                    mib(size(&db)),
                    count - last_count
                );
                last_count = count;
            }
        }
        stop.store(true, Ordering::Relaxed);
        let mut windowed = Vec::new();
        let mut synced = Vec::new();
        let mut refused = None;
        for session in running {
            match session.await.unwrap() {
                Ok(latencies) => {
                    windowed.extend(latencies.windowed);
                    synced.extend(latencies.synced);
                }
                Err(error) => refused = Some(error),
            }
        }
        reading.await.unwrap();
        if let Some(error) = refused {
            println!();
            println!("stopped: an append was refused: {error}");
            return;
        }
        let elapsed = started.elapsed().as_secs_f64();
        windowed.sort_unstable();
        synced.sort_unstable();
        let appends = windowed.len() + synced.len();
        println!();
        println!("| figure | value |");
        println!("|---|---:|");
        println!(
            "| appends | {appends} ({:.0}/s) |",
            appends as f64 / elapsed
        );
        println!("| largest WAL (MiB) | {:.1} |", mib(largest_wal));
        println!("| WAL at the end (MiB) | {:.1} |", mib(size(&wal)));
        println!("| database (MiB) | {:.1} |", mib(size(&db)));
        for (what, latencies) in [("commit only", &windowed), ("commit + fsync", &synced)] {
            let slow = |ms: u32| latencies.iter().filter(|&&us| us >= ms * 1000).count();
            println!(
                "| append ({what}) p50 / p99 / p99.9 / max (ms) | {:.3} / {:.3} / {:.3} / {:.3} |",
                percentile(latencies, 0.5),
                percentile(latencies, 0.99),
                percentile(latencies, 0.999),
                percentile(latencies, 1.0)
            );
            println!(
                "| append ({what}) ≥ 10 ms / ≥ 50 ms | {} / {} |",
                slow(10),
                slow(50)
            );
        }
        log.flush().await.unwrap();
        store.close().await;
    });
}
