//! The agent's settings, as the `ratufa agent` flags fill them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use ratufa_proto::v1::CommandInfo;

/// Mesos's agent port.
pub const DEFAULT_PORT: u16 = 5051;
/// Mesos's `--registration_backoff_factor`: the first reconnection waits up to this.
pub const DEFAULT_REGISTRATION_BACKOFF: Duration = Duration::from_secs(1);
/// Mesos caps the registration backoff at one minute.
pub const MAX_REGISTRATION_BACKOFF: Duration = Duration::from_secs(60);
/// Mesos's status update retry: 10 s, doubling, at most 10 min.
pub const STATUS_UPDATE_RETRY_MIN: Duration = Duration::from_secs(10);
pub const STATUS_UPDATE_RETRY_MAX: Duration = Duration::from_secs(600);
/// The command executor's kill grace period when the KillPolicy names none.
/// The executor-only binary the agent looks for in its launcher dir.
pub const EXECUTOR_BINARY: &str = "ratufa-executor";
pub const DEFAULT_KILL_GRACE_PERIOD: Duration = Duration::from_secs(3);
/// Mesos's `--executor_registration_timeout`: an executor that has not subscribed by
/// then is destroyed.
pub const DEFAULT_EXECUTOR_REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Mesos's `--executor_shutdown_grace_period`: between SHUTDOWN and the kill.
pub const DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);
/// How long a restarted agent waits for its recovered executors to subscribe again.
/// Mesos waits 2 s for executors it tells to reconnect; ours reconnect on their own
/// with a backoff of at most MESOS_SUBSCRIPTION_BACKOFF_MAX (2 s), so a little more
/// than one backoff round is given.
pub const DEFAULT_EXECUTOR_REREGISTRATION_TIMEOUT: Duration = Duration::from_secs(5);

/// `--recover`: what a restarted agent does with what it checkpointed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recover {
    /// Reconnect to the live executors and keep the agent id (Mesos's default).
    #[default]
    Reconnect,
    /// Kill the recovered executors and start as a new agent.
    Cleanup,
}

impl std::str::FromStr for Recover {
    type Err = String;
    fn from_str(s: &str) -> Result<Recover, String> {
        match s {
            "reconnect" => Ok(Recover::Reconnect),
            "cleanup" => Ok(Recover::Cleanup),
            other => Err(format!("'{other}' is neither 'reconnect' nor 'cleanup'")),
        }
    }
}

/// Everything an agent needs to start.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `--master`: `host:port` (an `http://` prefix is accepted), or a `zk://` URL to
    /// follow the leading master.
    pub master: String,
    /// `--work_dir`: sandboxes live under `<work_dir>/slaves/<agent id>/…`.
    pub work_dir: PathBuf,
    /// `--ip`: the address to bind.
    pub ip: IpAddr,
    /// `--port`; 0 binds an ephemeral port (what `ratufa local` and tests use).
    pub port: u16,
    /// `--hostname`: advertised in AgentInfo (and so in offers).
    pub hostname: Option<String>,
    /// `--advertise_ip`: the IP address the master shows the agent at (the host of
    /// its pid in `/master/state`, offers' `url.address.ip`). Unset: `--ip` when it
    /// names one address, else the address this host reaches others from.
    pub advertise_ip: Option<IpAddr>,
    /// `--resources`, Mesos's text or JSON form. What it leaves out of cpus, mem, disk
    /// and ports is detected.
    pub resources: Option<String>,
    /// `--attributes`: `rack:22;zone:us_east`.
    pub attributes: Option<String>,
    /// `--default_role`: the role of resources given or detected without one.
    pub default_role: String,
    /// `--registration_backoff_factor`: the first reconnection delay bound; it doubles
    /// on each failure up to [`MAX_REGISTRATION_BACKOFF`].
    pub registration_backoff_factor: Duration,
    /// `--fetcher_cache_dir`: where cached URIs are kept; `<work_dir>/fetch` if unset.
    pub fetcher_cache_dir: Option<PathBuf>,
    /// `--fetcher_cache_size`: the bound of the fetcher cache, in bytes.
    pub fetcher_cache_size: u64,
    /// `--isolation`: `posix/cpu,posix/mem` (the default) or `cgroups/cpu,cgroups/mem`.
    pub isolation: String,
    /// `--cgroups_root`: containers' cgroups go in `<hierarchy>/<root>/<container>`.
    pub cgroups_root: String,
    /// `--cgroups_enable_cfs`: a CFS quota of the task's cpus, not only shares.
    pub cgroups_enable_cfs: bool,
    /// `--cgroups_limit_swap`: the memory limit bounds memory and swap together.
    pub cgroups_limit_swap: bool,
    /// `--gc_delay`: how long an ended container's sandbox is kept at most.
    pub gc_delay: Duration,
    /// `--disk_watch_interval`: how often the work dir's disk usage is checked.
    pub disk_watch_interval: Duration,
    /// `--gc_disk_headroom`: the fraction of the disk kept free by pruning sandboxes
    /// sooner (0 to 1).
    pub gc_disk_headroom: f64,
    /// `--launcher_dir`: the directory holding the executor binary (`ratufa-executor`,
    /// else `ratufa` run as `ratufa executor`); the running binary's directory if
    /// unset.
    pub launcher_dir: Option<PathBuf>,
    /// `--executor_registration_timeout`.
    pub executor_registration_timeout: Duration,
    /// `--executor_shutdown_grace_period`.
    pub executor_shutdown_grace_period: Duration,
    /// `--executor_reregistration_timeout`: after a restart, how long recovered
    /// executors have to subscribe again.
    pub executor_reregistration_timeout: Duration,
    /// `--recover`.
    pub recover: Recover,
    /// `--strict`: a checkpoint that cannot be read fails the agent's start.
    pub strict: bool,
    /// `--switch_user`: run tasks as their framework's (or command's) user when we are
    /// root.
    pub switch_user: bool,
    /// Kill checkpointed executors too when the agent stops (`ratufa local` does; a
    /// plain `ratufa agent` leaves them running to be recovered).
    pub kill_executors_on_stop: bool,
    /// TLS (from the LIBPROCESS_SSL_* environment): serve https and reach the master
    /// over https. Executors read the same variables from the environment they
    /// inherit.
    pub tls: Option<ratufa_gateway::Tls>,
    /// `--authenticate_http_readonly`: require HTTP basic authentication on the
    /// endpoints that only report (`/state`, `/flags`, `/files/*`, …).
    pub authenticate_http_readonly: bool,
    /// `--authenticate_http_readwrite`: require HTTP basic authentication on the
    /// operator API `/api/v1`.
    pub authenticate_http_readwrite: bool,
    /// `--http_credentials`: the principals and secrets of both realms.
    pub http_credentials: Option<ratufa_gateway::Credentials>,
}

