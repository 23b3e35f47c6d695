//! `ratufa`: the one binary. `master` runs a master, `local` a master and its agents in
//! one process (the embedded default), `agent` an agent. Flags keep Apache Mesos's names,
//! defaults and value syntax so that existing configurations carry over.

// Encoded events cross threads (the core's task to each stream's writer); glibc's
// allocator trims and regrows its heap under that pattern, costing page faults on every
// burst (BENCHMARKS.md: 3x on JSON event streams).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use ratufa_master::MasterConfig;
use ratufa_master::removal_flags::{RecoveryRemovalLimit, RemovalRate};
use ratufa_proto::duration;
use tracing::{error, info};

mod logging;
mod resolve;
mod runtime;

#[derive(Parser, Debug)]
#[command(
    name = "ratufa",
    version,
    about = "A cluster manager that speaks the Apache Mesos v1 HTTP APIs",
    long_about = "A cluster manager that speaks the Apache Mesos v1 HTTP APIs.\n\n\
                  Flags take Mesos's names and value syntax (durations such as 15secs, \
                  500ms, 1mins; booleans as --flag, --flag=true or --flag=false)."
)]
struct Cli {
    /// Log level: one of INFO, WARNING, ERROR (as Mesos), or any `tracing` filter.
    /// RUST_LOG, when set, wins.
    #[arg(long = "logging_level", global = true, default_value = "INFO")]
    logging_level: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a master (Mesos's mesos-master).
    Master(MasterFlags),
    /// Run a master and its agents in one process (Mesos's mesos-local); no ZooKeeper.
    Local(Box<LocalFlags>),
    /// Run an agent (Mesos's mesos-agent): registers with --master and runs command
    /// tasks.
    Agent(AgentFlags),
    /// The command/default executor, launched by the agent; reads its MESOS_*
    /// environment (not meant to be run by hand).
    Executor,
    /// Print the leading master's ip:port (Mesos's mesos-resolve): from a zk:// URL,
    /// a host:port, or file:///path holding either.
    Resolve(resolve::ResolveFlags),
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    duration::parse(text).map_err(|e| e.to_string())
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!("'{text}' must be more than zero"));
    }
    Ok(duration)
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("'{text}' is not a number between 0.0 and 1.0")),
    }
}

/// Accepts Mesos's path-flag forms: a plain path or `file:///path`.
fn parse_path(text: &str) -> Result<PathBuf, String> {
    let path = text.strip_prefix("file://").unwrap_or(text);
    if path.is_empty() {
        return Err("expected a path".to_string());
    }
    Ok(PathBuf::from(path))
}

#[derive(Args, Debug, Clone)]
struct MasterFlags {
    /// IP address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    ip: IpAddr,

    /// Port to listen on.
    #[arg(long, default_value_t = 5050)]
    port: u16,

    /// The hostname the master advertises (in MasterInfo and in redirects). Defaults to
    /// the machine's hostname.
    #[arg(long)]
    hostname: Option<String>,

    /// IP address advertised to reach this master, when it differs from --ip (NAT,
    /// containers).
    #[arg(long = "advertise_ip")]
    advertise_ip: Option<IpAddr>,

    /// Port advertised to reach this master, when it differs from --port.
    #[arg(long = "advertise_port")]
    advertise_port: Option<u16>,

    /// Directory for the master's persistent state (the registry).
    #[arg(long = "work_dir", value_parser = parse_path)]
    work_dir: Option<PathBuf>,

    /// Comma-separated whitelist of roles frameworks may use (deprecated in Mesos; by
    /// default any valid role is allowed).
    #[arg(long, value_delimiter = ',')]
    roles: Option<Vec<String>>,

    /// Number of completed frameworks remembered (for "Framework has been removed" and
    /// /master/state).
    #[arg(long = "max_completed_frameworks", default_value_t = 50)]
    max_completed_frameworks: usize,

