//! The protocol-neutral pipeline with a second protocol that exists only here (`kv`, see
//! `kv/mod.rs`): its own actions, schema fragment, connector and session loop, decided by
//! Cedar, recorded in the hash-chained audit log and in session recordings (with an event kind
//! of its own), held for approvals in the store, ended by
//! revocation and by a policy replacement, and opened through an agent on the tunnel — with no
//! line of the pipeline, policy, store or tunnel crates naming it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod agent;
mod kv;

use gatehouse_core::{ConnectionInfo, Identity, IdentityKind};
use gatehouse_pipeline::{AuditEventKind, Pipeline};
use gatehouse_policy::{PolicyEngine, PolicySchema};
use gatehouse_recording::{
    EventKind, LocalDirStorage, ProtocolEvent, Recording, RecordingStorage, render_timeline,
};
use gatehouse_session::LiveSessions;
use gatehouse_session::TargetConnector;
use gatehouse_store::{
    AuditFilter, AuditKey, AuditLog, AuditOptions, DurabilitySettings, NewKey, ReviewVerdict, Store,
};
use kv::{KV, KV_PROTOCOL, KvGateway, KvTargets};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const POLICY: &str = r#"
@id("readers-read")
permit (
  principal in Gatehouse::Group::"readers",
  action in [Gatehouse::Action::"connect", Gatehouse::Action::"kv:read"],
  resource
);

@id("writers-connect")
permit (
  principal in Gatehouse::Group::"writers",
  action in [Gatehouse::Action::"connect", Gatehouse::Action::"kv:read"],
  resource
);

@id("writers-set-tmp")
permit (
  principal in Gatehouse::Group::"writers",
  action == Gatehouse::Action::"kv:set",
  resource
) when { context.key like "tmp*" };

@id("deletes-need-an-admin")
@approval("admins")
permit (
  principal in Gatehouse::Group::"writers",
  action == Gatehouse::Action::"kv:del",
  resource
);
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    recordings: Arc<LocalDirStorage>,
    store: Store,
    log: AuditLog,
    pipeline: Pipeline,
    live: Arc<LiveSessions>,
    address: SocketAddr,
    target: Arc<std::sync::Mutex<HashMap<String, String>>>,
    _shutdown: tokio::sync::watch::Sender<bool>,
    /// The agent, when the connection is served through one.
    agent: Option<agent::Agent>,
}

/// How the gateway reaches the kv target.
enum Route {
    Direct,
    /// Through an agent on a tunnel (the agent holds the target's address).
    Agent,
}

fn engine(policy: &str) -> Arc<PolicyEngine> {
    let schema = PolicySchema::new(&[&KV_PROTOCOL]).unwrap();
    Arc::new(
        PolicyEngine::from_sources(&[("kv.cedar".to_owned(), policy.to_owned())], &schema).unwrap(),
    )
}

impl Fixture {
    async fn start() -> Fixture {
        Fixture::start_routed(Route::Direct).await
    }

    async fn start_routed(through: Route) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.db")).await.unwrap();
        let log = store
            .audit_log(AuditOptions {
                key: AuditKey::load_or_create(&dir.path().join("audit.key")).unwrap(),
                checkpoint_file: None,
                durability: DurabilitySettings::default(),
            })
            .unwrap();
        let recordings =
            Arc::new(LocalDirStorage::new(dir.path().join("recordings"), false).unwrap());
        let pipeline = Pipeline::new(engine(POLICY), Arc::new(log.clone()))
            .with_approvals(Arc::new(store.clone()), Duration::from_secs(600))
            .with_recordings(recordings.clone());
        let (target_address, target) = kv::start_target().await;
        let connection = Arc::new(ConnectionInfo {
            name: "cache".to_owned(),
            kind: KV,
            environment: "test".to_owned(),
            tags: Vec::new(),
            description: String::new(),
        });
        let live = Arc::new(LiveSessions::default());
        let direct = Arc::new(KvTargets {
            targets: HashMap::from([("cache".to_owned(), target_address)]),
        });
        let (connector, agent): (Arc<dyn TargetConnector>, _) = match through {
            Route::Direct => (direct, None),
            Route::Agent => {
                let (hub, agent) = agent::link("cache", direct).await;
                let none = Arc::new(KvTargets {
                    targets: HashMap::new(),
                });
                (
                    Arc::new(gatehouse_tunnel::RoutedConnector::new(none, hub)),
                    Some(agent),
                )
            }
        };
        let gateway = Arc::new(KvGateway {
            pipeline: pipeline.clone(),
            authenticator: Arc::new(store.clone()),
            connections: HashMap::from([("cache".to_owned(), connection)]),
            connector,
            live: live.clone(),
        });
        let (shutdown, stop) = tokio::sync::watch::channel(false);
        let address = kv::serve(gateway, stop).await;
        Fixture {
            _dir: dir,
            recordings,
            store,
            log,
            pipeline,
            live,
            address,
            target,
            _shutdown: shutdown,
            agent,
        }
    }

    async fn key(&self, subject: &str, groups: &[&str]) -> String {
        let (_, token) = self
            .store
            .create_key(&NewKey {
                subject: subject.to_owned(),
                kind: IdentityKind::Human,
                groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                ttl: Duration::from_secs(600),
            })
            .await
            .unwrap();
        token.expose().to_owned()
    }

    async fn client(&self, subject: &str, groups: &[&str]) -> Client {
        let token = self.key(subject, groups).await;
        let stream = TcpStream::connect(self.address).await.unwrap();
        let (read, write) = stream.into_split();
        let mut client = Client {
            lines: BufReader::new(read).lines(),
            write,
        };
        assert_eq!(client.say(&format!("AUTH {token} cache")).await, "READY");
        client
    }
}

