//! The `gatehouse` program: parses the command line and wires the crates together. This is the
//! only place that uses `anyhow`; everything below reports typed errors.
//!
//! A library only so that the fuzz crate (`fuzz/`) can reach the MCP server and configuration
//! loading through [`fuzzing`]; everything else is private to the crate, and the binary
//! (`src/main.rs`) just calls [`main`].

mod access_cmd;
mod admin;
mod agent_authority;
mod agent_cmd;
mod agent_config;
mod agents_cmd;
mod api_approvals;
mod api_policy;
mod approvals_cmd;
mod args;
mod audit_cmd;
mod client_token;
mod config;
mod connect_cmd;
mod db_roles;
mod db_roles_cmd;
mod exec;
mod exec_approval;
#[doc(hidden)]
pub mod fuzzing;
mod http_client;
mod identities_cmd;
mod identity;
mod keys;
mod login_api;
mod login_browser;
mod login_cmd;
mod login_config;
mod login_device;
mod mask_cmd;
mod mask_scan;
mod mcp;
mod oidc_client;
mod operator;
mod policy_cmd;
mod policy_reload;
mod policy_reload_cmd;
mod protocols;
mod quickstart_logins;
mod rate_limit;
mod refused_token;
mod retention;
mod revocation_watch;
mod rule_watch;
mod serve;
mod server_admin;
mod server_logins;
mod sessions_cmd;
mod setup;
mod tls;
mod token_api;
mod token_store;
#[cfg(feature = "bench-unaudited")]
mod unaudited;
mod webhook;

use args::{
    AccessCommand, ApprovalsCommand, AuditCommand, Cli, Command, KeysCommand, MaskCommand,
    PolicyCommand, SessionsCommand, TokensCommand,
};
use clap::Parser;
use std::process::ExitCode;

/// The program: parses the command line, starts the runtime and runs the command. The binary's
/// `main` is only this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve::run(cli.config.as_deref(), cli.data_dir.as_deref()).await,
            Command::Keys(KeysCommand::Create(args)) => {
                keys::create(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Keys(KeysCommand::List(output)) => {
                keys::list(cli.config.as_deref(), cli.data_dir.as_deref(), output).await
            }
            Command::Keys(KeysCommand::Revoke { id, output }) => {
                keys::revoke(cli.config.as_deref(), cli.data_dir.as_deref(), &id, output).await
            }
            Command::Policy(PolicyCommand::Check(args)) => {
                policy_cmd::check(cli.config.as_deref(), cli.data_dir.as_deref(), args)
            }
            Command::Policy(PolicyCommand::Schema) => {
                print!("{}", protocols::policy_schema()?.text());
                Ok(ExitCode::SUCCESS)
            }
            Command::Policy(PolicyCommand::Reload(args)) => {
                policy_reload_cmd::run(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Exec(args) => {
                exec::run(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Mask(MaskCommand::Test(args)) => {
                mask_cmd::test(cli.config.as_deref(), cli.data_dir.as_deref(), args)
            }
            Command::Mask(MaskCommand::Scan(args)) => {
                mask_scan::scan(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Audit(AuditCommand::Verify(output)) => {
                audit_cmd::verify(cli.config.as_deref(), cli.data_dir.as_deref(), output).await
            }
            Command::Audit(AuditCommand::Export(args)) => {
                audit_cmd::export(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Audit(AuditCommand::Tail(args)) => {
                audit_cmd::tail(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Sessions(SessionsCommand::List(args)) => {
                sessions_cmd::list(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Sessions(SessionsCommand::Replay(args)) => {
                sessions_cmd::replay(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Approvals(ApprovalsCommand::List(args)) => {
                approvals_cmd::list(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Approvals(ApprovalsCommand::Show(args)) => {
                approvals_cmd::show(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Approvals(ApprovalsCommand::Approve(args)) => {
                approvals_cmd::approve(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Approvals(ApprovalsCommand::Deny(args)) => {
                approvals_cmd::deny(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Access(AccessCommand::Request(args)) => {
                access_cmd::request(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Mcp(args) => {
                mcp::run(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Login(args) => login_cmd::login(args).await,
            Command::Token => token_store::print_token().await,
            Command::Tokens(TokensCommand::Revoke(args)) => {
                login_cmd::revoke(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::Agent(args) => agent_cmd::run(args).await,
            Command::Agents(command) => {
                agents_cmd::run(cli.config.as_deref(), cli.data_dir.as_deref(), command).await
            }
            Command::Identities(command) => {
                identities_cmd::run(cli.config.as_deref(), cli.data_dir.as_deref(), command).await
            }
            Command::Connect(args) => {
                connect_cmd::run(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
            Command::DbRoles(args) => {
                db_roles_cmd::run(cli.config.as_deref(), cli.data_dir.as_deref(), args).await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error (stdout is for command output); `GATEHOUSE_LOG` sets the
/// filter and `GATEHOUSE_LOG_FORMAT=json` switches to structured JSON lines.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("GATEHOUSE_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        use std::io::IsTerminal;
        builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
}
