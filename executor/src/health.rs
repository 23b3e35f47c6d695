//! Health checks (TaskInfo.health_check) as Mesos's built-in executors run them:
//! COMMAND (exit 0 is healthy), HTTP (a GET to 127.0.0.1; 200 to 399 is healthy) and
//! TCP (a connection is healthy). The first check comes `delay` after the task starts,
//! the next `interval` after each one ends. Failures inside the grace period are
//! ignored until the first success; outside it, each failure is reported unhealthy,
//! and the `consecutive_failures`-th asks for the task to be killed. A success is
//! reported the first time and after failures.

use std::path::Path;
use std::time::Duration;

use ratufa_agent::process::ProcessSpec;
use ratufa_proto::v1::{HealthCheck, health_check};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::probe::{self, Outcome, Probe, Reading, Timing};
use crate::task::TaskEvent;
use crate::user::Account;

/// Mesos's defaults for the fields only a HealthCheck has.
pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 3;
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// A task's health check, with Mesos's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    pub probe: Probe,
    pub timing: Timing,
    pub consecutive_failures: u32,
    pub grace_period: Duration,
}

impl HealthConfig {
    /// Reads `check`; a command check runs in `sandbox`. Errors name the field.
    pub fn from_proto(check: &HealthCheck, sandbox: &Path) -> Result<HealthConfig, String> {
        // The master's reading of the check (a missing `type` inferred as Mesos does).
        let kind = ratufa_proto::health_check::kind(check)
            .ok_or("health_check.type must be COMMAND, HTTP or TCP")?;
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
                let port = probe::port("health_check.http.port", http.port)?;
                let scheme = http.scheme.as_deref().unwrap_or("http");
                if scheme != "http" && scheme != "https" {
                    return Err(format!(
                        "health_check.http.scheme '{scheme}' is not supported; use http or https"
                    ));
                }
                let uri = probe::http_uri(
                    "health_check",
                    scheme,
                    http.protocol,
                    port,
                    http.path.as_deref(),
                )?;
                Probe::Http { uri }
            }
            health_check::Type::Tcp => {
                let tcp = check
                    .tcp
                    .as_ref()
                    .ok_or("health_check.tcp is required for a TCP check")?;
                let port = probe::port("health_check.tcp.port", tcp.port)?;
                Probe::Tcp {
                    addr: std::net::SocketAddr::new(probe::loopback(tcp.protocol), port),
                }
            }
            health_check::Type::Unknown => {
                return Err("health_check.type must be COMMAND, HTTP or TCP".to_string());
            }
        };
        Ok(HealthConfig {
            probe,
            timing: Timing::from_proto(
                "health_check",
                check.delay_seconds,
                check.interval_seconds,
                check.timeout_seconds,
            )?,
            consecutive_failures: check
                .consecutive_failures
                .unwrap_or(DEFAULT_CONSECUTIVE_FAILURES),
            grace_period: probe::seconds(
                "health_check",
                "grace_period_seconds",
                check.grace_period_seconds,
                DEFAULT_GRACE_PERIOD,
            )?,
        })
    }
}

/// Whether a probe's outcome is healthy: a command's exit 0, an HTTP answer from 200
/// to 399, a TCP connection. Otherwise why not.
pub fn judge(outcome: Outcome) -> Result<(), String> {
    match outcome {
        None => Err("no result within the timeout".to_string()),
        Some(Err(why)) => Err(why),
        Some(Ok(Reading::Exited(0) | Reading::Connected)) => Ok(()),
        Some(Ok(Reading::Exited(code))) => Err(format!("the check command exited with {code}")),
        Some(Ok(Reading::Answered(status))) if (200..400).contains(&status) => Ok(()),
        Some(Ok(Reading::Answered(status))) => Err(format!("the server answered {status}")),
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
    probe::run(&config.probe, &config.timing, &account, |outcome| {
        let verdict = match judge(outcome) {
            Ok(()) => verdicts.success(),
            Err(why) => {
                tracing::info!(task_id = %task_id, why, "health check failed");
                verdicts.failure(start.elapsed())
            }
        };
        let Some(Verdict { healthy, kill }) = verdict else {
            return true;
        };
        events
            .send(TaskEvent::Health {
                task_id: task_id.clone(),
                healthy,
                kill,
            })
            .is_ok()
    })
    .await;
}

#[cfg(test)]
mod tests;
