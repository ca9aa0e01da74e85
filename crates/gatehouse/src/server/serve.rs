//! `gatehouse serve`: build the gateway from configuration and run its listeners until
//! SIGTERM or Ctrl-C; SIGHUP reloads the policy files (and the connections of the
//! configuration file, where that is safe).

use crate::config::ConnectionConfig;
use crate::config::setup::Setup;
use anyhow::{Context, Result};
use gatehouse_pg::{
    BuiltinConnector, ConnectionSettings, ConnectionSettingsInForce, PgConnector, PgGateway,
    PgLogin, PgLogins, PostgresTargets,
};
use gatehouse_pipeline::{AuditEventKind, Durability, Pipeline};
use gatehouse_session::TargetConnector;
use gatehouse_sql::Classifier;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Distinct SQL texts whose classification is kept in memory.
const CLASSIFIER_CACHE: usize = 10_000;

/// How long start waits for the connections' rewrite rules before listening anyway.
const RULES_AT_START: std::time::Duration = std::time::Duration::from_secs(3);

pub async fn run(config_path: Option<&Path>, data_dir: Option<&Path>) -> Result<ExitCode> {
    let setup = Arc::new(Setup::load(config_path, data_dir)?);
    setup.ensure_data_dir()?;
    let config = &setup.config;
    if config_path.is_none() {
        tracing::info!(data_dir = %setup.data_dir.display(), "no --config given: running the quickstart configuration");
    }
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    tracing::info!(
        workers,
        "sessions and listeners run on {workers} worker threads (`worker_threads` sets how many)"
    );
    metrics::gauge!("gatehouse_worker_threads")
        .set(f64::from(u32::try_from(workers).unwrap_or(u32::MAX)));
    let policy = LoadedPolicy::load(&setup)?;
    let webhook = config
        .approvals
        .webhook
        .as_ref()
        .map(|webhook| crate::server::webhook::Notifier::from_config(webhook, config))
        .transpose()?;
    if let Some(notifier) = &webhook {
        tracing::info!(receiver = %notifier.shown(), "approval notifications go to a webhook");
    }
    let signer = crate::server::identity::load_or_create_signer(
        &crate::server::identity::token_key_file(config, &setup.data_dir),
    )?;
    let providers = Arc::new(crate::server::identity::Providers::from_config(config)?);
    let store = setup.store().await?.with_token_verifier(signer.verifier());
    let audit = setup.audit_log(&store)?;
    record_start(&audit, &policy.engine).await?;
    let pipeline = pipeline(&setup, policy.engine.clone(), &store, &audit)?;
    let (cert, server_tls) = client_tls(&setup)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls.clone());
    let dialled = Dialled::prepare(&setup).await?;
    let agents = agent_listener(
        &setup,
        dialled.agent_routes.clone(),
        &store,
        &audit,
        &providers,
        &acceptor,
    )
    .await?;
    let live = Arc::new(gatehouse_session::LiveSessions::default());
    let gateway = Arc::new(pg_gateway(
        &setup,
        dialled,
        agents.as_ref().map(|(hub, _)| hub.clone()),
        pipeline.clone(),
        &store,
        acceptor,
        live.clone(),
    )?);
    let connections_reload = config_path.map(|path| {
        crate::server::connections_reload::ConnectionsReload::new(
            path.to_path_buf(),
            data_dir.map(Path::to_path_buf),
            &setup,
            gateway.clone(),
        )
    });
    let reloader = Arc::new(crate::server::policy_reload::PolicyReloader::new(
        policy.files,
        policy.schema,
        pipeline,
        audit.clone(),
        connections_reload,
    ));
    #[cfg(unix)]
    tokio::spawn(crate::server::policy_reload::on_sighup(
        reloader.clone(),
        crate::server::operator::operator(),
    ));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let listener_parts = crate::server::http_listener::ListenerParts {
        pipeline: &gateway.pipeline,
        store: &store,
        live: &live,
        server_tls: &server_tls,
        shutdown: &shutdown_rx,
        agents: agents.as_ref().map(|(hub, _)| hub),
    };
    let kubernetes = crate::server::kubernetes::prepare(&setup, &listener_parts).await?;
    let http_api = crate::server::http_api::prepare(&setup, &listener_parts).await?;
    let ssh = crate::server::ssh::prepare(&setup, &listener_parts).await?;
    let mysql = crate::server::mysql::prepare(&setup, &listener_parts).await?;
    let pg_listener = bind(config.postgres.listen, "PostgreSQL clients").await?;
    let admin_listener = bind(config.admin.listen, "admin HTTP").await?;
    let addresses = Listeners {
        postgres: pg_listener.local_addr()?,
        admin: admin_listener.local_addr()?,
        agents: match &agents {
            Some((_, listener)) => Some(listener.local_addr()?),
            None => None,
        },
        kubernetes: kubernetes.as_ref().map(|k| k.address),
        http: http_api.as_ref().map(|h| h.address),
        ssh: ssh.as_ref().map(|s| s.address),
        mysql: mysql.as_ref().map(|m| m.address),
    };
    let pg_addr = addresses.postgres;
    let ssh_issuer = match &ssh {
        Some(listener) => Some(Arc::new(crate::server::ssh::SshIssuer::new(
            &setup,
            &store,
            gateway.pipeline.clone(),
            listener.address,
        )?)),
        None => None,
    };
    announce(&setup, &gateway, &addresses);
    write_listeners_file(&setup.data_dir, &addresses)?;
    let kubernetes = kubernetes.map(|k| tokio::spawn(k.serve()));
    let http_api = http_api.map(|h| tokio::spawn(h.serve()));
    let ssh = ssh.map(|s| tokio::spawn(s.serve()));
    let mysql = mysql.map(|m| tokio::spawn(m.serve()));

    let pg = tokio::spawn(gatehouse_pg::serve(
        gateway,
        pg_listener,
        shutdown_rx.clone(),
    ));
    let hub = agents.map(|(hub, listener)| {
        tokio::spawn(hub.clone().serve(listener, shutdown_rx.clone()));
        hub
    });
    tokio::spawn(crate::server::revocation_watch::run(
        store.clone(),
        live.clone(),
        hub,
        shutdown_rx.clone(),
    ));
    if let Some(notifier) = webhook {
        tokio::spawn(crate::server::webhook::run(
            store.clone(),
            notifier,
            shutdown_rx.clone(),
        ));
    }
    let admin_apis = AdminApis {
        setup: setup.clone(),
        store: store.clone(),
        audit: audit.clone(),
        reloader,
        providers,
        signer,
        pg_addr,
        cert,
        ssh: ssh_issuer,
        live,
    };
    let admin = tokio::spawn(admin_apis.serve(admin_listener, metrics, shutdown_rx));
    wait_for_signal().await;
    tracing::info!("shutting down: no new sessions; open sessions get the grace period to finish");
    let _ = shutdown_tx.send(true);
    let _ = pg.await;
    let _ = admin.await;
    if let Some(kubernetes) = kubernetes {
        let _ = kubernetes.await;
    }
    if let Some(http_api) = http_api {
        let _ = http_api.await;
    }
    if let Some(ssh) = ssh {
        let _ = ssh.await;
    }
    if let Some(mysql) = mysql {
        let _ = mysql.await;
    }
    if let Err(error) = audit.flush().await {
        tracing::error!(%error, "the audit log could not be flushed and checkpointed at shutdown");
    }
    store.close().await;
    let _ = std::fs::remove_file(setup.data_dir.join(LISTENERS_FILE));
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The policy set `serve` starts with, and what reloading it needs.
struct LoadedPolicy {
    files: Vec<std::path::PathBuf>,
    schema: gatehouse_policy::PolicySchema,
    engine: Arc<gatehouse_policy::PolicyEngine>,
}

