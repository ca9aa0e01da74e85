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
    /// postgres, password from PGPASSWORD if set) and the quickstart policy. At start it
    /// creates least-privileged roles gatehouse_demo_read and gatehouse_demo_write there
    /// (passwords in .gatehouse/logins/): readers' sessions log in as the first, writers' as
    /// the second, admins' as postgres. If they cannot be created it still starts, and
    /// readers' and writers' sessions are refused until `gatehouse db-roles demo --apply`
    /// succeeds (never given postgres instead).
    ///
    /// At start it also logs in as every server login that identities other than admins get
    /// ([[connections.logins]]) and warns when one is a superuser or may bypass privileges.
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
    /// statement ran, 1 on an error, 2 for usage errors, 3 when it waits for an approval
    /// (`status: pending`, with the approval id; run the same statement again once it is
    /// approved, or pass --wait), 4 when policy denied it.
    Exec(ExecArgs),
    /// Try the masking rules on a text.
    #[command(subcommand)]
    Mask(MaskCommand),
    /// Verify, export and follow the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// List and replay session recordings: what each client session asked, what policy
    /// decided and what came back.
    ///
    /// Every session through the gateway is recorded unless `[recording] enabled = false`: in
    /// the store by default, or as files with `[recording] storage = "directory"`. Reading a
    /// recording is itself recorded in the audit log (an `audit_read` event naming you).
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Review just-in-time approvals: statements that policy permits only once someone else
    /// has approved them.
    ///
    /// A `permit` policy annotated with `@approval("GROUP")` holds a matching request until
    /// enough members of GROUP approve it. The approval is bound to exactly what was asked
    /// (requester, connection, statement, policy version), used once, and expires. Listing and
    /// showing need only access to the data directory; approving and denying need your own token
    /// (GATEHOUSE_TOKEN or --token-file) from a key in the approving group, and no one
    /// approves their own request. Every approval, denial and expiry is recorded in the audit
    /// log (an `approval` event naming the reviewer).
    #[command(
        subcommand,
        after_long_help = "Examples:
  gatehouse approvals list --pending
  gatehouse approvals show ap-0123456789abcdef
  GATEHOUSE_TOKEN=$(cat ~/.gatehouse-token) gatehouse approvals approve ap-0123456789abcdef
  gatehouse approvals deny ap-0123456789abcdef --reason \"use a soft delete\" --token-file t.txt"
    )]
    Approvals(ApprovalsCommand),
    /// Ask for time-boxed access: a group's rights on one connection for a while, once a
    /// reviewer approves.
    #[command(subcommand)]
    Access(AccessCommand),
    /// Serve the Model Context Protocol on standard input and output, for AI agents.
    ///
    /// An agent runtime (Claude Desktop, an IDE, an agent framework) spawns this command and
    /// calls its tools: list_connections, describe_connection, query, approval_status,
    /// run_approved and request_access. Every statement runs through the gateway as an
    /// ordinary client with the agent's own token (GATEHOUSE_TOKEN or --token-file), so policy,
    /// approvals, masking and the audit log apply exactly as for psql. Approval and grant
    /// tools read the data directory, like `gatehouse approvals show`.
    #[command(after_long_help = "Examples:
  GATEHOUSE_TOKEN=... gatehouse mcp --gateway gatehouse.internal:15432 --ca-file gatehouse.crt
  gatehouse --config /etc/gatehouse.toml mcp --token-file ~/.gatehouse-agent-token")]
    Mcp(McpArgs),
    /// Log in: get a short-lived gatehouse token for yourself (OpenID Connect) or for a
    /// machine or agent (by exchanging the JWT it already has).
    ///
    /// People: `gatehouse login --api URL` asks the gateway (GET /v1/login) which identity
    /// providers people sign in with, then opens your browser at the provider's sign-in page
    /// (authorization code flow with PKCE, answered on a loopback port of this machine; $BROWSER,
    /// else xdg-open/open; the URL is also printed). On a machine without a browser, --device
    /// prints a code to enter on another device. The provider's ID token is exchanged at the
    /// gateway for a gatehouse token carrying your groups; the provider's refresh token is kept
    /// so that `gatehouse token` renews the gatehouse token before it expires (your current
    /// groups apply from then on; if the provider refuses, log in again).
    ///
    /// Machines and agents: the workload's token (a CI job's OIDC token, a cloud workload
    /// identity, a client-credentials access token) must come from an `[[identity_providers]]`
    /// entry of kind `workload` on the gateway; pass it with --exchange-token-file or
    /// --exchange-token-env. The gateway checks it (signature, issuer, audience, expiry, claim
    /// conditions) and answers with a short-lived gatehouse token. An --actor-token names a
    /// person or program the workload acts for: it is recorded as the identity's delegation
    /// chain (`acting_for`).
    ///
    /// Either way the token is stored with mode 0600 in $XDG_CONFIG_HOME/gatehouse/token.json
    /// (default ~/.config/gatehouse); `gatehouse token` prints it. Tokens are never printed
    /// otherwise.
    #[command(after_long_help = "Examples:
  gatehouse login --api https://gatehouse.internal:8009 --ca-file ca.pem
  gatehouse login --api http://127.0.0.1:8009 --provider okta --no-browser
  gatehouse login --api http://127.0.0.1:8009 --device
  gatehouse login --api http://127.0.0.1:8009 --exchange-token-env ACTIONS_ID_TOKEN
  gatehouse login --api https://gatehouse.internal:8009 --ca-file ca.pem --exchange-token-file /var/run/secrets/token
  PGPASSWORD=$(gatehouse token) psql \"host=gatehouse.internal port=15432 dbname=demo user=gatehouse sslmode=require\"")]
    Login(LoginArgs),
    /// Print the stored gatehouse token (from `gatehouse login`), for PGPASSWORD=$(gatehouse token).
    ///
    /// After a person's login, a token with less than a minute left is first renewed with the
    /// identity provider's refresh token (and stored); if the provider refuses (the account
    /// was disabled, the login revoked), run `gatehouse login` again.
    ///
    /// With --kube it prints a Kubernetes `ExecCredential` instead (with the token's expiry
    /// when it is a gatehouse JWT): what kubectl runs as the exec credential plugin of the
    /// kubeconfig `gatehouse kubeconfig` writes. The token then comes from --token-file, else
    /// GATEHOUSE_TOKEN, else the login.
    #[command(after_long_help = "Examples:
  PGPASSWORD=$(gatehouse token) psql \"host=127.0.0.1 port=15432 dbname=demo user=gatehouse sslmode=require\"
  gatehouse token --kube                       # what kubectl runs
  GATEHOUSE_TOKEN=gh_... gatehouse token --kube")]
    Token(TokenArgs),
    /// Add a Kubernetes connection to a kubeconfig, so that unmodified kubectl goes through
    /// gatehouse.
    ///
    /// Writes a cluster, a user and a context, all named gatehouse-CONNECTION (--name), and
    /// makes the context current. The cluster's server is the gateway's Kubernetes listener
    /// with the connection as a path prefix (https://HOST:16443/c/CONNECTION; kubectl keeps a
    /// server URL's path), verified with the gateway's certificate (--ca-file, default the one
    /// generated in the data directory). The user is an exec credential plugin:
    /// kubectl runs `gatehouse token --kube` for a token whenever it needs one, so the
    /// kubeconfig holds no credential at all and short-lived tokens renew by themselves. The
    /// file is created (YAML, or JSON when its name ends in .json) or edited in its own
    /// format, YAML or JSON, keeping its other clusters, users, contexts and preferences; the
    /// file stays readable by its owner only. Editing a YAML file rewrites it the way kubectl
    /// does, so comments in it are lost (to keep them, write to another file and combine the
    /// two with KUBECONFIG=a:b).
    #[command(after_long_help = "Examples:
  gatehouse kubeconfig prod                  # adds a context to ~/.kube/config
  gatehouse kubeconfig prod --kubeconfig ~/.kube/gatehouse.json
  KUBECONFIG=~/.kube/config:~/.kube/gatehouse.json kubectl --context gatehouse-prod get pods
  gatehouse kubeconfig prod --server https://gatehouse.internal:16443 --ca-file ca.pem --kubeconfig prod.json --output json")]
    Kubeconfig(KubeconfigArgs),
    /// Get a short-lived OpenSSH certificate for your gatehouse identity, so that ssh, scp and
    /// sftp log in to the gateway's SSH connections with no password prompt.
    ///
    /// Generates a fresh Ed25519 key pair here (the private key never leaves this machine),
    /// sends the public half with your token to the gateway's admin API (`POST
    /// /v1/ssh/certificate`), and writes three files with OpenSSH's naming: --key PATH (the
    /// private key, mode 0600), PATH.pub and PATH-cert.pub (the certificate), so `ssh -i PATH`
    /// picks the certificate up by itself. Running it again replaces them. The certificate
    /// names your identity, is signed by the gateway's user CA and ends when your token does
    /// or after `[ssh] certificate_validity` (default 12h), whichever comes first; revoking the
    /// token or the identity refuses it at once. The login name is the connection; every
    /// command is still decided by policy and recorded.
    ///
    /// The token comes from --token-file, else GATEHOUSE_TOKEN, else `gatehouse login`'s. The
    /// admin API is --api, else the gateway running with this --config/--data-dir (its
    /// listeners file), else the one `gatehouse login` used, else `[admin] listen`.
    #[command(after_long_help = "Examples:
  gatehouse ssh-cert                               # writes ~/.ssh/gatehouse_ed25519{,.pub,-cert.pub}
  ssh -i ~/.ssh/gatehouse_ed25519 -p 12222 box@127.0.0.1 uptime
  gatehouse ssh-cert --api https://gatehouse.internal:8009 --ca-file ca.pem --key ~/.ssh/work
  gatehouse ssh-cert --output json | jq -r .valid_before
  ssh-keygen -L -f ~/.ssh/gatehouse_ed25519-cert.pub  # what the certificate says")]
    SshCert(SshCertArgs),
    /// Print (or --write into ~/.ssh/config) an ssh_config block per SSH connection, so that
    /// `ssh CONNECTION.gatehouse` works and verifies the gateway's host key.
    ///
    /// Each block is `Host CONNECTION.gatehouse` with the SSH listener's HostName and Port,
    /// `User CONNECTION` (the login name is the connection), the key and certificate `gatehouse
    /// ssh-cert` writes (--key), and the gateway's host key pinned: `HostKeyAlias
    /// gatehouse-ssh`, `UserKnownHostsFile` (--known-hosts, default
    /// ~/.ssh/gatehouse_known_hosts, which this command writes with the gateway's current
    /// host key) and `StrictHostKeyChecking yes`. The connections are the SSH connections your
    /// policy lets you connect to (`GET /v1/ssh`).
    ///
    /// Without --write the blocks go to standard output. --write puts them in --ssh-config
    /// (default ~/.ssh/config) between `# >>> gatehouse ssh-config >>>` and `# <<< gatehouse
    /// ssh-config <<<`, replacing that block if it is there and appending it otherwise; the
    /// rest of the file is kept. Certificates expire: run `gatehouse ssh-cert` again when ssh
    /// says `Permission denied`.
    #[command(after_long_help = "Examples:
  gatehouse ssh-cert && gatehouse ssh-config --write
  ssh box.gatehouse uname -a
  scp box.gatehouse:/var/log/syslog .
  gatehouse ssh-config > ~/.ssh/gatehouse.conf && ssh -F ~/.ssh/gatehouse.conf box.gatehouse
  gatehouse ssh-config --output json")]
    SshConfig(SshConfigArgs),
    /// Manage issued gatehouse tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Revoke or restore whole identities: every credential naming the subject is refused
    /// and its live sessions end within seconds.
    #[command(subcommand)]
    Identities(IdentitiesCommand),
    /// Run the network-resident agent next to private targets: it dials out to the gateway
    /// (no inbound port needed), holds the targets' credentials, and serves the gateway's
    /// sessions to them through one multiplexed TLS tunnel.
    ///
    /// The agent's own config (TOML) names the agent, the gateway's agent listener, the
    /// gateway's CA certificate, a state directory for the credential it gets at enrolment,
    /// and `[[connections]]` with host, database, user and `password_file`/`password_env`
    /// exactly like a gateway's. On the gateway, the same connections say `agents = ["NAME"]`
    /// and nothing about the target. Each session's server login level is the gateway's
    /// choice; the agent logs in with its own `[[connections.logins]]` credentials for that
    /// level (`admin`: the connection's own user), and refuses a level it has none for.
    /// A `kind = "kubernetes"` connection has the API server's `url`, `ca_file` and its
    /// credential (`token_file`, `token_env`, or `client_cert_file` + `client_key_file`): the
    /// agent adds it to the requests the gateway decided and forwards them.
    #[command(after_long_help = "Examples:
  # on the gateway
  gatehouse agents create dc1            # prints a one-time enrolment token
  # next to the database, agent.toml:
  #   name = \"dc1\"
  #   gateway = \"gatehouse.internal:8010\"
  #   ca_file = \"gateway-ca.pem\"
  #   state_dir = \"/var/lib/gatehouse-agent\"
  #   enrolment_token_env = \"GATEHOUSE_ENROLMENT_TOKEN\"
  #   [[connections]]
  #   name = \"prod\"
  #   kind = \"postgres\"
  #   host = \"10.0.0.5\"
  #   database = \"app\"
  #   user = \"gatehouse\"
  #   password_file = \"/etc/gatehouse/prod.password\"
  #   [[connections.logins]]              # the login of each level the gateway names
  #   level = \"read\"
  #   user = \"gatehouse_prod_read\"
  #   password_file = \"/etc/gatehouse/prod_read.password\"
  #   [[connections]]                     # a cluster only this network reaches
  #   name = \"cluster\"
  #   kind = \"kubernetes\"
  #   url = \"https://10.0.0.1:6443\"
  #   ca_file = \"/etc/gatehouse/cluster-ca.pem\"
  #   token_file = \"/var/run/secrets/kubernetes.io/serviceaccount/token\"
  gatehouse db-roles prod --agent-config agent.toml --apply   # creates the read and write logins
  GATEHOUSE_ENROLMENT_TOKEN=ghe_... gatehouse agent --config agent.toml")]
    Agent(AgentArgs),
    /// Manage network-resident agents: create (enrolment token), list, revoke.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Serve one connection on a local port so that any PostgreSQL client (psql, a GUI, a
    /// driver) works with no password — or, with --http, any HTTP client works with no
    /// Authorization header: your stored token is added for you.
    ///
    /// Listens on loopback only (127.0.0.1 or ::1: every local client acts as you). For each
    /// client it reads your current token (from `gatehouse login`; a refreshed token is used by
    /// the next connection), opens verified TLS to the gateway (--ca-file) and signs in as
    /// `gatehouse` with the token, so policy, masking, approvals and the audit log see your
    /// identity. The user name you give locally is ignored; the database must be CONNECTION
    /// (or left out). Cancel requests (Ctrl-C in psql) are relayed. Without a usable token,
    /// clients get an error telling to run `gatehouse login`. --port 0 (the default) picks a
    /// free port; the address and a ready-to-paste psql line are printed to standard error,
    /// and `--output json` prints {"listen","connection","gateway"} as one line on standard
    /// output. Ctrl-C (or SIGTERM) stops it and closes open sessions.
    ///
    /// With --http, http://127.0.0.1:PORT/<path> is https://GATEWAY/c/CONNECTION/<path> with
    /// `Authorization: Bearer <your token>` (read for every request); answers stream back.
    #[command(after_long_help = "Examples:
  gatehouse connect demo --gateway 127.0.0.1:15432 --ca-file ~/.gatehouse/ca.pem --port 5433
  psql \"host=127.0.0.1 port=5433 dbname=demo user=$USER\"
  gatehouse connect orders --gateway gatehouse.internal:15432 --ca-file ca.pem --output json
  gatehouse connect rabbit --http --port 8080 &    # an HTTP API connection, then:
  curl http://127.0.0.1:8080/api/queues")]
    Connect(ConnectArgs),
    /// Create least-privileged server logins for a connection, so that the server itself
    /// refuses what policy meant to refuse.
    ///
    /// A classifier in front of a server can be fooled (a function that writes, a view over
    /// it, an attribute-notation call, a setting only superusers may change), and if every
    /// session logs in as a superuser, what slips past policy runs. This prints the SQL (or,
    /// with --apply, runs it through the connection's own login, in one transaction; running
    /// it again changes nothing) that creates two logins:
    ///
    /// read (`gatehouse_<connection>_read`, or the `user` of the connection's
    /// [[connections.logins]] entry of level "read"): LOGIN and nothing else; USAGE on the
    /// application schemas and SELECT on their tables, views and sequences (also those
    /// created later); no TEMP; no EXECUTE on SECURITY DEFINER functions or on built-ins that
    /// write beyond the session (large objects, advisory locks, pg_notify, txid_current,
    /// ...); sessions start read-only as an extra layer.
    ///
    /// write (`gatehouse_<connection>_write`): also INSERT, UPDATE, DELETE, sequences, TEMP and
    /// EXECUTE; no CREATE anywhere: DDL needs the connection's own login (level `admin`).
    ///
    /// The SQL also revokes TEMP, CREATE on the application schemas and EXECUTE on those
    /// functions from PUBLIC in that database (every step's comment says why): other roles
    /// that relied on them need them granted explicitly. Read it before you apply it.
    ///
    /// Passwords: kept in --password-dir DIR (`<role>.password`, mode 0600; an existing file is
    /// reused, so the SQL always sets it), else in the login's `password_file` or
    /// `password_env`; otherwise generated and shown once on standard error, and set only when
    /// the role is created. Standard output is the SQL alone: it carries SCRAM-SHA-256
    /// verifiers, never passwords. `--output json` prints {connection, applied, logins, sql}.
    ///
    /// Then map groups to the logins in the connection's [[connections.logins]] (see
    /// examples/gatehouse.toml); `gatehouse serve` warns at start about a login that groups
    /// other than admins get and that is a superuser or may bypass privileges.
    #[command(after_long_help = "Examples:
  gatehouse db-roles demo                                 # read the SQL
  gatehouse db-roles demo > roles.sql && psql -d app -f roles.sql
  gatehouse --config gatehouse.toml db-roles orders --password-dir /etc/gatehouse/secrets --apply
  gatehouse db-roles orders --schema sales,billing --output json
  gatehouse db-roles prod --agent-config agent.toml --apply  # where the agent runs, with its credentials")]
    DbRoles(DbRolesArgs),
}