struct Client {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Client {
    async fn say(&mut self, line: &str) -> String {
        self.write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.next().await
    }

    async fn next(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("an answer within 10 s")
            .unwrap()
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn kv_commands_are_decided_by_their_own_actions_and_attributes() {
    let f = Fixture::start().await;
    let mut reader = f.client("ana", &["readers"]).await;
    assert_eq!(reader.say("GET a").await, "NONE");
    let refused = reader.say("SET a 1").await;
    assert!(refused.starts_with("DENIED"), "{refused}");
    assert!(
        refused.contains("kv:set") && refused.contains("default-deny"),
        "{refused}"
    );
    let unknown = reader.say("FLUSHALL").await;
    assert!(unknown.contains("kv:unknown"), "{unknown}");

    let mut writer = f.client("wes", &["writers"]).await;
    assert_eq!(writer.say("SET tmp1 x").await, "OK");
    let outside = writer.say("SET prod x").await;
    assert!(
        outside.starts_with("DENIED"),
        "the key attribute decides: {outside}"
    );
    assert_eq!(reader.say("GET tmp1").await, "VALUE x");
    assert_eq!(
        f.target.lock().unwrap().get("prod"),
        None,
        "nothing refused reached the target"
    );
}

#[tokio::test]
async fn kv_requests_and_outcomes_are_in_the_chained_audit_log() {
    let f = Fixture::start().await;
    let mut writer = f.client("wes", &["writers"]).await;
    assert_eq!(writer.say("SET tmp1 x").await, "OK");
    assert!(writer.say("SET prod x").await.starts_with("DENIED"));
    drop(writer);
    // The outcome is stored within the log's window, the disconnect once the session sees EOF.
    let mut events = Vec::new();
    for _ in 0..200 {
        events = f
            .log
            .read(&AuditFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        if events
            .iter()
            .any(|e| e.event.kind == AuditEventKind::Disconnect)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let requests: Vec<_> = events
        .iter()
        .filter(|e| e.event.kind == AuditEventKind::Request)
        .map(|e| {
            (
                e.event.action.clone().unwrap(),
                e.event.request.clone().unwrap(),
                e.event.decision.unwrap().as_str(),
            )
        })
        .collect();
    assert_eq!(
        requests,
        [
            ("kv:set".to_owned(), "SET tmp1 x".to_owned(), "allow"),
            ("kv:set".to_owned(), "SET prod x".to_owned(), "deny"),
        ]
    );
    let allowed_seq = events
        .iter()
        .find(|e| e.event.request.as_deref() == Some("SET tmp1 x"))
        .unwrap()
        .seq;
    let outcome = events
        .iter()
        .find(|e| e.event.refers_to == Some(allowed_seq))
        .expect("the outcome of the forwarded command");
    assert_eq!(
        outcome.event.outcome.as_ref().unwrap().status.as_deref(),
        Some("OK")
    );
    assert!(
        events
            .iter()
            .any(|e| e.event.kind == AuditEventKind::Disconnect)
    );
    let report = f.log.verify(None).await.unwrap();
    assert!(report.problem.is_none(), "{report:?}");
}

#[tokio::test]
async fn a_kv_session_is_recorded_with_shared_kinds_and_its_own_answer_event() {
    let f = Fixture::start().await;
    let mut writer = f.client("wes", &["writers"]).await;
    assert_eq!(writer.say("SET tmp1 x").await, "OK");
    assert_eq!(writer.say("GET tmp1").await, "VALUE x");
    assert!(writer.say("SET prod x").await.starts_with("DENIED"));
    drop(writer);
    // The recording is finished (summary stored) once the session has seen EOF.
    let mut finished = Vec::new();
    for _ in 0..200 {
        finished = f.recordings.list().unwrap();
        if finished.iter().any(|summary| summary.ended_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let [summary] = finished.as_slice() else {
        panic!("one recording, finished: {finished:?}");
    };
    assert!(summary.ended_at.is_some(), "{summary:?}");
    let recording = Recording::parse(f.recordings.read(&summary.session).unwrap()).unwrap();
    let events: Vec<EventKind> = recording.events().map(|e| e.unwrap().kind).collect();

    let EventKind::SessionStart(start) = &events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(
        (start.subject.as_str(), start.connection_kind.as_str()),
        ("wes", "kv")
    );
    let requests: Vec<(String, Option<String>)> = events
        .iter()
        .filter_map(|event| match event {
            EventKind::Request(request) => Some((request.action.clone(), request.text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        requests,
        [
            ("kv:set".to_owned(), Some("SET tmp1 x".to_owned())),
            ("kv:get".to_owned(), Some("GET tmp1".to_owned())),
            ("kv:set".to_owned(), Some("SET prod x".to_owned())),
        ]
    );
    let answers: Vec<&ProtocolEvent> = events
        .iter()
        .filter_map(|event| match event {
            EventKind::Protocol(answer) => Some(answer),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers.len(),
        2,
        "the denied command reached no target: {answers:?}"
    );
    assert_eq!(
        (
            answers[1].protocol.as_str(),
            answers[1].name.as_str(),
            answers[1].request
        ),
        ("kv", "answer", Some(1))
    );
    assert_eq!(answers[1].data, serde_json::json!({ "line": "VALUE x" }));
    let statuses: Vec<Option<&str>> = events
        .iter()
        .filter_map(|event| match event {
            EventKind::Result(result) => Some(result.status.as_deref()),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [Some("OK"), Some("VALUE x")]);
    assert!(matches!(events.last(), Some(EventKind::SessionEnd(_))));

    let mut replay = Vec::new();
    render_timeline(&recording, &mut replay).unwrap();
    let replay = String::from_utf8(replay).unwrap();
    assert!(
        replay.contains(r#"kv answer #1  {"line":"VALUE x"}"#),
        "{replay}"
    );
    assert!(replay.contains("kv:set  deny  SET prod x"), "{replay}");
}

#[tokio::test]
async fn a_held_kv_command_runs_once_after_an_admin_approves_it() {
    let f = Fixture::start().await;
    f.target.lock().unwrap().insert("tmp1".into(), "x".into());
    let mut writer = f.client("wes", &["writers"]).await;
    let held = writer.say("DEL tmp1").await;
    let id = held
        .strip_prefix("HELD ")
        .expect("held for approval")
        .to_owned();
    assert!(f.target.lock().unwrap().contains_key("tmp1"));
    let admin = Identity::new("ada", IdentityKind::Human, vec!["admins".into()]);
    f.store
        .review_approval(
            &id,
            &admin,
            ReviewVerdict::Approve,
            None,
            gatehouse_pipeline::now_unix_ms(),
        )
        .await
        .unwrap();
    assert_eq!(writer.say("DEL tmp1").await, "OK");
    assert!(!f.target.lock().unwrap().contains_key("tmp1"));
    let again = writer.say("DEL tmp1").await;
    let second = again.strip_prefix("HELD ").expect("single use: held again");
    assert_ne!(second, id);
}

#[tokio::test]
async fn revoking_the_identity_ends_its_kv_session_with_the_reason() {
    let f = Fixture::start().await;
    let mut reader = f.client("ana", &["readers"]).await;
    let mut other = f.client("bo", &["readers"]).await;
    assert_eq!(f.live.end_identity("ana", "identity `ana` was revoked"), 1);
    assert_eq!(reader.next().await, "BYE identity `ana` was revoked");
    assert_eq!(reader.next().await, "", "then the connection closes");
    assert_eq!(other.say("GET a").await, "NONE");
}

#[tokio::test]
async fn a_replaced_policy_ends_kv_sessions_that_lost_connect() {
    let f = Fixture::start().await;
    let mut reader = f.client("ana", &["readers"]).await;
    let mut writer = f.client("wes", &["writers"]).await;
    let without_readers = POLICY.replace(
        "@id(\"readers-read\")\npermit",
        "@id(\"readers-read\")\nforbid",
    );
    f.pipeline.replace_policy(engine(&without_readers));
    let bye = reader.next().await;
    assert!(bye.starts_with("BYE policy version"), "{bye}");
    assert!(bye.contains("readers-read"), "{bye}");
    assert_eq!(writer.say("GET a").await, "NONE");
}

#[tokio::test]
async fn a_kv_connection_served_by_an_agent_goes_through_the_tunnel() {
    let f = Fixture::start_routed(Route::Agent).await;
    let agent = f.agent.as_ref().unwrap();
    assert_eq!(
        agent.kinds,
        ["kv"],
        "the agent announces the kinds it opens"
    );
    let mut writer = f.client("wes", &["writers"]).await;
    assert_eq!(writer.say("SET tmp1 x").await, "OK");
    assert_eq!(writer.say("GET tmp1").await, "VALUE x");
    assert!(writer.say("SET prod x").await.starts_with("DENIED"));
    assert_eq!(
        f.target.lock().unwrap().get("tmp1").map(String::as_str),
        Some("x")
    );
    assert_eq!(f.target.lock().unwrap().get("prod"), None);
    assert!(agent.opened() >= 1, "the session was opened by the agent");
}
