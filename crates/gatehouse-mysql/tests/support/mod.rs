//! A gateway in front of the real MariaDB at 127.0.0.1:3306 for the adapter's tests: a real
//! Cedar policy, a real SQLite store and audit log, a self-signed TLS certificate, one
//! database per test (created as root), and the `mariadb` CLI and Python drivers as clients.
//! Without the server or a client program the tests print a skip, and fail when CI is set.

#![allow(dead_code)]

mod clients;
pub mod raw;

pub use clients::{available, root};

use gatehouse_core::{ConnectionInfo, IdentityKind, SQL_PROTOCOL, SecretString};
use gatehouse_mask::{ColumnRuleConfig, HashKey, MaskConfig, Masker, Strategy};
use gatehouse_mysql::{MYSQL, MysqlGateway, MysqlLimits, MysqlLogin, MysqlTargets, UpstreamTls};
use gatehouse_pipeline::{AuditEvent, AuditEventKind, Pipeline};
use gatehouse_policy::{PolicyEngine, PolicySchema};
use gatehouse_recording::LocalDirStorage;
use gatehouse_session::{LiveSessions, LoginLevels, LoginRule};
use gatehouse_store::{
    AuditFilter, AuditKey, AuditLog, AuditOptions, DurabilitySettings, NewKey, Store,
};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CONNECTION: &str = "demo-mysql";

/// Readers read; analysts do anything but see data unmasked; holders' statements need an
/// approval; cappers read and may change one row per statement; writers do anything, including what
/// gatehouse cannot classify.
/// The policy set of `source`, as the fixture's engine reads it.
pub fn engine(source: &str) -> Arc<PolicyEngine> {
    let schema = PolicySchema::new(&[&SQL_PROTOCOL]).unwrap();
    Arc::new(
        PolicyEngine::from_sources(&[("p.cedar".to_owned(), source.to_owned())], &schema).unwrap(),
    )
}

pub const POLICY: &str = r#"
@id("readers-read")
permit (
  principal in Gatehouse::Group::"readers",
  action in [Gatehouse::Action::"connect", Gatehouse::Action::"sql:select", Gatehouse::Action::"sql:session"],
  resource
);

@id("analysts-all-but-unmasked")
permit (
  principal in Gatehouse::Group::"analysts",
  action,
  resource
) when { action != Gatehouse::Action::"data:unmasked" };

@id("holders-connect")
permit (principal in Gatehouse::Group::"holders", action == Gatehouse::Action::"connect", resource);

@id("holders-need-approval")
@approval("admins")
permit (
  principal in Gatehouse::Group::"holders",
  action in [Gatehouse::Action::"sql:unknown", Gatehouse::Action::"sql:select", Gatehouse::Action::"sql:delete"],
  resource
);

@id("cappers-connect")
permit (
  principal in Gatehouse::Group::"cappers",
  action in [Gatehouse::Action::"connect", Gatehouse::Action::"sql:session", Gatehouse::Action::"sql:select"],
  resource
);

@id("cappers-capped")
@max_rows("1")
permit (
  principal in Gatehouse::Group::"cappers",
  action in [Gatehouse::Action::"sql:unknown", Gatehouse::Action::"sql:update", Gatehouse::Action::"sql:delete"],
  resource
);

@id("writers-write")
permit (
  principal in Gatehouse::Group::"writers",
  action,
  resource
);
"#;

/// How a test's gateway differs from the plain one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Results are masked (see [`masker`]).
    pub masked: bool,
    /// Analysts log in as a read-only account (`read`), auditors as a level no login exists
    /// for (`audit`), everyone else as root (`admin`).
    pub login_levels: bool,
    /// Sessions are recorded, with their result rows.
    pub recorded: bool,
}

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub recordings: Arc<LocalDirStorage>,
    pub store: Store,
    pub pipeline: Pipeline,
    pub log: AuditLog,
    pub live: Arc<LiveSessions>,
    pub address: SocketAddr,
    pub database: String,
    /// The gateway's TLS certificate (DER), for clients that verify it.
    pub certificate: Vec<u8>,
    _shutdown: tokio::sync::watch::Sender<bool>,
}

fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, Vec<u8>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        certified.cert.der().to_vec(),
    )
}

/// The masking of the test connection: `ssn` columns redacted, every detector on.
pub fn masker() -> Arc<Masker> {
    let config = MaskConfig {
        columns: vec![ColumnRuleConfig {
            name: Some("ssn".to_owned()),
            types: Vec::new(),
            strategy: Strategy::Redact,
            allow: Vec::new(),
        }],
        ..MaskConfig::default()
    };
    Arc::new(Masker::new(&config, HashKey::new([7u8; 32])).unwrap())
}

