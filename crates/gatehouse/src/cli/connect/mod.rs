//! `gatehouse connect`: a PostgreSQL listener on loopback that lets any PostgreSQL client (psql,
//! a GUI, a driver) use the gateway without ever handling a token.
//!
//! Tokens are short-lived and refreshed, so pasting one into a password field or a connection
//! string does not work for long and leaks it into shell history and config files. Instead the
//! client connects here in plaintext over loopback with no password; for each connection this
//! command reads the current token (`client_token::find`: --token-file, GATEHOUSE_TOKEN, else
//! the token `gatehouse login` stored; never cached across connections), opens verified TLS to the gateway and authenticates with the token as
//! `gatehouse` (the token decides who you are), then splices bytes both ways. The gateway's
//! policy, masking, approvals and audit log apply exactly as for a direct client.
//!
//! `local` reads the local client's startup; `gateway` dials the gateway, authenticates and
//! forwards cancel requests.

mod gateway;
mod http;
mod local;
mod mysql;

use crate::cli::args::{ConnectArgs, OutputFormat};
use crate::config::setup::Setup;
use crate::server::tls::generated_cert_path;
use anyhow::{Context, Result, bail};
use gatehouse_pg::wire::{self, Severity};
use gateway::Gateway;
use local::LocalStartup;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Local clients served at once; more are refused with SQLSTATE 53300.
const MAX_CLIENTS: usize = 256;
/// Connections past `MAX_CLIENTS` still read far enough to be told why (or to relay their
/// cancel request); past this many more they are closed at once.
const MAX_REFUSING: usize = 64;
/// From accepting a local client to its first `ReadyForQuery`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: ConnectArgs,
) -> Result<ExitCode> {
    if !args.listen.is_loopback() {
        bail!(
            "--listen {} is not a loopback address: every client of `gatehouse connect` acts as you (it adds your token), \
             so it listens only on 127.0.0.1 or ::1, where only this machine can reach it",
            args.listen
        );
    }
    // With the gateway's own config at hand (--config), the connection's kind and the HTTP
    // listener's address (where the running gateway says it is) come from it: an HTTP
    // connection needs no --http.
    let setup = match config {
        Some(_) => Some(Setup::load(config, data_dir)?),
        None => None,
    };
    let configured_http = setup.as_ref().and_then(|setup| {
        setup
            .config
            .connections
            .iter()
            .any(|c| c.name == args.connection && c.kind == crate::config::http::HTTP)
            .then(|| {
                crate::server::serve::running_listener(&setup.data_dir, "http")
                    .unwrap_or_else(|| setup.config.http.listen.to_string())
            })
    });
    let configured_mysql = setup.as_ref().and_then(|setup| {
        setup
            .config
            .connections
            .iter()
            .any(|c| c.name == args.connection && c.kind == crate::config::mysql::MYSQL)
            .then(|| {
                crate::server::serve::running_listener(&setup.data_dir, "mysql")
                    .unwrap_or_else(|| setup.config.mysql.listen.to_string())
            })
    });
    let http = args.http || configured_http.is_some();
    let mysql = args.mysql || configured_mysql.is_some();
    let ca_file = match (&args.ca_file, &setup) {
        (Some(file), _) => file.clone(),
        (None, Some(setup)) => generated_cert_path(&setup.data_dir),
        (None, None) => generated_cert_path(&Setup::load(config, data_dir)?.data_dir),
    };
    let default_gateway = match (http, configured_http, mysql, configured_mysql) {
        (true, Some(listen), _, _) | (_, _, true, Some(listen)) => listen,
        (true, None, _, _) => crate::config::http::QUICKSTART_HTTP_LISTEN.to_owned(),
        (_, _, true, None) => crate::config::mysql::QUICKSTART_MYSQL_LISTEN.to_owned(),
        (false, _, false, _) => crate::config::QUICKSTART_PG_LISTEN.to_owned(),
    };
    let gateway_address = args.gateway.clone().unwrap_or(default_gateway);
    if http {
        let forwarder = http::HttpForwarder::new(
            &gateway_address,
            &ca_file,
            &args.connection,
            args.token_file.as_deref(),
        )?;
        return serve_until_stopped(&args, Served::Http, &gateway_address, |listener| {
            Arc::new(forwarder).serve(listener, stop_signal())
        })
        .await;
    }
    let target = GatewayTarget::new(
        &gateway_address,
        &ca_file,
        &args.connection,
        args.token_file.as_deref(),
    )?;
    if mysql {
        let forwarder = mysql::MysqlForwarder { target };
        return serve_until_stopped(&args, Served::Mysql, &gateway_address, |listener| {
            Arc::new(forwarder).serve(listener, stop_signal())
        })
        .await;
    }
    let gateway = Gateway { target };
    let (listener, listen) = listen_locally(&args).await?;
    announce(&args, Served::Postgres, &gateway_address, listen);

    let context = Arc::new(gateway);
    let sessions = Arc::new(Semaphore::new(MAX_CLIENTS));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut tasks = JoinSet::new();
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let slot = match sessions.clone().try_acquire_owned() {
                        Ok(permit) => Slot { _permit: permit, full: false },
                        Err(_) => match refusing.clone().try_acquire_owned() {
                            Ok(permit) => Slot { _permit: permit, full: true },
                            Err(_) => {
                                tracing::warn!(client = %peer, "client closed at once: {MAX_CLIENTS} clients are connected and {MAX_REFUSING} more are being refused");
                                continue;
                            }
                        },
                    };
                    tasks.spawn(serve_client(context.clone(), stream, peer, slot));
                }
                Err(error) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(%error, "cannot accept a client");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let open = tasks.len();
    tasks.shutdown().await;
    tracing::info!("stopped; {open} open client connection(s) closed");
    Ok(ExitCode::SUCCESS)
}

