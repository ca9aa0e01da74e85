//! The command line: one module per subcommand (and `args`, the clap definitions that teach
//! them), and [`run`], which hands a parsed command line to its subcommand. Nothing outside
//! this room imports it: what a subcommand shares with the server or with other clients lives
//! in `server`, `client` or `config`.

mod access;
mod agent;
mod agents;
mod approvals;
pub(crate) mod args;
mod audit;
mod connect;
mod db_roles;
mod exec;
mod identities;
mod keys;
mod kube;
mod login;
mod mask;
mod mask_scan;
mod mcp;
mod policy;
mod policy_reload;
mod sessions;
mod sessions_live;
mod ssh;

use anyhow::Result;
use args::{
    AccessCommand, ApprovalsCommand, AuditCommand, Cli, Command, KeysCommand, MaskCommand,
    PolicyCommand, SessionsCommand, TokensCommand,
};
use std::process::ExitCode;

/// Run the subcommand `command_line` names.
pub(crate) async fn run(command_line: Cli) -> Result<ExitCode> {
    let config = command_line.config.as_deref();
    let data_dir = command_line.data_dir.as_deref();
    match command_line.command {
        Command::Serve => crate::server::serve::run(config, data_dir).await,
        Command::Keys(KeysCommand::Create(args)) => keys::create(config, data_dir, args).await,
        Command::Keys(KeysCommand::List(output)) => keys::list(config, data_dir, output).await,
        Command::Keys(KeysCommand::Revoke { id, output }) => {
            keys::revoke(config, data_dir, &id, output).await
        }
        Command::Policy(PolicyCommand::Check(args)) => policy::check(config, data_dir, *args),
        Command::Policy(PolicyCommand::Schema) => {
            print!("{}", crate::server::protocols::policy_schema()?.text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy(PolicyCommand::Reload(args)) => {
            policy_reload::run(config, data_dir, args).await
        }
        Command::Exec(args) => exec::run(config, data_dir, args).await,
        Command::Mask(MaskCommand::Test(args)) => mask::test(config, data_dir, args),
        Command::Mask(MaskCommand::Scan(args)) => mask_scan::scan(config, data_dir, args).await,
        Command::Audit(AuditCommand::Verify(output)) => {
            audit::verify(config, data_dir, output).await
        }
        Command::Audit(AuditCommand::Export(args)) => audit::export(config, data_dir, args).await,
        Command::Audit(AuditCommand::Tail(args)) => audit::tail(config, data_dir, args).await,
        Command::Sessions(SessionsCommand::List(args)) => {
            sessions::list(config, data_dir, args).await
        }
        Command::Sessions(SessionsCommand::Replay(args)) => {
            sessions::replay(config, data_dir, args).await
        }
        Command::Sessions(SessionsCommand::Watch(args)) => {
            sessions_live::watch(config, data_dir, args).await
        }
        Command::Sessions(SessionsCommand::Kill(args)) => {
            sessions_live::kill(config, data_dir, args).await
        }
        Command::Approvals(ApprovalsCommand::List(args)) => {
            approvals::list(config, data_dir, args).await
        }
        Command::Approvals(ApprovalsCommand::Show(args)) => {
            approvals::show(config, data_dir, args).await
        }
        Command::Approvals(ApprovalsCommand::Approve(args)) => {
            approvals::approve(config, data_dir, args).await
        }
        Command::Approvals(ApprovalsCommand::Deny(args)) => {
            approvals::deny(config, data_dir, args).await
        }
        Command::Access(AccessCommand::Request(args)) => {
            access::request(config, data_dir, args).await
        }
        Command::Mcp(args) => mcp::run(config, data_dir, args).await,
        Command::Login(args) => login::login(args).await,
        Command::Token(args) if args.kube => {
            kube::exec_credential(args.token_file.as_deref()).await
        }
        Command::Token(_) => crate::client::token_store::print_token().await,
        Command::Kubeconfig(args) => kube::kubeconfig(config, data_dir, args).await,
        Command::SshCert(args) => ssh::certificate(config, data_dir, args).await,
        Command::SshConfig(args) => ssh::config(config, data_dir, args).await,
        Command::Tokens(TokensCommand::Revoke(args)) => login::revoke(config, data_dir, args).await,
        Command::Agent(args) => agent::run(args).await,
        Command::Agents(command) => agents::run(config, data_dir, command).await,
        Command::Identities(command) => identities::run(config, data_dir, command).await,
        Command::Connect(args) => connect::run(config, data_dir, args).await,
        Command::DbRoles(args) => db_roles::run(config, data_dir, args).await,
    }
}