#[derive(Debug, Args)]
pub struct DbRolesArgs {
    /// The connection whose logins to create (its name in the config).
    pub connection: String,
    /// Run the SQL on the server, through the connection's own login, instead of printing it.
    #[arg(long)]
    pub apply: bool,
    /// Application schemas to grant on (comma-separated or repeated; default: every schema
    /// but pg_catalog, information_schema and the other pg_* schemas).
    #[arg(long = "schema", value_delimiter = ',', value_name = "SCHEMA,...")]
    pub schemas: Vec<String>,
    /// Keep the logins' passwords in this directory (`<role>.password`, mode 0600).
    #[arg(long, value_name = "DIR")]
    pub password_dir: Option<PathBuf>,
    /// Take the connection from an agent's config (`gatehouse agent --config`) instead of the
    /// gateway's: its target, its own login, and its [[connections.logins]] users.
    #[arg(long, value_name = "FILE")]
    pub agent_config: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Connection to serve (what psql calls the database).
    pub connection: String,
    /// Serve an HTTP API connection (`kind = "http"`): a plain HTTP endpoint that sends each
    /// request to the gateway's HTTP API listener with your token added. Implied when
    /// --config names the connection as `kind = "http"`.
    #[arg(long)]
    pub http: bool,
    /// Serve a MySQL connection (`kind = "mysql"`): a plaintext MySQL endpoint whose clients
    /// (mariadb, mysqlslap, a GUI) log in with no password and reach the gateway's MySQL
    /// listener over verified TLS with your token. Implied when --config names the connection
    /// as `kind = "mysql"`.
    #[arg(long, conflicts_with = "http")]
    pub mysql: bool,
    /// Gateway address: its PostgreSQL listener (default 127.0.0.1:15432), with --http its
    /// HTTP API listener (default 127.0.0.1:18443), with --mysql its MySQL listener (default
    /// 127.0.0.1:13306).
    #[arg(long, value_name = "HOST:PORT")]
    pub gateway: Option<String>,
    /// CA certificate to verify the gateway with (default: the certificate generated in the data directory).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Local port to listen on; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub port: u16,
    /// Local address to listen on: a loopback address only.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub listen: std::net::IpAddr,
    /// File holding the token, read again for every client (default: GATEHOUSE_TOKEN, else
    /// the token `gatehouse login` stored, refreshed when it is about to expire).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Print a Kubernetes ExecCredential (for kubectl's exec credential plugin).
    #[arg(long)]
    pub kube: bool,
    /// With --kube: file holding the token (default: GATEHOUSE_TOKEN, else the login's).
    #[arg(long, value_name = "FILE", requires = "kube")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The Kubernetes connection (`kind = "kubernetes"`).
    pub connection: String,
    /// The kubeconfig to write (default: the first file of $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The gateway's Kubernetes address (default: this gateway's listener, from its listeners
    /// file in the data directory, else `[kubernetes] listen`).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The certificate kubectl verifies the gateway with (default: the certificate generated
    /// in the data directory).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// A token file the plugin reads (default: GATEHOUSE_TOKEN, else the login's token).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The name of the cluster, user and context (default gatehouse-CONNECTION).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How `gatehouse ssh-cert` and `gatehouse ssh-config` reach the gateway's admin API.
#[derive(Debug, Args)]
pub struct AdminApiArgs {
    /// The gateway's admin listener (default: the gateway running with this --config /
    /// --data-dir, from its listeners file, else the one `gatehouse login` used, else
    /// `[admin] listen`).
    #[arg(long, visible_alias = "gateway", value_name = "URL")]
    pub api: Option<String>,
    /// CA certificate to verify an https:// --api with.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// File holding your token (default: GATEHOUSE_TOKEN, else `gatehouse login`'s).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SshCertArgs {
    /// The private key to write (default ~/.ssh/gatehouse_ed25519); the public key goes to
    /// PATH.pub and the certificate to PATH-cert.pub.
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub api: AdminApiArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SshConfigArgs {
    /// The key `gatehouse ssh-cert` wrote (default ~/.ssh/gatehouse_ed25519; its certificate
    /// is PATH-cert.pub).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Put the blocks into --ssh-config instead of printing them.
    #[arg(long)]
    pub write: bool,
    /// The ssh_config file --write edits (default ~/.ssh/config).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// The known_hosts file written with the gateway's host key (default
    /// ~/.ssh/gatehouse_known_hosts).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// The host name clients reach the SSH listener at (default: its listen address, or the
    /// admin API's host when it listens on all addresses).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    #[command(flatten)]
    pub api: AdminApiArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The gateway's admin/API listener, where `GET /v1/login` and `POST /v1/token` are.
    #[arg(long, default_value = "http://127.0.0.1:8009", value_name = "URL")]
    pub api: String,
    /// File holding the workload's JWT to exchange.
    #[arg(long, value_name = "FILE", conflicts_with = "exchange_token_env")]
    pub exchange_token_file: Option<PathBuf>,
    /// Environment variable holding the workload's JWT to exchange.
    #[arg(long, value_name = "VAR")]
    pub exchange_token_env: Option<String>,
    /// File holding a JWT of whom the workload acts for (recorded as `acting_for`).
    #[arg(long, value_name = "FILE", conflicts_with = "actor_token_env")]
    pub actor_token_file: Option<PathBuf>,
    /// Environment variable holding the actor token.
    #[arg(long, value_name = "VAR")]
    pub actor_token_env: Option<String>,
    /// CA certificate to verify an https:// --api with.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// People: the identity provider to sign in with (a name from the gateway's GET
    /// /v1/login); needed only when the gateway has several.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["exchange_token_file", "exchange_token_env"])]
    pub provider: Option<String>,
    /// People: sign in on another device (device authorization grant): print a URL and a code
    /// instead of opening a browser here.
    #[arg(long, conflicts_with_all = ["exchange_token_file", "exchange_token_env", "no_browser"])]
    pub device: bool,
    /// People: print the sign-in URL but do not open a browser.
    #[arg(long, conflicts_with_all = ["exchange_token_file", "exchange_token_env"])]
    pub no_browser: bool,
    /// People: CA certificates to verify the identity provider's https:// endpoints with
    /// (default: the system's bundle, /etc/ssl/certs/ca-certificates.crt).
    #[arg(long, value_name = "FILE")]
    pub idp_ca_file: Option<PathBuf>,
    /// People: how long to wait for the sign-in to finish.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: humantime::Duration,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Revoke an issued gatehouse token by its id (`jti`, named in the exchange's audit
    /// event): new sessions and API calls with it are refused.
    Revoke(TokensRevokeArgs),
}

#[derive(Debug, Args)]
pub struct TokensRevokeArgs {
    /// The token's `jti`.
    pub jti: String,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Gateway PostgreSQL address.
    #[arg(long, default_value = crate::config::QUICKSTART_PG_LISTEN, value_name = "HOST:PORT")]
    pub gateway: String,
    /// CA certificate to verify the gateway with (default: the certificate generated in the data directory).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// File holding the agent's token (default: the GATEHOUSE_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Ask for a group's rights on one connection for a limited time.
    ///
    /// A member of the `[access] approvers` group (default `admins`) approves it with
    /// `gatehouse approvals approve ID`; from then on, for the requested duration, policy
    /// sees you as a member of GROUP on CONNECTION — in new and already open sessions. When it
    /// expires, the rights are gone at once: open sessions stay open but are downgraded, so
    /// their next statement that needed the grant is refused. `[access] max_duration`
    /// (default 8h) caps every request. Your token comes from GATEHOUSE_TOKEN or --token-file.
    #[command(after_long_help = "Examples:
  gatehouse access request demo --group writers --for 30m --reason \"fix order 1234\"
  gatehouse access request prod --group admins --for 1h --reason \"INC-77\" --output json")]
    Request(AccessRequestArgs),
}

