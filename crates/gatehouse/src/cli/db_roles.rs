//! `gatehouse db-roles CONNECTION`: print, or with `--apply` run, the SQL that creates the
//! connection's least-privileged server logins (see `db_roles`), and say where their
//! passwords are. Passwords are generated here; the SQL carries only their SCRAM verifiers.

use crate::cli::args::{DbRolesArgs, OutputFormat};
use crate::config::agent::AgentConfig;
use crate::config::setup::Setup;
use crate::config::{ConnectionConfig, resolve_from};
use crate::server::db_roles::{PasswordSetting, Plan, PlannedLogin, READ_LEVEL, WRITE_LEVEL};
use crate::server::login_passwords::{new_password, read_or_create, verifier};
use anyhow::{Context, Result, bail};
use gatehouse_core::SecretString;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The connection's config, wherever it was read.
struct Source {
    connection: ConnectionConfig,
    base_dir: PathBuf,
    connect_timeout: Duration,
    /// The file it came from, for messages.
    origin: String,
}

/// Where a login's password comes from.
enum PasswordSource {
    /// A file: read if it exists, else created (0600) with a new password.
    File(PathBuf),
    /// An environment variable that is set.
    Env(String),
    /// None: a new password, shown once, set only when the role is created.
    Generated,
}

/// One login, as this run handles it.
struct Login {
    level: &'static str,
    role: String,
    source: PasswordSource,
    password: SecretString,
    /// The password file was created by this run.
    file_created: bool,
    /// Whether the role existed before (known only with `--apply`).
    existed: Option<bool>,
}

#[derive(Serialize)]
struct LoginReport<'a> {
    level: &'a str,
    role: &'a str,
    /// With --apply: whether this run created the role (false: it existed already).
    created: Option<bool>,
    /// A generated password that is (or, printed, will be) the role's: shown once.
    password: Option<&'a str>,
    password_file: Option<String>,
    password_env: Option<&'a str>,
}

pub async fn run(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: DbRolesArgs,
) -> Result<ExitCode> {
    let source = load(config, data_dir, &args)?;
    let connection = &source.connection;
    let mut logins = Vec::new();
    for level in [READ_LEVEL, WRITE_LEVEL] {
        logins.push(login(&source, level, args.password_dir.as_deref())?);
    }
    let admin = if args.apply {
        if !connection.agents.is_empty() {
            bail!(
                "connection `{}` is served by agents, so {} holds no credentials to apply with: run \
                 `gatehouse db-roles {} --agent-config agent.toml --apply` where the agent runs, or run the printed SQL with psql",
                connection.name,
                source.origin,
                connection.name
            );
        }
        let target = connection.target_in(&source.base_dir)?;
        let client = crate::server::target_admin::connect(&target, source.connect_timeout)
            .await
            .map_err(|failure| anyhow::anyhow!("{failure}"))
            .with_context(|| {
                format!(
                    "cannot log in as connection `{}`'s own login `{}` to apply",
                    connection.name, target.user
                )
            })?;
        let roles: Vec<String> = logins.iter().map(|l| l.role.clone()).collect();
        let existing = client
            .query(
                "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname = ANY($1)",
                &[&roles],
            )
            .await
            .context("cannot list the server's roles")?;
        let existing: Vec<String> = existing.iter().map(|row| row.get(0)).collect();
        for login in &mut logins {
            login.existed = Some(existing.contains(&login.role));
        }
        Some((client, target))
    } else {
        None
    };
    let plan = plan_for(&connection.name, &logins, &args.schemas)?;
    let sql = crate::server::db_roles::script(&plan).map_err(anyhow::Error::msg)?;
    if let Some((client, target)) = &admin {
        let applied = client.batch_execute(&sql).await;
        applied.map_err(|error| anyhow::anyhow!(crate::client::gateway::describe(&error))).with_context(|| {
            format!(
                "applying the logins of connection `{}` on {}:{} failed, and nothing was changed (one transaction)",
                connection.name, target.host, target.port
            )
        })?;
    }
    report(
        &source,
        &logins,
        &sql,
        admin.as_ref().map(|(_, t)| t),
        &args,
    )
}

/// The connection named by the arguments, from the agent's config or the gateway's.
fn load(config: Option<&Path>, data_dir: Option<&Path>, args: &DbRolesArgs) -> Result<Source> {
    let name = &args.connection;
    let (connections, base_dir, connect_timeout, origin) = match &args.agent_config {
        Some(path) => {
            let agent = AgentConfig::load(path)?;
            (
                agent.connections,
                agent.base_dir,
                agent.connect_timeout,
                format!("the agent config `{}`", path.display()),
            )
        }
        None => {
            let setup = Setup::load(config, data_dir)?;
            let origin = match config {
                Some(path) => format!("the gateway config `{}`", path.display()),
                None => "the quickstart configuration".to_owned(),
            };
            let config = setup.config;
            (
                config.connections,
                config.base_dir,
                config.postgres.connect_timeout,
                origin,
            )
        }
    };
    let names: Vec<String> = connections
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect();
    let connection = connections
        .into_iter()
        .find(|c| &c.name == name)
        .with_context(|| {
            format!(
                "{origin} has no connection `{name}` (it has: {})",
                names.join(", ")
            )
        })?;
    Ok(Source {
        connection,
        base_dir,
        connect_timeout,
        origin,
    })
}

