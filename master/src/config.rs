//! The master's settings, as the `ratufa master` flags fill them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use ratufa_gateway::auth::Credentials;
use ratufa_proto::resources::Resources;

use crate::removal_flags::{RecoveryRemovalLimit, RemovalRate};

/// Mesos's default `--max_operator_event_stream_subscribers`.
pub const DEFAULT_MAX_OPERATOR_EVENT_STREAM_SUBSCRIBERS: usize = 1000;
/// Mesos's default `--max_completed_frameworks`.
pub const DEFAULT_MAX_COMPLETED_FRAMEWORKS: usize = 50;
/// Mesos's fixed scheduler heartbeat interval (ratufa makes it a flag).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
pub const DEFAULT_PORT: u16 = 5050;
/// Mesos's `--agent_ping_timeout`: how long an agent may leave a ping unanswered.
pub const DEFAULT_AGENT_PING_TIMEOUT: Duration = Duration::from_secs(15);
/// Mesos's `--max_agent_ping_timeouts`: missed pings before an agent is unreachable.
pub const DEFAULT_MAX_AGENT_PING_TIMEOUTS: u32 = 5;
/// Mesos's `--allocation_interval`: the backstop allocation period (offers also go out
/// as soon as resources free up).
pub const DEFAULT_ALLOCATION_INTERVAL: Duration = Duration::from_secs(1);
/// Mesos's `--agent_reregister_timeout`, and the least it may be.
pub const DEFAULT_AGENT_REREGISTER_TIMEOUT: Duration = Duration::from_secs(600);
pub const MIN_AGENT_REREGISTER_TIMEOUT: Duration = Duration::from_secs(10);
/// Mesos's `--zk_session_timeout`.
pub const DEFAULT_ZK_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Mesos's `--max_completed_tasks_per_framework`.
pub const DEFAULT_MAX_COMPLETED_TASKS_PER_FRAMEWORK: usize = 1000;
/// ratufa's `--max_offers_per_event`: offers are sent in OFFERS events of at most this
/// many, so one event never grows without bound on a large cluster.
pub const DEFAULT_MAX_OFFERS_PER_EVENT: usize = 100;

/// Everything the master needs to start. `Default` gives Mesos's defaults.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// `--ip`: the address to bind. The unspecified address binds every interface; the
    /// master then advertises a real address of this host.
    pub ip: IpAddr,
    /// `--port`.
    pub port: u16,
    /// `--hostname`: advertised in MasterInfo (and so in redirects) instead of the
    /// looked-up one.
    pub hostname: Option<String>,
    /// `--advertise_ip`: the address others should use, when not the bound one (NAT).
    pub advertise_ip: Option<IpAddr>,
    /// `--advertise_port`.
    pub advertise_port: Option<u16>,
    /// `--work_dir`: where a single master keeps its registry (locked against a
    /// second master on the same directory, with or without `--zk`).
    pub work_dir: Option<PathBuf>,
    /// `--roles`: when set, frameworks may only use these roles (and `*`).
    pub roles: Option<Vec<String>>,
    /// `--scheduler_heartbeat_interval`: announced in SUBSCRIBED, and how often
    /// HEARTBEAT events are sent.
    pub heartbeat_interval: Duration,
    /// `--max_completed_frameworks`.
    pub max_completed_frameworks: usize,
    /// `--max_operator_event_stream_subscribers`: operator SUBSCRIBE streams open at
    /// once; more are refused (503).
    pub max_operator_event_stream_subscribers: usize,
    /// The largest call body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// `--authenticate_http_frameworks`: require HTTP basic authentication on
    /// `/api/v1/scheduler`.
    pub authenticate_http_frameworks: bool,
    /// `--authenticate_http_readonly`: require HTTP basic authentication on the
    /// endpoints that only report (`/master/state`, `/metrics/snapshot`, `/flags`, …).
    pub authenticate_http_readonly: bool,
    /// `--authenticate_http_readwrite`: require HTTP basic authentication on the
    /// endpoints that can change the cluster (the operator API `/api/v1` as a whole,
    /// `/master/teardown`, `/weights`).
    pub authenticate_http_readwrite: bool,
    /// `--credentials`: principals and secrets for basic authentication, of frameworks
    /// and operators alike.
    pub credentials: Option<Credentials>,
    /// `--agent_ping_timeout`: the master pings every agent this often and counts a
    /// ping unanswered after it as missed.
    pub agent_ping_timeout: Duration,
    /// `--max_agent_ping_timeouts`: missed pings after which an agent is unreachable.
    pub max_agent_ping_timeouts: u32,
    /// `--agent_reregister_timeout`: after a new leader recovers the registry, agents
    /// it lists that have not re-registered by then are marked unreachable.
    pub agent_reregister_timeout: Duration,
    /// `--recovery_agent_removal_limit`: if more of the recovered agents than this
    /// are missing at `agent_reregister_timeout`, the master fails over instead of
    /// marking them unreachable.
    pub recovery_agent_removal_limit: RecoveryRemovalLimit,
    /// `--agent_removal_rate_limit`: how fast agents may be marked unreachable;
    /// `None` as fast as they qualify.
    pub agent_removal_rate_limit: Option<RemovalRate>,
    /// `--offer_timeout`: offers outstanding longer are rescinded; `None` never.
    pub offer_timeout: Option<Duration>,
    /// `--allocation_interval`: the period of the backstop allocation cycle.
    pub allocation_interval: Duration,
    /// `--weights`: role weights for DRF (default 1.0 for roles not named).
    pub weights: Vec<(String, f64)>,
    /// `--min_allocatable_resources`: an agent's leftovers are offered only when they
    /// hold at least one of these.
    pub min_allocatable_resources: Vec<Resources>,
    /// `--max_completed_tasks_per_framework`.
    pub max_completed_tasks_per_framework: usize,
    /// `--max_offers_per_event` (ratufa's).
    pub max_offers_per_event: usize,
    /// `--zk`: contend for leadership in this ZooKeeper ensemble; `None` for a single
    /// master, which always leads.
    pub zk: Option<ratufa_zk::ZkUrl>,
    /// `--zk_session_timeout`.
    pub zk_session_timeout: Duration,
    /// `--leader_proxy` (ratufa's): a non-leading master forwards leader-only requests
    /// to the leader instead of redirecting.
    pub leader_proxy: bool,
    /// TLS (from the LIBPROCESS_SSL_* environment): serve https, follow and forward to
    /// https leaders.
    pub tls: Option<ratufa_gateway::Tls>,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: DEFAULT_PORT,
            hostname: None,
            advertise_ip: None,
            advertise_port: None,
            work_dir: None,
            roles: None,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            max_completed_frameworks: DEFAULT_MAX_COMPLETED_FRAMEWORKS,
            max_operator_event_stream_subscribers: DEFAULT_MAX_OPERATOR_EVENT_STREAM_SUBSCRIBERS,
            max_body_bytes: ratufa_gateway::DEFAULT_MAX_BODY_BYTES,
            authenticate_http_frameworks: false,
            authenticate_http_readonly: false,
            authenticate_http_readwrite: false,
            credentials: None,
            agent_ping_timeout: DEFAULT_AGENT_PING_TIMEOUT,
            max_agent_ping_timeouts: DEFAULT_MAX_AGENT_PING_TIMEOUTS,
            agent_reregister_timeout: DEFAULT_AGENT_REREGISTER_TIMEOUT,
            recovery_agent_removal_limit: RecoveryRemovalLimit::default(),
            agent_removal_rate_limit: None,
            offer_timeout: None,
            allocation_interval: DEFAULT_ALLOCATION_INTERVAL,
            weights: Vec::new(),
            min_allocatable_resources: crate::allocator::default_min_allocatable_resources(),
            max_completed_tasks_per_framework: DEFAULT_MAX_COMPLETED_TASKS_PER_FRAMEWORK,
            max_offers_per_event: DEFAULT_MAX_OFFERS_PER_EVENT,
            zk: None,
            zk_session_timeout: DEFAULT_ZK_SESSION_TIMEOUT,
            leader_proxy: false,
            tls: None,
        }
    }
}

