//! Health checks (TaskInfo.health_check) as Mesos's built-in executors run them:
//! COMMAND (exit 0 is healthy), HTTP (a GET to 127.0.0.1; 200 to 399 is healthy) and
//! TCP (a connection is healthy). The first check comes `delay` after the task starts,
//! the next `interval` after each one ends. Failures inside the grace period are
//! ignored until the first success; outside it, each failure is reported unhealthy,
//! and the `consecutive_failures`-th asks for the task to be killed. A success is
//! reported the first time and after failures.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Uri;
use hyper_util::client::legacy::Client;
use ratufa_agent::process::ProcessSpec;
use ratufa_proto::v1::network_info::Protocol;
use ratufa_proto::v1::{HealthCheck, health_check};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::task::{TaskEvent, signal_group};
use crate::user::{Account, switch_in_child};

/// Mesos's defaults for the fields a HealthCheck leaves out.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(15);
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 3;
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// What is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Command(ProcessSpec),
    Http { uri: Uri },
    Tcp { addr: SocketAddr },
}

/// A task's health check, with Mesos's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    pub probe: Probe,
    pub delay: Duration,
    pub interval: Duration,
    /// `None`: a check may take as long as it takes (timeout_seconds 0).
    pub timeout: Option<Duration>,
    pub consecutive_failures: u32,
    pub grace_period: Duration,
}

impl HealthConfig {
    /// Reads `check`; a command check runs in `sandbox`. Errors name the field.
    pub fn from_proto(check: &HealthCheck, sandbox: &Path) -> Result<HealthConfig, String> {
        let seconds = |field: &str, value: Option<f64>, default: Duration| match value {
            None => Ok(default),
            Some(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
                format!("health_check.{field} must be a non-negative number of seconds, not {secs}")
            }),
        };
        let kind = match check.r#type.map(health_check::Type::try_from) {
            Some(Ok(kind)) => kind,
            // Before `type` existed a command was the only kind of check.
            None if check.command.is_some() => health_check::Type::Command,
            Some(Err(_)) | None => {
                return Err("health_check.type must be COMMAND, HTTP or TCP".to_string());
            }
        };
        let probe = match kind {
            health_check::Type::Command => {
                let command = check
                    .command
                    .as_ref()
                    .ok_or("health_check.command is required for a COMMAND check")?;
                let spec = ProcessSpec::from_command(command, sandbox.to_path_buf())
                    .map_err(|e| format!("health_check.command: {e}"))?;
                Probe::Command(spec)
            }
            health_check::Type::Http => {
                let http = check
                    .http
                    .as_ref()
                    .ok_or("health_check.http is required for an HTTP check")?;
                let port = port("health_check.http.port", http.port)?;
                let scheme = http.scheme.as_deref().unwrap_or("http");
                if scheme != "http" && scheme != "https" {
                    return Err(format!(
                        "health_check.http.scheme '{scheme}' is not supported; use http or https"
                    ));
                }
                let host = match loopback(http.protocol) {
                    IpAddr::V4(ip) => ip.to_string(),
                    IpAddr::V6(ip) => format!("[{ip}]"),
                };
                let path = http.path.as_deref().unwrap_or("/");
                let slash = if path.starts_with('/') { "" } else { "/" };
                let uri = format!("{scheme}://{host}:{port}{slash}{path}")
                    .parse()
                    .map_err(|e| format!("health_check.http.path '{path}': {e}"))?;
                Probe::Http { uri }
            }
            health_check::Type::Tcp => {
                let tcp = check
                    .tcp
                    .as_ref()
                    .ok_or("health_check.tcp is required for a TCP check")?;
                let port = port("health_check.tcp.port", tcp.port)?;
                Probe::Tcp {
                    addr: SocketAddr::new(loopback(tcp.protocol), port),
                }
            }
            health_check::Type::Unknown => {
                return Err("health_check.type must be COMMAND, HTTP or TCP".to_string());
            }
        };
        let timeout = seconds("timeout_seconds", check.timeout_seconds, DEFAULT_TIMEOUT)?;
        Ok(HealthConfig {
            probe,
            delay: seconds("delay_seconds", check.delay_seconds, DEFAULT_DELAY)?,
            interval: seconds("interval_seconds", check.interval_seconds, DEFAULT_INTERVAL)?,
            timeout: (!timeout.is_zero()).then_some(timeout),
            consecutive_failures: check
                .consecutive_failures
                .unwrap_or(DEFAULT_CONSECUTIVE_FAILURES),
            grace_period: seconds(
                "grace_period_seconds",
                check.grace_period_seconds,
                DEFAULT_GRACE_PERIOD,
            )?,
        })
    }
}