/// The login of `level`: its role (the configured `user`, or the predictable name) and its
/// password, read from or written to where it is kept.
fn login(source: &Source, level: &'static str, password_dir: Option<&Path>) -> Result<Login> {
    let connection = &source.connection;
    let configured = connection.login(level);
    let role = configured
        .and_then(|login| login.user.clone())
        .unwrap_or_else(|| crate::server::db_roles::role_name(&connection.name, level));
    let password_source = match (password_dir, configured) {
        (Some(dir), _) => PasswordSource::File(dir.join(format!("{role}.password"))),
        (None, Some(login)) => match (&login.password_file, &login.password_env) {
            (Some(file), _) => PasswordSource::File(resolve_from(&source.base_dir, file)),
            (None, Some(var)) if std::env::var_os(var).is_some() => {
                PasswordSource::Env(var.clone())
            }
            _ => PasswordSource::Generated,
        },
        (None, None) => PasswordSource::Generated,
    };
    let (password, file_created) = match &password_source {
        PasswordSource::File(path) => read_or_create(path)?,
        PasswordSource::Env(var) => (
            SecretString::new(std::env::var(var).unwrap_or_default()),
            false,
        ),
        PasswordSource::Generated => (new_password(), false),
    };
    Ok(Login {
        level,
        role,
        source: password_source,
        password,
        file_created,
        existed: None,
    })
}

fn plan_for(connection: &str, logins: &[Login], schemas: &[String]) -> Result<Plan> {
    let planned = |level: &str| -> Result<PlannedLogin> {
        let login = logins
            .iter()
            .find(|l| l.level == level)
            .context("a login is missing")?;
        let verifier = verifier(&login.password);
        Ok(PlannedLogin {
            role: login.role.clone(),
            password: match login.source {
                PasswordSource::Generated => PasswordSetting::OnCreate(verifier),
                PasswordSource::File(_) | PasswordSource::Env(_) => {
                    PasswordSetting::Always(verifier)
                }
            },
        })
    };
    Ok(Plan {
        connection: connection.to_owned(),
        read: planned(READ_LEVEL)?,
        write: planned(WRITE_LEVEL)?,
        schemas: (!schemas.is_empty()).then(|| schemas.to_vec()),
    })
}

/// A generated password is worth showing unless the role existed (then it was not set).
fn shown_password(login: &Login) -> Option<&str> {
    match (&login.source, login.existed) {
        (PasswordSource::Generated, Some(true)) => None,
        (PasswordSource::Generated, _) => Some(login.password.expose()),
        _ => None,
    }
}

fn report(
    source: &Source,
    logins: &[Login],
    sql: &str,
    applied_to: Option<&gatehouse_pg::PgTarget>,
    args: &DbRolesArgs,
) -> Result<ExitCode> {
    let connection = &source.connection.name;
    let reports: Vec<LoginReport<'_>> = logins
        .iter()
        .map(|login| LoginReport {
            level: login.level,
            role: &login.role,
            created: login.existed.map(|existed| !existed),
            password: shown_password(login),
            password_file: match &login.source {
                PasswordSource::File(path) => Some(path.display().to_string()),
                _ => None,
            },
            password_env: match &login.source {
                PasswordSource::Env(var) => Some(var.as_str()),
                _ => None,
            },
        })
        .collect();
    if args.output.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::json!({
                "connection": connection,
                "applied": applied_to.is_some(),
                "logins": reports,
                "sql": sql,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    match applied_to {
        Some(target) => {
            println!(
                "Applied to database `{}` on {}:{} as `{}` (one transaction):",
                target.database, target.host, target.port, target.user
            );
            for login in logins {
                let what = if login.existed == Some(true) {
                    "already existed; brought into line"
                } else {
                    "created"
                };
                println!("  {:<6} {:<32} {what}", login.level, login.role);
            }
        }
        None => print!("{sql}"),
    }
    explain_passwords(logins, applied_to.is_some());
    if source.connection.logins.is_empty() {
        eprintln!(
            "\nNext, map groups to these logins in connection `{connection}` of {} (strongest first; \
             identities in none of the groups get `default_level`):\n\n  default_level = \"read\"\n",
            source.origin
        );
        for login in logins.iter().rev() {
            let group = if login.level == WRITE_LEVEL {
                "writers"
            } else {
                "readers"
            };
            let password = match &login.source {
                PasswordSource::File(path) => format!("password_file = \"{}\"", path.display()),
                PasswordSource::Env(var) => format!("password_env = \"{var}\""),
                PasswordSource::Generated => {
                    "password_file = \"...\"   # a file (0600) holding the password shown above"
                        .to_owned()
                }
            };
            eprintln!(
                "  [[connections.logins]]\n  level = \"{}\"\n  groups = [\"{group}\"]\n  user = \"{}\"\n  {password}\n",
                login.level, login.role
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where each password is: files and variables by name; generated ones shown once, on
/// standard error (standard output stays the SQL alone, safe to keep).
fn explain_passwords(logins: &[Login], applied: bool) {
    for login in logins {
        match &login.source {
            PasswordSource::File(path) => {
                let state = if login.file_created {
                    "new, written to"
                } else {
                    "kept in"
                };
                eprintln!(
                    "password of {} ({state} `{}`, mode 0600)",
                    login.role,
                    path.display()
                );
            }
            PasswordSource::Env(var) => {
                eprintln!("password of {}: from ${var}", login.role);
            }
            PasswordSource::Generated => match shown_password(login) {
                Some(password) => {
                    let when = if applied {
                        ""
                    } else {
                        " (set only if the SQL creates the role; an existing role keeps its password)"
                    };
                    eprintln!("password of {}, shown once{when}: {password}", login.role);
                }
                None => eprintln!(
                    "password of {}: unchanged (the role existed); to set one, pass --password-dir DIR and run again",
                    login.role
                ),
            },
        }
    }
}