impl MasterConfig {
    /// The flags by Mesos's names with their values as text, as `/master/state` and
    /// `/flags` show them. Secrets (the credentials) are shown by path only, never
    /// their content.
    pub fn flags(&self) -> Vec<(String, String)> {
        let secs = |d: Duration| format!("{}secs", d.as_secs_f64());
        let mut flags = vec![
            ("ip".to_string(), self.ip.to_string()),
            ("port".to_string(), self.port.to_string()),
            (
                "scheduler_heartbeat_interval".to_string(),
                secs(self.heartbeat_interval),
            ),
            (
                "max_completed_frameworks".to_string(),
                self.max_completed_frameworks.to_string(),
            ),
            (
                "max_operator_event_stream_subscribers".to_string(),
                self.max_operator_event_stream_subscribers.to_string(),
            ),
            (
                "authenticate_http_frameworks".to_string(),
                self.authenticate_http_frameworks.to_string(),
            ),
            (
                "authenticate_http_readonly".to_string(),
                self.authenticate_http_readonly.to_string(),
            ),
            (
                "authenticate_http_readwrite".to_string(),
                self.authenticate_http_readwrite.to_string(),
            ),
            (
                "agent_ping_timeout".to_string(),
                secs(self.agent_ping_timeout),
            ),
            (
                "max_agent_ping_timeouts".to_string(),
                self.max_agent_ping_timeouts.to_string(),
            ),
            (
                "agent_reregister_timeout".to_string(),
                secs(self.agent_reregister_timeout),
            ),
            (
                "recovery_agent_removal_limit".to_string(),
                self.recovery_agent_removal_limit.to_string(),
            ),
            (
                "allocation_interval".to_string(),
                secs(self.allocation_interval),
            ),
            (
                "max_completed_tasks_per_framework".to_string(),
                self.max_completed_tasks_per_framework.to_string(),
            ),
            (
                "max_offers_per_event".to_string(),
                self.max_offers_per_event.to_string(),
            ),
            (
                "min_allocatable_resources".to_string(),
                self.min_allocatable_resources
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
        ];
        let optional = [
            ("hostname", self.hostname.clone()),
            ("advertise_ip", self.advertise_ip.map(|ip| ip.to_string())),
            ("advertise_port", self.advertise_port.map(|p| p.to_string())),
            (
                "work_dir",
                self.work_dir.as_ref().map(|d| d.display().to_string()),
            ),
            ("roles", self.roles.as_ref().map(|r| r.join(","))),
            ("offer_timeout", self.offer_timeout.map(secs)),
            (
                "agent_removal_rate_limit",
                self.agent_removal_rate_limit
                    .as_ref()
                    .map(ToString::to_string),
            ),
            (
                "leader_proxy",
                self.leader_proxy.then(|| "true".to_string()),
            ),
            // Display leaves the password out.
            ("zk", self.zk.as_ref().map(ToString::to_string)),
            (
                "zk_session_timeout",
                self.zk.is_some().then(|| secs(self.zk_session_timeout)),
            ),
            (
                "weights",
                (!self.weights.is_empty()).then(|| {
                    self.weights
                        .iter()
                        .map(|(role, weight)| format!("{role}={weight}"))
                        .collect::<Vec<_>>()
                        .join(",")
                }),
            ),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                flags.push((name.to_string(), value));
            }
        }
        flags.sort();
        flags
    }
}