#[derive(Debug, Args)]
pub struct AccessRequestArgs {
    /// Connection the grant is for.
    pub connection: String,
    /// Group whose rights you ask for.
    #[arg(long, value_name = "GROUP")]
    pub group: String,
    /// How long the grant lasts once approved (`30m`, `2h`).
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: humantime::Duration,
    /// Why you need it; reviewers see it.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// File holding your token (default: the GATEHOUSE_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List approvals, newest first: who asked to run what, and what it still needs.
    ///
    /// Approvals found past their expiry are marked expired (and that is recorded in the
    /// audit log) as they are listed.
    #[command(after_long_help = "Examples:
  gatehouse approvals list
  gatehouse approvals list --pending
  gatehouse approvals list --pending --output json | jq -r '.[].id'")]
    List(ApprovalsListArgs),
    /// Show one approval in full: the statement, who asked, what it needs, who reviewed it.
    #[command(after_long_help = "Examples:
  gatehouse approvals show ap-0123456789abcdef
  gatehouse approvals show ap-0123456789abcdef --output json | jq -r .state")]
    Show(ApprovalsShowArgs),
    /// Approve a pending approval as yourself (the identity of your token).
    ///
    /// Once as many distinct members of the approving group as the policy requires have
    /// approved, the requester may run exactly that statement once, within the policy's
    /// time limit. Exit status 0 when your approval is stored, 1 when it is refused (your
    /// own request, not in the group, already approved by you, no longer pending).
    #[command(after_long_help = "Examples:
  GATEHOUSE_TOKEN=... gatehouse approvals approve ap-0123456789abcdef
  gatehouse approvals approve ap-0123456789abcdef --reason \"ticket OPS-1234\" --token-file t.txt")]
    Approve(ApprovalsApproveArgs),
    /// Deny a pending approval as yourself; the reason is shown to the requester.
    ///
    /// One denial is final: the request will not run, and asking again creates a new
    /// approval. Exit status 0 when the denial is stored, 1 when it is refused.
    #[command(after_long_help = "Example:
  GATEHOUSE_TOKEN=... gatehouse approvals deny ap-0123456789abcdef --reason \"use a soft delete\"")]
    Deny(ApprovalsDenyArgs),
}

