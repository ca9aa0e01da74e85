//! The `gatehouse` program: parses the command line and wires the crates together. This is the
//! only place that uses `anyhow`; everything below reports typed errors.
//!
//! Rooms, by what depends on what: `cli` (one file per subcommand, and the dispatch) uses
//! everything and nothing uses it; `server` is the running gateway (`gatehouse serve`, the
//! agent) and `http` its admin API; `client` is what commands acting on a user's behalf share
//! (finding the token, signing in, talking to the gateway); `mcp` the MCP server for agents;
//! `config` the configuration and the start-up steps every command shares; `http_client` the one
//! HTTP client all of them use.
//!
//! A library only so that the fuzz crate (`fuzz/`) can reach the MCP server and configuration
//! loading through [`fuzzing`]; everything else is private to the crate, and the binary
//! (`src/main.rs`) just calls [`main`].

mod cli;
mod client;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod http_client;
mod mcp;
mod server;

use clap::Parser;
use cli::args::Cli;
use std::process::ExitCode;

/// The program: parses the command line, starts the runtime and runs the command. The binary's
/// `main` is only this.
pub fn main() -> ExitCode {
    let command_line = Cli::parse();
    init_logging();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = configured_worker_threads(&command_line) {
        runtime.worker_threads(threads.get());
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli::run(command_line));
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `worker_threads` the configuration gives `gatehouse serve`, read before the runtime
/// starts. A configuration that does not load is left for the command to report.
fn configured_worker_threads(command_line: &Cli) -> Option<std::num::NonZeroUsize> {
    if !matches!(command_line.command, cli::args::Command::Serve) {
        return None;
    }
    config::Config::load(command_line.config.as_deref()?)
        .ok()?
        .worker_threads
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