    /// Operator API SUBSCRIBE streams open at once; more are refused with 503.
    #[arg(long = "max_operator_event_stream_subscribers", default_value_t = 1000)]
    max_operator_event_stream_subscribers: usize,

    /// Require HTTP basic authentication of schedulers (principals from --credentials).
    #[arg(
        long = "authenticate_http_frameworks",
        num_args = 0..=1,
        default_missing_value = "true",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    authenticate_http_frameworks: bool,

    #[command(flatten)]
    http_auth: HttpAuthFlags,

    /// Path to the credentials file: JSON `{"credentials":[{"principal":…,"secret":…}]}`
    /// or lines of `principal secret`. Frameworks and operators alike authenticate
    /// against it (in `ratufa local`, the agents' operators too).
    #[arg(long, value_parser = parse_path)]
    credentials: Option<PathBuf>,

    /// Interval between HEARTBEAT events on scheduler streams (ratufa's flag; Mesos
    /// hard-codes 15secs).
    #[arg(long = "scheduler_heartbeat_interval", default_value = "15secs", value_parser = parse_duration)]
    scheduler_heartbeat_interval: Duration,

    /// Largest request body accepted, in bytes (ratufa's flag; Mesos has no limit).
    #[arg(long = "max_request_body_bytes", default_value_t = ratufa_gateway::request::DEFAULT_MAX_BODY_BYTES)]
    max_request_body_bytes: usize,

    /// How often agents are pinged; a ping unanswered this long counts as missed.
    #[arg(long = "agent_ping_timeout", alias = "slave_ping_timeout", default_value = "15secs", value_parser = parse_duration)]
    agent_ping_timeout: Duration,

    /// Missed pings in a row after which an agent is unreachable (its tasks
    /// TASK_UNREACHABLE, or TASK_LOST for frameworks that are not PARTITION_AWARE).
    #[arg(
        long = "max_agent_ping_timeouts",
        alias = "max_slave_ping_timeouts",
        default_value_t = 5
    )]
    max_agent_ping_timeouts: u32,

    /// After a new leader recovers the registry, agents it lists that have not
    /// re-registered within this long are marked unreachable (at least 10secs).
    #[arg(long = "agent_reregister_timeout", alias = "slave_reregister_timeout", default_value = "10mins", value_parser = parse_duration)]
    agent_reregister_timeout: Duration,

    /// After a failover, if more than this percentage of the agents in the registry
    /// have not re-registered within --agent_reregister_timeout, the master exits
    /// (another takes over) rather than mark them all unreachable.
    #[arg(
        long = "recovery_agent_removal_limit",
        alias = "recovery_slave_removal_limit",
        default_value = ratufa_master::removal_flags::DEFAULT_RECOVERY_AGENT_REMOVAL_LIMIT
    )]
    recovery_agent_removal_limit: String,

    /// The most agents marked unreachable per duration, e.g. 1/10mins (after missed
    /// pings or --agent_reregister_timeout). Unset: no limit.
    #[arg(long = "agent_removal_rate_limit", alias = "slave_removal_rate_limit")]
    agent_removal_rate_limit: Option<String>,

    /// Offers outstanding longer than this are rescinded. Unset: never.
    #[arg(long = "offer_timeout", value_parser = parse_duration)]
    offer_timeout: Option<Duration>,

    /// Period of the backstop allocation cycle (offers also go out as soon as
    /// resources free up).
    #[arg(long = "allocation_interval", default_value = "1secs", value_parser = parse_duration)]
    allocation_interval: Duration,

    /// Role weights for DRF, `role=weight` pairs separated by commas (e.g. a=1,b=3).
    #[arg(long)]
    weights: Option<String>,

    /// Leftovers on an agent are offered only if they hold at least one of these
    /// `|`-separated quantities.
    #[arg(long = "min_allocatable_resources", default_value = "cpus:0.01|mem:32")]
    min_allocatable_resources: String,

    /// Completed tasks remembered per framework (for /master/state).
    #[arg(long = "max_completed_tasks_per_framework", default_value_t = 1000)]
    max_completed_tasks_per_framework: usize,

    /// Most offers in one OFFERS event (ratufa's flag; Mesos sends all at once).
    #[arg(long = "max_offers_per_event", default_value_t = 100)]
    max_offers_per_event: usize,

    /// ZooKeeper URL for leader election among masters:
    /// zk://[user:pass@]host:port[,host:port…]/path. Without it this master always leads.
    #[arg(long)]
    zk: Option<String>,

    /// ZooKeeper session timeout: a leader that cannot reach ZooKeeper for this long
    /// has lost its session (it stops leading as soon as the connection drops).
    #[arg(long = "zk_session_timeout", default_value = "10secs", value_parser = parse_positive_duration)]
    zk_session_timeout: Duration,

    /// Make a non-leading master forward API calls and event streams to the leader
    /// (ratufa's flag) instead of answering 307, for clients behind a load balancer
    /// that never follow redirects.
    #[arg(
        long = "leader_proxy",
        num_args = 0..=1,
        default_missing_value = "true",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    leader_proxy: bool,

    /// Accepted for Mesos compatibility and not used: Mesos sizes its replicated log
    /// with it; ratufa has no replicated log (see docs/COMPATIBILITY.md).
    #[arg(long)]
    quorum: Option<u32>,
}