#[derive(Debug, Args)]
pub struct ApprovalsListArgs {
    /// Only approvals still waiting for reviewers.
    #[arg(long)]
    pub pending: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ApprovalsShowArgs {
    /// Approval id (`ap-` and 16 hex characters), as shown by `gatehouse approvals list`.
    pub id: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ApprovalsApproveArgs {
    /// Approval id (`ap-` and 16 hex characters), as shown by `gatehouse approvals list`.
    pub id: String,
    /// Why you approve (kept with the review and in the audit log).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// File holding your token (default: the GATEHOUSE_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ApprovalsDenyArgs {
    /// Approval id (`ap-` and 16 hex characters), as shown by `gatehouse approvals list`.
    pub id: String,
    /// Why you deny it; required, and shown to the requester.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// File holding your token (default: the GATEHOUSE_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum MaskCommand {
    /// Show what would be masked in a text, by which detector, and what it would become.
    ///
    /// Examples:
    ///   gatehouse mask test --text "mail ana@example.com, card 4111 1111 1111 1111"
    ///   gatehouse mask test --connection demo --file sample.txt --output json
    Test(MaskTestArgs),
    /// Find sensitive columns: sample every column the connection's own credentials can read
    /// (a bounded number of rows per table), run the detectors over the values, and propose
    /// column rules as TOML to paste under the connection (or JSON with --output json).
    ///
    /// Column rules mask a column wherever its values go (casts, functions, conditions);
    /// detectors alone only recognise values they can read. Progress goes to stderr.
    ///
    /// Examples:
    ///   gatehouse mask scan demo
    ///   gatehouse mask scan demo --tables people,billing.cards --rows 500 --output json
    Scan(MaskScanArgs),
}

#[derive(Debug, Args)]
pub struct MaskScanArgs {
    /// The connection to scan (its target and credentials from the configuration).
    pub connection: String,
    /// Only these tables (`table` or `schema.table`, comma-separated).
    #[arg(long, value_name = "TABLES", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Rows sampled per table, at most.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub rows: u32,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct MaskTestArgs {
    /// The text to test (may start with `-`, e.g. a PEM block).
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "file",
        allow_hyphen_values = true
    )]
    pub text: Option<String>,
    /// A UTF-8 file to test as one value.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Use this connection's [connections.masking] (default: every built-in detector with its
    /// default strategy).
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
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
    /// Decide one request and show which policies decided it: allow, deny, or hold (permitted
    /// once a member of the named group approves it).
    ///
    /// Example: gatehouse policy check --identity ana --groups readers --connection demo --sql "DELETE FROM t"
    ///
    /// A Kubernetes request is given as kubectl would send it: --k8s "METHOD PATH" (the path
    /// the API server sees, query included), and for a PATCH the patch with --patch (a
    /// strategic merge patch unless --patch-type says json, merge or apply). It is attributed
    /// exactly as the gateway attributes it (verb, group, resource, namespace, name, the
    /// patch's field paths, an exec's command).
    ///
    /// An HTTP API request likewise: --http "METHOD PATH" (the path and query the target
    /// receives), with --header "NAME: VALUE" and --body as the client would send them; path
    /// tricks the gateway refuses are refused here too.
    ///
    /// An SSH command line: --ssh "COMMAND", read as the gateway reads an exec request
    /// (program, args, has_shell_syntax).
    ///
    /// Exit status: 0 allow, 3 hold, 4 deny.
    #[command(after_long_help = "Examples:
  gatehouse policy check --identity ana --groups readers --connection demo --sql \"DELETE FROM t\"
  gatehouse policy check --identity bot --groups automation --connection cluster \\
      --k8s \"DELETE /apis/apps/v1/namespaces/default/deployments/web\"
  gatehouse policy check --identity bot --groups automation --connection cluster \\
      --k8s \"PATCH /apis/apps/v1/namespaces/default/deployments/web\" --patch '{\"spec\":{\"replicas\":3}}'
  gatehouse policy check --identity bot --groups automation --kind machine --connection rabbit \
      --http \"DELETE /api/queues/%2F/orders\"
  gatehouse policy check --identity rita --groups readers --connection box --ssh 'r\"\"m -rf /tmp/x'")]
    Check(Box<PolicyCheckArgs>),
    /// Load the policy files into the running gateway again, without a restart.
    ///
    /// The files are validated first: an invalid set is refused with the reason and the set in
    /// force stays. A valid one is recorded in the audit log, then decides every request from
    /// then on; open sessions decide `connect` and `data:unmasked` again and end if they lost
    /// them; held statements are held again under the new version. A gateway started with
    /// --config also reads the file's `[[connections]]` again: masking, `record_results`,
    /// descriptions, environments, tags and removals take effect (open sessions on a connection
    /// whose masking changed, or that was removed, end with the reason); new connections and
    /// changed targets, credentials, logins or agents are listed as needing a restart. A file
    /// that does not load refuses the whole reload. Needs the token of a member of
    /// `[admin] groups` (default `admins`); `kill -HUP <serve pid>` does the same on the
    /// gateway's machine. Exit status: 0 when the new set is in force, 1 when it was refused.
    #[command(after_long_help = "Examples:
  gatehouse policy reload --token-file admin.token
  GATEHOUSE_TOKEN=... gatehouse policy reload --api http://gatehouse.internal:8009 --output json")]
    Reload(PolicyReloadArgs),
    /// Print the Cedar schema policies are validated against: the base (identities, groups,
    /// connections, `connect`, `data:unmasked`) and each protocol's fragment (`sql:*`), with
    /// what every action's `context` holds.
    Schema,
}