impl Fixture {
    /// A gateway for test `name`, whose database `gh_mysql_<name>` holds table `items`.
    pub async fn start(name: &str, masked: bool) -> Fixture {
        Fixture::start_with(
            name,
            Options {
                masked,
                ..Options::default()
            },
        )
        .await
    }

    pub async fn start_with(name: &str, options: Options) -> Fixture {
        let masked = options.masked;
        let database = format!("gh_mysql_{name}");
        let setup = format!(
            "DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}; USE {database};
             CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(100), ssn VARCHAR(20), score INT, card BIGINT);
             INSERT INTO items VALUES (1, 'apple', 'ann@example.com', '123-45-6789', 10, 4111111111111111), (2, 'pear', 'bob@example.com', '987-65-4321', 20, 7);"
        );
        let created = root(&["-e", &setup]).unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        let reader = format!("gh_read_{name}");
        let account = format!(
            "DROP USER IF EXISTS '{reader}'@'%'; CREATE USER '{reader}'@'%' IDENTIFIED BY 'reader-secret';
             GRANT SELECT ON {database}.* TO '{reader}'@'%';"
        );
        let created = root(&["-e", &account]).unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
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
        let mut pipeline = Pipeline::new(engine(POLICY), Arc::new(log.clone()))
            .with_approvals(Arc::new(store.clone()), Duration::from_secs(600));
        if options.recorded {
            pipeline = pipeline.with_recordings(recordings.clone());
        }
        let login = MysqlLogin {
            host: "127.0.0.1".to_owned(),
            port: 3306,
            user: "root".to_owned(),
            password: None,
            database: database.clone(),
            tls: UpstreamTls::Disable,
        };
        let read_login = MysqlLogin {
            user: reader,
            password: Some(SecretString::new("reader-secret")),
            ..login.clone()
        };
        let targets = MysqlTargets::new(
            HashMap::from([
                ((CONNECTION.to_owned(), "admin".to_owned()), login),
                ((CONNECTION.to_owned(), "read".to_owned()), read_login),
            ]),
            Duration::from_secs(5),
        );
        let rule = |level: &str, group: &str| LoginRule {
            level: level.to_owned(),
            groups: vec![group.to_owned()],
        };
        let login_levels = if options.login_levels {
            HashMap::from([(
                CONNECTION.to_owned(),
                LoginLevels::new(
                    vec![rule("read", "analysts"), rule("audit", "auditors")],
                    "admin",
                ),
            )])
        } else {
            HashMap::new()
        };
        let connection = Arc::new(ConnectionInfo {
            name: CONNECTION.to_owned(),
            kind: MYSQL,
            environment: "test".to_owned(),
            tags: Vec::new(),
            description: String::new(),
        });
        let live = Arc::new(LiveSessions::default());
        let (tls, certificate) = tls_acceptor();
        let masking = if masked {
            HashMap::from([(CONNECTION.to_owned(), masker())])
        } else {
            HashMap::new()
        };
        let gateway = Arc::new(MysqlGateway {
            pipeline: pipeline.clone(),
            authenticator: Arc::new(store.clone()),
            connector: Arc::new(targets),
            connections: HashMap::from([(CONNECTION.to_owned(), connection)]),
            login_levels,
            masking,
            record_results: if options.recorded {
                HashSet::from([CONNECTION.to_owned()])
            } else {
                HashSet::new()
            },
            tls,
            live: live.clone(),
            limits: MysqlLimits {
                max_message: 1024 * 1024,
                ..MysqlLimits::default()
            },
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(gatehouse_mysql::serve(gateway, listener, stop));
        Fixture {
            _dir: dir,
            recordings,
            store,
            pipeline,
            log,
            live,
            address,
            database,
            certificate,
            _shutdown: shutdown,
        }
    }

    pub async fn key(&self, subject: &str, groups: &[&str]) -> String {
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

    /// The audit events so far, waiting until `until` holds for them (at most 10 s).
    pub async fn events_until(&self, until: impl Fn(&[AuditEvent]) -> bool) -> Vec<AuditEvent> {
        let started = Instant::now();
        loop {
            let events: Vec<AuditEvent> = self
                .log
                .read(&AuditFilter {
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_iter()
                .map(|stored| stored.event)
                .collect();
            if until(&events) || started.elapsed() > Duration::from_secs(10) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The statement events of `events` (decisions of requests), as (action, text, decision).
pub fn statements(events: &[AuditEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|e| e.kind == AuditEventKind::Request)
        .map(|e| {
            (
                e.action.clone().unwrap_or_default(),
                e.request.clone().unwrap_or_default(),
                e.decision.map(|d| format!("{d:?}")).unwrap_or_default(),
            )
        })
        .collect()
}