/// Which operator endpoints need HTTP basic authentication, the master's and the
/// agent's alike (Mesos's flag names and realms).
#[derive(Args, Debug, Clone)]
struct HttpAuthFlags {
    /// Require HTTP basic authentication on the endpoints that only report
    /// (`/state`, `/metrics/snapshot`, `/flags`, `/files/*`, …).
    #[arg(
        long = "authenticate_http_readonly",
        num_args = 0..=1,
        default_missing_value = "true",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    authenticate_http_readonly: bool,

    /// Require HTTP basic authentication on the endpoints that can change the cluster
    /// or the agent (the operator API `/api/v1`, every call; the master's `/weights`).
    #[arg(
        long = "authenticate_http_readwrite",
        num_args = 0..=1,
        default_missing_value = "true",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    authenticate_http_readwrite: bool,
}

/// Reads a credentials file, naming the flag that gave it in errors. A file without
/// any credentials is refused, as Mesos refuses an empty one: it can only be a mistake.
fn read_credentials(
    flag: &str,
    path: Option<&PathBuf>,
) -> anyhow::Result<Option<ratufa_gateway::Credentials>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let credentials = ratufa_gateway::Credentials::from_file(path)
        .with_context(|| format!("--{flag}={}", path.display()))?;
    if credentials.is_empty() {
        anyhow::bail!(
            "--{flag}={}: the file must hold at least one credential",
            path.display()
        );
    }
    Ok(Some(credentials))
}

#[derive(Args, Debug, Clone)]
struct LocalFlags {
    #[command(flatten)]
    master: MasterFlags,

    /// Number of agents to run in the process (Mesos's --num_slaves).
    #[arg(long = "num_agents", alias = "num_slaves", default_value_t = 1)]
    num_agents: u32,

    /// Each agent's resources, as `ratufa agent --resources` (detected when unset).
    #[arg(long)]
    resources: Option<String>,

    /// Each agent's attributes, as `ratufa agent --attributes`.
    #[arg(long)]
    attributes: Option<String>,

    /// Port of the first agent; the others take the next ones. 0 (the default) gives
    /// each agent an ephemeral port, so several clusters can share a machine.
    #[arg(long = "agent_port", default_value_t = 0)]
    agent_port: u16,

    /// Role of the agents' resources given or detected without one.
    #[arg(long = "default_role", default_value = "*")]
    default_role: String,

    #[command(flatten)]
    isolation: IsolationFlags,

    #[command(flatten)]
    gc: GcFlags,