#[derive(Debug, Args)]
pub struct PolicyReloadArgs {
    /// The gateway's admin listener (default: the one of the gateway running with this
    /// --config / --data-dir, from its listeners file, else `[admin] listen`).
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// CA certificate to verify an https:// --api with.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// File holding an admin's token (default: GATEHOUSE_TOKEN, else `gatehouse login`'s).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
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
    /// A Kubernetes request to attribute and decide: "METHOD PATH" (path and query as the API
    /// server receives them, without the /c/CONNECTION prefix).
    #[arg(long, value_name = "METHOD PATH", conflicts_with_all = ["sql", "connect"])]
    pub k8s: Option<String>,
    /// With --k8s and PATCH: the patch body (JSON).
    #[arg(long, value_name = "JSON", requires = "k8s")]
    pub patch: Option<String>,
    /// With --patch: strategic (the default, what kubectl patch sends), merge, json or apply.
    #[arg(long, value_name = "TYPE", requires = "patch", default_value = "strategic", value_parser = ["strategic", "merge", "json", "apply"])]
    pub patch_type: String,
    /// An HTTP API request to read and decide: "METHOD PATH" (path and query as the target
    /// receives them, without the /c/CONNECTION prefix), e.g. "DELETE /api/queues/%2F/orders".
    #[arg(long, value_name = "METHOD PATH", conflicts_with_all = ["sql", "connect", "k8s"])]
    pub http: Option<String>,
    /// With --http: a request header `NAME: VALUE` (repeat it; X-HTTP-Method-Override counts).
    #[arg(long = "header", value_name = "NAME: VALUE", requires = "http")]
    pub headers: Vec<String>,
    /// With --http: the request body (JSON bodies are read for json_keys, json_values and
    /// GraphQL operations, as the gateway reads them).
    #[arg(long, value_name = "BODY", requires = "http")]
    pub body: Option<String>,
    /// An SSH command line to decide as an exec request (`ssh:exec`, or `ssh:scp` for legacy
    /// scp's `scp -t/-f ...`), split by the shell's rules as the gateway splits it.
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["sql", "connect", "k8s", "http"])]
    pub ssh: Option<String>,
    /// Decide the `connect` action instead of SQL.
    #[arg(long)]
    pub connect: bool,
    /// Decide `data:unmasked` (may this identity see the connection's data without masking?).
    #[arg(long, conflicts_with_all = ["sql", "connect", "k8s", "http"])]
    pub unmasked: bool,
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
    /// When policy holds the statement for approval, wait (up to the gateway's
    /// `[approvals] wait`) and run it once approved, instead of returning `pending` at once.
    #[arg(long)]
    pub wait: bool,
    /// Run the statement that approval ID was granted for (the same text, as the same
    /// identity), waiting if it is still pending; fails if the statement is bound to another
    /// approval.
    #[arg(long, value_name = "ID")]
    pub approval: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The agent's config file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The gateway's agent listener (HOST:PORT), overriding the config's `gateway`.
    #[arg(long, value_name = "HOST:PORT")]
    pub gateway: Option<String>,
    /// The gateway's CA certificate, overriding the config's `ca_file`.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Create an agent and print its one-time enrolment token.
    #[command(after_long_help = "Examples:
  gatehouse agents create dc1
  gatehouse agents create dc1 --ttl 15m --output json
  gatehouse agents create dc1 --replace     # enrol again (the old credential stops working)
  gatehouse agents create dc1 --workload-provider k8s --workload-subject system:serviceaccount:db:gatehouse-agent")]
    Create(AgentCreateArgs),
    /// List agents: state, whether connected, version, connections, last seen.
    List(OutputArgs),
    /// Revoke an agent: its credential is refused and its tunnels close.
    Revoke(AgentRevokeArgs),
}

