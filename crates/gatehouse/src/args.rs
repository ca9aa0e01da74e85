//! Command-line interface: subcommands, their options, and the help text that teaches them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Identity-aware access gateway: every statement decided by policy, recorded, no static secrets in clients",
    long_about = "gatehouse sits between people, CI jobs and AI agents and the databases they use. Clients \
authenticate with short-lived gatehouse tokens; gatehouse holds the database credentials, decides every \
statement with Cedar policy, and records it before forwarding.\n\n\
Quickstart (no config file needed):\n  \
gatehouse serve\n  \
TOKEN=$(gatehouse keys create --identity ana --groups readers | tail -n1)\n  \
psql \"host=127.0.0.1 port=15432 dbname=demo user=ana password=$TOKEN sslmode=require\"",
    after_help = "Run `gatehouse <command> --help` for the options of each command."
)]
pub struct Cli {
    /// Data directory: store, generated TLS certificate, quickstart policy.
    #[arg(long, global = true, env = "GATEHOUSE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Configuration file (TOML). Without one, the quickstart configuration is used.
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (PostgreSQL listener, admin HTTP listener).
    ///
    /// Without --config this is the quickstart: data in ./.gatehouse, a self-signed TLS
    /// certificate generated there, PostgreSQL clients on 127.0.0.1:15432, /healthz and
    /// /metrics on 127.0.0.1:8009, one connection `demo` to the local PostgreSQL (user
    /// postgres, password from PGPASSWORD if set) and the quickstart policy.
    Serve,
    /// Create, list and revoke API keys (short-lived gatehouse tokens).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Ask the policy engine questions without touching any database.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run SQL through the gateway as a client, for programs and agents.
    ///
    /// The token comes from GATEHOUSE_TOKEN or --token-file. Exit status: 0 when the
    /// statement ran, 1 on an error, 2 for usage errors, 4 when policy denied it.
    Exec(ExecArgs),
    /// Verify, export and follow the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain from the first event and compare its end with the checkpoint.
    ///
    /// Exit status 0 when every event verifies (the count is printed); 1 naming the first bad
    /// seq when an event was edited, deleted, inserted or reordered, or when the log ends
    /// before the last checkpoint (its newest events were deleted).
    Verify(OutputArgs),
    /// Print events as JSON lines: seq, time, identity, acting_for, session, connection,
    /// action, decision, policies, statement, fingerprint, outcome, mac.
    ///
    /// Example: gatehouse audit export --since 2h --identity ana > ana.jsonl
    Export(AuditExportArgs),
    /// Show the newest events, and with -f keep following as new ones are written.
    Tail(AuditTailArgs),
}

#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// Only events at or after this time: RFC 3339 (2026-11-28T10:00:00Z) or a duration ago (15m, 2h, 7days).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events caused by this identity (subject).
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    /// Only events after this seq (resume an earlier export).
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    pub after_seq: i64,
    /// Output format; JSON lines is the only one.
    #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct AuditTailArgs {
    /// Keep running and print events as they are written (Ctrl-C stops).
    #[arg(short, long)]
    pub follow: bool,
    /// How many of the newest events to show first.
    #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
    pub lines: usize,
    /// Only events caused by this identity (subject).
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; the token is printed as the last line of standard output.
    Create(KeysCreateArgs),
    /// List keys (never their secrets).
    List(OutputArgs),
    /// Revoke a key by id so that no new session can use it.
    Revoke {
        /// Key id, as shown by `gatehouse keys list`.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Args)]
pub struct KeysCreateArgs {
    /// Identity (subject) the token authenticates as; also the PostgreSQL user name to use.
    #[arg(long, value_name = "NAME")]
    pub identity: String,
    /// Whether the identity is a person or a program.
    #[arg(long, default_value = "human", value_parser = ["human", "machine"])]
    pub kind: String,
    /// Groups the identity belongs to (comma-separated); policies grant to groups.
    #[arg(long, value_delimiter = ',', value_name = "GROUP,...")]
    pub groups: Vec<String>,
    /// Lifetime, e.g. 15m, 2h (default from config: 15m; at most the configured max_ttl).
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<humantime::Duration>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Decide one request and show which policies decided it.
    ///
    /// Example: gatehouse policy check --identity ana --groups readers --connection demo --sql "DELETE FROM t"
    Check(PolicyCheckArgs),
}

#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    #[arg(long, value_name = "NAME")]
    pub identity: String,
    #[arg(long, default_value = "human", value_parser = ["human", "machine"])]
    pub kind: String,
    #[arg(long, value_delimiter = ',', value_name = "GROUP,...")]
    pub groups: Vec<String>,
    /// Connection name from the configuration.
    #[arg(long, value_name = "NAME")]
    pub connection: String,
    /// SQL to classify and decide (every statement is decided).
    #[arg(long, value_name = "SQL", conflicts_with = "connect")]
    pub sql: Option<String>,
    /// Decide the `connect` action instead of SQL.
    #[arg(long)]
    pub connect: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Connection name (what psql would call the database).
    pub connection: String,
    /// SQL to run.
    #[arg(long, value_name = "SQL")]
    pub sql: String,
    /// Gateway PostgreSQL address.
    #[arg(long, default_value = crate::config::QUICKSTART_PG_LISTEN, value_name = "HOST:PORT")]
    pub gateway: String,
    /// CA certificate to verify the gateway with (default: the certificate generated in the data directory).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// File holding the token (default: the GATEHOUSE_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArgs {
    /// Output format: `text` for people, `json` for programs and agents.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}