    #[command(flatten)]
    executors: ExecutorFlags,
}

/// How an agent isolates its containers (Mesos's flags and defaults, but the root).
#[derive(Args, Debug, Clone)]
struct IsolationFlags {
    /// Isolators, comma-separated: `posix/cpu,posix/mem` (nothing enforced) or
    /// `cgroups/cpu,cgroups/mem` (cpu shares, a hard memory limit; an OOM kill fails
    /// the task with REASON_CONTAINER_LIMITATION_MEMORY).
    #[arg(long, default_value = ratufa_agent::isolator::DEFAULT_ISOLATION)]
    isolation: String,

    /// The cgroup, under each hierarchy, that holds the containers' cgroups.
    #[arg(long = "cgroups_root", default_value = ratufa_agent::isolator::DEFAULT_CGROUPS_ROOT)]
    cgroups_root: String,

    /// Also cap each container's cpu time at its cpus with a CFS quota.
    #[arg(long = "cgroups_enable_cfs", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    cgroups_enable_cfs: bool,

    /// The memory limit also bounds swap: a container uses no swap.
    #[arg(long = "cgroups_limit_swap", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    cgroups_limit_swap: bool,
}

/// When ended containers' sandboxes are removed (Mesos's flags and defaults).
#[derive(Args, Debug, Clone)]
struct GcFlags {
    /// How long an ended container's sandbox is kept at most; it goes sooner as the
    /// disk fills (see --gc_disk_headroom).
    #[arg(long = "gc_delay", default_value = "1weeks", value_parser = parse_duration)]
    gc_delay: Duration,

    /// How often the work dir's disk usage is checked to prune sandboxes sooner.
    #[arg(long = "disk_watch_interval", default_value = "1mins", value_parser = parse_positive_duration)]
    disk_watch_interval: Duration,

    /// The fraction of the disk to keep free (0.0 to 1.0): at usage u, sandboxes older
    /// than gc_delay × max(0, 1 − gc_disk_headroom − u) are removed.
    #[arg(long = "gc_disk_headroom", default_value = "0.1", value_parser = parse_fraction)]
    gc_disk_headroom: f64,
}

/// How an agent runs its executors and recovers them (Mesos's flags and defaults).
#[derive(Args, Debug, Clone)]
struct ExecutorFlags {
    /// Directory holding the executor binary, `ratufa-executor` (else `ratufa`, run as
    /// `ratufa executor`); defaults to this binary's directory.
    #[arg(long = "launcher_dir", value_parser = parse_path)]
    launcher_dir: Option<PathBuf>,

    /// An executor that has not subscribed this long after its launch is destroyed and
    /// its tasks fail with REASON_EXECUTOR_REGISTRATION_TIMEOUT.
    #[arg(long = "executor_registration_timeout", default_value = "1mins", value_parser = parse_positive_duration)]
    executor_registration_timeout: Duration,

    /// Between the SHUTDOWN event and the destruction of the executor's container.
    #[arg(long = "executor_shutdown_grace_period", default_value = "5secs", value_parser = parse_duration)]
    executor_shutdown_grace_period: Duration,

    /// After a restart, how long recovered executors have to subscribe again.
    #[arg(long = "executor_reregistration_timeout", default_value = "5secs", value_parser = parse_positive_duration)]
    executor_reregistration_timeout: Duration,

    /// After a restart: `reconnect` to the checkpointed executors, or `cleanup` (kill
    /// them and start as a new agent).
    #[arg(long, default_value = "reconnect")]
    recover: ratufa_agent::Recover,

    /// Fail the start when a checkpoint cannot be read (otherwise skip what is
    /// unreadable, with a warning).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    strict: bool,

    /// Run tasks as their framework's (or command's) user when the agent is root.
    #[arg(long = "switch_user", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    switch_user: bool,
}

