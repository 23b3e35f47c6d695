//! `ratufa`: the one binary. `master` runs a master, `local` a master and its agents in
//! one process (the embedded default), `agent` an agent. Flags keep Apache Mesos's names,
//! defaults and value syntax so that existing configurations carry over.

mod duration;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use ratufa_master::MasterConfig;
use tracing::{error, info};

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
    Local(LocalFlags),
    /// Run an agent (Mesos's mesos-agent). Not available yet: agents arrive with the
    /// offers-and-tasks work.
    Agent(AgentFlags),
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    duration::parse(text)
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

    /// Require HTTP basic authentication of schedulers (principals from --credentials).
    #[arg(
        long = "authenticate_http_frameworks",
        num_args = 0..=1,
        default_missing_value = "true",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    authenticate_http_frameworks: bool,

    /// Path to the credentials file: JSON `{"credentials":[{"principal":…,"secret":…}]}`
    /// or lines of `principal secret`.
    #[arg(long, value_parser = parse_path)]
    credentials: Option<PathBuf>,

    /// Interval between HEARTBEAT events on scheduler streams (ratufa's flag; Mesos
    /// hard-codes 15secs).
    #[arg(long = "scheduler_heartbeat_interval", default_value = "15secs", value_parser = parse_duration)]
    scheduler_heartbeat_interval: Duration,

    /// Largest request body accepted, in bytes (ratufa's flag; Mesos has no limit).
    #[arg(long = "max_request_body_bytes", default_value_t = ratufa_gateway::request::DEFAULT_MAX_BODY_BYTES)]
    max_request_body_bytes: usize,
}

#[derive(Args, Debug, Clone)]
struct LocalFlags {
    #[command(flatten)]
    master: MasterFlags,

    /// Number of agents to run in the process (Mesos's --num_slaves). Agents arrive with
    /// the offers-and-tasks work; until then this must be 0.
    #[arg(long = "num_agents", alias = "num_slaves", default_value_t = 0)]
    num_agents: u32,
}

#[derive(Args, Debug, Clone)]
struct AgentFlags {
    /// The master to register with: host:port or zk://host:port/path.
    #[arg(long)]
    master: Option<String>,

    /// Port to listen on.
    #[arg(long, default_value_t = 5051)]
    port: u16,

    /// Directory for the agent's sandboxes and checkpoints.
    #[arg(long = "work_dir", value_parser = parse_path)]
    work_dir: Option<PathBuf>,
}

impl MasterFlags {
    fn into_config(self) -> anyhow::Result<MasterConfig> {
        let credentials = match &self.credentials {
            Some(path) => Some(
                ratufa_gateway::auth::Credentials::from_file(path)
                    .with_context(|| format!("--credentials={}", path.display()))?,
            ),
            None => None,
        };
        if self.authenticate_http_frameworks && credentials.is_none() {
            anyhow::bail!("--authenticate_http_frameworks needs --credentials");
        }
        if let Some(dir) = &self.work_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--work_dir={}: cannot create", dir.display()))?;
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
            max_body_bytes: self.max_request_body_bytes,
            authenticate_http_frameworks: self.authenticate_http_frameworks,
            credentials,
        })
    }
}

fn init_logging(level: &str) {
    let filter = match level.to_ascii_uppercase().as_str() {
        "INFO" => "info".to_string(),
        "WARNING" => "warn".to_string(),
        "ERROR" => "error".to_string(),
        _ => level.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run_master(flags: MasterFlags) -> anyhow::Result<()> {
    let config = flags.into_config()?;
    let addr = std::net::SocketAddr::new(config.ip, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (--ip/--port)"))?;
    info!(address = %listener.local_addr()?, "master listening");
    ratufa_master::serve(config, listener, shutdown_signal()).await?;
    Ok(())
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
    let cli = Cli::parse();
    init_logging(&cli.logging_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ratufa: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Master(flags) => run_master(flags).await,
            Command::Local(flags) => {
                if flags.num_agents > 0 {
                    anyhow::bail!(
                        "--num_agents={}: agents are not available in this build yet; use --num_agents=0",
                        flags.num_agents
                    );
                }
                run_master(flags.master).await
            }
            Command::Agent(_) => anyhow::bail!(
                "the agent is not available in this build yet; `ratufa master` and `ratufa local` are"
            ),
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