/// Listen locally, say where, and serve with `serve` (an HTTP or MySQL forwarder) until
/// stopped.
async fn serve_until_stopped<S: Future<Output = ()>>(
    args: &ConnectArgs,
    served: Served,
    gateway: &str,
    serve: impl FnOnce(TcpListener) -> S,
) -> Result<ExitCode> {
    let (listener, listen) = listen_locally(args).await?;
    announce(args, served, gateway, listen);
    serve(listener).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// What kind of endpoint `gatehouse connect` serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Served {
    Postgres,
    Http,
    Mysql,
}

/// The gateway at `address` (HOST:PORT, from --gateway or the configuration), reached over TLS
/// verified against `ca_file` (gatehouse connect never sends a token any other way), and what
/// each session asks it for: the served connection, with the token from `token_file` (or the
/// usual places), read anew for every client.
pub(super) struct GatewayTarget {
    /// As given with --gateway, for messages.
    pub(super) address: String,
    host: String,
    port: u16,
    pub(super) server_name: rustls::pki_types::ServerName<'static>,
    pub(super) tls: tokio_rustls::TlsConnector,
    pub(super) connection: String,
    pub(super) token_file: Option<PathBuf>,
}

impl GatewayTarget {
    fn new(
        address: &str,
        ca_file: &Path,
        connection: &str,
        token_file: Option<&Path>,
    ) -> Result<GatewayTarget> {
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .with_context(|| format!("--gateway `{address}` is not HOST:PORT"))?;
        let server_name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .with_context(|| format!("`{host}` is not a valid TLS server name"))?;
        let config = gatehouse_pg::client_config_trusting(ca_file).context(
            "pass --ca-file with the gateway's CA certificate; gatehouse never skips verification",
        )?;
        Ok(GatewayTarget {
            address: address.to_owned(),
            host: host.to_owned(),
            port,
            server_name,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            connection: connection.to_owned(),
            token_file: token_file.map(Path::to_path_buf),
        })
    }

    /// A TCP connection to the gateway, without Nagle's delay.
    pub(super) async fn tcp(&self) -> std::io::Result<TcpStream> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }
}

/// The local listener (`--listen`, `--port`), after warning when there is no token to add
/// yet (clients are then refused until there is one).
async fn listen_locally(args: &ConnectArgs) -> Result<(TcpListener, SocketAddr)> {
    if let Err(error) = crate::client::token::find(args.token_file.as_deref()).await {
        tracing::warn!(
            "no usable token yet ({error:#}); clients will be refused until there is one"
        );
    }
    let bind = SocketAddr::new(args.listen, args.port);
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let listen = listener.local_addr()?;
    Ok((listener, listen))
}

/// Where we listen: for people on standard error, for programs as one JSON line on stdout.
fn announce(args: &ConnectArgs, served: Served, gateway: &str, listen: SocketAddr) {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
        .unwrap_or_else(|| gatehouse_pg::TOKEN_ONLY_USER.to_owned());
    if served == Served::Mysql {
        eprintln!(
            "gatehouse connect: serving MySQL connection `{}` through the gateway at {gateway} on {listen}\n\
             connect with no password (Ctrl-C stops):\n  mariadb -h {} -P {} -u {user} {}",
            args.connection,
            listen.ip(),
            listen.port(),
            args.connection,
        );
    } else if served == Served::Http {
        eprintln!(
            "gatehouse connect: serving HTTP connection `{}` through the gateway at {gateway} on http://{listen}\n\
             send requests with no Authorization header (Ctrl-C stops):\n  curl http://{listen}/",
            args.connection,
        );
    } else {
        eprintln!(
            "gatehouse connect: serving connection `{}` through the gateway at {gateway} on {listen}\n\
             connect with no password (Ctrl-C stops):\n  psql \"host={} port={} dbname={} user={user}\"",
            args.connection,
            listen.ip(),
            listen.port(),
            args.connection,
        );
    }
    if args.output.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::json!({
                "listen": listen.to_string(),
                "connection": args.connection,
                "gateway": gateway,
            })
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = terminate.recv() => {}
                () = ctrl_c() => {}
            }
            return;
        }
    }
    ctrl_c().await;
}

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No handler could be installed: never report a signal that did not come.
        std::future::pending::<()>().await;
    }
}