impl ExecutorFlags {
    fn apply(&self, config: &mut ratufa_agent::AgentConfig) {
        config.launcher_dir = self.launcher_dir.clone();
        config.executor_registration_timeout = self.executor_registration_timeout;
        config.executor_shutdown_grace_period = self.executor_shutdown_grace_period;
        config.executor_reregistration_timeout = self.executor_reregistration_timeout;
        config.recover = self.recover;
        config.strict = self.strict;
        config.switch_user = self.switch_user;
    }
}

#[derive(Args, Debug, Clone)]
struct AgentFlags {
    /// The master to register with: host:port, or zk://[user:pass@]host:port,…/path to
    /// follow the leading master elected through ZooKeeper.
    #[arg(long)]
    master: String,

    /// Directory for the agent's sandboxes:
    /// <work_dir>/slaves/<agent id>/frameworks/<framework>/executors/<executor>/runs/<container>.
    #[arg(long = "work_dir", value_parser = parse_path)]
    work_dir: PathBuf,

    /// IP address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    ip: IpAddr,

    /// Port to listen on.
    #[arg(long, default_value_t = ratufa_agent::DEFAULT_PORT)]
    port: u16,

    /// The hostname the agent advertises (in offers). Defaults to --ip when set, else
    /// the machine's hostname.
    #[arg(long)]
    hostname: Option<String>,

    /// IP address the master shows this agent at (its pid in /master/state, offers'
    /// url), when it differs from --ip (NAT, containers). Defaults to --ip when set,
    /// else the address this host reaches others from.
    #[arg(long = "advertise_ip")]
    advertise_ip: Option<IpAddr>,

    /// Total resources, e.g. `cpus:4;mem:4096;ports:[31000-32000];cpus(prod):2`, or
    /// their JSON array form. cpus, mem, disk and ports left out are detected.
    #[arg(long)]
    resources: Option<String>,

    /// Attributes, e.g. `rack:22;zone:us_east`.
    #[arg(long)]
    attributes: Option<String>,

    /// Role of resources given or detected without one.
    #[arg(long = "default_role", default_value = "*")]
    default_role: String,

    /// Bound on the first reconnection delay; it doubles on each failure, up to a
    /// minute.
    #[arg(long = "registration_backoff_factor", default_value = "1secs", value_parser = parse_duration)]
    registration_backoff_factor: Duration,

    /// Directory of the fetcher cache (default: <work_dir>/fetch).
    #[arg(long = "fetcher_cache_dir", value_parser = parse_path)]
    fetcher_cache_dir: Option<PathBuf>,

    /// Bound of the fetcher cache, Mesos's byte syntax: 2GB, 512MB, 100KB, 10B.
    #[arg(long = "fetcher_cache_size", default_value = "2GB", value_parser = ratufa_agent::fetcher::parse_bytes)]
    fetcher_cache_size: u64,

    #[command(flatten)]
    http_auth: HttpAuthFlags,

    /// Path to the credentials operators authenticate with under
    /// --authenticate_http_readonly/readwrite, in the format of the master's
    /// --credentials.
    #[arg(long = "http_credentials", value_parser = parse_path)]
    http_credentials: Option<PathBuf>,

    #[command(flatten)]
    isolation: IsolationFlags,

    #[command(flatten)]
    gc: GcFlags,

    #[command(flatten)]
    executors: ExecutorFlags,
}