#[derive(Debug, Args)]
pub struct AgentCreateArgs {
    /// The agent's name (letters, digits, `-`, `_`, `.`), as connections' `agents` name it.
    pub name: String,
    /// How long the enrolment token stays usable (default `[agents] enrolment_ttl`, 1h).
    #[arg(long)]
    pub ttl: Option<humantime::Duration>,
    /// Start an existing agent over (a new enrolment token; its old credential stops working).
    #[arg(long)]
    pub replace: bool,
    /// Instead of an enrolment token, the agent authenticates with workload identity tokens
    /// (e.g. its Kubernetes service account token) of this `[[identity_providers]]` entry...
    #[arg(long, value_name = "PROVIDER", requires = "workload_subject")]
    pub workload_provider: Option<String>,
    /// ... whose subject (`sub`, or the provider's subject_claim) is this.
    #[arg(long, value_name = "SUBJECT", requires = "workload_provider")]
    pub workload_subject: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct AgentRevokeArgs {
    /// The agent's name.
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum IdentitiesCommand {
    /// Revoke an identity: its API keys and gatehouse tokens (also as `acting_for`) are
    /// refused from now on, token exchanges for it are refused, and its live PostgreSQL
    /// sessions end within about two seconds with a FATAL error naming the reason.
    #[command(after_long_help = "Examples:
  gatehouse identities revoke ana --reason \"laptop stolen\"
  gatehouse identities list --output json
  gatehouse identities restore ana")]
    Revoke(IdentityRevokeArgs),
    /// Lift a revocation: the identity's still-valid credentials work again.
    Restore(IdentityRestoreArgs),
    /// List the revoked identities.
    List(OutputArgs),
}

#[derive(Debug, Args)]
pub struct IdentityRevokeArgs {
    /// The subject, as audit events and `gatehouse keys list` name it.
    pub subject: String,
    /// Why (recorded in the audit log and sent to the ended sessions).
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct IdentityRestoreArgs {
    /// The subject to restore.
    pub subject: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArgs {
    /// Output format: `text` for people, `json` for programs and agents.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

impl OutputArgs {
    pub fn is_json(&self) -> bool {
        self.output == OutputFormat::Json
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List recorded sessions, oldest first: who connected to what, when, how many requests.
    ///
    /// A session without an end time is still running, or its recording was cut short (the
    /// gateway stopped before the session ended); either can be replayed.
    #[command(after_long_help = "Examples:
  gatehouse sessions list
  gatehouse sessions list --identity ana --since 2h
  gatehouse sessions list --connection orders --since 2026-11-28T10:00:00Z --output json")]
    List(SessionsListArgs),
    /// Show what one session did: each statement, the policy decision on it and what came back.
    ///
    /// Text output is a timeline, one line per event, stamped with the time since the session
    /// started. `--output json` prints the recorded events as JSON lines, exactly as stored.
    /// With `--speed` the lines appear at the session's own pace (pauses longer than 2 s are
    /// cut to 2 s); Ctrl-C stops.
    ///
    /// A damaged recording (the gateway was killed mid-write, or the stored bytes were
    /// altered) is shown up to the damage, followed by a line saying where and why it stops;
    /// the same is printed to standard error as a warning and the exit status is still 0.
    /// Exit status 1: no recording with that id, or it cannot be read at all.
    #[command(after_long_help = "Examples:
  gatehouse sessions replay s-0123456789abcdef
  gatehouse sessions replay s-0123456789abcdef --speed 10
  gatehouse sessions replay s-0123456789abcdef --output json | jq -c 'select(.type == \"request\")'
  gatehouse sessions replay s-0123456789abcdef --asciicast > exec.cast && asciinema play exec.cast")]
    Replay(SessionsReplayArgs),
    /// Watch a running session live, of any protocol: a header (who, which connection, from
    /// where, since when), then its events as they happen, then how it ended.
    ///
    /// Terminal output (an SSH shell, a `kubectl exec`) is written to standard output as is,
    /// as the user's terminal showed it; every other event is a timeline line, as `replay`
    /// prints it. The gateway stores a session's recording at least every second, so the
    /// view is at most about a second behind. `--output json` prints the recorded events as
    /// JSON lines instead. The command ends when the session does (exit status 0), or on
    /// Ctrl-C (the session goes on). Watching is recorded in the audit log first, like a
    /// replay. Exit status 1: no recording with that id.
    #[command(after_long_help = "Examples:
  gatehouse sessions list                          # a running session has no end time
  gatehouse sessions watch s-0123456789abcdef
  gatehouse sessions watch s-0123456789abcdef --output json | jq -c 'select(.type == \"request\")'")]
    Watch(SessionsWatchArgs),
    /// End a running session now, of any protocol, through the running gateway's admin API
    /// (`POST /v1/sessions/ID/kill`) with an admin's token (one of `[admin] groups`).
    ///
    /// The client is told why in its protocol (`ended by YOU: REASON`: SSH writes it to the
    /// terminal, PostgreSQL sends it as a FATAL error, HTTP connections are cut), as when
    /// its identity is revoked; the kill is recorded in the audit log (a `session_kill`
    /// event naming who killed which session and why). Only this session ends: to keep the
    /// identity out, `gatehouse identities revoke` it. Exit status 1: no live session with
    /// that id, a token that is not an admin's, or the gateway could not be asked.
    #[command(after_long_help = "Examples:
  gatehouse sessions kill s-0123456789abcdef --reason \"incident 42\"
  GATEHOUSE_TOKEN=$(cat admin.token) gatehouse sessions kill s-0123456789abcdef --api http://gatehouse:8081")]
    Kill(SessionsKillArgs),
}

#[derive(Debug, Args)]
pub struct SessionsWatchArgs {
    /// Session id, as shown by `gatehouse sessions list`.
    pub id: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SessionsKillArgs {
    /// Session id, as shown by `gatehouse sessions list` and in the session's audit events.
    pub id: String,
    /// Why (sent to the session's client and recorded in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    /// The gateway's admin listener (default: the one of the gateway running with this
    /// --config / --data-dir, from its listeners file, else `[admin] listen`).
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// CA certificate to verify an https:// --api with.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// File holding an admin's token (default: GATEHOUSE_TOKEN, else `gatehouse login`'s).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SessionsListArgs {
    /// Only sessions of this identity (subject).
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    /// Only sessions to this connection.
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
    /// Only sessions that started at or after this time: RFC 3339 (2026-11-28T10:00:00Z) or a duration ago (15m, 2h, 7days).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SessionsReplayArgs {
    /// Session id, as shown by `gatehouse sessions list`.
    pub id: String,
    /// Replay at the session's pace times F: 1 is real time, 10 ten times faster, 0.5 half speed.
    #[arg(long, value_name = "F", value_parser = parse_speed, allow_negative_numbers = true)]
    pub speed: Option<f64>,
    /// Write the session's terminal streams (a `kubectl exec`, a shell) as an asciicast v2
    /// file on standard output, for `asciinema play` or its web player.
    #[arg(long, conflicts_with = "speed")]
    pub asciicast: bool,
    /// With --asciicast: only this request's streams (the request number in the timeline),
    /// when the session ran several.
    #[arg(long, value_name = "N", requires = "asciicast")]
    pub request: Option<u64>,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed.is_finite() && speed > 0.0 => Ok(speed),
        _ => Err(format!(
            "`{text}` is not a positive number (1 is real time, 10 ten times faster)"
        )),
    }
}