/// An accepted connection's place, held for its lifetime.
struct Slot {
    _permit: OwnedSemaphorePermit,
    /// Every session slot is taken: answer its startup with 53300 (or relay its cancel).
    full: bool,
}

/// One local connection, start to end; logs one line about it.
async fn serve_client(gateway: Arc<Gateway>, stream: TcpStream, peer: SocketAddr, slot: Slot) {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    let _ = stream.set_nodelay(true);
    let startup = match tokio::time::timeout_at(deadline, local::read_startup(stream)).await {
        Ok(Ok(startup)) => startup,
        Ok(Err(reason)) => {
            tracing::info!(client = %peer, "client refused: {reason}");
            return;
        }
        Err(_) => {
            tracing::info!(client = %peer, "client refused: no startup message within {STARTUP_TIMEOUT:?}");
            return;
        }
    };
    let mut client = match startup {
        LocalStartup::Cancel(key) => {
            match gateway.forward_cancel(key).await {
                Ok(()) => tracing::info!(client = %peer, "cancel request relayed to the gateway"),
                Err(error) => {
                    tracing::warn!(client = %peer, "cancel request could not be relayed: {error}");
                }
            }
            return;
        }
        LocalStartup::Client(client) => client,
    };
    if slot.full {
        let message = format!(
            "gatehouse connect already serves {MAX_CLIENTS} clients; close one or try again later"
        );
        refuse(&mut client.stream, "53300", &message, None).await;
        tracing::info!(client = %peer, "client refused: {message}");
        return;
    }
    if let Some(database) = client
        .foreign_database(&gateway.target.connection)
        .map(str::to_owned)
    {
        let message = format!(
            "this `gatehouse connect` listener serves connection `{}` only, not `{database}`: connect with dbname={}, \
             or start another `gatehouse connect {database}`",
            gateway.target.connection, gateway.target.connection
        );
        refuse(&mut client.stream, "3D000", &message, None).await;
        tracing::info!(client = %peer, database = ?database, "client refused: it asked for another connection");
        return;
    }
    if client.needs_negotiation()
        && client
            .stream
            .write_all(&wire::negotiate_protocol_version(
                0,
                &client.unknown_options,
            ))
            .await
            .is_err()
    {
        return;
    }
    let token = match crate::client::token::find(gateway.target.token_file.as_deref()).await {
        Ok(token) => token,
        Err(error) => {
            let message = format!("gatehouse connect has no usable token: {error:#}");
            let hint = "run `gatehouse login` (or fix --token-file / GATEHOUSE_TOKEN), then connect again (this listener keeps running)";
            refuse(&mut client.stream, "28000", &message, Some(hint)).await;
            tracing::info!(client = %peer, "client refused: {message}");
            return;
        }
    };
    let upstream = match tokio::time::timeout_at(deadline, gateway.open(&mut client, &token)).await
    {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(gateway::Failure::Refused(reason))) => {
            // The gateway's own ErrorResponse has been relayed to the client verbatim.
            tracing::info!(client = %peer, "the gateway refused the session: {reason:?}");
            return;
        }
        Ok(Err(gateway::Failure::Local { sqlstate, message })) => {
            refuse(&mut client.stream, sqlstate, &message, None).await;
            tracing::info!(client = %peer, "client refused: {message}");
            return;
        }
        Err(_) => {
            let message = format!(
                "the gateway at {} did not complete startup within {STARTUP_TIMEOUT:?}",
                gateway.target.address
            );
            refuse(&mut client.stream, "08001", &message, None).await;
            tracing::info!(client = %peer, "client refused: {message}");
            return;
        }
    };
    drop(token);
    match gateway::splice(client, upstream).await {
        Ok((sent, received)) => tracing::info!(
            client = %peer,
            connection = %gateway.target.connection,
            sent,
            received,
            duration_ms = started.elapsed().as_millis(),
            "session ended"
        ),
        Err(error) => tracing::info!(
            client = %peer,
            connection = %gateway.target.connection,
            duration_ms = started.elapsed().as_millis(),
            "session ended: {error}"
        ),
    }
}

/// Send a FATAL error the local client will print; failures to send are moot.
async fn refuse(stream: &mut TcpStream, sqlstate: &str, message: &str, hint: Option<&str>) {
    let error = wire::error_response(Severity::Fatal, sqlstate, message, None, hint);
    let _ = stream.write_all(&error).await;
    let _ = stream.flush().await;
}