impl AgentFlags {
    fn into_config(self) -> anyhow::Result<ratufa_agent::AgentConfig> {
        // A flag without credentials is refused by the agent itself, naming the flag.
        let http_credentials =
            read_credentials("http_credentials", self.http_credentials.as_ref())?;
        let mut config = ratufa_agent::AgentConfig {
            master: self.master,
            work_dir: self.work_dir,
            ip: self.ip,
            port: self.port,
            hostname: self.hostname,
            advertise_ip: self.advertise_ip,
            resources: self.resources,
            attributes: self.attributes,
            default_role: self.default_role,
            registration_backoff_factor: self.registration_backoff_factor,
            fetcher_cache_dir: self.fetcher_cache_dir,
            fetcher_cache_size: self.fetcher_cache_size,
            isolation: self.isolation.isolation,
            cgroups_root: self.isolation.cgroups_root,
            cgroups_enable_cfs: self.isolation.cgroups_enable_cfs,
            cgroups_limit_swap: self.isolation.cgroups_limit_swap,
            gc_delay: self.gc.gc_delay,
            disk_watch_interval: self.gc.disk_watch_interval,
            gc_disk_headroom: self.gc.gc_disk_headroom,
            // A stopped `ratufa agent` leaves checkpointed executors running, to be
            // recovered by the next one (how Mesos agents are upgraded in place).
            kill_executors_on_stop: false,
            authenticate_http_readonly: self.http_auth.authenticate_http_readonly,
            authenticate_http_readwrite: self.http_auth.authenticate_http_readwrite,
            http_credentials,
            ..ratufa_agent::AgentConfig::new(String::new(), PathBuf::new())
        };
        self.executors.apply(&mut config);
        Ok(config)
    }
}

impl MasterFlags {
    fn into_config(self) -> anyhow::Result<MasterConfig> {
        let credentials = read_credentials("credentials", self.credentials.as_ref())?;
        // A flag without credentials is refused by the master itself, naming the flag.
        if let Some(dir) = &self.work_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--work_dir={}: cannot create", dir.display()))?;
        }
        let weights = match &self.weights {
            Some(text) => ratufa_master::allocator::parse_weights(text)
                .map_err(|e| anyhow::anyhow!("--weights={text}: {e}"))?,
            None => Vec::new(),
        };
        let min_allocatable_resources = ratufa_master::allocator::parse_min_allocatable_resources(
            &self.min_allocatable_resources,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "--min_allocatable_resources={}: {e}",
                self.min_allocatable_resources
            )
        })?;
        // Parsed here rather than by clap so that the error names the fault without
        // echoing the password.
        let zk = self
            .zk
            .as_deref()
            .map(ratufa_zk::ZkUrl::parse)
            .transpose()
            .context("--zk")?;
        // Parsed here rather than by clap so that a bad value exits 1 naming the flag,
        // as the master's other checks do.
        let recovery_agent_removal_limit =
            RecoveryRemovalLimit::parse(&self.recovery_agent_removal_limit)
                .map_err(|e| anyhow::anyhow!("--recovery_agent_removal_limit: {e}"))?;
        let agent_removal_rate_limit = self
            .agent_removal_rate_limit
            .as_deref()
            .map(RemovalRate::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--agent_removal_rate_limit: {e}"))?;
        if self.quorum.is_some() && zk.is_none() {
            anyhow::bail!("--quorum is only meaningful with --zk");
        }
        Ok(MasterConfig {
            ip: self.ip,
            port: self.port,
            hostname: self.hostname,
            advertise_ip: self.advertise_ip,
            advertise_port: self.advertise_port,
            work_dir: self.work_dir,
            roles: self.roles,
            heartbeat_interval: self.scheduler_heartbeat_interval,
            max_completed_frameworks: self.max_completed_frameworks,
            max_operator_event_stream_subscribers: self.max_operator_event_stream_subscribers,
            max_body_bytes: self.max_request_body_bytes,
            authenticate_http_frameworks: self.authenticate_http_frameworks,
            authenticate_http_readonly: self.http_auth.authenticate_http_readonly,
            authenticate_http_readwrite: self.http_auth.authenticate_http_readwrite,
            credentials,
            agent_ping_timeout: self.agent_ping_timeout,
            max_agent_ping_timeouts: self.max_agent_ping_timeouts,
            agent_reregister_timeout: self.agent_reregister_timeout,
            recovery_agent_removal_limit,
            agent_removal_rate_limit,
            offer_timeout: self.offer_timeout,
            allocation_interval: self.allocation_interval,
            weights,
            min_allocatable_resources,
            max_completed_tasks_per_framework: self.max_completed_tasks_per_framework,
            max_offers_per_event: self.max_offers_per_event,
            zk,
            zk_session_timeout: self.zk_session_timeout,
            leader_proxy: self.leader_proxy,
            tls: tls_from_env()?,
        })
    }
}