impl AgentConfig {
    /// An agent of `master` working in `work_dir`, with Mesos's defaults otherwise.
    pub fn new(master: impl Into<String>, work_dir: impl Into<PathBuf>) -> AgentConfig {
        AgentConfig {
            master: master.into(),
            work_dir: work_dir.into(),
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: DEFAULT_PORT,
            hostname: None,
            advertise_ip: None,
            resources: None,
            attributes: None,
            default_role: "*".to_string(),
            registration_backoff_factor: DEFAULT_REGISTRATION_BACKOFF,
            fetcher_cache_dir: None,
            fetcher_cache_size: crate::fetcher::DEFAULT_CACHE_SIZE,
            isolation: crate::isolator::DEFAULT_ISOLATION.to_string(),
            cgroups_root: crate::isolator::DEFAULT_CGROUPS_ROOT.to_string(),
            cgroups_enable_cfs: false,
            cgroups_limit_swap: false,
            gc_delay: crate::gc::DEFAULT_GC_DELAY,
            disk_watch_interval: crate::gc::DEFAULT_DISK_WATCH_INTERVAL,
            gc_disk_headroom: crate::gc::DEFAULT_GC_DISK_HEADROOM,
            launcher_dir: None,
            executor_registration_timeout: DEFAULT_EXECUTOR_REGISTRATION_TIMEOUT,
            executor_shutdown_grace_period: DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD,
            executor_reregistration_timeout: DEFAULT_EXECUTOR_REREGISTRATION_TIMEOUT,
            recover: Recover::Reconnect,
            strict: true,
            switch_user: true,
            kill_executors_on_stop: true,
            tls: None,
            authenticate_http_readonly: false,
            authenticate_http_readwrite: false,
            http_credentials: None,
        }
    }

    /// The launcher dir: `--launcher_dir`, else the running binary's directory.
    pub fn launcher_dir(&self) -> PathBuf {
        self.launcher_dir
            .clone()
            .or_else(|| {
                std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(PathBuf::from))
            })
            .unwrap_or_default()
    }

    /// How the agent's own executor starts (as Mesos's `mesos-executor` in its
    /// launcher dir): `<launcher_dir>/ratufa-executor`, a binary that is only the
    /// executor (a fraction of `ratufa` to load, and it starts once per command task);
    /// where that is missing, `<launcher_dir>/ratufa executor`. Shell off: the
    /// arguments are the whole argv.
    pub fn executor_command(&self) -> CommandInfo {
        let dir = self.launcher_dir();
        let small = dir.join(EXECUTOR_BINARY);
        let (program, arguments) = if small.is_file() {
            (small, vec![EXECUTOR_BINARY.to_string()])
        } else {
            (
                dir.join("ratufa"),
                vec!["ratufa".to_string(), "executor".to_string()],
            )
        };
        CommandInfo {
            value: Some(program.display().to_string()),
            shell: Some(false),
            arguments,
            ..CommandInfo::default()
        }
    }

    /// The fetcher cache's directory: `--fetcher_cache_dir`, else `<work_dir>/fetch`.
    pub fn fetcher_cache_dir(&self) -> PathBuf {
        self.fetcher_cache_dir
            .clone()
            .unwrap_or_else(|| self.work_dir.join("fetch"))
    }
}