impl LoadedPolicy {
    fn load(setup: &Setup) -> Result<Self> {
        let files = setup.policy_files()?;
        let schema = crate::server::protocols::policy_schema()?;
        let engine = Arc::new(
            gatehouse_policy::PolicyEngine::load_files(&files, &schema)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        tracing::info!(version = engine.version(), policies = engine.policy_ids().len(), files = ?files, "policy loaded");
        for warning in engine.warnings() {
            tracing::warn!("policy: {warning}");
        }
        Ok(LoadedPolicy {
            files,
            schema,
            engine,
        })
    }
}

/// Check the audit log reaches its checkpoint and record, fsynced, which policy gatehouse
/// starts with: no audit log, no start.
async fn record_start(
    audit: &gatehouse_store::AuditLog,
    policy: &gatehouse_policy::PolicyEngine,
) -> Result<()> {
    audit.ensure_reaches_checkpoint().await?;
    audit
        .append(
            &[crate::server::operator::operator_event(
                AuditEventKind::PolicyChange,
                "policy:load",
                Some(format!(
                    "gatehouse started with policy set version {} ({} policies)",
                    policy.version(),
                    policy.policy_ids().len()
                )),
            )],
            Durability::Synced,
        )
        .await
        .map_err(anyhow::Error::msg)
        .context("cannot write to the audit log; gatehouse does not start without one")?;
    Ok(())
}

/// The enforcement pipeline: policy, audit, approvals, grants, and recordings when on (with
/// their retention sweep).
fn pipeline(
    setup: &Setup,
    policy: Arc<gatehouse_policy::PolicyEngine>,
    store: &gatehouse_store::Store,
    audit: &gatehouse_store::AuditLog,
) -> Result<Pipeline> {
    let config = &setup.config;
    let mut pipeline = Pipeline::new(policy, audit_sink(audit))
        .with_approvals(Arc::new(store.clone()), config.approvals.pending_ttl)
        .with_access_grants(Arc::new(store.clone()))
        .with_change_sync(config.audit.fsync_changes);
    if config.recording.enabled {
        let storage = setup.recording_storage(store)?;
        if config.recording.retain_days > 0 {
            tokio::spawn(crate::server::retention::sweep_periodically(
                storage.clone(),
                audit.clone(),
                config.recording.retain_days,
            ));
        }
        pipeline = pipeline.with_recordings(storage);
    }
    Ok(pipeline)
}

/// The client-facing certificate (configured, or generated on first start) and the TLS
/// configuration that serves it.
fn client_tls(setup: &Setup) -> Result<(std::path::PathBuf, Arc<rustls::ServerConfig>)> {
    let config = &setup.config;
    let configured = config
        .tls
        .cert_file
        .as_ref()
        .zip(config.tls.key_file.as_ref())
        .map(|(c, k)| (config.resolve(c), config.resolve(k)));
    let (cert, key, generated) =
        crate::server::tls::ensure_certificate(&setup.data_dir, configured)?;
    if generated {
        tracing::info!(certificate = %cert.display(), "generated a self-signed TLS certificate");
    }
    let config = crate::server::tls::server_config(&cert, &key)?;
    Ok((cert, config))
}

/// What the configured connections become at start: the ones clients may name, the server
/// logins of those the gateway dials itself (provisioned for the quickstart, checked in the
/// background) with their rewrite rules being read, and the agents that serve the others.
struct Dialled {
    connections: HashMap<String, Arc<gatehouse_core::ConnectionInfo>>,
    logins: PgLogins,
    login_levels: HashMap<String, gatehouse_pg::LoginLevels>,
    agent_routes: HashMap<String, Vec<String>>,
    rules: HashMap<String, Arc<gatehouse_pg::RuleBook>>,
}

impl Dialled {
    async fn prepare(setup: &Setup) -> Result<Dialled> {
        let config = &setup.config;
        let mut dialled = Dialled {
            connections: HashMap::new(),
            logins: PgLogins::default(),
            login_levels: HashMap::new(),
            agent_routes: HashMap::new(),
            rules: HashMap::new(),
        };
        for connection in &config.connections {
            if connection.kind != gatehouse_core::ConnectionKind::POSTGRES {
                // Other kinds' adapters dial their own targets; the hub routes their agents.
                if !connection.agents.is_empty() {
                    dialled
                        .agent_routes
                        .insert(connection.name.clone(), connection.agents.clone());
                }
                continue;
            }
            dialled
                .connections
                .insert(connection.name.clone(), Arc::new(connection.info()));
            if let Some(levels) = connection.login_levels() {
                dialled.login_levels.insert(connection.name.clone(), levels);
            }
            if !connection.agents.is_empty() {
                dialled
                    .agent_routes
                    .insert(connection.name.clone(), connection.agents.clone());
                continue;
            }
            let unavailable = if setup.quickstart {
                crate::server::quickstart_logins::provision(setup, connection)
                    .await
                    .err()
            } else {
                None
            };
            let connection_logins = crate::server::logins::connector_logins(
                connection,
                &config.base_dir,
                unavailable.as_deref(),
            )?;
            warn_unset_passwords(connection, &connection_logins);
            tokio::spawn(crate::server::logins::check(
                connection.name.clone(),
                crate::server::logins::exposed_logins(connection, &connection_logins),
                config.postgres.connect_timeout,
            ));
            let book = Arc::new(gatehouse_pg::RuleBook::default());
            tokio::spawn(crate::server::rule_watch::watch(
                connection.name.clone(),
                connection.target_in(&config.base_dir)?,
                book.clone(),
                config.postgres.connect_timeout,
            ));
            dialled.rules.insert(connection.name.clone(), book);
            for (level, login) in connection_logins {
                dialled.logins.insert(&connection.name, &level, login);
            }
        }
        crate::server::rule_watch::wait_for_first_reads(dialled.rules.values(), RULES_AT_START)
            .await;
        Ok(dialled)
    }
}

/// The agent hub and its listener, when some connection is served by agents.
async fn agent_listener(
    setup: &Setup,
    routes: HashMap<String, Vec<String>>,
    store: &gatehouse_store::Store,
    audit: &gatehouse_store::AuditLog,
    providers: &Arc<crate::server::identity::Providers>,
    acceptor: &tokio_rustls::TlsAcceptor,
) -> Result<Option<(Arc<gatehouse_tunnel::AgentHub>, TcpListener)>> {
    if routes.is_empty() {
        return Ok(None);
    }
    let authority = crate::server::agent_authority::StoreAuthority {
        store: store.clone(),
        audit: audit.clone(),
        providers: providers.clone(),
    };
    let hub = gatehouse_tunnel::AgentHub::new(Arc::new(authority), acceptor.clone(), routes);
    let listen = setup.config.agents.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen for agents on {listen} ([agents] listen)"))?;
    Ok(Some((hub, listener)))
}

/// The PostgreSQL adapter's gateway: connections dialled directly or through the agents'
/// tunnels (`hub`), the connections' reloadable settings, and the listener's limits.
fn pg_gateway(
    setup: &Setup,
    dialled: Dialled,
    hub: Option<Arc<gatehouse_tunnel::AgentHub>>,
    pipeline: Pipeline,
    store: &gatehouse_store::Store,
    acceptor: tokio_rustls::TlsAcceptor,
    live: Arc<gatehouse_session::LiveSessions>,
) -> Result<PgGateway> {
    let config = &setup.config;
    let settings = config.pg_settings();
    let builtin = BuiltinConnector::new(
        dialled.logins,
        config.postgres.connect_timeout,
        settings.max_server_message,
    );
    let builtin: Arc<dyn TargetConnector> = Arc::new(PostgresTargets::new(Arc::new(builtin)));
    let targets: Arc<dyn TargetConnector> = match hub {
        Some(hub) => Arc::new(gatehouse_tunnel::RoutedConnector::new(builtin, hub)),
        None => builtin,
    };
    let connection_settings = ConnectionSettings {
        connections: dialled.connections,
        masking: setup.maskings()?,
        record_results: config
            .connections
            .iter()
            .filter(|c| c.record_results)
            .map(|c| c.name.clone())
            .collect(),
    };
    Ok(PgGateway {
        pipeline,
        authenticator: Arc::new(store.clone()),
        connector: Arc::new(PgConnector::new(targets)),
        connection_settings: ConnectionSettingsInForce::new(connection_settings),
        logins: dialled.login_levels,
        classifier: Arc::new(Classifier::new(CLASSIFIER_CACHE)),
        tls: Some(acceptor),
        settings,
        cancels: Default::default(),
        live,
        rules: dialled.rules,
    })
}

async fn bind(address: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen for {what} on {address}"))
}

/// Where the listeners are bound.
struct Listeners {
    postgres: SocketAddr,
    admin: SocketAddr,
    agents: Option<SocketAddr>,
    kubernetes: Option<SocketAddr>,
    http: Option<SocketAddr>,
    ssh: Option<SocketAddr>,
    mysql: Option<SocketAddr>,
}

/// Say where the listeners are.
fn announce(setup: &Setup, gateway: &PgGateway, addresses: &Listeners) {
    let names = |kind: gatehouse_core::ConnectionKind| {
        setup
            .config
            .connections
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pg_addr = addresses.postgres;
    let admin_addr = addresses.admin;
    tracing::info!(
        "PostgreSQL listener on {pg_addr} (TLS {}; connections: {})",
        if gateway.settings.require_tls {
            "required"
        } else {
            "optional"
        },
        names(gatehouse_core::ConnectionKind::POSTGRES)
    );
    if let Some(addr) = addresses.kubernetes {
        tracing::info!(
            "Kubernetes listener on https://{addr}/c/CONNECTION (connections: {}; `gatehouse kubeconfig CONNECTION` writes a kubeconfig)",
            names(crate::config::kubernetes::KUBERNETES)
        );
    }
    if let Some(addr) = addresses.http {
        tracing::info!(
            "HTTP API listener on https://{addr}/c/CONNECTION/ (connections: {}; clients send `Authorization: Bearer <gatehouse token>`, or use `gatehouse connect CONNECTION --port N`)",
            names(crate::config::http::HTTP)
        );
    }
    if let Some(addr) = addresses.ssh {
        tracing::info!(
            "SSH listener on {addr} (connections: {}; `ssh -p {} CONNECTION@{}` with a gatehouse token as the password, or `gatehouse ssh-cert` for a certificate)",
            names(crate::config::ssh::SSH),
            addr.port(),
            addr.ip()
        );
    }
    if let Some(addr) = addresses.mysql {
        tracing::info!(
            "MySQL listener on {addr} (TLS required; connections: {}; `mariadb -h {} -P {} -u YOU -p\"$(gatehouse token)\" --ssl-ca CA --ssl-verify-server-cert CONNECTION`)",
            names(crate::config::mysql::MYSQL),
            addr.ip(),
            addr.port()
        );
    }
    tracing::info!(
        "admin HTTP listener on http://{admin_addr} (/healthz, /metrics, /v1/approvals, /v1/token, /v1/login, /v1/policy/reload, /v1/sessions, /v1/ssh, /mcp)"
    );
    if let Some(addr) = addresses.agents {
        tracing::info!("agent listener on {addr} (TLS; agents dial in here)");
    }
}

/// What the admin listener serves: the reviewer API, policy reload, MCP, token exchange and
/// login metadata.
struct AdminApis {
    setup: Arc<Setup>,
    store: gatehouse_store::Store,
    audit: gatehouse_store::AuditLog,
    reloader: Arc<crate::server::policy_reload::PolicyReloader>,
    providers: Arc<crate::server::identity::Providers>,
    signer: gatehouse_identity::TokenSigner,
    pg_addr: SocketAddr,
    cert: std::path::PathBuf,
    /// What `/v1/ssh` issues certificates with, when there is an SSH listener.
    ssh: Option<Arc<crate::server::ssh::SshIssuer>>,
    /// The live sessions `POST /v1/sessions/{id}/kill` ends.
    live: Arc<gatehouse_session::LiveSessions>,
}

impl AdminApis {
    async fn serve(
        self,
        listener: TcpListener,
        metrics: metrics_exporter_prometheus::PrometheusHandle,
        shutdown: watch::Receiver<bool>,
    ) {
        let config = &self.setup.config;
        let approvals_api = crate::http::approvals::ApiState {
            store: self.store.clone(),
            audit: self.audit.clone(),
        };
        let policy_api = crate::http::policy::routes(crate::http::policy::PolicyApi {
            api: approvals_api.clone(),
            reloader: self.reloader,
            admin_groups: config.admin.groups.clone(),
        })
        .merge(crate::http::ssh::routes(crate::http::ssh::SshApi {
            api: approvals_api.clone(),
            issuer: self.ssh,
        }))
        .merge(crate::http::sessions::routes(
            crate::http::sessions::SessionsApi {
                api: approvals_api.clone(),
                live: self.live,
                admin_groups: config.admin.groups.clone(),
            },
        ));
        let token_exchange = crate::http::token::routes(crate::http::token::TokenApi::new(
            self.providers,
            self.signer,
            self.audit.clone(),
            self.store.clone(),
            config.tokens.ttl,
            config.tokens.exchanges_per_minute,
        ))
        .merge(crate::http::login::routes(&config.identity_providers));
        let mcp = crate::mcp::routes(
            crate::mcp::Base::in_gateway(
                self.setup.clone(),
                self.store,
                self.audit,
                self.pg_addr,
                self.cert,
            ),
            shutdown.clone(),
        );
        crate::http::admin::serve(
            listener,
            metrics,
            approvals_api,
            mcp,
            token_exchange,
            policy_api,
            shutdown,
        )
        .await;
    }
}

/// A login whose `password_env` is not set logs in without a password: fine for trust
/// authentication, a surprise otherwise.
fn warn_unset_passwords(connection: &ConnectionConfig, logins: &[(String, PgLogin)]) {
    for (level, login) in logins {
        let PgLogin::Ready(target) = login else {
            continue;
        };
        let variable = match connection.login(level) {
            Some(entry) if level != gatehouse_core::ADMIN_LOGIN_LEVEL => {
                entry.password_env.as_ref()
            }
            _ => connection.password_env.as_ref(),
        };
        if let (Some(var), None) = (variable, &target.password) {
            tracing::warn!(
                "connection `{}`: environment variable `{var}` is not set, so gatehouse will log in to the \
                 server as `{}` (level `{level}`) without a password (fine for trust authentication; otherwise export `{var}`)",
                connection.name,
                target.user
            );
        }
    }
}

/// The sink decisions are recorded into: the audit log (always, in any build meant for use).
#[cfg(not(feature = "bench-unaudited"))]
fn audit_sink(audit: &gatehouse_store::AuditLog) -> Arc<dyn gatehouse_pipeline::AuditSink> {
    Arc::new(audit.clone())
}

/// The `bench-unaudited` build records nothing, so that bench/pgbench.sh can measure what the
/// audit log costs against the same binary without it.
#[cfg(feature = "bench-unaudited")]
fn audit_sink(_: &gatehouse_store::AuditLog) -> Arc<dyn gatehouse_pipeline::AuditSink> {
    tracing::error!(
        "THIS IS A BENCHMARK BUILD (feature bench-unaudited): decisions are NOT recorded; never use it for real traffic"
    );
    Arc::new(crate::server::unaudited::DiscardingSink::default())
}

/// Name of the file, in the data directory, that says where the listeners actually are (useful
/// when the config asks for port 0, and for scripts that wait for the gateway to be ready).
pub const LISTENERS_FILE: &str = "listeners.json";

/// Where the gateway running with `data_dir` says its listener `name` (`admin`, `http`, ...)
/// is, if it is running and has that listener.
pub fn running_listener(data_dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(data_dir.join(LISTENERS_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|value| value.get(name)?.as_str().map(str::to_owned))
}

fn write_listeners_file(data_dir: &Path, addresses: &Listeners) -> Result<()> {
    let path = data_dir.join(LISTENERS_FILE);
    let body = serde_json::json!({
        "postgres": addresses.postgres.to_string(),
        "admin": addresses.admin.to_string(),
        "agents": addresses.agents.map(|a| a.to_string()),
        "kubernetes": addresses.kubernetes.map(|a| a.to_string()),
        "http": addresses.http.map(|a| a.to_string()),
        "ssh": addresses.ssh.map(|a| a.to_string()),
        "mysql": addresses.mysql.map(|a| a.to_string()),
        "pid": std::process::id(),
    });
    let staging = data_dir.join(format!("{LISTENERS_FILE}.tmp"));
    std::fs::write(&staging, body.to_string())
        .and_then(|()| std::fs::rename(&staging, &path))
        .with_context(|| format!("cannot write `{}`", path.display()))
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
