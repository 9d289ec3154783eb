//! Command line and environment. The only place that knows flag and variable names.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::executor::ExecutorConfig;

mod auth;
mod openfero_compat;

pub use auth::{AuthArgs, AuthCommand, MetricsAuth};
pub use openfero_compat::{go_style_flags, OpenFeroFlags};

/// `--version`: a build with the chaos suite's fault hooks says so (chaos/README.md), and the
/// chaos harness reads it to know whether it can inject `sync-fail`.
#[cfg(feature = "chaos-faults")]
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (chaos-faults)");
#[cfg(not(feature = "chaos-faults"))]
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// openfero: Alertmanager webhooks in, exactly-once remediations out.
#[derive(Debug, Parser)]
#[command(
    name = "openfero",
    version = VERSION,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    /// `serve`'s flags, used when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run openfero (the default).
    Serve(Box<ServeArgs>),
    /// Check operarius files; print each problem with its file and document index.
    Validate(ValidateArgs),
    /// Print the Operarius CustomResourceDefinition (YAML), generated from the Rust types.
    Crd,
    /// Development certificates for peer TLS (local clusters and tests; use cert-manager or
    /// your PKI in production).
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Hashes for the auth file (`--auth-file`); secrets are read from standard input.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Replay the recorded history against a candidate catalog: what would happen, against
    /// what did (nothing is proposed or executed).
    Replay(Box<crate::replay::ReplayArgs>),
    /// The command-line client's commands (`alerts`, `remediations`, `cluster`, …).
    #[command(flatten)]
    Client(crate::client::Command),
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Make a cluster CA and a certificate per node in DIR (`ca.pem`, `ca-key.pem`,
    /// `<node>.pem`, `<node>-key.pem`); an existing CA is kept unless `--overwrite`.
    Init {
        dir: PathBuf,
        /// Node names, each `name` or `name=san1,san2` (extra DNS names or IP addresses).
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Replace an existing CA in DIR.
        #[arg(long)]
        overwrite: bool,
    },
    /// Issue (or replace) one node's certificate from the CA in DIR.
    Issue {
        dir: PathBuf,
        /// `name` or `name=san1,san2`.
        node: String,
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

impl Cli {
    /// The command to run, with `serve` as the default.
    pub fn into_command(self) -> CliCommand {
        self.command
            .unwrap_or(CliCommand::Serve(Box::new(self.serve)))
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or folders (searched for *.yaml and *.yml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Namespace assumed for operarios that name none.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Also check every Job template against this policy (as `serve --policy-file`).
    #[arg(long)]
    pub policy_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    Auto,
    Local,
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_mode(s: &str) -> Result<crate::operarios::Mode, String> {
    crate::operarios::Mode::parse(s)
}

fn parse_window(s: &str) -> Result<crate::operarios::WindowDef, String> {
    crate::operarios::WindowDef::parse_flag(s)
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address of the HTTP server (webhook, API, Raft RPCs): `ip:port`, `[ipv6]:port`, or
    /// `:port` for every (IPv4) interface.
    #[arg(
        long,
        alias = "addr",
        env = "OPENFERO_LISTEN",
        default_value = "127.0.0.1:8080",
        value_parser = openfero_compat::parse_listen
    )]
    pub listen: SocketAddr,
    /// Address peers and clients use to reach this node (defaults to the bound listen address).
    #[arg(long, env = "OPENFERO_ADVERTISE")]
    pub advertise: Option<String>,
    /// TLS on the API listener (webhook, API, UI): this certificate chain (PEM, leaf first).
    /// With `--tls-key-file` the listener speaks only https; both files are re-read when they
    /// change, so a renewed certificate applies to new connections without a restart.
    #[arg(long, env = "OPENFERO_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// TLS on the API listener: the private key (PEM) of `--tls-cert-file`.
    #[arg(long, env = "OPENFERO_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// Folder of the sled store and node identity.
    #[arg(long, env = "OPENFERO_DATA_DIR", default_value = "./openfero-data")]
    pub data_dir: PathBuf,
    /// File or folder of operarius YAML documents (embedded mode).
    #[arg(long, env = "OPENFERO_OPERARIOS", default_value = "./operarios")]
    pub operarios: PathBuf,
    /// Namespace assumed for operarios that name none.
    #[arg(long, env = "OPENFERO_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// Seconds between re-reads of the operarius files.
    #[arg(long, env = "OPENFERO_RELOAD_SECS", default_value_t = 5)]
    pub reload_secs: u64,
    /// Largest accepted webhook body, in bytes.
    #[arg(long, env = "OPENFERO_BODY_LIMIT", default_value_t = 5 * 1024 * 1024)]
    pub body_limit: usize,
    /// Cluster-wide budget over every remediation: `MAX/DURATION`, comma separated for several
    /// windows (`100/1h,500/24h`). Over it, remediations are `held`. The leader's flags are
    /// replicated (give every node the same).
    #[arg(long, env = "OPENFERO_BUDGET_GLOBAL", value_delimiter = ',', value_parser = parse_window)]
    pub budget_global: Vec<crate::operarios::WindowDef>,
    /// Budget per alert namespace (the `namespace` label), as `--budget-global`.
    #[arg(long, env = "OPENFERO_BUDGET_PER_NAMESPACE", value_delimiter = ',', value_parser = parse_window)]
    pub budget_per_namespace: Vec<crate::operarios::WindowDef>,
    /// Overrides every operarius' `spec.mode`: `shadow` or `dry-run` for a safe rollout
    /// (decisions recorded, no Job created), `enforce` to force every operarius on. Unset: each
    /// operarius' own mode. The leader's flag is replicated.
    #[arg(long, env = "OPENFERO_MODE", value_parser = parse_mode)]
    pub mode: Option<crate::operarios::Mode>,
    /// Policy on the rendered Jobs (YAML: allowedImages, allowedServiceAccounts,
    /// allowedNamespaces, maxActiveDeadlineSeconds, forbid*; README "Guard rails"). A Job that
    /// breaks it is `refused`. The leader's policy is replicated.
    #[arg(long, env = "OPENFERO_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// Alerts kept in the replicated history (older ones are pruned through Raft).
    #[arg(
        long,
        alias = "alertStoreSize",
        env = "OPENFERO_RETENTION_ALERTS",
        default_value_t = 10_000
    )]
    pub retention_alerts: u64,
    /// Seconds between retention checks.
    #[arg(long, env = "OPENFERO_RETENTION_SECS", default_value_t = 30)]
    pub retention_secs: u64,
    /// Remediations executed at once.
    #[arg(long, env = "OPENFERO_MAX_CONCURRENT", default_value_t = 4)]
    pub max_concurrent: usize,
    /// Deadline of a remediation whose job template sets no activeDeadlineSeconds.
    #[arg(long, env = "OPENFERO_DEFAULT_TIMEOUT_SECS", default_value_t = 600)]
    pub default_timeout_secs: u64,
    /// Alertmanager(s) for the operarios' follow-ups (`spec.silence`, and `spec.verify` asks
    /// them whether an alert resolved): base URLs, comma separated (each member of an HA pair).
    #[arg(long, env = "OPENFERO_ALERTMANAGER_URL", value_delimiter = ',')]
    pub alertmanager_url: Vec<String>,
    /// A bearer token for `--alertmanager-url`, read from this file.
    #[arg(long, env = "OPENFERO_ALERTMANAGER_TOKEN_FILE")]
    pub alertmanager_token_file: Option<PathBuf>,
    /// `user:password` for `--alertmanager-url` (basic auth), read from this file.
    #[arg(
        long,
        env = "OPENFERO_ALERTMANAGER_BASIC_AUTH_FILE",
        conflicts_with = "alertmanager_token_file"
    )]
    pub alertmanager_basic_auth_file: Option<PathBuf>,
    /// Cluster id: gossip and Raft traffic of another cluster id is ignored or refused, so two
    /// clusters on one network never merge.
    #[arg(
        long,
        alias = "alertStoreClusterName",
        env = "OPENFERO_CLUSTER_ID",
        default_value = "openfero"
    )]
    pub cluster_id: String,
    /// This node's name; a StatefulSet pod name (`<name>-<ordinal>`) also gives the ordinal.
    /// Defaults to the host name.
    #[arg(long, env = "OPENFERO_NODE_NAME")]
    pub node_name: Option<String>,
    /// Separate listener for Raft RPCs (default: served on `--listen`).
    #[arg(long, env = "OPENFERO_RAFT_ADDR")]
    pub raft_addr: Option<SocketAddr>,
    /// Raft address peers use (defaults to the bound Raft address).
    #[arg(long, env = "OPENFERO_RAFT_ADVERTISE")]
    pub raft_advertise: Option<String>,
    /// UDP address for gossip. Without it the node runs alone (embedded mode).
    #[arg(long, env = "OPENFERO_GOSSIP_ADDR")]
    pub gossip_addr: Option<SocketAddr>,
    /// Gossip address peers use (defaults to `--gossip-addr`).
    #[arg(long, env = "OPENFERO_GOSSIP_ADVERTISE")]
    pub gossip_advertise: Option<SocketAddr>,
    /// Gossip keyring: one 32-byte key per line (base64 or hex), the first one seals what this
    /// node sends, every one opens what it receives. Every gossip packet is sealed
    /// (XChaCha20-Poly1305); packets that do not open are dropped and counted. Re-read when the
    /// file changes, so a key rotates node by node without a restart (docs/deploy.md).
    #[arg(long, env = "OPENFERO_GOSSIP_KEY_FILE")]
    pub gossip_key_file: Option<PathBuf>,
    /// Peer TLS: the cluster CA (PEM). With the certificate and key below, every call between
    /// nodes (Raft RPCs, forwarded writes, admin calls and consistent reads) is mutual TLS: a
    /// node accepts a call only from a client certificate signed by this CA and only talks to
    /// peers that present one. The three files are re-read when they change.
    #[arg(long, env = "OPENFERO_PEER_TLS_CA_FILE")]
    pub peer_tls_ca_file: Option<PathBuf>,
    /// Peer TLS: this node's certificate (PEM), valid for server and client auth.
    #[arg(long, env = "OPENFERO_PEER_TLS_CERT_FILE")]
    pub peer_tls_cert_file: Option<PathBuf>,
    /// Peer TLS: this node's private key (PEM).
    #[arg(long, env = "OPENFERO_PEER_TLS_KEY_FILE")]
    pub peer_tls_key_file: Option<PathBuf>,
    /// Peer TLS: accept only peer certificates with a DNS name matching this `*` glob
    /// (e.g. `*.openfero-peers.monitoring.svc`).
    #[arg(long, env = "OPENFERO_PEER_TLS_SAN_PATTERN")]
    pub peer_tls_san_pattern: Option<String>,
    /// Run a cluster (`--gossip-addr`) without peer TLS or without a gossip key: anyone who
    /// reaches the ports could join or command it. Refused without this flag; with it every
    /// start warns and the UI shows a banner.
    #[arg(long, env = "OPENFERO_INSECURE_CLUSTER")]
    pub insecure_cluster: bool,
    /// Gossip seeds, `host:port`, comma separated (DNS names are re-resolved).
    #[arg(long, env = "OPENFERO_SEEDS", value_delimiter = ',')]
    pub seeds: Vec<String>,
    /// Voters of the first cluster: wait for this many nodes before bootstrapping.
    #[arg(long, env = "OPENFERO_BOOTSTRAP_EXPECT", default_value_t = 1)]
    pub bootstrap_expect: u32,
    #[arg(long, env = "OPENFERO_GOSSIP_INTERVAL_MS", default_value_t = 500)]
    pub gossip_interval_ms: u64,
    /// A voter unreachable this long is removed (if quorum allows).
    #[arg(long, env = "OPENFERO_DEAD_AFTER_SECS", default_value_t = 300)]
    pub dead_after_secs: u64,
    /// Largest number of voters the autopilot keeps (odd).
    #[arg(long, env = "OPENFERO_MAX_VOTERS", default_value_t = 5)]
    pub max_voters: usize,
    /// A caught-up learner is promoted after being healthy this long.
    #[arg(long, env = "OPENFERO_PROMOTE_AFTER_SECS", default_value_t = 10)]
    pub promote_after_secs: u64,
    /// Kubeconfig for Kubernetes mode (in a pod the in-cluster configuration is used).
    #[arg(long, env = "OPENFERO_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Where remediations run: `auto` (Kubernetes Jobs when a Kubernetes configuration is
    /// available, else local processes), `local` or `kubernetes`.
    #[arg(long, env = "OPENFERO_EXECUTOR", value_enum, default_value_t = ExecutorKind::Auto)]
    pub executor: ExecutorKind,
    /// Namespaces watched for Operarius objects and Jobs, comma separated; `*` for all;
    /// empty: the pod's own namespace.
    #[arg(
        long,
        alias = "operariusNamespace",
        env = "OPENFERO_WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    pub watch_namespaces: Vec<String>,
    /// This pod's namespace (downward API).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub pod_namespace: String,
    /// File holding the bearer token for mutating admin calls (without it: loopback only).
    #[arg(long, env = "OPENFERO_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// File holding the bearer token Alertmanager must send with `POST /alerts` (without it:
    /// the webhook is open).
    #[arg(long, env = "OPENFERO_WEBHOOK_TOKEN_FILE")]
    pub webhook_token_file: Option<PathBuf>,
    #[arg(long, env = "OPENFERO_RAFT_HEARTBEAT_MS", default_value_t = 150)]
    pub raft_heartbeat_ms: u64,
    #[arg(long, env = "OPENFERO_RAFT_ELECTION_MIN_MS", default_value_t = 500)]
    pub raft_election_min_ms: u64,
    #[arg(long, env = "OPENFERO_RAFT_ELECTION_MAX_MS", default_value_t = 900)]
    pub raft_election_max_ms: u64,
    /// Entries between Raft snapshots.
    #[arg(long, env = "OPENFERO_RAFT_SNAPSHOT_EVERY", default_value_t = 1000)]
    pub raft_snapshot_every: u64,
    /// How long a webhook waits for its commit before answering 503.
    #[arg(long, env = "OPENFERO_WRITE_TIMEOUT_MS", default_value_t = 2000)]
    pub write_timeout_ms: u64,
    /// Most webhooks in one Raft entry or forward. 1 writes every webhook as an entry of its
    /// own, as releases before batching did: use it while a rolling upgrade from such a release
    /// is under way (their nodes cannot apply batch entries).
    #[arg(long, env = "OPENFERO_RAFT_BATCH_MAX_WRITES", default_value_t = 256)]
    pub raft_batch_max_writes: usize,
    /// Most batches of webhooks proposed or forwarded and not yet committed, per node.
    #[arg(long, env = "OPENFERO_RAFT_BATCH_IN_FLIGHT", default_value_t = 2)]
    pub raft_batch_in_flight: usize,
    /// sled's page cache in MiB (the process' RSS is larger; see ARCHITECTURE.md).
    #[arg(long, env = "OPENFERO_SLED_CACHE_CAPACITY_MIB", default_value_t = 16)]
    pub sled_cache_capacity_mib: u64,
    /// Log filter, in `RUST_LOG` syntax.
    #[arg(long, alias = "logLevel", env = "OPENFERO_LOG", default_value = "info")]
    pub log: String,
    #[arg(long, env = "OPENFERO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// OpenFero 0.18's flags without an equivalent (hidden): refused by `validate`, each with
    /// what replaces it. Those with one are aliases above (`--addr`, `--logLevel`, ...).
    #[command(flatten)]
    pub openfero_compat: OpenFeroFlags,
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{field}`: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: String,
}

impl ServeArgs {
    pub fn validate(&self) -> Result<(), ConfigError> {
        openfero_compat::check(self)?;
        let bad = |field, reason: &str| {
            Err(ConfigError {
                field,
                reason: reason.to_string(),
            })
        };
        if self.body_limit < 1024 {
            return bad("body-limit", "must be at least 1024 bytes");
        }
        if self.max_concurrent == 0 {
            return bad("max-concurrent", "must be at least 1");
        }
        if self.retention_alerts == 0 {
            return bad("retention-alerts", "must be at least 1");
        }
        if self.reload_secs == 0 || self.retention_secs == 0 {
            return bad("reload-secs/retention-secs", "must be at least 1");
        }
        if self.bootstrap_expect == 0 {
            return bad("bootstrap-expect", "must be at least 1");
        }
        if self.bootstrap_expect > 1 && self.gossip_addr.is_none() {
            return bad(
                "bootstrap-expect",
                "a cluster of more than one node needs --gossip-addr (and --seeds)",
            );
        }
        if self.max_voters == 0 || self.max_voters.is_multiple_of(2) {
            return bad("max-voters", "must be odd (1, 3, 5, ...)");
        }
        if self.gossip_interval_ms < 10 {
            return bad("gossip-interval-ms", "must be at least 10");
        }
        if self.cluster_id.trim().is_empty() {
            return bad("cluster-id", "must not be empty");
        }
        let tls_files = [
            self.peer_tls_ca_file.is_some(),
            self.peer_tls_cert_file.is_some(),
            self.peer_tls_key_file.is_some(),
        ];
        if tls_files.iter().any(|f| *f) && !tls_files.iter().all(|f| *f) {
            return bad(
                "peer-tls",
                "give all three of --peer-tls-ca-file, --peer-tls-cert-file and --peer-tls-key-file",
            );
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return bad("tls", "give both --tls-cert-file and --tls-key-file");
        }
        if self.api_tls().is_some() && self.gossip_addr.is_some() && self.peer_tls().is_none() {
            // Without peer TLS, nodes forward admin calls and reads to each other's API
            // listener in plain HTTP; with peer TLS they use the peer listener.
            return bad(
                "tls",
                "API TLS in a cluster needs peer TLS: nodes forward calls over the peer listener",
            );
        }
        if self.peer_tls_san_pattern.is_some() && self.peer_tls_ca_file.is_none() {
            return bad("peer-tls-san-pattern", "needs the peer TLS files");
        }
        if self.peer_tls().is_some() && self.raft_addr.is_none() {
            return bad(
                "raft-addr",
                "peer TLS needs its own listener: Raft is never served on the API listener",
            );
        }
        if let Some(missing) = self.insecure_cluster_reason() {
            if !self.insecure_cluster {
                return Err(ConfigError {
                    field: "insecure-cluster",
                    reason: format!(
                        "a cluster node (--gossip-addr) needs {missing}: without them anyone who \
                         reaches its ports can join the cluster or command it; give them (see \
                         `openfero certs init` and docs/deploy.md) or accept the risk with \
                         --insecure-cluster"
                    ),
                });
            }
        }
        self.raft_config().validate().map_err(|e| ConfigError {
            field: "raft",
            reason: e.to_string(),
        })?;
        Ok(())
    }

    pub fn raft_config(&self) -> openfero_raft::RaftConfig {
        openfero_raft::RaftConfig {
            cluster_name: self.cluster_id.clone(),
            heartbeat_interval: Duration::from_millis(self.raft_heartbeat_ms),
            election_timeout_min: Duration::from_millis(self.raft_election_min_ms),
            election_timeout_max: Duration::from_millis(self.raft_election_max_ms),
            snapshot_every: self.raft_snapshot_every,
            write_timeout: Duration::from_millis(self.write_timeout_ms),
            cache_capacity: self.sled_cache_capacity_mib.saturating_mul(1024 * 1024),
            batch: openfero_raft::BatchLimits {
                max_commands: self.raft_batch_max_writes,
                max_in_flight: self.raft_batch_in_flight,
                ..Default::default()
            },
            peer_tls: self.peer_tls(),
            ..Default::default()
        }
    }

    /// The peer TLS files, when all three are given.
    pub fn peer_tls(&self) -> Option<openfero_raft::tls::PeerTlsConfig> {
        Some(openfero_raft::tls::PeerTlsConfig {
            ca_file: self.peer_tls_ca_file.clone()?,
            cert_file: self.peer_tls_cert_file.clone()?,
            key_file: self.peer_tls_key_file.clone()?,
            san_pattern: self.peer_tls_san_pattern.clone(),
        })
    }

    /// The cluster-wide budgets of the flags.
    pub fn cluster_guards(&self) -> anyhow::Result<crate::operarios::ClusterGuards> {
        let sorted = |v: &[crate::operarios::WindowDef]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        let policy = match &self.policy_file {
            Some(path) => Some(crate::operarios::load_policy(path).map_err(anyhow::Error::msg)?),
            None => None,
        };
        Ok(crate::operarios::ClusterGuards {
            global: sorted(&self.budget_global),
            per_namespace: sorted(&self.budget_per_namespace),
            mode: self.mode,
            policy,
        })
    }

    /// The API listener's certificate and key, when both are given.
    pub fn api_tls(&self) -> Option<openfero_raft::tls::ServerTlsConfig> {
        Some(openfero_raft::tls::ServerTlsConfig {
            cert_file: self.tls_cert_file.clone()?,
            key_file: self.tls_key_file.clone()?,
        })
    }

    /// What a cluster node lacks to be secure (`None` on the embedded default or when it has
    /// both peer TLS and a gossip key).
    pub fn insecure_cluster_reason(&self) -> Option<&'static str> {
        self.gossip_addr?;
        match (self.peer_tls().is_some(), self.gossip_key_file.is_some()) {
            (true, true) => None,
            (false, true) => {
                Some("peer TLS (--peer-tls-ca-file, --peer-tls-cert-file, --peer-tls-key-file)")
            }
            (true, false) => Some("a gossip key (--gossip-key-file)"),
            (false, false) => {
                Some("peer TLS (--peer-tls-*-file) and a gossip key (--gossip-key-file)")
            }
        }
    }

    /// Whether this node runs in Kubernetes mode (Operarius objects, Jobs): `--executor
    /// kubernetes`, or `auto` with `--kubeconfig` or an in-cluster configuration.
    pub fn kubernetes_mode(&self) -> bool {
        match self.executor {
            ExecutorKind::Local => false,
            ExecutorKind::Kubernetes => true,
            ExecutorKind::Auto => self.kubeconfig.is_some() || crate::kubernetes::in_cluster(),
        }
    }

    /// The node name: `--node-name`, else the host name, else `openfero`.
    pub fn node_name(&self) -> String {
        self.node_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
            })
            .unwrap_or_else(|| "openfero".to_string())
    }

    pub fn executor_config(&self) -> ExecutorConfig {
        ExecutorConfig {
            max_concurrent: self.max_concurrent,
            default_timeout: Duration::from_secs(self.default_timeout_secs),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests;
