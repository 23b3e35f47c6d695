//! The master's settings, as the `ratufa master` flags fill them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use ratufa_gateway::auth::Credentials;

/// Mesos's default `--max_completed_frameworks`.
pub const DEFAULT_MAX_COMPLETED_FRAMEWORKS: usize = 50;
/// Mesos's fixed scheduler heartbeat interval (ratufa makes it a flag).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
pub const DEFAULT_PORT: u16 = 5050;

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
    /// `--work_dir`: where the registry lives. Unused until the registry lands.
    pub work_dir: Option<PathBuf>,
    /// `--roles`: when set, frameworks may only use these roles (and `*`).
    pub roles: Option<Vec<String>>,
    /// `--scheduler_heartbeat_interval`: announced in SUBSCRIBED, and how often
    /// HEARTBEAT events are sent.
    pub heartbeat_interval: Duration,
    /// `--max_completed_frameworks`.
    pub max_completed_frameworks: usize,
    /// The largest call body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// `--authenticate_http_frameworks`: require HTTP basic authentication on
    /// `/api/v1/scheduler`.
    pub authenticate_http_frameworks: bool,
    /// `--credentials`: principals and secrets for basic authentication.
    pub credentials: Option<Credentials>,
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
            max_body_bytes: ratufa_gateway::DEFAULT_MAX_BODY_BYTES,
            authenticate_http_frameworks: false,
            credentials: None,
        }
    }
}