fn port(field: &str, port: u32) -> Result<u16, String> {
    u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("{field} {port} is not a port number"))
}

fn loopback(protocol: Option<i32>) -> IpAddr {
    if protocol == Some(Protocol::IPv6 as i32) {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

/// What the checker has seen so far, and what it reports: the pure part of the rules.
#[derive(Debug)]
pub struct Verdicts {
    consecutive_failures: u32,
    kill_after: u32,
    grace_period: Duration,
    /// No success yet: failures inside the grace period do not count.
    initializing: bool,
}

/// A report for the executor: `healthy`, and whether the task must be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub healthy: bool,
    pub kill: bool,
}

impl Verdicts {
    pub fn new(config: &HealthConfig) -> Verdicts {
        Verdicts {
            consecutive_failures: 0,
            kill_after: config.consecutive_failures,
            grace_period: config.grace_period,
            initializing: true,
        }
    }

    /// A check passed; `Some` when that is news.
    pub fn success(&mut self) -> Option<Verdict> {
        let news = self.initializing || self.consecutive_failures > 0;
        self.initializing = false;
        self.consecutive_failures = 0;
        news.then_some(Verdict {
            healthy: true,
            kill: false,
        })
    }

    /// A check failed `since_start` after the checker started; `Some` unless the
    /// grace period excuses it.
    pub fn failure(&mut self, since_start: Duration) -> Option<Verdict> {
        if self.initializing && !self.grace_period.is_zero() && since_start <= self.grace_period {
            return None;
        }
        self.consecutive_failures += 1;
        Some(Verdict {
            healthy: false,
            kill: self.consecutive_failures >= self.kill_after,
        })
    }
}

/// Checks `task_id` until aborted (the executor aborts it when the task is killed or
/// ends), sending each verdict as a [`TaskEvent::Health`].
pub async fn run(
    task_id: String,
    config: HealthConfig,
    account: Option<Account>,
    events: mpsc::UnboundedSender<TaskEvent>,
) {
    let start = Instant::now();
    let mut verdicts = Verdicts::new(&config);
    // https checks take the task's certificate unverified, as Mesos's (curl -k) do.
    let client = ratufa_gateway::tcp::unverified_client::<Empty<Bytes>>();
    tokio::time::sleep(config.delay).await;
    loop {
        let outcome = match config.timeout {
            Some(timeout) => tokio::time::timeout(timeout, probe(&config.probe, &account, &client))
                .await
                .unwrap_or_else(|_| Err(format!("no result within {timeout:?}"))),
            None => probe(&config.probe, &account, &client).await,
        };
        let verdict = match outcome {
            Ok(()) => verdicts.success(),
            Err(why) => {
                tracing::info!(task_id = %task_id, why, "health check failed");
                verdicts.failure(start.elapsed())
            }
        };
        if let Some(Verdict { healthy, kill }) = verdict
            && events
                .send(TaskEvent::Health {
                    task_id: task_id.clone(),
                    healthy,
                    kill,
                })
                .is_err()
        {
            return;
        }
        tokio::time::sleep(config.interval).await;
    }
}

/// One check. A command check that outlives its timeout is killed with its group when
/// this future is dropped.
async fn probe(
    probe: &Probe,
    account: &Option<Account>,
    client: &Client<ratufa_gateway::tcp::Connector, Empty<Bytes>>,
) -> Result<(), String> {
    match probe {
        Probe::Tcp { addr } => tokio::net::TcpStream::connect(addr)
            .await
            .map(drop)
            .map_err(|e| format!("cannot connect to {addr}: {e}")),
        Probe::Http { uri } => {
            let response = client
                .get(uri.clone())
                .await
                .map_err(|e| format!("GET {uri}: {e}"))?;
            let status = response.status().as_u16();
            if (200..400).contains(&status) {
                Ok(())
            } else {
                Err(format!("GET {uri} answered {status}"))
            }
        }
        Probe::Command(spec) => run_command(spec, account).await,
    }
}

async fn run_command(spec: &ProcessSpec, account: &Option<Account>) -> Result<(), String> {
    let mut command = spec.command();
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(account) = account {
        switch_in_child(&mut command, account);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run '{}': {e}", spec.program))?;
    // Whatever the check forked goes with it, on timeout as on exit.
    let group = child.id().and_then(|pid| i32::try_from(pid).ok());
    let _reap = KillGroupOnDrop(group);
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the check command ended with {status}"))
    }
}

struct KillGroupOnDrop(Option<i32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests;
