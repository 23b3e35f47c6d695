//! What health checks (`health`) and generic checks (`check`) share, as Mesos's
//! built-in executors run both: the three probes (a command in the sandbox, an HTTP GET
//! to the loopback, a TCP connect to it), their timing (the first `delay` after the
//! task starts, the next `interval` after each one ends, each cut at `timeout`), and
//! the loop that runs them. What a reading means is the caller's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Uri;
use hyper_util::client::legacy::Client;
use ratufa_agent::process::ProcessSpec;
use ratufa_proto::v1::network_info::Protocol;

use crate::starter::start_off_loop;
use crate::task::{Output, signal_group};
use crate::user::Account;

/// Mesos's defaults for the timing fields a check leaves out.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(15);
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// What is probed.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Command(ProcessSpec),
    Http { uri: Uri },
    Tcp { addr: SocketAddr },
}

/// What one probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The command exited with this code.
    Exited(i32),
    /// The HTTP server answered with this status code.
    Answered(u16),
    /// The TCP connection was made.
    Connected,
}

/// One probe's outcome: `None` when it had no result within the timeout, an error
/// saying why it had none (a refused connection, a command killed by a signal).
pub type Outcome = Option<Result<Reading, String>>;

/// When probes run.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub delay: Duration,
    pub interval: Duration,
    /// `None`: a probe may take as long as it takes (timeout_seconds 0).
    pub timeout: Option<Duration>,
}

impl Timing {
    /// From the check's fields, `prefix` naming the message in errors
    /// (`health_check`, `check`).
    pub fn from_proto(
        prefix: &str,
        delay: Option<f64>,
        interval: Option<f64>,
        timeout: Option<f64>,
    ) -> Result<Timing, String> {
        let timeout = seconds(prefix, "timeout_seconds", timeout, DEFAULT_TIMEOUT)?;
        Ok(Timing {
            delay: seconds(prefix, "delay_seconds", delay, DEFAULT_DELAY)?,
            interval: seconds(prefix, "interval_seconds", interval, DEFAULT_INTERVAL)?,
            timeout: (!timeout.is_zero()).then_some(timeout),
        })
    }
}

/// A number of seconds given as `prefix.field`, `default` when absent.
pub fn seconds(
    prefix: &str,
    field: &str,
    value: Option<f64>,
    default: Duration,
) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
            format!("{prefix}.{field} must be a non-negative number of seconds, not {secs}")
        }),
    }
}

/// A TCP port given as `field`.
pub fn port(field: &str, port: u32) -> Result<u16, String> {
    u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("{field} {port} is not a port number"))
}

/// The loopback address of `protocol` (IPv4 unless IPv6 is asked for).
pub fn loopback(protocol: Option<i32>) -> IpAddr {
    if protocol == Some(Protocol::IPv6 as i32) {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

/// The URL an HTTP probe GETs: `scheme://loopback:port/path`.
pub fn http_uri(
    prefix: &str,
    scheme: &str,
    protocol: Option<i32>,
    port: u16,
    path: Option<&str>,
) -> Result<Uri, String> {
    let host = match loopback(protocol) {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let path = path.unwrap_or("/");
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!("{scheme}://{host}:{port}{slash}{path}")
        .parse()
        .map_err(|e| format!("{prefix}.http.path '{path}': {e}"))
}

/// Probes on `timing` until aborted (the executor aborts it when the task is killed
/// or ends) or until `report`, given each outcome, says to stop.
pub async fn run(
    probe: &Probe,
    timing: &Timing,
    account: &Option<Account>,
    mut report: impl FnMut(Outcome) -> bool,
) {
    // https probes take the task's certificate unverified, as Mesos's (curl -k) do.
    let client = ratufa_gateway::tcp::unverified_client::<Empty<Bytes>>();
    tokio::time::sleep(timing.delay).await;
    loop {
        let outcome = match timing.timeout {
            Some(timeout) => tokio::time::timeout(timeout, once(probe, account, &client))
                .await
                .ok(),
            None => Some(once(probe, account, &client).await),
        };
        if !report(outcome) {
            return;
        }
        tokio::time::sleep(timing.interval).await;
    }
}

/// One probe. A command that outlives its timeout is killed with its group when this
/// future is dropped.
pub async fn once(
    probe: &Probe,
    account: &Option<Account>,
    client: &Client<ratufa_gateway::tcp::Connector, Empty<Bytes>>,
) -> Result<Reading, String> {
    match probe {
        Probe::Tcp { addr } => tokio::net::TcpStream::connect(addr)
            .await
            .map(|_| Reading::Connected)
            .map_err(|e| format!("cannot connect to {addr}: {e}")),
        Probe::Http { uri } => client
            .get(uri.clone())
            .await
            .map(|response| Reading::Answered(response.status().as_u16()))
            .map_err(|e| format!("GET {uri}: {e}")),
        Probe::Command(spec) => run_command(spec, account).await,
    }
}

async fn run_command(spec: &ProcessSpec, account: &Option<Account>) -> Result<Reading, String> {
    let mut child = start_off_loop(spec, Output::Null, account.as_ref())
        .await
        .map_err(|e| format!("cannot run '{}': {e}", spec.program))?;
    // Whatever the command forked goes with it, on timeout as on exit; on exit before
    // the command is reaped, so that its pid (the group's id) names nothing else yet.
    let group = KillGroupOnDrop(child.id());
    // An error here (not our child any more) shows in the reap below.
    let _ = child.exited().await;
    drop(group);
    let status = child.wait().await.map_err(|e| e.to_string())?;
    status
        .code()
        .map(Reading::Exited)
        .ok_or_else(|| format!("the command ended with {status}"))
}

/// SIGKILL to a process group when dropped.
struct KillGroupOnDrop(i32);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        signal_group(self.0, libc::SIGKILL);
    }
}