/// TLS as the LIBPROCESS_SSL_* environment asks: Mesos switches TLS on for a whole
/// process (and the executors it starts) by environment, not by flags.
fn tls_from_env() -> anyhow::Result<Option<ratufa_gateway::Tls>> {
    let tls = ratufa_gateway::Tls::from_env()?;
    if let Some(tls) = &tls {
        let settings = tls.settings();
        info!(
            cert_file = %settings.cert_file.display(),
            verify_server_cert = settings.verify_server_cert,
            require_client_cert = settings.require_client_cert,
            support_downgrade = settings.support_downgrade,
            "TLS enabled"
        );
    }
    Ok(tls)
}

async fn run_master(flags: MasterFlags) -> anyhow::Result<()> {
    let config = flags.into_config()?;
    let addr = std::net::SocketAddr::new(config.ip, config.port);
    let listener = ratufa_gateway::tcp::listen(addr)
        .with_context(|| format!("cannot listen on {addr} (--ip/--port)"))?;
    info!(address = %listener.local_addr()?, "master listening");
    ratufa_master::serve(config, listener, shutdown_signal()).await?;
    Ok(())
}

async fn run_agent(flags: AgentFlags) -> anyhow::Result<()> {
    let mut config = flags.into_config()?;
    config.tls = tls_from_env()?;
    std::fs::create_dir_all(&config.work_dir)
        .with_context(|| format!("--work_dir={}: cannot create", config.work_dir.display()))?;
    let addr = std::net::SocketAddr::new(config.ip, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (--ip/--port)"))?;
    ratufa_agent::serve(config, listener, shutdown_signal()).await?;
    Ok(())
}

/// A master and `--num_agents` agents in this process. Each agent has its own work
/// dir under `<work_dir>/agents/<n>` and talks to the master over the agent link on
/// the loopback, exactly as a separate agent process would.
async fn run_local(flags: LocalFlags) -> anyhow::Result<()> {
    if flags.master.zk.is_some() {
        anyhow::bail!(
            "--zk: `ratufa local` runs one master without ZooKeeper; use `ratufa master --zk`"
        );
    }
    let hostname = flags.master.hostname.clone();
    let config = flags.master.into_config()?;
    let work_dir = config.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ratufa-local-{}", std::process::id()))
    });
    let addr = std::net::SocketAddr::new(config.ip, config.port);
    let listener = ratufa_gateway::tcp::listen(addr)
        .with_context(|| format!("cannot listen on {addr} (--ip/--port)"))?;
    let bound = listener.local_addr()?;
    // Agents reach the master on the address it bound, or the loopback when it bound
    // every interface.
    let master_ip = if bound.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bound.ip()
    };
    let master_address = std::net::SocketAddr::new(master_ip, bound.port()).to_string();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let mut agents = tokio::task::JoinSet::new();
    for n in 0..flags.num_agents {
        let port = if flags.agent_port == 0 {
            0
        } else {
            u16::try_from(u32::from(flags.agent_port) + n).with_context(|| {
                format!(
                    "--agent_port={} leaves no port for agent {n}",
                    flags.agent_port
                )
            })?
        };
        let agent_addr = std::net::SocketAddr::new(config.ip, port);
        let agent_listener = tokio::net::TcpListener::bind(agent_addr)
            .await
            .with_context(|| format!("agent {n}: cannot listen on {agent_addr} (--agent_port)"))?;
        let mut agent_config = ratufa_agent::AgentConfig {
            ip: config.ip,
            port,
            hostname: hostname.clone(),
            advertise_ip: None,
            resources: flags.resources.clone(),
            attributes: flags.attributes.clone(),
            default_role: flags.default_role.clone(),
            isolation: flags.isolation.isolation.clone(),
            cgroups_root: flags.isolation.cgroups_root.clone(),
            cgroups_enable_cfs: flags.isolation.cgroups_enable_cfs,
            cgroups_limit_swap: flags.isolation.cgroups_limit_swap,
            gc_delay: flags.gc.gc_delay,
            disk_watch_interval: flags.gc.disk_watch_interval,
            gc_disk_headroom: flags.gc.gc_disk_headroom,
            tls: config.tls.clone(),
            // One credentials file and the same flags for the master and its agents.
            authenticate_http_readonly: config.authenticate_http_readonly,
            authenticate_http_readwrite: config.authenticate_http_readwrite,
            http_credentials: config.credentials.clone(),
            ..ratufa_agent::AgentConfig::new(
                master_address.clone(),
                work_dir.join("agents").join(n.to_string()),
            )
        };
        flags.executors.apply(&mut agent_config);
        let shutdown = stopped(stop_rx.clone());
        agents.spawn(async move {
            (
                n,
                ratufa_agent::serve(agent_config, agent_listener, shutdown).await,
            )
        });
    }
    info!(address = %bound, agents = flags.num_agents, work_dir = %work_dir.display(), "local cluster starting");

    let mut master = tokio::spawn(ratufa_master::serve(config, listener, stopped(stop_rx)));
    let signal_stop = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = signal_stop.send(true);
    });
    // Until a signal stops the master, or an agent fails (then everything stops: a
    // local cluster short of an agent is not what was asked for).
    let mut result: anyhow::Result<()> = Ok(());
    let mut master_done = None;
    while master_done.is_none() {
        tokio::select! {
            joined = &mut master => master_done = Some(joined),
            Some(joined) = agents.join_next() => {
                let failure = match joined {
                    Ok((_, Ok(()))) => None,
                    Ok((n, Err(e))) => Some(anyhow::anyhow!("agent {n}: {e}")),
                    Err(e) => Some(anyhow::anyhow!("an agent task failed: {e}")),
                };
                if let Some(failure) = failure {
                    error!(error = %failure, "agent failed; stopping the local cluster");
                    result = Err(failure);
                    let _ = stop_tx.send(true);
                }
            }
        }
    }
    let _ = stop_tx.send(true);
    if let Some(joined) = master_done {
        let master_result = match joined {
            Ok(result) => result.map_err(Into::into),
            Err(e) => Err(anyhow::anyhow!("the master task failed: {e}")),
        };
        if result.is_ok() {
            result = master_result;
        }
    }
    while let Some(joined) = agents.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((n, Err(e))) if result.is_ok() => result = Err(anyhow::anyhow!("agent {n}: {e}")),
            Ok((n, Err(e))) => error!(agent = n, error = %e, "agent failed"),
            Err(e) => error!(error = %e, "agent task failed"),
        }
    }
    result
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot install a SIGTERM handler");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    info!("shutting down");
}

fn main() -> ExitCode {
    // Bad flags exit with 1 (as Mesos's binaries do), not clap's 2; --help and
    // --version still exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    logging::init(&cli.logging_level);
    if let Command::Executor = cli.command {
        // Its own single-threaded runtime: an executor starts per task.
        let status = ratufa_executor::main_from_env();
        return ExitCode::from(u8::try_from(status).unwrap_or(1));
    }
    let runtime = match runtime::build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ratufa: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    info!(workers = runtime.metrics().num_workers(), "runtime started");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Master(flags) => run_master(flags).await,
            Command::Local(flags) => run_local(*flags).await,
            Command::Agent(flags) => run_agent(flags).await,
            Command::Resolve(flags) => resolve::run(flags).await,
            Command::Executor => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ratufa: {e:#}");
            ExitCode::FAILURE
        }
    }
}
